#!/bin/sh
# relay-watch against the simulator: the outcome of the MR pipeline for the
# MR's head SHA, failed jobs across child pipelines, the fallback merge.
. "$(dirname "$0")/lib.sh"
sim_start
seed_default
T='.projects["gitlab-org/gitlab"]'
mr() { state "$T.mrs[0].$1"; }
# later SECONDS CMD...: run CMD in the background after a while; LATER=pid
later() {
	d=$1
	shift
	( sleep "$d"; "$@" ) &
	LATER=$!
}
merges() { requests '[.[] | select(.method == "PUT" and (.path | endswith("/merge")))] | length'; }

src_commits '[{"message": "Add cache", "merge": 2}]'
G1=$(nth 1)
open_bump "$G1"
P1=$(state "$T.mrs[0].head_pipeline.id")

test_expect_success 'MR_ACTION=none and no MR_IID: nothing to do, exit 0, no request' '
	sim DELETE /requests >/dev/null &&
	MR_ACTION=none MR_IID= run watch && expect_rc 0 &&
	test "$(dotenv OUTCOME)" = none && grep -q "nothing to do" err &&
	! grep -q "error:\|warning:" err && test "$(requests length)" -eq 0
'

test_expect_success 'MR_ACTION=created and no MR_IID is still missing configuration (78)' '
	MR_ACTION=created run watch && expect_rc 78 && grep -q MR_IID err
'

test_expect_success 'missing MR_IID is a configuration error (78)' '
	run watch && expect_rc 78 && grep -q "MR_IID" err && one_error_line
'

test_expect_success 'an MR_IID that is not a number is a usage error (64)' '
	MR_IID=1x run watch && expect_rc 64 && grep -q "MR_IID" err &&
	one_error_line
'

test_expect_success 'an unknown MR is refused (69) naming it' '
	MR_IID=42 run watch && expect_rc 69 && grep -q "!42" err &&
	one_error_line && no_secrets
'

test_expect_success 'a running pipeline reads as running (0)' '
	MR_IID=1 run watch && expect_rc 0 &&
	test "$(dotenv OUTCOME)" = running &&
	test "$(dotenv PIPELINE_ID)" = "$P1" &&
	test "$(dotenv PIPELINE_URL)" = "$SIM/gitlab-org/gitlab/-/pipelines/$P1" &&
	test -z "$(dotenv FAILED_JOBS)" && no_secrets
'

test_expect_success 'a running pipeline is a merged-results pipeline (sha: a merge commit)' '
	test "$(state "[$T.pipelines[] | select(.id == $P1)][0].ref")" = refs/merge-requests/1/merge &&
	test "$(state "[$T.pipelines[] | select(.id == $P1)][0].sha")" != "$(mr sha)"
'

test_expect_success 'a merged-results pipeline of an older MR head is not the outcome' '
	OLDMERGE=$(sim POST /commits "{\"project\": \"gitlab-org/gitlab\", \"branch\": \"old\", \"from\": \"master\", \"commits\": [{\"message\": \"Old\", \"merge\": 1}]}" | jq -r .head) &&
	P2=$(mr_pipeline failed) &&
	sim PATCH /pipelines/$P2 "{\"sha\": \"$OLDMERGE\"}" >/dev/null &&
	test "$(mr head_pipeline.id)" = "$P2" &&
	MR_IID=1 run watch && expect_rc 0 &&
	test "$(dotenv OUTCOME)" = running && test "$(dotenv PIPELINE_ID)" = "$P1" &&
	test "$(requests "[.[] | select(.path | endswith(\"/repository/commits/$OLDMERGE\"))] | length")" -ge 1
'

test_expect_success 'a head_pipeline of another SHA is not the outcome' '
	P2=$(sim POST /pipelines "{\"project\": \"gitlab-org/gitlab\", \"mr_iid\": 1, \"status\": \"failed\", \"kind\": \"detached\"}" | jq -r .id) &&
	sim PATCH /pipelines/$P2 "{\"sha\": \"$(printf %040d 0)\"}" >/dev/null &&
	test "$(mr head_pipeline.id)" = "$P2" &&
	MR_IID=1 run watch && expect_rc 0 &&
	test "$(dotenv OUTCOME)" = running && test "$(dotenv PIPELINE_ID)" = "$P1"
'

test_expect_success 'failed: exit 1, failed jobs with child pipelines, allowed failures left out' '
	CHILD=$(sim POST /pipelines "{\"project\": \"gitlab-org/gitlab\", \"ref\": \"master\", \"source\": \"parent_pipeline\", \"status\": \"failed\", \"jobs\": [{\"name\": \"qa-smoke\", \"status\": \"failed\"}, {\"name\": \"qa-full\", \"status\": \"success\"}]}" | jq -r .id) &&
	P3=$(mr_pipeline failed "[{\"name\": \"rspec unit 1/2\", \"status\": \"failed\"}, {\"name\": \"lint\", \"status\": \"failed\", \"allow_failure\": true}, {\"name\": \"build\", \"status\": \"success\"}, {\"name\": \"trigger-qa\", \"bridge\": true, \"status\": \"failed\", \"downstream\": $CHILD}]") &&
	MR_IID=1 run watch && expect_rc 1 &&
	test "$(dotenv OUTCOME)" = failed && test "$(dotenv PIPELINE_ID)" = "$P3" &&
	test "$(dotenv FAILED_JOBS)" = "rspec unit 1/2,trigger-qa/qa-smoke" &&
	grep -q "failed jobs: rspec unit 1/2,trigger-qa/qa-smoke" err &&
	grep -q "warning: pipeline $P3 of !1 failed$" err &&
	! grep -q "expected a number" err
'

test_expect_success 'a canceled pipeline reads as canceled' '
	mr_pipeline canceled >/dev/null && MR_IID=1 run watch && expect_rc 0 &&
	test "$(dotenv OUTCOME)" = canceled
'

# issue 13 item 5: parallel:matrix names hold ", ": FAILED_JOBS keeps each
# name whole (commas, plus signs and angle brackets percent-encoded)
test_expect_success 'parallel:matrix names and commas: each failed job stays one entry' '
	P6=$(mr_pipeline failed "[{\"name\": \"rspec: [ruby-3.3, pg-16]\", \"status\": \"failed\"}, {\"name\": \"lint, strict\", \"status\": \"failed\"}, {\"name\": \"c++ <build>\", \"status\": \"failed\"}, {\"name\": \"rspec: [ruby-3.3, pg-15]\", \"status\": \"success\"}]") &&
	MR_IID=1 run watch && expect_rc 1 && test "$(dotenv PIPELINE_ID)" = "$P6" &&
	test "$(dotenv FAILED_JOBS)" = "rspec: [ruby-3.3%2C pg-16],lint%2C strict,c%2B%2B %3Cbuild%3E"
'

test_expect_success 'a long list is cut at a name and counts the rest: +N more' '
	J=$(jq -nc "[range(60) | {name: \"rspec: [ruby-3.3, pg-16] shard \\(.) of 60, long name\", status: \"failed\"}]") &&
	P7=$(mr_pipeline failed "$J") && MR_IID=1 run watch && expect_rc 1 &&
	F=$(dotenv FAILED_JOBS) && test ${#F} -le 1500 &&
	N=$(echo "$F" | sed -n "s/.*,+\([0-9]*\) more\$/\1/p") &&
	K=$(echo "$F" | tr , "\n" | grep -c "shard") && test "$((N + K))" -eq 60 &&
	test "$(echo "$F" | tr , "\n" | grep -c "shard.* of 60%2C long name$")" -eq "$K"
'

test_expect_success 'bounded waiting sees a pipeline finish' '
	P4=$(mr_pipeline running "[{\"name\": \"rspec\", \"status\": \"running\"}]") &&
	sim PATCH /mrs/gitlab-org%2Fgitlab/1 "{\"auto_merge\": true}" >/dev/null &&
	later 1.5 set_jobs "$P4" "{\"rspec\": \"failed\"}" &&
	MR_IID=1 RELAY_WATCH_WAIT_S=20 RELAY_POLL_S=1 run watch && wait $LATER &&
	expect_rc 1 && test "$(dotenv OUTCOME)" = failed &&
	test "$(dotenv FAILED_JOBS)" = rspec &&
	test "$(grep -c "checking again" err)" -ge 1
'

test_expect_success 'success with auto-merge set: GitLab merges, watch does not' '
	sim PATCH /mrs/gitlab-org%2Fgitlab/1 "{\"approved_by\": []}" >/dev/null &&
	P5=$(mr_pipeline running "[{\"name\": \"rspec\", \"status\": \"running\"}]") &&
	sim PATCH /mrs/gitlab-org%2Fgitlab/1 "{\"auto_merge\": true}" >/dev/null &&
	set_jobs "$P5" "{\"rspec\": \"success\"}" &&
	sim DELETE /requests >/dev/null &&
	MR_IID=1 run watch && expect_rc 0 &&
	test "$(dotenv OUTCOME)" = success && test "$(merges)" -eq 0 &&
	test "$(mr state)" = opened && grep -q "auto-merge" err
'

test_expect_success 'success without approver token: left for a person' '
	sim PATCH /mrs/gitlab-org%2Fgitlab/1 "{\"auto_merge\": false}" >/dev/null &&
	sim DELETE /requests >/dev/null &&
	MR_IID=1 run_unset RELAY_APPROVER_TOKEN watch && expect_rc 0 &&
	test "$(dotenv OUTCOME)" = success && test "$(merges)" -eq 0
'

test_expect_success 'a refused merge is one clear line (69), outcome still reported' '
	sim POST /faults "{\"method\": \"PUT\", \"path\": \"/merge\$\", \"kind\": \"status\", \"status\": 405, \"body\": {\"message\": \"405 Method Not Allowed\"}}" >/dev/null &&
	MR_IID=1 run watch && expect_rc 69 && one_error_line &&
	grep -q "cannot merge !1: approvals missing.*PUT /projects/gitlab-org%2Fgitlab/merge_requests/1/merge: HTTP 405" err &&
	test "$(dotenv OUTCOME)" = success && test "$(mr state)" = opened && no_secrets
'

test_expect_success 'dry run: says it would merge, merges nothing' '
	sim DELETE /requests >/dev/null &&
	MR_IID=1 run watch --dry-run && expect_rc 0 && grep -q "would merge !1" err &&
	test "$(merges)" -eq 0 && test "$(mr state)" = opened
'

test_expect_success 'success, approved, no auto-merge: watch merges that SHA with the approver' '
	sim PATCH /mrs/gitlab-org%2Fgitlab/1 "{\"approved_by\": [2]}" >/dev/null &&
	HEAD=$(mr sha) && sim DELETE /requests >/dev/null &&
	MR_IID=1 run watch && expect_rc 0 &&
	test "$(dotenv OUTCOME)" = merged && test "$(mr state)" = merged &&
	test "$(requests "[.[] | select(.method == \"PUT\" and (.path | endswith(\"/merge\")))][0].auth")" = approver-bot &&
	test "$(state "$T.branches.master") " != " " &&
	test "$(state "$T.branch_commits.master.parent_ids[1]")" = "$HEAD" && no_secrets
'

test_expect_success 'a merged MR reads as merged; running again merges nothing' '
	sim DELETE /requests >/dev/null &&
	MR_IID=1 run watch && expect_rc 0 && test "$(dotenv OUTCOME)" = merged &&
	test "$(merges)" -eq 0
'

test_expect_success 'a closed MR reads as closed' '
	GREEN_SHA=$G1 CURRENT_SHA=$SRC_ROOT run open-mr && expect_rc 0 &&
	IID=$(dotenv MR_IID) &&
	sim PATCH /mrs/gitlab-org%2Fgitlab/$IID "{\"state\": \"closed\"}" >/dev/null &&
	MR_IID=$IID run watch && expect_rc 0 && test "$(dotenv OUTCOME)" = closed
'

test_expect_success 'an MR without any pipeline reads as none' '
	GREEN_SHA=$G1 CURRENT_SHA=$SRC_ROOT run open-mr && IID=$(dotenv MR_IID) &&
	sim PATCH /mrs/gitlab-org%2Fgitlab/$IID "{\"head_pipeline_id\": null}" >/dev/null &&
	for p in $(state "[$T.pipelines[] | select(.ref | startswith(\"refs/merge-requests/$IID/\")) | .id] | join(\" \")"); do
		sim PATCH /pipelines/$p "{\"sha\": \"$(printf %040d 1)\", \"ref\": \"refs/merge-requests/$IID/head\"}" >/dev/null; done &&
	MR_IID=$IID run watch && expect_rc 0 && test "$(dotenv OUTCOME)" = none &&
	test -z "$(dotenv PIPELINE_ID)"
'

test_expect_success 'GitLab down: temporary failure (75), one line, no token' '
	sim POST /faults "{\"path\": \"/merge_requests/\", \"kind\": \"status\", \"status\": 503, \"times\": -1}" >/dev/null &&
	MR_IID=1 run watch && expect_rc 75 && one_error_line && no_secrets &&
	sim DELETE /faults >/dev/null
'

# issue 13 item 4: gitlab-org/gitlab pipelines have hundreds of jobs
test_expect_success 'a failed job past the first 100 is named (every page is read)' '
	src_commits "[{\"message\": \"Big pipeline\"}]" && GN=$(nth 1) &&
	GREEN_SHA=$GN CURRENT_SHA=$G1 run open-mr && expect_rc 0 && IID=$(dotenv MR_IID) &&
	JOBS=$(jq -nc "[range(120) | {name: \"flaky \(.)\", status: \"failed\", allow_failure: true}] + [{name: \"qa-critical\", status: \"failed\"}]") &&
	P9=$(mr_pipeline failed "$JOBS" "$IID") &&
	MR_IID=$IID run watch && expect_rc 1 && test "$(dotenv PIPELINE_ID)" = "$P9" &&
	test "$(dotenv FAILED_JOBS)" = qa-critical
'

# issue 13 item 3: GitLab answers 422 "Branch cannot be merged" (406 is gone)
test_expect_success 'a conflicting MR: 422 is one line that names the request and what to do' '
	sim POST /commits "{\"project\": \"gitlab-org/gitlab\", \"commits\": [{\"message\": \"Pin by hand\", \"files\": {\"GITALY_SERVER_VERSION\": \"$(printf %040d 7)\\n\"}}]}" >/dev/null &&
	P10=$(mr_pipeline success null "$IID") &&
	test "$(state "[$T.pipelines[] | select(.id == $P10)][0].ref")" = "refs/merge-requests/$IID/head" &&
	MR_IID=$IID run watch && expect_rc 69 && one_error_line &&
	grep -q "cannot merge !$IID: the branch conflicts with master (the next open-mr run rebuilds it): PUT /projects/gitlab-org%2Fgitlab/merge_requests/$IID/merge: HTTP 422: Branch cannot be merged" err &&
	test "$(dotenv OUTCOME)" = success && no_secrets
'

test_expect_success 'an approver who may not merge: 401 says what to fix' '
	sim POST /faults "{\"method\": \"PUT\", \"path\": \"/merge\$\", \"kind\": \"status\", \"status\": 401, \"body\": {\"message\": \"401 Unauthorized\"}}" >/dev/null &&
	MR_IID=$IID run watch && expect_rc 69 && one_error_line &&
	grep -q "RELAY_APPROVER_TOKEN user may not merge into master.*HTTP 401" err && no_secrets
'

test_done
