#!/bin/sh
# Install what relay needs to build and test, from Debian's packages only.
# Runs `apt-get update` and installs only when something is missing, so
# repeated `make` calls cost nothing. Needs root (or sudo) on Debian 12.
set -eu
# chromium (and a font): t65-status opens the status page headless
pkgs="build-essential cmake dpkg-dev pkg-config
	ca-certificates debian-archive-keyring git curl jq python3 python3-yaml
	libjsmn-dev libmbedtls-dev libhttp-parser-dev zlib1g-dev
	libcurl4-openssl-dev libgit2-dev lighttpd lighttpd-mod-openssl openssl rsync time bc
	musl-tools clang libclang-rt-14-dev valgrind man-db groff-base bsdextrautils
	chromium fonts-dejavu-core"
# `setup.sh bench` (make bench): the tools the benchmarks compare against
[ "${1:-}" = bench ] && pkgs="$pkgs hyperfine ruby-gitlab python3-gitlab"
# gitlab-ci-local (tests) runs on Node.js: Debian's, unless one is there
command -v npm >/dev/null 2>&1 || pkgs="$pkgs nodejs npm"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "setup: installing$missing" >&2
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || {
		echo "setup: missing packages:$missing (run as root)" >&2
		exit 78
	}
	SUDO=sudo
else
	SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >&2
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing >&2
