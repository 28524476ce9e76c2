#!/bin/sh
# Configuration is checked before the first request: every typed variable
# of every stage (as its --help declares it), given a bad value, exits 64
# naming it with zero requests made; missing variables are reported in one
# line (78), also before any request.
. "$(dirname "$0")/lib.sh"
sim_start
seed_default
STAGES="find-green open-mr watch triage notify track-deploy status bisect mirror"
SHA=0123456789abcdef0123456789abcdef01234567

# what every stage needs to get past its required variables; the mirror's
# remotes point at the simulator, so a git request would be logged too
export MR_IID=1 GREEN_SHA=$SHA OUTCOME=failed PIPELINE_ID=1
export RELAY_MIRROR_FROM="$SIM/canon.git" RELAY_MIRROR_TO="$SIM/mirror.git"
export RELAY_MIRROR_CACHE="$TRASH/cache.git"

# made: requests that reached the simulator (API, git or Slack) since the
# last clear_log
made() { sim GET /requests | jq '[.[] | select(.path | startswith("/-/sim") | not)] | length'; }
clear_log() { sim DELETE /requests >/dev/null; }

# typed STAGE: "NAME TYPE" for each typed variable of the stage's --help
typed() {
	"$RELAY_BIN/relay-$1" --help | awk '
		/^variables:/ { v = 1; next }
		!v { next }
		/\(whole number, / { match($0, /, -?[0-9]+ to -?[0-9]+\)/)
			split(substr($0, RSTART + 2, RLENGTH - 3), b, " to ")
			print $1, "long", b[2]; next }
		/\(true or false\)/ { print $1, "bool"; next }
		/\(one of / { print $1, "enum"; next }
		/\(40 hex digits\)/ { print $1, "sha"; next }'
}

# bad_values STAGE: each typed variable with "abc" (bad for every type),
# and each number one above its maximum: exit 64, the variable named,
# no request
bad_values() {
	s=$1
	typed "$s" >vars
	[ -s vars ] || { echo "# relay-$s declares no typed variable"; return 1; }
	while read -r name type max; do
		for bad in abc ${max:+$((max + 1))}; do
			clear_log
			env "$name=$bad" "$RELAY_BIN/relay-$s" >out 2>err
			rc=$?
			n=$(made)
			if [ "$rc" -ne 64 ] || [ "$n" -ne 0 ] ||
			    ! grep -q "^relay-$s: error: $name: expected" err ||
			    ! one_error_line; then
				echo "# relay-$s $name=$bad: exit $rc, $n requests"
				sed 's/^/# err: /' err
				return 1
			fi
		done
	done <vars
}

for s in $STAGES; do
	test_expect_success "relay-$s: a bad typed value exits 64 before any request" "
		bad_values $s
	"
done

test_expect_success 'the typed variables include those read after writes before' '
	typed open-mr >v && grep -q "^RELAY_RANGE_MAX long 500" v &&
	grep -q "^RELAY_STALE_HOURS long" v && grep -q "^RELAY_PIPELINE_WAIT_S long" v &&
	grep -q "^RELAY_POLL_S long" v && grep -q "^GREEN_SHA sha" v &&
	grep -q "^UP_TO_DATE bool" v && grep -q "^RELAY_DRY_RUN bool" v &&
	typed triage >v && grep -q "^OUTCOME enum" v && grep -q "^PIPELINE_ID long" v &&
	typed mirror >v && grep -q "^RELAY_MIRROR_FORCE bool" v
'

test_expect_success 'RELAY_RANGE_MAX=abc: relay-open-mr commits nothing (64)' '
	clear_log &&
	GREEN_SHA=$SRC_ROOT RELAY_RANGE_MAX=abc run open-mr && expect_rc 64 &&
	test "$(made)" -eq 0 &&
	test "$(state ".projects[\"gitlab-org/gitlab\"].branches | length")" -eq 1 &&
	test "$(state ".projects[\"gitlab-org/gitlab\"].mrs | length")" -eq 0
'

for s in find-green open-mr watch triage notify track-deploy status bisect; do
	test_expect_success "relay-$s: CI_API_V4_URL and RELAY_TOKEN missing in one line (78)" "
		clear_log &&
		env -u CI_API_V4_URL -u RELAY_TOKEN \"\$RELAY_BIN/relay-$s\" >out 2>err
		rc=\$? && expect_rc 78 &&
		grep -q 'missing variables: CI_API_V4_URL, RELAY_TOKEN\$' err &&
		one_error_line && test \"\$(made)\" -eq 0
	"
done

test_expect_success 'the job token no longer stands in for RELAY_TOKEN (78)' '
	clear_log &&
	CI_JOB_TOKEN=$JOB_TOKEN run_unset RELAY_TOKEN watch && expect_rc 78 &&
	grep -q "missing variable: RELAY_TOKEN" err && test "$(made)" -eq 0 &&
	no_secrets
'

test_expect_success 'a bad value and a missing variable: the missing one (78)' '
	clear_log &&
	RELAY_POLL_S=abc run_unset MR_IID watch && expect_rc 78 &&
	grep -q "missing variable: MR_IID" err && test "$(made)" -eq 0
'

test_expect_success 'GREEN_SHA is needed only while UP_TO_DATE is false' '
	UP_TO_DATE=true run_unset GREEN_SHA open-mr && expect_rc 0 &&
	test "$(dotenv MR_ACTION)" = none &&
	UP_TO_DATE=false run_unset GREEN_SHA open-mr && expect_rc 78 &&
	grep -q "missing variable: GREEN_SHA" err
'

test_expect_success 'PIPELINE_ID is needed only when OUTCOME=failed' '
	OUTCOME=success run_unset PIPELINE_ID notify && expect_rc 0 &&
	test "$(dotenv NOTIFIED)" = false &&
	OUTCOME=failed run_unset PIPELINE_ID notify && expect_rc 78 &&
	grep -q "missing variable: PIPELINE_ID" err
'

test_expect_success 'SHAs given in uppercase are used in lowercase' '
	src_commits "[{\"message\": \"Add cache\", \"merge\": 2}]" &&
	G=$(nth 1) && pipeline "$G" success >/dev/null &&
	GREEN_SHA=$(echo "$G" | tr a-f A-F) CURRENT_SHA=$(echo "$SRC_ROOT" | tr a-f A-F) \
		run open-mr && expect_rc 0 && test "$(dotenv MR_ACTION)" = created &&
	test "$(state ".projects[\"gitlab-org/gitlab\"].files[\"release-tools/update-gitaly\"].GITALY_SERVER_VERSION")" = "$G" &&
	state ".projects[\"gitlab-org/gitlab\"].mrs[0].description" | grep -q "$SRC_ROOT"
'

test_expect_success 'MR_ACTION=none without MR_IID: watch, notify idle before any request' '
	clear_log &&
	MR_ACTION=none run_unset MR_IID watch && expect_rc 0 &&
	test "$(dotenv OUTCOME)" = none && grep -q "nothing to do" err &&
	MR_ACTION=none run_unset MR_IID notify && expect_rc 0 &&
	test "$(dotenv NOTIFIED)" = false && test "$(made)" -eq 0
'

# names STAGE: the variables jobs/STAGE.c reads by name
names() {
	grep -o 'job_\(var\|long\|bool\)([^,]*, *"[A-Z_0-9]*"' "$TOP/jobs/$1.c" |
		sed 's/.*"\(.*\)"/\1/' | sort -u
}

test_expect_success 'every variable a stage reads is declared for it (--help)' '
	for s in $STAGES; do
		"$RELAY_BIN/relay-$s" --help >help || return 1
		for v in $(names $s); do
			grep -q "^  $v " help ||
				{ echo "# relay-$s reads $v but does not declare it"; return 1; }
		done
	done &&
	for f in $(grep -l "job->approver" "$TOP"/jobs/*.c); do
		grep -q "JOB_APPROVER" "$f" ||
			{ echo "# $f uses the approver without JOB_APPROVER"; return 1; }
	done
'

test_expect_success '--help: the stage'"'"'s variables, exit codes, the contract' '
	"$RELAY_BIN/relay-watch" --help >help &&
	grep -q "^  MR_IID .*required when MR_ACTION is not none" help &&
	grep -q "^  RELAY_TOKEN .*(required)" help &&
	! grep -q "RELAY_SLACK_ALERTS_URL\|RELAY_SOURCE_PROJECT\|RELAY_MR_LABELS" help &&
	grep -q "^  RELAY_APPROVER_TOKEN " help &&
	grep -q "^  1   the pipeline failed" help && grep -q "^  78  " help &&
	grep -q "docs/contract.md" help &&
	"$RELAY_BIN/relay-open-mr" --help >help &&
	grep -q "^  RELAY_SLACK_ALERTS_URL " help && grep -q "^  RELAY_APPROVER_TOKEN " help &&
	grep -q "^  GREEN_SHA .*required when UP_TO_DATE=false and CURRENT_SHA is unset" help &&
	! grep -q "^  1 " help &&
	"$RELAY_BIN/relay-mirror" --help >help &&
	! grep -q "CI_API_V4_URL\|RELAY_TOKEN" help && grep -q "^  CI_JOB_TOKEN " help
'

test_done
