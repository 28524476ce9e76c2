#!/bin/sh
# scripts/release.sh X.Y.Z: prepare release X.Y.Z on a clean main. The
# components pin relay's own image at X.Y.Z (the catalog serves the files of
# the tag, so the pin must be in the tagged commit), the generated files
# are brought up to date, and CHANGELOG.md gets a section from the commits
# since the last tag that carry a Changelog: trailer. It commits nothing:
# review, then commit, tag and push as printed. The tag pipeline checks the
# pin (scripts/inputs.py --check-version), builds the image and the
# binaries, uploads them to the generic package registry and releases.
set -eu
cd "$(dirname "$0")/.."
v=${1:-}
echo "$v" | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+$' ||
	{ echo "release: usage: scripts/release.sh MAJOR.MINOR.PATCH" >&2; exit 64; }
if git rev-parse -q --verify "refs/tags/$v" >/dev/null; then
	echo "release: tag $v exists" >&2
	exit 64
fi
last=$(git describe --tags --abbrev=0 --match '[0-9]*.[0-9]*.[0-9]*' 2>/dev/null || true)
old=$(python3 scripts/inputs.py --version)
for f in templates/*.yml; do
	sed -i "s|registry.gitlab.com/relay/relay/relay:$old\$|registry.gitlab.com/relay/relay/relay:$v|" "$f"
done
python3 scripts/chain.py
python3 scripts/inputs.py
sed -i "s|/update-component@$old|/update-component@$v|g" README.md

if grep -q "^## $v (unreleased)\$" CHANGELOG.md; then
	# the section was written by hand ahead of the release
	sed -i "s/^## $v (unreleased)\$/## $v ($(date -u +%Y-%m-%d))/" CHANGELOG.md
	python3 scripts/inputs.py --check-version "$v"
	echo "release $v prepared. Next:"
	echo "  git commit -am 'Release $v' && git tag -a $v -m 'relay $v' && git push origin HEAD $v"
	exit 0
fi
# the section: one list per Changelog: category, newest first
notes=$(mktemp)
trap 'rm -f "$notes"' EXIT
git log --no-merges --format='%(trailers:key=Changelog,valueonly,separator=%x2C)%x09%s (%h)' \
	${last:+"$last"..HEAD} | awk -F '\t' '$1 != "" { print }' |
	sort -s -t "$(printf '\t')" -k1,1 | awk -F '\t' '
	$1 != cat { if (cat != "") print ""; cat = $1; print "### " cat; print "" }
	{ print "- " $2 }' >"$notes"
{
	sed -n '1,/^## /{/^## /!p}' CHANGELOG.md
	echo "## $v ($(date -u +%Y-%m-%d))"
	echo
	if [ -s "$notes" ]; then cat "$notes"; else echo "No changes with a Changelog: trailer."; fi
	echo
	sed -n '/^## /,$p' CHANGELOG.md | sed "1s/^## $old (unreleased)\$/## $old/"
} >CHANGELOG.md.new
mv CHANGELOG.md.new CHANGELOG.md
python3 scripts/inputs.py --check-version "$v"
echo "release $v prepared (was $old). Next:"
echo "  git commit -am 'Release $v' && git tag -a $v -m 'relay $v' && git push origin HEAD $v"
