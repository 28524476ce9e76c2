# ci.sh: for the scripts that run the components on a real CI runner
# (gitlab-ci-local, shell executor) against the simulator. Sourced after
# lib.sh: sets GCL, or skips the script when the runner is unavailable;
# starts and seeds the simulator (T: the target project in its state) and
# gives git an identity.
if ! GCL=$("$TOP/scripts/gcl.sh" 2>"$TRASH/gcl.err"); then
	echo "# skipped: gitlab-ci-local unavailable: $(cat "$TRASH/gcl.err")"
	test_done
	exit 0
fi
sim_start
seed_default
T='.projects["gitlab-org/gitlab"]'
export GIT_AUTHOR_NAME=dev GIT_AUTHOR_EMAIL=dev@example.com
export GIT_COMMITTER_NAME=dev GIT_COMMITTER_EMAIL=dev@example.com

# gcl DIR [ARG...]: one pipeline of the project in DIR on the runner, with
# relay's binaries on its PATH and the simulator's API and bot token as CI
# variables (secrets go in as CI variables do; ARGs add more); the
# runner's output in gcl.out, its exit code in rc
gcl() {
	gcl_dir=$1
	shift
	(cd "$gcl_dir" && "$GCL" --force-shell-executor --no-color \
		--variable CI_API_V4_URL="$CI_API_V4_URL" \
		--variable PATH="$RELAY_BIN:$PATH" \
		--variable RELAY_TOKEN="$BOT_TOKEN" \
		--variable RELAY_SLACK_ALERTS_URL="$RELAY_SLACK_ALERTS_URL" \
		--variable RELAY_WATCH_WAIT_S=0 --variable RELAY_RETRY_BASE_MS=5 \
		"$@") >gcl.out 2>&1
	rc=$?
}
