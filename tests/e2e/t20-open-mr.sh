#!/bin/sh
# relay-open-mr against the simulator: one MR, one commit, converging runs.
. "$(dirname "$0")/lib.sh"
sim_start
seed_default
export CI_JOB_URL="$SIM/gitlab-org/security/gitaly/-/jobs/77"

T='.projects["gitlab-org/gitlab"]'
mrs() { state "[$T.mrs[] | select(.state == \"opened\")] | length"; }
mr() { state "$T.mrs[0].$1"; }
# branch_holds SHA: the MR branch's version file is exactly SHA + newline
branch_holds() {
	test "$(state "$T.files[\"release-tools/update-gitaly\"].GITALY_SERVER_VERSION == \"$1\\n\"")" = true
}
branch_head() { state "$T.branches[\"release-tools/update-gitaly\"]"; }
# commits on the MR branch that the target branch does not have
ahead() {
	curl -s -H "PRIVATE-TOKEN: $BOT_TOKEN" "$CI_API_V4_URL/projects/gitlab-org%2Fgitlab/repository/compare?from=master&to=release-tools%2Fupdate-gitaly" | jq ".commits | length"
}
writes() { requests "[.[] | select(.method != \"GET\")] | length"; }

src_commits "[{\"message\": \"Add cache\", \"merge\": 2}, {\"message\": \"Fix leak\", \"merge\": 1}]"
G1=$(nth 1) G2=$(nth 2)
pipeline "$G1" success >/dev/null

test_expect_success 'missing GREEN_SHA and RELAY_TOKEN are reported together (78)' '
	run_unset RELAY_TOKEN open-mr && expect_rc 78 &&
	grep -q "missing variables: RELAY_TOKEN, GREEN_SHA" err && one_error_line
'

test_expect_success 'a GREEN_SHA that is not a SHA is a usage error (64)' '
	GREEN_SHA="\$(rm -rf /)" run open-mr && expect_rc 64 &&
	grep -q "GREEN_SHA: expected 40 hex digits" err
'

test_expect_success 'no green commit (GREEN_SHA empty, CURRENT_SHA set): nothing to do, 0' '
	sim DELETE /requests >/dev/null &&
	GREEN_SHA= CURRENT_SHA=$SRC_ROOT UP_TO_DATE=false run open-mr &&
	expect_rc 0 && test "$(dotenv MR_ACTION)" = none &&
	grep -q "no GREEN_SHA from relay-find-green.*nothing to do" err &&
	! grep -q "error:" err && test "$(requests length)" -eq 0
'

test_expect_success 'UP_TO_DATE=true does nothing and makes no request' '
	sim DELETE /requests >/dev/null &&
	UP_TO_DATE=true run open-mr && expect_rc 0 &&
	test "$(dotenv MR_ACTION)" = none && test "$(requests length)" -eq 0
'

test_expect_success 'dry run reads but writes nothing and shows the MR' '
	sim DELETE /requests >/dev/null &&
	GREEN_SHA=$G1 CURRENT_SHA=$SRC_ROOT run open-mr --dry-run && expect_rc 0 &&
	test "$(writes)" -eq 0 && test "$(mrs)" -eq 0 &&
	grep -q "would open .Update Gitaly version." err &&
	test "$(dotenv MR_ACTION)" = created
'

# src_reads: GETs of the source project itself
src_reads() { requests "[.[] | select(.method == \"GET\" and (.path | endswith(\"/projects/gitlab-org%2Fsecurity%2Fgitaly\")))] | length"; }

test_expect_success 'SOURCE_WEB_URL from find-green: the source project is not read again; one on another origin is not used' '
	sim DELETE /requests >/dev/null &&
	GREEN_SHA=$G1 CURRENT_SHA=$SRC_ROOT SOURCE_WEB_URL=$SIM/gitlab-org/security/gitaly \
		run open-mr --dry-run && expect_rc 0 && test "$(src_reads)" -eq 0 &&
	grep -q "$SIM/gitlab-org/security/gitaly/-/compare/$SRC_ROOT...$G1" err &&
	sim DELETE /requests >/dev/null &&
	GREEN_SHA=$G1 CURRENT_SHA=$SRC_ROOT SOURCE_WEB_URL=https://elsewhere.example/x \
		run open-mr --dry-run && expect_rc 0 && test "$(src_reads)" -eq 1 &&
	grep -q "$SIM/gitlab-org/security/gitaly/-/compare/" err && ! grep -q elsewhere err
'

test_expect_success 'a fresh bump opens one MR with one commit, approved, auto-merge set' '
	GREEN_SHA=$G1 CURRENT_SHA=$SRC_ROOT run open-mr && expect_rc 0 &&
	test "$(mrs)" -eq 1 &&
	test "$(dotenv MR_ACTION)" = created && test "$(dotenv MR_IID)" = 1 &&
	test "$(dotenv MR_URL)" = "$SIM/gitlab-org/gitlab/-/merge_requests/1" &&
	branch_holds "$G1" &&
	test "$(ahead)" -eq 1 &&
	test "$(mr title)" = "Update Gitaly version" &&
	test "$(mr "labels | join(\",\")")" = "team::Delivery,dependency update,group::gitaly,feature::maintenance" &&
	test "$(mr should_remove_source_branch)" = true &&
	test "$(mr "approved_by | join(\",\")")" = approver-bot &&
	test "$(mr auto_merge)" = true &&
	test "$(mr author.username)" = release-tools-bot &&
	test "$(state "$T.branch_commits[\"release-tools/update-gitaly\"].title")" = "Update Gitaly to ${G1%????????????????????????????}" &&
	no_secrets
'

test_expect_success 'the description names the range, the job and what to do' '
	mr description >desc &&
	grep -q "from \`${SRC_ROOT%????????????????????????????}\` to \`${G1%????????????????????????????}\`" desc &&
	grep -q "$SIM/gitlab-org/security/gitaly/-/compare/$SRC_ROOT...$G1" desc &&
	grep -q "^- gitlab-org/security/gitaly!1 Add cache$" desc &&
	grep -q "jobs/77" desc && grep -q "Broken master" desc &&
	grep -q "<!-- relay:bump sha=$G1 -->" desc
'

test_expect_success 'a re-run changes nothing: no commit, note, approval or write' '
	HEAD1=$(branch_head) && sim DELETE /requests >/dev/null &&
	GREEN_SHA=$G1 CURRENT_SHA=$SRC_ROOT run open-mr && expect_rc 0 &&
	test "$(dotenv MR_ACTION)" = unchanged && test "$(branch_head)" = "$HEAD1" &&
	test "$(writes)" -eq 0 && test "$(mrs)" -eq 1
'

test_expect_success 'a newer green SHA updates the same MR, still one commit ahead' '
	pipeline "$G2" success >/dev/null &&
	GREEN_SHA=$G2 CURRENT_SHA=$SRC_ROOT run open-mr && expect_rc 0 &&
	test "$(dotenv MR_ACTION)" = updated && test "$(dotenv MR_IID)" = 1 &&
	test "$(mrs)" -eq 1 && branch_holds "$G2" && test "$(ahead)" -eq 1 &&
	mr description | grep -q "relay:bump sha=$G2" &&
	mr description | grep -q "gitlab-org/security/gitaly!2 Fix leak"
'

test_expect_success 'a new push cancelled auto-merge: the next pipeline gets it back' '
	test "$(mr auto_merge)" = true
'

test_expect_success 'CURRENT_SHA unset: the pin is read from the target branch' '
	GREEN_SHA=$G2 run open-mr && expect_rc 0 &&
	test "$(dotenv MR_ACTION)" = unchanged
'

test_expect_success 'the target already pinning GREEN_SHA means nothing to do' '
	GREEN_SHA=$G2 CURRENT_SHA=$G2 run open-mr && expect_rc 0 &&
	test "$(dotenv MR_ACTION)" = none
'

test_expect_success 'a stale MR is warned once on Slack over three runs (a forged record ignored)' '
	sim PATCH /mrs/gitlab-org%2Fgitlab/1 "{\"created_at_ago_s\": 90000}" >/dev/null &&
	forge 1 "<!-- relay:stale slack=sent -->" &&
	for i in 1 2 3; do
		GREEN_SHA=$G2 CURRENT_SHA=$SRC_ROOT run open-mr && expect_rc 0 &&
		test "$(dotenv MR_ACTION)" = stale || return 1
	done &&
	test "$(state ".slack | length")" -eq 1 &&
	state ".slack[0].text" | grep -q "merge request <[^|]*|!1> has been open for more than 24 hours" &&
	test "$(state ".slack[0].hook")" = "alerts-$SLACK_SECRET" &&
	mr "labels | index(\"auto updated\") != null" | grep -q true &&
	test "$(state "[$T.mrs[0].notes[] | select(.author.username == \"release-tools-bot\" and (.body | contains(\"relay:stale\")))] | length")" -eq 1 &&
	no_secrets
'

test_expect_success 'approver is the author: no approval call, clear log' '
	sim PATCH /mrs/gitlab-org%2Fgitlab/1 "{\"state\": \"closed\"}" >/dev/null &&
	sim DELETE /requests >/dev/null &&
	GREEN_SHA=$G2 CURRENT_SHA=$SRC_ROOT RELAY_APPROVER_TOKEN=$BOT_TOKEN run open-mr &&
	expect_rc 0 && test "$(dotenv MR_IID)" = 2 &&
	grep -q "the approver is the MR author: approval skipped" err &&
	test "$(requests "[.[] | select(.path | endswith(\"/approve\"))] | length")" -eq 0
'

test_expect_success 'no MR pipeline yet: one note explains, auto-merge waits' '
	sim PATCH /mrs/gitlab-org%2Fgitlab/2 "{\"state\": \"closed\"}" >/dev/null &&
	GREEN_SHA=$G1 CURRENT_SHA=$SRC_ROOT run open-mr && expect_rc 0 &&
	test "$(dotenv MR_IID)" = 3 && test "$(dotenv MR_ACTION)" = created &&
	sim PATCH /mrs/gitlab-org%2Fgitlab/3 "{\"head_pipeline_id\": null, \"auto_merge\": false}" >/dev/null &&
	for p in $(state "[$T.pipelines[] | select(.ref | startswith(\"refs/merge-requests/3/\")) | .id] | join(\" \")"); do
		sim PATCH /pipelines/$p "{\"sha\": \"$(printf %040d 1)\", \"ref\": \"refs/merge-requests/3/head\"}" >/dev/null; done &&
	GREEN_SHA=$G1 CURRENT_SHA=$SRC_ROOT run open-mr && expect_rc 0 &&
	GREEN_SHA=$G1 CURRENT_SHA=$SRC_ROOT run open-mr && expect_rc 0 &&
	test "$(state "[$T.mrs[2].notes[] | select(.body | contains(\"relay:automerge-pending\"))] | length")" -eq 1 &&
	test "$(state "$T.mrs[2].auto_merge")" = false &&
	grep -q "auto-merge is left to the next run" err &&
	sim POST /pipelines "{\"project\": \"gitlab-org/gitlab\", \"mr_iid\": 3, \"status\": \"running\"}" >/dev/null &&
	GREEN_SHA=$G1 CURRENT_SHA=$SRC_ROOT run open-mr && expect_rc 0 &&
	test "$(state "$T.mrs[2].auto_merge")" = true
'

test_expect_success 'the MR pipeline succeeding merges it (GitLab auto-merge)' '
	PL=$(state "$T.mrs[2].head_pipeline.id") &&
	sim PATCH /pipelines/$PL "{\"status\": \"success\"}" >/dev/null &&
	test "$(state "$T.mrs[2].state")" = merged &&
	test "$(state "$T.files.master.GITALY_SERVER_VERSION == \"$G1\\n\"")" = true
'

test_expect_success 'two concurrent runs open exactly one MR' '
	src_commits "[{\"message\": \"Race\"}]" && G3=$(nth 1) &&
	( GREEN_SHA=$G3 "$RELAY_BIN/relay-open-mr" >o1 2>e1 & GREEN_SHA=$G3 RELAY_DOTENV=$TRASH/r2.env "$RELAY_BIN/relay-open-mr" >o2 2>e2 & wait ) &&
	test "$(mrs)" -eq 1 && test "$(ahead)" -eq 1 &&
	test "$(sed -n s/^MR_IID=//p o1)" = "$(sed -n s/^MR_IID=//p o2)"
'

converge() { # fault JSON: fail once, then a clean re-run converges
	sim PATCH /mrs/gitlab-org%2Fgitlab/$(state "[$T.mrs[] | select(.state == \"opened\")][0].iid") "{\"state\": \"closed\"}" >/dev/null
	src_commits "[{\"message\": \"Change $test_count\"}]" && G3=$(nth 1) &&
	sim POST /faults "$1" >/dev/null &&
	GREEN_SHA=$G3 CURRENT_SHA=$G1 run open-mr
	first=$rc
	sim DELETE /faults >/dev/null
	# a request the client gave up on may still land: let it, so it
	# cannot create anything behind the next test's back
	sleep "${SETTLE_S:-0}"
	[ "$first" -ne 0 ] || { echo "# the fault did not fail the run"; return 1; }
	expect_rc 75 || expect_rc 69 || return 1
	no_secrets || return 1
	GREEN_SHA=$G3 CURRENT_SHA=$G1 run open-mr && expect_rc 0 &&
	GREEN_SHA=$G3 CURRENT_SHA=$G1 run open-mr && expect_rc 0 &&
	test "$(mrs)" -eq 1 && test "$(ahead)" -eq 1 &&
	branch_holds "$G3" &&
	IID=$(dotenv MR_IID) &&
	test "$(state "[$T.mrs[] | select(.iid == $IID)][0].approved_by | length")" -eq 1 &&
	test "$(state "[$T.mrs[] | select(.iid == $IID)][0].auto_merge")" = true &&
	test "$(state "[$T.mrs[] | select(.iid == $IID)][0].notes | length")" -eq 0 &&
	test "$(state "[$T.mrs[] | select(.iid == $IID)][0].labels | length")" -eq 4 &&
	test "$(dotenv MR_ACTION)" = unchanged
}

test_expect_success 'commit applied but answered 500: re-run converges' '
	converge "{\"method\": \"POST\", \"path\": \"/repository/commits$\", \"kind\": \"status\", \"status\": 500, \"apply\": true}"
'

test_expect_success 'MR created but the connection dropped: re-run converges' '
	converge "{\"method\": \"POST\", \"path\": \"/merge_requests$\", \"kind\": \"drop\", \"apply\": true, \"times\": 2}"
'

test_expect_success 'MR creation timing out: re-run converges' '
	RELAY_TIMEOUT_S=1 SETTLE_S=2 converge "{\"method\": \"POST\", \"path\": \"/merge_requests$\", \"kind\": \"delay\", \"delay_s\": 2, \"apply\": true}"
'

test_expect_success 'approval failing with 503: re-run converges' '
	converge "{\"method\": \"POST\", \"path\": \"/approve$\", \"kind\": \"status\", \"status\": 503}"
'

test_expect_success 'auto-merge failing with 502 every try: re-run converges' '
	converge "{\"method\": \"PUT\", \"path\": \"/merge$\", \"kind\": \"status\", \"status\": 502, \"times\": 4}"
'

test_expect_success 'a 429 on MR creation is retried within the run' '
	sim PATCH /mrs/gitlab-org%2Fgitlab/$(state "[$T.mrs[] | select(.state == \"opened\")][0].iid") "{\"state\": \"closed\"}" >/dev/null &&
	sim POST /faults "{\"method\": \"POST\", \"path\": \"/merge_requests$\", \"kind\": \"retry_after\", \"status\": 429, \"retry_after\": 1}" >/dev/null &&
	GREEN_SHA=$G3 CURRENT_SHA=$G1 run open-mr && expect_rc 0 &&
	test "$(dotenv MR_ACTION)" = created && test "$(mrs)" -eq 1 &&
	grep -q "HTTP 429, retrying in 1000 ms" err
'

test_expect_success 'the stale warning survives a Slack outage and is sent once' '
	IID=$(dotenv MR_IID) &&
	sim PATCH /mrs/gitlab-org%2Fgitlab/$IID "{\"created_at_ago_s\": 90000}" >/dev/null &&
	sim POST /slack/hooks "{\"name\": \"alerts-$SLACK_SECRET\", \"status\": 500, \"body\": \"internal_error\"}" >/dev/null &&
	BEFORE=$(state ".slack | length") &&
	GREEN_SHA=$G3 CURRENT_SHA=$G1 run open-mr && expect_rc 75 &&
	grep -q "cannot post the stale warning: POST Slack webhook: HTTP 500" err &&
	one_error_line && no_secrets &&
	mr_labels=$(state "[$T.mrs[] | select(.iid == $IID)][0].labels | join(\",\")") &&
	echo "$mr_labels" | grep -q "auto updated" &&
	sim POST /slack/hooks "{\"name\": \"alerts-$SLACK_SECRET\", \"status\": 200}" >/dev/null &&
	GREEN_SHA=$G3 CURRENT_SHA=$G1 run open-mr && expect_rc 0 &&
	GREEN_SHA=$G3 CURRENT_SHA=$G1 run open-mr && expect_rc 0 &&
	test "$(state ".slack | length")" -eq $((BEFORE + 1)) &&
	test "$(state "[$T.mrs[] | select(.iid == $IID)][0].notes | map(select(.body | contains(\"slack=sent\"))) | length")" -eq 1
'

test_expect_success 'a read-only token is refused with GitLab'"'"'s reason (69)' '
	sim POST /seed "{\"users\": [{\"username\": \"reader\", \"token\": \"glpat-reader-SECRET-0005\", \"scopes\": [\"read_api\"]}]}" >/dev/null &&
	src_commits "[{\"message\": \"More\"}]" &&
	GREEN_SHA=$(nth 1) RELAY_TOKEN=glpat-reader-SECRET-0005 run open-mr &&
	expect_rc 69 && one_error_line &&
	grep -q "HTTP 403: The request requires higher privileges" err && ! grep -q glpat-reader err
'

# issue 13 item 3: GitLab's answers to the approval
test_expect_success 'a repeat approval answers 304: success, not a refusal' '
	src_commits "[{\"message\": \"Approve race\"}]" && GA=$(nth 1) &&
	GREEN_SHA=$GA run open-mr && expect_rc 0 && IID=$(dotenv MR_IID) &&
	test "$(state "[$T.mrs[] | select(.iid == $IID)][0].approved_by | join(\",\")")" = approver-bot &&
	sim POST /faults "{\"method\": \"GET\", \"path\": \"/approvals\$\", \"kind\": \"status\", \"status\": 200, \"body\": {\"approved_by\": []}}" >/dev/null &&
	GREEN_SHA=$GA run open-mr && expect_rc 0 &&
	grep -q "approved already (HTTP 304)" err &&
	test "$(state "[$T.mrs[] | select(.iid == $IID)][0].approved_by | length")" -eq 1
'

test_expect_success 'an ineligible approver (401): approvals re-read, one line says what to fix' '
	src_commits "[{\"message\": \"Approve 401\"}]" && GB=$(nth 1) &&
	sim POST /faults "{\"method\": \"POST\", \"path\": \"/approve\$\", \"kind\": \"status\", \"status\": 401, \"body\": {\"message\": \"401 Unauthorized\"}}" >/dev/null &&
	sim DELETE /requests >/dev/null &&
	GREEN_SHA=$GB run open-mr && expect_rc 69 && one_error_line &&
	grep -q "HTTP 401: the approver may not approve !$IID: make the RELAY_APPROVER_TOKEN user an eligible approver" err &&
	test "$(requests "[.[] | select(.path | endswith(\"/approvals\"))] | length")" -ge 2 &&
	GREEN_SHA=$GB run open-mr && expect_rc 0 &&
	test "$(state "[$T.mrs[] | select(.iid == $IID)][0].approved_by | length")" -eq 1
'

test_expect_success 'an approver without access (403): one line says what to fix' '
	src_commits "[{\"message\": \"Approve 403\"}]" && GC=$(nth 1) &&
	sim POST /faults "{\"method\": \"POST\", \"path\": \"/approve\$\", \"kind\": \"status\", \"status\": 403, \"body\": {\"message\": \"403 Forbidden\"}}" >/dev/null &&
	GREEN_SHA=$GC run open-mr && expect_rc 69 && one_error_line &&
	grep -q "HTTP 403: RELAY_APPROVER_TOKEN cannot approve !$IID: it needs the api scope and at least the Developer role" err &&
	no_secrets
'

# issue 13 item 14: staleness by GitLab's clock (its Date header), not the
# runner's: GitLab is 25 hours ahead, so the MR is stale though the runner
# saw it opened minutes ago
test_expect_success 'stale by GitLab'"'"'s clock, whatever the runner'"'"'s says' '
	sim PATCH /mrs/gitlab-org%2Fgitlab/$IID "{\"state\": \"closed\"}" >/dev/null &&
	src_commits "[{\"message\": \"Clock\"}]" && GD=$(nth 1) &&
	GREEN_SHA=$GD run open-mr && expect_rc 0 && test "$(dotenv MR_ACTION)" = created &&
	IID=$(dotenv MR_IID) &&
	sim POST /clock "{\"advance_s\": $((25 * 3600))}" >/dev/null &&
	GREEN_SHA=$GD run open-mr && expect_rc 0 &&
	test "$(dotenv MR_ACTION)" = stale &&
	test "$(state "[$T.mrs[] | select(.iid == $IID)][0].notes | map(select(.body | contains(\"relay:stale\"))) | length")" -eq 1
'

test_done
