#!/bin/sh
# relay-open-mr racing itself (two, then ten runs at once against one
# simulator, as when resource_group is missing or two projects share a
# target): exactly one MR, one commit; and the chain under 50 ms of latency
# per request keeps within its request budgets.
. "$(dirname "$0")/lib.sh"
sim_start
T='.projects["gitlab-org/gitlab"]'
mrs() { state "[$T.mrs[] | select(.state == \"opened\")] | length"; }
depth() { state "$T.branch_depth[\"$1\"]"; }
# commits: commits made through the API that GitLab accepted
commits() { requests '[.[] | select(.method == "POST" and (.path | endswith("/repository/commits")) and .status == 201)] | length'; }

# race N GREEN: N relay-open-mr runs started together; each leaves its
# exit code in rc.I and its report in env.I
race() {
	n=$1 i=0 pids=""
	while [ $i -lt "$n" ]; do
		i=$((i + 1))
		(GREEN_SHA=$2 CURRENT_SHA=$SRC_ROOT RELAY_DOTENV="$TRASH/env.$i" \
			"$RELAY_BIN/relay-open-mr" >"out.$i" 2>"err.$i"
		echo $? >"rc.$i") &
		pids="$pids $!"
	done
	for p in $pids; do wait "$p"; done
}
all_ok() { # every run exited 0 and reports MR 1
	i=0
	while [ $i -lt "$1" ]; do
		i=$((i + 1))
		[ "$(cat "rc.$i")" -eq 0 ] || { echo "run $i: exit $(cat "rc.$i")"; cat "err.$i"; return 1; }
		grep -q '^MR_IID=1$' "$TRASH/env.$i" || { echo "run $i:"; cat "$TRASH/env.$i"; return 1; }
	done
}
fresh() {
	sim POST /reset >/dev/null && seed_default &&
	src_commits '[{"message": "Add cache", "merge": 1}, {"message": "Fix leak", "merge": 2}]'
}

test_expect_success 'two runs at once: one MR, one commit, both succeed' '
	fresh && sim DELETE /requests >/dev/null && race 2 "$(nth 1)" &&
	all_ok 2 && test "$(mrs)" -eq 1 && test "$(commits)" -eq 1 &&
	test "$(depth release-tools/update-gitaly)" -eq $(($(depth master) + 1)) &&
	test "$(state "$T.files[\"release-tools/update-gitaly\"][\"GITALY_SERVER_VERSION\"]")" = "$(nth 1)"
'

test_expect_success 'ten runs at once: one MR, one commit, all succeed' '
	fresh && sim DELETE /requests >/dev/null && race 10 "$(nth 1)" &&
	all_ok 10 && test "$(mrs)" -eq 1 && test "$(commits)" -eq 1 &&
	test "$(depth release-tools/update-gitaly)" -eq $(($(depth master) + 1))
'

# An existing branch has no compare-and-swap in GitLab's API: each run
# replaces it with target + one commit (force), so racing updates may push
# more than once, but end the same; resource_group in templates/open-mr.yml
# keeps scheduled runs from racing at all.
test_expect_success 'ten runs moving the MR to a new SHA: one MR, target + one commit' '
	race 10 "$(nth 2)" && codes=$(cat rc.* | sort -u | tr "\n" " ") &&
	echo "exit codes: $codes" && ! echo "$codes" | grep -qv -e "^0 $" -e "^0 75 $" -e "^75 $" &&
	test "$(mrs)" -eq 1 &&
	test "$(depth release-tools/update-gitaly)" -eq $(($(depth master) + 1)) &&
	test "$(state "$T.files[\"release-tools/update-gitaly\"][\"GITALY_SERVER_VERSION\"]")" = "$(nth 2)"
'

test_expect_success 'after the race, one more run finds nothing to change' '
	sim DELETE /requests >/dev/null &&
	GREEN_SHA=$(nth 2) CURRENT_SHA=$SRC_ROOT run open-mr && expect_rc 0 &&
	test "$(commits)" -eq 0 && test "$(mrs)" -eq 1 &&
	test "$(state "$T.mrs[0].approved_by | length")" -eq 1
'

# Request budgets (README "Request budgets"): the most API and Slack
# requests a stage makes in the common case.
BUDGET_find_green=5 BUDGET_open_mr=12 BUDGET_watch=4 BUDGET_triage=11
BUDGET_notify=8 BUDGET_track_deploy=12
# Round budgets: the most sequential rounds (GET /-/sim/rounds: requests
# in flight together count once), the dependent-round bound of
# BENCHMARKS.md "Rounds": independent requests go out side by side
ROUNDS_find_green=3 ROUNDS_open_mr=7
# stage NAME [ARGS]: run under latency, then check its requests and rounds
stage() {
	sim DELETE /requests >/dev/null && run "$@" &&
	s=$(echo "$1" | tr - _) && n=$(requests length) &&
	b=$(eval echo "\$BUDGET_$s") && r=$(sim GET /rounds | jq .rounds) &&
	rb=$(eval echo "\${ROUNDS_$s:-$(sim GET /rounds | jq .requests)}") &&
	echo "$1: $n requests, budget $b; $r rounds, budget $rb; exit $rc" >>"$TRASH/budgets" &&
	[ "$n" -le "$b" ] || { echo "$1 made $n requests, budget $b"; return 1; }
	[ "$r" -le "$rb" ] || { echo "$1 took $r rounds, budget $rb"; return 1; }
}

test_expect_success 'with 50 ms per request, the whole chain finishes within its request budgets' '
	fresh && sim POST /latency "{\"ms\": 50}" >/dev/null &&
	P=$(pipeline "$(nth 2)" success) && : >"$TRASH/budgets" &&
	stage find-green && expect_rc 0 && load_dotenv &&
	stage open-mr && expect_rc 0 && load_dotenv &&
	PL=$(mr_pipeline failed "[{\"name\": \"rspec\", \"status\": \"failed\"}]") &&
	stage watch && expect_rc 1 && load_dotenv && test "$OUTCOME" = failed &&
	stage triage && expect_rc 0 && load_dotenv && test "$TRIAGE" = flake-retried &&
	stage notify && expect_rc 0 &&
	set_jobs "$PL" "{\"rspec\": \"failed\"}" &&
	stage watch && expect_rc 1 && load_dotenv &&
	stage triage && expect_rc 0 && load_dotenv && test "$TRIAGE" = regression &&
	stage notify && expect_rc 0 && test "$(dotenv NOTIFIED)" = true &&
	mr_pipeline success >/dev/null &&
	stage open-mr && expect_rc 0 && test "$(state "$T.mrs[0].state")" = merged &&
	sim POST /deployments "{\"project\": \"gitlab-org/gitlab\", \"environment\": \"gstg-cny\", \"sha\": \"$(state "$T.mrs[0].merge_commit_sha")\", \"status\": \"success\"}" >/dev/null &&
	stage track-deploy && expect_rc 0 && test "$(dotenv DEPLOY_STAGE)" = gstg-cny &&
	sed "s/^/# /" "$TRASH/budgets"
'

test_done
