#!/usr/bin/env python3
"""A release-train history for relay-status, made by the real stages.

Against a simulator already seeded by lib.sh's seed_default, on a frozen
clock, runs 30 bumps the way the scheduled chain would: a source change is
merged and turns green, relay-find-green and relay-open-mr pin it, the MR
pipeline passes or fails (relay-watch, relay-triage, relay-notify), the
merge goes out through the environments at realistic intervals
(relay-track-deploy after each deployment). Some bumps are flaky (failed,
retried, passed), one is a regression (failed twice; the next bump's
update of the same MR passes), one meets a broken master (labelled, closed
once master is green, a fresh MR merges). Bump 29 stops at the canaries, bump
30's MR is open with its pipeline running, and one newer green commit is
not pinned yet. Every record is written by relay's own binaries, so
relay-status reads what production would hold.

Usage: status_history.py SIM_URL (RELAY_BIN and the lib.sh environment
set). Deterministic: the same ids, SHAs and times on every run."""
import json
import os
import subprocess
import sys
import urllib.request

SIM = sys.argv[1]
BIN = os.environ["RELAY_BIN"]
SRC = "gitlab-org/security/gitaly"
TGT = "gitlab-org/gitlab"
FLAKY = {5, 12, 21}
REGRESSION = 17  # its MR is updated by bump 18, which passes
BROKEN = 25
ENVS = ["gstg-cny", "gprd-cny", "gstg", "gprd"]  # gitlab.com's rollout order


def admin(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(SIM + "/-/sim" + path, data=data,
                                 method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)


def advance(hours):
    admin("POST", "/clock", {"advance_s": int(hours * 3600)})


def run(stage, **env):
    """relay-STAGE with the environment plus env; returns its report"""
    e = dict(os.environ)
    for k in ("GREEN_SHA", "CURRENT_SHA", "UP_TO_DATE", "MR_IID",
              "OUTCOME", "PIPELINE_ID", "FAILED_JOBS", "TRIAGE",
              "MR_ACTION"):
        e.pop(k, None)
    e.update({k: str(v) for k, v in env.items()})
    dotenv = os.path.join(os.getcwd(), f"history-{stage}.env")
    e["RELAY_DOTENV"] = dotenv
    e["RELAY_STALE_HOURS"] = "8760"      # the frozen clock is in the past
    e["RELAY_DEPLOY_MAX_DAYS"] = "3650"
    p = subprocess.run([os.path.join(BIN, "relay-" + stage)], env=e,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if p.returncode not in (0, 1):
        sys.exit(f"history: relay-{stage} exit {p.returncode}: {p.stderr}")
    out = {}
    if os.path.exists(dotenv):
        for line in open(dotenv):
            k, _, v = line.rstrip("\n").partition("=")
            out[k] = v
        os.remove(dotenv)
    return out


def state():
    return admin("GET", "/state")


def mr(iid):
    for m in state()["projects"][TGT]["mrs"]:
        if m["iid"] == int(iid):
            return m
    sys.exit(f"history: no MR !{iid}")


def head_pipeline(iid):
    return mr(iid)["head_pipeline"]["id"]


def set_jobs(pl, jobs):
    admin("PATCH", f"/pipelines/{pl}", {"jobs": jobs})


def chain_after_pipeline(iid):
    """relay-watch, relay-triage, relay-notify as the pipeline runs them"""
    w = run("watch", MR_IID=iid)
    t = run("triage", MR_IID=iid, OUTCOME=w.get("OUTCOME", ""),
            PIPELINE_ID=w.get("PIPELINE_ID", ""),
            FAILED_JOBS=w.get("FAILED_JOBS", ""))
    run("notify", MR_IID=iid, OUTCOME=w.get("OUTCOME", ""),
        PIPELINE_ID=w.get("PIPELINE_ID", ""),
        FAILED_JOBS=w.get("FAILED_JOBS", ""), TRIAGE=t.get("TRIAGE", ""))
    return w, t


def source_change(k):
    out = admin("POST", "/commits", {"project": SRC, "commits": [
        {"message": f"Change {k}", "merge": 1}]})
    sha = out["shas"][0]
    advance(0.75)
    admin("POST", "/pipelines", {"project": SRC, "sha": sha,
                                 "ref": "master", "status": "success"})
    return sha


def pin():
    """relay-find-green, then relay-open-mr: the MR's iid"""
    g = run("find-green")
    o = run("open-mr", GREEN_SHA=g["GREEN_SHA"],
            CURRENT_SHA=g["CURRENT_SHA"], UP_TO_DATE=g["UP_TO_DATE"])
    return o["MR_IID"]


def deploy_all(iid, k, upto=len(ENVS)):
    merge = mr(iid)["merge_commit_sha"]
    delays = [1.5 + (k % 3) * 0.5, 2 + (k % 2), 3 + (k % 4),
              4 + (k * 5 % 17)]
    for i in range(upto):
        advance(delays[i])
        admin("POST", "/deployments", {"project": TGT,
                                       "environment": ENVS[i],
                                       "sha": merge, "status": "success"})
        run("track-deploy")


def main():
    for k in range(1, 31):
        advance(3 + (k * 7 % 13))
        source_change(k)
        advance(0.5)
        iid = pin()
        advance(1 + (k % 3) * 0.5)
        pl = head_pipeline(iid)
        if k in FLAKY:
            set_jobs(pl, {"test": "failed"})
            chain_after_pipeline(iid)           # retried
            advance(1)
            set_jobs(pl, {"test": "success"})
            chain_after_pipeline(iid)           # merged, flake
        elif k == REGRESSION:
            set_jobs(pl, {"test": "failed"})
            chain_after_pipeline(iid)           # retried
            advance(1)
            set_jobs(pl, {"test": "failed"})
            chain_after_pipeline(iid)           # regression, reported
            continue                            # the MR stays open
        elif k == BROKEN:
            admin("POST", "/pipelines", {"project": TGT, "ref": "master",
                                         "status": "failed", "jobs": [
                                             {"name": "test",
                                              "status": "failed"}]})
            set_jobs(pl, {"test": "failed"})
            chain_after_pipeline(iid)           # broken-master, waits
            advance(3)
            admin("POST", "/pipelines", {"project": TGT, "ref": "master",
                                         "status": "success"})
            chain_after_pipeline(iid)           # closed: master is green
            advance(1)
            iid = pin()                         # a fresh MR
            advance(1)
            set_jobs(head_pipeline(iid), {"test": "success"})
            chain_after_pipeline(iid)
        elif k == 30:
            continue                            # running
        else:
            set_jobs(pl, {"test": "success"})
            chain_after_pipeline(iid)
        if mr(iid)["state"] != "merged":
            sys.exit(f"history: bump {k} (!{iid}) did not merge")
        deploy_all(iid, k, 2 if k == 29 else len(ENVS))
    advance(2)
    source_change(31)                           # green, not pinned yet


if __name__ == "__main__":
    main()
