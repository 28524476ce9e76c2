#!/bin/sh
# Build the static libraries of the release binaries from Debian's source
# packages, all with Debian's musl-gcc: into $DEPS (default build/deps-musl)
# zlib, a trimmed mbedTLS (client-side TLS 1.2 with the suites and curves
# public GitLab and Slack offer, no self-tests, no server, no DTLS, no
# legacy ciphers), http-parser and a minimal curl; into $GIT_DEPS (default
# build/deps-git) relay-mirror's own libgit2 and mimalloc.
# glibc cannot link statically below ~900 KB (NSS, iconv, locales); musl
# costs ~60 KB, which is what brings an HTTP stage under 1 MiB.
# libgit2 comes from Debian 13 (trixie, 1.9): bookworm's 1.5 negotiates
# fetches so badly (libgit2 #6532, fixed in 1.7) that an incremental fetch
# of 100 commits downloads most of the history. mimalloc (bookworm) replaces
# musl's allocator in relay-mirror only: BENCHMARKS.md has the figures.
# Nothing outside Debian is fetched: private apt configurations under
# build/apt (bookworm) and build/apt-trixie add deb-src entries, so the
# machine's own apt setup is left alone. Re-running is a no-op once built.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
DEPS=${DEPS:-$top/build/deps-musl}
GIT_DEPS=${GIT_DEPS:-$top/build/deps-git}
CC=${MUSL_CC:-musl-gcc}
CFLAGS_DEPS="-Os -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables"
APT=$top/build/apt
SRC=$top/build/src
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

say() { printf 'deps: %s\n' "$*" >&2; }

done=1
for l in zlib mbedtls http-parser curl; do
	[ -f "$DEPS/.$l-done" ] || done=0
done
for l in mimalloc libgit2; do
	[ -f "$GIT_DEPS/.$l-done" ] || done=0
done
[ $done -eq 1 ] && exit 0
command -v "$CC" >/dev/null || { say "$CC missing (Debian's musl-tools)"; exit 78; }

keyring=/usr/share/keyrings/debian-archive-keyring.gpg
# aptconf DIR SUITE...: a private apt configuration reading the deb-src
# indexes of the Debian SUITEs (updated once)
aptconf() {
	a=$1
	shift
	mkdir -p "$a/lists/partial" "$a/cache/archives/partial"
	for s in "$@"; do
		case $s in
		*-security) r=debian-security ;;
		*) r=debian ;;
		esac
		echo "deb-src [signed-by=$keyring] http://deb.debian.org/$r $s main"
	done >"$a/sources.list"
	echo "-o Dir::Etc::SourceList=$a/sources.list
	    -o Dir::Etc::SourceParts=/nonexistent
	    -o Dir::State::Lists=$a/lists -o Dir::Cache=$a/cache
	    -o APT::Sandbox::User=root -q"
}
# aptupdate OPTS DIR
aptupdate() {
	if [ ! -f "$2/.updated" ]; then
		say "reading Debian source indexes ($2)"
		# shellcheck disable=SC2086
		apt-get $1 update >&2
		touch "$2/.updated"
	fi
}
mkdir -p "$SRC" "$DEPS" "$GIT_DEPS"
aptopts=$(aptconf "$APT" bookworm bookworm-updates bookworm-security)
aptupdate "$aptopts" "$APT"
# trixie's sources only for libgit2, in their own folder: the other
# libraries stay bookworm's (the newest version of a name is what
# apt-get source picks)
trixie=$(aptconf "$APT-trixie" trixie trixie-updates trixie-security)
aptupdate "$trixie" "$APT-trixie"

# fetch PKG [OPTS [SRCDIR]]: unpack the newest source version that
# downloads; a mirror can lag behind the index (seen: security pool
# answering 404), so older versions listed by the index are tried in turn.
fetch() {
	pkg=$1
	aptopts=${2:-$aptopts}
	SRC=${3:-$SRC}
	mkdir -p "$SRC"
	dir=$(find "$SRC" -maxdepth 1 -type d -name "$pkg-[0-9]*" | head -n 1)
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
			find "$SRC" -maxdepth 1 -type d -name "$pkg-[0-9]*" | head -n 1
			return 0
		fi
		say "$pkg $v did not download, trying an older version"
		rm -f "$SRC/${pkg}_"*
	done
	say "no source version of $pkg could be fetched"
	return 1
}

mkdir -p "$DEPS/include" "$DEPS/lib"
# jsmn is header-only (Debian's libjsmn-dev); musl-gcc does not search
# /usr/include, so the one header is copied next to the others
cmp -s /usr/include/jsmn.h "$DEPS/include/jsmn.h" ||
    cp /usr/include/jsmn.h "$DEPS/include/"

if [ ! -f "$DEPS/.zlib-done" ]; then
	d=$(fetch zlib)
	say "building static zlib with $CC from $d"
	(cd "$d" && CC=$CC CFLAGS="$CFLAGS_DEPS" ./configure --static \
	    --prefix="$DEPS" >&2 && make -j"$JOBS" libz.a >&2 &&
	    cp libz.a "$DEPS/lib/" && cp zlib.h zconf.h "$DEPS/include/")
	touch "$DEPS/.zlib-done"
fi

if [ ! -f "$DEPS/.mbedtls-done" ]; then
	d=$(fetch mbedtls)
	say "building a trimmed static mbedTLS with $CC from $d"
	cfg="$d/include/mbedtls/config.h"
	[ -f "$cfg.orig" ] || cp "$cfg" "$cfg.orig"
	cp "$cfg.orig" "$cfg"
	# what a TLS 1.2 client of GitLab, Slack and git hosts does not use
	# (PK_WRITE stays: curl writes the peer key for CURLOPT_PINNEDPUBLICKEY)
	for opt in MBEDTLS_SELF_TEST MBEDTLS_SSL_SRV_C MBEDTLS_SSL_CACHE_C \
	    MBEDTLS_SSL_TICKET_C MBEDTLS_SSL_COOKIE_C MBEDTLS_SSL_PROTO_DTLS \
	    MBEDTLS_SSL_DTLS_ANTI_REPLAY MBEDTLS_SSL_DTLS_HELLO_VERIFY \
	    MBEDTLS_SSL_DTLS_CLIENT_PORT_REUSE MBEDTLS_SSL_DTLS_BADMAC_LIMIT \
	    MBEDTLS_SSL_DTLS_CONNECTION_ID MBEDTLS_SSL_DTLS_SRTP \
	    MBEDTLS_TIMING_C MBEDTLS_NET_C MBEDTLS_DES_C MBEDTLS_CAMELLIA_C \
	    MBEDTLS_ARIA_C MBEDTLS_BLOWFISH_C MBEDTLS_XTEA_C MBEDTLS_ARC4_C \
	    MBEDTLS_RIPEMD160_C MBEDTLS_CCM_C MBEDTLS_CMAC_C MBEDTLS_NIST_KW_C \
	    MBEDTLS_ECJPAKE_C MBEDTLS_KEY_EXCHANGE_ECJPAKE_ENABLED \
	    MBEDTLS_KEY_EXCHANGE_PSK_ENABLED MBEDTLS_KEY_EXCHANGE_DHE_PSK_ENABLED \
	    MBEDTLS_KEY_EXCHANGE_ECDHE_PSK_ENABLED \
	    MBEDTLS_KEY_EXCHANGE_RSA_PSK_ENABLED \
	    MBEDTLS_KEY_EXCHANGE_DHE_RSA_ENABLED MBEDTLS_DHM_C \
	    MBEDTLS_KEY_EXCHANGE_ECDH_ECDSA_ENABLED \
	    MBEDTLS_KEY_EXCHANGE_ECDH_RSA_ENABLED \
	    MBEDTLS_X509_CSR_PARSE_C MBEDTLS_X509_CREATE_C \
	    MBEDTLS_X509_CRT_WRITE_C MBEDTLS_X509_CSR_WRITE_C \
	    MBEDTLS_PEM_WRITE_C MBEDTLS_PKCS12_C MBEDTLS_PKCS5_C \
	    MBEDTLS_GENPRIME MBEDTLS_PADLOCK_C MBEDTLS_SSL_CONTEXT_SERIALIZATION \
	    MBEDTLS_SSL_RENEGOTIATION MBEDTLS_SSL_PROTO_TLS1 \
	    MBEDTLS_SSL_PROTO_TLS1_1 MBEDTLS_SSL_CBC_RECORD_SPLITTING \
	    MBEDTLS_ECP_DP_SECP192R1_ENABLED MBEDTLS_ECP_DP_SECP224R1_ENABLED \
	    MBEDTLS_ECP_DP_SECP192K1_ENABLED MBEDTLS_ECP_DP_SECP224K1_ENABLED \
	    MBEDTLS_ECP_DP_SECP256K1_ENABLED MBEDTLS_ECP_DP_BP256R1_ENABLED \
	    MBEDTLS_ECP_DP_BP384R1_ENABLED MBEDTLS_ECP_DP_BP512R1_ENABLED \
	    MBEDTLS_ECP_DP_CURVE448_ENABLED MBEDTLS_PSA_CRYPTO_C \
	    MBEDTLS_PSA_CRYPTO_STORAGE_C MBEDTLS_PSA_ITS_FILE_C; do
		sed -i "s|^#define $opt\$|/* #define $opt */|" "$cfg"
	done
	# getrandom(2) is a Linux system call, not a glibc feature: without
	# it mbedTLS reads /dev/urandom, which an empty image lacks
	ep="$d/library/entropy_poll.c"
	[ -f "$ep.orig" ] || cp "$ep" "$ep.orig"
	sed 's/^#if ((defined(__linux__) \&\& defined(__GLIBC__)) || defined(__midipix__))$/#if defined(__linux__) || defined(__midipix__)/' \
	    "$ep.orig" >"$ep"
	grep -q '^#if defined(__linux__) || defined(__midipix__)$' "$ep" ||
	    { say "entropy_poll.c: the getrandom test was not found"; exit 1; }
	make -C "$d/library" clean >&2
	make -C "$d/library" -j"$JOBS" CC="$CC" CFLAGS="$CFLAGS_DEPS" \
	    libmbedcrypto.a libmbedx509.a libmbedtls.a >&2
	cp "$d"/library/libmbed*.a "$DEPS/lib/"
	rm -rf "$DEPS/include/mbedtls" "$DEPS/include/psa"
	cp -r "$d/include/mbedtls" "$d/include/psa" "$DEPS/include/"
	touch "$DEPS/.mbedtls-done"
fi

if [ ! -f "$DEPS/.http-parser-done" ]; then
	d=$(fetch http-parser)
	say "building static http-parser with $CC from $d"
	(cd "$d" && $CC $CFLAGS_DEPS -c -o "$DEPS/http_parser.o" http_parser.c &&
	    ar rcs "$DEPS/lib/libhttp_parser.a" "$DEPS/http_parser.o" &&
	    cp http_parser.h "$DEPS/include/")
	touch "$DEPS/.http-parser-done"
fi

if [ ! -f "$DEPS/.curl-done" ]; then
	d=$(fetch curl)
	say "building static libcurl (HTTP/HTTPS, mbedTLS, zlib) with $CC from $d"
	[ -x "$d/configure" ] || { say "$d has no configure script"; exit 1; }
	rm -rf "$SRC/curl-build-musl"
	mkdir -p "$SRC/curl-build-musl"
	(cd "$SRC/curl-build-musl" && CC=$CC CFLAGS="$CFLAGS_DEPS" \
	    CPPFLAGS="-I$DEPS/include" LDFLAGS="-L$DEPS/lib" \
	    PKG_CONFIG_PATH=/nonexistent PKG_CONFIG_LIBDIR=/nonexistent \
	    "$d/configure" --prefix="$DEPS" \
	    --disable-shared --enable-static --with-pic \
	    --with-mbedtls="$DEPS" --without-openssl --with-zlib="$DEPS" \
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
	    --disable-threaded-resolver --disable-unix-sockets \
	    --disable-headers-api --disable-http-auth --disable-websockets \
	    --without-libpsl --without-libidn2 --without-librtmp \
	    --without-brotli --without-zstd --without-nghttp2 \
	    --without-libssh2 --without-libssh --without-gssapi \
	    >&2 && make -j"$JOBS" -C lib >&2 && make -C lib install >&2 &&
	    make -C include install >&2)
	touch "$DEPS/.curl-done"
fi

if [ ! -f "$GIT_DEPS/.mimalloc-done" ]; then
	d=$(fetch mimalloc)
	say "building mimalloc (overrides malloc) with $CC from $d"
	mkdir -p "$GIT_DEPS/lib"
	$CC -O2 -DNDEBUG -DMI_MALLOC_OVERRIDE -ftls-model=initial-exec \
	    -fno-builtin-malloc -I"$d/include" -c -o "$GIT_DEPS/lib/mimalloc.o" \
	    "$d/src/static.c"
	touch "$GIT_DEPS/.mimalloc-done"
fi

if [ ! -f "$GIT_DEPS/.libgit2-done" ]; then
	d=$(fetch libgit2 "$trixie" "$SRC-trixie")
	say "building static libgit2 (no ssh, mbedTLS) with $CC from $d"
	# no CA bundle parsed at start-up (~30 ms): relay names the bundle
	# when a remote is https (repo.c)
	mt="$d/src/libgit2/streams/mbedtls.c"
	[ -f "$mt.orig" ] || cp "$mt" "$mt.orig"
	sed 's/^\(\tchar \*crtpath = \)GIT_DEFAULT_CERT_LOCATION;$/\1NULL;/' \
	    "$mt.orig" >"$mt"
	grep -q '^	char \*crtpath = NULL;$' "$mt" ||
	    { say "mbedtls.c: the default CA location was not found"; exit 1; }
	# TCP_NODELAY, as curl and git set it: libgit2 writes a request's
	# headers and body apart, and Nagle's algorithm then holds the body
	# for the peer's delayed ACK (40 ms a request on Linux)
	so="$d/src/libgit2/streams/socket.c"
	[ -f "$so.orig" ] || cp "$so" "$so.orig"
	sed -e 's|^# include <netinet/in.h>$|&\n# include <netinet/tcp.h>|' \
	    -e 's|^\tst->s = s;$|\t{ int one = 1; setsockopt(s, IPPROTO_TCP, TCP_NODELAY, \&one, sizeof(one)); }\n&|' \
	    "$so.orig" >"$so"
	grep -q 'TCP_NODELAY' "$so" ||
	    { say "socket.c: the connect step was not found"; exit 1; }
	rm -rf "$SRC-trixie/libgit2-build-musl"
	mkdir -p "$SRC-trixie/libgit2-build-musl"
	(cd "$SRC-trixie/libgit2-build-musl" && cmake "$d" \
	    -DCMAKE_C_COMPILER="$(command -v "$CC")" \
	    -DCMAKE_BUILD_TYPE=MinSizeRel \
	    -DCMAKE_INSTALL_PREFIX="$GIT_DEPS" -DCMAKE_INSTALL_LIBDIR=lib \
	    -DCMAKE_PREFIX_PATH="$DEPS" -DCMAKE_FIND_ROOT_PATH="$DEPS" \
	    -DBUILD_SHARED_LIBS=OFF -DBUILD_TESTS=OFF -DBUILD_CLI=OFF \
	    -DBUILD_EXAMPLES=OFF -DBUILD_FUZZERS=OFF \
	    -DUSE_SSH=OFF -DUSE_GSSAPI=OFF -DUSE_HTTPS=mbedTLS \
	    -DUSE_SHA1=CollisionDetection -DUSE_SHA256=mbedTLS \
	    -DREGEX_BACKEND=regcomp -DUSE_HTTP_PARSER=http-parser \
	    -DUSE_BUNDLED_ZLIB=OFF -DUSE_NTLMCLIENT=OFF -DUSE_ICONV=OFF \
	    -DMBEDTLS_INCLUDE_DIR="$DEPS/include" \
	    -DMBEDTLS_LIBRARY="$DEPS/lib/libmbedtls.a" \
	    -DMBEDX509_LIBRARY="$DEPS/lib/libmbedx509.a" \
	    -DMBEDCRYPTO_LIBRARY="$DEPS/lib/libmbedcrypto.a" \
	    -DHTTP_PARSER_INCLUDE_DIR="$DEPS/include" \
	    -DHTTP_PARSER_LIBRARY="$DEPS/lib/libhttp_parser.a" \
	    -DZLIB_INCLUDE_DIR="$DEPS/include" \
	    -DZLIB_LIBRARY="$DEPS/lib/libz.a" \
	    -DCMAKE_C_FLAGS="$CFLAGS_DEPS -isystem $DEPS/include" \
	    >&2 && cmake --build . -j"$JOBS" >&2 && cmake --install . >&2)
	touch "$GIT_DEPS/.libgit2-done"
fi
say "static dependencies ready in $DEPS and $GIT_DEPS"
