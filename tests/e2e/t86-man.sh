#!/bin/sh
# Man pages: one per binary, generated from its --help (the stage's own
# variable table), rendered without a groff warning, and put in
# share/man/man1 by make install.
. "$(dirname "$0")/lib.sh"
STAGES="mirror find-green open-mr watch triage notify track-deploy"

test_expect_success 'each binary has a man page with every variable of its --help' '
	for s in $STAGES; do
		python3 "$TOP/scripts/man.py" "$RELAY_BIN/relay-$s" 9.9.9 >"relay-$s.1" &&
		groff -man -ww -z "relay-$s.1" 2>groff.err && ! test -s groff.err &&
		MANWIDTH=200 man -l "relay-$s.1" 2>/dev/null | col -b >"$s.txt" &&
		grep -q "^NAME" "$s.txt" && grep -q "relay-$s - " "$s.txt" &&
		grep -q "^ENVIRONMENT" "$s.txt" && grep -q "^EXIT STATUS" "$s.txt" &&
		grep -q "relay 9.9.9" "$s.txt" || { echo "relay-$s"; cat groff.err; return 1; }
		"$RELAY_BIN/relay-$s" --help | sed -n "s/^  \\([A-Z][A-Z0-9_]*\\)  .*/\\1/p" >vars &&
		test -s vars || return 1
		while read -r v; do
			grep -q "^       $v\( \|\$\)" "$s.txt" || { echo "relay-$s: $v missing"; return 1; }
		done <vars
	done
'

test_expect_success 'a page names only its own stage: relay-mirror has no API token' '
	! grep -q "RELAY_TOKEN" mirror.txt && grep -q "RELAY_MIRROR_FROM" mirror.txt
'

if [ "$RELAY_BIN" = "$TOP/bin" ]; then
test_expect_success 'make install puts the pages in share/man/man1' '
	make -s -C "$TOP" install DESTDIR="$TRASH/root" PREFIX=/usr >install.out 2>&1 ||
		{ cat install.out; return 1; }
	for s in $STAGES; do
		test -x "root/usr/bin/relay-$s" &&
		MANWIDTH=200 man -l "root/usr/share/man/man1/relay-$s.1" 2>/dev/null |
			grep -q "relay-$s - " || { echo "relay-$s"; return 1; }
	done
'
fi

test_done
