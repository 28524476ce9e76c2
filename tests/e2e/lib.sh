# lib.sh: git-style end-to-end test helpers. A script sources this, then
# calls test_expect_success 'description' 'commands' ... and test_done.
# Each script gets a trash directory and its own simulator on loopback.
set -u
TEST_NAME=$(basename "$0" .sh)
TOP=$(cd "$(dirname "$0")/../.." && pwd)
: "${RELAY_BIN:=$TOP/bin}"
# logs as plain text: CI=true (set by CI, and by GitLab in every job)
# turns colour on, and the assertions read the words, not the escapes
export NO_COLOR=1
TRASH=$(mktemp -d "${TMPDIR:-/tmp}/relay-$TEST_NAME.XXXXXX")
cd "$TRASH" || exit 70
test_count=0
test_failed=0

# secrets that must never show in any output
BOT_TOKEN=glpat-bot-SECRET-0001
APPROVER_TOKEN=glpat-approver-SECRET-0002
JOB_TOKEN=job-token-SECRET-0003
SLACK_SECRET=T000-B000-SECRET-0004

sim_start() {
	python3 "$TOP/tests/sim/gitlab_sim.py" --port-file "$TRASH/port" \
		>"$TRASH/sim.log" 2>&1 &
	SIM_PID=$!
	i=0
	while [ ! -s "$TRASH/port" ]; do
		i=$((i + 1))
		[ $i -gt 100 ] && { echo "simulator did not start"; exit 70; }
		sleep 0.05
	done
	SIM="http://127.0.0.1:$(cat "$TRASH/port")"
	export CI_API_V4_URL="$SIM/api/v4"
	export RELAY_TOKEN="$BOT_TOKEN" RELAY_APPROVER_TOKEN="$APPROVER_TOKEN"
	export RELAY_DOTENV="$TRASH/relay.env"
	export RELAY_SLACK_ALERTS_URL="$SIM/slack/alerts-$SLACK_SECRET"
	export RELAY_SLACK_FAILURES_URL="$SIM/slack/failures-$SLACK_SECRET"
	# tests do not wait for real backoffs or pipelines
	export RELAY_RETRY_BASE_MS=5 RELAY_PIPELINE_WAIT_S=0 RELAY_POLL_S=1
	export RELAY_TIMEOUT_S=5
	unset RELAY_PIN_SHA GREEN_SHA CURRENT_SHA UP_TO_DATE MR_IID CI_JOB_TOKEN
}

cleanup() {
	[ -n "${KEEP:-}" ] && return
	[ -n "${SIM_PID:-}" ] && kill "$SIM_PID" 2>/dev/null
	[ -n "${HTTPD_PID:-}" ] && kill "$HTTPD_PID" 2>/dev/null
	cd / && rm -rf "$TRASH"
}
trap cleanup EXIT

# sim METHOD PATH [JSON]: admin call; prints the answer
sim() {
	if [ $# -ge 3 ]; then
		curl -sS --fail-with-body -X "$1" -H 'Content-Type: application/json' \
			--data-binary "$3" "$SIM/-/sim$2"
	else
		curl -sS --fail-with-body -X "$1" "$SIM/-/sim$2"
	fi
}

# state JQ: evaluate a jq filter over the simulator's whole state
state() { sim GET /state | jq -r "$1"; }
# requests JQ: over the request log
# (API requests only: the admin calls are left out)
requests() {
	sim GET /requests | jq -r "[.[] | select(.path | startswith(\"/api/\"))] | $1"
}

# seed_default: bot, approver, a security mirror and a target pinning its
# root commit; sets SRC_ROOT
seed_default() {
	out=$(sim POST /seed "{
	  \"users\": [
	    {\"username\": \"release-tools-bot\", \"token\": \"$BOT_TOKEN\"},
	    {\"username\": \"approver-bot\", \"token\": \"$APPROVER_TOKEN\"},
	    {\"username\": \"ci-job\", \"token\": \"$JOB_TOKEN\"}],
	  \"projects\": [
	    {\"path\": \"gitlab-org/security/gitaly\", \"default_branch\": \"master\"},
	    {\"path\": \"gitlab-org/gitlab\", \"default_branch\": \"master\",
	     \"mr_pipeline_status\": $(mr_pipeline_json),
	     \"files\": {\"GITALY_SERVER_VERSION\": \"placeholder\\n\"}}]}")
	SRC_ROOT=$(echo "$out" | jq -r '.projects["gitlab-org/security/gitaly"].root')
	sim POST /commits "{\"project\": \"gitlab-org/gitlab\", \"commits\": [
	  {\"message\": \"Pin Gitaly\", \"files\": {\"GITALY_SERVER_VERSION\": \"$SRC_ROOT\\n\"}}]}" >/dev/null
}

# MR_PIPELINE_STATUS=none: MRs get no pipeline of their own
mr_pipeline_json() {
	case "${MR_PIPELINE_STATUS:-running}" in
	none) echo null ;;
	*) echo "\"${MR_PIPELINE_STATUS:-running}\"" ;;
	esac
}

# open_bump SHA: run relay-open-mr for SHA over the pinned root; MR 1
open_bump() {
	GREEN_SHA=$1 CURRENT_SHA=$SRC_ROOT run open-mr
	[ "$rc" -eq 0 ] || { cat err; return 1; }
}

# mr_pipeline STATUS [JOBS-JSON] [IID]: a new pipeline of the MR's head
mr_pipeline() {
	sim POST /pipelines "{\"project\": \"gitlab-org/gitlab\", \"ref\": \"release-tools/update-gitaly\", \"mr_iid\": ${3:-1}, \"status\": \"$1\", \"jobs\": ${2:-null}}" | jq -r .id
}

# target_pipeline STATUS [JOBS-JSON]: a pipeline of the target's master
target_pipeline() {
	sim POST /pipelines "{\"project\": \"gitlab-org/gitlab\", \"ref\": \"master\", \"status\": \"$1\", \"jobs\": ${2:-null}}" | jq -r .id
}

# set_jobs ID JSON: set job statuses ({"rspec": "success"}) of pipeline ID
set_jobs() { sim PATCH "/pipelines/$1" "{\"jobs\": $2}" >/dev/null; }

# src_commits JSON-ARRAY: append commits to the source master; sets SHAS
src_commits() {
	SHAS=$(sim POST /commits "{\"project\": \"gitlab-org/security/gitaly\", \"commits\": $1}" | jq -r '.shas | join(" ")')
}

# nth N: the Nth of SHAS (1-based)
nth() { echo "$SHAS" | tr ' ' '\n' | sed -n "${1}p"; }

# pipeline SHA STATUS [REF]: a pipeline in the source project
pipeline() {
	sim POST /pipelines "{\"project\": \"gitlab-org/security/gitaly\", \"sha\": \"$1\", \"ref\": \"${3:-master}\", \"status\": \"$2\"}" | jq -r .id
}

# run STAGE: run relay-STAGE with the current environment; sets rc, and
# leaves stdout in out, stderr in err
run() {
	stage=$1
	shift
	"$RELAY_BIN/relay-$stage" "$@" >out 2>err
	rc=$?
	return 0
}

# run_unset VAR STAGE [ARGS]: run with VAR removed from the environment
run_unset() {
	var=$1 stage=$2
	shift 2
	env -u "$var" "$RELAY_BIN/relay-$stage" "$@" >out 2>err
	rc=$?
	return 0
}

# dotenv KEY: a value from the report
dotenv() { sed -n "s/^$1=//p" "$RELAY_DOTENV"; }

# load_dotenv: export the report, as GitLab does for later jobs
load_dotenv() { set -a; . "$RELAY_DOTENV"; set +a; }

no_secrets() {
	! grep -q -e "$BOT_TOKEN" -e "$APPROVER_TOKEN" -e "$JOB_TOKEN" \
		-e "$SLACK_SECRET" out err "$RELAY_DOTENV" 2>/dev/null
}

expect_rc() {
	if [ "$rc" -ne "$1" ]; then
		echo "# exit $rc, expected $1"
		sed 's/^/# err: /' err
		return 1
	fi
}

# one_line: stderr's error is a single line naming what failed
one_error_line() { [ "$(grep -c 'error:' err)" -eq 1 ]; }

# test_eval_ BODY: a function of its own, so a "return 1" in a test body
# fails that test instead of returning from test_expect_success unseen
test_eval_() { eval "$1"; }

test_expect_success() {
	test_count=$((test_count + 1))
	if test_eval_ "$2" >"$TRASH/t.log" 2>&1; then
		echo "ok $test_count - $1"
	else
		test_failed=$((test_failed + 1))
		echo "not ok $test_count - $1"
		sed 's/^/#   /' "$TRASH/t.log"
		[ -f err ] && tail -n 8 err | sed 's/^/#   stderr: /'
		[ -f out ] && tail -n 4 out | sed 's/^/#   stdout: /' 
	fi
}

# test_expect_todo 'description' 'known bug' 'commands': a known-failing
# check (TAP TODO): reported, not counted as a failure; says so when the
# bug is gone
test_expect_todo() {
	test_count=$((test_count + 1))
	if test_eval_ "$3" >"$TRASH/t.log" 2>&1; then
		echo "ok $test_count - $1 # TODO known breakage vanished: $2"
	else
		echo "not ok $test_count - $1 # TODO $2"
		sed 's/^/#   /' "$TRASH/t.log"
	fi
}

test_done() {
	echo "1..$test_count"
	[ "$test_failed" -eq 0 ]
	exit $?
}

# git_http_start ROOT [CERT KEY NAME]: serve the bare repositories under
# ROOT over git's smart HTTP protocol (lighttpd running git http-backend as
# CGI, basic auth against $TRASH/git-users, "user:password" lines), over
# HTTPS as NAME when given a certificate; sets GIT_HTTP to the base URL
# (GIT_HTTP/<repo>.git); GIT_HTTP_IDLE_S=N closes connections idle for N
# seconds, between requests and inside a request body (lighttpd's default: 5)
git_http_start() {
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	touch "$TRASH/git-users"
	tls="" scheme=http host=127.0.0.1
	if [ $# -ge 4 ]; then
		tls="server.modules += (\"mod_openssl\")
ssl.engine = \"enable\"
ssl.pemfile = \"$2\"
ssl.privkey = \"$3\""
		scheme=https host=$4
	fi
	cat >"$TRASH/lighttpd.conf" <<CONF
server.modules = ("mod_alias", "mod_cgi", "mod_setenv", "mod_auth", "mod_authn_file", "mod_accesslog")
$tls
accesslog.filename = "$TRASH/access.log"
server.document-root = "$1"
server.bind = "127.0.0.1"
server.port = $port
server.errorlog = "$TRASH/lighttpd.log"
server.max-keep-alive-idle = ${GIT_HTTP_IDLE_S:-5}
server.max-read-idle = ${GIT_HTTP_IDLE_S:-60}
alias.url = ("/git" => "$(git --exec-path)/git-http-backend")
\$HTTP["url"] =~ "^/git" {
	cgi.assign = ("" => "")
	setenv.set-environment = ("GIT_PROJECT_ROOT" => "$1", "GIT_HTTP_EXPORT_ALL" => "1")
	auth.backend = "plain"
	auth.backend.plain.userfile = "$TRASH/git-users"
	auth.require = ("" => ("method" => "basic", "realm" => "git", "require" => "valid-user"))
}
CONF
	lighttpd -D -f "$TRASH/lighttpd.conf" >"$TRASH/lighttpd.out" 2>&1 &
	HTTPD_PID=$!
	GIT_HTTP="$scheme://$host:$port/git"
	i=0
	until curl -sk -o /dev/null "$scheme://127.0.0.1:$port/"; do
		i=$((i + 1))
		[ $i -gt 100 ] && { cat "$TRASH/lighttpd.out" "$TRASH/lighttpd.log"; echo "lighttpd did not start"; exit 70; }
		sleep 0.05
	done
}

# forge IID BODY [NOTEABLE]: a note by another user (mallory, any
# logged-in user of gitlab.com can comment) on the target's MR IID, or
# on NOTEABLE ("issues/3" of the target), through the API
MALLORY_TOKEN=glpat-mallory-SECRET-0006
forge() {
	if [ -z "${MALLORY_SEEDED:-}" ]; then
		sim POST /seed "{\"users\": [{\"username\": \"mallory\", \"token\": \"$MALLORY_TOKEN\"}]}" >/dev/null || return 1
		MALLORY_SEEDED=1
	fi
	jq -n --arg b "$2" '{body: $b}' | curl -sS --fail-with-body -X POST \
		-H "PRIVATE-TOKEN: $MALLORY_TOKEN" -H 'Content-Type: application/json' \
		--data-binary @- "$CI_API_V4_URL/projects/gitlab-org%2Fgitlab/${3:-merge_requests/$1}/notes" >/dev/null
}
