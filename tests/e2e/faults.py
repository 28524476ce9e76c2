#!/usr/bin/env python3
"""Fault matrix: every stage x every request it makes x every fault.

For each scenario (a stage with its inputs over a seeded simulator) a clean
run records the requests the stage makes and the state it leaves. Then, for
every distinct request (method + path, all pages) and every fault, the
scenario is set up again from scratch, the fault is injected on that request
for the whole run, and the stage must:

  - exit with docs/contract.md's code (75 for 5xx, 429, timeout, dropped
    connection, malformed or truncated JSON; 69 for 401, 403, 404), unless
    the injected status is the answer the clean run got anyway;
  - print exactly one "error:" line, naming the request (method and path,
    or "Slack" for the webhook);
  - show no token or webhook secret in stdout, stderr or the dotenv report;

and, with the fault removed, a re-run must exit as the clean run did and
leave exactly the clean run's state: MRs (title, description, labels, state,
approvals, auto-merge, notes), branches (tree and first-parent depth, so a
duplicated commit shows), pipelines and jobs, issues, Slack posts and the
dotenv values.

Prints TAP (one test per scenario x fault) and the matrix as a table of
passed/total cells. RELAY_FAULT_JOBS simulators run cells in parallel.
"""
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.abspath(os.environ.get("RELAY_BIN", os.path.join(TOP, "bin")))

BOT = "glpat-bot-SECRET-0001"
APPROVER = "glpat-approver-SECRET-0002"
SLACK_SECRET = "T000-B000-SECRET-0004"
SECRETS = (BOT, APPROVER, SLACK_SECRET)
TARGET = "gitlab-org/gitlab"
SOURCE = "gitlab-org/security/gitaly"

# RELAY_TIMEOUT_S=1 below: the delay outlasts every try
FAULTS = [
    ("500", {"kind": "status", "status": 500}, 75),
    ("502", {"kind": "status", "status": 502,
             "body": {"message": "502 Bad Gateway"}}, 75),
    ("503", {"kind": "status", "status": 503}, 75),
    ("429", {"kind": "retry_after", "status": 429, "retry_after": 1,
             "body": {"message": "Retry later"}}, 75),
    ("timeout", {"kind": "delay", "delay_s": 1.6}, 75),
    ("drop", {"kind": "drop"}, 75),
    ("malformed", {"kind": "malformed"}, 75),
    ("truncated", {"kind": "truncated"}, 75),
    ("401", {"kind": "status", "status": 401,
             "body": {"message": "401 Unauthorized"}}, 69),
    ("403", {"kind": "status", "status": 403,
             "body": {"message": "403 Forbidden"}}, 69),
    ("404", {"kind": "status", "status": 404,
             "body": {"message": "404 Not Found"}}, 69),
]


class Sim:
    """One simulator process on loopback, with its own trash folder."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="relay-faults.")
        port_file = os.path.join(self.dir, "port")
        self.log = open(os.path.join(self.dir, "sim.log"), "w")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(TOP, "tests/sim/gitlab_sim.py"),
             "--port-file", port_file], stdout=self.log, stderr=self.log)
        for _ in range(200):
            if os.path.exists(port_file) and os.path.getsize(port_file):
                break
            time.sleep(0.05)
        else:
            raise SystemExit("simulator did not start")
        with open(port_file) as f:
            self.base = "http://127.0.0.1:%s" % f.read().strip()

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.base + "/-/sim" + path, data=data, method=method,
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"null")

    def close(self):
        self.proc.terminate()
        self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Ctx:
    """A scenario's view of one simulator: set-up helpers and runs."""

    def __init__(self, sim):
        self.sim = sim
        self.dotenv = os.path.join(sim.dir, "relay.env")
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "CI_API_V4_URL": sim.base + "/api/v4",
            "RELAY_TOKEN": BOT, "RELAY_APPROVER_TOKEN": APPROVER,
            "RELAY_DOTENV": self.dotenv,
            "RELAY_SLACK_ALERTS_URL":
                "%s/slack/alerts-%s" % (sim.base, SLACK_SECRET),
            "RELAY_SLACK_FAILURES_URL":
                "%s/slack/failures-%s" % (sim.base, SLACK_SECRET),
            "RELAY_RETRY_BASE_MS": "5", "RELAY_PIPELINE_WAIT_S": "0",
            "RELAY_POLL_S": "1", "RELAY_TIMEOUT_S": "1", "RELAY_TRIES": "2",
        }
        # sanitizer settings of make check-asan pass through
        for k, v in os.environ.items():
            if k.endswith("SAN_OPTIONS"):
                self.env[k] = v

    def reset(self):
        self.sim.call("POST", "/reset")
        self.root = None

    def seed(self, mr_pipeline="running"):
        out = self.sim.call("POST", "/seed", {
            "users": [
                {"username": "release-tools-bot", "token": BOT},
                {"username": "approver-bot", "token": APPROVER}],
            "projects": [
                {"path": SOURCE, "default_branch": "master"},
                {"path": TARGET, "default_branch": "master",
                 "mr_pipeline_status": mr_pipeline,
                 "files": {"GITALY_SERVER_VERSION": "placeholder\n"}}]})
        self.root = out["projects"][SOURCE]["root"]
        self.commits(TARGET, [{"message": "Pin Gitaly", "files": {
            "GITALY_SERVER_VERSION": self.root + "\n"}}])

    def commits(self, project, commits):
        return self.sim.call("POST", "/commits", {
            "project": project, "commits": commits})["shas"]

    def pipeline(self, sha, status):
        return self.sim.call("POST", "/pipelines", {
            "project": SOURCE, "sha": sha, "ref": "master",
            "status": status})["id"]

    def mr_pipeline(self, status, jobs=None):
        return self.sim.call("POST", "/pipelines", {
            "project": TARGET, "ref": "release-tools/update-gitaly",
            "mr_iid": 1, "status": status, "jobs": jobs})["id"]

    def target_pipeline(self, status):
        return self.sim.call("POST", "/pipelines", {
            "project": TARGET, "ref": "master", "status": status})["id"]

    def set_jobs(self, pid, jobs):
        self.sim.call("PATCH", "/pipelines/%d" % pid, {"jobs": jobs})

    def deploy(self, environment, sha, status="success"):
        self.sim.call("POST", "/deployments", {
            "project": TARGET, "environment": environment, "sha": sha,
            "status": status})

    def state(self):
        return self.sim.call("GET", "/state")

    def run(self, stage, extra):
        if os.path.exists(self.dotenv):
            os.unlink(self.dotenv)
        env = dict(self.env, **extra)
        p = subprocess.run([os.path.join(BIN, "relay-" + stage)], env=env,
                           capture_output=True, timeout=300)
        report = ""
        if os.path.exists(self.dotenv):
            with open(self.dotenv) as f:
                report = f.read()
        return p.returncode, p.stdout.decode(errors="replace"), \
            p.stderr.decode(errors="replace"), report

    def must(self, stage, extra, ok=(0,)):
        rc, _, err, _ = self.run(stage, extra)
        if rc not in ok:
            raise RuntimeError("set-up: relay-%s exited %d: %s" %
                               (stage, rc, err.strip()[-300:]))


# ------------------------------------------------------------ scenarios
# Each set-up returns the stage's own variables, as the chain hands over.

def two_merges(c):
    c.seed()
    return c.commits(SOURCE, [{"message": "Add cache", "merge": 1},
                              {"message": "Fix leak", "merge": 2}])


def sc_find_green(c):
    a, b = two_merges(c)
    c.pipeline(a, "success")
    c.pipeline(b, "failed")
    return {}


def sc_open_create(c):
    a, _ = two_merges(c)
    return {"GREEN_SHA": a, "CURRENT_SHA": c.root}


def sc_open_update(c):
    a, b = two_merges(c)
    c.must("open-mr", {"GREEN_SHA": a, "CURRENT_SHA": c.root})
    return {"GREEN_SHA": b, "CURRENT_SHA": c.root}


def sc_watch(c):
    a, _ = two_merges(c)
    c.must("open-mr", {"GREEN_SHA": a, "CURRENT_SHA": c.root})
    c.mr_pipeline("failed", [{"name": "rspec 1/2", "status": "failed"},
                             {"name": "build", "status": "success"}])
    return {"MR_IID": "1"}


def triage_base(c):
    c.seed()
    # flaky-test issues go to the canonical project, with its template
    c.sim.call("POST", "/seed", {"projects": [
        {"path": "gitlab-org/gitaly", "default_branch": "master"}]})
    c.commits("gitlab-org/gitaly", [{"message": "Issue templates", "files": {
        ".gitlab/issue_templates/Flaky Test.md": "## Flaky\n"}}])
    _, b = c.commits(SOURCE, [{"message": "Add cache", "merge": 1},
                              {"message": "Fix leak", "merge": 2}])
    c.must("open-mr", {"GREEN_SHA": b, "CURRENT_SHA": c.root})
    c.sim.call("PATCH", "/mrs/%s/1" % urllib.parse.quote(TARGET, safe=""),
               {"auto_merge": False})
    c.target_pipeline("success")
    p = c.mr_pipeline("failed", [{"name": "rspec 3/4", "status": "failed"},
                                 {"name": "build", "status": "success"}])
    return {"MR_IID": "1", "OUTCOME": "failed", "PIPELINE_ID": str(p),
            "FAILED_JOBS": "rspec 3/4"}


def sc_triage_retry(c):
    return triage_base(c)


def sc_triage_flake(c):
    v = triage_base(c)
    c.must("triage", v)
    c.set_jobs(int(v["PIPELINE_ID"]), {"rspec 3/4": "success"})
    return dict(v, OUTCOME="success", FAILED_JOBS="")


def sc_triage_regression(c):
    v = triage_base(c)
    c.must("triage", v)
    c.set_jobs(int(v["PIPELINE_ID"]), {"rspec 3/4": "failed"})
    return v


def sc_triage_merged(c):
    """the retry passed and auto-merge merged the MR; the next hour has no
    MR: triage finishes the flake of the merged one (issue 13 item 12)"""
    v = triage_base(c)
    c.must("triage", v)
    c.sim.call("PATCH", "/mrs/%s/1" % urllib.parse.quote(TARGET, safe=""),
               {"auto_merge": True})
    c.set_jobs(int(v["PIPELINE_ID"]), {"rspec 3/4": "success"})
    if c.state()["projects"][TARGET]["mrs"][0]["state"] != "merged":
        raise RuntimeError("set-up: the retried MR did not merge")
    return {"MR_ACTION": "none"}


def api(c, method, path, body, token):
    """an API call as a person (not relay)"""
    req = urllib.request.Request(
        c.sim.base + "/api/v4" + path, method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", "PRIVATE-TOKEN": token})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def sc_open_held(c):
    """a person set the version in the bump MR (the seed's manual path):
    the scheduled run holds it, with one note (issue 13 item 11)"""
    a, b = two_merges(c)
    c.must("open-mr", {"GREEN_SHA": a, "CURRENT_SHA": c.root})
    api(c, "POST", "/projects/%s/repository/commits" %
        urllib.parse.quote(TARGET, safe=""), {
            "branch": "release-tools/update-gitaly",
            "commit_message": "Update GITALY_SERVER_VERSION",
            "actions": [{"action": "update",
                         "file_path": "GITALY_SERVER_VERSION",
                         "content": b + "\n"}]}, APPROVER)
    return {"GREEN_SHA": b, "CURRENT_SHA": c.root,
            "CI_PIPELINE_SOURCE": "schedule"}


def sc_notify(c):
    a, _ = two_merges(c)
    c.must("open-mr", {"GREEN_SHA": a, "CURRENT_SHA": c.root})
    p = c.mr_pipeline("failed", [{"name": "rspec 1/2", "status": "failed"}])
    return {"MR_IID": "1", "OUTCOME": "failed", "PIPELINE_ID": str(p),
            "FAILED_JOBS": "rspec 1/2", "TRIAGE": "regression",
            "SUSPECT_RANGE": c.sim.base + "/%s/-/compare/a...b" % SOURCE}


BISECT = {"MR_IID": "1", "TRIAGE": "regression", "FAILED_JOBS": "rspec 1/2",
          "RELAY_BISECT": "true", "RELAY_OFFER_REVERT": "true"}


def bisect_base(c):
    """two green changes after the pin, the canonical project holding the
    same history, and the bump MR pinning the second, failed in rspec"""
    c.seed()
    c.sim.call("POST", "/seed", {"projects": [
        {"path": "gitlab-org/gitaly", "default_branch": "master"}]})
    shas = c.commits(SOURCE, [
        {"message": "Add cache", "merge": 1, "files": {"cache.go": "1\n"}},
        {"message": "Fix leak", "merge": 1, "files": {"leak.go": "1\n"}}])
    c.commits("gitlab-org/gitaly", [{"id": shas[1], "message": "x"}])
    for sha in shas:
        c.pipeline(sha, "success")
    c.must("open-mr", {"GREEN_SHA": shas[1], "CURRENT_SHA": c.root})
    c.sim.call("PATCH", "/mrs/%s/1" % urllib.parse.quote(TARGET, safe=""),
               {"auto_merge": False})
    c.mr_pipeline("failed", [{"name": "rspec 1/2", "status": "failed"}])
    return shas


def sc_bisect_start(c):
    """the first round: the state note and one draft MR"""
    bisect_base(c)
    return dict(BISECT)


def sc_bisect_verdict(c):
    """the draft passed: the round is decided (draft closed, branch
    deleted), the verdict noted and posted, the revert offered"""
    bisect_base(c)
    c.must("bisect", BISECT)
    mrs = c.state()["projects"][TARGET]["mrs"]
    draft = [m for m in mrs if "relay::bisect" in m["labels"]][0]
    c.sim.call("PATCH", "/pipelines/%d" % draft["head_pipeline"]["id"],
               {"status": "success"})
    return dict(BISECT)


def sc_bisect_sweep(c):
    """the bump MR was closed mid-bisect and the chain has no MR now: the
    idle run closes the draft left behind and deletes its branch"""
    bisect_base(c)
    c.must("bisect", BISECT)
    c.sim.call("PATCH", "/mrs/%s/1" % urllib.parse.quote(TARGET, safe=""),
               {"state": "closed"})
    return {"MR_ACTION": "none", "RELAY_BISECT": "true"}


def merged_bump(c):
    a, _ = two_merges(c)
    c.must("open-mr", {"GREEN_SHA": a, "CURRENT_SHA": c.root})
    c.mr_pipeline("success")
    mr = c.state()["projects"][TARGET]["mrs"][0]
    if mr["state"] != "merged":
        raise RuntimeError("set-up: the bump MR did not merge")
    c.deploy("gstg-cny", mr["merge_commit_sha"])
    c.deploy("gstg", mr["merge_commit_sha"])


def sc_track_mr(c):
    merged_bump(c)
    return {"MR_IID": "1"}


def sc_track_newest(c):
    merged_bump(c)
    return {}


def sc_status(c):
    """a merged bump that reached two environments (relay-track-deploy's
    records), a newer green commit, then relay-status writes its issue.
    The clock is frozen: the issue shows times, the same in every cell"""
    c.sim.call("POST", "/clock", {"freeze_at": 1790812800})
    merged_bump(c)
    c.must("track-deploy", {})
    b = c.commits(SOURCE, [{"message": "Newer", "merge": 1}])[0]
    c.pipeline(b, "success")
    return {"RELAY_STATUS_DIR": os.path.join(c.sim.dir, "status")}


def sc_status_update(c):
    """the same, the issue already written, then production is reached:
    the issue is edited in place (PUT)"""
    extra = sc_status(c)
    c.must("status", extra)
    mr = c.state()["projects"][TARGET]["mrs"][0]
    c.sim.call("POST", "/clock", {"advance_s": 3600})
    c.deploy("gprd-cny", mr["merge_commit_sha"])
    c.deploy("gprd", mr["merge_commit_sha"])
    c.must("track-deploy", {})
    return extra


def sc_track_notes(c):
    """a merged bump in production whose range names two MRs of the
    canonical project (and one of the mirror's own): relay-track-deploy
    writes one deployment note on each canonical MR, then the bump's
    record (issue 18). The clock is frozen: the notes show times"""
    c.sim.call("POST", "/clock", {"freeze_at": 1790812800})
    c.seed()
    c.sim.call("POST", "/seed", {"projects": [
        {"path": "gitlab-org/gitaly", "default_branch": "master"}]})
    c.sim.call("POST", "/mrs", {"project": "gitlab-org/gitaly", "count": 2})
    shas = c.commits(SOURCE, [
        {"message": "Fast-forwarded"},
        {"message": "Add cache", "merge": 1, "mr": 1,
         "mr_project": "gitlab-org/gitaly"},
        {"message": "Security fix", "merge": 1, "mr": 7},
        {"message": "Fix leak", "merge": 1, "mr": 2,
         "mr_project": "gitlab-org/gitaly"}])
    # gitaly !3 merged fast-forward: no "See merge request" line names it,
    # GitLab's merge requests of its commit do
    c.sim.call("POST", "/commits", {"project": "gitlab-org/gitaly",
                                    "commits": [{"id": shas[0],
                                                 "message": "x"}]})
    c.sim.call("POST", "/mrs", {"project": "gitlab-org/gitaly",
                                "iids": [3], "commits": [shas[0]]})
    c.must("open-mr", {"GREEN_SHA": shas[-1], "CURRENT_SHA": c.root})
    c.mr_pipeline("success")
    mr = c.state()["projects"][TARGET]["mrs"][0]
    if mr["state"] != "merged":
        raise RuntimeError("set-up: the bump MR did not merge")
    c.deploy("gprd", mr["merge_commit_sha"])
    return {"MR_IID": "1"}


ALL_SCENARIOS = [
    ("find-green", "find-green", sc_find_green),
    ("open-mr create", "open-mr", sc_open_create),
    ("open-mr update", "open-mr", sc_open_update),
    ("open-mr held", "open-mr", sc_open_held),
    ("watch", "watch", sc_watch),
    ("triage retry", "triage", sc_triage_retry),
    ("triage flake", "triage", sc_triage_flake),
    ("triage regression", "triage", sc_triage_regression),
    ("triage merged", "triage", sc_triage_merged),
    ("bisect start", "bisect", sc_bisect_start),
    ("bisect verdict", "bisect", sc_bisect_verdict),
    ("bisect sweep", "bisect", sc_bisect_sweep),
    ("notify", "notify", sc_notify),
    ("track-deploy MR", "track-deploy", sc_track_mr),
    ("track-deploy newest", "track-deploy", sc_track_newest),
    ("track-deploy notes", "track-deploy", sc_track_notes),
    ("status create", "status", sc_status),
    ("status update", "status", sc_status_update),
]

# Cells where GitLab's answer means something to the stage, or where no
# design can rule out a repeat. Each names the cells it covers and why:
# (scenario prefix, method, path regex, fault, exit (None: the clean run's,
# no error line), convergence check, why).
SEMANTICS = [
    ("track-deploy notes", "*", r"/projects/gitlab-org%2Fgitaly/"
     r"merge_requests/[0-9]+/notes", "404", None, "converge",
     "404: the source MR is gone (deleted); the other source MRs get their "
     "note, and the next runs try it again while the bump is followed (the "
     "bump's record of complete notes is not written)"),
    ("find-green", "GET", r"/repository/merge_base$", "404", 1, "converge",
     "GitLab answers 404 when two commits have no merge base: the green "
     "commit does not descend from the pin, refused with exit 1"),
    ("open-mr update", "GET", r"/files/GITALY_SERVER_VERSION/raw$", "404",
     None, "converge",
     "404 on the MR branch: the file is absent there, and is written"),
    ("triage flake", "GET", r"issue_templates.*/raw$", "404", None, "none",
     "404: the project has no such issue template; the issue is opened "
     "without one, as on a project that has none"),
    ("triage merged", "GET", r"issue_templates.*/raw$", "404", None, "none",
     "as for triage flake"),
    ("open-mr held", "GET", r"/files/GITALY_SERVER_VERSION/raw$", "404",
     None, "converge",
     "404 on the MR branch: the file is absent there; the branch head is "
     "still not relay's commit, so the MR is held all the same"),
    ("notify", "PUT", r"/notes/[0-9]+$", "*", "want", "at-least-once",
     "Slack took the post and GitLab did not record it: the next run "
     "posts again (Slack webhooks have no idempotency key; a repeat, "
     "never a loss)"),
    ("track-deploy", "PUT", r"/notes/[0-9]+$", "*", "want", "at-least-once",
     "as for notify"),
    ("notify", "POST", r"^/slack/", "timeout", "want", "at-least-once",
     "Slack took the post after the client gave up waiting"),
    ("track-deploy", "POST", r"^/slack/", "timeout", "want",
     "at-least-once", "as for notify"),
    ("bisect", "PUT", r"/notes/[0-9]+$", "*", "want", "at-least-once",
     "as for notify: the verdict's record is marked sent after the Slack "
     "post"),
    ("bisect", "POST", r"^/slack/", "timeout", "want", "at-least-once",
     "as for notify"),
    ("track-deploy notes", "GET",
     r"/commits/[0-9a-f]{40}/merge_requests$", "404", None, "none",
     "404: the canonical project does not hold the commit (a commit of the "
     "mirror's own): no MR is named by it"),
    ("bisect verdict", "GET", r"/commits/[0-9a-f]{40}/merge_requests$",
     "404", None, "none",
     "404: the source MR's project is not readable to relay (or does not "
     "hold the commit): the verdict names the merge commit's author"),
    ("bisect", "DELETE", r"/repository/branches/", "404", None, "none",
     "404: GitLab says the draft's branch is gone already (a person "
     "deleted it), as good as deleted; a branch a 404 lied about stays"),
    ("status", "GET", r"/repository/commits/[0-9a-f]{40}$", "404", None,
     "converge",
     "404: GitLab no longer has the commit (rewritten history); its date "
     "is shown as unknown, and the next run puts the issue right"),
]


def semantics(scenario, req, fault):
    for sc, method, rx, f, rc, check, why in SEMANTICS:
        if scenario.startswith(sc) and method in ("*", req["method"]) and \
                re.search(rx, req["path"]) and f in ("*", fault):
            return rc, check
    return "want", "converge"


def one_repeat(slack, clean):
    """slack is clean's posts with at most one of them posted twice."""
    extra = list(slack)
    for post in clean:
        if post not in extra:
            return False
        extra.remove(post)
    return len(extra) <= 1 and all(p in clean for p in extra)


# RELAY_FAULT_KINDS=500,drop,...: only these faults (the valgrind run of
# .ci/run samples the matrix; make check runs all of it)
if os.environ.get("RELAY_FAULT_KINDS"):
    FAULTS = [f for f in FAULTS
              if f[0] in os.environ["RELAY_FAULT_KINDS"].split(",")]

# RELAY_FAULT_ONLY=word: only the scenarios whose name contains it
SCENARIOS = [sc for sc in ALL_SCENARIOS
             if os.environ.get("RELAY_FAULT_ONLY", "") in sc[0]]


# ------------------------------------------------------------ checks

def normalize(state, base):
    """What a run leaves that matters, without ids, timestamps or the
    simulator's port (cells run on several simulators)."""
    state = json.loads(json.dumps(state).replace(base, "SIM"))
    out = {"slack": [(s["hook"], s["text"]) for s in state["slack"]]}
    for path, p in state["projects"].items():
        out[path] = {
            "branches": {b: (p["files"][b], p["branch_depth"][b],
                             p["branch_commits"][b]["title"])
                         for b in p["branches"]},
            "tags": sorted(p["tags"]),
            "mrs": [{k: m.get(k) for k in (
                "iid", "title", "description", "state", "source_branch",
                "target_branch", "approved_by", "auto_merge")} |
                {"labels": sorted(m["labels"]),
                 "notes": [(n["author"]["username"], n["body"])
                           for n in m["notes"]]}
                for m in p["mrs"]],
            "pipelines": [(pl["id"], pl["status"], pl["retries"],
                           [(j["name"], j["status"]) for j in pl["jobs"]])
                          for pl in p["pipelines"]],
            "issues": [(i["title"], i["state"], i["description"],
                        sorted(i["labels"]), [n["body"] for n in i["notes"]])
                       for i in p["issues"]],
        }
    return out


# dotenv keys that tell what this very run did (MR_ACTION=created, then
# unchanged on a re-run; NOTIFIED=true only for the run that reported):
# left out of the convergence check, every other key must match
PER_RUN_KEYS = ("MR_ACTION", "NOTIFIED", "STATUS_ISSUE")


def stable_report(report, base):
    return "".join(ln for ln in report.replace(base, "SIM").splitlines(True)
                   if ln.split("=", 1)[0] not in PER_RUN_KEYS)


def api_requests(log):
    return [r for r in log if not r["path"].startswith("/-/sim")]


def settle(sim):
    """Wait for requests still being answered (a delayed answer applies its
    change after the client gave up: that is part of what is tested)."""
    for _ in range(100):
        if all(r["status"] is not None
               for r in api_requests(sim.call("GET", "/requests"))):
            return
        time.sleep(0.05)


def request_name(req):
    if req["path"].startswith("/slack/"):
        return "Slack"
    return req["path"][len("/api/v4"):]


def diff(a, b, where=""):
    """First difference between two normalized states, for the report."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if a.get(k) != b.get(k):
                return diff(a.get(k), b.get(k), "%s.%s" % (where, k))
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return diff(x, y, "%s[%d]" % (where, i))
    return "%s: %s != clean %s" % (where, json.dumps(a)[:160],
                                   json.dumps(b)[:160])


def clean_run(c, sc):
    name, stage, setup = sc
    c.reset()
    v = setup(c)
    c.sim.call("DELETE", "/requests")
    rc, _, err, report = c.run(stage, v)
    reqs = []
    log = api_requests(c.sim.call("GET", "/requests"))
    for r in log:
        key = (r["method"], r["path"])
        if key not in [(q["method"], q["path"]) for q in reqs]:
            reqs.append(r)
    if rc not in (0, 1):
        raise RuntimeError("%s: clean run exited %d: %s" %
                           (name, rc, err.strip()[-300:]))
    state = normalize(c.state(), c.sim.base)
    # the same inputs again change nothing (docs/contract.md: idempotent)
    rc2, _, err2, report2 = c.run(stage, v)
    if rc2 != rc or normalize(c.state(), c.sim.base) != state or \
            stable_report(report2, c.sim.base) != \
            stable_report(report, c.sim.base):
        raise RuntimeError("%s: a second clean run differs: exit %d: %s" %
                           (name, rc2, diff(normalize(
                               c.state(), c.sim.base), state)))
    return {"rc": rc, "state": state, "total": len(log),
            "report": stable_report(report, c.sim.base),
            "requests": reqs}


def cell(c, sc, clean, req, fault):
    """One stage x request x fault; returns None or what went wrong."""
    name, stage, setup = sc
    label, spec, want = fault
    c.reset()
    v = setup(c)
    c.sim.call("DELETE", "/requests")
    c.sim.call("POST", "/faults", dict(
        spec, method=req["method"],
        path="^" + re.escape(req["path"]) + "$", times=-1))
    rc, out, err, report = c.run(stage, v)
    c.sim.call("DELETE", "/faults")
    settle(c.sim)
    for s in SECRETS:
        if s in out or s in err or s in report:
            return "a secret is in the output"
    expect, check = semantics(name, req, label)
    if spec.get("kind") == "status" and spec["status"] == req["status"]:
        # the clean run got this answer too: nothing to fail on
        expect = None
    if expect is None:
        if rc != clean["rc"]:
            return "exit %d, the clean run's %d" % (rc, clean["rc"])
    elif spec["kind"] in ("malformed", "truncated") and rc == clean["rc"] \
            and "error:" not in err and \
            normalize(c.state(), c.sim.base) == clean["state"]:
        # a 2xx answer the stage does not read (PUT label, Slack's "ok"):
        # the change is made, the run is complete
        pass
    else:
        want = want if expect == "want" else expect
        lines = [ln for ln in err.splitlines() if "error:" in ln]
        if rc != want:
            return "exit %d, expected %d: %s" % (
                rc, want, (lines or [err.strip()[-200:]])[-1])
        if want != 1 and len(lines) != 1:
            return "%d error lines: %s" % (len(lines), err.strip()[-300:])
        if want != 1 and (req["method"] not in lines[0] or
                          request_name(req) not in lines[0]):
            return "the error line does not name %s %s: %s" % (
                req["method"], request_name(req), lines[0])
    rc2, _, err2, report2 = c.run(stage, v)
    if rc2 != clean["rc"]:
        return "re-run exit %d, the clean run's %d: %s" % (
            rc2, clean["rc"], err2.strip()[-200:])
    if check == "none":
        return None
    st = normalize(c.state(), c.sim.base)
    if check == "at-least-once" and one_repeat(st["slack"],
                                               clean["state"]["slack"]):
        st["slack"] = clean["state"]["slack"]
    if st != clean["state"]:
        return "re-run state differs: " + diff(st, clean["state"])
    report2 = stable_report(report2, c.sim.base)
    if report2 != clean["report"]:
        return "re-run dotenv differs: %r != clean %r" % (
            report2, clean["report"])
    return None


def count_requests():
    """make bench: requests each scenario's clean run makes."""
    sim = Sim()
    try:
        c = Ctx(sim)
        print("%-22s %8s %8s %5s" % ("scenario", "requests", "distinct",
                                     "exit"))
        for sc in SCENARIOS:
            cl = clean_run(c, sc)
            print("%-22s %8d %8d %5d" % (sc[0], cl["total"],
                                         len(cl["requests"]), cl["rc"]))
    finally:
        sim.close()
    return 0


def main():
    if sys.argv[1:] == ["--requests"]:
        return count_requests()
    for sc in SCENARIOS:
        if not os.access(os.path.join(BIN, "relay-" + sc[1]), os.X_OK):
            print("# skipped: no relay-%s in %s" % (sc[1], BIN))
            return 0
    jobs = int(os.environ.get("RELAY_FAULT_JOBS") or os.cpu_count() or 2)
    sims = [Sim() for _ in range(max(1, jobs))]
    pool = [Ctx(s) for s in sims]
    free = list(pool)
    lock = threading.Lock()

    def with_ctx(fn, *a):
        with lock:
            c = free.pop()
        try:
            return fn(c, *a)
        except Exception as e:  # a set-up failure is a failed cell
            return "%s: %s" % (type(e).__name__, e)
        finally:
            with lock:
                free.append(c)

    try:
        with concurrent.futures.ThreadPoolExecutor(len(pool)) as ex:
            cleans = list(ex.map(lambda sc: with_ctx(clean_run, sc),
                                 SCENARIOS))
            for sc, cl in zip(SCENARIOS, cleans):
                if isinstance(cl, str):
                    print("Bail out! %s: %s" % (sc[0], cl))
                    return 1
            work = [(si, ri, fi) for si, sc in enumerate(SCENARIOS)
                    for ri in range(len(cleans[si]["requests"]))
                    for fi in range(len(FAULTS))]
            results = list(ex.map(lambda w: with_ctx(
                cell, SCENARIOS[w[0]], cleans[w[0]],
                cleans[w[0]]["requests"][w[1]], FAULTS[w[2]]), work))
    finally:
        for s in sims:
            s.close()

    by = {}
    for (si, ri, fi), res in zip(work, results):
        by.setdefault((si, fi), []).append((ri, res))
    n = 0
    failed = 0
    for si, sc in enumerate(SCENARIOS):
        reqs = cleans[si]["requests"]
        for fi, fault in enumerate(FAULTS):
            n += 1
            bad = [(ri, r) for ri, r in by[(si, fi)] if r]
            if bad:
                failed += 1
            print("%s %d - %s: %s on each of its %d requests" % (
                "not ok" if bad else "ok", n, sc[0], fault[0], len(reqs)))
            for ri, r in bad:
                print("#   %s %s %s: %s" % (fault[0], reqs[ri]["method"],
                                        request_name(reqs[ri]), r))
    print("# fault matrix: cells passed/total (requests of the stage)")
    head = "# %-20s %4s " % ("scenario", "reqs") + " ".join(
        "%9s" % f[0] for f in FAULTS)
    print(head)
    for si, sc in enumerate(SCENARIOS):
        row = "# %-20s %4d " % (sc[0], len(cleans[si]["requests"]))
        for fi in range(len(FAULTS)):
            cells = by[(si, fi)]
            ok = sum(1 for _, r in cells if not r)
            row += " %9s" % ("%d/%d" % (ok, len(cells)))
        print(row)
    total = len(results)
    print("# %d of %d cells passed; relay-mirror makes no API request "
          "(its git transport faults are in t70)" %
          (sum(1 for r in results if not r), total))
    print("# cells judged by GitLab's meaning of the answer:")
    for sc, method, rx, f, _, _, why in SEMANTICS:
        print("#   %s %s %s %s: %s" % (sc, f, method, rx, why))
    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
