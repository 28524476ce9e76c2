#!/usr/bin/env python3
"""scripts/man.py BIN [VERSION]: the man page (man(7) roff) of a relay-*
binary, written to stdout from its own --help, which job.c prints from the
stage's declared variable table: the page and --help cannot disagree.

--help's shape: "usage: relay-x [flags]", the synopsis line, then sections
opened by an unindented "title:" line, whose entries are indented
"NAME   description" lines (variables, exit codes) or plain text lines."""
import re
import subprocess
import sys

DOCS = "https://gitlab.com/relay/relay#readme"
TITLES = {"variables": "ENVIRONMENT", "environment": "ENVIRONMENT",
          "exit codes": "EXIT STATUS", "exit status": "EXIT STATUS"}


def esc(s):
    """text for roff: backslashes, hyphens of options, leading dots"""
    s = s.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + s if s[:1] in (".", "'") else s


def page(binary, version):
    name = binary.rsplit("/", 1)[-1]
    out = subprocess.run([binary, "--help"], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin"}, timeout=30)
    if out.returncode != 0:
        sys.exit(f"man: {name} --help exited {out.returncode}")
    lines = out.stdout.splitlines()
    if not lines or not lines[0].startswith("usage: "):
        sys.exit(f"man: {name} --help does not start with 'usage:'")
    usage = lines[0][len("usage: "):]
    synopsis = lines[1].strip() if len(lines) > 1 else ""
    r = [f'.TH {name.upper()} 1 "" "relay {esc(version)}" "relay manual"',
         ".SH NAME", f"{name} \\- {esc(synopsis[:1].lower() + synopsis[1:].rstrip('.'))}",
         ".SH SYNOPSIS", f".B {name}",
         esc(usage[len(name):].strip()),
         ".SH DESCRIPTION", esc(synopsis),
         ".PP",
         "A stage of relay, run as a GitLab CI job. It reads its configuration "
         "from the environment (GitLab CI variables, component inputs or "
         "manual pipeline variables), logs to standard error, prints its "
         "results as KEY=value lines on standard output and writes them as "
         "a GitLab dotenv report to " + esc("RELAY_DOTENV") + ". With "
         + esc("--dry-run") + " it reads everything and writes nothing."]
    seen_exit = False
    for line in lines[2:]:
        if not line.strip():
            continue
        m = re.match(r"^(\S.*):$", line)
        if m:
            title = TITLES.get(m.group(1).lower(), m.group(1).upper())
            seen_exit |= title == "EXIT STATUS"
            r.append(f".SH {esc(title)}")
            continue
        m = re.match(r"^\s+(\S+)\s{2,}(.*)$", line)
        if m:
            r += [".TP", f".B {esc(m.group(1))}", esc(m.group(2))]
        else:
            r += [esc(line.strip()), ".br"]
    if not seen_exit:
        r += [".SH EXIT STATUS"]
        for code, text in [("0", "done, including nothing to do"),
                           ("1", "the answer is no"),
                           ("64", "usage: a bad flag or variable value"),
                           ("69", "the remote refused (4xx other than 429)"),
                           ("70", "internal error"),
                           ("75", "temporary failure after retries: retry"),
                           ("78", "configuration missing")]:
            r += [".TP", f".B {code}", esc(text)]
    r += [".SH SEE ALSO", esc(f"The stages, the components and the set-up: {DOCS}"),
          ".br", "relay\\-find\\-green(1), relay\\-open\\-mr(1), relay\\-watch(1), "
          "relay\\-triage(1), relay\\-notify(1), relay\\-track\\-deploy(1), "
          "relay\\-mirror(1)"]
    return "\n".join(r) + "\n"


if len(sys.argv) < 2:
    sys.exit(__doc__)
sys.stdout.write(page(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ""))
