#!/bin/sh
# make bench: figures, never pass/fail. Binary sizes, start-up time, peak
# memory, requests per stage, find-green + open-mr against python3-gitlab
# and ruby-gitlab at 50 ms latency, find-green's cost as history grows, and
# relay-mirror over smart HTTP (lighttpd + git http-backend, as production)
# against git on two generated histories.
# Everything runs on loopback against the bundled simulator.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${RELAY_BIN:-$top/bin}
MIRROR_COMMITS=${MIRROR_COMMITS:-50000}
MIRROR_TAGS=${MIRROR_TAGS:-1000}
MIRROR_HOURS=${MIRROR_HOURS:-24}
nomi=${RELAY_MIRROR_MUSL_MALLOC:-$top/build/bench/relay-mirror-musl-malloc}
work=$(mktemp -d "${TMPDIR:-/tmp}/relay-bench.XXXXXX")
sim_pid= httpd_pid=
trap '[ -n "$sim_pid" ] && kill $sim_pid 2>/dev/null
	[ -n "$httpd_pid" ] && kill $httpd_pid 2>/dev/null; rm -rf "$work"' EXIT INT TERM

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }
ratio() { [ "$2" != 0 ] && echo "scale=2; $1 / $2" | bc || echo -; }

echo "## binaries (stripped, static)"
printf '%-22s %10s %9s %s\n' binary bytes MiB goal
for b in "$bin"/relay-*; do
	n=$(basename "$b")
	s=$(stat -c %s "$b")
	goal=1048576
	[ "$n" = relay-mirror ] && goal=2097152
	printf '%-22s %10s %9s <= %s MiB %s\n' "$n" "$s" \
		"$(echo "scale=2; $s / 1048576" | bc)" $((goal / 1048576)) \
		"$([ "$s" -le $goal ] && echo met || echo over)"
done

echo
echo "## start-up (--version) and peak RSS"
if command -v hyperfine >/dev/null; then
	printf '%-22s %12s %12s\n' binary "mean ms" "peak RSS KiB"
	for b in "$bin"/relay-*; do
		hyperfine -N --warmup 5 --runs 100 --export-json "$work/h.json" \
			"$b --version" >/dev/null 2>&1
		ms=$(jq '.results[0].mean * 1000 | . * 100 | round / 100' "$work/h.json")
		rss=$(/usr/bin/time -f %M "$b" --version 2>&1 >/dev/null | tail -n 1)
		printf '%-22s %12s %12s\n' "$(basename "$b")" "$ms" "$rss"
	done
else
	echo "(hyperfine not installed: make bench installs it)"
fi

echo
echo "## relay-status: 1,000 bumps in the window"
RELAY_BIN=$bin "$top/scripts/bench-status.sh"

echo
echo "## requests per stage (clean run of each scenario of the fault matrix)"
RELAY_BIN=$bin python3 "$top/tests/e2e/faults.py" --requests

echo
echo "## peak RSS of a real run (find-green and open-mr, simulator)"
python3 "$top/tests/sim/gitlab_sim.py" --port-file "$work/port" \
	>"$work/sim.log" 2>&1 &
sim_pid=$!
while [ ! -s "$work/port" ]; do sleep 0.05; done
SIM="http://127.0.0.1:$(cat "$work/port")"
admin() { curl -sS --fail-with-body -X "$1" -H 'Content-Type: application/json' \
	--data-binary "$3" "$SIM/-/sim$2"; }
root=$(admin POST /seed '{"users": [{"username": "bot", "token": "bench-bot"},
  {"username": "approver", "token": "bench-approver"}],
  "projects": [{"path": "gitlab-org/security/gitaly", "default_branch": "master"},
  {"path": "gitlab-org/gitlab", "default_branch": "master",
   "mr_pipeline_status": "running", "files": {"GITALY_SERVER_VERSION": "x\n"}}]}' |
	jq -r '.projects["gitlab-org/security/gitaly"].root')
admin POST /commits "{\"project\": \"gitlab-org/gitlab\", \"commits\": [{\"message\": \"pin\", \"files\": {\"GITALY_SERVER_VERSION\": \"$root\\n\"}}]}" >/dev/null
export CI_API_V4_URL="$SIM/api/v4" RELAY_TOKEN=bench-bot \
	RELAY_APPROVER_TOKEN=bench-approver RELAY_PIPELINE_WAIT_S=0 \
	RELAY_DOTENV="$work/relay.env"
requests() { curl -sS "$SIM/-/sim/requests" | jq '[.[] | select(.path | startswith("/api/"))] | length'; }
green_at() { # depth: commits above the green one
	head=$(admin POST /commits '{"project": "gitlab-org/security/gitaly", "count": 1, "prefix": "green"}' | jq -r .head)
	admin POST /pipelines "{\"project\": \"gitlab-org/security/gitaly\", \"sha\": \"$head\", \"status\": \"success\"}" >/dev/null
	[ "$1" -gt 0 ] && admin POST /commits "{\"project\": \"gitlab-org/security/gitaly\", \"count\": $1, \"prefix\": \"red\"}" >/dev/null
	return 0
}
green_at 0
/usr/bin/time -f "relay-find-green: exit %x, %e s, peak RSS %M KiB" \
	"$bin/relay-find-green" 2>&1 >/dev/null | tail -n 1
set -a; . "$work/relay.env"; set +a
/usr/bin/time -f "relay-open-mr: exit %x, %e s, peak RSS %M KiB" \
	"$bin/relay-open-mr" 2>&1 >/dev/null | tail -n 1

echo
echo "## find-green as history grows (green commit at depth N)"
printf '%8s %10s %10s %12s\n' depth requests seconds "peak KiB"
for depth in 100 1000 10000; do
	green_at "$depth"
	curl -sS -X DELETE "$SIM/-/sim/requests" >/dev/null
	t0=$(now)
	rss=$(RELAY_MAX_COMMITS=100000 /usr/bin/time -f %M \
		"$bin/relay-find-green" 2>&1 >/dev/null | tail -n 1)
	t1=$(now)
	printf '%8s %10s %10.2f %12s\n' "$depth" "$(requests)" \
		"$(secs "$t0" "$t1")" "$rss"
done
kill $sim_pid 2>/dev/null
sim_pid=

echo
echo "## find-green + open-mr at 50 ms per request: requests, rounds and the dependent-round bound per stage; relay vs GitLab clients"
RELAY_BIN=$bin python3 "$top/scripts/bench-compare.py"
echo
echo "## the same with no added latency (process start-up and client overhead)"
RELAY_BIN=$bin RELAY_BENCH_LATENCY_MS=0 RELAY_BENCH_STAGES=0 python3 "$top/scripts/bench-compare.py"

echo
echo "## relay-mirror over smart HTTP against git"
# lighttpd + git http-backend on loopback, lighttpd's default idle
# timeouts; no authentication (both sides would pay the same 401)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/srv"
cat >"$work/lighttpd.conf" <<CONF
server.modules = ("mod_alias", "mod_cgi", "mod_setenv", "mod_accesslog")
server.document-root = "$work/srv"
server.bind = "127.0.0.1"
server.port = $port
server.errorlog = "$work/lighttpd.log"
accesslog.filename = "$work/access.log"
accesslog.format = "%r|%b|%{User-Agent}i"
alias.url = ("/git" => "$(git --exec-path)/git-http-backend")
\$HTTP["url"] =~ "^/git" {
	cgi.assign = ("" => "")
	setenv.set-environment = ("GIT_PROJECT_ROOT" => "$work/srv", "GIT_HTTP_EXPORT_ALL" => "1")
}
CONF
lighttpd -D -f "$work/lighttpd.conf" >"$work/lighttpd.out" 2>&1 &
httpd_pid=$!
while ! curl -s -o /dev/null "http://127.0.0.1:$port/"; do sleep 0.05; done
G=http://127.0.0.1:$port/git

# gen_linear N TAGS: the issue's history: one line changed per commit in
# 100 one-line files, an annotated tag every N/TAGS commits
gen_linear() {
	python3 - "$1" "$2" <<'PY'
import sys
n, tags = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout
every = max(1, n // tags)
for i in range(1, n + 1):
    data = b"line %d\n" % i
    msg = b"commit %d\n" % i
    out.write("commit refs/heads/master\nmark :%d\n" % i)
    out.write("committer Bench <b@example.com> %d +0000\n" % (1700000000 + i))
    out.write("data %d\n%s" % (len(msg), msg.decode()))
    if i > 1:
        out.write("from :%d\n" % (i - 1))
    out.write("M 100644 inline f%d.txt\ndata %d\n%s\n" % (i % 100, len(data), data.decode()))
    if i % every == 0:
        out.write("tag v%d\nfrom :%d\ntagger Bench <b@example.com> %d +0000\ndata 4\ntag\n\n" % (i, i, 1700000000 + i))
PY
}
# gen_tree N TAGS FILES: a source tree like Gitaly's: FILES files of ~60
# lines in 10 x 10 directories, 1-4 lines edited in 1-4 files a commit
gen_tree() {
	python3 - "$1" "$2" "$3" <<'PY'
import random, sys
n, tags, nf = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
random.seed(7)
w = sys.stdout.write
words = ["w%d" % i for i in range(20000)]
line = lambda: " ".join(random.choice(words) for _ in range(8))
files = [[line() for _ in range(60)] for _ in range(nf)]
path = lambda f: "d%d/e%d/f%d.go" % (f % 10, (f // 10) % 10, f)
every = max(1, n // tags)
for i in range(1, n + 1):
    w("commit refs/heads/master\nmark :%d\ncommitter Bench <b@example.com> %d +0000\n"
      "data 13\ncommit %06d\n" % (i, 1700000000 + i, i % 1000000))
    if i > 1:
        w("from :%d\n" % (i - 1))
    for f in (range(nf) if i == 1 else random.sample(range(nf), random.randint(1, 4))):
        for _ in range(random.randint(1, 4)):
            files[f][random.randrange(60)] = line()
        d = "\n".join(files[f]) + "\n"
        w("M 100644 inline %s\ndata %d\n%s\n" % (path(f), len(d), d))
    if i % every == 0:
        w("tag v%d\nfrom :%d\ntagger Bench <b@example.com> %d +0000\ndata 4\ntag\n\n" % (i, i, 1700000000 + i))
PY
}
# more HOUR: 100 new commits and a tag on canonical
more() {
	python3 - "$1" <<'PY' | git -C "$work/srv/canon.git" fast-import --quiet
import sys
h = int(sys.argv[1])
t = 1800000000 + h * 3600
print("commit refs/heads/master\ncommitter Bench <b@example.com> %d +0000\ndata 4\nmore\nfrom refs/heads/master^0" % t)
for i in range(1, 101):
    if i > 1:
        print("commit refs/heads/master\ncommitter Bench <b@example.com> %d +0000\ndata 4\nmore" % (t + i))
    print("M 100644 inline new/h%d-%d.txt\ndata 8\n%07d\n" % (h, i % 10, i))
print("tag hour-%d\nfrom refs/heads/master\ntagger Bench <b@example.com> %d +0000\ndata 4\ntag\n" % (h, t + 200))
PY
}
target() { rm -rf "$work/srv/$1.git"; git init -q --bare "$work/srv/$1.git"; git -C "$work/srv/$1.git" config http.receivepack true; }
# mark: a request lighttpd logs after every earlier one; returns once the
# log shows it (lighttpd writes its log in batches), so the log is current
marks=0
mark() {
	marks=$((marks + 1))
	curl -s -o /dev/null -A "mark-$marks" "http://127.0.0.1:$port/"
	w=0
	until grep -q "|mark-$marks\$" "$work/access.log" || [ $w -ge 100 ]; do
		sleep 0.1
		w=$((w + 1))
	done
}
# fetched AGENT: bytes canonical's upload-pack sent to AGENT between the
# last two marks
fetched() {
	awk -F'|' -v a="$1" -v from="mark-$((marks - 1))" -v to="mark-$marks" '
		$3 == from { on = 1 } $3 == to { on = 0 }
		on && $1 ~ /canon.git\/git-upload-pack/ && index($3, a) { s += $2 }
		END { print s + 0 }' "$work/access.log"
}
relay_run() { # BIN CACHE TARGET; CPU seconds (user + system) in $work/cpu
	RELAY_MIRROR_FROM=$G/canon.git RELAY_MIRROR_TO=$G/$3.git RELAY_MIRROR_CACHE=$2 \
	RELAY_DOTENV=$work/m.env /usr/bin/time -f "%U %S" -o "$work/cpu" \
		"$1" >/dev/null 2>"$work/m.err" || { cat "$work/m.err"; exit 1; }
}
cpu() { awk '{ printf "%.2f", $1 + $2 }' "$work/cpu"; }
# git's two hops: fetch the default branch and tags into a bare cache,
# then push them (what relay-mirror does)
git_run() { # CACHE TARGET
	[ -d "$1" ] || git init -q --bare "$1"
	git -C "$1" fetch -q --prune --no-auto-gc "$G/canon.git" \
		'+refs/heads/master:refs/heads/master' '+refs/tags/*:refs/tags/*' &&
	git -C "$1" push -q --mirror "$G/$2.git"
}
timed() { t0=$(now); "$@"; t1=$(now); secs "$t0" "$t1"; }
kib() { du -sk "$1" | cut -f1; }

bench_history() { # NAME GENERATOR ARGS...
	name=$1
	shift
	rm -rf "$work/srv/canon.git" "$work"/cache-* "$work/fi"
	git init -q --bare "$work/srv/canon.git"
	"$@" >"$work/fi"
	git -C "$work/srv/canon.git" fast-import --quiet <"$work/fi"
	git -C "$work/srv/canon.git" gc -q
	rm -f "$work/fi"
	for t in relay nomi two mirror; do target $t; done
	echo
	echo "### $name: $(git -C "$work/srv/canon.git" rev-list --count master) commits, $(git -C "$work/srv/canon.git" tag | wc -l) tags, $(git -C "$work/srv/canon.git" ls-tree -r master | wc -l) files, pack $(kib "$work/srv/canon.git") KiB"
	printf '%-12s %9s %9s %9s %9s %9s %9s %9s %9s\n' run relay "git 2hop" ratio "push -m" ratio \
		"cpu" "musl*" "musl cpu"
	h=0
	for run in first incremental unchanged; do
		if [ $run = incremental ]; then h=$((h + 1)); more $h; fi
		mark
		r=$(timed relay_run "$bin/relay-mirror" "$work/cache-relay" relay)
		rc=$(cpu)
		mark
		rb=$(fetched relay-mirror)
		mark
		g=$(timed git_run "$work/cache-git" two)
		mark
		gb=$(fetched "git/")
		m=$(timed git -C "$work/srv/canon.git" push -q --mirror "$G/mirror.git")
		n=- nc=-
		[ -x "$nomi" ] && n=$(printf %.2f "$(timed relay_run "$nomi" "$work/cache-nomi" nomi)") nc=$(cpu)
		printf '%-12s %9.2f %9.2f %8sx %9.2f %8sx %9s %9s %9s\n' $run "$r" "$g" \
			"$(ratio "$r" "$g")" "$m" "$(ratio "$r" "$m")" "$rc" "$n" "$nc"
		[ $run = incremental ] && inc="bytes fetched by the incremental run: relay $rb, git fetch $gb ($(ratio "$rb" "$gb")x)"
	done
	echo "$inc"
	[ "$(git -C "$work/srv/canon.git" for-each-ref refs/tags refs/heads/master | sort)" = \
	  "$(git -C "$work/srv/relay.git" for-each-ref | sort)" ] &&
		echo "(relay.git holds canonical's master and tags)" ||
		echo "(relay.git differs from canonical)"
	# hourly runs: 100 commits and a tag each, caches as CI keeps them
	r0=$(kib "$work/cache-relay") g0=$(kib "$work/cache-git") rt=0 gt=0 rb=0 gb=0
	i=0
	while [ $i -lt "$MIRROR_HOURS" ]; do
		i=$((i + 1)) h=$((h + 1))
		more $h
		mark
		rt=$(echo "$rt + $(timed relay_run "$bin/relay-mirror" "$work/cache-relay" relay)" | bc)
		gt=$(echo "$gt + $(timed git_run "$work/cache-git" two)" | bc)
		mark
		rb=$((rb + $(fetched relay-mirror))) gb=$((gb + $(fetched "git/")))
	done
	r1=$(kib "$work/cache-relay") g1=$(kib "$work/cache-git")
	echo "$MIRROR_HOURS hourly runs (100 commits + 1 tag each): cache growth relay $((r1 - r0)) KiB, git $((g1 - g0)) KiB ($(ratio $((r1 - r0)) $((g1 - g0)))x); fetched relay $rb B, git $gb B; mean run relay $(echo "scale=3; $rt / $MIRROR_HOURS" | bc) s, git $(echo "scale=3; $gt / $MIRROR_HOURS" | bc) s"
}

echo "seconds (wall); ratio: relay / git; cpu: relay's user + system seconds; musl*: relay-mirror"
echo "linked with musl's malloc instead of mimalloc (wall, cpu)"
bench_history "Gitaly-sized" gen_tree "${GITALY_COMMITS:-20000}" "${GITALY_TAGS:-1500}" "${GITALY_FILES:-2500}"
bench_history "linear" gen_linear "$MIRROR_COMMITS" "$MIRROR_TAGS"
