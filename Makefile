# relay: GitLab-CI-native job binaries. See README.md.
include config.mk

COMMON_SRC = common/annotate.c common/bisect.c common/buf.c common/dotenv.c common/env.c common/err.c \
	common/gitlab.c common/http.c common/job.c common/job_api.c common/joblist.c common/json.c common/log.c common/mr.c \
	common/notes.c common/pipeline.c common/range.c common/record.c common/repo.c common/trail.c \
	common/slack.c common/url.c common/util.c

# stages that speak HTTP only; relay-mirror alone links libgit2
HTTP_JOBS = find-green open-mr watch triage bisect notify track-deploy status
JOBS = $(HTTP_JOBS) mirror
UNIT = annotate bisect buf conformance dotenv env escape gitlab http joblist json log record stage trail util repo

# O: output folder of this build flavour (objects, library, tests);
# BIN: where the relay-* binaries go.
O ?= build
BIN ?= bin

COMMON_OBJ = $(COMMON_SRC:%.c=$(O)/obj/%.o)
BINS = $(JOBS:%=$(BIN)/relay-%)
UNIT_BINS = $(UNIT:%=$(O)/test/unit-%)

ifeq ($(DYNAMIC),1)
HTTP_LIBS = $(HTTP_LIBS_DYNAMIC)
GIT_LIBS = $(GIT_LIBS_DYNAMIC)
LINK = $(CC) $(LDFLAGS)
DEPS_STAMP =
INC =
else
CC = $(MUSL_CC)
HTTP_LIBS = $(HTTP_LIBS_STATIC)
GIT_LIBS = $(GIT_LIBS_STATIC)
LINK = $(CC) $(STATIC_LDFLAGS) $(LDFLAGS)
DEPS_STAMP = $(DEPS)/.curl-done
GIT_STAMP = $(GIT_DEPS)/.libgit2-done
INC = -isystem $(GIT_DEPS)/include -isystem $(DEPS)/include
endif

ALL_CFLAGS = $(CFLAGS_BASE) $(OPT) $(WERROR) -Icommon $(INC) -DCURL_STATICLIB \
	-DRELAY_VERSION=\"$(VERSION)\" $(CFLAGS)

SAN = -fsanitize=address,undefined -fno-sanitize-recover=all
ASAN_VARS = DYNAMIC=1 O=build/asan BIN=build/asan/bin \
	OPT="-O1 -g -fno-omit-frame-pointer $(SAN)" LDFLAGS="$(SAN)"

.PHONY: all deps setup check check-asan check-valgrind unit lint lint-ci fmt \
	bench install clean distclean demo month fuzz screenshots man

all: $(BINS)

# Debian packages (apt, only what is missing), then the static libraries
setup: build/.setup-done
deps: $(DEPS_STAMP) $(GIT_STAMP)

build/.setup-done: scripts/setup.sh
	./scripts/setup.sh
	@mkdir -p $(@D) && touch $@

# one run of deps.sh builds both: a grouped target, so make -j2 does not
# start it twice at once
$(DEPS)/.curl-done $(GIT_STAMP) &: | build/.setup-done
	./scripts/deps.sh

$(O)/obj/%.o: %.c $(wildcard common/*.h) $(wildcard tests/unit/*.h) \
		| build/.setup-done $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# objects that print the version are rebuilt when git describe changes
$(O)/version: FORCE
	@mkdir -p $(@D)
	@echo '$(VERSION)' | cmp -s - $@ || echo '$(VERSION)' >$@
$(O)/obj/common/job.o $(O)/obj/common/job_api.o $(O)/obj/jobs/mirror.o: \
	$(O)/version
.PHONY: FORCE

# only repo.c includes <git2.h>
$(O)/obj/common/repo.o: | $(GIT_STAMP)

$(O)/libcommon.a: $(COMMON_OBJ)
	rm -f $@
	$(AR) rcs $@ $(COMMON_OBJ)

$(HTTP_JOBS:%=$(BIN)/relay-%): $(BIN)/relay-%: $(O)/obj/jobs/%.o \
		$(O)/libcommon.a
	@mkdir -p $(@D)
	$(LINK) -o $@ $< $(O)/libcommon.a $(HTTP_LIBS)

# git only: no HTTP library (job.c holds no API code, see job_api.c)
$(BIN)/relay-mirror: $(O)/obj/jobs/mirror.o $(O)/libcommon.a | $(GIT_STAMP)
	@mkdir -p $(@D)
	$(LINK) -o $@ $< $(O)/libcommon.a $(GIT_LIBS)

$(O)/test/unit-%: $(O)/obj/tests/unit/%.o $(O)/obj/tests/unit/tap.o \
		$(O)/libcommon.a
	@mkdir -p $(@D)
	$(LINK) -o $@ $< $(O)/obj/tests/unit/tap.o $(O)/libcommon.a \
		$(HTTP_LIBS)

# repo is libgit2's: its test links what relay-mirror links
$(O)/test/unit-repo: $(O)/obj/tests/unit/repo.o $(O)/obj/tests/unit/tap.o \
		$(O)/libcommon.a | $(GIT_STAMP)
	@mkdir -p $(@D)
	$(LINK) -o $@ $< $(O)/obj/tests/unit/tap.o $(O)/libcommon.a $(GIT_LIBS)

unit: $(UNIT_BINS)

# the test command of README.md
check: all unit
	./scripts/setup.sh
	RELAY_BIN=$(BIN) RELAY_UNIT=$(O)/test ./tests/run.sh

# the same suite under AddressSanitizer + UndefinedBehaviorSanitizer
# (sanitizers need a dynamic link: Debian's shared curl, own folder)
check-asan:
	$(MAKE) $(ASAN_VARS) all unit
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	RELAY_BIN=build/asan/bin RELAY_UNIT=build/asan/test \
		./tests/run.sh

# libFuzzer harnesses (Debian's clang) over the parsers and validators,
# with ASan+UBSan; FUZZ_SECONDS each, two at a time with make -j2. New
# inputs go to build/fuzz/corpus-*; the seeds in tests/fuzz/corpus stay.
FUZZ = json dotenv link retry_after vars escape
FUZZ_SECONDS ?= 60
FUZZ_SRC = common/buf.c common/dotenv.c common/env.c common/err.c \
	common/gitlab.c common/http.c common/json.c common/log.c common/notes.c \
	common/record.c common/slack.c common/url.c common/util.c
FUZZ_CC = clang -g -O1 -std=c11 -D_POSIX_C_SOURCE=200809L \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Icommon

build/fuzz/fuzz-%: tests/fuzz/%.c $(FUZZ_SRC) $(wildcard common/*.h) \
		| build/.setup-done
	@mkdir -p $(@D)
	$(FUZZ_CC) -o $@ $< $(FUZZ_SRC) -lcurl

fuzz-%: build/fuzz/fuzz-%
	@mkdir -p build/fuzz/corpus-$*
	@echo "fuzz $*: $(FUZZ_SECONDS) s"
	@cd build/fuzz && ./fuzz-$* -max_total_time=$(FUZZ_SECONDS) \
		-timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
		corpus-$* $(CURDIR)/tests/fuzz/corpus/$* >log-$* 2>&1 || \
		{ tail -n 40 log-$*; echo "fuzz $*: FAILED (input in build/fuzz)"; \
		exit 1; }
	@grep -E '^stat::number_of_executed_units|^stat::peak_rss' \
		build/fuzz/log-$* | sed 's/^/fuzz $*: /'

.PRECIOUS: build/fuzz/fuzz-%
fuzz: $(FUZZ:%=fuzz-%)

# the end-to-end suite with every relay-* binary run under valgrind
# (memcheck, leak check, dynamic build: valgrind cannot follow a static
# glibc's allocator); any error or leak fails the run
check-valgrind:
	$(MAKE) DYNAMIC=1 O=build/vg BIN=build/vg/bin OPT="-O1 -g" all unit
	./scripts/valgrind.sh build/vg/bin build/vg/test

# every YAML file against GitLab's CI schema (gitlab-ci-local from npm)
lint-ci:
	./scripts/ci-lint.sh

lint:
	./scripts/lint.sh

fmt:
	clang-format -i common/*.[ch] jobs/*.c tests/unit/*.[ch] tests/fuzz/*.c

# bench only: relay-mirror on musl's own malloc, to measure mimalloc
$(O)/bench/relay-mirror-musl-malloc: $(O)/obj/jobs/mirror.o $(O)/libcommon.a \
		| $(GIT_STAMP)
	@mkdir -p $(@D)
	$(LINK) -o $@ $< $(O)/libcommon.a $(filter-out %.o,$(GIT_LIBS))

bench: all $(O)/bench/relay-mirror-musl-malloc
	./scripts/setup.sh bench
	./scripts/bench.sh

demo: all
	KEEP="$(KEEP)" ./scripts/demo.sh

# README's picture of status.html: t65-status renders the page of its
# 30-bump history in headless Chromium (build/status.png)
screenshots: all
	./scripts/setup.sh
	RELAY_BIN=$$(cd $(BIN) && pwd) sh ./tests/e2e/t65-status.sh
	mkdir -p docs && cp build/status.png docs/relay-status.png

# the simulated month (tests/e2e/month.py); HOURS and SEED to vary it
month: all
	RELAY_BIN=$(BIN) python3 tests/e2e/month.py --hours $(or $(HOURS),720) \
		--seed $(or $(SEED),1)

# a man page per binary, from its --help (the stage's variable table)
MANS = $(JOBS:%=$(O)/man/relay-%.1)
man: $(MANS)
$(O)/man/relay-%.1: $(BIN)/relay-% scripts/man.py
	@mkdir -p $(@D)
	python3 scripts/man.py $< '$(VERSION)' >$@.tmp && mv $@.tmp $@

install: all man
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	cp $(BINS) $(DESTDIR)$(BINDIR)/
	cp $(MANS) $(DESTDIR)$(MANDIR)/man1/

# every build flavour; build/deps-musl (a link to shared static libraries)
# and the setup stamps stay
clean:
	rm -rf build/obj build/test build/asan build/vg build/fuzz \
		build/libcommon.a build/test-tmp build/man bin

distclean: clean
	rm -rf build
