# relay build tunables

# The version is the release tag (MAJOR.MINOR.PATCH) git describe finds:
# 1.0.0 on the tag, 1.0.0-3-gabc1234 after it, 0.0.0-gabc1234 before any
# release; `make VERSION=x.y.z` for a build outside git.
VERSION := $(shell v=$$(git describe --tags --match '[0-9]*.[0-9]*.[0-9]*' \
	--dirty 2>/dev/null) || v=0.0.0-g$$(git rev-parse --short HEAD \
	2>/dev/null || echo unknown); echo "$$v")
PREFIX = /usr/local
BINDIR = $(PREFIX)/bin
MANDIR = $(PREFIX)/share/man

CC ?= cc
CFLAGS_BASE = -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wpedantic \
	-Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
OPT = -Os -ffunction-sections -fdata-sections
WERROR =

# Release binaries: static, musl (Debian's musl-tools), over libraries built
# from Debian source packages by scripts/deps.sh.
MUSL_CC = musl-gcc
DEPS = build/deps-musl
STATIC_LDFLAGS = -static -Wl,--gc-sections -s
TLS_LIBS = $(DEPS)/lib/libmbedtls.a $(DEPS)/lib/libmbedx509.a \
	$(DEPS)/lib/libmbedcrypto.a $(DEPS)/lib/libz.a
HTTP_LIBS_STATIC = $(DEPS)/lib/libcurl.a $(TLS_LIBS)
# relay-mirror's own: libgit2 (trixie's source package) and mimalloc,
# which replaces musl's malloc in relay-mirror only (BENCHMARKS.md)
GIT_DEPS = build/deps-git
GIT_LIBS_STATIC = $(GIT_DEPS)/lib/libgit2.a $(GIT_DEPS)/lib/mimalloc.o \
	$(DEPS)/lib/libhttp_parser.a $(TLS_LIBS) -lpthread

# DYNAMIC=1: link Debian's shared libraries for quick local work.
HTTP_LIBS_DYNAMIC = -lcurl
GIT_LIBS_DYNAMIC = -lgit2
