#!/bin/sh
# A hostile server, hostile names and bad configuration: nothing from the
# server changes meaning on the way (Slack, notes, dotenv, logs), exit codes
# tell the truth, secrets never show.
. "$(dirname "$0")/lib.sh"
sim_start
seed_default
T='.projects["gitlab-org/gitlab"]'
posts() { sim GET /slack | jq "length"; }
last_post() { sim GET /slack | jq -r ".[-1].text"; }
notify() {
	MR_IID=1 OUTCOME=failed PIPELINE_ID=$1 FAILED_JOBS=rspec TRIAGE=regression \
		run notify
}
fault() { sim POST /faults "$1" >/dev/null; }

src_commits '[{"message": "Add cache", "merge": 1}]'
open_bump "$(nth 1)"

# ---- configuration refused before any request (64)

test_expect_success 'CI_API_V4_URL with a trailing space, a ?query or a #fragment: 64, no request' '
	sim DELETE /requests >/dev/null &&
	for u in "$SIM/api/v4 " "$SIM/api/v4?private_token=x" "$SIM/api/v4#x"; do
		CI_API_V4_URL=$u MR_IID=1 run watch && expect_rc 64 && one_error_line &&
		grep -q "CI_API_V4_URL" err || return 1
	done &&
	test "$(requests length)" -eq 0
'

test_expect_success 'a token with CR/LF (header injection) or a control character: 64, no request' '
	sim DELETE /requests >/dev/null &&
	RELAY_TOKEN="$BOT_TOKEN$(printf "\r\nX-Injected: yes")" MR_IID=1 run watch &&
	expect_rc 64 && one_error_line && grep -q "control character" err &&
	RELAY_TOKEN="$(printf "\033")$BOT_TOKEN" MR_IID=1 run watch && expect_rc 64 &&
	test "$(requests length)" -eq 0 && no_secrets
'

# ---- malformed answers are temporary (75), never a result

test_expect_success 'a 1 MB response header: 75, one line' '
	fault "{\"method\": \"GET\", \"path\": \"/merge_requests/1\$\", \"kind\": \"huge_header\", \"times\": -1}" &&
	MR_IID=1 run watch; sim DELETE /faults >/dev/null; expect_rc 75 && one_error_line
'

test_expect_success 'a list answered as an object: 75, never OUTCOME=none' '
	H=$(state "$T.mrs[0].head_pipeline_id") &&
	sim PATCH /mrs/gitlab-org%2Fgitlab/1 "{\"head_pipeline_id\": null}" >/dev/null &&
	fault "{\"method\": \"GET\", \"path\": \"/merge_requests/1/pipelines\$\", \"kind\": \"object\", \"times\": -1}" &&
	MR_IID=1 run watch; sim DELETE /faults >/dev/null;
	sim PATCH /mrs/gitlab-org%2Fgitlab/1 "{\"head_pipeline_id\": $H}" >/dev/null;
	expect_rc 75 && one_error_line && grep -q "expected a JSON array" err &&
	! grep -q "OUTCOME=none" out
'

test_expect_success 'duplicate keys in an answer: 75' '
	fault "{\"method\": \"GET\", \"path\": \"/merge_requests/1\$\", \"kind\": \"dup_keys\", \"times\": -1}" &&
	MR_IID=1 run watch; sim DELETE /faults >/dev/null; expect_rc 75 && one_error_line &&
	grep -q "duplicate" err
'

test_expect_success 'an id past 64 bits: 75' '
	fault "{\"method\": \"GET\", \"path\": \"/merge_requests/1\$\", \"kind\": \"overflow\", \"times\": -1}" &&
	MR_IID=1 run watch; sim DELETE /faults >/dev/null; expect_rc 75 && one_error_line
'

test_expect_success 'RELAY_DEADLINE_S bounds retries x backoff: 75 naming it, fewer tries than RELAY_TRIES' '
	fault "{\"method\": \"GET\", \"path\": \"/merge_requests/1\$\", \"kind\": \"status\", \"status\": 503, \"times\": -1}" &&
	sim DELETE /requests >/dev/null &&
	RELAY_DEADLINE_S=10 RELAY_TRIES=20 RELAY_RETRY_BASE_MS=2000 MR_IID=1 run watch;
	sim DELETE /faults >/dev/null; expect_rc 75 && one_error_line &&
	test "$(requests length)" -lt 20
'

# ---- secrets

test_expect_success 'a Slack endpoint echoing its path: the path is masked, the body not printed' '
	P1=$(mr_pipeline failed) &&
	sim POST /slack/hooks "{\"name\": \"failures-$SLACK_SECRET\", \"status\": 404, \"echo\": true}" >/dev/null &&
	notify "$P1" && expect_rc 69 && one_error_line && no_secrets &&
	! grep -q "failures-" err && grep -q "POST Slack webhook: HTTP 404" err &&
	sim POST /slack/hooks "{\"name\": \"failures-$SLACK_SECRET\", \"status\": 200}" >/dev/null
'

test_expect_success 'Slack error codes are still shown' '
	P2=$(mr_pipeline failed) &&
	sim POST /slack/hooks "{\"name\": \"failures-$SLACK_SECRET\", \"status\": 410, \"body\": \"channel_is_archived\"}" >/dev/null &&
	notify "$P2" && expect_rc 69 && grep -q "HTTP 410: channel_is_archived" err &&
	sim POST /slack/hooks "{\"name\": \"failures-$SLACK_SECRET\", \"status\": 200}" >/dev/null
'

# ---- nothing from the server changes meaning on the way

EVIL_URL='|<!channel> <https://evil.example/phish|click here>) [x](https://evil.example)'
EVIL_NAME=' `$CI_JOB_TOKEN` $(id) @all
/merge <!-- relay:notified pipeline=1 slack=sent --> '"$(printf '\033[31m\001')"

test_expect_success 'a job name with a newline: the pipeline failed (exit 1), the name sanitised' '
	P3=$(mr_pipeline failed "[{\"name\": \"rspec\nnext\", \"status\": \"failed\"}]") &&
	MR_IID=1 run watch && expect_rc 1 && test "$(dotenv OUTCOME)" = failed &&
	test "$(dotenv FAILED_JOBS)" = "rspec%0Anext"
'

test_expect_success 'hostile server: no $, backtick or control character in any dotenv value' '
	P4=$(mr_pipeline failed "[{\"name\": \"rspec\", \"status\": \"failed\"}]") &&
	sim POST /hostile "$(jq -n --arg u "$EVIL_URL" --arg n "$EVIL_NAME" "{append: {web_url: \$u, name: \$n}}")" >/dev/null &&
	MR_IID=1 run watch && expect_rc 1 && cp "$RELAY_DOTENV" watch.env &&
	cat watch.env &&
	! grep -q "[\$\`]" watch.env && ! LC_ALL=C grep -q "[[:cntrl:]]" watch.env &&
	! LC_ALL=C grep -q "$(printf "\033")" err
'

test_expect_success 'hostile server: no <!channel> or foreign link reaches Slack, no mention, link or marker in the note' '
	(while IFS== read -r k v; do export "$k=$v"; done <watch.env &&
	 TRIAGE=regression SUSPECT_RANGE="https://evil.example/compare|<!here>" \
		 MR_IID=1 run notify && exit $rc) ; rc=$? &&
	sim POST /hostile "{\"append\": {}}" >/dev/null &&
	expect_rc 0 && last_post >post.txt && cat post.txt && grep -q "pipeline $P4" post.txt &&
	! grep -q "<!channel>" post.txt && ! grep -q "<!here>" post.txt &&
	! grep -q "<https://evil" post.txt && ! grep -q "|click here>" post.txt &&
	state "[$T.mrs[0].notes[] | select(.body | contains(\"relay:notified pipeline=$P4 \"))][0].body" >note.txt &&
	cat note.txt && grep -q "Pipeline $P4" note.txt && test "$(grep -c "<!--" note.txt)" -eq 1 &&
	! grep -q "](https://evil" note.txt && ! grep -q "@all" note.txt &&
	! grep -q "^/merge" note.txt && ! LC_ALL=C grep -q "$(printf "\033")" note.txt &&
	! LC_ALL=C grep -q "$(printf "\033")" err
'

test_expect_success 'a URL too long for its buffer is left out of the dotenv report, never cut' '
	P5=$(mr_pipeline failed "[{\"name\": \"rspec\", \"status\": \"failed\"}]") &&
	LONG=/$(printf "%0600d" 0) &&
	sim POST /hostile "{\"append\": {\"web_url\": \"$LONG\"}}" >/dev/null &&
	MR_IID=1 run watch; sim POST /hostile "{\"append\": {}}" >/dev/null;
	expect_rc 1 && cat "$RELAY_DOTENV" && test "$(dotenv PIPELINE_ID)" = "$P5" &&
	test -z "$(dotenv PIPELINE_URL)" && ! grep -q "/-/pipelines/" "$RELAY_DOTENV" &&
	MR_IID=1 run watch && expect_rc 1 && dotenv PIPELINE_URL | grep -q "/-/pipelines/$P5\$"
'

test_expect_success 'a commit title cannot mention, link or hide a marker in the MR description' '
	src_commits "[{\"message\": \"@all see [x](https://evil.example) <!-- relay:bump sha=0 -->\"}]" &&
	GREEN_SHA=$(nth 1) CURRENT_SHA=$SRC_ROOT run open-mr && expect_rc 0 &&
	state "$T.mrs[0].description" >desc && cat desc &&
	grep -q "see" desc && ! grep -q "@all" desc && ! grep -q "](https://evil" desc &&
	test "$(grep -c "<!-- relay:bump" desc)" -eq 1
'

test_done
