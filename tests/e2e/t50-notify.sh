#!/bin/sh
# relay-notify against the simulator: one report per failed pipeline, to
# Slack and on the MR; outages delay it but never lose or repeat it.
. "$(dirname "$0")/lib.sh"
sim_start
seed_default
T='.projects["gitlab-org/gitlab"]'
notes_with() { state "[$T.mrs[0].notes[] | select(.body | contains(\"$1\"))] | length"; }
note_with() { state "[$T.mrs[0].notes[] | select(.body | contains(\"$1\"))][0].body"; }
posts() { sim GET /slack | jq "[.[] | select(.hook | startswith(\"failures-\"))] | length"; }
post() { sim GET /slack | jq -r "[.[] | select(.hook | startswith(\"failures-\"))][$1].text"; }
# notify PIPELINE [TRIAGE]: as the chain hands over
notify() {
	MR_IID=1 OUTCOME=failed PIPELINE_ID=$1 FAILED_JOBS="rspec 1/2,qa/smoke" \
		TRIAGE=${2:-regression} SUSPECT_RANGE="$SIM/gitlab-org/security/gitaly/-/compare/a...b" \
		run notify
}

src_commits '[{"message": "Add cache", "merge": 1}]'
open_bump "$(nth 1)"
P1=$(mr_pipeline failed)

test_expect_success 'MR_ACTION=none and no MR_IID: nothing to do, exit 0, no request' '
	sim DELETE /requests >/dev/null &&
	MR_ACTION=none MR_IID= run notify && expect_rc 0 &&
	test "$(dotenv NOTIFIED)" = false && grep -q "nothing to do" err &&
	! grep -q "error:\|warning:" err && test "$(requests length)" -eq 0
'

test_expect_success 'MR_ACTION=created and no MR_IID is still missing configuration (78)' '
	MR_ACTION=created run notify && expect_rc 78 && grep -q MR_IID err
'

test_expect_success 'a pipeline that did not fail is not reported, no request' '
	sim DELETE /requests >/dev/null &&
	MR_IID=1 OUTCOME=success PIPELINE_ID=$P1 run notify && expect_rc 0 &&
	test "$(dotenv NOTIFIED)" = false && test "$(requests length)" -eq 0
'

test_expect_success 'nothing is reported while the failed jobs are retried' '
	notify "$P1" flake-retried && expect_rc 0 && test "$(dotenv NOTIFIED)" = false &&
	test "$(posts)" -eq 0 && test "$(notes_with relay:notified)" -eq 0
'

test_expect_success 'OUTCOME=failed without PIPELINE_ID is a configuration error (78)' '
	MR_IID=1 OUTCOME=failed run notify && expect_rc 78 && grep -q PIPELINE_ID err &&
	one_error_line
'

test_expect_success 'a failed pipeline is reported to Slack and on the MR, tagging the team' '
	notify "$P1" && expect_rc 0 && test "$(dotenv NOTIFIED)" = true &&
	test "$(posts)" -eq 1 &&
	post 0 | grep -q "<$SIM/gitlab-org/gitlab/-/merge_requests/1|!1>" &&
	post 0 | grep -q "pipelines/$P1|pipeline $P1>" &&
	post 0 | grep -q "rspec 1/2; qa/smoke" && post 0 | grep -q "regression" &&
	post 0 | grep -q "compare/a...b|compare>" &&
	test "$(notes_with "relay:notified pipeline=$P1 slack=sent")" -eq 1 &&
	note_with relay:notified | grep -q "^@gl-gitaly " &&
	post 0 | head -n 1 | grep -q "failed\. cc @gl-gitaly$" && no_secrets
'

test_expect_success 'running again reports nothing more' '
	notify "$P1" && expect_rc 0 && test "$(dotenv NOTIFIED)" = false &&
	test "$(posts)" -eq 1 && test "$(notes_with relay:notified)" -eq 1
'

test_expect_success 'a new pipeline that fails again is a new report' '
	P2=$(mr_pipeline failed) && notify "$P2" && expect_rc 0 &&
	test "$(dotenv NOTIFIED)" = true && test "$(posts)" -eq 2 &&
	test "$(notes_with relay:notified)" -eq 2
'

test_expect_success 'Slack down: the note is written, exit 75, Slack delivered on the next run' '
	P3=$(mr_pipeline failed) &&
	sim POST /slack/hooks "{\"name\": \"failures-$SLACK_SECRET\", \"status\": 500, \"body\": \"internal_error\"}" >/dev/null &&
	notify "$P3" && expect_rc 75 && one_error_line && no_secrets &&
	test "$(posts)" -eq 2 &&
	test "$(notes_with "relay:notified pipeline=$P3 slack=retry")" -eq 1 &&
	sim POST /slack/hooks "{\"name\": \"failures-$SLACK_SECRET\", \"status\": 200}" >/dev/null &&
	notify "$P3" && expect_rc 0 && test "$(posts)" -eq 3 &&
	test "$(notes_with "relay:notified pipeline=$P3 slack=sent")" -eq 1 &&
	test "$(notes_with "relay:notified pipeline=$P3")" -eq 1 &&
	notify "$P3" && expect_rc 0 && test "$(posts)" -eq 3
'

test_expect_success 'Slack timing out: note kept, exit 75, posted once later' '
	P4=$(mr_pipeline failed) &&
	sim POST /faults "{\"path\": \"^/slack/\", \"kind\": \"delay\", \"delay_s\": 2.5}" >/dev/null &&
	RELAY_TIMEOUT_S=1 notify "$P4" && expect_rc 75 && one_error_line &&
	sleep 2 && sim DELETE /faults >/dev/null &&
	test "$(notes_with "relay:notified pipeline=$P4 slack=retry")" -eq 1 &&
	N=$(posts) && notify "$P4" && expect_rc 0 && test "$(posts)" -eq $((N + 1)) &&
	test "$(notes_with "relay:notified pipeline=$P4 slack=sent")" -eq 1
'

test_expect_success 'Slack rate limit (429 + Retry-After) is retried within the run' '
	P5=$(mr_pipeline failed) &&
	sim POST /faults "{\"path\": \"^/slack/\", \"kind\": \"retry_after\", \"status\": 429, \"retry_after\": 1}" >/dev/null &&
	N=$(posts) && notify "$P5" && expect_rc 0 && test "$(posts)" -eq $((N + 1)) &&
	sim DELETE /faults >/dev/null
'

test_expect_success 'GitLab refusing the note holds the Slack post back (69), one line' '
	P6=$(mr_pipeline failed) && N=$(posts) &&
	sim POST /faults "{\"method\": \"POST\", \"path\": \"/notes\$\", \"kind\": \"status\", \"status\": 403, \"times\": -1, \"body\": {\"message\": \"403 Forbidden\"}}" >/dev/null &&
	notify "$P6" && expect_rc 69 && one_error_line && grep -q "POST .*/notes: HTTP 403" err &&
	test "$(posts)" -eq "$N" &&
	notify "$P6" && expect_rc 69 && test "$(posts)" -eq "$N" &&
	sim DELETE /faults >/dev/null
'

test_expect_success 'once GitLab takes the note, the report goes out exactly once' '
	notify "$P6" && expect_rc 0 && test "$(posts)" -eq $((N + 1)) &&
	test "$(notes_with "relay:notified pipeline=$P6 slack=sent")" -eq 1 &&
	notify "$P6" && expect_rc 0 && test "$(posts)" -eq $((N + 1))
'

test_expect_success 'broken master is reported without tagging the team' '
	P7=$(mr_pipeline failed) && N=$(posts) && notify "$P7" broken-master && expect_rc 0 &&
	! note_with "relay:notified pipeline=$P7" | grep -q "@gl-gitaly" &&
	test "$(posts)" -eq $((N + 1)) && ! post "$N" | grep -q "cc \|subteam" &&
	note_with "relay:notified pipeline=$P7" | grep -q "broken target branch"
'

test_expect_success 'RELAY_SLACK_TEAM: the Slack message mentions the user group' '
	P11=$(mr_pipeline failed) && N=$(posts) &&
	RELAY_SLACK_TEAM=S0GITALY notify "$P11" && expect_rc 0 &&
	test "$(posts)" -eq $((N + 1)) &&
	post "$N" | head -n 1 | grep -q "failed\. cc <!subteam^S0GITALY>$"
'

test_expect_success 'RELAY_SLACK_TEAM that is not a user group id: 64 before any request' '
	P12=$(mr_pipeline failed) && sim DELETE /requests >/dev/null && N=$(posts) &&
	RELAY_SLACK_TEAM="S0X>|<!channel" notify "$P12" && expect_rc 64 &&
	grep -q "RELAY_SLACK_TEAM" err && one_error_line &&
	test "$(requests length)" -eq 0 && test "$(posts)" -eq "$N"
'

test_expect_success 'without a Slack webhook: the note alone, once' '
	P8=$(mr_pipeline failed) && N=$(posts) &&
	MR_IID=1 OUTCOME=failed PIPELINE_ID=$P8 run_unset RELAY_SLACK_FAILURES_URL notify &&
	expect_rc 0 && MR_IID=1 OUTCOME=failed PIPELINE_ID=$P8 run_unset RELAY_SLACK_FAILURES_URL notify &&
	test "$(posts)" -eq "$N" &&
	test "$(notes_with "relay:notified pipeline=$P8 slack=none")" -eq 1
'

test_expect_success 'dry run writes nothing and prints the message' '
	P9=$(mr_pipeline failed) && sim DELETE /requests >/dev/null && N=$(posts) &&
	MR_IID=1 OUTCOME=failed PIPELINE_ID=$P9 run notify --dry-run && expect_rc 0 &&
	test "$(requests "[.[] | select(.method != \"GET\")] | length")" -eq 0 &&
	test "$(posts)" -eq "$N" && grep -q "failed" out
'

test_expect_success 'Slack text from GitLab cannot forge links or mentions' '
	P10=$(mr_pipeline failed) &&
	MR_IID=1 OUTCOME=failed PIPELINE_ID=$P10 FAILED_JOBS="<!channel> & <http://evil|x>" run notify &&
	expect_rc 0 && post "$(($(posts) - 1))" | grep -q "&lt;!channel&gt; &amp; &lt;http://evil|x&gt;"
'

test_done
