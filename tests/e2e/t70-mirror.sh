#!/bin/sh
# relay-mirror with real repositories: built with the git CLI, mirrored by
# the binary (libgit2), checked with for-each-ref, rev-parse and fsck;
# over file paths and over smart HTTP (git http-backend behind lighttpd).
. "$(dirname "$0")/lib.sh"
TO_TOKEN=glpat-mirror-SECRET-0005
export RELAY_DOTENV="$TRASH/relay.env" RELAY_RETRY_BASE_MS=5 RELAY_TRIES=2
export GIT_AUTHOR_NAME=dev GIT_AUTHOR_EMAIL=dev@example.com
export GIT_COMMITTER_NAME=dev GIT_COMMITTER_EMAIL=dev@example.com
export GIT_CONFIG_NOSYSTEM=1 HOME="$TRASH"
unset CI_JOB_TOKEN RELAY_MIRROR_REFS RELAY_MIRROR_FORCE RELAY_MIRROR_PRUNE

# commit REPO MSG: a commit on the work tree REPO's current branch
commit() { echo "$2" >>"$1/log" && git -C "$1" add log && git -C "$1" commit -q -m "$2"; }
refs() { git -C "$1" for-each-ref --format='%(objectname) %(refname)' "${2:-refs/}"; }
rev() { git -C "$1" rev-parse "$2"; }
fsck() { git -C "$1" fsck --strict --no-progress >"$TRASH/fsck.log" 2>&1; }
mirror() {
	RELAY_MIRROR_FROM=${FROM:-$TRASH/canon.git} RELAY_MIRROR_TO=${TO:-$TRASH/mirror.git} \
		RELAY_MIRROR_CACHE=${CACHE:-$TRASH/cache.git} run mirror "$@"
}
# publish: push the work tree's branches and tags to canon.git
publish() { git -C work push -q --prune origin '+refs/heads/*:refs/heads/*' '+refs/tags/*:refs/tags/*' 2>/dev/null; }
same_refs() { [ "$(refs canon.git "$1")" = "$(refs mirror.git "$1")" ]; }

git init -q -b main work
git init -q --bare canon.git
git init -q --bare mirror.git
git -C work remote add origin "$TRASH/canon.git"
for i in 1 2 3 4 5; do commit work "change $i"; done
git -C work tag v1.0.0
git -C work tag -a v1.0.1 -m "release 1.0.1"
git -C work branch feature
publish
git -C canon.git symbolic-ref HEAD refs/heads/main

test_expect_success 'first mirror: default branch and tags, nothing else' '
	mirror && expect_rc 0 && same_refs refs/tags/ &&
	test "$(rev mirror.git refs/heads/main)" = "$(rev canon.git main)" &&
	! git -C mirror.git rev-parse -q --verify refs/heads/feature &&
	test "$(dotenv MIRROR_SHA)" = "$(rev canon.git main)" &&
	test "$(dotenv MIRROR_UPDATED)" = "heads/main,tags/v1.0.0,tags/v1.0.1" &&
	test -z "$(dotenv MIRROR_DIVERGED)" && fsck mirror.git
'

test_expect_success 'the cache is a bare repository holding no remote and no URL' '
	git -C cache.git rev-parse --is-bare-repository | grep -q true &&
	! git -C cache.git config --get-regexp "^remote\." &&
	! grep -rq canon.git cache.git/config && fsck cache.git
'

test_expect_success 'a second run with nothing new transfers nothing' '
	before=$(git -C cache.git count-objects -v | sed -n "s/^\(count\|in-pack\): //p" | tr "\n" " ") &&
	mirror && expect_rc 0 && grep -q "cache up to date" err && grep -q "is up to date" err &&
	test -z "$(dotenv MIRROR_UPDATED)" &&
	test "$(dotenv MIRROR_SHA)" = "$(rev canon.git main)" &&
	test "$(git -C cache.git count-objects -v | sed -n "s/^\(count\|in-pack\): //p" | tr "\n" " ")" = "$before"
'

test_expect_success 'new commits and a new tag: fast-forward and create' '
	commit work "change 6" && commit work "change 7" && git -C work tag v1.1.0 && publish &&
	mirror && expect_rc 0 && same_refs refs/tags/ &&
	test "$(rev mirror.git main)" = "$(rev canon.git main)" &&
	test "$(dotenv MIRROR_UPDATED)" = "heads/main,tags/v1.1.0" && fsck mirror.git
'

test_expect_success 'dry run: says what it would push, pushes nothing' '
	commit work "change 8" && publish && old=$(rev mirror.git main) &&
	mirror --dry-run && expect_rc 0 && grep -q "would fast-forward refs/heads/main" err &&
	test "$(rev mirror.git main)" = "$old"
'

test_expect_success 'a security fix on the mirror: the branch is kept and reported' '
	git clone -q -b main mirror.git sec && commit sec "security fix" &&
	git -C sec push -q origin main 2>/dev/null && FIX=$(rev sec HEAD) &&
	commit work "change 9" && publish &&
	mirror && expect_rc 0 && test "$(rev mirror.git main)" = "$FIX" &&
	test "$(dotenv MIRROR_DIVERGED)" = heads/main && test "$(dotenv MIRROR_SHA)" = "$FIX" &&
	grep -q "refs/heads/main diverged on the mirror" err && fsck mirror.git
'

test_expect_success 'a tag moved in canonical is diverged too, never silently moved' '
	git -C work tag -f v1.0.0 HEAD >/dev/null && publish &&
	mirror && expect_rc 0 && test "$(dotenv MIRROR_DIVERGED)" = "heads/main,tags/v1.0.0" &&
	test "$(rev mirror.git v1.0.0)" != "$(rev canon.git v1.0.0)"
'

test_expect_success 'a diverged ref stays diverged on every run (idempotent)' '
	mirror && expect_rc 0 && test "$(rev mirror.git main)" = "$FIX" &&
	test "$(dotenv MIRROR_DIVERGED)" = "heads/main,tags/v1.0.0" && test -z "$(dotenv MIRROR_UPDATED)"
'

test_expect_success 'RELAY_MIRROR_FORCE=true overwrites diverged refs' '
	RELAY_MIRROR_FORCE=true mirror && expect_rc 0 && same_refs refs/tags/ &&
	test "$(rev mirror.git main)" = "$(rev canon.git main)" &&
	test "$(dotenv MIRROR_UPDATED)" = "heads/main,tags/v1.0.0" && fsck mirror.git
'

test_expect_success 'a + in RELAY_MIRROR_REFS forces one pattern only' '
	git -C work tag -f v1.0.1 HEAD~1 >/dev/null && publish &&
	RELAY_MIRROR_REFS="HEAD,+refs/tags/*" mirror && expect_rc 0 &&
	test "$(rev mirror.git v1.0.1)" = "$(rev canon.git v1.0.1)"
'

test_expect_success 'deleted in canonical: kept on the mirror unless RELAY_MIRROR_PRUNE' '
	export RELAY_MIRROR_REFS="HEAD,refs/heads/release/*,refs/tags/*" &&
	git -C work branch release/16.0 && git -C work tag v9 && publish &&
	mirror && expect_rc 0 && git -C mirror.git rev-parse -q --verify refs/heads/release/16.0 &&
	git clone -q -b main mirror.git sec2 && git -C sec2 push -q origin HEAD:refs/heads/security/only 2>/dev/null &&
	git -C work branch -D release/16.0 >/dev/null && git -C work tag -d v9 >/dev/null &&
	git -C canon.git branch -D release/16.0 >/dev/null && git -C canon.git tag -d v9 >/dev/null &&
	mirror && expect_rc 0 && git -C mirror.git rev-parse -q --verify refs/heads/release/16.0 &&
	git -C mirror.git rev-parse -q --verify refs/tags/v9 && grep -q "gone from canonical: kept" err &&
	RELAY_MIRROR_PRUNE=true mirror && expect_rc 0 &&
	! git -C mirror.git rev-parse -q --verify refs/heads/release/16.0 &&
	! git -C mirror.git rev-parse -q --verify refs/tags/v9 &&
	git -C mirror.git rev-parse -q --verify refs/heads/security/only >/dev/null &&
	! git -C cache.git rev-parse -q --verify refs/relay/heads/release/16.0 && fsck mirror.git
'
unset RELAY_MIRROR_REFS

test_expect_success 'bad variables are usage errors (64), one line each' '
	RELAY_MIRROR_REFS="refs/heads/main:refs/heads/x" mirror && expect_rc 64 && one_error_line &&
	TO=ssh://git@example.com/x.git mirror && expect_rc 64 && one_error_line &&
	TO=http://example.com/x.git mirror && expect_rc 64 && one_error_line &&
	TO=https://oauth2:pw@example.com/x.git mirror && expect_rc 64 && one_error_line &&
	! grep -q "pw@" err && RELAY_MIRROR_FORCE=maybe mirror && expect_rc 64
'

test_expect_success 'missing RELAY_MIRROR_TO is a configuration error (78)' '
	RELAY_MIRROR_FROM=canon.git run_unset RELAY_MIRROR_TO mirror && expect_rc 78 &&
	grep -q RELAY_MIRROR_TO err
'

test_expect_success 'an unreachable remote is temporary (75), retried, one line' '
	TO=http://127.0.0.1:9/mirror.git mirror && expect_rc 75 && one_error_line &&
	grep -q "127.0.0.1:9" err && grep -q "try 1 of 2" err
'

test_expect_success 'a missing repository path is refused (69)' '
	FROM=$TRASH/nowhere.git mirror && expect_rc 69 && one_error_line
'

# ---- a server that advertises a ref git refuses (git's own servers leave
# such refs out; another server, or a canonical repository written by
# hand, need not): smart HTTP served by git upload-pack, with one more line
cat >"$TRASH/badref.py" <<'PY'
import http.server, os, subprocess, sys
root, bad = sys.argv[1], sys.argv[2]
def pkts(data):
    while data:
        n = int(data[:4], 16)
        yield data[:max(n, 4)]
        data = data[max(n, 4):]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def reply(self, ctype, body):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        repo = os.path.join(root, self.path.split("/")[1])
        adv = subprocess.run(["git", "upload-pack", "--stateless-rpc", "--advertise-refs", repo],
                             capture_output=True, check=True).stdout
        out, lines = b"001e# service=git-upload-pack\n0000", list(pkts(adv))
        line = b"%s %s\n" % (lines[0][4:44], bad.encode())
        out += lines[0] + b"%04x" % (len(line) + 4) + line + b"".join(lines[1:])
        self.reply("application/x-git-upload-pack-advertisement", out)
    def do_POST(self):
        repo = os.path.join(root, self.path.split("/")[1])
        if self.headers.get("Transfer-Encoding") == "chunked":
            body = b""
            while True:
                n = int(self.rfile.readline().strip(), 16)
                body += self.rfile.read(n)
                self.rfile.readline()
                if n == 0:
                    break
        else:
            body = self.rfile.read(int(self.headers["Content-Length"]))
        out = subprocess.run(["git", "upload-pack", "--stateless-rpc", repo], input=body,
                             capture_output=True, check=True).stdout
        self.reply("application/x-git-upload-pack-result", out)
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[3], "w").write(str(s.server_address[1]))
s.serve_forever()
PY
python3 "$TRASH/badref.py" "$TRASH" refs/tags/bad/x..y "$TRASH/badref.port" &
BADREF_PID=$!
i=0
while [ ! -s badref.port ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
git init -q --bare badmirror.git

test_expect_success 'a ref name git refuses is skipped and listed; the rest is mirrored' '
	FROM=http://127.0.0.1:$(cat badref.port)/canon.git TO=$TRASH/badmirror.git CACHE=$TRASH/badcache.git \
		mirror && expect_rc 0 && test "$(dotenv MIRROR_SKIPPED)" = "tags/bad/x..y" &&
	grep -q "refs/tags/bad/x..y: not a valid git ref name: skipped" err &&
	test "$(rev badmirror.git main)" = "$(rev canon.git main)" &&
	[ "$(refs canon.git refs/tags/)" = "$(refs badmirror.git refs/tags/)" ] && fsck badmirror.git
'
kill "$BADREF_PID" 2>/dev/null

# ---- smart HTTP: libgit2's HTTP transport against git http-backend
git_http_start "$TRASH/srv"
mkdir -p srv
git clone -q --bare canon.git srv/canon.git
git init -q --bare srv/mirror.git
git -C srv/mirror.git config http.receivepack true
printf 'oauth2:%s\ngitlab-ci-token:%s\n' "$TO_TOKEN" "$JOB_TOKEN" >"$TRASH/git-users"
H() { FROM=$GIT_HTTP/canon.git TO=$GIT_HTTP/mirror.git CACHE=$TRASH/hcache.git mirror "$@"; }
hsame() { [ "$(refs srv/canon.git "$1")" = "$(refs srv/mirror.git "$1")" ]; }

test_expect_success 'HTTP: no token for the mirror is refused (69), one line' '
	CI_JOB_TOKEN=$JOB_TOKEN H && expect_rc 69 && one_error_line &&
	grep -q "authentication failed" err && no_secrets
'

# libgit2 asks for credentials again after each 401: handing them out once
# is what keeps a wrong token from looping (the run would never end)
test_expect_success 'HTTP: a wrong token is refused (69) without looping or leaking' '
	CI_JOB_TOKEN=$JOB_TOKEN RELAY_MIRROR_TO_TOKEN=glpat-wrong-SECRET H && expect_rc 69 &&
	one_error_line && grep -q "the token was refused" err && ! grep -q wrong-SECRET out err
'

test_expect_success 'HTTP: job token reads, mirror token pushes; mirrored, no secret anywhere' '
	CI_JOB_TOKEN=$JOB_TOKEN RELAY_MIRROR_TO_TOKEN=$TO_TOKEN H && expect_rc 0 &&
	hsame refs/tags/ && test "$(rev srv/mirror.git main)" = "$(rev srv/canon.git main)" &&
	fsck srv/mirror.git && no_secrets && ! grep -q "$TO_TOKEN" out err &&
	! grep -rqa -e "$TO_TOKEN" -e "$JOB_TOKEN" hcache.git
'

test_expect_success 'HTTP: a second run is incremental: nothing fetched, nothing pushed' '
	CI_JOB_TOKEN=$JOB_TOKEN RELAY_MIRROR_TO_TOKEN=$TO_TOKEN H && expect_rc 0 &&
	grep -q "cache up to date" err && grep -q "is up to date" err && test -z "$(dotenv MIRROR_UPDATED)"
'

test_expect_success 'HTTP: a push refused by a hook is 69; the next run converges' '
	git -C work remote set-url origin "$TRASH/srv/canon.git" && commit work "change 10" && publish &&
	printf "#!/bin/sh\nif [ ! -e %s ]; then touch %s; echo declined >&2; exit 1; fi\n" \
		"$TRASH/hook-once" "$TRASH/hook-once" >srv/mirror.git/hooks/pre-receive &&
	chmod +x srv/mirror.git/hooks/pre-receive &&
	CI_JOB_TOKEN=$JOB_TOKEN RELAY_MIRROR_TO_TOKEN=$TO_TOKEN H && expect_rc 69 && one_error_line &&
	grep -q "refused refs/heads/main" err && test "$(rev srv/mirror.git main)" != "$(rev srv/canon.git main)" &&
	CI_JOB_TOKEN=$JOB_TOKEN RELAY_MIRROR_TO_TOKEN=$TO_TOKEN H && expect_rc 0 &&
	test "$(rev srv/mirror.git main)" = "$(rev srv/canon.git main)" && fsck srv/mirror.git
'

test_expect_success 'HTTP: a push killed midway is finished by the next run' '
	commit work "change 11" && git -C work tag v2.0.0 && publish &&
	printf "#!/bin/sh\nsleep 3\n" >srv/mirror.git/hooks/pre-receive &&
	(CI_JOB_TOKEN=$JOB_TOKEN RELAY_MIRROR_TO_TOKEN=$TO_TOKEN timeout -s KILL 1 \
		env RELAY_MIRROR_FROM=$GIT_HTTP/canon.git RELAY_MIRROR_TO=$GIT_HTTP/mirror.git \
		RELAY_MIRROR_CACHE=$TRASH/hcache.git "$RELAY_BIN/relay-mirror" >out 2>err; true) &&
	rm srv/mirror.git/hooks/pre-receive && sleep 3 &&
	CI_JOB_TOKEN=$JOB_TOKEN RELAY_MIRROR_TO_TOKEN=$TO_TOKEN H && expect_rc 0 &&
	hsame refs/tags/ && test "$(rev srv/mirror.git main)" = "$(rev srv/canon.git main)" &&
	fsck srv/mirror.git && fsck hcache.git
'

test_expect_success 'many updated refs: the report keeps within the dotenv limits' '
	for i in $(seq 1 400); do echo "create refs/tags/bulk-$i HEAD"; done |
		git -C srv/canon.git update-ref --stdin &&
	CI_JOB_TOKEN=$JOB_TOKEN RELAY_MIRROR_TO_TOKEN=$TO_TOKEN H && expect_rc 0 && hsame refs/tags/ &&
	dotenv MIRROR_UPDATED | grep -q ",+[0-9]* more$" && test "$(wc -c <"$RELAY_DOTENV")" -lt 5120
'

test_expect_success 'two runs on one cache: the second waits for nothing, says why, exit 75' '
	commit work "change 12" && publish &&
	printf "#!/bin/sh\ntouch %s\nwhile [ ! -e %s ]; do sleep 0.1; done\n" \
		"$TRASH/hook-started" "$TRASH/hook-go" >srv/mirror.git/hooks/pre-receive &&
	chmod +x srv/mirror.git/hooks/pre-receive &&
	(CI_JOB_TOKEN=$JOB_TOKEN RELAY_MIRROR_TO_TOKEN=$TO_TOKEN RELAY_DOTENV=$TRASH/first.env \
		RELAY_MIRROR_FROM=$GIT_HTTP/canon.git RELAY_MIRROR_TO=$GIT_HTTP/mirror.git \
		RELAY_MIRROR_CACHE=$TRASH/hcache.git "$RELAY_BIN/relay-mirror" >first.out 2>first.err
	 echo $? >first.rc) &
	first=$! && i=0 &&
	while [ ! -e hook-started ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done &&
	CI_JOB_TOKEN=$JOB_TOKEN RELAY_MIRROR_TO_TOKEN=$TO_TOKEN H && expect_rc 75 && one_error_line &&
	grep -q "in use by another relay-mirror run" err &&
	touch hook-go && wait $first && test "$(cat first.rc)" = 0 &&
	test "$(rev srv/mirror.git main)" = "$(rev srv/canon.git main)" &&
	rm srv/mirror.git/hooks/pre-receive && fsck hcache.git
'

# ---- a server that closes idle connections (lighttpd's keep-alive and
# read idle timeouts at 1 s, production's are 5 s): libgit2 opens the push
# request, then builds the pack, and a pack that takes longer than the
# timeout to build used to end in SIGPIPE (exit 141, no message)
kill "$HTTPD_PID" 2>/dev/null
GIT_HTTP_IDLE_S=1 git_http_start "$TRASH/srv"
# a history whose pack takes libgit2 a few seconds to build: 300 text files
# of 400 lines, 10 of them edited a line each in 400 commits
python3 - >big.fi <<'PY'
import random
random.seed(17)
words = ["w%d" % i for i in range(5000)]
line = lambda: " ".join(random.choice(words) for _ in range(12))
files = {f: [line() for _ in range(400)] for f in range(300)}
out = []
for i in range(1, 401):
    out.append("commit refs/heads/main\ncommitter A <a@example.com> %d +0000\n"
               "data 4\nc%03d\n" % (1700000000 + i, i % 1000))
    for f in (range(300) if i == 1 else random.sample(range(300), 10)):
        files[f][random.randrange(400)] = line()
        d = "\n".join(files[f]) + "\n"
        out.append("M 100644 inline d%d/f%d.txt\ndata %d\n%s\n" % (f % 20, f, len(d), d))
    if i % 100 == 0:
        out.append("reset refs/tags/v%d\nfrom refs/heads/main\n\n" % i)
print("".join(out), end="")
PY
git init -q --bare srv/big.git && git -C srv/big.git fast-import --quiet <big.fi &&
	git -C srv/big.git symbolic-ref HEAD refs/heads/main
git init -q --bare srv/bigmirror.git && git -C srv/bigmirror.git config http.receivepack true
B() { FROM=$GIT_HTTP/big.git TO=$GIT_HTTP/bigmirror.git CACHE=$TRASH/bcache.git \
	CI_JOB_TOKEN=$JOB_TOKEN RELAY_MIRROR_TO_TOKEN=$TO_TOKEN mirror "$@"; }

# an empty mirror gets the cache's pack as it is (no delta recomputed)
test_expect_success 'HTTP, idle connections closed after 1 s: a large first mirror succeeds' '
	B && expect_rc 0 && grep -q "sent the cache.s pack as it is" err &&
	[ "$(refs srv/big.git)" = "$(refs srv/bigmirror.git)" ] && fsck srv/bigmirror.git
'

# a mirror that has the first commit: libgit2 builds the pack of the
# other 399, then the request is opened on a fresh connection
git init -q --bare srv/bigmirror2.git && git -C srv/bigmirror2.git config http.receivepack true &&
	git -C srv/big.git push -q "$TRASH/srv/bigmirror2.git" main~399:refs/heads/main
test_expect_success 'HTTP, idle connections closed after 1 s: a large push onto a mirror succeeds' '
	FROM=$GIT_HTTP/big.git TO=$GIT_HTTP/bigmirror2.git CACHE=$TRASH/bcache.git \
		CI_JOB_TOKEN=$JOB_TOKEN RELAY_MIRROR_TO_TOKEN=$TO_TOKEN mirror && expect_rc 0 &&
	grep -q "fast-forward: refs/heads/main" err && ! grep -q "as it is" err &&
	[ "$(refs srv/big.git)" = "$(refs srv/bigmirror2.git)" ] && fsck srv/bigmirror2.git
'

test_done
