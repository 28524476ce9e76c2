#!/bin/sh
# relay-bisect against the simulator: ranges of 1, 2, 7 and 40 changes
# with the culprit at each end and in the middle, k=2 and k=3, one round
# per run; a flaky draft, a commit without a green pipeline, the bump MR
# closed mid-bisect, a new green commit mid-bisect, bisect off, and no
# duplicate over re-runs.
. "$(dirname "$0")/lib.sh"
sim_start
T='.projects["gitlab-org/gitlab"]'
JOB=gitaly-integration

# fresh N [NOGREEN...]: a new world: N merged changes after the pinned
# root, each green but those listed (1-based), and the bump MR !1 pinning
# the last, whose pipeline failed in $JOB
fresh() {
	n=$1
	shift
	sim POST /reset >/dev/null
	out=$(sim POST /seed "{
	  \"users\": [
	    {\"username\": \"release-tools-bot\", \"token\": \"$BOT_TOKEN\"},
	    {\"username\": \"approver-bot\", \"token\": \"$APPROVER_TOKEN\"},
	    {\"username\": \"someone\", \"token\": \"glpat-someone\"}],
	  \"projects\": [
	    {\"path\": \"gitlab-org/security/gitaly\", \"default_branch\": \"master\"},
	    {\"path\": \"gitlab-org/gitaly\", \"default_branch\": \"master\"},
	    {\"path\": \"gitlab-org/gitlab\", \"default_branch\": \"master\",
	     \"mr_pipeline_status\": \"running\",
	     \"mr_pipeline_jobs\": [{\"name\": \"$JOB\"}, {\"name\": \"rspec\"}],
	     \"files\": {\"GITALY_SERVER_VERSION\": \"placeholder\\n\"}}]}")
	SRC_ROOT=$(echo "$out" | jq -r '.projects["gitlab-org/security/gitaly"].root')
	sim POST /commits "{\"project\": \"gitlab-org/gitlab\", \"commits\": [
	  {\"message\": \"Pin Gitaly\", \"files\": {\"GITALY_SERVER_VERSION\": \"$SRC_ROOT\\n\"}}]}" >/dev/null
	specs=$(python3 -c "import json,sys; print(json.dumps([{'message': f'Change {i}', 'merge': 1, 'mr': 100 + i, 'mr_author': 'someone', 'files': {f'change-{i}.txt': f'{i}\\n'}} for i in range(1, int(sys.argv[1]) + 1)]))" "$n")
	src_commits "$specs"
	# the canonical project holds the same history (the mirror's source)
	sim POST /commits "{\"project\": \"gitlab-org/gitaly\", \"commits\": [{\"id\": \"$(nth "$n")\", \"message\": \"x\"}]}" >/dev/null
	i=0
	for s in $SHAS; do
		i=$((i + 1))
		case " $* " in *" $i "*) continue ;; esac
		pipeline "$s" success >/dev/null
	done
	open_bump "$(nth "$n")" || return 1
	sim PATCH /mrs/gitlab-org%2Fgitlab/1 '{"auto_merge": false}' >/dev/null
	set_jobs "$(state "$T.mrs[0].head_pipeline.id")" "{\"$JOB\": \"failed\", \"rspec\": \"success\"}"
}

bisect() {
	MR_IID=1 TRIAGE=regression FAILED_JOBS=$JOB RELAY_BISECT=true run bisect "$@"
}
# drafts [STATE]: relay::bisect MRs (opened by default)
drafts() { state "[$T.mrs[] | select(.labels | index(\"relay::bisect\")) | select(.state == \"${1:-opened}\")] | length"; }
all_drafts() { state "[$T.mrs[] | select(.labels | index(\"relay::bisect\"))] | length"; }
bisect_notes() { state "[$T.mrs[0].notes[] | select(.body | contains(\"relay:bisect-$1\"))] | length"; }
# index SHA: its 1-based place in SHAS
index() { echo "$SHAS" | tr ' ' '\n' | grep -n "^$1" | cut -d: -f1; }

# answer CULPRIT [FLAKY-INDEX]: every open draft's pipeline finishes:
# the culprit and later fail $JOB, earlier ones pass; a draft of
# FLAKY-INDEX fails rspec instead
answer() {
	for iid in $(state "$T.mrs[] | select(.labels | index(\"relay::bisect\")) | select(.state == \"opened\") | .iid"); do
		short=$(state "$T.mrs[] | select(.iid == $iid) | .title" | sed 's/.* at //')
		i=$(index "$short")
		pl=$(state "$T.mrs[] | select(.iid == $iid) | .head_pipeline.id")
		if [ "$i" = "${2:-}" ]; then
			set_jobs "$pl" "{\"$JOB\": \"success\", \"rspec\": \"failed\"}"
		elif [ "$i" -ge "$1" ]; then
			set_jobs "$pl" "{\"$JOB\": \"failed\", \"rspec\": \"success\"}"
		else
			set_jobs "$pl" "{\"$JOB\": \"success\", \"rspec\": \"success\"}"
		fi
	done
}

# drive CULPRIT [FLAKY]: run bisect until it ends; ROUNDS is the rounds
drive() {
	k=0
	while [ $k -lt 30 ]; do
		k=$((k + 1))
		bisect
		[ "$rc" -eq 0 ] || { cat err; return 1; }
		[ "$(dotenv BISECT)" = running ] || break
		# never more than one round of drafts open
		[ "$(drafts)" -le $((${RELAY_BISECT_WAYS:-2} - 1)) ] || return 1
		answer "$@"
	done
	ROUNDS=$(state "$T.mrs[0].notes[] | select(.body | contains(\"relay:bisect-state\")) | .body" | sed -n 's/^round=//p')
	echo "# rounds: $ROUNDS, drafts: $(all_drafts)"
}

# found N CULPRIT [MAXROUNDS]: a range of N with the culprit at CULPRIT
found() {
	fresh "$1" && drive "$2" && expect_rc 0 &&
	test "$(dotenv BISECT)" = found &&
	test "$(dotenv SUSPECT_SHA)" = "$(nth "$2")" &&
	test "$(dotenv SUSPECT_MR)" = "gitlab-org/security/gitaly!$((100 + $2))" &&
	test "$(drafts)" -eq 0 && test "$(bisect_notes verdict)" -eq 1 &&
	test "$(bisect_notes state)" -eq 1 &&
	{ [ -z "${3:-}" ] || [ "$ROUNDS" -le "$3" ]; }
}

test_expect_success 'bisect off (the default): nothing happens, no request' '
	fresh 7 && sim DELETE /requests >/dev/null &&
	MR_IID=1 TRIAGE=regression FAILED_JOBS=$JOB run bisect && expect_rc 0 &&
	test "$(dotenv BISECT)" = off && test "$(requests length)" -eq 0 &&
	test "$(all_drafts)" -eq 0
'

test_expect_success 'no regression: nothing to bisect' '
	MR_IID=1 TRIAGE=flake RELAY_BISECT=true run bisect && expect_rc 0 &&
	test "$(dotenv BISECT)" = none && test "$(all_drafts)" -eq 0 &&
	test "$(bisect_notes state)" -eq 0
'

test_expect_success 'the first round: one draft pinning the middle, labelled, never set to merge' '
	bisect && expect_rc 0 && test "$(dotenv BISECT)" = running &&
	test "$(drafts)" -eq 1 &&
	test "$(state "$T.mrs[1].source_branch")" = "release-tools/bisect-gitaly-$(nth 4 | cut -c1-8)" &&
	test "$(state "$T.mrs[1].draft")" = true &&
	test "$(state "$T.mrs[1].auto_merge")" = false &&
	test "$(state "$T.mrs[1].title")" = "Draft: Bisect Gitaly at $(nth 4 | cut -c1-12)" &&
	no_secrets
'

test_expect_success 're-runs while the draft runs open nothing more' '
	for x in 1 2 3 4 5 6 7 8 9 10; do bisect; [ "$rc" -eq 0 ] || return 1; done &&
	test "$(all_drafts)" -eq 1 && test "$(bisect_notes state)" -eq 1 &&
	test "$(dotenv BISECT)" = running
'

for n in 1 2 7 40; do
	for at in first middle last; do
		case $at in
		first) c=1 ;;
		middle) c=$(((n + 1) / 2)) ;;
		last) c=$n ;;
		esac
		max=""
		[ "$n" -eq 40 ] && max=6
		test_expect_success "$n changes, culprit $at ($c): found, drafts closed" "found $n $c $max"
	done
done

test_expect_success 'a range of 1: the verdict needs no draft' '
	fresh 1 && drive 1 && test "$(all_drafts)" -eq 0 && test "$(dotenv BISECT)" = found
'

test_expect_success '40 changes with k=3: at most 4 rounds, two drafts a round' '
	RELAY_BISECT_WAYS=3 && export RELAY_BISECT_WAYS &&
	found 40 17 4 && found 40 1 4 && found 40 40 4; r=$?;
	unset RELAY_BISECT_WAYS; return $r
'

test_expect_success 'the verdict: a note naming the source MR, its title and author; Slack once' '
	found 7 3 &&
	state "$T.mrs[0].notes[] | select(.body | contains(\"relay:bisect-verdict\")) | .body" >note &&
	grep -q "gitlab-org/security/gitaly!103" note && grep -q "Change 3" note &&
	grep -q "/gitlab-org/security/gitaly/-/merge_requests/103" note &&
	grep -q "Change 3 by Someone:" note &&
	sim GET /slack | jq -r ".[-1].text" | grep -q "Change 3 by Someone" &&
	grep -q "slack=sent" note &&
	test "$(sim GET /slack | jq "[.[] | select(.text | contains(\"bisected\"))] | length")" -eq 1 &&
	sim GET /slack | jq -r ".[-1].text" | grep -q "gitlab-org/security/gitaly!103"
'

test_expect_success 'ten re-runs after the verdict: no second note, draft or Slack post' '
	for x in 1 2 3 4 5 6 7 8 9 10; do bisect; [ "$rc" -eq 0 ] || return 1; done &&
	test "$(bisect_notes verdict)" -eq 1 && test "$(drafts)" -eq 0 &&
	test "$(sim GET /slack | jq "[.[] | select(.text | contains(\"bisected\"))] | length")" -eq 1 &&
	test "$(dotenv SUSPECT_SHA)" = "$(nth 3)"
'

# world: what a duplicate would add to (MRs, notes, branches, issues,
# Slack posts, pipelines retried), in one line
world() {
	echo "$(state "[.projects[] | .mrs[]] | length") $(state "[.projects[] | .mrs[] | .notes[]] | length")" \
		"$(state "[.projects[] | .branches | keys[]] | length") $(state "[.projects[] | .issues[]?] | length")" \
		"$(sim GET /slack | jq length) $(state "[.projects[] | .pipelines[]?] | length")"
}
# chain: every stage of the hourly chain once, values handed over as the
# components hand them (find-green's report to open-mr, watch's to the rest)
chain() {
	run find-green && [ "$rc" -eq 0 ] || { echo "find-green $rc"; cat err; return 1; }
	G=$(dotenv GREEN_SHA) C=$(dotenv CURRENT_SHA)
	GREEN_SHA=$G CURRENT_SHA=$C run open-mr && [ "$rc" -eq 0 ] || { echo "open-mr $rc"; cat err; return 1; }
	MR_IID=1 run watch && [ "$rc" -le 1 ] || { echo "watch $rc"; cat err; return 1; }
	O=$(dotenv OUTCOME) P=$(dotenv PIPELINE_ID) F=$(dotenv FAILED_JOBS)
	MR_IID=1 OUTCOME=$O PIPELINE_ID=$P FAILED_JOBS=$F run triage && [ "$rc" -eq 0 ] || { echo "triage $rc"; cat err; return 1; }
	V=$(dotenv TRIAGE)
	MR_IID=1 TRIAGE=$V FAILED_JOBS=$F RELAY_BISECT=true run bisect && [ "$rc" -eq 0 ] || { echo "bisect $rc"; cat err; return 1; }
	MR_IID=1 OUTCOME=$O PIPELINE_ID=$P FAILED_JOBS=$F TRIAGE=$V run notify && [ "$rc" -eq 0 ] || { echo "notify $rc"; cat err; return 1; }
	MR_IID=1 run track-deploy && [ "$rc" -eq 0 ] || { echo "track-deploy $rc"; cat err; return 1; }
}

test_expect_success 'mid-bisect, ten runs of every stage of the chain: nothing duplicated' '
	fresh 7 && bisect && expect_rc 0 && test "$(drafts)" -eq 1 &&
	chain &&
	test "$(state "[$T.mrs[0].notes[] | select(.body | contains(\"relay:retried\"))] | length")" -eq 1 &&
	set_jobs "$(state "$T.mrs[0].head_pipeline.id")" "{\"$JOB\": \"failed\"}" &&
	chain && W=$(world) && x=0 &&
	while [ $x -lt 10 ]; do
		x=$((x + 1)) && chain && test "$(world)" = "$W" ||
		{ echo "run $x: $(world), was $W"; return 1; }
	done &&
	test "$(drafts)" -eq 1 && test "$(bisect_notes state)" -eq 1 &&
	test "$(state "[$T.mrs[0].notes[] | select(.body | contains(\"relay:notified\"))] | length")" -eq 1 &&
	test "$(sim GET /slack | jq "[.[] | select(.hook | startswith(\"failures-\"))] | length")" -eq 1 &&
	test "$(state "[$T.mrs[] | select(.labels | index(\"relay::bisect\") | not) | select(.state == \"opened\")] | length")" -eq 1
'

C='.projects["gitlab-org/gitaly"]'
test_expect_success 'RELAY_OFFER_REVERT: one draft revert MR in the canonical project, ten re-runs add none' '
	RELAY_OFFER_REVERT=true && export RELAY_OFFER_REVERT &&
	found 7 5 && test "$(state "$C.mrs | length")" -eq 1 &&
	B=$(state "$C.mrs[0].source_branch") &&
	test "$B" = "release-tools/revert-gitaly-$(nth 5 | cut -c1-8)" &&
	test "$(state "$C.mrs[0].draft")" = true &&
	test "$(state "$C.mrs[0].target_branch")" = master &&
	state "$C.branch_commits[\"$B\"].message" | grep -q "This reverts commit $(nth 5)" &&
	test "$(state "$C.files[\"$B\"][\"change-5.txt\"]")" = null &&
	test "$(state "$C.files[\"$B\"][\"change-4.txt\"]")" = "4" &&
	test "$(dotenv REVERT_MR_URL)" = "$(state "$C.mrs[0].web_url")" &&
	state "$C.mrs[0].description" | grep -q "merge_requests/1" &&
	for x in 1 2 3 4 5 6 7 8 9 10; do bisect; [ "$rc" -eq 0 ] || return 1; done &&
	test "$(state "$C.mrs | length")" -eq 1 && test "$(state "$C.branch_depth[\"$B\"]")" -eq "$(($(state "$C.branch_depth.master") + 1))" &&
	test "$(bisect_notes verdict)" -eq 1; r=$?; unset RELAY_OFFER_REVERT; return $r
'

test_expect_success 'RELAY_OFFER_REVERT: a lost answer to the revert does not revert twice' '
	RELAY_OFFER_REVERT=true && export RELAY_OFFER_REVERT &&
	sim POST /faults "{\"path\": \"/revert$\", \"kind\": \"drop\", \"apply\": true, \"times\": 1}" >/dev/null &&
	fresh 2 && drive 2; bisect; bisect; sim DELETE /faults >/dev/null;
	B=$(state "$C.mrs[0].source_branch") &&
	test "$(state "$C.mrs | length")" -eq 1 &&
	test "$(state "$C.branch_depth[\"$B\"]")" -eq "$(($(state "$C.branch_depth.master") + 1))"; r=$?; unset RELAY_OFFER_REVERT; return $r
'

test_expect_success 'a flaky draft (another job failed) is retried once, then counts' '
	fresh 7 && bisect && P=$(state "$T.mrs[1].head_pipeline.id") &&
	set_jobs "$P" "{\"$JOB\": \"success\", \"rspec\": \"failed\"}" &&
	bisect && expect_rc 0 && test "$(dotenv BISECT)" = running &&
	test "$(requests "[.[] | select(.method == \"POST\" and (.path | endswith(\"/pipelines/$P/retry\")))] | length")" -eq 1 &&
	test "$(drafts)" -eq 1 && drive 2 && test "$(dotenv SUSPECT_SHA)" = "$(nth 2)"
'

test_expect_success 'a point failing differently twice is skipped: inconclusive with the narrowed range' '
	fresh 2 && bisect && P=$(state "$T.mrs[1].head_pipeline.id") &&
	set_jobs "$P" "{\"$JOB\": \"success\", \"rspec\": \"failed\"}" && bisect &&
	set_jobs "$P" "{\"rspec\": \"failed\"}" && bisect && expect_rc 0 &&
	test "$(dotenv BISECT)" = inconclusive && test "$(drafts)" -eq 0 &&
	test "$(dotenv BISECT_RANGE)" = "$(nth 1 | cut -c1-12)..$(nth 2 | cut -c1-12)" &&
	state "$T.mrs[0].notes[] | select(.body | contains(\"relay:bisect-verdict\")) | .body" | grep -q inconclusive
'

test_expect_success 'a commit without a green pipeline is never pinned' '
	fresh 7 4 && bisect && test "$(drafts)" -eq 1 &&
	test "$(state "$T.mrs[1].title")" = "Draft: Bisect Gitaly at $(nth 3 | cut -c1-12)" &&
	drive 6 && test "$(dotenv SUSPECT_SHA)" = "$(nth 6)" &&
	test "$(state "[$T.mrs[] | select(.title | contains(\"$(nth 4 | cut -c1-12)\"))] | length")" -eq 0
'

test_expect_success 'the bump MR closed mid-bisect: its drafts are closed, their branches gone' '
	fresh 40 && bisect && test "$(drafts)" -eq 1 &&
	B=$(state "$T.mrs[1].source_branch") &&
	sim PATCH /mrs/gitlab-org%2Fgitlab/1 "{\"state\": \"closed\"}" >/dev/null &&
	bisect && expect_rc 0 && test "$(dotenv BISECT)" = aborted &&
	test "$(drafts)" -eq 0 && test "$(state "$T.branches[\"$B\"]")" = null &&
	bisect && test "$(all_drafts)" -eq 1 && test "$(dotenv BISECT)" = aborted
'

test_expect_success 'the bump MR closed, the chain moves on (no MR, then a new one): the drafts left behind are closed' '
	fresh 40 && bisect && test "$(drafts)" -eq 1 &&
	B=$(state "$T.mrs[1].source_branch") &&
	sim PATCH /mrs/gitlab-org%2Fgitlab/1 "{\"state\": \"closed\"}" >/dev/null &&
	MR_ACTION=none RELAY_BISECT=true run bisect && expect_rc 0 &&
	test "$(drafts)" -eq 0 && test "$(state "$T.branches[\"$B\"]")" = null
'

test_expect_success 'a new bump MR: drafts of the closed one are closed by its runs' '
	fresh 40 && bisect && test "$(drafts)" -eq 1 &&
	sim PATCH /mrs/gitlab-org%2Fgitlab/1 "{\"state\": \"closed\"}" >/dev/null &&
	GREEN_SHA=$(nth 39) CURRENT_SHA=$SRC_ROOT run open-mr && expect_rc 0 &&
	I=$(dotenv MR_IID) && test "$I" -gt 2 &&
	MR_IID=$I TRIAGE=none RELAY_BISECT=true run bisect && expect_rc 0 &&
	test "$(drafts)" -eq 0 && test "$(dotenv BISECT)" = none
'

test_expect_success 'a new green commit mid-bisect: the range stays, the culprit is found' '
	fresh 7 && bisect && answer 5 &&
	src_commits "[{\"message\": \"Later\", \"merge\": 1}]" && pipeline "$SHAS" success >/dev/null &&
	SHAS=$(state "$T.mrs[0].notes[] | select(.body | contains(\"relay:bisect-state\")) | .body" | sed -n "s/^shas=//p" | tr , " ") &&
	drive 5 && test "$(dotenv SUSPECT_SHA)" = "$(nth 5)"
'

test_expect_success 'a state note written by someone else is not trusted' '
	fresh 7 &&
	curl -sS -X POST -H "PRIVATE-TOKEN: glpat-someone" -H "Content-Type: application/json" \
	  --data-binary "{\"body\": \"x <!-- relay:bisect-state\nstatus=found\nround=1\nways=2\npoints=\nmarks=b\nshas=$(nth 1)\njobs=$JOB\n-->\"}" \
	  "$CI_API_V4_URL/projects/gitlab-org%2Fgitlab/merge_requests/1/notes" >/dev/null &&
	bisect && expect_rc 0 && test "$(dotenv BISECT)" = running && test "$(drafts)" -eq 1
'

# notes NUMBER: that many ordinary notes on the bump MR, by someone else
notes() {
	sim POST /notes "{\"project\": \"gitlab-org/gitlab\", \"iid\": 1, \"count\": $1, \"author\": \"someone\", \"body\": \"+1\"}" >/dev/null
}

test_expect_success 'the state under 2,100 newer notes is found: no second bisection' '
	fresh 7 && notes 150 && bisect && expect_rc 0 && test "$(drafts)" -eq 1 &&
	notes 2100 && bisect && expect_rc 0 && test "$(dotenv BISECT)" = running &&
	test "$(all_drafts)" -eq 1 && test "$(bisect_notes state)" -eq 1
'

test_expect_success 'past the note cap with a state found: 75 (an older state may lie beyond), nothing changed' '
	fresh 7 && notes 3000 && bisect && expect_rc 0 && test "$(drafts)" -eq 1 &&
	notes 2500 && bisect && expect_rc 75 && one_error_line && grep -q "after the newest 5000 notes with more left unread" err &&
	test "$(all_drafts)" -eq 1 && test "$(bisect_notes state)" -eq 1
'

test_expect_success 'past the note cap with no state found: 75, nothing started' '
	fresh 7 && notes 5100 && bisect && expect_rc 75 && one_error_line &&
	grep -q "looking for the bisection state" err &&
	test "$(all_drafts)" -eq 0 && test "$(bisect_notes state)" -eq 0
'

test_expect_success 'a 5xx is temporary (75), the next run resumes without duplicates' '
	fresh 7 &&
	sim POST /faults "{\"method\": \"POST\", \"path\": \"merge_requests$\", \"kind\": \"status\", \"status\": 503, \"times\": 10}" >/dev/null &&
	bisect && expect_rc 75 && one_error_line && sim DELETE /faults >/dev/null &&
	bisect && expect_rc 0 && test "$(drafts)" -eq 1 && drive 3 &&
	test "$(dotenv SUSPECT_SHA)" = "$(nth 3)"
'

test_expect_success 'a run that dies after closing the round'"'"'s draft: the re-run reads the closed draft, never reopens it' '
	fresh 2 && bisect && answer 2 &&
	sim POST /faults "{\"method\": \"PUT\", \"path\": \"/notes/[0-9]+$\", \"kind\": \"status\", \"status\": 503, \"times\": 10}" >/dev/null &&
	bisect && expect_rc 75 && sim DELETE /faults >/dev/null && test "$(drafts)" -eq 0 &&
	bisect && expect_rc 0 && test "$(dotenv BISECT)" = found &&
	test "$(dotenv SUSPECT_SHA)" = "$(nth 2)" && test "$(all_drafts)" -eq 1
'

test_expect_success 'a draft a person closed before its pipeline finished: its point is skipped' '
	fresh 2 && bisect &&
	sim PATCH /mrs/gitlab-org%2Fgitlab/2 "{\"state\": \"closed\"}" >/dev/null &&
	bisect && expect_rc 0 && test "$(dotenv BISECT)" = inconclusive &&
	test "$(all_drafts)" -eq 1
'

# racing N: N first runs of bisect started at once on !1, each with its
# own output and report; fails unless every one exits 0
racing() {
	j=0 pids=""
	while [ $j -lt "$1" ]; do
		j=$((j + 1))
		MR_IID=1 TRIAGE=regression FAILED_JOBS=$JOB RELAY_BISECT=true \
			RELAY_DOTENV=$PWD/race-$j.env "$RELAY_BIN/relay-bisect" \
			>race-$j.out 2>race-$j.err &
		pids="$pids $!"
	done
	r=0
	for p in $pids; do wait "$p" || r=1; done
	[ $r -eq 0 ] || cat race-*.err
	return $r
}

# raced N: N racing first runs, then the bisection to its verdict
raced() {
	fresh 7 && racing "$1" &&
	test "$(all_drafts)" -eq 1 && test "$(drafts)" -eq 1 &&
	test "$(bisect_notes state)" -eq 1 &&
	drive 3 && test "$(dotenv SUSPECT_SHA)" = "$(nth 3)" &&
	test "$(bisect_notes verdict)" -eq 1 && test "$(bisect_notes state)" -eq 1 &&
	test "$(drafts)" -eq 0 &&
	test "$(sim GET /slack | jq "[.[] | select(.text | contains(\"bisected\"))] | length")" -eq 1
}

for n in 2 3; do
	test_expect_success "$n first runs at once: one set of drafts, one state in use, one verdict and Slack post" "raced $n"
done

test_expect_success 'dry run: every read, no write' '
	fresh 7 && sim DELETE /requests >/dev/null && bisect --dry-run && expect_rc 0 &&
	test "$(requests "[.[] | select(.method != \"GET\")] | length")" -eq 0
'

test_done
