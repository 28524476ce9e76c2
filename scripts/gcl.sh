#!/bin/sh
# Install gitlab-ci-local from the npm registry into build/npm (never
# committed) and print its path. 4.65.0 is the newest release that runs on
# Debian 12's Node.js 18. Exits 69 when npm or the registry is unreachable.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$top/build/npm
version=4.65.0
bin=$dir/node_modules/.bin/gitlab-ci-local
if [ -x "$bin" ] && [ "$("$bin" --version 2>/dev/null)" = "$version" ]; then
	echo "$bin"
	exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "gcl: npm is not installed" >&2; exit 69; }
mkdir -p "$dir"
if ! (cd "$dir" && timeout 300 npm install --no-audit --no-fund --prefix "$dir" \
    "gitlab-ci-local@$version" >"$dir/install.log" 2>&1); then
	echo "gcl: npm install gitlab-ci-local@$version failed (see $dir/install.log)" >&2
	exit 69
fi
if ! "$bin" --version >/dev/null 2>&1; then
	echo "gcl: gitlab-ci-local $version does not run on $(node --version 2>&1)" >&2
	exit 69
fi
echo "$bin"
