#!/bin/sh
# A seeded simulated month (tests/e2e/month.py): 720 hourly chains of the
# real binaries against the simulator, asserted in TAP. Instrumented
# builds run a sample, as their binaries are many times slower: 72 hours
# (sanitizers), 24 (valgrind); MONTH_HOURS and MONTH_SEED override.
top=$(cd "$(dirname "$0")/../.." && pwd)
: "${RELAY_BIN:=$top/bin}"
export RELAY_BIN
hours=720
if ! readelf -h "$RELAY_BIN/relay-find-green" >/dev/null 2>&1; then
	hours=24 # wrapper scripts: every binary under valgrind
	echo "# sampled: 24 hours (valgrind)"
elif readelf -l "$RELAY_BIN/relay-find-green" | grep -q INTERP; then
	hours=72
	echo "# sampled: 72 hours (sanitizer build)"
fi
exec python3 "$top/tests/e2e/month.py" --hours "${MONTH_HOURS:-$hours}" \
	--seed "${MONTH_SEED:-1}"
