# relay build tunables

VERSION = 0.1.0
PREFIX = /usr/local
BINDIR = $(PREFIX)/bin

CC ?= cc
CFLAGS_BASE = -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wpedantic \
	-Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
OPT = -Os -ffunction-sections -fdata-sections
WERROR =

# Static dependencies built from Debian source packages (scripts/deps.sh).
DEPS = build/deps
STATIC_LDFLAGS = -static -Wl,--gc-sections -s
HTTP_LIBS_STATIC = $(DEPS)/lib/libcurl.a -lmbedtls -lmbedx509 -lmbedcrypto -lz
GIT_LIBS_STATIC = $(DEPS)/lib/libgit2.a -lhttp_parser -lmbedtls -lmbedx509 \
	-lmbedcrypto -lz -lpthread

# DYNAMIC=1: link Debian's shared libraries for quick local work.
HTTP_LIBS_DYNAMIC = -lcurl
GIT_LIBS_DYNAMIC = -lgit2
