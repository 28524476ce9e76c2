#!/bin/sh
# relay-open-mr leaves a bump MR alone that a person took over (the seed's
# manual path: set the version file in the MR and wait for its pipeline),
# or that pins a SHA asked for by hand (RELAY_PIN_SHA), until it is merged
# or closed; a pipeline run by hand takes it over again.
. "$(dirname "$0")/lib.sh"
sim_start
seed_default

T='.projects["gitlab-org/gitlab"]'
B=release-tools/update-gitaly
branch_head() { state "$T.branches[\"$B\"]"; }
branch_file() { state "$T.files[\"$B\"].GITALY_SERVER_VERSION"; }
held_notes() { state "[$T.mrs[] | select(.iid == ${1:-1}) | .notes[] | select(.body | contains(\"relay:held\"))] | length"; }
mr_state() { state "$T.mrs[] | select(.iid == ${1:-1}) | .state"; }
# person_commit CONTENT: a person sets the version file in the MR (web IDE)
person_commit() {
	curl -sS --fail -X POST -H "PRIVATE-TOKEN: $APPROVER_TOKEN" -H 'Content-Type: application/json' \
		--data "{\"branch\": \"$B\", \"commit_message\": \"Update GITALY_SERVER_VERSION\", \"actions\": [{\"action\": \"update\", \"file_path\": \"GITALY_SERVER_VERSION\", \"content\": \"$1\\n\"}]}" \
		"$CI_API_V4_URL/projects/gitlab-org%2Fgitlab/repository/commits" >/dev/null
}
scheduled() { CI_PIPELINE_SOURCE=schedule GREEN_SHA=$1 CURRENT_SHA=$SRC_ROOT run open-mr; }

src_commits '[{"message": "Add cache", "merge": 1}, {"message": "Fix leak", "merge": 1}, {"message": "More", "merge": 1}]'
G1=$(nth 1) G2=$(nth 2) G3=$(nth 3)

test_expect_success 'set-up: a scheduled run opens the bump MR' '
	scheduled "$G1" && expect_rc 0 && test "$(dotenv MR_ACTION)" = created &&
	test "$(branch_file)" = "$G1"
'

test_expect_success 'a person sets the version in the MR: the next scheduled run holds it, one note' '
	forge 1 "<!-- relay:held commit=0000000000000000000000000000000000000000 -->" &&
	person_commit "$G2" && H=$(branch_head) && sim DELETE /requests >/dev/null &&
	scheduled "$G3" && expect_rc 0 && test "$(dotenv MR_ACTION)" = held &&
	test "$(dotenv MR_IID)" = 1 && test "$(branch_head)" = "$H" && test "$(branch_file)" = "$G2" &&
	test "$(held_notes)" -eq 2 &&
	test "$(state "[$T.mrs[0].notes[] | select(.body | contains(\"relay:held\")) | select(.author.username != \"mallory\")] | length")" -eq 1 &&
	state "[$T.mrs[0].notes[] | select(.body | contains(\"relay:held\")) | select(.author.username != \"mallory\")][0].body" | grep -q "commit relay did not make" &&
	test "$(requests "[.[] | select(.method != \"GET\")] | length")" -eq 1 && no_secrets
'

test_expect_success 'held again: nothing written, no second note' '
	sim DELETE /requests >/dev/null &&
	scheduled "$G3" && expect_rc 0 && test "$(dotenv MR_ACTION)" = held &&
	test "$(branch_head)" = "$H" && test "$(held_notes)" -eq 2 &&
	test "$(requests "[.[] | select(.method != \"GET\")] | length")" -eq 0
'

test_expect_success 'closed: the next scheduled run resumes with a fresh MR' '
	curl -sS --fail -X PUT -H "PRIVATE-TOKEN: $APPROVER_TOKEN" -H "Content-Type: application/json" \
		--data "{\"state_event\": \"close\"}" "$CI_API_V4_URL/projects/gitlab-org%2Fgitlab/merge_requests/1" >/dev/null &&
	test "$(mr_state 1)" = closed &&
	scheduled "$G3" && expect_rc 0 && test "$(dotenv MR_ACTION)" = created &&
	test "$(dotenv MR_IID)" = 2 && test "$(branch_file)" = "$G3"
'

test_expect_success 'a person'"'"'s commit, then a pipeline run by hand: relay takes the MR over' '
	person_commit "$G1" &&
	CI_PIPELINE_SOURCE=web GREEN_SHA=$G3 CURRENT_SHA=$SRC_ROOT run open-mr && expect_rc 0 &&
	test "$(dotenv MR_ACTION)" = updated && test "$(branch_file)" = "$G3" &&
	test "$(held_notes 2)" -eq 0
'

test_expect_success 'RELAY_PIN_SHA by hand: the commit says so, scheduled runs hold it' '
	CI_PIPELINE_SOURCE=web RELAY_PIN_SHA=$G2 GREEN_SHA=$G2 CURRENT_SHA=$SRC_ROOT run open-mr &&
	expect_rc 0 && test "$(dotenv MR_ACTION)" = updated && test "$(branch_file)" = "$G2" &&
	H=$(branch_head) &&
	curl -s -H "PRIVATE-TOKEN: $BOT_TOKEN" "$CI_API_V4_URL/projects/gitlab-org%2Fgitlab/repository/commits/$H" |
		jq -r .message | grep -q "Pinned by hand (RELAY_PIN_SHA)" &&
	scheduled "$G3" && expect_rc 0 && test "$(dotenv MR_ACTION)" = held &&
	test "$(branch_head)" = "$H" && test "$(held_notes 2)" -eq 1 &&
	state "[$T.mrs[1].notes[] | select(.body | contains(\"relay:held\"))][0].body" | grep -q "RELAY_PIN_SHA" &&
	scheduled "$G2" && expect_rc 0 && test "$(dotenv MR_ACTION)" != held &&
	test "$(branch_head)" = "$H"
'

test_expect_success 'a newer SHA asked for by hand moves the pinned MR on' '
	CI_PIPELINE_SOURCE=web RELAY_PIN_SHA=$G3 GREEN_SHA=$G3 CURRENT_SHA=$SRC_ROOT run open-mr &&
	expect_rc 0 && test "$(dotenv MR_ACTION)" = updated && test "$(branch_file)" = "$G3"
'

test_expect_success 'merged: the next scheduled run is free again' '
	mr_pipeline success null 2 >/dev/null && test "$(mr_state 2)" = merged &&
	scheduled "$G3" && expect_rc 0 && test "$(dotenv MR_ACTION)" != held
'

test_done
