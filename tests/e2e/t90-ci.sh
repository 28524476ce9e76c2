#!/bin/sh
# The components run by a real CI runner (gitlab-ci-local, shell executor)
# against the simulator. An adopter's project includes update-component
# exactly as README.md tells it to (its catalog include at the release the
# templates pin, served from the files of this tree), and its hourly
# pipeline goes through every normal state: a fresh MR, up to date, no
# green commit, the MR merged or closed by a person, a failing pipeline
# retried and reported once, a failed mirror, a manual RELAY_PIN_SHA. Each
# ends green or allowed-to-fail with the reason in the job's log. Also
# relay's own .gitlab-ci.yml (push pipelines run no chain job; RELAY_ONLY),
# and every YAML file against GitLab's schema.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/e2e/ci.sh"
VERSION=$(python3 "$TOP/scripts/inputs.py" --version)

# repo DIR: a project as the runner sees it (tracked files, an origin)
repo() {
	git -C "$1" init -q -b main
	git -C "$1" remote add origin https://gitlab.example.com/gitlab-org/security/gitaly.git
	git -C "$1" add -A
	git -C "$1" commit -q -m relay
	git -C "$1" update-ref refs/remotes/origin/main HEAD
	git -C "$1" symbolic-ref refs/remotes/origin/HEAD refs/remotes/origin/main
}
# self: relay's own pipeline, the components included locally
mkdir self
cp -r "$TOP/templates" "$TOP/.gitlab-ci.yml" self/
repo self
# proj: the adopter, with README's include block as its whole
# .gitlab-ci.yml; the catalog's files of relay/relay at $VERSION are this
# tree's templates (gitlab-ci-local reads a fetched include from its state
# folder, where they are put)
# readme_yaml START: README's first yaml block after the line starting
# with START
readme_yaml() {
	awk -v h="$1" 'index($0, h) == 1 { s = 1 } s && /^```yaml/ { y = 1; next }
		y && /^```/ { exit } y' "$TOP/README.md"
}
mkdir proj
readme_yaml "## CI/CD components" >proj/.gitlab-ci.yml
repo proj
inc=proj/.gitlab-ci-local/includes/gitlab.example.com/relay/relay/$VERSION
mkdir -p "$inc"
cp -r "$TOP/templates" "$inc/"
# the mirror stage's repositories
git init -q -b master work
git -C work commit -q --allow-empty -m one
git clone -q --bare work canon.git
git init -q --bare mirror.git

# chain [SOURCE] [--variable K=V...]: one pipeline of the adopter (DIR, or
# proj) on the runner (gcl); the failures webhook under the variable name
# README's include gives.
chain() {
	src=${1:-schedule}
	[ $# -gt 0 ] && shift
	gcl "${DIR:-proj}" \
		--ignore-predefined-vars CI_PIPELINE_SOURCE,CI_API_V4_URL \
		--variable CI_PIPELINE_SOURCE="$src" \
		--variable RELAY_APPROVER_TOKEN="$APPROVER_TOKEN" \
		--variable SLACK_G_GITALY_WEBHOOK="$RELAY_SLACK_FAILURES_URL" \
		--variable RELAY_MIRROR_FROM="${MIRROR_FROM:-$TRASH/canon.git}" \
		--variable RELAY_MIRROR_TO="$TRASH/mirror.git" \
		--variable RELAY_MIRROR_CACHE="$TRASH/cache.git" \
		--variable RELAY_PIPELINE_WAIT_S=0 "$@"
	runs=$((${runs:-0} + 1))
	cp gcl.out "gcl.$runs.out" # each run kept for KEEP=1
	# the job pages' links (artifacts:reports:annotations) of this run
	mkdir -p "ann.$runs" && cp proj/*-annotations.json "ann.$runs/" 2>/dev/null
	return 0
}
mrs() { state "$T.mrs | length"; }
open_mrs() { state "[$T.mrs[] | select(.state == \"opened\")] | length"; }
posts() { sim GET /slack | jq "[.[] | select(.hook | startswith(\"$1-\"))] | length"; }
pinned() { test "$(state "$T.files[\"release-tools/update-gitaly\"].GITALY_SERVER_VERSION == \"$1\\n\"")" = true; }
master_pins() { test "$(state "$T.files[\"master\"].GITALY_SERVER_VERSION == \"$1\\n\"")" = true; }
ran() { grep -q "^$1 *finished in" gcl.out; }
# log JOB TEXT: the job's own log holds TEXT
log() { grep "^$1 *>" gcl.out | grep -q -- "$2"; }
# green: the pipeline passed: every job passed or failed as allowed
# (gitlab-ci-local marks those WARN with the exit code, the others FAIL)
green() {
	test "$rc" -eq 0 || { grep -E "finished in|FAIL|WARN" gcl.out; return 1; }
	! grep -E "^relay-[a-z-]+ +finished in .* FAIL" gcl.out
}
# allowed JOB CODE: JOB failed with exit CODE, which its component allows
allowed() { grep -E "^$1 +finished in" gcl.out | grep -q "WARN $2"; }
secrets_hidden() {
	! grep -q -e "$BOT_TOKEN" -e "$APPROVER_TOKEN" -e "$SLACK_SECRET" gcl.out
}
# person METHOD PATH JSON: a person's API call (the approver's identity)
person() {
	curl -sS --fail-with-body -X "$1" -H "PRIVATE-TOKEN: $APPROVER_TOKEN" \
		-H 'Content-Type: application/json' --data-binary "$3" \
		"$CI_API_V4_URL$2" >/dev/null
}
MR=/projects/gitlab-org%2Fgitlab/merge_requests

src_commits '[{"message": "Add cache", "merge": 1}, {"message": "Fix leak", "merge": 1}]'
G1=$(nth 1) S2=$(nth 2)
pipeline "$G1" success >/dev/null

test_expect_success 'every YAML file is valid against GitLab CI schema' '
	"$TOP/scripts/ci-lint.sh" >lint.out 2>&1 || { cat lint.out; false; }
'

test_expect_success 'README tells an adopter to include the release the templates pin' '
	grep -q "component: \$CI_SERVER_FQDN/relay/relay/update-component@$VERSION\$" proj/.gitlab-ci.yml &&
	grep -q "team_handle:" proj/.gitlab-ci.yml
'

test_expect_success 'fresh MR: the whole chain runs, the bump MR is opened' '
	chain schedule && green &&
	for s in mirror find-green open-mr watch triage notify track-deploy status; do
		ran "relay-$s" || { echo "relay-$s did not run"; return 1; }
	done &&
	test "$(mrs)" -eq 1 &&
	test "$(state "$T.mrs[0].title")" = "Update Gitaly version" && pinned "$G1" &&
	test "$(git -C mirror.git rev-parse master)" = "$(git -C canon.git rev-parse master)" &&
	log relay-open-mr "MR_ACTION=created" && secrets_hidden &&
	test "$(state "$T.issues[0].title")" = "Gitaly release train status" &&
	log relay-status "STATUS_ISSUE=created" && FRESH=$runs
'

test_expect_success 'the values crossed the stages through dotenv reports' '
	grep -q "^relay-find-green *> GREEN_SHA=$G1" gcl.out &&
	grep -q "^relay-open-mr *> MR_IID=1" gcl.out &&
	grep -q "^relay-watch *> OUTCOME=running" gcl.out &&
	grep -q "^relay-notify *> NOTIFIED=false" gcl.out
'

# issue 13: gitlab-org/gitlab runs merged-results pipelines; the chain
# recognises them (ref refs/merge-requests/<iid>/merge, sha a merge commit
# whose second parent is the MR head) and sets auto-merge with that head
test_expect_success 'merged results: the MR pipeline runs on a merge commit, auto-merge set with the head sha' '
	HEAD1=$(state "$T.mrs[0].sha") && PL1=$(state "$T.mrs[0].head_pipeline.id") &&
	test "$(state "[$T.pipelines[] | select(.id == $PL1)][0].ref")" = refs/merge-requests/1/merge &&
	test "$(state "[$T.pipelines[] | select(.id == $PL1)][0].sha")" != "$HEAD1" &&
	test "$(state "$T.mrs[0].auto_merge")" = true &&
	test "$(requests "[.[] | select(.method == \"PUT\" and (.path | endswith(\"/merge_requests/1/merge\")))][0] | .auth, (.body | fromjson | .sha)" | tr "\n" " ")" = "approver-bot $HEAD1 " &&
	log relay-watch "pipeline $PL1 running"
'

test_expect_success 'pipeline running: the next hour changes nothing' '
	before=$(state "[$T.mrs[0].sha, ($T.mrs[0].notes | length), ($T.mrs[0].labels | join(\",\"))] | join(\" \")") &&
	chain schedule && green && test "$(mrs)" -eq 1 &&
	log relay-open-mr "MR_ACTION=unchanged" && log relay-watch "OUTCOME=running" &&
	log relay-notify "OUTCOME=running: nothing to report" &&
	test "$(state "[$T.mrs[0].sha, ($T.mrs[0].notes | length), ($T.mrs[0].labels | join(\",\"))] | join(\" \")")" = "$before" &&
	test "$(posts failures)" -eq 0
'

test_expect_success 'the MR pipeline fails: retried once, then reported once, watch allowed to fail' '
	P=$(mr_pipeline failed "[{\"name\": \"rspec\", \"status\": \"failed\"}, {\"name\": \"lint\", \"status\": \"success\"}]") &&
	target_pipeline success >/dev/null &&
	chain schedule && green && allowed relay-watch 1 &&
	log relay-watch "warning: pipeline $P of !1 failed" &&
	! grep -q "expected a number" gcl.out &&
	log relay-triage "TRIAGE=flake-retried" && test "$(posts failures)" -eq 0 &&
	set_jobs "$P" "{\"rspec\": \"failed\"}" &&
	chain schedule && green && allowed relay-watch 1 && test "$(posts failures)" -eq 1 &&
	log relay-notify "NOTIFIED=true" && REPORTED=$runs &&
	chain schedule && green && test "$(posts failures)" -eq 1 &&
	log relay-notify "NOTIFIED=false" && secrets_hidden
'

test_expect_success 'the job pages link the MR, the failed pipeline and its Slack report' '
	mr_url=$(state "$T.mrs[0].web_url") &&
	jq -e --arg u "$mr_url" ".[\"relay-open-mr\"][0].external_link == {label: \"bump MR !1: created\", url: \$u}" \
		"ann.$FRESH/open-mr-annotations.json" &&
	jq -e ".[\"relay-watch\"][0].external_link.label == \"MR pipeline $P: failed (failed: rspec)\"" \
		"ann.$REPORTED/watch-annotations.json" &&
	jq -e ".[\"relay-notify\"][] | select(.external_link.label | test(\"^MR pipeline $P: failed, .*reported to Slack\")) | .external_link.url | endswith(\"/pipelines/$P\")" \
		"ann.$REPORTED/notify-annotations.json"
'

test_expect_success 'MR merged by a person: the next hours are up to date, every job green' '
	sim PATCH "/mrs/gitlab-org%2Fgitlab/1" "{\"auto_merge\": false}" >/dev/null &&
	set_jobs "$P" "{\"rspec\": \"success\"}" &&
	person PUT "$MR/1/merge" "{}" && master_pins "$G1" &&
	test "$(state "$T.mrs[0].state")" = merged &&
	for hour in 1 2; do
		chain schedule && green &&
		log relay-find-green "UP_TO_DATE=true" &&
		log relay-open-mr "MR_ACTION=none" &&
		for s in watch triage notify; do
			log "relay-$s" "no bump MR" || { echo "relay-$s"; return 1; }
		done &&
		! grep -q "missing variable" gcl.out || return 1
	done &&
	test "$(mrs)" -eq 1 && test "$(posts failures)" -eq 1
'

test_expect_success 'no green commit: find-green allowed to fail, the rest has nothing to do' '
	src_commits "[{\"message\": \"Break it\", \"merge\": 1}, {\"message\": \"Break more\", \"merge\": 1}]" &&
	pipeline "$(nth 1)" failed >/dev/null && pipeline "$(nth 2)" failed >/dev/null &&
	chain schedule --variable RELAY_MAX_COMMITS=2 && green &&
	allowed relay-find-green 1 &&
	log relay-find-green "no green commit in the last 2 first-parent commits" &&
	log relay-open-mr "no GREEN_SHA from relay-find-green" &&
	log relay-open-mr "MR_ACTION=none" &&
	log relay-watch "nothing to do" && log relay-notify "nothing to do" &&
	! grep -q "missing variable" gcl.out && test "$(mrs)" -eq 1
'

test_expect_success 'MR closed by a person: the next hour opens a fresh one' '
	src_commits "[{\"message\": \"Fix it\", \"merge\": 1}]" && G3=$(nth 1) &&
	pipeline "$G3" success >/dev/null &&
	chain schedule && green && test "$(mrs)" -eq 2 && pinned "$G3" &&
	person PUT "$MR/2" "{\"state_event\": \"close\"}" &&
	test "$(open_mrs)" -eq 0 &&
	chain schedule && green && log relay-open-mr "MR_ACTION=created" &&
	test "$(mrs)" -eq 3 && test "$(open_mrs)" -eq 1 && pinned "$G3"
'

test_expect_success 'mirror failed: allowed to fail with its reason, the rest runs green' '
	MIRROR_FROM=$TRASH/nowhere.git chain schedule && green &&
	allowed relay-mirror 69 && log relay-mirror "error: RELAY_MIRROR_FROM: no repository" &&
	ran relay-find-green && ran relay-open-mr && ran relay-notify
'

test_expect_success 'a manual run with RELAY_PIN_SHA pins that SHA' '
	chain web --variable RELAY_PIN_SHA="$S2" && green && test "$(open_mrs)" -eq 1 &&
	pinned "$S2" && grep -q "GREEN_SHA=$S2" gcl.out
'

test_expect_success 'before a release: README'"'"'s include of a ref gives the whole chain' '
	mkdir pre &&
	readme_yaml "**Before a release**" >pre/.gitlab-ci.yml &&
	grep -q "project: relay/relay" pre/.gitlab-ci.yml && repo pre &&
	mkdir -p pre/.gitlab-ci-local/includes/gitlab.example.com/relay/relay/main &&
	cp -r "$TOP/templates" pre/.gitlab-ci-local/includes/gitlab.example.com/relay/relay/main/ &&
	(cd pre && "$GCL" --list --variable CI_PIPELINE_SOURCE=schedule \
		--ignore-predefined-vars CI_PIPELINE_SOURCE) >list.out 2>&1 &&
	for s in mirror find-green open-mr watch triage notify track-deploy; do
		grep -q "^relay-$s " list.out || { cat list.out; return 1; }
	done
'

test_expect_success 'relay itself: a manual run with RELAY_ONLY runs that stage alone' '
	DIR=self chain web --variable RELAY_ONLY=find-green && test "$rc" -eq 0 &&
	ran relay-find-green && ! ran relay-open-mr && ! ran relay-mirror
'

test_expect_success 'relay itself: a push pipeline runs no chain job' '
	(cd self && "$GCL" --list --variable CI_PIPELINE_SOURCE=push \
		--ignore-predefined-vars CI_PIPELINE_SOURCE) >list.out 2>&1 &&
	grep -q "^build " list.out && ! grep -q "relay-" list.out
'

# issue 13: on green, GitLab's auto-merge merges the MR at the head that
# relay set it for; the next hour bumps to the newer green commit
test_expect_success 'merged results green: GitLab auto-merges the MR at its head, the next hour bumps again' '
	IID=$(state "[$T.mrs[] | select(.state == \"opened\")][0].iid") &&
	HEAD=$(state "[$T.mrs[] | select(.iid == $IID)][0].sha") &&
	PL=$(state "[$T.mrs[] | select(.iid == $IID)][0].head_pipeline.id") &&
	test "$(state "[$T.pipelines[] | select(.id == $PL)][0].ref")" = "refs/merge-requests/$IID/merge" &&
	test "$(state "[$T.mrs[] | select(.iid == $IID)][0].auto_merge")" = true &&
	sim PATCH "/pipelines/$PL" "{\"status\": \"success\"}" >/dev/null &&
	test "$(state "[$T.mrs[] | select(.iid == $IID)][0].state")" = merged &&
	test "$(state "$T.branch_commits.master.parent_ids[1]")" = "$HEAD" && master_pins "$S2" &&
	chain schedule && green && log relay-open-mr "MR_ACTION=created" &&
	pinned "$G3" && test "$(open_mrs)" -eq 1 && secrets_hidden
'

test_done
