#!/usr/bin/env python3
"""make demo: the whole flow on the embedded GitLab simulator, told hour by
hour. Real git repositories for canonical and the security mirror; the
hourly scheduled pipeline is the chain of templates/update-component.yml
run with the real binaries (tests/e2e/simchain.py); what a person would
see (the jobs' logs, the MR, its labels, Slack) is printed between hours.

KEEP=1 leaves the simulator running and prints the URLs to open.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "e2e"))
import simchain  # noqa: E402
from simchain import Sim, Chain, q  # noqa: E402

SRC, TGT = "gitlab-org/security/gitaly", "gitlab-org/gitlab"
CANON = "gitlab-org/gitaly"  # flaky-test issues go there
BOT, APPROVER, DEV = "demo-bot-token", "demo-approver-token", "demo-dev-token"
ENVS = ["gstg-cny", "gprd-cny", "gstg", "gprd"]  # gitlab.com's rollout
CHANNEL = {"gitaly_alerts": "#gitaly_alerts", "g_gitaly": "#g_gitaly"}
COLOR = sys.stdout.isatty() and "NO_COLOR" not in os.environ


def bold(s):
    return f"\033[1m{s}\033[0m" if COLOR else s


def dim(s):
    return f"\033[2m{s}\033[0m" if COLOR else s


class Demo:
    def __init__(self, keep):
        self.keep = keep
        self.work = tempfile.mkdtemp(prefix="relay-demo.")
        self.sim = Sim(self.work)
        self.hour = 9
        self.slack_seen = 0
        self.mr_iid = None

    # ---- the world: git, GitLab CI, people, deployments
    def git(self, *args, repo="gitaly"):
        env = dict(os.environ, GIT_AUTHOR_NAME="Gitaly Dev",
                   GIT_AUTHOR_EMAIL="dev@example.com",
                   GIT_COMMITTER_NAME="Gitaly Dev",
                   GIT_COMMITTER_EMAIL="dev@example.com")
        return subprocess.run(["git", "-C", os.path.join(self.work, repo),
                               *args], env=env, check=True,
                              capture_output=True, text=True).stdout.strip()

    def merge_in_canonical(self, iid, title, path):
        """A feature branch merged the way GitLab merges an MR."""
        self.git("checkout", "-q", "-b", f"feature-{iid}", "master")
        with open(os.path.join(self.work, "gitaly", path), "a") as f:
            f.write(f"{title}\n")
        self.git("add", path)
        self.git("commit", "-q", "-m", title)
        self.git("checkout", "-q", "master")
        self.git("merge", "-q", "--no-ff", f"feature-{iid}", "-m",
                 f"Merge branch 'feature-{iid}' into 'master'\n\n{title}\n\n"
                 f"See merge request gitlab-org/gitaly!{iid}")
        self.git("push", "-q", os.path.join(self.work, "canonical.git"),
                 "master")
        # the MR itself, merged in the canonical project: relay-track-deploy
        # notes on it where the change has reached
        self.sim.admin("POST", "/mrs", {"project": CANON, "iids": [iid],
                                        "titles": [title]})
        return self.git("rev-parse", "HEAD")

    def import_mirror(self):
        """GitLab indexes what relay-mirror pushed: the mirror's commits
        appear in the security mirror project, same SHAs."""
        fp = set(self.git("rev-list", "--first-parent", "master",
                          repo="mirror.git").split())
        specs = []
        for line in self.git("rev-list", "--reverse", "--topo-order",
                             "--parents", "master",
                             repo="mirror.git").splitlines():
            sha, *parents = line.split()
            msg = self.git("log", "-1", "--format=%B", sha, repo="mirror.git")
            specs.append({"id": sha, "parents": parents, "message": msg,
                          "side": sha not in fp})
        self.sim.admin("POST", "/commits", {"project": SRC,
                                            "commits": specs})

    def source_pipeline(self, sha, status):
        pl = self.sim.admin("POST", "/pipelines", {
            "project": SRC, "sha": sha, "ref": "master", "status": status})
        return pl["id"]

    def mr(self):
        return self.sim.get(f"/projects/{q(TGT)}/merge_requests/"
                            f"{self.mr_iid}", BOT)

    def finish_mr_pipeline(self, jobs):
        pl = self.mr()["head_pipeline"]
        self.sim.admin("PATCH", f"/pipelines/{pl['id']}", {"jobs": jobs})
        failed = [j for j, s in jobs.items() if s == "failed"]
        say(f"GitLab CI: MR pipeline #{pl['id']} "
            + (f"failed ({', '.join(failed)})" if failed else "passed"))
        return pl["id"]

    def deploy(self, env):
        sha = self.sim.get(f"/projects/{q(TGT)}/repository/branches/master",
                           BOT)["commit"]["id"]
        self.sim.admin("POST", "/deployments", {
            "project": TGT, "environment": env, "sha": sha})
        say(f"deployer: {env} now runs gitlab-org/gitlab@{sha[:8]}")

    def advance(self, minutes=60):
        self.sim.admin("POST", "/clock", {"advance_s": minutes * 60})
        self.hour += minutes / 60

    # ---- the scheduled pipeline
    def now(self):
        return self.sim.admin("POST", "/clock", {"advance_s": 0})["now"]

    def pipeline(self, title, show=simchain.STAGES):
        """One scheduled pipeline: the jobs in `show` (and any that
        failed) with their logs and reports, the others on one line."""
        print()
        print(bold(f"── {self.now()[11:16]} scheduled pipeline: {title} "
                   + "─" * max(0, 52 - len(title))))
        runs = self.chain.run()
        quiet = []
        for st in simchain.STAGES:
            r = runs.get(st)
            if r is None:
                continue
            mark = {"success": "✔", "allowed": "!", "failed": "✘",
                    "skipped": "-"}[r.status]
            if st not in show and r.status in ("success", "skipped"):
                quiet.append(f"{mark} {r.job.name}")
                continue
            codes = ",".join(str(c) for c in r.codes) or "not run"
            extra = ""
            if r.status == "allowed":
                extra = " (allowed to fail)"
            elif len(r.codes) > 1:
                extra = " (retried on 75)"
            print(f"  {mark} {r.job.name:<18} exit {codes}{extra}")
            for line in r.stderr.splitlines():
                line = line.replace(f"relay-{st}: ", "", 1)
                print("      " + dim(self.short(line)))
            keys = [f"{k}={v}" for k, v in r.dotenv.items()
                    if k in DOTENV_SHOWN and v]
            if keys:
                print("      " + dim("dotenv: " + " ".join(
                    shorten(k) for k in keys)))
        if quiet:
            print("  " + dim("also ran: " + ", ".join(quiet)))
        self.show_slack()
        return runs

    def short(self, text):
        """URLs without the simulator's address, SHAs cut to 12."""
        text = text.replace(self.sim.url, "").replace(self.work, "…")
        return re.sub(r"\b([0-9a-f]{12})[0-9a-f]{28}\b", r"\1", text)

    def show_slack(self):
        posts = self.sim.admin("GET", "/slack")
        for p in posts[self.slack_seen:]:
            name = p["hook"]
            ch = CHANNEL.get(name, name)
            t = p["at"][11:16]
            print()
            print(f"  Slack {bold(ch)}  relay  {t}")
            for line in self.short(render_mrkdwn(
                    p["text"] or "")).splitlines():
                print(f"  │ {line}")
        self.slack_seen = len(posts)

    def show_mr(self):
        mr = self.mr()
        print()
        print(f"  {bold('!%d %s' % (mr['iid'], mr['title']))}  "
              f"[{mr['state']}]  by {mr['author']['username']}")
        print(f"  labels: {', '.join(mr['labels'])}")
        appr = self.sim.get(f"/projects/{q(TGT)}/merge_requests/"
                            f"{self.mr_iid}/approvals", BOT)
        who = ", ".join(a["user"]["username"] for a in appr["approved_by"])
        print(f"  approved by: {who or '-'}; merge when pipeline succeeds: "
              f"{str(mr['merge_when_pipeline_succeeds']).lower()}")

    def show_notes(self, since=0):
        notes = self.sim.get(f"/projects/{q(TGT)}/merge_requests/"
                             f"{self.mr_iid}/notes?sort=asc&per_page=100",
                             BOT)
        for n in notes[since:]:
            print(f"  note by {n['author']['username']}:")
            body = re.sub(r"<!--.*?-->", "", n["body"], flags=re.S).strip()
            for line in self.short(body).splitlines():
                print(f"  │ {line}")
        return len(notes)

    # ---- the story
    def run(self):
        t0 = time.time()
        done = False
        try:
            self.setup()
            self.story_first_pass()
            self.story_second_pass()
            self.show_status()
            print()
            print(bold("── done") + f" in {time.time() - t0:.1f} s")
            done = True
        finally:
            # KEEP=1 keeps a finished story only: a failed one stops too
            if self.keep and done:
                self.print_urls()
            else:
                self.sim.stop()
                shutil.rmtree(self.work, ignore_errors=True)

    def setup(self):
        self.sim.admin("POST", "/seed", {
            "users": [{"username": "release-tools-bot", "token": BOT},
                      {"username": "approver-bot", "token": APPROVER},
                      {"username": "gitaly-dev", "token": DEV}],
            "projects": [
                {"path": CANON, "default_branch": "master",
                 "visibility": "public", "files": {
                     ".gitlab/issue_templates/Flaky Test.md":
                     "## Flaky test\n\n- [ ] quarantine it\n"}},
                {"path": SRC, "default_branch": "master",
                 "visibility": "public"},
                {"path": TGT, "default_branch": "master",
                 "visibility": "public", "mr_pipeline_status": "running",
                 "mr_pipeline_jobs": [{"name": "rspec 3/8"},
                                      {"name": "gitaly integration"},
                                      {"name": "compile"}],
                 "files": {"GITALY_SERVER_VERSION": "placeholder\n"}}]})
        # canonical: a repository with history; the mirror is empty
        os.makedirs(os.path.join(self.work, "gitaly"))
        self.git("init", "-q", "-b", "master")
        with open(os.path.join(self.work, "gitaly", "README.md"), "w") as f:
            f.write("# Gitaly\n")
        self.git("add", "README.md")
        self.git("commit", "-q", "-m", "Initial commit")
        subprocess.run(["git", "clone", "-q", "--bare",
                        os.path.join(self.work, "gitaly"),
                        os.path.join(self.work, "canonical.git")], check=True)
        subprocess.run(["git", "init", "-q", "--bare", os.path.join(
            self.work, "mirror.git")], check=True)
        self.root = self.git("rev-parse", "HEAD")
        sim = self.sim
        self.chain = Chain(
            inputs={"component": "Gitaly", "source_project": SRC,
                    "target_project": TGT,
                    "version_file": "GITALY_SERVER_VERSION",
                    "mr_labels": "team::Delivery,dependency update,"
                    "group::gitaly,feature::maintenance",
                    "team_handle": "@gl-gitaly", "mr_branch":
                    "release-tools/update-gitaly", "wait_s": 0,
                    "pipeline_wait_s": 0, "poll_s": 1, "retry_base_ms": 5,
                    "timeout_s": 5,
                    "mirror_from": os.path.join(self.work, "canonical.git"),
                    "mirror_to": os.path.join(self.work, "mirror.git")},
            ci_vars={"CI_API_V4_URL": sim.api, "RELAY_TOKEN": BOT,
                     "RELAY_APPROVER_TOKEN": APPROVER,
                     "RELAY_SLACK_ALERTS_URL": sim.url + "/slack/gitaly_alerts",
                     "RELAY_SLACK_FAILURES_URL": sim.url + "/slack/g_gitaly",
                     "CI_JOB_URL": f"{sim.url}/gitlab-org/release-tools/"
                                   "-/jobs"},
            workdir=os.path.join(self.work, "jobs"))

    def story_first_pass(self):
        sim = self.sim
        now = self.now()
        sim.admin("POST", "/clock", {"advance_s": 3600 * (
            (8 - int(now[11:13])) % 24) + 3600 - 60 * int(now[14:16])
            - int(now[17:19])})
        print(bold("relay demo: Gitaly from a merge in canonical to "
                   "production, on the GitLab simulator at " + sim.url))
        print()
        print(bold("Set-up") + ": gitlab-org/gitlab pins Gitaly at its "
              f"initial commit {self.root[:8]}; canonical gets four "
              "merges:")
        changes = [(6801, "Add pack-objects cache metrics", "cache.go"),
                   (6802, "Fix flaky raft test", "raft.go"),
                   (6803, "Bump Go to 1.22", "go.mod"),
                   (6804, "Refactor housekeeping", "housekeeping.go")]
        shas = [self.merge_in_canonical(*c) for c in changes]
        for (iid, title, _), sha in zip(changes, shas):
            print(f"  {sha[:8]}  gitlab-org/gitaly!{iid}  {title}")
        # the security mirror starts where the target's pin is
        self.git("push", "-q", os.path.join(self.work, "mirror.git"),
                 f"{self.root}:refs/heads/master")
        self.import_mirror()
        sim.admin("POST", "/commits", {"project": TGT, "commits": [
            {"message": "Pin Gitaly",
             "files": {"GITALY_SERVER_VERSION": self.root + "\n"}}]})
        say("the hourly schedule of the security mirror's relay pipeline "
            "starts")

        runs = self.pipeline("mirror; nothing green yet",
                             show=["mirror", "find-green", "open-mr"])
        self.import_mirror()
        # the security mirror's CI had run on the mirrored merges
        for sha, st in zip(shas, ["success", "success", "success",
                                  "failed"]):
            self.source_pipeline(sha, st)
        say("relay-mirror pushed canonical to the security mirror (real git "
            "repositories):")
        for line in self.git("log", "--first-parent", "--format=%h %s",
                             "master", repo="mirror.git").splitlines():
            print("    " + line)
        say("the security mirror's pipelines: " + ", ".join(
            f"{s[:8]} {st}" for s, st in zip(shas, ["green", "green",
                                                     "green", "red"])))
        self.advance(60)
        runs = self.pipeline("the latest green commit: open the MR",
                             show=["find-green", "open-mr", "watch"])
        self.mr_iid = int(runs["open-mr"].dotenv.get("MR_IID", 0) or 0)
        if not self.mr_iid:
            raise SystemExit("demo: relay-open-mr opened no MR")
        self.show_mr()
        print()
        print("  the MR's description:")
        for line in self.mr()["description"].splitlines():
            if not line.startswith("<!--"):
                print("  │ " + self.short(line))

        self.advance(45)
        pl1 = self.finish_mr_pipeline({"rspec 3/8": "failed",
                                       "gitaly integration": "success",
                                       "compile": "success"})
        self.advance(15)
        self.pipeline("the MR pipeline failed: triage",
                      show=["watch", "triage", "notify"])
        notes = self.show_notes()
        self.advance(30)
        sim.admin("PATCH", f"/pipelines/{pl1}", {"jobs": {
            "rspec 3/8": "success"}})
        say(f"GitLab CI: the retried job of #{pl1} passed")
        if self.mr()["state"] == "merged":
            say(f"GitLab: auto-merge merged !{self.mr_iid}")
        self.advance(30)
        self.pipeline("the retry passed: a flake",
                      show=["watch", "triage", "track-deploy"])
        notes = self.show_notes(notes)
        issues = sim.get(f"/projects/{q(CANON)}/issues", BOT)
        for i in issues:
            print(f"  issue {CANON}#{i['iid']}: {i['title']} "
                  f"[{', '.join(i['labels'])}]")
        if not issues:
            print("  (no flaky-test issue was filed)")
        self.show_mr()

        for env in ENVS:
            self.advance(50)
            self.deploy(env)
            self.advance(10)
            self.pipeline(f"follow the deployment ({env})",
                          show=["track-deploy"])
            print(f"  labels: {', '.join(self.mr()['labels'])}")
        self.first_notes = notes

    def story_second_pass(self):
        sim = self.sim
        print()
        print(bold("Second pass") + ": two more merges in canonical; the "
              "newer one breaks gitlab-org/gitlab's integration tests")
        shas = [self.merge_in_canonical(6805, "Use the new object pool API",
                                        "pool.go"),
                self.merge_in_canonical(6806, "Stream pack files in chunks",
                                        "pack.go")]
        for sha in shas:
            print(f"  {sha[:8]}  {self.git('log', '-1', '--format=%b', sha).splitlines()[0]}")
        self.advance(60)
        runs = self.pipeline("mirror the new merges",
                             show=["mirror", "find-green"])
        self.import_mirror()
        for sha in shas:
            self.source_pipeline(sha, "success")
        self.advance(60)
        runs = self.pipeline("a new green commit: a new MR",
                             show=["find-green", "open-mr"])
        self.mr_iid = int(runs["open-mr"].dotenv.get("MR_IID", 0) or 0)
        self.show_mr()
        self.advance(50)
        pl = self.finish_mr_pipeline({"rspec 3/8": "success",
                                      "gitaly integration": "failed",
                                      "compile": "success"})
        self.advance(10)
        self.pipeline("the MR pipeline failed: retry once",
                      show=["watch", "triage", "notify"])
        notes = self.show_notes()
        self.advance(40)
        sim.admin("PATCH", f"/pipelines/{pl}", {"jobs": {
            "gitaly integration": "failed"}})
        say(f"GitLab CI: the retried job of #{pl} failed again")
        # gitlab-org/gitlab's own master is green: not a broken master
        self.target_green()
        self.advance(20)
        self.pipeline("failed again, master is green: a regression",
                      show=["triage", "notify"])
        self.show_notes(notes)
        self.show_mr()

    def show_status(self):
        """relay-status over the story: the status issue and the page
        (kept in build/ when the demo's folder goes)"""
        inputs = {}
        for j in self.chain.jobs:
            for k, v in j.inputs.items():
                inputs.setdefault(k, v)
        chain = Chain(inputs, self.chain.ci_vars, stages=["status"],
                      workdir=self.chain.workdir)
        r = chain.run()["status"]
        print()
        print(bold("Status") + ": relay-status, the status issue and the "
              "page from relay's own records")
        for line in r.stderr.strip().splitlines():
            print(f"  {dim(line)}")
        page = os.path.join(chain.workdir, "p1-status", "status",
                            "status.html")
        if r.status != "success" or not os.path.exists(page):
            raise SystemExit("relay-status failed")
        keep = os.path.join(simchain.TOP, "build", "demo-status.html")
        os.makedirs(os.path.dirname(keep), exist_ok=True)
        shutil.copyfile(page, keep)
        issue = int(r.dotenv.get("STATUS_ISSUE_IID", "0") or 0)
        print(f"  status issue: {self.sim.api}/projects/{q(TGT)}/issues/"
              f"{issue}")
        print(f"  the page:     {keep}")

    def target_green(self):
        sha = self.sim.get(f"/projects/{q(TGT)}/repository/branches/master",
                           BOT)["commit"]["id"]
        self.sim.admin("POST", "/pipelines", {
            "project": TGT, "sha": sha, "ref": "master", "status": "success",
            "jobs": [{"name": "rspec 3/8", "status": "success"},
                     {"name": "gitaly integration", "status": "success"},
                     {"name": "compile", "status": "success"}]})
        say("GitLab CI: gitlab-org/gitlab master is green")

    def print_urls(self):
        api, t = self.sim.api, q(TGT)
        print()
        print(bold("The simulator keeps running") +
              f" (pid {self.sim.proc.pid}; stop it with: kill "
              f"{self.sim.proc.pid}). Open:")
        for what, url in [
                ("bump MRs", f"{api}/projects/{t}/merge_requests"),
                ("the regression MR's notes",
                 f"{api}/projects/{t}/merge_requests/{self.mr_iid}/notes"),
                ("the first MR's notes",
                 f"{api}/projects/{t}/merge_requests/1/notes"),
                ("MR pipelines", f"{api}/projects/{t}/pipelines"),
                ("deployments", f"{api}/projects/{t}/deployments"),
                ("flaky-test issues", f"{api}/projects/{q(CANON)}/issues"),
                ("security mirror pipelines",
                 f"{api}/projects/{q(SRC)}/pipelines"),
                ("Slack posts", f"{self.sim.url}/-/sim/slack"),
                ("everything", f"{self.sim.url}/-/sim/state")]:
            print(f"  {what + ':':<28} {url}")
        print(f"  git repositories:            {self.work}/canonical.git, "
              f"{self.work}/mirror.git")
        print(f"  jobs' dotenv reports:        {self.work}/jobs/")


DOTENV_SHOWN = {"MIRROR_SHA", "MIRROR_UPDATED", "GREEN_SHA", "CURRENT_SHA",
                "UP_TO_DATE", "MR_IID", "MR_ACTION", "OUTCOME",
                "PIPELINE_ID", "FAILED_JOBS", "TRIAGE", "SUSPECT_RANGE",
                "NOTIFIED", "DEPLOY_STAGE"}


def shorten(kv):
    k, _, v = kv.partition("=")
    return f"{k}={v[:12]}" if re.fullmatch(r"[0-9a-f]{40}", v) else kv


def interesting(r):
    return bool(r.stderr.strip())


def say(s):
    print(f"  {dim('»')} {s}")


def render_mrkdwn(text):
    """Slack mrkdwn as a reader sees it: <url|label> shows the label."""
    text = re.sub(r"<([^|>]+)\|(compare)>", r"\2 \1", text)
    text = re.sub(r"<([^|>]+)\|([^>]+)>", r"\2", text)
    text = re.sub(r"<(https?://[^>]+)>", r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace(
        "&amp;", "&")


if __name__ == "__main__":
    Demo(keep=os.environ.get("KEEP", "") not in ("", "0")).run()
