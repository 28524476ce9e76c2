#!/usr/bin/env python3
"""make bench: find-green + open-mr by relay, then the same request
sequence by Debian's python3-gitlab and ruby-gitlab, each against a freshly
seeded simulator answering every request 50 ms late. Prints wall times and
ratios; never pass/fail."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "e2e"))
import faults  # noqa: E402  (the simulator driver of the fault matrix)

LATENCY_MS = float(os.environ.get("RELAY_BENCH_LATENCY_MS", "50"))
ROUNDS = int(os.environ.get("RELAY_BENCH_ROUNDS", "3"))

PY = r'''
import json, sys, gitlab
base, bot, approver, seq = sys.argv[1], sys.argv[2], sys.argv[3], \
    json.load(open(sys.argv[4]))
gls = {t: gitlab.Gitlab(base, private_token=t) for t in (bot, approver)}
for r in seq:
    path = r["path"] + ("?" + r["qs"] if r["qs"] else "")
    try:
        gls[approver if r["auth"] == "approver-bot" else bot].http_request(
            r["method"], path,
            post_data=json.loads(r["body"]) if r["body"] else None)
    except gitlab.exceptions.GitlabHttpError:
        if r["status"] < 400:  # only answers relay got too
            raise
'''

RB = r'''
require "gitlab"
require "json"
base, bot, approver, file = ARGV
clients = [bot, approver].to_h do |t|
  [t, Gitlab.client(endpoint: base + "/api/v4", private_token: t)]
end
JSON.parse(File.read(file)).each do |r|
  path = r["path"]
  path += "?" + r["qs"] unless r["qs"].empty?
  opts = {}
  unless r["body"].empty?
    opts[:body] = r["body"]
    opts[:headers] = { "Content-Type" => "application/json" }
  end
  # raw files as ruby-gitlab's own file_contents reads them
  opts.merge!(format: nil, parser: proc { |b, _| b }) if r["path"].end_with?("/raw")
  client = clients[r["auth"] == "approver-bot" ? approver : bot]
  begin
    client.send(r["method"].downcase, path, opts)
  rescue Gitlab::Error::ResponseError
    raise if r["status"] < 400 # only answers relay got too
  end
end
'''


def chain(c):
    """find-green then open-mr, as the scheduled pipeline runs them."""
    rc, _, err, report = c.run("find-green", {})
    if rc != 0:
        raise SystemExit("relay-find-green: " + err)
    env = dict(ln.split("=", 1) for ln in report.splitlines() if "=" in ln)
    rc, _, err, _ = c.run("open-mr", env)
    if rc != 0:
        raise SystemExit("relay-open-mr: " + err)


def setup(c):
    c.reset()
    a, b = faults.two_merges(c)
    c.pipeline(a, "success")
    c.pipeline(b, "running")
    c.sim.call("DELETE", "/requests")
    c.sim.call("POST", "/latency", {"ms": LATENCY_MS})


def timed(c, fn, n):
    """best wall time of fn over ROUNDS, each on a freshly seeded
    simulator (seeding not timed); every round must make n requests"""
    best = None
    for _ in range(ROUNDS):
        setup(c)
        t0 = time.monotonic()
        fn()
        t = time.monotonic() - t0
        made = len([r for r in c.sim.call("GET", "/requests")
                    if r["path"].startswith("/api/v4/")])
        if made != n:
            raise SystemExit("a round made %d requests, not %d" % (made, n))
        best = t if best is None or t < best else best
    return best


# The dependent-round lower bound of each scenario's clean run: the
# longest chain of requests each needing an answer of the one before
# (BENCHMARKS.md, "Rounds", derives each)
BOUND = {"find-green": 3, "open-mr create": 7, "open-mr update": 7}


def stages(c):
    """per scenario: requests, the sequential rounds they took (from the
    simulator's record of requests in flight together), the dependent-round
    bound, and the wall time at LATENCY_MS (rounds x latency cross-check)"""
    scen = {sc[0]: sc for sc in faults.ALL_SCENARIOS}
    print("%-16s %8s %7s %6s %8s %9s" % ("stage", "requests", "rounds",
                                         "bound", "seconds", "s/latency"))
    for name in BOUND:
        _, stage, setup_fn = scen[name]
        c.reset()
        v = setup_fn(c)
        c.sim.call("DELETE", "/requests")
        c.sim.call("POST", "/latency", {"ms": LATENCY_MS})
        t0 = time.monotonic()
        rc, _, err, _ = c.run(stage, v)
        t = time.monotonic() - t0
        c.sim.call("POST", "/latency", {"ms": 0})
        if rc not in (0, 1):
            raise SystemExit("relay-%s: %s" % (stage, err))
        r = c.sim.call("GET", "/rounds")
        print("%-16s %8d %7d %6d %8.3f %9s" % (
            name, r["requests"], r["rounds"], BOUND[name], t,
            "%.1f" % (t * 1000 / LATENCY_MS) if LATENCY_MS else "-"))


def main():
    sim = faults.Sim()
    c = faults.Ctx(sim)
    c.env["RELAY_PIPELINE_WAIT_S"] = "0"
    c.env["RELAY_TIMEOUT_S"] = "30"
    work = tempfile.mkdtemp(prefix="relay-bench.")
    try:
        if os.environ.get("RELAY_BENCH_STAGES", "1") == "1":
            stages(c)
            print()
        setup(c)
        chain(c)
        seq = [r for r in c.sim.call("GET", "/requests")
               if r["path"].startswith("/api/v4/")]
        n = len(seq)
        for r in seq:
            r["path"] = r["path"][len("/api/v4"):]
            r["qs"] = r["query"]
        with open(os.path.join(work, "seq.json"), "w") as f:
            json.dump(seq, f)

        def relay():
            chain(c)

        def client(argv):
            def go():
                p = subprocess.run(argv + [sim.base, faults.BOT,
                                           faults.APPROVER,
                                           os.path.join(work, "seq.json")],
                                   capture_output=True, text=True)
                if p.returncode != 0:
                    raise SystemExit("%s: %s" % (argv[0], p.stderr[-2000:]))
            return go

        rows = [("relay (C, libcurl)", timed(c, relay, n))]
        py = "/usr/bin/python3"
        if subprocess.run([py, "-c", "import gitlab"],
                          capture_output=True).returncode == 0:
            with open(os.path.join(work, "b.py"), "w") as f:
                f.write(PY)
            rows.append(("python3-gitlab", timed(
                c, client([py, os.path.join(work, "b.py")]), n)))
        else:
            rows.append(("python3-gitlab", None))
        if shutil.which("ruby") and subprocess.run(
                ["ruby", "-e", "require 'gitlab'"],
                capture_output=True).returncode == 0:
            with open(os.path.join(work, "b.rb"), "w") as f:
                f.write(RB)
            rows.append(("ruby-gitlab", timed(
                c, client(["ruby", os.path.join(work, "b.rb")]), n)))
        else:
            rows.append(("ruby-gitlab", None))
        print("find-green + open-mr: %d requests, %g ms latency each, "
              "best of %d" % (n, LATENCY_MS, ROUNDS))
        print("%-22s %10s %8s" % ("client", "seconds", "ratio"))
        base = rows[0][1]
        for name, t in rows:
            if t is None:
                print("%-22s %10s %8s" % (name, "n/a", "(not installed)"))
            else:
                print("%-22s %10.3f %7.2fx" % (name, t, t / base))
    finally:
        sim.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
