#!/bin/sh
# relay-track-deploy against the simulator: a merged bump MR followed
# through the environments, labels as the record, one Slack post each.
. "$(dirname "$0")/lib.sh"
sim_start
seed_default
T='.projects["gitlab-org/gitlab"]'
mr() { state "$T.mrs[${2:-0}].$1"; }
labels() { state "$T.mrs[${1:-0}].labels | join(\",\")"; }
has_label() { labels | tr , "\n" | grep -qx "$1"; }
posts() { sim GET /slack | jq "[.[] | select(.hook | startswith(\"alerts-\"))] | length"; }
post() { sim GET /slack | jq -r "[.[] | select(.hook | startswith(\"alerts-\"))][$1].text"; }
notes_with() { state "[$T.mrs[${2:-0}].notes[] | select(.author.username == \"release-tools-bot\" and (.body | contains(\"$1\")))] | length"; }
writes() { requests '[.[] | select(.method != "GET")] | length'; }
# deploy ENV SHA [STATUS]: a deployment in the target project
deploy() {
	sim POST /deployments "{\"project\": \"gitlab-org/gitlab\", \"environment\": \"$1\", \"sha\": \"$2\", \"status\": \"${3:-success}\"}" >/dev/null
}
# target_commit: a new commit on the target's master; prints its SHA
target_commit() {
	sim POST /commits '{"project": "gitlab-org/gitlab", "commits": [{"message": "Unrelated change"}]}' | jq -r '.shas[0]'
}
track() { MR_IID=1 run track-deploy "$@"; }

src_commits '[{"message": "Add cache", "merge": 1}, {"message": "Fix leak", "merge": 1}]'
BEFORE=$(state "$T.branches.master")
open_bump "$(nth 1)"
mr_pipeline success >/dev/null
M1=$(mr merge_commit_sha)

test_expect_success 'set-up: the bump MR merged into the target' '
	test "$(mr state)" = merged && test ${#M1} -eq 40
'

test_expect_success 'merged but deployed nowhere: DEPLOY_STAGE=none, nothing written' '
	sim DELETE /requests >/dev/null &&
	track && expect_rc 0 && test "$(dotenv DEPLOY_STAGE)" = none &&
	test "$(writes)" -eq 0 && test "$(posts)" -eq 0 && no_secrets
'

test_expect_success 'a bad RELAY_ENVIRONMENTS is a usage error (64), one line' '
	RELAY_ENVIRONMENTS="gstg,gprd:workflow::production" track && expect_rc 64 &&
	one_error_line && grep -q "RELAY_ENVIRONMENTS" err
'

test_expect_success 'an unknown MR is refused (69), one line naming it' '
	MR_IID=99 run track-deploy && expect_rc 69 && one_error_line && grep -q "!99" err
'

test_expect_success 'a failed deployment of the merge commit does not count' '
	deploy gstg-cny "$M1" failed && track && expect_rc 0 &&
	test "$(dotenv DEPLOY_STAGE)" = none && test "$(posts)" -eq 0
'

test_expect_success 'a later deployment of an older SHA does not count' '
	deploy gstg-cny "$BEFORE" && track && expect_rc 0 &&
	test "$(dotenv DEPLOY_STAGE)" = none &&
	! labels | grep -q workflow:: && test "$(posts)" -eq 0
'

test_expect_success 'dry run: tells what it would do, writes nothing' '
	deploy gstg-cny "$M1" && sim DELETE /requests >/dev/null &&
	track --dry-run && expect_rc 0 && test "$(dotenv DEPLOY_STAGE)" = gstg-cny &&
	grep -q "would label !1 at workflow::staging-canary" err &&
	test "$(writes)" -eq 0 && test "$(posts)" -eq 0
'

test_expect_success 'reaching gstg-cny: scoped label, one Slack post, a note (a forged one ignored)' '
	forge 1 "<!-- relay:deployed env=gstg-cny slack=sent -->" &&
	track && expect_rc 0 && test "$(dotenv DEPLOY_STAGE)" = gstg-cny &&
	labels | grep -q "workflow::staging-canary" && test "$(posts)" -eq 1 &&
	post 0 | grep -q "<$SIM/gitlab-org/gitlab/-/merge_requests/1|!1>" &&
	post 0 | grep -q "$(echo "$M1" | cut -c1-12)" &&
	post 0 | grep -q "reached \*gstg-cny\* (workflow::staging-canary)" &&
	post 0 | grep -q "/-/environments/[0-9]*|environment>" &&
	test "$(notes_with "relay:deployed env=gstg-cny slack=sent")" -eq 1 && no_secrets
'

test_expect_success 'running again changes nothing and posts nothing' '
	sim DELETE /requests >/dev/null &&
	track && expect_rc 0 && test "$(dotenv DEPLOY_STAGE)" = gstg-cny &&
	test "$(writes)" -eq 0 && test "$(posts)" -eq 1
'

test_expect_success 'gprd-cny after gstg-cny: the canary label' '
	D=$(target_commit) && deploy gprd-cny "$D" &&
	track && expect_rc 0 && test "$(dotenv DEPLOY_STAGE)" = gprd-cny &&
	labels | grep -q "workflow::canary" && ! labels | grep -q "workflow::staging-canary" &&
	test "$(posts)" -eq 2 && post 1 | grep -q "reached \*gprd-cny\*" &&
	test "$(notes_with "relay:deployed env=gprd-cny slack=sent")" -eq 1
'

# gitlab.com rolls out gstg-cny, gprd-cny, then promotes to gstg and gprd:
# a canary deployment must not hide the staging one that follows it
test_expect_success 'promotion: gstg after both canaries moves the MR on to staging' '
	deploy gstg "$M1" && track && expect_rc 0 &&
	test "$(dotenv DEPLOY_STAGE)" = gstg && has_label workflow::staging &&
	! labels | grep -q "workflow::canary" && test "$(posts)" -eq 3 &&
	post 2 | grep -q "reached \*gstg\* (workflow::staging)"
'

test_expect_success 'a late canary deployment never moves the MR back' '
	deploy gprd-cny "$D" && deploy gstg-cny "$D" && track && expect_rc 0 &&
	test "$(dotenv DEPLOY_STAGE)" = gstg && has_label workflow::staging &&
	! labels | grep -q "workflow::canary" && test "$(posts)" -eq 3
'

test_expect_success 'Slack down when production is reached: label kept, exit 75' '
	sim POST /slack/hooks "{\"name\": \"alerts-$SLACK_SECRET\", \"status\": 500, \"body\": \"internal_error\"}" >/dev/null &&
	deploy gprd "$M1" && track && expect_rc 75 && one_error_line &&
	labels | grep -q "workflow::production" && ! labels | grep -q "workflow::staging" &&
	test "$(posts)" -eq 3 &&
	test "$(notes_with "relay:deployed env=gprd slack=retry")" -eq 1 && no_secrets
'

test_expect_success 'the next run of any kind delivers the pending message, once (no MR_IID: the MR is at the last environment)' '
	sim POST /slack/hooks "{\"name\": \"alerts-$SLACK_SECRET\", \"status\": 200}" >/dev/null &&
	run track-deploy && expect_rc 0 && test "$(dotenv DEPLOY_STAGE)" = gprd &&
	test "$(posts)" -eq 4 && post 3 | grep -q "reached \*gprd\* (workflow::production)" &&
	test "$(notes_with "relay:deployed env=gprd slack=sent")" -eq 1 &&
	track && expect_rc 0 && test "$(posts)" -eq 4 &&
	test "$(notes_with relay:deployed)" -eq 4
'

test_expect_success 'other labels stay; another workflow:: label is replaced' '
	open_bump "$(nth 2)" && mr_pipeline success null 2 >/dev/null &&
	test "$(mr state 1)" = merged &&
	sim PATCH /mrs/gitlab-org%2Fgitlab/2 "{\"labels\": [\"group::gitaly\", \"workflow::in dev\", \"dependency update\"]}" >/dev/null &&
	M2=$(mr merge_commit_sha 1) && deploy gstg-cny "$M2" &&
	MR_IID=2 run track-deploy && expect_rc 0 &&
	test "$(labels 1)" = "group::gitaly,dependency update,workflow::staging-canary"
'

test_expect_success 'without MR_IID: merged bump MRs not in production, newest first' '
	deploy gstg "$M2" && sim DELETE /requests >/dev/null &&
	run track-deploy && expect_rc 0 && test "$(dotenv DEPLOY_STAGE)" = gstg &&
	labels 1 | grep -q "workflow::staging" && test "$(posts)" -eq 6 &&
	test "$(requests "[.[] | select(.path | endswith(\"/merge_requests/1\"))] | length")" -eq 0 &&
	run track-deploy && expect_rc 0 && test "$(posts)" -eq 6
'

test_expect_success 'an open MR is not deployed: DEPLOY_STAGE=none' '
	src_commits "[{\"message\": \"More\", \"merge\": 1}]" && open_bump "$(nth 1)" &&
	IID=$(dotenv MR_IID) && MR_IID=$IID run track-deploy && expect_rc 0 &&
	test "$(dotenv DEPLOY_STAGE)" = none && grep -q "not merged" err
'

test_expect_success 'GitLab down: exit 75 with one line naming the request' '
	sim POST /faults "{\"path\": \"/deployments\", \"kind\": \"status\", \"status\": 503, \"times\": 10}" >/dev/null &&
	MR_IID=2 run track-deploy && expect_rc 75 && one_error_line &&
	grep -q "deployments to" err && sim DELETE /faults >/dev/null && no_secrets
'

# issue 13 item 13: hourly bumps during a long rollout: every merged bump
# not yet at the last environment is followed, page after page
test_expect_success 'more merged bumps than a page: every one is followed' '
	for i in 1 2 3 4 5 6 7; do
		src_commits "[{\"message\": \"Bump $i\"}]" && open_bump "$(nth 1)" &&
		mr_pipeline success null "$(dotenv MR_IID)" >/dev/null || return 1
	done &&
	test "$(state "[$T.mrs[] | select(.state == \"merged\")] | length")" -eq 9 &&
	D2=$(target_commit) && deploy gprd-cny "$D2" && sim DELETE /requests >/dev/null &&
	RELAY_DEPLOY_MAX_MRS=3 run track-deploy && expect_rc 0 &&
	test "$(dotenv DEPLOY_STAGE)" = gprd-cny &&
	test "$(state "[$T.mrs[] | select(.labels | index(\"workflow::canary\"))] | length")" -eq 7 &&
	test "$(requests "[.[] | select(.method == \"GET\" and (.path | endswith(\"/merge_requests\")))] | length")" -ge 3 &&
	test "$(requests "[.[] | select(.path | endswith(\"/merge_requests/1\"))] | length")" -eq 0 &&
	test "$(labels 1)" = "group::gitaly,dependency update,workflow::staging"
'

# issue 13 item 14: "merged within RELAY_DEPLOY_MAX_DAYS" by GitLab's clock
# (its Date header), not the runner's: here GitLab is 15 days ahead
test_expect_success 'merged 15 days ago by GitLab'"'"'s clock: no longer followed' '
	sim POST /clock "{\"advance_s\": $((15 * 86400))}" >/dev/null &&
	before=$(posts) && deploy gprd "$M2" &&
	run track-deploy && expect_rc 0 && grep -q "no merged bump MR to follow" err &&
	test "$(posts)" -eq "$before" && labels 1 | grep -q "workflow::staging"
'

test_done
