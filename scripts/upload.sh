#!/bin/sh
# scripts/upload.sh DIR: on a release tag pipeline, put DIR/relay-* and
# DIR/SHA256SUMS in the project's generic package registry as package
# "relay", version $CI_COMMIT_TAG, one file a URL (the release's asset
# links), and write release-notes.md: CHANGELOG.md's section of the tag.
set -eu
dir=${1:?usage: scripts/upload.sh DIR}
: "${CI_API_V4_URL:?}" "${CI_PROJECT_ID:?}" "${CI_COMMIT_TAG:?}" "${CI_JOB_TOKEN:?}"
url="$CI_API_V4_URL/projects/$CI_PROJECT_ID/packages/generic/relay/$CI_COMMIT_TAG"
(cd "$dir" && sha256sum -c SHA256SUMS)
for f in "$dir"/relay-* "$dir"/SHA256SUMS; do
	n=$(basename "$f")
	# the header comes from a file so the token is not in the process list
	printf 'JOB-TOKEN: %s\n' "$CI_JOB_TOKEN" |
		curl -fsS --retry 3 -H @- --upload-file "$f" "$url/$n" >/dev/null
	echo "uploaded $n: $url/$n"
done
awk -v tag="$CI_COMMIT_TAG" '
	/^## / { on = index($0, "## " tag " ") == 1; next }
	on' CHANGELOG.md >release-notes.md
[ -s release-notes.md ] || { echo "upload: CHANGELOG.md has no section for $CI_COMMIT_TAG" >&2; exit 78; }
