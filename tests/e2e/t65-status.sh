#!/bin/sh
# relay-status against a release-train history of 30 bumps made by the real
# stages (status_history.py, frozen clock): the status issue, status.json
# and metrics.txt are compared with tests/e2e/t65-status/ exactly, the page
# is opened in headless Chromium, a re-run writes nothing, and records
# that relay did not write are ignored.
# GOLDEN_UPDATE=1 rewrites the expected files (review the diff).
. "$(dirname "$0")/lib.sh"
GOLDEN=$TOP/tests/e2e/t65-status
sim_start
# 2026-10-01T00:00:00Z, frozen: the same history on every run
sim POST /clock '{"freeze_at": 1790812800}' >/dev/null
seed_default
sim POST /seed "{\"users\": [{\"username\": \"mallory\", \"token\": \"glpat-mallory-0005\"}],
  \"projects\": [{\"path\": \"gitlab-org/gitaly\", \"default_branch\": \"master\"}]}" >/dev/null
T='.projects["gitlab-org/gitlab"]'
ST=$TRASH/st
mkdir -p "$ST"
export RELAY_STATUS_DIR=$ST
status() { run status "$@"; }
writes() { requests '[.[] | select(.method != "GET")] | length'; }
issues() { state "$T.issues | length"; }
issue() { state "$T.issues[${2:-0}].$1"; }
# norm: the simulator's address, which changes per run, as a fixed name
norm() { sed "s|$SIM|http://gitlab.example|g"; }
# golden NAME: compare stdin (normalised) with the expected file
golden() {
	norm >"$TRASH/$1"
	if [ -n "${GOLDEN_UPDATE:-}" ]; then
		cp "$TRASH/$1" "$GOLDEN/$1"
	fi
	diff -u "$GOLDEN/$1" "$TRASH/$1"
}
# as_mallory METHOD PATH JSON: an API call by another user
as_mallory() {
	curl -sS --fail-with-body -X "$1" -H 'PRIVATE-TOKEN: glpat-mallory-0005' \
		-H 'Content-Type: application/json' --data-binary "$3" "$SIM/api/v4$2" >/dev/null
}
CHROMIUM_FLAGS="--headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update --disable-sync --no-first-run --hide-scrollbars"
# page_check FILE PNG: open FILE in headless Chromium with a fresh profile;
# fails on any console message (the page has no script, so any is an
# error), saves a screenshot
page_check() {
	command -v chromium >/dev/null || { echo "chromium missing (scripts/setup.sh installs it)"; return 1; }
	rm -rf "$TRASH/chromium" "$2"
	timeout 120 chromium $CHROMIUM_FLAGS --user-data-dir="$TRASH/chromium" \
		--enable-logging=stderr --v=0 --window-size=1200,1000 \
		--screenshot="$2" "file://$1" >"$TRASH/chromium.log" 2>&1
	if grep ':CONSOLE' "$TRASH/chromium.log"; then
		return 1
	fi
	test -s "$2"
}

test_expect_success 'nothing yet: empty window, null fields, exit 0 (dry run)' '
	status --dry-run && expect_rc 0 && test "$(jq -r ".bumps | length" "$ST/status.json")" -eq 0 &&
	test "$(jq -r .open_mr "$ST/status.json")" = null &&
	test "$(jq -r .target_url "$ST/status.json")" = null &&
	grep -q "no bump reached it yet" "$ST/status.md" && test "$(issues)" -eq 0
'

test_expect_success 'set-up: 30 bumps by the real stages, deployments hours apart' '
	python3 "$TOP/tests/e2e/status_history.py" "$SIM" &&
	test "$(state "$T.mrs | length")" -eq 30 &&
	test "$(state "[$T.mrs[] | select(.state == \"merged\")] | length")" -eq 28
'

test_expect_success 'RELAY_TOKEN missing: configuration error (78), one line' '
	run_unset RELAY_TOKEN status && expect_rc 78 && one_error_line &&
	grep -q RELAY_TOKEN err
'

test_expect_success 'a bad window or environment list is a usage error (64)' '
	RELAY_STATUS_BUMPS=0 status && expect_rc 64 && one_error_line &&
	grep -q RELAY_STATUS_BUMPS err &&
	RELAY_ENVIRONMENTS="gstg,<script>:x" status && expect_rc 64 &&
	one_error_line && grep -q RELAY_ENVIRONMENTS err && test "$(issues)" -eq 0
'

test_expect_success 'dry run: reads everything, writes no issue' '
	sim DELETE /requests >/dev/null && status --dry-run && expect_rc 0 &&
	grep -q "would create the status issue" err &&
	test "$(writes)" -eq 0 && test "$(issues)" -eq 0 && no_secrets
'

test_expect_success 'the status issue, exactly' '
	sim DELETE /requests >/dev/null && status && expect_rc 0 &&
	test "$(dotenv STATUS_ISSUE)" = created && test "$(dotenv STATUS_ISSUE_IID)" = 1 &&
	test "$(issues)" -eq 1 && test "$(writes)" -eq 1 &&
	test "$(issue title)" = "Gitaly release train status" &&
	test "$(issue author.username)" = release-tools-bot &&
	issue description | golden issue.md &&
	test "$(issue description)" = "$(cat "$ST/status.md")" && no_secrets
'

test_expect_success 'status.json and metrics.txt, exactly' '
	jq . "$ST/status.json" | golden status.json &&
	golden metrics.txt <"$ST/metrics.txt"
'

test_expect_success 'the story: flakes, a regression, a broken master, lead times' '
	test "$(jq -r "[.bumps[] | select(.events | map(.kind) | index(\"flake\"))] | length" "$ST/status.json")" -eq 3 &&
	test "$(jq -r "[.bumps[] | select(.events | map(.kind) | index(\"regression\"))] | .[0].iid" "$ST/status.json")" -eq 17 &&
	test "$(jq -r "[.bumps[] | select(.state == \"closed\")] | .[0].events | map(.kind) | join(\",\")" "$ST/status.json")" = broken-master,closed &&
	test "$(jq -r .lead_time_seconds.count "$ST/status.json")" -eq 27 &&
	test "$(jq -r .open_mr.pipeline.status "$ST/status.json")" = running &&
	grep -q "^relay_lead_time_seconds{component=\"Gitaly\",quantile=\"0.9\"} " "$ST/metrics.txt" &&
	tail -n 1 "$ST/metrics.txt" | grep -qx "# EOF"
'

test_expect_success 'status.html is self-contained: no script, no fetch, valid SVG' '
	! grep -Eiq "<script|<link|<iframe|<img|src=|url\(|@import" "$ST/status.html" &&
	python3 -c "import re, sys, xml.dom.minidom as m; s = open(sys.argv[1]).read(); m.parseString(re.search(r\"<svg.*</svg>\", s, re.S).group(0))" "$ST/status.html" &&
	test "$(grep -c "<circle cx" "$ST/status.html")" -gt 150 &&
	grep -q "median <span class=\"fig\">" "$ST/status.html"
'

test_expect_success 'headless Chromium renders the page with no console error' '
	mkdir -p "$TOP/build" && page_check "$ST/status.html" "$TOP/build/status.png" &&
	echo "<script>nosuch()</script>" >"$TRASH/bad.html" &&
	! page_check "$TRASH/bad.html" "$TRASH/bad.png"
'

test_expect_success 'a re-run changes nothing' '
	cp "$ST/status.html" "$ST/status.json" "$ST/metrics.txt" "$TRASH/" &&
	sim DELETE /requests >/dev/null && status && expect_rc 0 &&
	test "$(dotenv STATUS_ISSUE)" = unchanged && test "$(writes)" -eq 0 &&
	test "$(requests length)" -le $((9 + 3 * 30)) &&
	cmp "$ST/status.html" "$TRASH/status.html" &&
	cmp "$ST/status.json" "$TRASH/status.json" &&
	cmp "$ST/metrics.txt" "$TRASH/metrics.txt"
'

test_expect_success 'records relay did not write are ignored' '
	as_mallory POST /projects/gitlab-org%2Fgitlab/merge_requests/30/notes \
		"{\"body\": \"<!-- relay:deployed env=gprd slack=sent -->\"}" &&
	as_mallory POST /projects/gitlab-org%2Fgitlab/merge_requests/29/notes \
		"{\"body\": \"<!-- relay:regression pipeline=1 -->\"}" &&
	as_mallory POST /projects/gitlab-org%2Fgitlab/issues \
		"{\"title\": \"Gitaly release train status\", \"description\": \"forged <!-- relay:status component=Gitaly -->\"}" &&
	sim DELETE /requests >/dev/null && status && expect_rc 0 &&
	test "$(dotenv STATUS_ISSUE)" = unchanged && test "$(writes)" -eq 0 &&
	test "$(issue description 1)" = "forged <!-- relay:status component=Gitaly -->" &&
	cmp "$ST/status.json" "$TRASH/status.json"
'

test_expect_success 'an edited issue is put back in place, never duplicated' '
	curl -sS --fail-with-body -X PUT -H "PRIVATE-TOKEN: $BOT_TOKEN" -H "Content-Type: application/json" \
		--data-binary "{\"description\": \"edited <!-- relay:status component=Gitaly -->\"}" \
		"$SIM/api/v4/projects/gitlab-org%2Fgitlab/issues/1" >/dev/null &&
	status && expect_rc 0 && test "$(dotenv STATUS_ISSUE)" = updated &&
	test "$(dotenv STATUS_ISSUE_IID)" = 1 && test "$(issues)" -eq 2 &&
	issue description | golden issue.md
'

test_expect_success 'one issue per component: another component gets its own' '
	G=$(issue description) && mkdir -p "$TRASH/other" &&
	RELAY_COMPONENT="Praefect <b>" RELAY_STATUS_DIR="$TRASH/other" status && expect_rc 0 &&
	test "$(dotenv STATUS_ISSUE)" = created && test "$(issues)" -eq 3 &&
	test "$(issue title 2)" = "Praefect <b> release train status" &&
	issue description 2 | grep -q "<!-- relay:status component=Praefect__b_ -->" &&
	issue description 2 | grep -q "^Where each Praefect \\\\<b\\\\> update is" &&
	! grep -q "<b>" "$TRASH/other/status.html" &&
	test "$(issue description)" = "$G"
'

test_expect_success 'a new deployment moves the figures; the same issue is edited' '
	M29=$(state "$T.mrs[] | select(.iid == 29) | .merge_commit_sha") &&
	NOW=$(sim POST /clock "{\"advance_s\": 7200}" | jq -r .now | cut -c1-19)Z &&
	sim POST /deployments "{\"project\": \"gitlab-org/gitlab\", \"environment\": \"gstg\", \"sha\": \"$M29\"}" >/dev/null &&
	RELAY_DEPLOY_MAX_DAYS=3650 run track-deploy && expect_rc 0 &&
	status && expect_rc 0 && test "$(dotenv STATUS_ISSUE)" = updated &&
	test "$(issues)" -eq 3 &&
	test "$(jq -r ".bumps[] | select(.iid == 29) | .environments.gstg" "$ST/status.json")" = "$NOW"
'

test_expect_success 'RELAY_STATUS_FROM renders the same files from status.json, no request' '
	mkdir -p "$TRASH/again" && cp "$ST/status.json" "$TRASH/from.json" &&
	sim DELETE /requests >/dev/null &&
	RELAY_STATUS_FROM="$TRASH/from.json" RELAY_STATUS_DIR="$TRASH/again" status &&
	expect_rc 0 && test "$(requests length)" -eq 0 &&
	cmp "$ST/status.json" "$TRASH/again/status.json" &&
	cmp "$ST/status.html" "$TRASH/again/status.html" &&
	cmp "$ST/metrics.txt" "$TRASH/again/metrics.txt"
'

test_expect_success 'past the open-issue cap without its issue: 75, never a second issue' '
	sim POST /issues "{\"project\": \"gitlab-org/gitlab\", \"author\": \"release-tools-bot\", \"count\": 600, \"title\": \"chore {i}\"}" >/dev/null &&
	N=$(issues) && mkdir -p "$TRASH/wh" &&
	RELAY_COMPONENT=Workhorse RELAY_STATUS_DIR="$TRASH/wh" status && expect_rc 75 && one_error_line &&
	grep -q "not counted as absent" err && test "$(issues)" -eq "$N" &&
	status && expect_rc 0 && test "$(dotenv STATUS_ISSUE_IID)" = 1 && test "$(issues)" -eq "$N"
'

# spam N: N ordinary notes by another user on bump MR 29
spam() {
	sim POST /notes "{\"project\": \"gitlab-org/gitlab\", \"iid\": 29, \"count\": $1, \"author\": \"mallory\", \"body\": \"+1\"}" >/dev/null
}

test_expect_success 'a record under 1,100 newer notes is read (newest first); past the note cap: 75, never "none"' '
	M29=$(state "$T.mrs[] | select(.iid == 29) | .merge_commit_sha") && spam 1100 &&
	NOW=$(sim POST /clock "{\"advance_s\": 3600}" | jq -r .now | cut -c1-19)Z &&
	sim POST /deployments "{\"project\": \"gitlab-org/gitlab\", \"environment\": \"gprd\", \"sha\": \"$M29\"}" >/dev/null &&
	RELAY_DEPLOY_MAX_DAYS=3650 run track-deploy && expect_rc 0 && spam 100 &&
	status && expect_rc 0 &&
	test "$(jq -r ".bumps[] | select(.iid == 29) | .environments.gprd" "$ST/status.json")" = "$NOW" &&
	spam 4000 && status && expect_rc 75 && one_error_line &&
	grep -q "after the newest 5000 notes with more left unread" err && test "$(jq -r ".bumps[] | select(.iid == 29) | .environments.gprd" "$ST/status.json")" = "$NOW"
'

test_expect_success 'GitLab down: exit 75 with one line naming the request' '
	sim POST /faults "{\"path\": \"/notes\", \"kind\": \"status\", \"status\": 503, \"times\": -1}" >/dev/null &&
	status && expect_rc 75 && one_error_line && grep -q "notes" err &&
	sim DELETE /faults >/dev/null && no_secrets
'

test_done
