#!/bin/sh
# Validate .gitlab-ci.yml and every component in templates/ against
# GitLab's CI schema with gitlab-ci-local (its JSON schema validation, with
# includes and spec:inputs expanded): each component is included with its
# defaults and Gitaly's values for its required inputs into a throw-away
# project. Exits 0 when all are valid, 1 when
# one is not, 69 when gitlab-ci-local cannot be installed.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
gcl=$("$top/scripts/gcl.sh") || exit 69
work=$(mktemp -d "${TMPDIR:-/tmp}/relay-ci-lint.XXXXXX")
trap 'rm -rf "$work"' EXIT
bad=0

# project DIR: a git repository gitlab-ci-local accepts, holding templates/
project() {
	mkdir -p "$1"
	cp -r "$top/templates" "$1/"
	git -C "$1" init -q -b main
	git -C "$1" remote add origin https://gitlab.example.com/relay/relay.git
}
# commit DIR: local includes must be tracked files
commit() {
	git -C "$1" add -A
	git -C "$1" -c user.name=relay -c user.email=relay@example.com \
	    commit -q -m lint
	git -C "$1" update-ref refs/remotes/origin/main HEAD
	git -C "$1" symbolic-ref refs/remotes/origin/HEAD refs/remotes/origin/main
}
check() {
	name=$1 dir=$2
	if out=$(cd "$dir" && "$gcl" --preview --json-schema-validation \
	    --variable CI_PIPELINE_SOURCE=schedule \
	    --ignore-predefined-vars CI_PIPELINE_SOURCE 2>&1 >/dev/null); then
		echo "ok   $name"
	else
		echo "FAIL $name"
		echo "$out" | grep -v "default remote branch\|symbolic-ref\|not a symbolic ref" | sed 's/^/     /'
		bad=1
	fi
}

project "$work/self"
cp "$top/.gitlab-ci.yml" "$work/self/"
commit "$work/self"
check .gitlab-ci.yml "$work/self"
for t in "$top"/templates/*.yml; do
	n=$(basename "$t")
	project "$work/$n"
	# as an adopter includes it: default stages, required inputs given
	python3 "$top/scripts/inputs.py" --example "${n%.yml}" >"$work/$n/.gitlab-ci.yml"
	commit "$work/$n"
	check "templates/$n" "$work/$n"
done
exit $bad
