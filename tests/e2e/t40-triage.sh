#!/bin/sh
# relay-triage against the simulator: flake (retry once, issue opened then
# updated), regression (range note), broken master (wait, then one close).
. "$(dirname "$0")/lib.sh"
sim_start
seed_default
T='.projects["gitlab-org/gitlab"]'
S='.projects["gitlab-org/security/gitaly"]'
C='.projects["gitlab-org/gitaly"]'
mr() { state "$T.mrs[0].$1"; }
retries() { requests '[.[] | select(.method == "POST" and (.path | endswith("/retry")))] | length'; }
# notes_with MARKER: relay's notes of MR 1 carrying MARKER
notes_with() { state "[$T.mrs[0].notes[] | select(.author.username == \"release-tools-bot\" and (.body | contains(\"$1\")))] | length"; }
issues() { state "$C.issues | length"; }
# failing PIPELINE JOB...: run triage as relay-watch would hand over
triage() {
	MR_IID=1 OUTCOME=$1 PIPELINE_ID=$2 FAILED_JOBS=${3:-} run triage "$@"
}

# the canonical project, where the seed files flaky tests, has a Flaky
# Test issue template
sim POST /seed '{"projects": [{"path": "gitlab-org/gitaly", "default_branch": "master"}]}' >/dev/null
sim POST /commits '{"project": "gitlab-org/gitaly", "commits": [{"message": "Issue templates", "files": {".gitlab/issue_templates/Flaky Test.md": "## Flaky test\n\n- [ ] quarantine it\n"}}]}' >/dev/null
src_commits '[{"message": "Update docs"}]'
src_commits '[{"message": "Add cache", "merge": 2}, {"message": "Fix leak", "merge": 1}]'
G2=$(nth 2)
open_bump "$G2"
# GitLab's auto-merge would merge the MR on the first green pipeline
sim PATCH /mrs/gitlab-org%2Fgitlab/1 '{"auto_merge": false}' >/dev/null
M1=$(target_pipeline success)

# the idle hour still looks for merged bump MRs whose retry decided after
# the chain moved on (one list request when there is none)
test_expect_success 'MR_ACTION=none and no MR_IID: nothing to triage, exit 0, one request' '
	sim DELETE /requests >/dev/null &&
	MR_ACTION=none MR_IID= run triage && expect_rc 0 &&
	test "$(dotenv TRIAGE)" = none && grep -q "no bump MR, nothing to do" err &&
	! grep -q "error:\|warning:" err && test "$(requests length)" -eq 1 &&
	requests ".[0].path" | grep -q "/merge_requests$" &&
	requests ".[0].query" | grep -q "labels=relay-retried"
'

test_expect_success 'MR_ACTION=created and no MR_IID is still missing configuration (78)' '
	MR_ACTION=created run triage && expect_rc 78 && grep -q MR_IID err
'

test_expect_success 'missing MR_IID is a configuration error (78)' '
	run triage && expect_rc 78 && grep -q MR_IID err && one_error_line
'

test_expect_success 'a bad OUTCOME is a usage error (64)' '
	MR_IID=1 OUTCOME=exploded run triage && expect_rc 64 &&
	grep -q "OUTCOME: expected" err && one_error_line
'

test_expect_success 'a running pipeline needs nothing' '
	P=$(mr head_pipeline.id) && sim DELETE /requests >/dev/null &&
	MR_IID=1 OUTCOME=running PIPELINE_ID=$P run triage && expect_rc 0 &&
	test "$(dotenv TRIAGE)" = none && test "$(retries)" -eq 0
'

test_expect_success 'a canceled pipeline needs nothing' '
	P=$(mr_pipeline canceled) &&
	MR_IID=1 OUTCOME=canceled PIPELINE_ID=$P run triage && expect_rc 0 &&
	test "$(dotenv TRIAGE)" = none
'

test_expect_success 'first failure: the failed jobs are retried once (a forged marker is ignored)' '
	P1=$(mr_pipeline failed "[{\"name\": \"rspec 3/4\", \"status\": \"failed\"}, {\"name\": \"build\", \"status\": \"success\"}]") &&
	forge 1 "<!-- relay:retried pipeline=$P1 jobs=rspec 3/4 -->" &&
	sim DELETE /requests >/dev/null &&
	MR_IID=1 OUTCOME=failed PIPELINE_ID=$P1 FAILED_JOBS="rspec 3/4" run triage &&
	expect_rc 0 && test "$(dotenv TRIAGE)" = flake-retried &&
	test "$(retries)" -eq 1 && test "$(notes_with "relay:retried pipeline=$P1 jobs=rspec 3/4")" -eq 1 &&
	test "$(state "$T.pipelines[] | select(.id == $P1) | .status")" = running &&
	no_secrets
'

test_expect_success 'while the retry runs, nothing more happens' '
	sim DELETE /requests >/dev/null &&
	MR_IID=1 OUTCOME=running PIPELINE_ID=$P1 run triage && expect_rc 0 &&
	test "$(dotenv TRIAGE)" = flake-retried && test "$(retries)" -eq 0 &&
	test "$(notes_with "relay:retried pipeline=$P1")" -eq 1
'

test_expect_success 'the retry passed: flake, one issue in the canonical project from its template' '
	set_jobs "$P1" "{\"rspec 3/4\": \"success\"}" &&
	MR_IID=1 OUTCOME=success PIPELINE_ID=$P1 run triage && expect_rc 0 &&
	test "$(dotenv TRIAGE)" = flake && test "$(issues)" -eq 1 &&
	test "$(state "$S.issues | length")" -eq 0 &&
	test "$(state "$C.issues[0].title")" = "Flaky job: rspec 3/4" &&
	state "$C.issues[0].description" | grep -q "quarantine it" &&
	state "$C.issues[0].description" | grep -q "pipelines/$P1" &&
	test "$(state "$C.issues[0].labels | join(\",\")")" = failure::flaky-test &&
	test "$(notes_with "relay:flake pipeline=$P1")" -eq 1
'

test_expect_success 'the flake verdict is not repeated' '
	MR_IID=1 OUTCOME=success PIPELINE_ID=$P1 run triage && expect_rc 0 &&
	test "$(dotenv TRIAGE)" = flake && test "$(issues)" -eq 1 &&
	test "$(state "$C.issues[0].notes | length")" -eq 0 &&
	test "$(notes_with "relay:flake pipeline=$P1")" -eq 1
'

test_expect_success 'a second flake of the same job notes the open issue' '
	P2=$(mr_pipeline failed "[{\"name\": \"rspec 3/4\", \"status\": \"failed\"}]") &&
	MR_IID=1 OUTCOME=failed PIPELINE_ID=$P2 FAILED_JOBS="rspec 3/4" run triage &&
	test "$(dotenv TRIAGE)" = flake-retried &&
	set_jobs "$P2" "{\"rspec 3/4\": \"success\"}" &&
	MR_IID=1 OUTCOME=success PIPELINE_ID=$P2 run triage && expect_rc 0 &&
	MR_IID=1 OUTCOME=success PIPELINE_ID=$P2 run triage && expect_rc 0 &&
	test "$(dotenv TRIAGE)" = flake && test "$(issues)" -eq 1 &&
	test "$(state "$C.issues[0].notes | length")" -eq 1 &&
	state "$C.issues[0].notes[0].body" | grep -q "pipelines/$P2"
'

# issue 13 item 4: the title search for the open flaky-job issue matches
# every "Flaky job: rspec 3/4…"; the exact one may be past the first page
test_expect_success 'a third flake: the open issue past the first page of the search is found, no duplicate' '
	for i in $(seq 101); do
		curl -sS --fail -X POST -H "PRIVATE-TOKEN: $BOT_TOKEN" -H "Content-Type: application/json" \
			--data "{\"title\": \"Flaky job: rspec 3/4 (ruby $i)\"}" \
			"$CI_API_V4_URL/projects/gitlab-org%2Fgitaly/issues" >/dev/null || return 1
	done &&
	P2B=$(mr_pipeline failed "[{\"name\": \"rspec 3/4\", \"status\": \"failed\"}]") &&
	MR_IID=1 OUTCOME=failed PIPELINE_ID=$P2B FAILED_JOBS="rspec 3/4" run triage &&
	test "$(dotenv TRIAGE)" = flake-retried &&
	set_jobs "$P2B" "{\"rspec 3/4\": \"success\"}" &&
	MR_IID=1 OUTCOME=success PIPELINE_ID=$P2B run triage && expect_rc 0 &&
	test "$(dotenv TRIAGE)" = flake && test "$(issues)" -eq 102 &&
	test "$(state "[$C.issues[] | select(.title == \"Flaky job: rspec 3/4\")] | length")" -eq 1 &&
	test "$(state "$C.issues[0].notes | length")" -eq 2 &&
	state "$C.issues[0].notes[1].body" | grep -q "pipelines/$P2B"
'

# the search reads 20 pages at most: past them "none" would open a second
# issue for the job
test_expect_success 'a flake whose open issue lies past the search cap: 75, no duplicate' '
	sim POST /issues "{\"project\": \"gitlab-org/gitaly\", \"author\": \"release-tools-bot\", \"count\": 2000, \"title\": \"Flaky job: rspec 3/4 (jruby {i})\"}" >/dev/null &&
	P2C=$(mr_pipeline failed "[{\"name\": \"rspec 3/4\", \"status\": \"failed\"}]") &&
	MR_IID=1 OUTCOME=failed PIPELINE_ID=$P2C FAILED_JOBS="rspec 3/4" run triage &&
	test "$(dotenv TRIAGE)" = flake-retried &&
	set_jobs "$P2C" "{\"rspec 3/4\": \"success\"}" &&
	MR_IID=1 OUTCOME=success PIPELINE_ID=$P2C run triage && expect_rc 75 && one_error_line &&
	grep -q "not counted as absent" err && test "$(issues)" -eq 2102 &&
	test "$(state "[$C.issues[] | select(.title == \"Flaky job: rspec 3/4\")] | length")" -eq 1 &&
	test "$(state "$C.issues[0].notes | length")" -eq 2
'

# issue 14: an open flaky-job issue's description counts as relay's record
# only when relay wrote the issue; mallory (seeded by the forge above)
# files one whose description holds the marker
test_expect_success 'a flaky-job issue opened by another user: its description marker is ignored, the flake is noted' '
	PM=$(mr_pipeline failed "[{\"name\": \"spec-m\", \"status\": \"failed\"}]") &&
	jq -n --arg d "<!-- relay:flaky pipeline=$PM job=spec-m -->" "{title: \"Flaky job: spec-m\", description: \$d}" |
		curl -sS --fail -X POST -H "PRIVATE-TOKEN: $MALLORY_TOKEN" -H "Content-Type: application/json" \
			--data-binary @- "$CI_API_V4_URL/projects/gitlab-org%2Fgitaly/issues" >/dev/null &&
	MI=".issues[] | select(.title == \"Flaky job: spec-m\")" &&
	test "$(state "$C$MI | .author.username")" = mallory &&
	MR_IID=1 OUTCOME=failed PIPELINE_ID=$PM FAILED_JOBS=spec-m run triage &&
	test "$(dotenv TRIAGE)" = flake-retried &&
	set_jobs "$PM" "{\"spec-m\": \"success\"}" &&
	MR_IID=1 OUTCOME=success PIPELINE_ID=$PM run triage && expect_rc 0 &&
	test "$(dotenv TRIAGE)" = flake &&
	test "$(state "[$C$MI] | length")" -eq 1 &&
	test "$(state "[$C$MI | .notes[] | select(.author.username == \"release-tools-bot\" and (.body | contains(\"relay:flaky pipeline=$PM job=spec-m\")))] | length")" -eq 1 &&
	MR_IID=1 OUTCOME=success PIPELINE_ID=$PM run triage && expect_rc 0 &&
	test "$(state "[$C$MI | .notes[]] | length")" -eq 1
'

test_expect_success 'failed again after the retry, master green: regression with the range' '
	P3=$(mr_pipeline failed "[{\"name\": \"gitaly-integration\", \"status\": \"failed\"}]") &&
	MR_IID=1 OUTCOME=failed PIPELINE_ID=$P3 FAILED_JOBS=gitaly-integration run triage &&
	test "$(dotenv TRIAGE)" = flake-retried &&
	set_jobs "$P3" "{\"gitaly-integration\": \"failed\"}" &&
	MR_IID=1 OUTCOME=failed PIPELINE_ID=$P3 FAILED_JOBS=gitaly-integration run triage &&
	expect_rc 0 && test "$(dotenv TRIAGE)" = regression &&
	test "$(dotenv SUSPECT_RANGE)" = "$SIM/gitlab-org/security/gitaly/-/compare/$SRC_ROOT...$G2" &&
	test "$(notes_with "relay:regression pipeline=$P3")" -eq 1 &&
	N=$(state "[$T.mrs[0].notes[] | select(.body | contains(\"relay:regression\"))][0].body") &&
	echo "$N" | grep -q "gitlab-org/security/gitaly!2 Fix leak" &&
	echo "$N" | grep -q "gitlab-org/security/gitaly!1 Add cache" &&
	echo "$N" | grep -q "Update docs" && ! echo "$N" | grep -q "Initial commit" &&
	test "$(retries)" -ge 1
'

test_expect_success 'the regression is noted once, never retried twice' '
	sim DELETE /requests >/dev/null &&
	MR_IID=1 OUTCOME=failed PIPELINE_ID=$P3 FAILED_JOBS=gitaly-integration run triage &&
	expect_rc 0 && test "$(dotenv TRIAGE)" = regression && test "$(retries)" -eq 0 &&
	test "$(notes_with "relay:regression pipeline=$P3")" -eq 1 &&
	test -n "$(dotenv SUSPECT_RANGE)"
'

test_expect_success 'a retry whose note was lost is noted while it runs, never retried again' '
	P4=$(mr_pipeline failed "[{\"name\": \"lint\", \"status\": \"failed\"}]") &&
	sim POST /faults "{\"method\": \"POST\", \"path\": \"/notes\$\", \"kind\": \"status\", \"status\": 500, \"times\": -1}" >/dev/null &&
	MR_IID=1 OUTCOME=failed PIPELINE_ID=$P4 FAILED_JOBS=lint run triage &&
	expect_rc 75 && one_error_line && sim DELETE /faults >/dev/null; sim DELETE /faults >/dev/null &&
	test "$(state "$T.pipelines[] | select(.id == $P4) | .retries")" -eq 1 &&
	MR_IID=1 OUTCOME=failed PIPELINE_ID=$P4 FAILED_JOBS=lint run triage &&
	expect_rc 0 && test "$(dotenv TRIAGE)" = flake-retried &&
	test "$(state "$T.pipelines[] | select(.id == $P4) | .retries")" -eq 1 &&
	test "$(notes_with "relay:retried pipeline=$P4")" -eq 1
'

# issue 13 item 6: a person retried it (or relay's note was lost) and it
# failed again while master is green: the verdict is final in this run
test_expect_success 'retried by a person, failed again, master green: regression in that run' '
	P7=$(mr_pipeline failed "[{\"name\": \"gitaly-lint\", \"status\": \"failed\"}]") &&
	curl -sS --fail -X POST -H "PRIVATE-TOKEN: $APPROVER_TOKEN" \
		"$CI_API_V4_URL/projects/gitlab-org%2Fgitlab/pipelines/$P7/retry" >/dev/null &&
	set_jobs "$P7" "{\"gitaly-lint\": \"failed\"}" && sim DELETE /requests >/dev/null &&
	MR_IID=1 OUTCOME=failed PIPELINE_ID=$P7 FAILED_JOBS=gitaly-lint run triage &&
	expect_rc 0 && test "$(dotenv TRIAGE)" = regression && test "$(retries)" -eq 0 &&
	test "$(dotenv SUSPECT_RANGE)" = "$SIM/gitlab-org/security/gitaly/-/compare/$SRC_ROOT...$G2" &&
	test "$(notes_with "relay:retried pipeline=$P7")" -eq 0 &&
	test "$(notes_with "relay:regression pipeline=$P7")" -eq 1 &&
	test "$(state "$T.pipelines[] | select(.id == $P7) | .retries")" -eq 1
'

# issue 13 item 4: with hundreds of jobs the retried ones are past the
# first page; counted over every page, the retry is still seen
test_expect_success 'a retried pipeline of 150 jobs: the retry past page one is seen, no second retry' '
	JOBS=$(jq -nc "[range(149) | {name: \"rspec \(.)\", status: \"success\"}] + [{name: \"gitaly-race\", status: \"failed\"}]") &&
	P8=$(mr_pipeline failed "$JOBS") &&
	curl -sS --fail -X POST -H "PRIVATE-TOKEN: $APPROVER_TOKEN" \
		"$CI_API_V4_URL/projects/gitlab-org%2Fgitlab/pipelines/$P8/retry" >/dev/null &&
	set_jobs "$P8" "{\"gitaly-race\": \"failed\"}" && sim DELETE /requests >/dev/null &&
	MR_IID=1 OUTCOME=failed PIPELINE_ID=$P8 FAILED_JOBS=gitaly-race run triage &&
	expect_rc 0 && test "$(retries)" -eq 0 &&
	test "$(dotenv TRIAGE)" = regression &&
	test "$(state "$T.pipelines[] | select(.id == $P8) | .retries")" -eq 1
'

# issue 13 item 5: matrix cells are compared whole; split on commas,
# "rspec: [ruby-3.3, pg-16]" would match two other cells failing on master
test_expect_success 'other matrix cells failing on master are not a broken master' '
	target_pipeline failed "[{\"name\": \"rspec: [ruby-3.3, pg-14]\", \"status\": \"failed\"}, {\"name\": \"rspec: [ruby-3.2, pg-16]\", \"status\": \"failed\"}]" >/dev/null &&
	PM=$(mr_pipeline failed "[{\"name\": \"rspec: [ruby-3.3, pg-16]\", \"status\": \"failed\"}]") &&
	sim DELETE /requests >/dev/null &&
	MR_IID=1 OUTCOME=failed PIPELINE_ID=$PM run triage &&
	expect_rc 0 && test "$(dotenv TRIAGE)" = flake-retried && test "$(retries)" -eq 1 &&
	test "$(notes_with "relay:retried pipeline=$PM jobs=rspec: [ruby-3.3%2C pg-16] -->")" -eq 1 &&
	test "$(notes_with "(\`rspec: [ruby-3.3, pg-16]\`)")" -eq 1 &&
	target_pipeline success >/dev/null
'

test_expect_success 'a matrix job that passed on retry: one issue named as GitLab names it' '
	set_jobs "$PM" "{\"rspec: [ruby-3.3, pg-16]\": \"success\"}" &&
	MR_IID=1 OUTCOME=success PIPELINE_ID=$PM run triage && expect_rc 0 &&
	test "$(dotenv TRIAGE)" = flake &&
	test "$(state "[$C.issues[] | select(.title == \"Flaky job: rspec: [ruby-3.3, pg-16]\")] | length")" -eq 1 &&
	test "$(state "[$C.issues[] | select(.title | startswith(\"Flaky job: pg-16\"))] | length")" -eq 0
'

# a scheduled pipeline of master runs other jobs (nightly QA, caches):
# only push pipelines say whether master itself is broken
test_expect_success 'a failing scheduled pipeline on master is not a broken master' '
	sim POST /pipelines "{\"project\": \"gitlab-org/gitlab\", \"ref\": \"master\", \"source\": \"schedule\", \"status\": \"failed\", \"jobs\": [{\"name\": \"rspec 2/4\", \"status\": \"failed\"}]}" >/dev/null &&
	PS=$(mr_pipeline failed "[{\"name\": \"rspec 2/4\", \"status\": \"failed\"}]") &&
	sim DELETE /requests >/dev/null &&
	MR_IID=1 OUTCOME=failed PIPELINE_ID=$PS FAILED_JOBS="rspec 2/4" run triage &&
	expect_rc 0 && test "$(dotenv TRIAGE)" = flake-retried && test "$(retries)" -eq 1 &&
	test "$(notes_with "relay:broken-master pipeline=$PS")" -eq 0 &&
	! mr labels | grep -q "relay::waiting-for-master" &&
	test "$(requests "[.[] | select(.path | endswith(\"/pipelines\")) | select(.query | test(\"source=push\"))] | length")" -eq 1
'

test_expect_success 'the same jobs fail on master: broken-master, labelled, no retry' '
	target_pipeline failed "[{\"name\": \"rspec 1/4\", \"status\": \"failed\"}, {\"name\": \"lint\", \"status\": \"failed\"}, {\"name\": \"rspec: [ruby-3.3, pg-16]\", \"status\": \"failed\"}]" >/dev/null &&
	P5=$(mr_pipeline failed "[{\"name\": \"rspec 1/4\", \"status\": \"failed\"}, {\"name\": \"rspec: [ruby-3.3, pg-16]\", \"status\": \"failed\"}]") &&
	sim DELETE /requests >/dev/null &&
	MR_IID=1 OUTCOME=failed PIPELINE_ID=$P5 FAILED_JOBS="rspec 1/4,rspec: [ruby-3.3%2C pg-16]" run triage &&
	expect_rc 0 && test "$(dotenv TRIAGE)" = broken-master && test "$(retries)" -eq 0 &&
	mr labels | grep -q "relay::waiting-for-master" &&
	test "$(notes_with "relay:broken-master pipeline=$P5")" -eq 1 &&
	test -z "$(dotenv SUSPECT_RANGE)"
'

test_expect_success 'master still red: the MR keeps waiting' '
	target_pipeline running >/dev/null &&
	MR_IID=1 OUTCOME=failed PIPELINE_ID=$P5 FAILED_JOBS="rspec 1/4" run triage &&
	expect_rc 0 && test "$(dotenv TRIAGE)" = broken-master &&
	test "$(mr state)" = opened && test "$(notes_with "relay:broken-master")" -eq 1
'

test_expect_success 'master green again: the MR is closed once, with a note' '
	target_pipeline success >/dev/null && sim DELETE /requests >/dev/null &&
	MR_IID=1 OUTCOME=failed PIPELINE_ID=$P5 FAILED_JOBS="rspec 1/4" run triage &&
	expect_rc 0 && test "$(dotenv TRIAGE)" = broken-master &&
	test "$(mr state)" = closed && test "$(notes_with "relay:closed")" -eq 1 &&
	MR_IID=1 OUTCOME=closed PIPELINE_ID=$P5 run triage && expect_rc 0 &&
	test "$(notes_with "relay:closed")" -eq 1 &&
	test "$(requests "[.[] | select(.method == \"PUT\")] | length")" -eq 1
'

test_expect_success 'the next open-mr run opens a fresh MR against the fixed master' '
	GREEN_SHA=$G2 CURRENT_SHA=$SRC_ROOT run open-mr && expect_rc 0 &&
	test "$(dotenv MR_ACTION)" = created && test "$(dotenv MR_IID)" = 2
'

test_expect_success 'dry run on a first failure retries nothing and writes nothing' '
	P6=$(mr_pipeline failed "[{\"name\": \"x\", \"status\": \"failed\"}]" 2) &&
	sim DELETE /requests >/dev/null &&
	MR_IID=2 OUTCOME=failed PIPELINE_ID=$P6 FAILED_JOBS=x run triage --dry-run &&
	expect_rc 0 && test "$(dotenv TRIAGE)" = flake-retried &&
	test "$(requests "[.[] | select(.method != \"GET\")] | length")" -eq 0
'

test_expect_success 'run by hand: outcome and failed jobs read from GitLab' '
	MR_IID=2 run triage && expect_rc 0 && test "$(dotenv TRIAGE)" = flake-retried &&
	test "$(state "$T.pipelines[] | select(.id == $P6) | .retries")" -eq 1 && no_secrets
'

# issue 13 item 12: the retry passes, auto-merge merges the MR, and the
# next hour has no MR (or another one): the flake is filed all the same
test_expect_success 'a merged MR whose retry passed: the next run files the flake, once' '
	test "$(state "$T.mrs[1].labels | index(\"relay-retried\") != null")" = true &&
	set_jobs "$P6" "{\"x\": \"success\"}" &&
	if [ "$(state "$T.mrs[1].state")" != merged ]; then
		curl -sS --fail -X PUT -H "PRIVATE-TOKEN: $APPROVER_TOKEN" \
			"$CI_API_V4_URL/projects/gitlab-org%2Fgitlab/merge_requests/2/merge" >/dev/null
	fi &&
	test "$(state "$T.mrs[1].state")" = merged &&
	MR_ACTION=none MR_IID= run triage && expect_rc 0 && test "$(dotenv TRIAGE)" = none &&
	test "$(state "[$C.issues[] | select(.title == \"Flaky job: x\")] | length")" -eq 1 &&
	state "[$C.issues[] | select(.title == \"Flaky job: x\")][0].description" | grep -q "pipelines/$P6" &&
	test "$(state "[$T.mrs[1].notes[] | select(.body | contains(\"relay:flake pipeline=$P6\"))] | length")" -eq 1 &&
	test "$(state "$T.mrs[1].labels | index(\"relay-retried\")")" = null &&
	sim DELETE /requests >/dev/null &&
	MR_ACTION=none MR_IID= run triage && expect_rc 0 && test "$(requests length)" -eq 1 &&
	test "$(state "[$C.issues[] | select(.title == \"Flaky job: x\")] | length")" -eq 1
'

test_done
