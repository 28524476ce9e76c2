#!/usr/bin/env python3
"""Messages stay whole: a format string of err_set, err_prefix, job_no or
log_* split into adjacent literals across lines makes a grep for the
message fail. --check FILES: one line per split message, exit 1 if any;
--fix FILES: join them (then run clang-format, which keeps long strings
whole: BreakStringLiterals is false)."""
import re
import sys

CALL = re.compile(r'\b(err_set|err_prefix|log_error|log_warn|log_info|'
                  r'log_debug|job_no)\(')
SPLIT = re.compile(r'"\s*\n\s*"')


def calls(s):
    """(start, end) of each call, parentheses matched outside strings"""
    pos = 0
    for m in CALL.finditer(s):
        if m.start() < pos:
            continue
        j, depth, instr = m.end(), 1, False
        while j < len(s) and depth:
            c = s[j]
            if instr:
                if c == '\\':
                    j += 2
                    continue
                if c == '"':
                    instr = False
            elif c == '"':
                instr = True
            elif c == '(':
                depth += 1
            elif c == ')':
                depth -= 1
            j += 1
        pos = j
        yield m.start(), j


def main(argv):
    fix = argv[1:2] == ["--fix"]
    found = 0
    for path in argv[2:]:
        s = open(path).read()
        out, last = [], 0
        for a, b in calls(s):
            call = s[a:b]
            if SPLIT.search(call):
                found += 1
                if not fix:
                    line = s.count("\n", 0, a) + 1
                    print(f"{path}:{line}: message split across lines")
                call = SPLIT.sub("", call)
            out.append(s[last:a] + call)
            last = b
        out.append(s[last:])
        if fix and "".join(out) != s:
            open(path, "w").write("".join(out))
    return 1 if found and not fix else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
