#!/bin/sh
# make demo (scripts/demo.py) tells the whole story and leaves, with
# KEEP=1, a simulator whose state shows it happened: the mirror, the red
# commit skipped, the flake retried and filed, the merge, the four
# environments, the regression reported with the team and the range.
. "$(dirname "$0")/lib.sh"

KEEP=1 NO_COLOR=1 python3 "$TOP/scripts/demo.py" >demo.out 2>demo.err
demo_rc=$?
DSIM=$(sed -n 's/^relay demo: .* simulator at \(http[^ ]*\)$/\1/p' demo.out)
DPID=$(sed -n 's/^The simulator keeps running (pid \([0-9]*\);.*/\1/p' demo.out)
DWORK=$(sed -n 's/^  git repositories: *\(.*\)\/canonical.git, .*/\1/p' demo.out)
# own cleanup: the demo's simulator and folder
demo_cleanup() {
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null
	[ -n "$DWORK" ] && case $DWORK in /*relay-demo.*) rm -rf "$DWORK" ;; esac
	cleanup
}
trap demo_cleanup EXIT
T='.projects["gitlab-org/gitlab"]'
C='.projects["gitlab-org/gitaly"]'
dstate() { curl -sS "$DSIM/-/sim/state" | jq -r "$1"; }
# fp N: the Nth first-parent commit of the mirror (0: newest)
fp() { git -C "$DWORK/mirror.git" rev-list --first-parent master | sed -n "$(($1 + 1))p"; }
short() { echo "$1" | cut -c1-12; }

test_expect_success 'the demo runs to the end and keeps its simulator' '
	test "$demo_rc" -eq 0 && grep -q "^── done" demo.out &&
	test -n "$DSIM" && test -n "$DPID" && kill -0 "$DPID" && test -d "$DWORK" ||
	{ tail -n 20 demo.out demo.err; false; }
'

test_expect_success 'relay-mirror made the mirror equal to canonical (git)' '
	test "$(git -C "$DWORK/mirror.git" rev-parse master)" = \
		"$(git -C "$DWORK/canonical.git" rev-parse master)" &&
	test "$(git -C "$DWORK/mirror.git" rev-list --count master)" -eq 13 &&
	git -C "$DWORK/mirror.git" fsck --strict 2>&1 | { ! grep -q error; }
'

test_expect_success 'find-green skipped the red newest commit and said why' '
	grep -q "skipped 1 newer commit(s) without a successful pipeline, the newest $(short "$(fp 2)")" demo.out &&
	grep -q "latest green commit of gitlab-org/security/gitaly@master: $(short "$(fp 3)")" demo.out
'

test_expect_success 'the first MR: approved, flake retried once and filed, merged' '
	test "$(dstate "$T.mrs[0].state")" = merged &&
	test "$(dstate "$T.mrs[0].approved_by | join(\",\")")" = approver-bot &&
	test "$(dstate "$T.files.master.GITALY_SERVER_VERSION")" = "$(fp 3)" &&
	test "$(dstate "[$T.pipelines[] | select(.retries > 0)] | length")" -eq 2 &&
	test "$(dstate "[$T.pipelines[] | .retries] | max")" -eq 1 &&
	test "$(dstate "[$C.issues[] | select(.title == \"Flaky job: rspec 3/8\")] | length")" -eq 1 &&
	dstate "$C.issues[0].description" | grep -q "quarantine it"
'

test_expect_success 'deployments: the workflow label and one post per environment' '
	test "$(dstate "$T.mrs[0].labels | map(select(startswith(\"workflow::\"))) | join(\",\")")" = workflow::production &&
	for e in gstg-cny gprd-cny gstg gprd; do
		test "$(curl -sS "$DSIM/-/sim/slack" | jq "[.[] | select(.hook == \"gitaly_alerts\" and (.text | contains(\"reached *$e*\")))] | length")" -eq 1 ||
		{ echo "no single post for $e"; return 1; }
	done &&
	grep -q "Slack #gitaly_alerts" demo.out && grep -q "reached \*gprd\* (workflow::production)" demo.out
'

# trail IID: relay's deployment notes on gitlab-org/gitaly!IID
trail() { dstate "[.projects[\"gitlab-org/gitaly\"].mrs[] | select(.iid == $1) | .notes[] | select(.author.username == \"release-tools-bot\")]"; }

test_expect_success 'each source MR of the deployed bump: one up-to-date deployment note; the others none' '
	for i in 6801 6802 6803; do
		test "$(trail $i | jq length)" -eq 1 &&
		trail $i | jq -r ".[0].body" | grep -q "gitlab!.*merge_requests/1)" &&
		for e in "gstg\-cny" "gprd\-cny" gstg gprd; do
			trail $i | jq -r ".[0].body" | grep -qF -e "- **$e**: 20" ||
			{ echo "!$i: no $e"; return 1; }
		done || return 1
	done &&
	for i in 6804 6805 6806; do
		test "$(trail $i | jq length)" -eq 0 || { echo "!$i has a note"; return 1; }
	done
'

test_expect_success 'the regression: #g_gitaly once with the suspect range, team tagged on the MR' '
	test "$(dstate "$T.mrs[1].state")" = opened &&
	R="compare/$(fp 3)...$(fp 0)" &&
	test "$(curl -sS "$DSIM/-/sim/slack" | jq "[.[] | select(.hook == \"g_gitaly\")] | length")" -eq 1 &&
	curl -sS "$DSIM/-/sim/slack" | jq -r ".[] | select(.hook == \"g_gitaly\") | .text" >g.txt &&
	grep -q "$R" g.txt && grep -q "Verdict\*: regression" g.txt &&
	test "$(dstate "[$T.mrs[1].notes[] | select(.body | startswith(\"@gl-gitaly\"))] | length")" -eq 1 &&
	test "$(dstate "[$T.mrs[1].notes[] | select(.body | contains(\"Regression suspected\"))] | length")" -eq 1 &&
	grep -q "Slack #g_gitaly" demo.out
'

test_expect_success 'the #g_gitaly message tags the team' '
	grep -q "@gl-gitaly" g.txt
'

test_expect_success 'it ends with the status issue and the page: both bumps, the story' '
	PAGE=$(sed -n "s/^  the page: *\(.*\)$/\1/p" demo.out) && test -s "$PAGE" &&
	test "$(dstate "$T.issues[] | select(.title == \"Gitaly release train status\") | .author.username")" = release-tools-bot &&
	D=$(dstate "$T.issues[] | select(.title == \"Gitaly release train status\") | .description") &&
	echo "$D" | grep -q "| retried, flake |" && echo "$D" | grep -q "| retried, regression |" &&
	echo "$D" | grep -q "lead time, source merge to gprd | median" &&
	grep -q "!2" "$PAGE" && ! grep -q "<script" "$PAGE"
'

test_expect_success 'KEEP=1: the printed URLs answer' '
	for u in $(sed -n "s/^  [a-z].*: *\(http[^ ]*\)$/\1/p" demo.out); do
		curl -sSf -o /dev/null "$u" || { echo "$u"; return 1; }
	done
'

test_done
