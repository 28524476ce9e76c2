#!/bin/sh
# relay-status with 1,000 bumps in the window (make bench runs it; a figure,
# never a pass/fail): the files rendered from a generated status.json
# (RELAY_STATUS_FROM: the model and the four outputs, no network), time
# and peak RSS against the goals of 50 ms and 2 MiB.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${RELAY_BIN:-$top/bin}
work=$(mktemp -d "${TMPDIR:-/tmp}/relay-bench-status.XXXXXX")
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT INT TERM
python3 - "$work/in.json" <<'PY'
import json, sys
t0 = 1790812800
envs = ["gstg-cny", "gstg", "gprd-cny", "gprd"]
iso = lambda t: __import__("time").strftime("%Y-%m-%dT%H:%M:%SZ", __import__("time").gmtime(t))
bumps = []
for i in range(1000, 0, -1):
    s = t0 + i * 9 * 3600
    ev = []
    if i % 7 == 0:
        ev = [{"kind": "retried", "at": iso(s + 5400)}, {"kind": "flake", "at": iso(s + 9000)}]
    bumps.append({"iid": i, "url": f"https://gitlab.example.com/gitlab-org/gitlab/-/merge_requests/{i}",
                  "state": "merged", "sha": "%040x" % (i * 7919),
                  "source_merged_at": iso(s), "pinned_at": iso(s + 3600),
                  "merged_at": iso(s + 7200),
                  "environments": {e: iso(s + 7200 + (k + 1) * (3600 + i * 37 % 7200)) for k, e in enumerate(envs)},
                  "retries": len(ev) // 2, "events": ev, "lead_time_seconds": None})
doc = {"component": "Gitaly", "environments": envs,
       "target_url": "https://gitlab.example.com/gitlab-org/gitlab",
       "source_url": "https://gitlab.example.com/gitlab-org/security/gitaly",
       "pin": {"sha": "%040x" % 1000, "committed_at": iso(t0)},
       "green": {"sha": "%040x" % 1001, "committed_at": iso(t0 + 3600), "behind_commits": 3, "behind_seconds": 3600},
       "open_mr": None, "bumps": bumps}
json.dump(doc, open(sys.argv[1], "w"))
PY
mkdir -p "$work/out"
export CI_API_V4_URL=http://127.0.0.1:9/api/v4 RELAY_TOKEN=unused RELAY_STATUS_FROM="$work/in.json" \
	RELAY_STATUS_BUMPS=1000 RELAY_STATUS_DIR="$work/out" RELAY_DOTENV="$work/status.env"
"$bin/relay-status" 2>/dev/null >/dev/null
# ten runs: the fastest wall time (a shared machine adds waits, not work),
# the mean CPU time (user + system) and the peak RSS
for i in 1 2 3 4 5 6 7 8 9 10; do
	/usr/bin/time -a -o "$work/t" -f "%e %U %S %M" "$bin/relay-status" >/dev/null 2>&1
done
set -- $(awk '{ w = (NR == 1 || $1 < w) ? $1 : w; c += $2 + $3; if ($4 > m) m = $4 }
	END { printf "%d %d %d", w * 1000, c * 100, m }' "$work/t")
printf '%-34s %8s %8s %9s  %s\n' "relay-status, 1,000 bumps" "wall ms" "CPU ms" "peak KiB" "goal: < 50 ms, < 2048 KiB"
printf '%-34s %8s %8s %9s  %s\n' "render from status.json" "$1" "$2" "$3" \
	"$([ "$2" -lt 50 ] && [ "$3" -lt 2048 ] && echo met || echo over)"
printf '%-34s %s\n' "outputs (bytes)" "$(cd "$work/out" && wc -c status.html status.md status.json metrics.txt | tr '\n' ' ' | tr -s ' ')"
