#!/bin/sh
# make bench: figures, never pass/fail. Binary sizes, start-up time, peak
# memory, requests per stage, and find-green's cost as history grows, all
# against the bundled simulator on loopback.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${RELAY_BIN:-$top/bin}
work=$(mktemp -d "${TMPDIR:-/tmp}/relay-bench.XXXXXX")
trap 'kill $sim_pid 2>/dev/null; rm -rf "$work"' EXIT INT TERM

echo "## binaries (stripped, static)"
printf '%-24s %10s\n' binary bytes
for b in "$bin"/relay-*; do
	printf '%-24s %10s\n' "$(basename "$b")" "$(stat -c %s "$b")"
done

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

echo
echo "## start-up and memory (--version; one find-green run)"
if command -v /usr/bin/time >/dev/null; then
	for b in "$bin"/relay-*; do
		/usr/bin/time -f "%e s %M KiB" "$b" --version 2>&1 >/dev/null |
			sed "s|^|$(basename "$b") --version: |"
	done
	green_at 0
	/usr/bin/time -f "relay-find-green run: %e s, peak RSS %M KiB" \
		"$bin/relay-find-green" 2>&1 >/dev/null | tail -n 1
else
	echo "(install the 'time' package for peak RSS)"
fi

echo
echo "## requests per stage (common case)"
curl -sS -X DELETE "$SIM/-/sim/requests" >/dev/null
"$bin/relay-find-green" >/dev/null 2>&1
echo "relay-find-green: $(requests) requests"
set -a; . "$work/relay.env"; set +a
curl -sS -X DELETE "$SIM/-/sim/requests" >/dev/null
"$bin/relay-open-mr" >/dev/null 2>&1
echo "relay-open-mr (create): $(requests) requests"
curl -sS -X DELETE "$SIM/-/sim/requests" >/dev/null
"$bin/relay-open-mr" >/dev/null 2>&1
echo "relay-open-mr (re-run, unchanged): $(requests) requests"

echo
echo "## find-green as history grows (green commit at depth N)"
printf '%8s %10s %10s\n' depth requests seconds
for depth in 100 1000 5000; do
	green_at "$depth"
	curl -sS -X DELETE "$SIM/-/sim/requests" >/dev/null
	t0=$(date +%s.%N)
	RELAY_MAX_COMMITS=100000 "$bin/relay-find-green" >/dev/null 2>&1 || true
	t1=$(date +%s.%N)
	printf '%8s %10s %10.2f\n' "$depth" "$(requests)" "$(echo "$t1 - $t0" | bc)"
done
