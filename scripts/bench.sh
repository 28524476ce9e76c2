#!/bin/sh
# make bench: figures, never pass/fail. Binary sizes, start-up time, peak
# memory, requests per stage, find-green + open-mr against python3-gitlab
# and ruby-gitlab at 50 ms latency, find-green's cost as history grows, and
# relay-mirror against git push --mirror on a large generated history.
# Everything runs on loopback against the bundled simulator.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${RELAY_BIN:-$top/bin}
MIRROR_COMMITS=${MIRROR_COMMITS:-50000}
MIRROR_TAGS=${MIRROR_TAGS:-1000}
work=$(mktemp -d "${TMPDIR:-/tmp}/relay-bench.XXXXXX")
sim_pid=
trap '[ -n "$sim_pid" ] && kill $sim_pid 2>/dev/null; rm -rf "$work"' EXIT INT TERM

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }
ratio() { echo "scale=2; $1 / $2" | bc; }

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
echo "## find-green + open-mr at 50 ms per request: relay vs GitLab clients"
RELAY_BIN=$bin python3 "$top/scripts/bench-compare.py"
echo
echo "## the same with no added latency (process start-up and client overhead)"
RELAY_BIN=$bin RELAY_BENCH_LATENCY_MS=0 python3 "$top/scripts/bench-compare.py"

echo
echo "## relay-mirror vs git push --mirror ($MIRROR_COMMITS commits, $MIRROR_TAGS tags)"
# a linear history through fast-import: one small file changed per commit
python3 - "$MIRROR_COMMITS" "$MIRROR_TAGS" >"$work/fi" <<'PY'
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
git init -q --bare "$work/canon.git"
git -C "$work/canon.git" fast-import --quiet <"$work/fi"
git -C "$work/canon.git" gc -q
git init -q --bare "$work/relay.git"
git init -q --bare "$work/git.git"
mirror_relay() {
	RELAY_MIRROR_FROM=$work/canon.git RELAY_MIRROR_TO=$work/relay.git \
	RELAY_MIRROR_CACHE=$work/cache.git RELAY_DOTENV=$work/m.env \
		/usr/bin/time -f %M -o "$work/rss" "$bin/relay-mirror" >/dev/null 2>"$work/m.err" ||
		{ cat "$work/m.err"; exit 1; }
}
mirror_git() {
	/usr/bin/time -f %M -o "$work/rss" \
		git -C "$work/canon.git" push -q --mirror "$work/git.git" 2>/dev/null
}
printf '%-12s %12s %12s %12s %12s %7s\n' run "relay s" "relay KiB" "git s" "git KiB" ratio
t0=$(now); mirror_relay; t1=$(now); r_rss=$(tail -n 1 "$work/rss")
t2=$(now); mirror_git; t3=$(now); g_rss=$(tail -n 1 "$work/rss")
rt=$(secs "$t0" "$t1") gt=$(secs "$t2" "$t3")
printf '%-12s %12.2f %12s %12.2f %12s %6sx\n' first "$rt" "$r_rss" "$gt" "$g_rss" "$(ratio "$rt" "$gt")"
# incremental: 100 new commits and a tag upstream
python3 - "$MIRROR_COMMITS" <<'PY' | git -C "$work/canon.git" fast-import --quiet
import sys
n = int(sys.argv[1])
print("commit refs/heads/master\ncommitter Bench <b@example.com> 1800000000 +0000\ndata 4\nmore\nfrom refs/heads/master^0")
for i in range(1, 101):
    if i > 1:
        print("commit refs/heads/master\ncommitter Bench <b@example.com> %d +0000\ndata 4\nmore" % (1800000000 + i))
    print("M 100644 inline new%d.txt\ndata 2\n%d\n" % (i, i % 10))
print("tag v-new\nfrom refs/heads/master\ntagger Bench <b@example.com> 1800000200 +0000\ndata 4\ntag\n")
PY
t0=$(now); mirror_relay; t1=$(now); r_rss=$(tail -n 1 "$work/rss")
t2=$(now); mirror_git; t3=$(now); g_rss=$(tail -n 1 "$work/rss")
rt=$(secs "$t0" "$t1") gt=$(secs "$t2" "$t3")
printf '%-12s %12.2f %12s %12.2f %12s %6sx\n' incremental "$rt" "$r_rss" "$gt" "$g_rss" "$(ratio "$rt" "$gt")"
t0=$(now); mirror_relay; t1=$(now)
t2=$(now); mirror_git; t3=$(now)
rt=$(secs "$t0" "$t1") gt=$(secs "$t2" "$t3")
printf '%-12s %12.2f %12s %12.2f %12s %6sx\n' unchanged "$rt" - "$gt" - "$(ratio "$rt" "$gt")"
[ "$(git -C "$work/canon.git" for-each-ref | sort)" = \
  "$(git -C "$work/relay.git" for-each-ref | sort)" ] &&
	echo "(relay.git and canon.git hold the same refs)" ||
	echo "(relay.git differs from canon.git: see relay-mirror's MIRROR_DIVERGED)"
