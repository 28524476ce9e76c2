#!/bin/sh
# relay's records (common/record.c) against an attacker and racing runs:
# only notes relay's own identity wrote count, newest first, a page cap is
# a temporary failure, racing writers make one Slack post and one record.
. "$(dirname "$0")/lib.sh"
sim_start
seed_default
forge 1 "seeds mallory" 2>/dev/null
T='.projects["gitlab-org/gitlab"]'
notes_with() { state "[$T.mrs[0].notes[] | select(.body | contains(\"$1\"))] | length"; }
bot_notes_with() { state "[$T.mrs[0].notes[] | select(.author.username == \"release-tools-bot\" and (.body | contains(\"$1\")))] | length"; }
posts() { sim GET /slack | jq "[.[] | select(.hook | startswith(\"failures-\"))] | length"; }
# bulk IID COUNT AUTHOR BODY [SYSTEM]
bulk() {
	sim POST /notes "{\"project\": \"gitlab-org/gitlab\", \"iid\": $1, \"count\": $2, \"author\": \"$3\", \"body\": $(jq -n --arg b "$4" '$b'), \"system\": ${5:-false}}" >/dev/null
}
notify() {
	MR_IID=1 OUTCOME=failed PIPELINE_ID=$1 FAILED_JOBS=rspec TRIAGE=regression \
		run notify
}

src_commits '[{"message": "Add cache", "merge": 1}]'
open_bump "$(nth 1)"

test_expect_success 'a forged "sent" marker from another author does not silence a report' '
	P1=$(mr_pipeline failed) &&
	forge 1 "<!-- relay:notified pipeline=$P1 slack=sent -->" &&
	notify "$P1" && expect_rc 0 && test "$(dotenv NOTIFIED)" = true &&
	test "$(posts)" -eq 1 &&
	test "$(bot_notes_with "relay:notified pipeline=$P1 slack=sent")" -eq 1
'

test_expect_success 'a forged "pending" marker does not make every run post' '
	P2=$(mr_pipeline failed) &&
	forge 1 "<!-- relay:notified pipeline=$P2 slack=pending -->" &&
	notify "$P2" && expect_rc 0 && notify "$P2" && expect_rc 0 &&
	notify "$P2" && expect_rc 0 && test "$(posts)" -eq 2 &&
	test "$(bot_notes_with "relay:notified pipeline=$P2")" -eq 1
'

test_expect_success 'a system note carrying a marker does not count' '
	P3=$(mr_pipeline failed) &&
	bulk 1 1 release-tools-bot "<!-- relay:notified pipeline=$P3 slack=sent -->" true &&
	notify "$P3" && expect_rc 0 && test "$(posts)" -eq 3
'

test_expect_success '2,100 ordinary notes: reported once, found again on the first page' '
	bulk 1 2100 mallory "lgtm {i}" &&
	P4=$(mr_pipeline failed) && notify "$P4" && expect_rc 0 &&
	test "$(posts)" -eq 4 && sim DELETE /requests >/dev/null &&
	notify "$P4" && expect_rc 0 && test "$(posts)" -eq 4 &&
	test "$(dotenv NOTIFIED)" = false &&
	test "$(requests "[.[] | select(.path | endswith(\"/notes\"))] | length")" -eq 1 &&
	test "$(requests "[.[] | select(.path | endswith(\"/notes\"))][0].query")" != "${P4#}" &&
	requests ".[] | select(.path | endswith(\"/notes\")) | .query" | grep -q "sort=desc" &&
	test "$(bot_notes_with "relay:notified pipeline=$P4")" -eq 1
'

test_expect_success 'five notify runs at once: one Slack post, one record' '
	P5=$(mr_pipeline failed) &&
	pids="" &&
	for i in 1 2 3 4 5; do
		MR_IID=1 OUTCOME=failed PIPELINE_ID=$P5 FAILED_JOBS=rspec \
			RELAY_DOTENV="$TRASH/race$i.env" \
			"$RELAY_BIN/relay-notify" >"race$i.out" 2>"race$i.err" &
		pids="$pids $!"
	done && wait $pids &&
	cat race*.err &&
	test "$(posts)" -eq 5 &&
	test "$(notes_with "relay:notified pipeline=$P5")" -eq 1 &&
	test "$(notes_with "relay:notified pipeline=$P5 slack=sent")" -eq 1 &&
	test "$(cat race*.env | grep -c "NOTIFIED=true")" -eq 1
'

test_expect_success 'a killed run'"'"'s claim is held for the lease, then delivered once' '
	P6=$(mr_pipeline failed) &&
	bulk 1 1 release-tools-bot "killed <!-- relay:notified pipeline=$P6 slack=pending run=00000000deadbeef -->" &&
	notify "$P6" && expect_rc 0 && test "$(posts)" -eq 5 &&
	grep -q "being reported by another run" err &&
	sim POST /clock "{\"advance_s\": 1000}" >/dev/null &&
	notify "$P6" && expect_rc 0 && test "$(posts)" -eq 6 &&
	test "$(notes_with "relay:notified pipeline=$P6")" -eq 1 &&
	test "$(notes_with "relay:notified pipeline=$P6 slack=sent")" -eq 1 &&
	notify "$P6" && expect_rc 0 && test "$(posts)" -eq 6
'

test_expect_success 'a note whose answer was lost is not sent again; the next run reports once' '
	P7=$(mr_pipeline failed) && sim DELETE /requests >/dev/null &&
	sim POST /faults "{\"method\": \"POST\", \"path\": \"/notes\$\", \"kind\": \"drop\", \"apply\": true}" >/dev/null &&
	notify "$P7" && expect_rc 75 && one_error_line &&
	test "$(requests "[.[] | select(.method == \"POST\" and (.path | endswith(\"/notes\")))] | length")" -eq 1 &&
	test "$(posts)" -eq 6 && test "$(notes_with "relay:notified pipeline=$P7")" -eq 0 &&
	notify "$P7" && expect_rc 0 && test "$(posts)" -eq 7 &&
	test "$(notes_with "relay:notified pipeline=$P7")" -eq 1
'

test_expect_success 'Slack took the post but GitLab refused the flip: no second post, one record' '
	P8=$(mr_pipeline failed) &&
	sim POST /faults "{\"method\": \"PUT\", \"path\": \"/notes/[0-9]+\$\", \"kind\": \"status\", \"status\": 500, \"times\": -1}" >/dev/null &&
	notify "$P8" && expect_rc 75 && one_error_line && grep -q "PUT .*/notes/" err &&
	sim DELETE /faults >/dev/null && test "$(posts)" -eq 8 &&
	notify "$P8" && expect_rc 0 && test "$(posts)" -eq 8 &&
	test "$(notes_with "relay:notified pipeline=$P8")" -eq 1 &&
	test "$(notes_with "relay:notified pipeline=$P8 slack=sent")" -eq 1
'

test_expect_success 'more notes than the page cap and no record: 75, never "not found"' '
	bulk 1 3000 mallory "+1 {i}" &&
	P9=$(mr_pipeline failed) && notify "$P9" && expect_rc 75 && one_error_line &&
	grep -q "after the newest 5000 notes with more left unread" err && test "$(posts)" -eq 8 &&
	test "$(notes_with "relay:notified pipeline=$P9")" -eq 0 && no_secrets
'

test_done
