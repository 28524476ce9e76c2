#!/bin/sh
# Dotenv values from a hostile server, through a real CI runner
# (gitlab-ci-local, shell executor): relay-watch writes its report, the
# next job gets it through needs + artifacts:reports:dotenv and echoes it.
# A `$`, a backtick or a newline from the server arrives percent-encoded:
# nothing is expanded (no token, no command output), and relay's next
# stage (notify) reads the value back.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/e2e/ci.sh"

src_commits '[{"message": "Add cache", "merge": 1}]'
open_bump "$(nth 1)"

mkdir proj
cat >proj/.gitlab-ci.yml <<'YAML'
stages: [watch, next]
watch:
  stage: watch
  variables:
    RELAY_DOTENV: watch.env
  script:
    - relay-watch
  artifacts:
    when: always
    reports:
      dotenv: watch.env
  allow_failure:
    exit_codes: [1]
next:
  stage: next
  needs: [watch]
  variables:
    RELAY_DOTENV: next.env
    TRIAGE: regression
  script:
    - echo "JOBS=[$FAILED_JOBS]"
    - echo "URL=[$PIPELINE_URL]"
    - relay-notify
YAML
git -C proj init -q -b main && git -C proj add -A && git -C proj commit -q -m ci

ci() {
	gcl proj --ignore-predefined-vars CI_API_V4_URL,CI_JOB_TOKEN \
		--variable CI_JOB_TOKEN="$JOB_TOKEN" \
		--variable RELAY_SLACK_FAILURES_URL="$RELAY_SLACK_FAILURES_URL" \
		--variable MR_IID=1
}
# line JOB TEXT: JOB's log line holding TEXT
line() { grep "^$1 *> $2" gcl.out; }

EVIL_NAME=' `id` $CI_JOB_TOKEN $(id)
x'
EVIL_URL='/$CI_JOB_TOKEN`id`$(id)'

test_expect_success 'hostile names and URLs reach the next CI job encoded, nothing expanded' '
	P=$(mr_pipeline failed "[{\"name\": \"rspec\", \"status\": \"failed\"}]") &&
	sim POST /hostile "$(jq -n --arg u "$EVIL_URL" --arg n "$EVIL_NAME" "{append: {web_url: \$u, name: \$n}}")" >/dev/null &&
	ci; sim POST /hostile "{\"append\": {}}" >/dev/null; cat gcl.out &&
	test "$rc" -eq 0 && grep -E "^watch +finished in" gcl.out | grep -q "WARN 1" &&
	line next "JOBS=\[" >jobs.txt && line next "URL=\[" >url.txt &&
	grep -q "rspec %60id%60 %24CI_JOB_TOKEN %24(id)%0Ax\]" jobs.txt &&
	grep -q "/%24CI_JOB_TOKEN%60id%60%24(id)\]" url.txt &&
	! grep -q "$JOB_TOKEN" gcl.out && ! grep -q "uid=" gcl.out &&
	! grep -q "^next *> x" gcl.out
'

test_expect_success 'the next stage reads the value back: notify posts once for that pipeline' '
	grep -E "^next +finished in" gcl.out | grep -qv FAIL &&
	sim GET /slack | jq -r ".[-1].text" >post.txt && cat post.txt &&
	test "$(sim GET /slack | jq length)" -eq 1 && grep -q "pipeline $P" post.txt &&
	grep -q "CI_JOB_TOKEN" post.txt && ! grep -q "%24CI_JOB_TOKEN" post.txt &&
	! grep -q "$JOB_TOKEN" post.txt && ! grep -q "uid=" post.txt
'

test_done
