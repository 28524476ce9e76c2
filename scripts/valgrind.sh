#!/bin/sh
# make check-valgrind: the test suite with every relay-* binary run under
# valgrind's memcheck (full leak check). BIN holds a dynamic build; each
# binary is replaced by a wrapper that logs to build/vg/logs, and a run
# with any memory error or leak exits 99, which fails its test. The logs
# are checked again at the end, so nothing is missed.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "${1:?usage: valgrind.sh BIN UNIT}" && pwd)
unit=$2
wrap=$top/build/vg/wrap
logs=$top/build/vg/logs
rm -rf "$wrap" "$logs"
mkdir -p "$wrap" "$logs"
for b in "$bin"/relay-*; do
	n=$(basename "$b")
	cat >"$wrap/$n" <<WRAP
#!/bin/sh
exec valgrind -q --leak-check=full --show-leak-kinds=definite,indirect,possible \\
	--errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 \\
	--track-fds=no --suppressions="$top/tests/valgrind.supp" \\
	--log-file="$logs/$n.%p.log" "$b" "\$@"
WRAP
	chmod +x "$wrap/$n"
done
rc=0
RELAY_BIN=$wrap RELAY_UNIT=$unit RELAY_FAULT_JOBS=${RELAY_FAULT_JOBS:-2} \
	"$top/tests/run.sh" || rc=$?
runs=$(find "$logs" -name '*.log' | wc -l)
bad=$(find "$logs" -name '*.log' -size +0 | wc -l)
echo "valgrind: $runs runs of relay-* binaries, $bad with errors or leaks"
if [ "$bad" -gt 0 ]; then
	find "$logs" -name '*.log' -size +0 | head -n 5 | while read -r f; do
		echo "== $f"
		head -n 40 "$f"
	done
	rc=1
fi
exit $rc
