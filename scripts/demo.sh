#!/bin/sh
# make demo: the main flow against the bundled GitLab simulator.
# Seeds a security mirror with merged changes and pipelines, and a target
# pinning an older commit; runs relay-find-green then relay-open-mr, the way
# the scheduled pipeline hands values over (dotenv), and shows the result.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/relay-demo.XXXXXX")
python3 "$top/tests/sim/gitlab_sim.py" --port-file "$work/port" \
	>"$work/sim.log" 2>&1 &
sim_pid=$!
trap 'kill $sim_pid 2>/dev/null; rm -rf "$work"' EXIT INT TERM
i=0
while [ ! -s "$work/port" ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && { echo "demo: simulator did not start" >&2; exit 70; }
	sleep 0.05
done
SIM="http://127.0.0.1:$(cat "$work/port")"

admin() { curl -sS --fail-with-body -X "$1" -H 'Content-Type: application/json' \
	--data-binary "$3" "$SIM/-/sim$2"; }

root=$(admin POST /seed '{
  "users": [{"username": "release-tools-bot", "token": "demo-bot-token"},
            {"username": "approver-bot", "token": "demo-approver-token"}],
  "projects": [
    {"path": "gitlab-org/security/gitaly", "default_branch": "master"},
    {"path": "gitlab-org/gitlab", "default_branch": "master",
     "mr_pipeline_status": "running",
     "files": {"GITALY_SERVER_VERSION": "placeholder\n"}}]}' |
	jq -r '.projects["gitlab-org/security/gitaly"].root')
admin POST /commits "{\"project\": \"gitlab-org/gitlab\", \"commits\": [
  {\"message\": \"Update Gitaly version\", \"files\": {\"GITALY_SERVER_VERSION\": \"$root\\n\"}}]}" >/dev/null
shas=$(admin POST /commits '{"project": "gitlab-org/security/gitaly",
  "commits": [
    {"message": "Add pack-objects cache metrics", "merge": 3, "mr": 6801},
    {"message": "Fix flaky raft test", "merge": 1, "mr": 6802},
    {"message": "Bump Go to 1.22", "merge": 2, "mr": 6803},
    {"message": "Refactor housekeeping", "merge": 2, "mr": 6804}]}' |
	jq -r '.shas | join(" ")')
set -- $shas
for s in "$1" "$2" "$3"; do
	admin POST /pipelines "{\"project\": \"gitlab-org/security/gitaly\", \"sha\": \"$s\", \"ref\": \"master\", \"status\": \"success\"}" >/dev/null
done
admin POST /pipelines "{\"project\": \"gitlab-org/security/gitaly\", \"sha\": \"$4\", \"ref\": \"master\", \"status\": \"failed\"}" >/dev/null

export CI_API_V4_URL="$SIM/api/v4"
export RELAY_TOKEN=demo-bot-token RELAY_APPROVER_TOKEN=demo-approver-token
export RELAY_PIPELINE_WAIT_S=0
export CI_JOB_URL="$SIM/gitlab-org/security/gitaly/-/jobs/1"

echo "== relay-find-green (security mirror: 4 merges, the newest is red)"
RELAY_DOTENV="$work/find-green.env" "$top/bin/relay-find-green" >/dev/null
set -a
. "$work/find-green.env"
set +a
echo "== relay-open-mr"
RELAY_DOTENV="$work/open-mr.env" "$top/bin/relay-open-mr" >/dev/null
set -a
. "$work/open-mr.env"
set +a
echo
echo "== the merge request, as the GitLab simulator holds it"
curl -sS -H "PRIVATE-TOKEN: $RELAY_TOKEN" \
	"$CI_API_V4_URL/projects/gitlab-org%2Fgitlab/merge_requests/$MR_IID" |
	jq -r '"!\(.iid) \(.title) [\(.state)] by \(.author.username)",
	       "labels: \(.labels | join(", "))",
	       "merge when pipeline succeeds: \(.merge_when_pipeline_succeeds)",
	       "head pipeline: \(.head_pipeline.id) \(.head_pipeline.status)",
	       "", .description'
echo "== GITALY_SERVER_VERSION on \"release-tools/update-gitaly\":"
curl -sS -H "PRIVATE-TOKEN: $RELAY_TOKEN" \
	"$CI_API_V4_URL/projects/gitlab-org%2Fgitlab/repository/files/GITALY_SERVER_VERSION/raw?ref=release-tools%2Fupdate-gitaly"
echo
echo "== dotenv reports handed from stage to stage"
echo "-- relay-find-green:"
cat "$work/find-green.env"
echo "-- relay-open-mr:"
cat "$work/open-mr.env"
