# relay build tunables

VERSION = 0.1.0
PREFIX = /usr/local
BINDIR = $(PREFIX)/bin

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
GIT_LIBS_STATIC = $(DEPS)/lib/libgit2.a $(DEPS)/lib/libhttp_parser.a \
	$(TLS_LIBS) -lpthread

# DYNAMIC=1: link Debian's shared libraries for quick local work.
HTTP_LIBS_DYNAMIC = -lcurl
GIT_LIBS_DYNAMIC = -lgit2
