#!/bin/sh
# Run every test: unit binaries, the simulator's own suite and the
# end-to-end scripts. Each prints TAP; the totals close the run as
# "N passed, N failed". RELAY_BIN and RELAY_UNIT name the build to test.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 70
: "${RELAY_BIN:=bin}"
: "${RELAY_UNIT:=build/test}"
RELAY_BIN=$(cd "$RELAY_BIN" && pwd)
export RELAY_BIN
log=$(mktemp -d "${TMPDIR:-/tmp}/relay-tests.XXXXXX")
passed=0
failed=0
todo=0
failures=""

count() { # name file exit-status
	p=$(grep -c '^ok ' "$2")
	# TAP: a "not ok ... # TODO" is a known failure, not a failed test
	f=$(grep '^not ok ' "$2" | grep -vc ' # TODO')
	t=$(grep -c '^not ok .* # TODO' "$2")
	todo=$((todo + t))
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$f" -eq 0 ] && [ "$p" -eq 0 ] && [ "$3" -eq 0 ] &&
	    grep -q '^# skipped' "$2"; then
		# a script that cannot run here says why, and is not a pass
		printf '%-34s %s\n' "$1" "$(grep -m1 '^# skipped' "$2" | cut -c3-)"
		return
	fi
	if [ "$f" -gt 0 ]; then
		failures="$failures $1"
		grep -v ' # TODO' "$2" | grep -A6 '^not ok ' | sed "s|^|  $1: |"
	elif [ "$3" -ne 0 ] || [ "$p" -eq 0 ]; then
		# a crash, a sanitizer report or a script that ran nothing
		failed=$((failed + 1))
		failures="$failures $1(exit $3)"
		tail -n 30 "$2" | sed "s|^|  $1: |"
	fi
	if [ "$t" -gt 0 ]; then
		printf '%-34s %4d passed, %d failed, %d known failures (TODO)\n' \
			"$1" "$p" "$f" "$t"
		grep '^not ok .* # TODO' "$2" | sed "s|^|  $1: |"
	else
		printf '%-34s %4d passed, %d failed\n' "$1" "$p" "$f"
	fi
}

for t in "$RELAY_UNIT"/unit-*; do
	[ -x "$t" ] || continue
	n=$(basename "$t")
	"$t" >"$log/$n.out" 2>&1
	count "$n" "$log/$n.out" $?
done

python3 tests/sim/test_sim.py >"$log/sim.out" 2>&1
count "sim" "$log/sim.out" $?

for t in tests/e2e/t[0-9]*.sh; do
	[ -f "$t" ] || continue
	n=$(basename "$t" .sh)
	sh "$t" >"$log/$n.out" 2>&1
	count "$n" "$log/$n.out" $?
done

echo
if [ -n "$failures" ]; then
	echo "failing:$failures (logs in $log)"
else
	rm -rf "$log"
fi
[ "$todo" -gt 0 ] && echo "$todo known failures (TAP TODO, listed above)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
