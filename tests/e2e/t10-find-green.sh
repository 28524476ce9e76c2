#!/bin/sh
# relay-find-green against the simulator: choice of commit, pins, errors.
. "$(dirname "$0")/lib.sh"
sim_start
seed_default
export RELAY_DEBUG=true

test_expect_success 'missing configuration exits 78 naming the variable' '
	run_unset CI_API_V4_URL find-green &&
	expect_rc 78 && grep -q "missing variable: CI_API_V4_URL" err &&
	one_error_line
'

test_expect_success 'no green commit at all exits 1 with a clear line' '
	src_commits "[{\"message\": \"a\", \"merge\": 1}, {\"message\": \"b\"}]" &&
	pipeline "$(nth 2)" failed >/dev/null &&
	RELAY_MAX_COMMITS=2 run find-green && expect_rc 1 &&
	grep -q "no green commit in the last 2 first-parent commits" err &&
	test -z "$(dotenv GREEN_SHA)" && test "$(dotenv UP_TO_DATE)" = false &&
	test "$(dotenv CURRENT_SHA)" = "$SRC_ROOT"
'

test_expect_success 'the newest green commit is chosen over a newer red one' '
	src_commits "[{\"message\": \"c\", \"merge\": 2}, {\"message\": \"d\", \"merge\": 1}, {\"message\": \"e\"}]" &&
	C=$(nth 1) D=$(nth 2) E=$(nth 3) &&
	pipeline "$C" success >/dev/null &&
	PD=$(pipeline "$D" success) &&
	pipeline "$E" failed >/dev/null &&
	run find-green && expect_rc 0 &&
	test "$(dotenv GREEN_SHA)" = "$D" &&
	test "$(dotenv GREEN_PIPELINE_ID)" = "$PD" &&
	test "$(dotenv GREEN_PIPELINE_URL)" = "$SIM/gitlab-org/security/gitaly/-/pipelines/$PD" &&
	test "$(dotenv CURRENT_SHA)" = "$SRC_ROOT" &&
	test "$(dotenv UP_TO_DATE)" = false &&
	grep -q "^GREEN_SHA=$D$" out && no_secrets &&
	grep -q "skipped 1 newer commit(s) without a successful pipeline, the newest $(echo "$E" | cut -c1-12)" err
'

test_expect_success 'the green search takes three requests in the common case' '
	sim DELETE /requests >/dev/null && run find-green && expect_rc 0 &&
	test "$(requests "[.[] | select(.path | test(\"/pipelines$\"))] | length")" -eq 2 &&
	test "$(requests "[.[] | select(.path | test(\"/repository/commits$\"))] | length")" -eq 1 &&
	grep -q "scanned 2 first-parent commits" err
'

test_expect_success 'a newer failed pipeline of the same SHA makes it red' '
	pipeline "$D" failed >/dev/null &&
	run find-green && expect_rc 0 &&
	test "$(dotenv GREEN_SHA)" = "$C" &&
	grep -q "its latest .* is failed" err
'

test_expect_success 'a retried old pipeline does not beat a newer green commit' '
	src_commits "[{\"message\": \"f\"}, {\"message\": \"g\"}]" &&
	F=$(nth 1) G=$(nth 2) &&
	pipeline "$G" success >/dev/null &&
	pipeline "$F" success >/dev/null &&
	run find-green && expect_rc 0 && test "$(dotenv GREEN_SHA)" = "$G"
'

test_expect_success 'running, canceled, skipped and manual are not green' '
	src_commits "[{\"message\": \"h\"}, {\"message\": \"i\"}, {\"message\": \"j\"}, {\"message\": \"k\"}]" &&
	pipeline "$(nth 1)" running >/dev/null &&
	pipeline "$(nth 2)" canceled >/dev/null &&
	pipeline "$(nth 3)" skipped >/dev/null &&
	pipeline "$(nth 4)" manual >/dev/null &&
	run find-green && expect_rc 0 && test "$(dotenv GREEN_SHA)" = "$G"
'

test_expect_success 'pipelines of another ref do not count' '
	src_commits "[{\"message\": \"l\"}]" && L=$(nth 1) &&
	pipeline "$L" success some-branch >/dev/null &&
	run find-green && expect_rc 0 && test "$(dotenv GREEN_SHA)" = "$G"
'

test_expect_success 'a pin newer than every green commit is up to date, never a downgrade' '
	sim POST /commits "{\"project\": \"gitlab-org/gitlab\", \"commits\": [{\"message\": \"pin L\", \"files\": {\"GITALY_SERVER_VERSION\": \"$L\\n\"}}]}" >/dev/null &&
	run find-green && expect_rc 0 &&
	test "$(dotenv UP_TO_DATE)" = true &&
	test "$(dotenv GREEN_SHA)" = "$L" && test "$(dotenv CURRENT_SHA)" = "$L" &&
	grep -q "no green commit newer than the pinned" err
'

test_expect_success 'a pin on a side branch newer than green: merge base decides' '
	src_commits "[{\"message\": \"m\", \"merge\": 2}, {\"message\": \"n\"}]" &&
	M=$(nth 1) N=$(nth 2) &&
	SIDE=$(state ".projects[\"gitlab-org/security/gitaly\"].branch_commits.master.parent_ids" >/dev/null; curl -s -H "PRIVATE-TOKEN: $BOT_TOKEN" "$CI_API_V4_URL/projects/gitlab-org%2Fsecurity%2Fgitaly/repository/commits/$M" | jq -r ".parent_ids[1]") &&
	sim POST /commits "{\"project\": \"gitlab-org/gitlab\", \"commits\": [{\"message\": \"pin side\", \"files\": {\"GITALY_SERVER_VERSION\": \"$SIDE\\n\"}}]}" >/dev/null &&
	pipeline "$N" success >/dev/null &&
	run find-green && expect_rc 0 &&
	test "$(dotenv GREEN_SHA)" = "$N" && test "$(dotenv UP_TO_DATE)" = false
'

test_expect_success 'the pinned SHA is read trimmed and case-folded' '
	UPPER=$(echo "$M" | tr a-f A-F) &&
	sim POST /commits "{\"project\": \"gitlab-org/gitlab\", \"commits\": [{\"message\": \"pin M\", \"files\": {\"GITALY_SERVER_VERSION\": \"  $UPPER \\n\\n\"}}]}" >/dev/null &&
	run find-green && expect_rc 0 && test "$(dotenv CURRENT_SHA)" = "$M" &&
	test "$(dotenv GREEN_SHA)" = "$N"
'

test_expect_success 'a version file holding a tag is resolved in the source' '
	sim POST /commits "{\"project\": \"gitlab-org/security/gitaly\", \"commits\": [{\"message\": \"o\", \"tag\": \"v17.0.0\"}]}" >/dev/null &&
	sim POST /commits "{\"project\": \"gitlab-org/gitlab\", \"commits\": [{\"message\": \"pin tag\", \"files\": {\"GITALY_SERVER_VERSION\": \"v17.0.0\\n\"}}]}" >/dev/null &&
	run find-green && expect_rc 0 && grep -q "pins .v17.0.0., which is" err &&
	test "$(dotenv UP_TO_DATE)" = true
'

# issue 13 item 9: on stable branches the version file holds X.Y.Z, the
# name of tag vX.Y.Z in the source
test_expect_success 'a version file holding X.Y.Z names tag vX.Y.Z in the source' '
	V=$(sim POST /commits "{\"project\": \"gitlab-org/security/gitaly\", \"commits\": [{\"message\": \"p\", \"tag\": \"v17.1.2\"}]}" | jq -r ".shas[0]") &&
	sim POST /commits "{\"project\": \"gitlab-org/gitlab\", \"commits\": [{\"message\": \"pin version\", \"files\": {\"GITALY_SERVER_VERSION\": \"17.1.2\\n\"}}]}" >/dev/null &&
	run find-green && expect_rc 0 && grep -q "pins .17.1.2. (tag v17.1.2), which is" err &&
	test "$(dotenv CURRENT_SHA)" = "$V" && test "$(dotenv UP_TO_DATE)" = true &&
	test "$(dotenv GREEN_SHA)" = "$V"
'

test_expect_success 'a version without its tag is refused in one line naming the tag (69)' '
	sim POST /commits "{\"project\": \"gitlab-org/gitlab\", \"commits\": [{\"message\": \"pin version\", \"files\": {\"GITALY_SERVER_VERSION\": \"17.9.0-rc1\\n\"}}]}" >/dev/null &&
	run find-green && expect_rc 69 && one_error_line && grep -q "v17.9.0-rc1" err
'

test_expect_success 'a version file holding garbage is refused in one line (69)' '
	sim POST /commits "{\"project\": \"gitlab-org/gitlab\", \"commits\": [{\"message\": \"bad\", \"files\": {\"GITALY_SERVER_VERSION\": \"not a sha at all\\n\"}}]}" >/dev/null &&
	run find-green && expect_rc 69 && one_error_line &&
	grep -q "holds .not a sha at all., which is neither a 40-hex SHA nor a ref" err
'

test_expect_success 'RELAY_PIN_SHA pins a descendant of the current pin' '
	sim POST /commits "{\"project\": \"gitlab-org/gitlab\", \"commits\": [{\"message\": \"pin C\", \"files\": {\"GITALY_SERVER_VERSION\": \"$C\\n\"}}]}" >/dev/null &&
	RELAY_PIN_SHA=$F run find-green && expect_rc 0 &&
	test "$(dotenv GREEN_SHA)" = "$F" && test "$(dotenv UP_TO_DATE)" = false &&
	test -n "$(dotenv GREEN_PIPELINE_ID)"
'

test_expect_success 'RELAY_PIN_SHA that is not 40 hex is a usage error (64)' '
	RELAY_PIN_SHA=abc123 run find-green && expect_rc 64 &&
	grep -q "RELAY_PIN_SHA: expected 40 hex digits" err && one_error_line
'

test_expect_success 'RELAY_PIN_SHA unknown to the source is a usage error (64)' '
	RELAY_PIN_SHA=0123456789abcdef0123456789abcdef01234567 run find-green &&
	expect_rc 64 && grep -q "is not a commit of gitlab-org/security/gitaly" err
'

test_expect_success 'RELAY_PIN_SHA older than the pin is refused unless allowed' '
	RELAY_PIN_SHA=$SRC_ROOT run find-green && expect_rc 1 &&
	grep -q "does not descend from the pinned" err &&
	RELAY_PIN_SHA=$SRC_ROOT RELAY_ALLOW_DOWNGRADE=true run find-green &&
	expect_rc 0 && test "$(dotenv GREEN_SHA)" = "$SRC_ROOT"
'

test_expect_success 'a bad boolean is a usage error' '
	RELAY_PIN_SHA=$F RELAY_ALLOW_DOWNGRADE=maybe run find-green &&
	expect_rc 64 && grep -q "RELAY_ALLOW_DOWNGRADE: expected true or false" err
'

test_expect_success 'a 503 is retried and the run succeeds' '
	sim POST /faults "{\"path\": \"/pipelines$\", \"kind\": \"status\", \"status\": 503, \"times\": 2}" >/dev/null &&
	run find-green && expect_rc 0 && test "$(dotenv GREEN_SHA)" = "$N" &&
	grep -q "HTTP 503, retrying" err
'

test_expect_success 'a 429 honours Retry-After' '
	sim POST /faults "{\"path\": \"/repository/commits$\", \"kind\": \"retry_after\", \"status\": 429, \"retry_after\": 1}" >/dev/null &&
	run find-green && expect_rc 0 && grep -q "HTTP 429, retrying in 1000 ms" err
'

test_expect_success 'a persistent 503 exits 75 with one line naming the request' '
	sim POST /faults "{\"path\": \"/pipelines$\", \"kind\": \"status\", \"status\": 503, \"times\": -1}" >/dev/null &&
	run find-green && sim DELETE /faults >/dev/null && expect_rc 75 &&
	one_error_line &&
	grep -q "error: cannot list successful pipelines: GET /projects/gitlab-org%2Fsecurity%2Fgitaly/pipelines: HTTP 503 (after 4 tries)" err &&
	no_secrets
'

test_expect_success 'a dropped connection is retried' '
	sim DELETE /requests >/dev/null &&
	sim POST /faults "{\"path\": \"/pipelines$\", \"kind\": \"drop\", \"times\": 2}" >/dev/null &&
	run find-green && expect_rc 0 &&
	test "$(requests "[.[] | select(.status == \"drop\")] | length")" -eq 2
'

test_expect_success 'a delay past the timeout exits 75' '
	sim POST /faults "{\"path\": \"security%2Fgitaly$\", \"kind\": \"delay\", \"delay_s\": 3, \"times\": -1}" >/dev/null &&
	RELAY_TIMEOUT_S=1 RELAY_TRIES=2 run find-green; sim DELETE /faults >/dev/null &&
	expect_rc 75 && one_error_line && grep -q "Timeout was reached (after 2 tries)" err
'

test_expect_success 'malformed JSON exits 75 with one clear line' '
	sim POST /faults "{\"path\": \"/repository/commits$\", \"kind\": \"malformed\"}" >/dev/null &&
	run find-green && expect_rc 75 && one_error_line &&
	grep -q "malformed JSON" err
'

test_expect_success 'truncated JSON exits 75' '
	sim POST /faults "{\"path\": \"security%2Fgitaly$\", \"kind\": \"truncated\"}" >/dev/null &&
	run find-green && expect_rc 75 && grep -q "malformed JSON: truncated" err
'

test_expect_success 'a body cut short of its Content-Length is retried' '
	sim POST /faults "{\"path\": \"security%2Fgitaly$\", \"kind\": \"cut\"}" >/dev/null &&
	run find-green && expect_rc 0
'

test_expect_success 'a bad token exits 69 and never shows the token' '
	RELAY_TOKEN=glpat-wrong-SECRET-9999 run find-green && expect_rc 69 &&
	grep -q "HTTP 401: 401 Unauthorized" err &&
	! grep -q glpat-wrong-SECRET-9999 out err
'

test_expect_success 'an unknown project exits 69 with GitLab'"'"'s message' '
	RELAY_SOURCE_PROJECT=nope/nope run find-green && expect_rc 69 &&
	grep -q "cannot read project nope/nope: GET /projects/nope%2Fnope: HTTP 404: 404 Project Not Found" err
'

# job tokens reach only a few API endpoints: every API call is the bot's
test_expect_success 'RELAY_TOKEN is required even with a job token (78)' '
	n=$(requests length) &&
	CI_JOB_TOKEN=$JOB_TOKEN run_unset RELAY_TOKEN find-green && expect_rc 78 &&
	grep -q "missing variable: RELAY_TOKEN" err && one_error_line &&
	test "$(requests length)" -eq "$n" && no_secrets
'

test_expect_success 'plain http to a non-loopback host is refused' '
	CI_API_V4_URL=http://gitlab.example.com/api/v4 run find-green &&
	expect_rc 64 && grep -q "plain http is allowed only to loopback" err
'

test_expect_success 'an unknown flag is a usage error; --help and --version work' '
	run find-green --bogus && expect_rc 64 && grep -q "usage: relay-find-green" err &&
	run find-green --help && expect_rc 0 && grep -q RELAY_PIN_SHA out &&
	run find-green --version && expect_rc 0 && grep -q "relay-find-green [0-9]" out
'

test_expect_success 'deep history: 600 commits, green at depth 450, requests bounded' '
	src_commits "[{\"message\": \"deep green\"}]" && DEEP=$(nth 1) &&
	pipeline "$DEEP" success >/dev/null &&
	SHAS=$(sim POST /commits "{\"project\": \"gitlab-org/security/gitaly\", \"count\": 449, \"prefix\": \"x\"}" | jq -r ".shas | join(\" \")") &&
	pipeline "$(nth 449)" failed >/dev/null &&
	sim POST /commits "{\"project\": \"gitlab-org/gitlab\", \"commits\": [{\"message\": \"pin N\", \"files\": {\"GITALY_SERVER_VERSION\": \"$N\\n\"}}]}" >/dev/null &&
	sim DELETE /requests >/dev/null && run find-green && expect_rc 0 &&
	test "$(dotenv GREEN_SHA)" = "$DEEP" &&
	test "$(requests "[.[] | select(.path | test(\"/repository/commits$\"))] | length")" -eq 5 &&
	test "$(requests "length")" -le 10
'

# issue 13 item 3: merge_base answers 400 for a ref GitLab does not know;
# that is an error to report, not a divergence (exit 1)
test_expect_success 'merge_base 400 (unknown ref) is an error, not "diverged"' '
	src_commits "[{\"message\": \"Newer\"}]" && NEWER=$(nth 1) &&
	pipeline "$NEWER" success >/dev/null &&
	sim POST /faults "{\"path\": \"/merge_base\$\", \"kind\": \"status\", \"status\": 400, \"body\": {\"message\": \"Could not find ref: $NEWER\"}, \"times\": -1}" >/dev/null &&
	sim DELETE /requests >/dev/null &&
	run find-green && sim DELETE /faults >/dev/null &&
	expect_rc 69 && one_error_line &&
	grep -q "a ref GitLab does not know.*HTTP 400: Could not find ref" err &&
	test "$(requests "[.[] | select(.path | endswith(\"/merge_base\"))] | length")" -ge 1
'

test_done
