#!/bin/sh
# Build minimal static curl and libgit2 from Debian's source packages into
# $DEPS (default build/deps). Nothing outside Debian is fetched: a private apt
# configuration under build/apt adds deb-src entries for bookworm, so the
# machine's own apt setup is left alone. Re-running is a no-op once built.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
DEPS=${DEPS:-$top/build/deps}
APT=$top/build/apt
SRC=$top/build/src
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

say() { printf 'deps: %s\n' "$*" >&2; }

if [ -f "$DEPS/.curl-done" ] && [ -f "$DEPS/.libgit2-done" ]; then
	exit 0
fi

mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$SRC" "$DEPS"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
{
	for s in "debian bookworm" "debian bookworm-updates" \
	    "debian-security bookworm-security"; do
		set -- $s
		echo "deb-src [signed-by=$keyring] http://deb.debian.org/$1 $2 main"
	done
} >"$APT/sources.list"

aptopts="-o Dir::Etc::SourceList=$APT/sources.list
	-o Dir::Etc::SourceParts=/nonexistent
	-o Dir::State::Lists=$APT/lists -o Dir::Cache=$APT/cache
	-o APT::Sandbox::User=root -q"

if [ ! -f "$APT/.updated" ]; then
	say "reading Debian source indexes"
	# shellcheck disable=SC2086
	apt-get $aptopts update >&2
	touch "$APT/.updated"
fi

# fetch PKG: unpack the newest source version that downloads; a mirror can
# lag behind the index (seen: security pool answering 404), so older
# versions listed by the index are tried in turn.
fetch() {
	pkg=$1
	dir=$(find "$SRC" -maxdepth 1 -type d -name "$pkg-*" | head -n 1)
	if [ -n "$dir" ]; then
		echo "$dir"
		return 0
	fi
	# shellcheck disable=SC2086
	versions=$(apt-cache $aptopts showsrc "$pkg" |
	    sed -n 's/^Version: //p' | sort -rV | uniq)
	for v in $versions; do
		# shellcheck disable=SC2086
		if (cd "$SRC" && apt-get $aptopts source --download-only \
		    "$pkg=$v" >&2); then
			dsc=$(ls "$SRC/${pkg}_"*.dsc | head -n 1)
			(cd "$SRC" && dpkg-source --no-check -x "$dsc" >&2)
			find "$SRC" -maxdepth 1 -type d -name "$pkg-*" | head -n 1
			return 0
		fi
		say "$pkg $v did not download, trying an older version"
		rm -f "$SRC/${pkg}_"*
	done
	say "no source version of $pkg could be fetched"
	return 1
}

if [ ! -f "$DEPS/.curl-done" ]; then
	d=$(fetch curl)
	say "building static libcurl (HTTP/HTTPS, mbedTLS, zlib) from $d"
	[ -x "$d/configure" ] || { say "$d has no configure script"; exit 1; }
	mkdir -p "$SRC/curl-build"
	(cd "$SRC/curl-build" && "$d/configure" --prefix="$DEPS" \
	    --disable-shared --enable-static --with-pic \
	    --with-mbedtls --without-openssl --with-zlib \
	    --with-ca-bundle=/etc/ssl/certs/ca-certificates.crt \
	    --without-ca-path \
	    --disable-ftp --disable-file --disable-ldap --disable-ldaps \
	    --disable-rtsp --disable-dict --disable-telnet --disable-tftp \
	    --disable-pop3 --disable-imap --disable-smb --disable-smtp \
	    --disable-gopher --disable-mqtt --disable-manual --disable-docs \
	    --disable-ntlm --disable-kerberos-auth --disable-negotiate-auth \
	    --disable-aws --disable-cookies --disable-alt-svc --disable-hsts \
	    --disable-netrc --disable-dateparse --disable-progress-meter \
	    --disable-doh --disable-mime --disable-socketpair \
	    --disable-threaded-resolver \
	    --without-libpsl --without-libidn2 --without-librtmp \
	    --without-brotli --without-zstd --without-nghttp2 \
	    --without-libssh2 --without-libssh --without-gssapi \
	    >&2 && make -j"$JOBS" -C lib >&2 && make -C lib install >&2 &&
	    make -C include install >&2 && make install-pkgconfigDATA >&2)
	touch "$DEPS/.curl-done"
fi

if [ ! -f "$DEPS/.libgit2-done" ]; then
	d=$(fetch libgit2)
	say "building static libgit2 (no ssh, mbedTLS) from $d"
	mkdir -p "$SRC/libgit2-build"
	(cd "$SRC/libgit2-build" && cmake "$d" -DCMAKE_BUILD_TYPE=MinSizeRel \
	    -DCMAKE_INSTALL_PREFIX="$DEPS" -DCMAKE_INSTALL_LIBDIR=lib \
	    -DBUILD_SHARED_LIBS=OFF -DBUILD_TESTS=OFF -DBUILD_CLI=OFF \
	    -DBUILD_EXAMPLES=OFF -DBUILD_FUZZERS=OFF \
	    -DUSE_SSH=OFF -DUSE_GSSAPI=OFF -DUSE_HTTPS=mbedTLS \
	    -DUSE_SHA1=CollisionDetection -DUSE_SHA256=mbedTLS \
	    -DREGEX_BACKEND=regcomp -DUSE_HTTP_PARSER=system \
	    -DUSE_BUNDLED_ZLIB=OFF -DUSE_NTLMCLIENT=OFF -DUSE_ICONV=OFF \
	    -DCMAKE_C_FLAGS="-Os -ffunction-sections -fdata-sections" \
	    >&2 && cmake --build . -j"$JOBS" >&2 && cmake --install . >&2)
	touch "$DEPS/.libgit2-done"
fi
say "static dependencies ready in $DEPS"
