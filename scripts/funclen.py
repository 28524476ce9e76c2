#!/usr/bin/env python3
"""Functions stay on one screen: --check N FILES prints each function
longer than N lines (opening to closing brace, house style: the name on
its own line, braces in column 0) and exits 1 if any."""
import re
import sys


def long_functions(path, limit):
    lines = open(path).read().split("\n")
    i = 0
    while i < len(lines):
        if lines[i] == "{" and i > 0:
            j = i - 1
            while j > 0 and not re.search(r"^\w+\s*\(", lines[j]):
                j -= 1
            m = re.match(r"(\w+)\s*\(", lines[j])
            k = i
            while k < len(lines) and lines[k] != "}":
                k += 1
            n = k - i + 1
            if n > limit:
                yield j + 1, m.group(1) if m else "?", n
            i = k
        i += 1


def main(argv):
    if len(argv) < 3 or argv[0] != "--check":
        sys.exit("usage: funclen.py --check N FILES")
    limit, bad = int(argv[1]), 0
    for f in argv[2:]:
        for line, name, n in long_functions(f, limit):
            print(f"{f}:{line}: {name} is {n} lines (over {limit})")
            bad = 1
    return bad


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
