#!/bin/sh
# make lint: house rules a compiler does not check (STYLE.md), formatting,
# and a static analysis pass. Prints one line per finding; exit 1 if any.
set -u
cd "$(dirname "$0")/.." || exit 70
found=$(mktemp)
trap 'rm -f "$found"' EXIT
# findings are appended to a file: pipelines run in subshells
finding() { echo "lint: $*" | tee -a "$found"; }

src="common/*.c common/*.h jobs/*.c"
# unsafe functions are banned in relay's own code
for f in sprintf vsprintf strcpy strcat strtok gets system popen; do
	grep -nE "(^|[^_a-z])$f\(" $src | grep -v '^\S*:[0-9]*:\s*/\?\*' |
		while IFS= read -r l; do finding "banned $f(): $l"; done
done
# one module owns one dependency
for pair in "curl/curl.h:common/http.c" "jsmn.h:common/json.c" \
	"git2.h:common/repo.c"; do
	h=${pair%%:*} owner=${pair#*:}
	grep -ln "#include <$h>" $src 2>/dev/null | grep -vx "$owner" |
		while IFS= read -r l; do finding "$l includes <$h>, owned by $owner"; done
done
# the environment is read in main only (through env_read)
grep -n 'getenv(' common/*.c | while IFS= read -r l; do
	finding "getenv below main: $l"; done
# common/ returns errors, it never exits
grep -nE '(^|[^_a-z])(exit|abort)\(' common/*.c | while IFS= read -r l; do
	finding "exit in common/: $l"; done
# no assignment inside if
grep -nE '^\s*(\}? ?else )?if \(\(?[a-z_>.-]+ = [^=]' $src |
	while IFS= read -r l; do finding "assignment in if: $l"; done
# docs/contract.md names every RELAY_* variable, every declared variable and
# every dotenv key of the code
{
	grep -ohE '"RELAY_[A-Z0-9_]+"' common/*.[ch] jobs/*.c
	grep -ohE '(ENV_[A-Z]+\(|\.name = )"[A-Z][A-Z0-9_]*"' common/*.c jobs/*.c
	grep -ohE '(job_out|list_out)\([^,]*, *"[A-Z][A-Z0-9_]*"' jobs/*.c
} | grep -oE '"[A-Z][A-Z0-9_]*"' | tr -d '"' | sort -u | while read -r v; do
	grep -q "\`$v\`" docs/contract.md ||
		finding "$v is not in docs/contract.md"
done
# messages stay whole, so a grep for one finds it
python3 scripts/messages.py --check common/*.c jobs/*.c 2>&1 |
	while IFS= read -r l; do finding "$l"; done
# each stage's policy on one screen: no function in jobs/ over 60 lines
python3 scripts/funclen.py --check 60 jobs/*.c 2>&1 |
	while IFS= read -r l; do finding "$l"; done
# formatting
for f in common/*.[ch] jobs/*.c tests/unit/*.[ch] tests/fuzz/*.c; do
	clang-format --dry-run -Werror "$f" >/dev/null 2>&1 ||
		finding "$f is not clang-formatted (make fmt)"
done
# the chain component is generated from the per-stage ones
python3 scripts/chain.py --check 2>&1 | while IFS= read -r l; do finding "$l"; done
# README's component input tables come from the specs; one pinned release
python3 scripts/inputs.py --check 2>&1 | while IFS= read -r l; do finding "$l"; done
# static analysis
if command -v cppcheck >/dev/null; then
	cppcheck -q --enable=warning,portability --error-exitcode=1 \
		--inline-suppr -Icommon --suppress=missingIncludeSystem \
		common jobs 2>&1 | while IFS= read -r l; do finding "cppcheck: $l"; done
fi
[ ! -s "$found" ]
