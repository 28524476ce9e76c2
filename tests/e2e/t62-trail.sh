#!/bin/sh
# relay-track-deploy's source notes (issue 18, section 1): each canonical
# MR of a bump's first-parent range gets one note by relay's identity
# saying where its change went, edited in place as it advances; a cap per
# run carries the rest to the next run; an off switch.
. "$(dirname "$0")/lib.sh"
sim_start
seed_default
T='.projects["gitlab-org/gitlab"]'
G='.projects["gitlab-org/gitaly"]'
sim POST /seed '{"projects": [{"path": "gitlab-org/gitaly", "default_branch": "master"}]}' >/dev/null
sim POST /mrs '{"project": "gitlab-org/gitaly", "count": 4}' >/dev/null
# the security mirror's history: a canonical MR merged fast-forward, three
# canonical MRs, one of the mirror's own, a plain commit
src_commits '[{"message": "Fast-forwarded"},
	{"message": "Add cache", "merge": 1, "mr": 1, "mr_project": "gitlab-org/gitaly"},
	{"message": "Security fix", "merge": 1, "mr": 9},
	{"message": "Fix leak", "merge": 1, "mr": 2, "mr_project": "gitlab-org/gitaly"},
	{"message": "Plain commit"},
	{"message": "Docs", "merge": 1, "mr": 3, "mr_project": "gitlab-org/gitaly"}]'
# gitaly !5 was merged fast-forward: its commit, oldest of the range, is
# in the canonical history but no "See merge request" line names it
SQUASH=$(nth 1)
sim POST /commits "{\"project\": \"gitlab-org/gitaly\", \"commits\": [{\"id\": \"$SQUASH\", \"message\": \"x\"}]}" >/dev/null
sim POST /mrs "{\"project\": \"gitlab-org/gitaly\", \"iids\": [5], \"commits\": [\"$SQUASH\"]}" >/dev/null
open_bump "$(nth 6)"
mr_pipeline success >/dev/null
M1=$(state "$T.mrs[0].merge_commit_sha")
deploy() {
	sim POST /deployments "{\"project\": \"gitlab-org/gitlab\", \"environment\": \"$1\", \"sha\": \"$2\", \"status\": \"success\"}" >/dev/null
}
# relay's notes on gitaly MR I carrying the trail marker
trail() { state "[$G.mrs[] | select(.iid == $1) | .notes[] | select(.author.username == \"release-tools-bot\" and (.body | contains(\"relay:trail target=gitlab-org/gitlab \")))]"; }
ntrail() { trail "$1" | jq length; }
says() { trail "$1" | jq -r '.[0].body' | grep -qF -- "$2"; }
writes() { requests '[.[] | select(.method != "GET")] | length'; }
gitaly_writes() { requests '[.[] | select(.method != "GET" and (.path | contains("gitlab-org%2Fgitaly")))] | length'; }
# forge_gitaly IID BODY: a note by another user on gitaly MR IID
forge_gitaly() {
	forge 1 "seeding mallory" && jq -n --arg b "$2" '{body: $b}' | curl -sS --fail-with-body -X POST \
		-H "PRIVATE-TOKEN: $MALLORY_TOKEN" -H 'Content-Type: application/json' \
		--data-binary @- "$CI_API_V4_URL/projects/gitlab-org%2Fgitaly/merge_requests/$1/notes" >/dev/null
}
track() { MR_IID=1 run track-deploy "$@"; }
export RELAY_SOURCE_NOTES_ENVS=gstg-cny,gprd

test_expect_success 'set-up: the bump MR merged, its range holds gitaly !1 !2 !3' '
	test "$(state "$T.mrs[0].state")" = merged && test ${#M1} -eq 40
'

test_expect_success 'off switch: the environment is announced, no source note' '
	deploy gstg-cny "$M1" && sim DELETE /requests >/dev/null &&
	RELAY_SOURCE_NOTES=false track && expect_rc 0 &&
	test "$(dotenv DEPLOY_STAGE)" = gstg-cny &&
	test "$(gitaly_writes)" -eq 0 && test "$(ntrail 1)" -eq 0
'

test_expect_success 'RELAY_SOURCE_NOTES_ENVS naming no environment is a usage error (64)' '
	RELAY_SOURCE_NOTES_ENVS=nowhere track && expect_rc 64 &&
	one_error_line && grep -q RELAY_SOURCE_NOTES_ENVS err
'

test_expect_success 'a cap of 2: two source notes, the third left for the next run' '
	forge_gitaly 1 "forged <!-- relay:trail target=gitlab-org/gitlab slack=none -->" &&
	RELAY_SOURCE_NOTES_MAX=2 track && expect_rc 0 &&
	test "$(ntrail 3)" -eq 1 && test "$(ntrail 2)" -eq 1 && test "$(ntrail 1)" -eq 0 &&
	says 3 "**gstg\\-cny**: 20" && says 3 "/gitlab-org/gitlab/-/merge_requests/1)" && ! says 3 "**gprd**" &&
	grep -q "2 source note(s) left for the next run" err &&
	test "$(state "[$G.mrs[] | select(.iid == 4) | .notes[]] | length")" -eq 0
'

test_expect_success 'the next run (every merged bump) writes the rest; the forged note is ignored' '
	run track-deploy && expect_rc 0 &&
	test "$(ntrail 1)" -eq 1 && says 1 "**gstg\\-cny**: 20" &&
	test "$(ntrail 5)" -eq 1 && says 5 "**gstg\\-cny**: 20" &&
	test "$(state "[$G.mrs[] | select(.iid == 1) | .notes[] | select(.author.username == \"mallory\")] | length")" -eq 1
'

test_expect_success 'running again writes nothing' '
	sim DELETE /requests >/dev/null && track && expect_rc 0 &&
	run track-deploy && expect_rc 0 && test "$(writes)" -eq 0
'

test_expect_success 'production, 3 racing runs: each note edited in place, one per MR' '
	id1=$(trail 1 | jq ".[0].id") && deploy gprd "$M1" && sim DELETE /requests >/dev/null &&
	pids="" && for i in 1 2 3; do
		(MR_IID=1 RELAY_DOTENV="$TRASH/env.$i" "$RELAY_BIN/relay-track-deploy" >"out.$i" 2>"err.$i"; echo $? >"rc.$i") &
		pids="$pids $!"
	done && for p in $pids; do wait "$p"; done &&
	for i in 1 2 3; do test "$(cat rc.$i)" -eq 0 || { cat err.$i; false; }; done &&
	for i in 1 2 3; do test "$(ntrail $i)" -eq 1 && says $i "**gprd**: 20" && says $i "**gstg\\-cny**: 20" || return 1; done &&
	test "$(trail 1 | jq ".[0].id")" = "$id1"
'

test_expect_success 'after production: re-runs change nothing' '
	sim DELETE /requests >/dev/null && run track-deploy && expect_rc 0 &&
	track && expect_rc 0 && test "$(gitaly_writes)" -eq 0 &&
	for i in 1 2 3; do test "$(ntrail $i)" -eq 1 || return 1; done
'

test_done
