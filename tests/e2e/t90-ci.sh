#!/bin/sh
# The project's own .gitlab-ci.yml, with the components of templates/
# included locally, run by a real CI runner (gitlab-ci-local, shell
# executor) against the simulator: scheduled runs, a failing MR pipeline,
# a manual run pinning a SHA. Also every YAML file against GitLab's schema.
. "$(dirname "$0")/lib.sh"

if ! GCL=$("$TOP/scripts/gcl.sh" 2>"$TRASH/gcl.err"); then
	echo "# skipped: gitlab-ci-local unavailable: $(cat "$TRASH/gcl.err")"
	test_done
	exit 0
fi
sim_start
seed_default
T='.projects["gitlab-org/gitlab"]'
export GIT_AUTHOR_NAME=dev GIT_AUTHOR_EMAIL=dev@example.com
export GIT_COMMITTER_NAME=dev GIT_COMMITTER_EMAIL=dev@example.com

# proj: this project as the runner sees it (tracked files, an origin)
mkdir proj
cp -r "$TOP/templates" "$TOP/.gitlab-ci.yml" proj/
git -C proj init -q -b main
git -C proj remote add origin https://gitlab.example.com/gitlab-org/security/gitaly.git
git -C proj add -A
git -C proj commit -q -m relay
git -C proj update-ref refs/remotes/origin/main HEAD
git -C proj symbolic-ref refs/remotes/origin/HEAD refs/remotes/origin/main
# the mirror stage's repositories
git init -q -b master work
git -C work commit -q --allow-empty -m one
git clone -q --bare work canon.git
git init -q --bare mirror.git

# chain [SOURCE] [--variable K=V...]: one pipeline of the project; the
# runner's output in gcl.out. Secrets go in as CI variables would; the
# failures webhook by variable name, as the component's input allows.
chain() {
	src=${1:-schedule}
	[ $# -gt 0 ] && shift
	(cd proj && "$GCL" --force-shell-executor --no-color \
		--ignore-predefined-vars CI_PIPELINE_SOURCE,CI_API_V4_URL \
		--variable CI_PIPELINE_SOURCE="$src" \
		--variable CI_API_V4_URL="$CI_API_V4_URL" \
		--variable PATH="$RELAY_BIN:$PATH" \
		--variable RELAY_TOKEN="$BOT_TOKEN" \
		--variable RELAY_APPROVER_TOKEN="$APPROVER_TOKEN" \
		--variable RELAY_SLACK_ALERTS_URL="$RELAY_SLACK_ALERTS_URL" \
		--variable SLACK_G_GITALY="$RELAY_SLACK_FAILURES_URL" \
		--variable RELAY_SLACK_FAILURES_VAR=SLACK_G_GITALY \
		--variable RELAY_MIRROR_FROM="$TRASH/canon.git" \
		--variable RELAY_MIRROR_TO="$TRASH/mirror.git" \
		--variable RELAY_MIRROR_CACHE="$TRASH/cache.git" \
		--variable RELAY_WATCH_WAIT_S=0 --variable RELAY_PIPELINE_WAIT_S=0 \
		--variable RELAY_RETRY_BASE_MS=5 "$@") >gcl.out 2>&1
	rc=$?
}
mrs() { state "$T.mrs | length"; }
posts() { sim GET /slack | jq "[.[] | select(.hook | startswith(\"$1-\"))] | length"; }
pinned() { test "$(state "$T.files[\"release-tools/update-gitaly\"].GITALY_SERVER_VERSION == \"$1\\n\"")" = true; }
ran() { grep -q "^$1 *finished in" gcl.out; }
secrets_hidden() {
	! grep -q -e "$BOT_TOKEN" -e "$APPROVER_TOKEN" -e "$SLACK_SECRET" gcl.out
}

src_commits '[{"message": "Add cache", "merge": 1}, {"message": "Fix leak", "merge": 1}]'
G1=$(nth 1) S2=$(nth 2)
pipeline "$G1" success >/dev/null

test_expect_success 'every YAML file is valid against GitLab CI schema' '
	"$TOP/scripts/ci-lint.sh" >lint.out 2>&1 || { cat lint.out; false; }
'

test_expect_success 'a scheduled run: the whole chain, the bump MR opened' '
	chain schedule && test "$rc" -eq 0 &&
	for s in mirror find-green open-mr watch triage notify track-deploy; do
		ran "relay-$s" || { echo "relay-$s did not run"; return 1; }
	done &&
	! ran build && ! ran check && test "$(mrs)" -eq 1 &&
	test "$(state "$T.mrs[0].title")" = "Update Gitaly version" && pinned "$G1" &&
	test "$(git -C mirror.git rev-parse master)" = "$(git -C canon.git rev-parse master)" &&
	grep -q "OUTCOME=running" gcl.out && secrets_hidden
'

test_expect_success 'the values crossed the stages through dotenv reports' '
	grep -q "^relay-find-green *> GREEN_SHA=$G1" gcl.out &&
	grep -q "^relay-open-mr *> MR_IID=1" gcl.out &&
	grep -q "^relay-watch *> OUTCOME=running" gcl.out &&
	grep -q "^relay-notify *> NOTIFIED=false" gcl.out
'

test_expect_success 'a second scheduled run changes nothing' '
	before=$(state "[$T.mrs[0].sha, ($T.mrs[0].notes | length), ($T.mrs[0].labels | join(\",\"))] | join(\" \")") &&
	chain schedule && test "$rc" -eq 0 && test "$(mrs)" -eq 1 &&
	test "$(state "[$T.mrs[0].sha, ($T.mrs[0].notes | length), ($T.mrs[0].labels | join(\",\"))] | join(\" \")")" = "$before" &&
	test "$(posts failures)" -eq 0
'

test_expect_success 'the MR pipeline fails: retried once, then exactly one Slack report' '
	P=$(mr_pipeline failed "[{\"name\": \"rspec\", \"status\": \"failed\"}, {\"name\": \"lint\", \"status\": \"success\"}]") &&
	target_pipeline success >/dev/null &&
	chain schedule && grep -q "TRIAGE=flake-retried" gcl.out && test "$(posts failures)" -eq 0 &&
	set_jobs "$P" "{\"rspec\": \"failed\"}" &&
	chain schedule && test "$(posts failures)" -eq 1 &&
	chain schedule && test "$(posts failures)" -eq 1 && secrets_hidden
'

test_expect_success 'a manual run with RELAY_PIN_SHA pins that SHA' '
	chain web --variable RELAY_PIN_SHA="$S2" && test "$rc" -eq 0 && test "$(mrs)" -eq 1 &&
	pinned "$S2" && grep -q "GREEN_SHA=$S2" gcl.out
'

test_expect_success 'a manual run with RELAY_ONLY runs that stage alone' '
	chain web --variable RELAY_ONLY=find-green && test "$rc" -eq 0 &&
	ran relay-find-green && ! ran relay-open-mr && ! ran relay-mirror
'

test_expect_success 'a push pipeline runs no chain job' '
	(cd proj && "$GCL" --list --variable CI_PIPELINE_SOURCE=push \
		--ignore-predefined-vars CI_PIPELINE_SOURCE) >list.out 2>&1 &&
	grep -q "^build " list.out && ! grep -q "relay-" list.out
'

test_done
