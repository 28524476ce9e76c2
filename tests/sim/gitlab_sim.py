#!/usr/bin/env python3
"""A stateful fake of GitLab's REST API v4 and of Slack incoming webhooks.

Standard library only, loopback only. It keeps projects, commits (with real
parent links, so first-parent walks and merge bases are computed), branches,
files per commit, pipelines and jobs, merge requests with labels, notes,
approvals and auto-merge, environments and deployments, issues, and Slack
posts. Answers use GitLab's shapes and status codes; faults can be injected
per route. See README.md beside this file for the admin API.
"""

import argparse
import base64
import copy
import email.utils
import hashlib
import json
import re
import socket
import sys
import threading
import time
import urllib.parse
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API = "/api/v4"


class ApiError(Exception):
    def __init__(self, status, body, headers=None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def not_found(what="404 Not Found"):
    return ApiError(404, {"message": what})


def bad_request(msg):
    # Grape's parameter errors use "error", model validation uses "message"
    return ApiError(400, {"error": msg})


def is_draft(title):
    """A title starting with [Draft], (Draft) or Draft: makes the MR a
    draft (docs/user/project/merge_requests/drafts.md)."""
    return re.match(r"(?i)\s*(\[draft\]|\(draft\)|draft:)", title or "") \
        is not None


def iso(ts):
    return datetime.fromtimestamp(ts, timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def truthy(v):
    return str(v).lower() in ("1", "true", "yes", "on")


class State:
    """All of GitLab's state. Every access holds self.lock."""

    def __init__(self, base_url):
        self.lock = threading.RLock()
        self.base_url = base_url
        self.reset()

    def reset(self):
        self.clock_offset = 0.0
        self.frozen = None         # a fixed clock (POST /clock freeze_at)
        self.users = {}            # id -> user
        self.tokens = {}           # token -> {user_id, scopes}
        self.projects = {}         # id -> project
        self.next_ids = {"project": 1, "pipeline": 1000, "job": 5000,
                         "mr": 100, "note": 9000, "deployment": 300,
                         "environment": 50, "issue": 700, "user": 1}
        self.commits = {}          # sha -> commit (global: shas are unique)
        self.commit_seq = 0
        self.pipelines = {}        # id -> pipeline
        self.jobs = {}             # id -> job
        self.slack = []            # posts
        self.slack_hooks = {}      # name -> {"status": 200|410...}
        self.faults = []
        self.requests = []
        self.latency_ms = 0
        self.inflight = 0          # requests being answered
        self.hostile = {}          # key -> text appended to its values

    # ---- helpers ----
    def now(self):
        base = self.frozen if self.frozen is not None else time.time()
        return base + self.clock_offset

    def new_id(self, kind):
        self.next_ids[kind] += 1
        return self.next_ids[kind]

    def user_json(self, uid):
        u = self.users[uid]
        return {"id": u["id"], "username": u["username"], "name": u["name"],
                "state": "active", "avatar_url": None,
                "web_url": f"{self.base_url}/{u['username']}"}

    def add_user(self, username, token=None, scopes=("api",), uid=None,
                 job_project=None):
        uid = uid or self.new_id("user")
        self.users[uid] = {"id": uid, "username": username,
                           "name": username.replace("-", " ").title()}
        if token:
            # job_project: the project whose jobs hold this token when it
            # is sent as JOB-TOKEN (CI_JOB_TOKEN)
            self.tokens[token] = {"user_id": uid, "scopes": list(scopes),
                                  "job_project": job_project}
        return uid

    def username(self, uid):
        return self.users[uid]["username"] if uid in self.users else None

    def project(self, ref):
        ref = urllib.parse.unquote(ref)
        if ref.isdigit() and int(ref) in self.projects:
            return self.projects[int(ref)]
        for p in self.projects.values():
            if p["path_with_namespace"] == ref:
                return p
        raise not_found("404 Project Not Found")

    def add_project(self, path, default_branch="main", **kw):
        pid = kw.get("id") or self.new_id("project")
        p = {"id": pid, "path_with_namespace": path,
             "name": path.rsplit("/", 1)[-1],
             "default_branch": default_branch,
             "web_url": f"{self.base_url}/{path}",
             "visibility": kw.get("visibility", "private"),
             "branches": {}, "tags": {}, "mrs": {}, "mr_iid": 0,
             "environments": {}, "deployments": [], "issues": {},
             "issue_iid": 0, "pipeline_iid": 0,
             "mr_pipeline_status": kw.get("mr_pipeline_status"),
             "mr_pipeline_jobs": kw.get("mr_pipeline_jobs"),
             "only_allow_merge_if_pipeline_succeeds":
                 kw.get("only_allow_merge_if_pipeline_succeeds", True),
             "self_approval": kw.get("self_approval", False),
             # merged_results (gitlab-org/gitlab's setting), detached or
             # merge_train: what a pipeline for an MR runs on
             "mr_pipeline_kind": kw.get("mr_pipeline_kind",
                                        "merged_results"),
             # "Remove all approvals when commits are added to the source
             # branch" (on for gitlab-org/gitlab)
             "reset_approvals_on_push": kw.get("reset_approvals_on_push",
                                               True),
             # usernames of eligible approvers / of users allowed to merge
             # into the target branch (empty: every writer)
             "approvers": list(kw.get("approvers", [])),
             "mergers": list(kw.get("mergers", [])),
             # project paths whose CI_JOB_TOKEN may reach this project
             "job_token_allowlist": list(kw.get("job_token_allowlist", [])),
             "readers": set(kw.get("readers", [])),
             "writers": set(kw.get("writers", []))}
        self.projects[pid] = p
        return p

    def can_read(self, p, auth):
        if p["visibility"] == "public":
            return True
        if auth is None:
            return False
        if auth.get("job"):
            # the target project's allowlist decides (its own jobs always)
            return (auth.get("job_project") == p["path_with_namespace"] or
                    auth.get("job_project") in p["job_token_allowlist"])
        if not p["readers"] and not p["writers"]:
            return True
        return auth["user_id"] in p["readers"] | p["writers"]

    def can_write(self, p, auth):
        if auth is None or auth.get("job"):
            return False
        if "api" not in auth["scopes"]:
            return False
        if not p["writers"]:
            return True
        return auth["user_id"] in p["writers"]

    # ---- git model ----
    def make_commit(self, p, parents, message, tree, author="Relay Bot",
                    ts=None, sha=None):
        self.commit_seq += 1
        ts = ts if ts is not None else self.now() + self.commit_seq * 1e-3
        sha = sha or hashlib.sha1(
            f"{p['id']}\0{parents}\0{message}\0{self.commit_seq}".encode()
        ).hexdigest()
        title = message.split("\n", 1)[0]
        self.commits[sha] = {
            "id": sha, "short_id": sha[:8], "title": title,
            "message": message, "parent_ids": list(parents),
            "author_name": author, "author_email": "bot@example.com",
            "committer_name": author, "committer_email": "bot@example.com",
            "authored_date": iso(ts), "committed_date": iso(ts),
            "created_at": iso(ts), "ts": ts, "seq": self.commit_seq,
            "project_id": p["id"],
            "web_url": f"{p['web_url']}/-/commit/{sha}",
            "tree": tree,
        }
        return sha

    def commit_json(self, sha):
        c = self.commits[sha]
        return {k: v for k, v in c.items()
                if k not in ("tree", "ts", "seq", "project_id")}

    def resolve(self, p, ref):
        if ref is None:
            ref = p["default_branch"]
        if ref in p["branches"]:
            return p["branches"][ref]
        if ref in p["tags"]:
            return p["tags"][ref]
        if ref.startswith("refs/heads/") and ref[11:] in p["branches"]:
            return p["branches"][ref[11:]]
        if ref in self.commits:
            return ref if self.reachable_in(p, ref) else None
        if re.fullmatch(r"[0-9a-f]{7,40}", ref or ""):
            for sha in self.commits:
                if sha.startswith(ref) and self.reachable_in(p, sha):
                    return sha
        return None

    def reachable_in(self, p, sha):
        c = self.commits.get(sha)
        return c is not None and (c["project_id"] == p["id"] or
                                  p.get("fork_of") == c["project_id"] or
                                  sha in self.all_ancestors_of_refs(p))

    def all_ancestors_of_refs(self, p):
        out = set()
        for head in list(p["branches"].values()) + list(p["tags"].values()):
            out |= self.ancestors(head)
        return out

    def ancestors(self, sha):
        seen, stack = set(), [sha]
        while stack:
            s = stack.pop()
            if s in seen or s not in self.commits:
                continue
            seen.add(s)
            stack.extend(self.commits[s]["parent_ids"])
        return seen

    def first_parent(self, sha, limit=None):
        out = []
        while sha and (limit is None or len(out) < limit):
            out.append(sha)
            parents = self.commits[sha]["parent_ids"]
            sha = parents[0] if parents else None
        return out

    def history(self, sha):
        """All ancestors, newest first (GitLab's default order)."""
        anc = self.ancestors(sha)
        return sorted(anc, key=lambda s: (self.commits[s]["ts"],
                                          self.commits[s]["seq"]),
                      reverse=True)

    def merge_base(self, a, b):
        common = self.ancestors(a) & self.ancestors(b)
        if not common:
            return None
        # the best common ancestor: not an ancestor of another common one.
        # A parent is always made before its child (lower seq), so the
        # newest common commit is one, and the one this returned before
        return max(common, key=lambda s: self.commits[s]["seq"])

    def merged_tree(self, head, target):
        """The tree of merging head into target, None on a conflict."""
        base = self.merge_base(head, target)
        tree = dict(self.commits[target]["tree"])
        src, btree = self.commits[head]["tree"], (
            self.commits[base]["tree"] if base else {})
        for path in set(src) | set(btree):
            if src.get(path) == btree.get(path):
                continue
            if tree.get(path) != btree.get(path) and \
                    tree.get(path) != src.get(path):
                return None
            if path in src:
                tree[path] = src[path]
            else:
                tree.pop(path, None)
        return tree

    # ---- pipelines ----
    def add_pipeline(self, p, ref, sha, status, source="push", jobs=None,
                     mr_iid=None):
        pid = self.new_id("pipeline")
        p["pipeline_iid"] += 1
        # a pipeline is never created before its commit
        now = max(self.now(), self.commits[sha]["ts"] + 1
                  if sha in self.commits else 0)
        pl = {"id": pid, "iid": p["pipeline_iid"], "project_id": p["id"],
              "sha": sha, "ref": ref, "status": status, "source": source,
              "created_at": iso(now), "updated_at": iso(now),
              "web_url": f"{p['web_url']}/-/pipelines/{pid}",
              "before_sha": "0" * 40, "tag": False, "mr_iid": mr_iid,
              "jobs": [], "bridges": [], "retries": 0}
        self.pipelines[pid] = pl
        for j in jobs or [{"name": "test", "status": status}]:
            self.add_job(pl, j)
        return pl

    def add_job(self, pl, spec):
        jid = self.new_id("job")
        job = {"id": jid, "name": spec["name"],
               "stage": spec.get("stage", "test"),
               "status": spec.get("status", pl["status"]),
               "allow_failure": spec.get("allow_failure", False),
               "pipeline_id": pl["id"], "retried": False,
               "downstream": spec.get("downstream")}
        self.jobs[jid] = job
        (pl["bridges"] if spec.get("bridge") else pl["jobs"]).append(jid)
        return job

    def pipeline_json(self, pl, full=False):
        p = self.projects[pl["project_id"]]
        out = {k: pl[k] for k in ("id", "iid", "project_id", "sha", "ref",
                                  "status", "source", "created_at",
                                  "updated_at", "web_url")}
        if full:
            out.update({"before_sha": pl["before_sha"], "tag": pl["tag"],
                        "yaml_errors": None, "user": None,
                        "started_at": pl["created_at"],
                        "finished_at": pl["updated_at"]
                        if pl["status"] in ("success", "failed", "canceled")
                        else None,
                        "duration": 60, "queued_duration": 1,
                        "coverage": None, "detailed_status": {
                            "text": pl["status"], "label": pl["status"],
                            "group": pl["status"]}})
        del p
        return out

    def job_json(self, job):
        pl = self.pipelines[job["pipeline_id"]]
        p = self.projects[pl["project_id"]]
        out = {"id": job["id"], "name": job["name"], "stage": job["stage"],
               "status": job["status"], "allow_failure": job["allow_failure"],
               "ref": pl["ref"], "tag": False,
               "web_url": f"{p['web_url']}/-/jobs/{job['id']}",
               "pipeline": {"id": pl["id"], "project_id": p["id"],
                            "ref": pl["ref"], "sha": pl["sha"],
                            "status": pl["status"]},
               "commit": {"id": pl["sha"]}, "failure_reason":
                   "script_failure" if job["status"] == "failed" else None}
        if job.get("downstream"):
            d = self.pipelines.get(job["downstream"])
            out["downstream_pipeline"] = (self.pipeline_json(d)
                                          if d else None)
        return out

    def refresh_pipeline(self, pl):
        statuses = [self.jobs[j]["status"] for j in pl["jobs"] + pl["bridges"]
                    if not self.jobs[j]["retried"]]
        blocking = [self.jobs[j]["status"] for j in pl["jobs"] + pl["bridges"]
                    if not self.jobs[j]["retried"]
                    and not self.jobs[j]["allow_failure"]]
        if any(s in ("running", "pending", "created") for s in statuses):
            pl["status"] = "running"
        elif any(s == "failed" for s in blocking):
            pl["status"] = "failed"
        elif any(s == "canceled" for s in statuses):
            pl["status"] = "canceled"
        elif statuses:
            pl["status"] = "success"
        pl["updated_at"] = iso(self.now())
        self.pipeline_changed(pl)

    @staticmethod
    def pipeline_for(pl, head):
        """GitLab matches an MR's pipeline to its head by sha or source_sha
        (merged-results and merge-train pipelines run on a merge commit)."""
        return pl is not None and head is not None and (
            pl["sha"] == head or pl.get("source_sha") == head)

    def diff_head_pipeline(self, p, mr):
        """app/models/merge_request.rb find_diff_head_pipeline:
        all_pipelines.for_sha_or_source_sha(diff_head_sha).first"""
        head = self.mr_head(p, mr)
        pls = [pl for pl in self.pipelines.values()
               if pl["project_id"] == p["id"] and
               (pl["mr_iid"] == mr["iid"] or
                pl["ref"] == mr["source_branch"]) and
               self.pipeline_for(pl, head)]
        return max(pls, key=lambda pl: pl["id"]) if pls else None

    def pipeline_changed(self, pl):
        """GitLab's auto-merge: merge when the head pipeline succeeds."""
        p = self.projects[pl["project_id"]]
        for mr in p["mrs"].values():
            if (mr["state"] == "opened" and mr["auto_merge"] and
                    mr["head_pipeline_id"] == pl["id"] and
                    self.pipeline_for(pl, self.mr_head(p, mr))):
                if pl["status"] == "success" and mr["approved_by"]:
                    try:
                        self.do_merge(p, mr, mr["auto_merge_user"])
                    except ApiError:
                        # GitLab aborts auto-merge when the merge fails
                        mr["auto_merge"] = False
                # a failed pipeline leaves auto-merge set: retried jobs
                # that pass merge the MR (AutoMerge::*Service#process
                # returns until the head pipeline succeeds)

    # ---- merge requests ----
    def mr_head(self, p, mr):
        # a merged or closed MR keeps the head it had (GitLab's last
        # merge_request_diff), whatever its branch holds later
        if mr["state"] != "opened" and mr.get("last_head"):
            return mr["last_head"]
        return p["branches"].get(mr["source_branch"], mr.get("sha"))

    def mr_json(self, p, mr, full=False):
        head = self.mr_head(p, mr)
        pl = self.pipelines.get(mr["head_pipeline_id"])
        out = {
            "id": mr["id"], "iid": mr["iid"], "project_id": p["id"],
            "title": mr["title"], "description": mr["description"],
            "state": mr["state"], "created_at": iso(mr["created_at"]),
            "updated_at": iso(mr["updated_at"]),
            "merged_at": iso(mr["merged_at"]) if mr["merged_at"] else None,
            "closed_at": iso(mr["closed_at"]) if mr["closed_at"] else None,
            "merged_by": self.user_json(mr["merged_by"])
            if mr["merged_by"] else None,
            "merge_user": self.user_json(mr["merged_by"])
            if mr["merged_by"] else None,
            "target_branch": mr["target_branch"],
            "source_branch": mr["source_branch"],
            "author": self.user_json(mr["author_id"]),
            "labels": list(mr["labels"]),
            "draft": is_draft(mr["title"]),
            "work_in_progress": is_draft(mr["title"]),
            "merge_when_pipeline_succeeds": mr["auto_merge"],
            "merge_status": "can_be_merged",
            "detailed_merge_status": "mergeable" if mr["state"] == "opened"
            else "not_open",
            "sha": head, "merge_commit_sha": mr["merge_commit_sha"],
            "squash_commit_sha": None,
            "should_remove_source_branch": mr["remove_source_branch"],
            "force_remove_source_branch": mr["remove_source_branch"],
            "references": {"short": f"!{mr['iid']}",
                           "full": f"{p['path_with_namespace']}!{mr['iid']}"},
            "web_url": f"{p['web_url']}/-/merge_requests/{mr['iid']}",
        }
        if full:
            out["head_pipeline"] = (self.pipeline_json(pl, True)
                                    if pl else None)
            out["pipeline"] = self.pipeline_json(pl) if pl else None
            base = self.merge_base(head, p["branches"].get(
                mr["target_branch"], head)) if head else None
            out["diff_refs"] = {"base_sha": base, "head_sha": head,
                                "start_sha": p["branches"].get(
                                    mr["target_branch"])}
            out["user"] = {"can_merge": True}
        return out

    def mr_by_iid(self, p, iid):
        try:
            return p["mrs"][int(iid)]
        except (KeyError, ValueError):
            raise not_found()

    def on_push(self, p, branch):
        """A push to an MR's source branch starts a new MR pipeline when
        the project is set to (mr_pipeline_status)."""
        for mr in p["mrs"].values():
            if mr["state"] == "opened" and mr["source_branch"] == branch:
                mr["updated_at"] = self.now()
                mr["auto_merge"] = False  # GitLab cancels it on new pushes
                if p["reset_approvals_on_push"]:
                    mr["approved_by"] = []
                if p["mr_pipeline_status"]:
                    self.start_mr_pipeline(p, mr, p["mr_pipeline_status"])

    def start_mr_pipeline(self, p, mr, status, jobs=None, kind=None):
        """A pipeline for the MR. Merged results (and merge trains) run on
        a merge commit of the MR head into the target head, on
        refs/merge-requests/<iid>/merge (/train); a conflict falls back to
        a detached pipeline on the MR head, refs/merge-requests/<iid>/head.
        source_sha (the MR head) is kept but never shown by the REST API."""
        if jobs is None and p["mr_pipeline_jobs"]:
            jobs = [dict(j, status=status) for j in p["mr_pipeline_jobs"]]
        kind = kind or p["mr_pipeline_kind"]
        head = self.mr_head(p, mr)
        target = p["branches"].get(mr["target_branch"])
        ref, sha = f"refs/merge-requests/{mr['iid']}/head", head
        if kind in ("merged_results", "merge_train") and target and head:
            tree = self.merged_tree(head, target)
            if tree is not None:
                msg = (f"Merge branch '{mr['source_branch']}' into "
                       f"'{mr['target_branch']}'\n\n{mr['title']}\n\n"
                       f"See merge request {p['path_with_namespace']}"
                       f"!{mr['iid']}")
                # GitLab's internal commit, authored by the MR's author
                sha = self.make_commit(
                    p, [target, head], msg, tree,
                    author=self.users[mr["author_id"]]["name"])
                ref = (f"refs/merge-requests/{mr['iid']}/" +
                       ("train" if kind == "merge_train" else "merge"))
        pl = self.add_pipeline(p, ref, sha, status,
                               source="merge_request_event", jobs=jobs,
                               mr_iid=mr["iid"])
        pl["source_sha"] = head
        mr["head_pipeline_id"] = pl["id"]
        return pl

    def do_merge(self, p, mr, uid):
        head = self.mr_head(p, mr)
        target = p["branches"][mr["target_branch"]]
        tree = self.merged_tree(head, target)
        if tree is None:
            # lib/api/merge_requests.rb: 422 since GitLab 16 (406 before)
            raise ApiError(422, {"message": "Branch cannot be merged"})
        msg = (f"Merge branch '{mr['source_branch']}' into "
               f"'{mr['target_branch']}'\n\n{mr['title']}\n\n"
               f"See merge request {p['path_with_namespace']}!{mr['iid']}")
        # the MR's commits (its last merge_request_diff), which
        # GET .../commits/:sha/merge_requests looks a commit up in
        mr["diff_shas"] = sorted(self.ancestors(head) -
                                 self.ancestors(target))
        sha = self.make_commit(p, [target, head], msg, tree)
        mr["last_head"] = head
        p["branches"][mr["target_branch"]] = sha
        mr.update(state="merged", merge_commit_sha=sha, merged_at=self.now(),
                  merged_by=uid, auto_merge=False, updated_at=self.now())
        if mr["remove_source_branch"]:
            p["branches"].pop(mr["source_branch"], None)
        return sha


# ---------------------------------------------------------------- routes

ROUTES = []


def route(method, pattern):
    rx = re.compile("^" + pattern + "$")

    def deco(fn):
        ROUTES.append((method, rx, fn))
        return fn
    return deco


def paginate(req, items, total_headers=True):
    try:
        per_page = int(req.q1("per_page", "20"))
        page = int(req.q1("page", "1"))
    except ValueError:
        raise bad_request("per_page is invalid")
    per_page = max(1, min(per_page, 100))
    page = max(1, page)
    total = len(items)
    pages = max(1, -(-total // per_page))
    chunk = items[(page - 1) * per_page: page * per_page]
    base = req.sim_base + req.path
    params = [(k, v) for k, v in req.query_pairs if k != "page"]

    def qs(n):
        return urllib.parse.urlencode(params + [("page", str(n))])

    links = []
    h = {"X-Page": str(page), "X-Per-Page": str(per_page),
         "X-Prev-Page": str(page - 1) if page > 1 else "",
         "X-Next-Page": str(page + 1) if page < pages else ""}
    if page < pages:
        links.append(f'<{base}?{qs(page + 1)}>; rel="next"')
    if page > 1:
        links.append(f'<{base}?{qs(page - 1)}>; rel="prev"')
    links.append(f'<{base}?{qs(1)}>; rel="first"')
    if total_headers and total <= 10000:
        # GitLab counts at most 10,000 rows: past that the totals and the
        # rel="last" link are left out
        h["X-Total"] = str(total)
        h["X-Total-Pages"] = str(pages)
        links.append(f'<{base}?{qs(pages)}>; rel="last"')
    h["Link"] = ", ".join(links)
    return chunk, h


def job_token_allowed(fn):
    """The route accepts CI_JOB_TOKEN (GitLab's route_setting
    :authentication, job_token_allowed: true). Elsewhere a job token
    authenticates nobody."""
    fn.job_token = True
    return fn


def need_read(req, p):
    if req.auth and req.auth.get("job") and not req.st.can_read(p, req.auth):
        raise ApiError(403, {"message": "403 Forbidden - Authentication by "
                             "CI/CD job token not allowed from "
                             f"{req.auth.get('job_project')} to "
                             f"{p['path_with_namespace']}."})
    if not req.st.can_read(p, req.auth):
        raise not_found("404 Project Not Found")


def need_write(req, p):
    need_read(req, p)
    if req.auth is None:
        raise ApiError(401, {"message": "401 Unauthorized"})
    if req.auth.get("job"):
        raise ApiError(403, {"message": "403 Forbidden"})
    if "api" not in req.auth["scopes"]:
        raise ApiError(403, {
            "error": "insufficient_scope",
            "error_description": "The request requires higher privileges "
                                 "than provided by the access token.",
            "scope": "api"})
    if not req.st.can_write(p, req.auth):
        raise ApiError(403, {"message": "403 Forbidden"})


@route("GET", r"/user")
def current_user(req):
    if req.auth is None or req.auth.get("job"):
        raise ApiError(401, {"message": "401 Unauthorized"})
    return 200, req.st.user_json(req.auth["user_id"])


@route("GET", r"/projects/([^/]+)")
def get_project(req, pid):
    p = req.st.project(pid)
    need_read(req, p)
    return 200, {"id": p["id"], "name": p["name"],
                 "path_with_namespace": p["path_with_namespace"],
                 "default_branch": p["default_branch"],
                 "web_url": p["web_url"], "visibility": p["visibility"],
                 "only_allow_merge_if_pipeline_succeeds":
                     p["only_allow_merge_if_pipeline_succeeds"]}


@route("GET", r"/projects/([^/]+)/repository/commits")
def list_commits(req, pid):
    p = req.st.project(pid)
    need_read(req, p)
    ref = req.q1("ref_name")
    head = req.st.resolve(p, ref)
    if head is None:
        # GitLab answers an unknown ref with an empty list
        return 200, [], paginate(req, [], False)[1]
    if truthy(req.q1("first_parent", "false")):
        shas = req.st.first_parent(head)
    else:
        shas = req.st.history(head)
    since = req.q1("since")
    if since:
        shas = [s for s in shas if req.st.commits[s]["committed_date"] >=
                since]
    chunk, h = paginate(req, shas, total_headers=False)
    return 200, [req.st.commit_json(s) for s in chunk], h


@route("GET", r"/projects/([^/]+)/repository/commits/([^/]+)")
def get_commit(req, pid, sha):
    p = req.st.project(pid)
    need_read(req, p)
    s = req.st.resolve(p, urllib.parse.unquote(sha))
    if s is None:
        raise not_found("404 Commit Not Found")
    return 200, req.st.commit_json(s)


@route("GET", r"/projects/([^/]+)/repository/commits/([^/]+)/merge_requests")
def commit_mrs(req, pid, sha):
    # lib/api/commits.rb: "commit = user_project.commit(params[:sha]);
    # not_found! 'Commit' unless commit; present
    # paginate(commit.merge_requests), with: Entities::MergeRequestBasic":
    # the MRs of this project whose commits hold it (not the merge commit)
    st = req.st
    p = st.project(pid)
    need_read(req, p)
    s = st.resolve(p, urllib.parse.unquote(sha))
    if s is None:
        raise not_found("404 Commit Not Found")
    out = []
    for mr in sorted(p["mrs"].values(), key=lambda m: -m["id"]):
        if mr.get("diff_shas") is not None:
            shas = mr["diff_shas"]
        else:
            head = st.mr_head(p, mr)
            tgt = p["branches"].get(mr["target_branch"])
            shas = (st.ancestors(head) - st.ancestors(tgt)
                    if head and tgt else set())
        if s in shas:
            out.append(mr)
    chunk, h = paginate(req, out)
    return 200, [st.mr_json(p, m) for m in chunk], h


@route("POST", r"/projects/([^/]+)/repository/commits")
def create_commit(req, pid):
    st = req.st
    p = st.project(pid)
    need_write(req, p)
    b = req.body_json()
    for f in ("branch", "commit_message", "actions"):
        if f not in b:
            raise bad_request(f"{f} is missing")
    branch = b["branch"]
    start = b.get("start_branch") or b.get("start_sha")
    force = bool(b.get("force"))
    if start:
        base = st.resolve(p, start)
        if base is None:
            raise bad_request(f"Invalid reference name: {start}")
        if branch in p["branches"] and not force and \
                start != branch:
            raise ApiError(400, {"message": f"A branch called '{branch}' "
                                            "already exists. Switch to that "
                                            "branch in order to make "
                                            "changes"})
    else:
        base = p["branches"].get(branch)
        if base is None:
            raise ApiError(400, {"message": "You can only create or edit "
                                            "files when you are on a "
                                            "branch"})
    tree = dict(st.commits[base]["tree"])
    if not isinstance(b["actions"], list) or not b["actions"]:
        raise bad_request("actions is empty")
    for a in b["actions"]:
        path, act = a.get("file_path"), a.get("action")
        if not path or act not in ("create", "update", "delete", "move",
                                   "chmod"):
            raise bad_request("actions[0][action] does not have a valid "
                              "value")
        content = a.get("content", "")
        if a.get("encoding") == "base64":
            content = base64.b64decode(content).decode()
        if act == "create":
            if path in tree:
                raise ApiError(400, {"message": "A file with this name "
                                                "already exists"})
            tree[path] = content
        elif act == "update":
            if path not in tree:
                raise ApiError(400, {"message": "A file with this name "
                                                "doesn't exist"})
            if a.get("last_commit_id") and False:
                pass
            tree[path] = content
        elif act == "delete":
            if path not in tree:
                raise ApiError(400, {"message": "A file with this name "
                                                "doesn't exist"})
            del tree[path]
        elif act == "move":
            prev = a.get("previous_path")
            if prev not in tree:
                raise ApiError(400, {"message": "A file with this name "
                                                "doesn't exist"})
            tree[path] = a.get("content", tree.pop(prev))
    uid = req.auth["user_id"]
    sha = st.make_commit(p, [base], b["commit_message"], tree,
                         author=st.users[uid]["name"])
    p["branches"][branch] = sha
    st.on_push(p, branch)
    out = st.commit_json(sha)
    out["stats"] = {"additions": 1, "deletions": 1, "total": 2}
    return 201, out


def file_at(req, pid, path):
    p = req.st.project(pid)
    need_read(req, p)
    ref = req.q1("ref")
    sha = req.st.resolve(p, ref)
    if sha is None:
        raise not_found("404 Commit Not Found")
    path = urllib.parse.unquote(path)
    tree = req.st.commits[sha]["tree"]
    if path not in tree:
        raise not_found("404 File Not Found")
    return p, sha, path, tree[path]


@route("POST", r"/projects/([^/]+)/repository/commits/([^/]+)/revert")
def revert_commit(req, pid, sha):
    """lib/api/commits.rb: authorize_push_to_branch!, the commit (404
    Commit Not Found), find_branch! (404 Branch Not Found), then
    Commits::RevertService onto that branch; a revert that conflicts or
    changes nothing is 400 with a message and error_code. The commit is
    app/models/commit.rb's revert_message: 'Revert "<title>"' and 'This
    reverts commit <sha>' (or 'This reverts merge request !N' when the
    simulator knew the MR: it never does, merges come from /-/sim). A merge
    commit is reverted against its first parent (mainline 1)."""
    st = req.st
    p = st.project(pid)
    need_write(req, p)
    b = req.params()
    branch = b.get("branch")
    if not branch:
        raise bad_request("branch is empty")
    c = st.resolve(p, sha)
    if c is None:
        raise not_found("404 Commit Not Found")
    if branch not in p["branches"]:
        raise not_found("404 Branch Not Found")
    commit = st.commits[c]
    parent = commit["parent_ids"][0] if commit["parent_ids"] else None
    ptree = st.commits[parent]["tree"] if parent else {}
    ctree = commit["tree"]
    head = p["branches"][branch]
    tree = dict(st.commits[head]["tree"])
    changed = False
    for path in set(ctree) | set(ptree):
        if ctree.get(path) == ptree.get(path):
            continue
        if tree.get(path) != ctree.get(path):
            raise ApiError(400, {
                "message": "Sorry, we cannot revert this commit "
                           "automatically. This commit may already have "
                           "been reverted, or a more recent commit may "
                           "have updated some of its content.",
                "error_code": "conflict"})
        if path in ptree:
            tree[path] = ptree[path]
        else:
            tree.pop(path, None)
        changed = True
    if not changed:
        raise ApiError(400, {"message": "No changes to be committed",
                             "error_code": "empty"})
    msg = (f'Revert "{commit["title"].strip()}"\n\n'
           f'This reverts commit {c}')
    uid = req.auth["user_id"]
    new = st.make_commit(p, [head], msg, tree, author=st.users[uid]["name"])
    p["branches"][branch] = new
    st.on_push(p, branch)
    return 201, st.commit_json(new)


@route("GET", r"/projects/([^/]+)/repository/files/([^/]+)/raw")
def raw_file(req, pid, path):
    _, sha, _, content = file_at(req, pid, path)
    raw = content.encode()
    # GitLab sets the blob's headers on raw answers too (lib/api/files.rb)
    return 200, raw, {"Content-Type": "text/plain; charset=utf-8",
                      "X-Gitlab-Size": str(len(raw)),
                      "X-Gitlab-Content-Sha256":
                          hashlib.sha256(raw).hexdigest(),
                      "X-Gitlab-Commit-Id": sha}


@route("GET", r"/projects/([^/]+)/repository/files/([^/]+)")
def get_file(req, pid, path):
    _, sha, path, content = file_at(req, pid, path)
    return 200, {"file_name": path.rsplit("/", 1)[-1], "file_path": path,
                 "size": len(content.encode()), "encoding": "base64",
                 "content": base64.b64encode(content.encode()).decode(),
                 "ref": req.q1("ref") or "", "commit_id": sha,
                 "last_commit_id": sha,
                 "content_sha256": hashlib.sha256(
                     content.encode()).hexdigest()}


def branch_json(p, st, name):
    sha = p["branches"][name]
    return {"name": name, "commit": st.commit_json(sha), "merged": False,
            "protected": name == p["default_branch"],
            "default": name == p["default_branch"],
            "web_url": f"{p['web_url']}/-/tree/{name}"}


@route("GET", r"/projects/([^/]+)/repository/branches/([^/]+)")
def get_branch(req, pid, name):
    p = req.st.project(pid)
    need_read(req, p)
    name = urllib.parse.unquote(name)
    if name not in p["branches"]:
        raise not_found("404 Branch Not Found")
    return 200, branch_json(p, req.st, name)


@route("GET", r"/projects/([^/]+)/repository/branches")
@job_token_allowed
def list_branches(req, pid):
    p = req.st.project(pid)
    need_read(req, p)
    names = sorted(p["branches"])
    chunk, h = paginate(req, names)
    return 200, [branch_json(p, req.st, n) for n in chunk], h


@route("POST", r"/projects/([^/]+)/repository/branches")
def create_branch(req, pid):
    p = req.st.project(pid)
    need_write(req, p)
    b = req.params()
    name, ref = b.get("branch"), b.get("ref")
    if not name:
        raise bad_request("branch is missing")
    if not ref:
        raise bad_request("ref is missing")
    if name in p["branches"]:
        raise bad_request("Branch already exists")
    sha = req.st.resolve(p, ref)
    if sha is None:
        raise bad_request("Invalid reference name: " + ref)
    p["branches"][name] = sha
    return 201, branch_json(p, req.st, name)


@route("DELETE", r"/projects/([^/]+)/repository/branches/([^/]+)")
def delete_branch(req, pid, name):
    p = req.st.project(pid)
    need_write(req, p)
    name = urllib.parse.unquote(name)
    if name not in p["branches"]:
        raise not_found("404 Branch Not Found")
    del p["branches"][name]
    return 204, None


@route("GET", r"/projects/([^/]+)/repository/merge_base")
def merge_base(req, pid):
    p = req.st.project(pid)
    need_read(req, p)
    refs = req.q("refs[]")
    if len(refs) < 2:
        raise bad_request("Provide at least 2 refs")
    shas, unknown = [], []
    for r in refs:
        s = req.st.resolve(p, r)
        if s is None:
            unknown.append(r)
        shas.append(s)
    if unknown:
        # lib/api/repositories.rb: render_api_error!(message, 400)
        noun = "ref" if len(unknown) == 1 else "refs"
        raise ApiError(400, {"message": f"Could not find {noun}: "
                                        f"{', '.join(unknown)}"})
    base = shas[0]
    for s in shas[1:]:
        base = req.st.merge_base(base, s)
        if base is None:
            raise not_found("404 Merge Base Not Found")
    return 200, req.st.commit_json(base)


@route("GET", r"/projects/([^/]+)/repository/compare")
def compare(req, pid):
    st = req.st
    p = st.project(pid)
    need_read(req, p)
    frm, to = req.q1("from"), req.q1("to")
    if not frm:
        raise bad_request("from is missing")
    if not to:
        raise bad_request("to is missing")
    a, b = st.resolve(p, frm), st.resolve(p, to)
    if a is None or b is None:
        raise not_found("404 Ref Not Found")
    if truthy(req.q1("straight", "false")):
        base = a
    else:
        base = st.merge_base(a, b) or a
    behind = st.ancestors(base)
    shas = [s for s in st.history(b) if s not in behind]
    shas.reverse()  # compare lists commits oldest first
    return 200, {"commit": st.commit_json(b) if shas else None,
                 "commits": [st.commit_json(s) for s in shas],
                 "diffs": [], "compare_timeout": False,
                 "compare_same_ref": a == b,
                 "web_url": f"{p['web_url']}/-/compare/{a[:8]}...{b[:8]}"}


PIPELINE_STATUSES = ("created", "waiting_for_resource", "preparing",
                     "pending", "running", "success", "failed", "canceled",
                     "skipped", "manual", "scheduled")


@route("GET", r"/projects/([^/]+)/pipelines")
def list_pipelines(req, pid):
    st = req.st
    p = st.project(pid)
    need_read(req, p)
    status = req.q1("status")
    if status and status not in PIPELINE_STATUSES:
        raise bad_request("status does not have a valid value")
    order_by = req.q1("order_by", "id")
    if order_by not in ("id", "status", "ref", "updated_at", "user_id"):
        raise bad_request("order_by does not have a valid value")
    sort = req.q1("sort", "desc")
    if sort not in ("asc", "desc"):
        raise bad_request("sort does not have a valid value")
    pls = [pl for pl in st.pipelines.values() if pl["project_id"] == p["id"]]
    for key in ("ref", "sha", "status", "source"):
        v = req.q1(key)
        if v:
            pls = [pl for pl in pls if pl[key] == v]
    pls.sort(key=lambda pl: (pl[order_by] if order_by != "user_id" else 0,
                             pl["id"]), reverse=(sort == "desc"))
    chunk, h = paginate(req, pls)
    return 200, [st.pipeline_json(pl) for pl in chunk], h


def pipeline_of(req, pid, plid):
    p = req.st.project(pid)
    need_read(req, p)
    pl = req.st.pipelines.get(int(plid))
    if pl is None or pl["project_id"] != p["id"]:
        raise not_found()
    return p, pl


@route("GET", r"/projects/([^/]+)/pipelines/(\d+)")
def get_pipeline(req, pid, plid):
    _, pl = pipeline_of(req, pid, plid)
    return 200, req.st.pipeline_json(pl, True)


def job_list(req, ids):
    scopes = req.q("scope[]") or req.q("scope")
    jobs = [req.st.jobs[j] for j in ids]
    if not truthy(req.q1("include_retried", "false")):
        jobs = [j for j in jobs if not j["retried"]]
    if scopes:
        jobs = [j for j in jobs if j["status"] in scopes]
    chunk, h = paginate(req, jobs)
    return 200, [req.st.job_json(j) for j in chunk], h


@route("GET", r"/projects/([^/]+)/pipelines/(\d+)/jobs")
def pipeline_jobs(req, pid, plid):
    _, pl = pipeline_of(req, pid, plid)
    return job_list(req, pl["jobs"])


@route("GET", r"/projects/([^/]+)/pipelines/(\d+)/bridges")
def pipeline_bridges(req, pid, plid):
    _, pl = pipeline_of(req, pid, plid)
    return job_list(req, pl["bridges"])


@route("POST", r"/projects/([^/]+)/pipelines/(\d+)/retry")
def retry_pipeline(req, pid, plid):
    p, pl = pipeline_of(req, pid, plid)
    need_write(req, p)
    st = req.st
    for jid in list(pl["jobs"]):
        job = st.jobs[jid]
        if job["status"] in ("failed", "canceled") and not job["retried"]:
            job["retried"] = True
            st.add_job(pl, {"name": job["name"], "stage": job["stage"],
                            "status": "pending",
                            "allow_failure": job["allow_failure"]})
    pl["retries"] += 1
    st.refresh_pipeline(pl)
    return 201, st.pipeline_json(pl, True)


@route("GET", r"/projects/([^/]+)/merge_requests")
def list_mrs(req, pid):
    st = req.st
    p = st.project(pid)
    need_read(req, p)
    state = req.q1("state", "all")
    if state not in ("opened", "closed", "locked", "merged", "all"):
        raise bad_request("state does not have a valid value")
    mrs = list(p["mrs"].values())
    if state != "all":
        mrs = [m for m in mrs if m["state"] == state]
    for key in ("source_branch", "target_branch"):
        v = req.q1(key)
        if v:
            mrs = [m for m in mrs if m[key] == v]
    labels = req.q1("labels")
    if labels:
        want = [l for l in labels.split(",") if l]
        mrs = [m for m in mrs if all(l in m["labels"] for l in want)]
    # lib/api/merge_requests.rb: "optional :updated_after, type: DateTime,
    # desc: 'Return merge requests updated after the specified time'"
    for key, keep in (("updated_after", lambda t, c: t >= c),
                      ("updated_before", lambda t, c: t <= c)):
        v = req.q1(key)
        if v:
            try:
                cut = datetime.fromisoformat(v.replace("Z", "+00:00"))
            except ValueError:
                raise bad_request(f"{key} is invalid")
            if cut.tzinfo is None:
                cut = cut.replace(tzinfo=timezone.utc)
            mrs = [m for m in mrs if keep(m["updated_at"], cut.timestamp())]
    order_by = req.q1("order_by", "created_at")
    sort = req.q1("sort", "desc")
    key = {"created_at": "created_at", "updated_at": "updated_at",
           "merged_at": "merged_at"}.get(order_by, "created_at")
    mrs.sort(key=lambda m: (m[key] or 0, m["iid"]), reverse=sort == "desc")
    chunk, h = paginate(req, mrs)
    return 200, [st.mr_json(p, m) for m in chunk], h


@route("POST", r"/projects/([^/]+)/merge_requests")
def create_mr(req, pid):
    st = req.st
    p = st.project(pid)
    need_write(req, p)
    b = req.body_json()
    for f in ("source_branch", "target_branch", "title"):
        if not b.get(f):
            raise bad_request(f"{f} is missing")
    src, tgt = b["source_branch"], b["target_branch"]
    if src not in p["branches"]:
        raise ApiError(400, {"message": [
            "Source branch is invalid",
            f"Source branch \"{src}\" does not exist"]})
    if tgt not in p["branches"]:
        raise ApiError(400, {"message": [
            f"Target branch \"{tgt}\" does not exist"]})
    if src == tgt:
        raise ApiError(400, {"message": [
            "Validate branches You can't use same project/branch for "
            "source and target"]})
    for m in p["mrs"].values():
        if m["state"] == "opened" and m["source_branch"] == src and \
                m["target_branch"] == tgt:
            raise ApiError(409, {"message": [
                "Another open merge request already exists for this "
                f"source branch: !{m['iid']}"]})
    p["mr_iid"] += 1
    now = st.now()
    labels = b.get("labels", "")
    if isinstance(labels, str):
        labels = [l.strip() for l in labels.split(",") if l.strip()]
    mr = {"id": st.new_id("mr"), "iid": p["mr_iid"], "title": b["title"],
          "description": b.get("description", ""), "state": "opened",
          "source_branch": src, "target_branch": tgt,
          "author_id": req.auth["user_id"], "labels": labels,
          "created_at": now, "updated_at": now, "merged_at": None,
          "closed_at": None, "merged_by": None, "merge_commit_sha": None,
          "remove_source_branch": bool(b.get("remove_source_branch")),
          "auto_merge": False, "auto_merge_user": None,
          "head_pipeline_id": None, "approved_by": [], "notes": []}
    p["mrs"][mr["iid"]] = mr
    if p["mr_pipeline_status"]:
        st.start_mr_pipeline(p, mr, p["mr_pipeline_status"])
    return 201, st.mr_json(p, mr, True)


@route("GET", r"/projects/([^/]+)/merge_requests/(\d+)")
def get_mr(req, pid, iid):
    p = req.st.project(pid)
    need_read(req, p)
    return 200, req.st.mr_json(p, req.st.mr_by_iid(p, iid), True)


def apply_labels(mr, labels=None, add=None, remove=None):
    split = lambda s: [l.strip() for l in (s.split(",") if isinstance(s, str)
                                           else s) if l.strip()]
    if labels is not None:
        mr["labels"] = split(labels)
    for l in split(add or []):
        # scoped labels: a new key::value replaces the old value
        if "::" in l:
            scope = l.rsplit("::", 1)[0]
            mr["labels"] = [x for x in mr["labels"]
                            if not (("::" in x) and
                                    x.rsplit("::", 1)[0] == scope)]
        if l not in mr["labels"]:
            mr["labels"].append(l)
    for l in split(remove or []):
        if l in mr["labels"]:
            mr["labels"].remove(l)


@route("PUT", r"/projects/([^/]+)/merge_requests/(\d+)")
def update_mr(req, pid, iid):
    st = req.st
    p = st.project(pid)
    need_write(req, p)
    mr = st.mr_by_iid(p, iid)
    b = req.body_json()
    for f in ("title", "description"):
        if f in b:
            mr[f] = b[f]
    if "remove_source_branch" in b:
        mr["remove_source_branch"] = bool(b["remove_source_branch"])
    apply_labels(mr, b.get("labels"), b.get("add_labels"),
                 b.get("remove_labels"))
    ev = b.get("state_event")
    if ev == "close" and mr["state"] == "opened":
        mr.update(state="closed", closed_at=st.now(), auto_merge=False,
                  last_head=st.mr_head(p, mr))
    elif ev == "reopen" and mr["state"] == "closed":
        mr.update(state="opened", closed_at=None)
    mr["updated_at"] = st.now()
    return 200, st.mr_json(p, mr, True)


@route("GET", r"/projects/([^/]+)/merge_requests/(\d+)/approvals")
def mr_approvals(req, pid, iid):
    p = req.st.project(pid)
    need_read(req, p)
    mr = req.st.mr_by_iid(p, iid)
    return 200, {"id": mr["id"], "iid": mr["iid"],
                 "approved": bool(mr["approved_by"]),
                 "approvals_required": 1,
                 "approvals_left": 0 if mr["approved_by"] else 1,
                 "approved_by": [{"user": req.st.user_json(u)}
                                 for u in mr["approved_by"]]}


@route("POST", r"/projects/([^/]+)/merge_requests/(\d+)/approve")
def approve_mr(req, pid, iid):
    st = req.st
    p = st.project(pid)
    need_write(req, p)
    mr = st.mr_by_iid(p, iid)
    b = req.body_json()
    uid = req.auth["user_id"]
    # lib/api/merge_request_approvals.rb: check_sha_param! (409), then
    # not_modified! if approved_by?(current_user) (304, no body), then
    # unauthorized! unless ApprovalService succeeded (401: not eligible)
    if b.get("sha") and b["sha"] != st.mr_head(p, mr):
        raise ApiError(409, {"message": "SHA does not match HEAD of source "
                                        "branch: " + st.mr_head(p, mr)})
    if uid in mr["approved_by"]:
        raise ApiError(304, None)
    if (uid == mr["author_id"] and not p["self_approval"]) or (
            p["approvers"] and st.username(uid) not in p["approvers"]):
        raise ApiError(401, {"message": "401 Unauthorized"})
    mr["approved_by"].append(uid)
    out = mr_approvals(req, pid, iid)[1]
    pl = st.pipelines.get(mr["head_pipeline_id"])
    if mr["auto_merge"] and pl and pl["status"] == "success":
        st.pipeline_changed(pl)  # auto-merge waited for this approval
    return 201, out


@route("PUT", r"/projects/([^/]+)/merge_requests/(\d+)/merge")
def merge_mr(req, pid, iid):
    st = req.st
    p = st.project(pid)
    need_write(req, p)
    mr = st.mr_by_iid(p, iid)
    b = req.body_json()
    uid = req.auth["user_id"]
    # lib/api/merge_requests.rb, in this order: unauthorized! unless
    # can_be_merged_by?(current_user) (401); not_allowed! unless
    # immediately or automatically mergeable (405); 'Branch cannot be
    # merged' 422 unless automatically mergeable or mergeable?; then
    # check_sha_param! (409)
    if p["mergers"] and st.username(uid) not in p["mergers"]:
        raise ApiError(401, {"message": "401 Unauthorized"})
    not_allowed = ApiError(405, {"message": "405 Method Not Allowed"})
    # a draft never merges, nor is set to auto-merge (merge checks)
    if mr["state"] != "opened" or is_draft(mr["title"]):
        raise not_allowed
    head = st.mr_head(p, mr)
    pl = st.diff_head_pipeline(p, mr)
    if pl is not None:
        mr["head_pipeline_id"] = pl["id"]
    auto = truthy(b.get("auto_merge", False)) or truthy(
        b.get("merge_when_pipeline_succeeds", False))
    pl_ok = pl is not None and pl["status"] == "success"
    # auto-merge waits on an unfinished pipeline (and on approvals)
    automatic = auto and pl is not None and pl["status"] not in (
        "success", "failed", "canceled", "skipped")
    if auto:
        immediate = pl_ok and bool(mr["approved_by"])
        if pl_ok and not mr["approved_by"]:
            automatic = True  # merge when checks pass: the approval
    else:
        immediate = bool(mr["approved_by"]) and (
            pl_ok or not p["only_allow_merge_if_pipeline_succeeds"])
    if not immediate and not automatic:
        raise not_allowed
    if not automatic and st.merged_tree(
            head, p["branches"][mr["target_branch"]]) is None:
        raise ApiError(422, {"message": "Branch cannot be merged"})
    if b.get("sha") and b["sha"] != head:
        raise ApiError(409, {"message": "SHA does not match HEAD of source "
                                        "branch: " + head})
    if "should_remove_source_branch" in b:
        mr["remove_source_branch"] = bool(b["should_remove_source_branch"])
    if automatic:
        mr["auto_merge"] = True
        mr["auto_merge_user"] = uid
        mr["updated_at"] = st.now()
        return 200, st.mr_json(p, mr, True)
    st.do_merge(p, mr, uid)
    return 200, st.mr_json(p, mr, True)


@route("GET", r"/projects/([^/]+)/merge_requests/(\d+)/pipelines")
def mr_pipelines(req, pid, iid):
    p = req.st.project(pid)
    need_read(req, p)
    mr = req.st.mr_by_iid(p, iid)
    pls = sorted([pl for pl in req.st.pipelines.values()
                  if pl["project_id"] == p["id"] and
                  pl["mr_iid"] == mr["iid"]], key=lambda x: -x["id"])
    chunk, h = paginate(req, pls)
    return 200, [req.st.pipeline_json(pl) for pl in chunk], h


QUICK = re.compile(r"^/(label|unlabel|relabel)\b(.*)$")


def quick_actions(mr, body):
    kept, changes = [], {}
    for line in body.split("\n"):
        m = QUICK.match(line.strip())
        if not m:
            kept.append(line)
            continue
        names = re.findall(r'~"([^"]+)"|~(\S+)', m.group(2))
        names = [a or b for a, b in names]
        if m.group(1) == "label":
            apply_labels(mr, add=names)
            changes.setdefault("add_label_ids", []).extend(names)
        elif m.group(1) == "unlabel":
            apply_labels(mr, remove=names)
        else:
            apply_labels(mr, labels=names)
    return "\n".join(kept).strip(), changes


def note_json(st, n):
    return {"id": n["id"], "body": n["body"], "author":
            st.user_json(n["author_id"]), "created_at": iso(n["created_at"]),
            "updated_at": iso(n["updated_at"]), "system": n["system"],
            "noteable_type": "MergeRequest", "noteable_iid": n["iid"],
            "resolvable": False, "confidential": False, "internal": False}


@route("GET", r"/projects/([^/]+)/merge_requests/(\d+)/notes")
def list_notes(req, pid, iid):
    p = req.st.project(pid)
    need_read(req, p)
    mr = req.st.mr_by_iid(p, iid)
    notes = list(mr["notes"])
    if req.q1("sort", "desc") == "desc":
        notes.reverse()
    chunk, h = paginate(req, notes)
    return 200, [note_json(req.st, n) for n in chunk], h


@route("POST", r"/projects/([^/]+)/merge_requests/(\d+)/notes")
def create_note(req, pid, iid):
    st = req.st
    p = st.project(pid)
    need_write(req, p)
    mr = st.mr_by_iid(p, iid)
    b = req.body_json()
    if not b.get("body"):
        raise bad_request("body is missing")
    body, changes = quick_actions(mr, b["body"])
    if not body:
        return 202, {"commands_changes": changes,
                     "summary": ["Commands applied"]}
    now = st.now()
    n = {"id": st.new_id("note"), "body": body, "author_id":
         req.auth["user_id"], "created_at": now, "updated_at": now,
         "system": False, "iid": mr["iid"]}
    mr["notes"].append(n)
    return 201, note_json(st, n)


@route("PUT", r"/projects/([^/]+)/merge_requests/(\d+)/notes/(\d+)")
def update_note(req, pid, iid, nid):
    st = req.st
    p = st.project(pid)
    need_write(req, p)
    mr = st.mr_by_iid(p, iid)
    b = req.body_json()
    for n in mr["notes"]:
        if n["id"] == int(nid):
            if n["author_id"] != req.auth["user_id"]:
                raise ApiError(403, {"message": "403 Forbidden"})
            if not b.get("body"):
                raise bad_request("body is missing")
            n["body"] = b["body"]
            n["updated_at"] = st.now()
            return 200, note_json(st, n)
    raise not_found("404 Note Not Found")


def delete_note_in(req, notes, nid):
    """DELETE .../notes/:id (lib/api/helpers/notes_helpers.rb delete_note:
    authorize! :admin_note, then destroy_conditionally!: 204, no body)."""
    for i, n in enumerate(notes):
        if n["id"] == int(nid):
            if n["author_id"] != req.auth["user_id"] or n["system"]:
                raise ApiError(403, {"message": "403 Forbidden"})
            del notes[i]
            return 204, None
    raise not_found("404 Note Not Found")


@route("DELETE", r"/projects/([^/]+)/merge_requests/(\d+)/notes/(\d+)")
def delete_mr_note(req, pid, iid, nid):
    p = req.st.project(pid)
    need_write(req, p)
    return delete_note_in(req, req.st.mr_by_iid(p, iid)["notes"], nid)


@route("GET", r"/projects/([^/]+)/environments")
@job_token_allowed
def list_envs(req, pid):
    p = req.st.project(pid)
    need_read(req, p)
    envs = sorted(p["environments"].values(), key=lambda e: e["id"])
    chunk, h = paginate(req, envs)
    return 200, chunk, h


@route("GET", r"/projects/([^/]+)/deployments")
@job_token_allowed
def list_deployments(req, pid):
    st = req.st
    p = st.project(pid)
    need_read(req, p)
    deps = list(p["deployments"])
    env = req.q1("environment")
    if env:
        deps = [d for d in deps if d["environment"]["name"] == env]
    status = req.q1("status")
    if status:
        deps = [d for d in deps if d["status"] == status]
    order_by = req.q1("order_by", "id")
    sort = req.q1("sort", "asc")
    key = "iid" if order_by in ("iid", "id") else order_by
    deps.sort(key=lambda d: (d.get(key) or "", d["id"]),
              reverse=sort == "desc")
    chunk, h = paginate(req, deps)
    return 200, chunk, h


@route("GET", r"/projects/([^/]+)/issues")
def list_issues(req, pid):
    p = req.st.project(pid)
    need_read(req, p)
    issues = list(p["issues"].values())
    state = req.q1("state")
    if state:
        issues = [i for i in issues if i["state"] == state]
    labels = req.q1("labels")
    if labels:
        want = [l for l in labels.split(",") if l]
        issues = [i for i in issues if all(l in i["labels"] for l in want)]
    search = req.q1("search")
    if search:
        issues = [i for i in issues if search in i["title"]]
    author = req.q1("author_id")
    if author:
        issues = [i for i in issues if str(i["author"]["id"]) == author]
    # created_at desc by default, sort=asc reverses (creation order is iid
    # order here)
    issues.sort(key=lambda i: i["iid"] if req.q1("sort") == "asc"
                else -i["iid"])
    chunk, h = paginate(req, issues)
    return 200, [issue_json(i) for i in chunk], h


def issue_json(issue):
    return {k: v for k, v in issue.items() if k != "notes"}


def issue_of(req, pid, iid):
    p = req.st.project(pid)
    need_read(req, p)
    try:
        return p, p["issues"][int(iid)]
    except (KeyError, ValueError):
        raise not_found("404 Issue Not Found")


@route("GET", r"/projects/([^/]+)/issues/(\d+)")
def get_issue(req, pid, iid):
    return 200, issue_json(issue_of(req, pid, iid)[1])


@route("GET", r"/projects/([^/]+)/issues/(\d+)/notes")
def list_issue_notes(req, pid, iid):
    _, issue = issue_of(req, pid, iid)
    notes = list(issue["notes"])
    if req.q1("sort", "desc") == "desc":
        notes.reverse()
    chunk, h = paginate(req, notes)
    return 200, [dict(note_json(req.st, n), noteable_type="Issue")
                 for n in chunk], h


@route("POST", r"/projects/([^/]+)/issues/(\d+)/notes")
def create_issue_note(req, pid, iid):
    st = req.st
    p, issue = issue_of(req, pid, iid)
    need_write(req, p)
    b = req.body_json()
    if not b.get("body"):
        raise bad_request("body is missing")
    now = st.now()
    n = {"id": st.new_id("note"), "body": b["body"], "author_id":
         req.auth["user_id"], "created_at": now, "updated_at": now,
         "system": False, "iid": issue["iid"]}
    issue["notes"].append(n)
    return 201, dict(note_json(st, n), noteable_type="Issue")


@route("DELETE", r"/projects/([^/]+)/issues/(\d+)/notes/(\d+)")
def delete_issue_note(req, pid, iid, nid):
    p, issue = issue_of(req, pid, iid)
    need_write(req, p)
    return delete_note_in(req, issue["notes"], nid)


@route("POST", r"/projects/([^/]+)/issues")
def create_issue(req, pid):
    st = req.st
    p = st.project(pid)
    need_write(req, p)
    b = req.body_json()
    if not b.get("title"):
        raise bad_request("title is missing")
    p["issue_iid"] += 1
    labels = b.get("labels", "")
    issue = {"id": st.new_id("issue"), "iid": p["issue_iid"],
             "project_id": p["id"], "title": b["title"],
             "description": b.get("description", ""), "state": "opened",
             "labels": [l for l in labels.split(",") if l],
             "created_at": iso(st.now()), "updated_at": iso(st.now()),
             "author": st.user_json(req.auth["user_id"]), "notes": [],
             "web_url": f"{p['web_url']}/-/issues/{p['issue_iid']}"}
    p["issues"][issue["iid"]] = issue
    return 201, issue_json(issue)


@route("PUT", r"/projects/([^/]+)/issues/(\d+)")
def update_issue(req, pid, iid):
    st = req.st
    p, issue = issue_of(req, pid, iid)
    need_write(req, p)
    b = req.body_json()
    if "title" in b and not b["title"]:
        raise bad_request("title is empty")
    for k in ("title", "description"):
        if k in b:
            issue[k] = b[k]
    ev = b.get("state_event")
    if ev in ("close", "reopen"):
        issue["state"] = "closed" if ev == "close" else "opened"
    elif ev is not None:
        raise bad_request("state_event does not have a valid value")
    issue["updated_at"] = iso(st.now())
    return 200, issue_json(issue)


# ---------------------------------------------------------------- admin

def admin(st, method, path, body, query):
    """/-/sim/...: seed and inspect state, inject faults."""
    if path == "/reset" and method == "POST":
        st.reset()
        return 200, {"ok": True}
    if path == "/seed" and method == "POST":
        return 200, seed(st, body)
    if path == "/state" and method == "GET":
        return 200, dump(st)
    if path == "/requests" and method == "GET":
        return 200, st.requests
    if path == "/rounds" and method == "GET":
        return 200, rounds(st.requests)
    if path == "/requests" and method == "DELETE":
        st.requests = []
        return 200, {"ok": True}
    if path == "/faults" and method == "POST":
        for f in body if isinstance(body, list) else [body]:
            f.setdefault("times", 1)
            f["hits"] = 0
            st.faults.append(f)
        return 200, {"ok": True, "faults": len(st.faults)}
    if path == "/faults" and method == "DELETE":
        st.faults = []
        return 200, {"ok": True}
    if path == "/faults" and method == "GET":
        return 200, st.faults
    if path == "/latency" and method == "POST":
        st.latency_ms = float(body.get("ms", 0))
        return 200, {"ok": True, "ms": st.latency_ms}
    if path == "/slack" and method == "GET":
        return 200, st.slack
    if path == "/slack/hooks" and method == "POST":
        st.slack_hooks[body["name"]] = body
        return 200, {"ok": True}
    if path == "/clock" and method == "POST":
        if "freeze_at" in body:
            # a fixed clock that moves only by advance_s: histories with
            # timestamps that are the same on every run
            st.frozen, st.clock_offset = float(body["freeze_at"]), 0.0
        st.clock_offset += float(body.get("advance_s", 0))
        return 200, {"now": iso(st.now())}
    if path == "/commits" and method == "POST":
        return 200, add_commits(st, body)
    if path == "/pipelines" and method == "POST":
        p = st.project(str(body["project"]))
        sha = st.resolve(p, body.get("sha") or body.get("ref"))
        if sha is None:
            raise bad_request("unknown sha or ref")
        if body.get("mr_iid"):
            mr = st.mr_by_iid(p, body["mr_iid"])
            pl = st.start_mr_pipeline(p, mr, body.get("status", "running"),
                                      body.get("jobs"), body.get("kind"))
        else:
            pl = st.add_pipeline(p, body.get("ref", p["default_branch"]),
                                 sha, body.get("status", "success"),
                                 body.get("source", "push"),
                                 body.get("jobs"))
        if body.get("status", "running") == "success" and not \
                body.get("jobs"):
            st.pipeline_changed(pl)
        return 200, {"id": pl["id"], "sha": pl["sha"], "ref": pl["ref"]}
    m = re.match(r"^/pipelines/(\d+)$", path)
    if m and method == "PATCH":
        pl = st.pipelines[int(m.group(1))]
        if "jobs" in body:
            for name, status in body["jobs"].items():
                for jid in pl["jobs"] + pl["bridges"]:
                    j = st.jobs[jid]
                    if j["name"] == name and not j["retried"]:
                        j["status"] = status
            st.refresh_pipeline(pl)
        if "sha" in body:
            pl["sha"] = body["sha"]
            pl["source_sha"] = None
        if "ref" in body:
            pl["ref"] = body["ref"]
        if "status" in body:
            pl["status"] = body["status"]
            pl["updated_at"] = iso(st.now())
            st.pipeline_changed(pl)
        return 200, st.pipeline_json(pl, True)
    if path == "/mrs" and method == "POST":
        # merged MRs of a project with no branches behind them (the
        # canonical project's source MRs): {"project", "count", "author"}
        p = st.project(str(body["project"]))
        uid = next((u["id"] for u in st.users.values()
                    if u["username"] == body.get("author", "approver-bot")),
                   None)
        if uid is None:
            return 400, {"message": "no such author"}
        iids = []
        # "iids"/"titles": given numbers and titles (a project with a long
        # history, as gitlab-org/gitaly!6801), else the next ones
        given = [int(i) for i in body.get("iids", [])]
        titles = body.get("titles", [])
        for i in range(len(given) or int(body.get("count", 1))):
            if given:
                if given[i] in p["mrs"]:
                    return 400, {"message": f"!{given[i]} exists"}
                p["mr_iid"] = max(p["mr_iid"], given[i])
            else:
                p["mr_iid"] += 1
            iid = given[i] if given else p["mr_iid"]
            now = st.now()
            p["mrs"][iid] = {
                "id": st.new_id("mr"), "iid": iid,
                "title": titles[i] if i < len(titles) else f"Change {iid}",
                "description": "",
                "state": "merged", "source_branch": f"feature-{iid}",
                "target_branch": p["default_branch"], "author_id": uid,
                "labels": [], "created_at": now, "updated_at": now,
                "merged_at": now, "closed_at": None, "merged_by": uid,
                "merge_commit_sha": None, "remove_source_branch": False,
                "auto_merge": False, "auto_merge_user": None,
                "head_pipeline_id": None, "approved_by": [], "notes": []}
            if body.get("commits"):
                # "commits": the MR's commits (merged fast-forward or
                # squashed: no merge commit names it)
                p["mrs"][iid]["diff_shas"] = list(body["commits"])
            iids.append(iid)
        return 200, {"iids": iids}
    m = re.match(r"^/mrs/([^/]+)/(\d+)$", path)
    if m and method == "PATCH":
        p = st.project(m.group(1))
        mr = st.mr_by_iid(p, m.group(2))
        for k, v in body.items():
            if k == "created_at_ago_s":
                mr["created_at"] = st.now() - float(v)
            else:
                mr[k] = v
        return 200, st.mr_json(p, mr, True)
    if path == "/hostile" and method == "POST":
        st.hostile = dict(body.get("append", {}))
        return 200, {"ok": True}
    if path == "/notes" and method == "POST":
        # bulk notes by any user (system notes too): {"project", "iid",
        # "issue": false, "author": username, "count", "body", "system"}
        p = st.project(str(body["project"]))
        if body.get("issue"):
            target = p["issues"][int(body["iid"])]
        else:
            target = st.mr_by_iid(p, body["iid"])
        uid = next(u["id"] for u in st.users.values()
                   if u["username"] == body["author"])
        for i in range(int(body.get("count", 1))):
            now = st.now()
            target["notes"].append({
                "id": st.new_id("note"),
                "body": body.get("body", "note {i}").replace("{i}", str(i)),
                "author_id": uid, "created_at": now, "updated_at": now,
                "system": bool(body.get("system")), "iid": target["iid"]})
        return 200, {"ok": True, "notes": len(target["notes"])}
    if path == "/issues" and method == "POST":
        # bulk open issues by any user: {"project", "author": username,
        # "count", "title", "description"} ("{i}" numbers them)
        p = st.project(str(body["project"]))
        uid = next(u["id"] for u in st.users.values()
                   if u["username"] == body["author"])
        for i in range(int(body.get("count", 1))):
            p["issue_iid"] += 1
            n = p["issue_iid"]
            p["issues"][n] = {
                "id": st.new_id("issue"), "iid": n, "project_id": p["id"],
                "title": body.get("title", "issue {i}").replace("{i}", str(i)),
                "description": body.get("description", "").replace(
                    "{i}", str(i)),
                "state": "opened", "labels": [],
                "created_at": iso(st.now()), "updated_at": iso(st.now()),
                "author": st.user_json(uid), "notes": [],
                "web_url": f"{p['web_url']}/-/issues/{n}"}
        return 200, {"ok": True, "issues": len(p["issues"])}
    if path == "/deployments" and method == "POST":
        p = st.project(str(body["project"]))
        name = body["environment"]
        env = p["environments"].get(name)
        if env is None:
            env = {"id": st.new_id("environment"), "name": name,
                   "state": "available", "external_url": None}
            p["environments"][name] = env
        did = st.new_id("deployment")
        sha = st.resolve(p, body["sha"]) or body["sha"]
        now = iso(st.now())
        d = {"id": did, "iid": len(p["deployments"]) + 1,
             "ref": body.get("ref", p["default_branch"]), "sha": sha,
             "status": body.get("status", "success"), "created_at": now,
             "updated_at": now, "finished_at": now,
             "environment": {"id": env["id"], "name": name},
             "deployable": None}
        p["deployments"].append(d)
        return 200, d
    raise not_found("unknown admin route")


def hostile(body, fields):
    """Hostile-server mode: text appended to every value of the given keys
    in API answers (web_url, name, title...), as a compromised or
    malicious instance, or a user naming things, could return."""
    if isinstance(body, list):
        return [hostile(v, fields) for v in body]
    if isinstance(body, dict):
        return {k: (v + fields[k] if k in fields and isinstance(v, str)
                    else hostile(v, fields)) for k, v in body.items()}
    return body


def seed(st, body):
    out = {"users": {}, "projects": {}}
    for u in body.get("users", []):
        uid = st.add_user(u["username"], u.get("token"),
                          u.get("scopes", ["api"]), u.get("id"),
                          u.get("job_project"))
        out["users"][u["username"]] = uid
    for pd in body.get("projects", []):
        p = st.add_project(pd["path"], pd.get("default_branch", "main"),
                           **{k: v for k, v in pd.items()
                              if k not in ("path", "default_branch",
                                           "files", "history")})
        files = pd.get("files", {})
        root = st.make_commit(p, [], "Initial commit", dict(files),
                              ts=st.now() - 10 * 86400)
        p["branches"][p["default_branch"]] = root
        out["projects"][pd["path"]] = {"id": p["id"], "root": root}
    return out


def add_commits(st, body):
    """Append commits to a branch. Each spec: {"message", "files"?,
    "merge": n} where merge makes a merge commit bringing in n commits of
    a side branch (first parent stays on the branch)."""
    p = st.project(str(body["project"]))
    branch = body.get("branch", p["default_branch"])
    head = p["branches"].get(branch) or st.resolve(p, body.get("from"))
    if body.get("orphan"):
        head = None  # a new root: no common ancestor with the rest
    shas = []
    count = int(body.get("count", 0))
    specs = body.get("commits") or [{"message": f"{body.get('prefix', 'Commit')} {i + 1}"}
                                    for i in range(count)]
    for spec in specs:
        tree = dict(st.commits[head]["tree"]) if head else {}
        tree.update(spec.get("files", {}))
        if spec.get("id"):
            # a commit of a real repository, with its own id and parents
            parents = spec.get("parents", [head] if head else [])
            if any(x not in st.commits for x in parents):
                raise bad_request("unknown parent")
            tree = dict(st.commits[parents[0]]["tree"]) if parents else {}
            tree.update(spec.get("files", {}))
            if spec["id"] not in st.commits:
                st.make_commit(p, parents, spec["message"], tree,
                               sha=spec["id"])
            if not spec.get("side"):
                head = spec["id"]
                shas.append(head)
            continue
        if spec.get("merge"):
            side = head
            for k in range(int(spec["merge"])):
                side = st.make_commit(p, [side], f"{spec['message']} part "
                                      f"{k + 1}", tree)
            mr_ref = spec.get("mr", len(shas) + 1)
            # mr_project: the MR was merged in another project (the
            # canonical one) and mirrored here, message and all
            msg = (f"Merge branch 'feature-{mr_ref}' into '{branch}'\n\n"
                   f"{spec['message']}\n\nSee merge request "
                   f"{spec.get('mr_project', p['path_with_namespace'])}"
                   f"!{mr_ref}")
            merged = st.make_commit(p, [head, side], msg, tree)
            if spec.get("mr_author"):
                # "mr_author": the MR exists in this project, merged by
                # that user, its commits the side branch's
                uid = next((u["id"] for u in st.users.values()
                            if u["username"] == spec["mr_author"]), None)
                if uid is None or int(mr_ref) in p["mrs"]:
                    raise bad_request("no such author, or the MR exists")
                now = st.now()
                p["mrs"][int(mr_ref)] = {
                    "id": st.new_id("mr"), "iid": int(mr_ref),
                    "title": spec["message"], "description": "",
                    "state": "merged", "source_branch": f"feature-{mr_ref}",
                    "target_branch": branch, "author_id": uid,
                    "labels": [], "created_at": now, "updated_at": now,
                    "merged_at": now, "closed_at": None, "merged_by": uid,
                    "merge_commit_sha": merged, "last_head": side,
                    "diff_shas": sorted(st.ancestors(side) -
                                        st.ancestors(head)),
                    "remove_source_branch": False, "auto_merge": False,
                    "auto_merge_user": None, "head_pipeline_id": None,
                    "approved_by": [], "notes": []}
                p["mr_iid"] = max(p["mr_iid"], int(mr_ref))
            head = merged
        else:
            head = st.make_commit(p, [head] if head else [],
                                  spec["message"], tree)
        shas.append(head)
        if spec.get("tag"):
            p["tags"][spec["tag"]] = head
    p["branches"][branch] = head
    st.on_push(p, branch)
    return {"shas": shas, "head": head}


def first_parent_depth(st, sha):
    n = 0
    while sha:
        n += 1
        parents = st.commits[sha]["parent_ids"]
        sha = parents[0] if parents else None
    return n


def dump(st):
    out = {"projects": {}, "slack": st.slack}
    for p in st.projects.values():
        out["projects"][p["path_with_namespace"]] = {
            "id": p["id"], "branches": dict(p["branches"]),
            "tags": dict(p["tags"]),
            "files": {b: st.commits[s]["tree"]
                      for b, s in p["branches"].items()},
            "branch_commits": {b: st.commit_json(s)
                               for b, s in p["branches"].items()},
            # first-parent length: a duplicate commit shows here even when
            # its tree is the same
            "branch_depth": {b: first_parent_depth(st, s)
                             for b, s in p["branches"].items()},
            "mrs": [dict(st.mr_json(p, m, True),
                         notes=[note_json(st, n) for n in m["notes"]],
                         approved_by=[st.users[u]["username"]
                                      for u in m["approved_by"]],
                         auto_merge=m["auto_merge"])
                    for m in p["mrs"].values()],
            "pipelines": [dict(st.pipeline_json(pl),
                               retries=pl["retries"],
                               jobs=[st.job_json(st.jobs[j])
                                     for j in pl["jobs"]])
                          for pl in st.pipelines.values()
                          if pl["project_id"] == p["id"]],
            "issues": [dict(issue_json(i), notes=[
                note_json(st, n) for n in i["notes"]])
                for i in p["issues"].values()],
        }
    return out


# ---------------------------------------------------------------- server

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gitlab-sim"

    def date_time_string(self, timestamp=None):
        """Every answer's Date header, from the simulator's own clock
        (moved by POST /-/sim/clock), as GitLab's is its own."""
        return email.utils.formatdate(self.server.state.now(), usegmt=True)

    def setup(self):
        super().setup()
        # headers and body go out in separate writes: without this, Nagle
        # and delayed ACKs add 40 ms to every answer
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("sim: " + fmt % args + "\n")

    # request helpers used by routes
    def q(self, name):
        return [v for k, v in self.query_pairs if k == name]

    def q1(self, name, default=None):
        v = self.q(name)
        return v[-1] if v else default

    def body_json(self):
        if not self.raw_body:
            return {}
        ctype = self.headers.get("Content-Type", "")
        if "application/x-www-form-urlencoded" in ctype:
            return dict(urllib.parse.parse_qsl(self.raw_body.decode()))
        try:
            v = json.loads(self.raw_body)
        except ValueError:
            raise ApiError(400, {"error": "The provided content-type "
                                          "'application/json' is not "
                                          "supported."})
        if not isinstance(v, dict):
            raise bad_request("body must be an object")
        return v

    def params(self):
        d = dict(self.query_pairs)
        d.update(self.body_json())
        return d

    def authenticate(self):
        st = self.st
        tok = self.headers.get("PRIVATE-TOKEN")
        if tok is None:
            a = self.headers.get("Authorization", "")
            if a.startswith("Bearer "):
                tok = a[7:]
        if tok is not None:
            if tok not in st.tokens:
                raise ApiError(401, {"message": "401 Unauthorized"})
            return dict(st.tokens[tok])
        job = self.headers.get("JOB-TOKEN")
        if job is not None:
            if job not in st.tokens:
                raise ApiError(401, {"message": "401 Unauthorized"})
            return {"user_id": st.tokens[job]["user_id"], "scopes": [],
                    "job": True,
                    "job_project": st.tokens[job].get("job_project")}
        return None

    def handle_one(self):
        st = self.server.state
        self.st = st
        parsed = urllib.parse.urlsplit(self.path)
        self.path_only = parsed.path
        self.query_pairs = urllib.parse.parse_qsl(parsed.query,
                                                  keep_blank_values=True)
        n = int(self.headers.get("Content-Length") or 0)
        self.raw_body = self.rfile.read(n) if n else b""
        self.sim_base = st.base_url
        method = self.command
        with st.lock:
            fault = self.match_fault(method, parsed.path)
            if not parsed.path.startswith("/-/sim"):
                st.inflight += 1
                self.counted = True
            entry = {"method": method, "path": parsed.path,
                     # when it came and went (monotonic seconds), and the
                     # requests in flight as it came: GET /-/sim/rounds
                     "start": time.monotonic(), "end": None,
                     "inflight": st.inflight,
                     "query": parsed.query, "status": None,
                     "auth": self.auth_name(),
                     # kept for replays (make bench); never a token
                     "body": self.raw_body[:65536].decode("utf-8",
                                                          "replace"),
                     "content_type": self.headers.get("Content-Type")}
            st.requests.append(entry)
            self.entry = entry
        if st.latency_ms and not parsed.path.startswith("/-/sim"):
            # every API and Slack answer waits, as over a WAN
            time.sleep(st.latency_ms / 1000.0)
        if fault and fault.get("delay_s"):
            time.sleep(float(fault["delay_s"]))
        if fault and fault.get("kind") == "drop" and not fault.get("apply"):
            entry["status"] = "drop"
            self.drop()
            return
        if fault and not fault.get("apply") and fault.get("kind") in (
                "status", "retry_after"):
            entry["status"] = fault.get("status", 429)
            return self.fault_status(fault)
        with st.lock:
            status, body, headers = self.dispatch(method, parsed.path)
        entry["status"] = status
        if status == 201 and isinstance(body, dict) and "iid" in body:
            entry["created_iid"] = body["iid"]
        if fault and fault.get("apply"):
            # the change happened, but the answer is lost or wrong
            if fault.get("kind") == "drop":
                entry["status"] = "drop"
                return self.drop()
            if fault.get("kind") in ("status", "retry_after"):
                entry["status"] = fault.get("status", 429)
                return self.fault_status(fault)
        if st.hostile and not parsed.path.startswith(("/-/sim", "/slack/")):
            body = hostile(body, st.hostile)
        if fault and fault.get("kind") == "malformed":
            body = b'{"id": 1, "oops": [unquoted, }'
            headers = {"Content-Type": "application/json"}
        elif fault and fault.get("kind") == "object":
            # a list answered as an object (a proxy, another API version)
            body = {"items": body} if isinstance(body, list) else body
        elif fault and fault.get("kind") == "dup_keys":
            # valid JSON text in form, but with a duplicate key: parsers
            # disagree on which one wins
            raw = self.encode(body)
            body = raw.replace(b'{"id": ', b'{"id": 1, "id": ', 1)
            headers = dict(headers or {})
            headers["Content-Type"] = "application/json"
        elif fault and fault.get("kind") == "overflow":
            # ids past 64 bits
            raw = self.encode(body)
            body = re.sub(rb'"id": \d+', b'"id": 123456789012345678901234567890',
                          raw)
            headers = dict(headers or {})
            headers["Content-Type"] = "application/json"
        elif fault and fault.get("kind") == "huge_header":
            # a 1 MB response header line
            headers = dict(headers or {})
            headers["X-Huge"] = "a" * (1 << 20)
        elif fault and fault.get("kind") == "truncated":
            raw = self.encode(body)
            body = raw[:max(1, len(raw) // 2)]
            headers = dict(headers or {})
            headers.setdefault("Content-Type", "application/json")
        elif fault and fault.get("kind") == "cut":
            # Content-Length promises more than is sent, then close
            raw = self.encode(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw[:max(1, len(raw) // 2)])
            self.wfile.flush()
            self.close_connection = True
            return
        elif fault and fault.get("kind") == "html":
            body = b"<html><body>502 Bad Gateway</body></html>"
            headers = {"Content-Type": "text/html"}
        self.reply(status, body, headers)

    def auth_name(self):
        st = self.st
        tok = self.headers.get("PRIVATE-TOKEN") or self.headers.get(
            "JOB-TOKEN")
        a = self.headers.get("Authorization", "")
        if not tok and a.startswith("Bearer "):
            tok = a[7:]
        if tok and tok in st.tokens:
            return st.users[st.tokens[tok]["user_id"]]["username"]
        return "bad-token" if tok else None

    def match_fault(self, method, path):
        for f in self.st.faults:
            if f.get("method") and f["method"] != method:
                continue
            if f.get("path") and not re.search(f["path"], path):
                continue
            if f.get("query") and not re.search(
                    f["query"], urllib.parse.urlsplit(self.path).query):
                continue
            f["seen"] = f.get("seen", 0) + 1
            if f["seen"] <= f.get("after", 0):
                continue
            if f["times"] >= 0 and f["hits"] >= f["times"]:
                continue
            f["hits"] += 1
            return f
        return None

    def drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def fault_status(self, f):
        status = int(f.get("status", 429))
        headers = {}
        if f.get("kind") == "retry_after" or status == 429:
            headers["Retry-After"] = str(f.get("retry_after", 1))
        body = f.get("body", {"message": f"{status} simulated"})
        self.reply(status, body, headers)

    def dispatch(self, method, path):
        st = self.st
        try:
            if path.startswith("/-/sim"):
                status, body = admin(st, method, path[6:],
                                     json.loads(self.raw_body)
                                     if self.raw_body else {},
                                     self.query_pairs)
                return status, body, {}
            if path.startswith("/slack/"):
                return self.slack(path[7:])
            if not path.startswith(API + "/"):
                raise not_found()
            sub = path[len(API):]
            self.auth = self.authenticate()
            self.path = path
            allowed = False
            for m, rx, fn in ROUTES:
                mt = rx.match(sub)
                if not mt:
                    continue
                allowed = True
                if m != method:
                    continue
                if self.auth and self.auth.get("job") and \
                        not getattr(fn, "job_token", False):
                    # not on the job token's list: GitLab does not look
                    # at the JOB-TOKEN header here, the caller is anonymous
                    self.auth = None
                res = fn(self, *mt.groups())
                if len(res) == 2:
                    return res[0], res[1], {}
                return res
            if allowed:
                raise ApiError(405, {"error": "405 Not Allowed"})
            raise ApiError(404, {"error": "404 Not Found"})
        except ApiError as e:
            return e.status, e.body, e.headers
        except (KeyError, ValueError, TypeError) as e:
            return 400, {"error": f"bad request: {e}"}, {}

    def slack(self, name):
        st = self.st
        hook = st.slack_hooks.get(name, {})
        if hook.get("status", 200) != 200:
            # "echo": an endpoint that echoes the request path (and so the
            # webhook's secret) in its error body
            text = ("no such hook: " + self.path_only if hook.get("echo")
                    else hook.get("body", "no_service"))
            return hook["status"], text.encode(), {
                "Content-Type": "text/plain"}
        try:
            payload = json.loads(self.raw_body or b"")
        except ValueError:
            return 400, b"invalid_payload", {"Content-Type": "text/plain"}
        if not isinstance(payload, dict) or not (payload.get("text") or
                                                 payload.get("blocks")):
            return 400, b"no_text", {"Content-Type": "text/plain"}
        st.slack.append({"hook": name, "text": payload.get("text"),
                         "blocks": payload.get("blocks"),
                         "at": iso(st.now())})
        return 200, b"ok", {"Content-Type": "text/plain"}

    @staticmethod
    def encode(body):
        if body is None:
            return b""
        if isinstance(body, bytes):
            return body
        return json.dumps(body).encode()

    def reply(self, status, body, headers):
        raw = self.encode(body)
        if status in (204, 304) and raw:
            # a 204 carries no content (RFC 9110 15.3.5): a fault that
            # gives one a body (malformed, a proxy's page) answers 200
            status = 200
        self.send_response(status)
        headers = dict(headers or {})
        if not isinstance(body, bytes) and body is not None:
            headers.setdefault("Content-Type", "application/json")
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(raw)

    def send_response(self, code, message=None):
        # answered: stamped before the answer leaves, so a request the
        # client sends once it has the answer always starts later
        with self.server.state.lock:
            if getattr(self, "entry", None) is not None and \
                    self.entry["end"] is None:
                self.entry["end"] = time.monotonic()
            if getattr(self, "counted", False):
                self.server.state.inflight -= 1
                self.counted = False
        super().send_response(code, message)

    def do_any(self):
        self.entry = None
        self.counted = False
        try:
            self.handle_one()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            with self.server.state.lock:
                if self.counted:
                    self.server.state.inflight -= 1
                if self.entry is not None and self.entry["end"] is None:
                    self.entry["end"] = time.monotonic()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_any


def rounds(log):
    """The API and Slack requests answered so far, the sequential rounds
    they took (the longest chain of requests each sent after the one
    before it was answered: requests in flight together are one round)
    and the most in flight at once."""
    reqs = [r for r in log if not r["path"].startswith("/-/sim")
            and r["end"] is not None]
    depth = {}
    for r in sorted(reqs, key=lambda r: r["start"]):
        depth[id(r)] = 1 + max([depth[id(q)] for q in reqs
                                if id(q) in depth and q["end"] <= r["start"]],
                               default=0)
    return {"requests": len(reqs),
            "rounds": max(depth.values(), default=0),
            "max_inflight": max([r["inflight"] for r in reqs], default=0)}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", help="write the chosen port here")
    ap.add_argument("--seed", help="JSON file to POST to /-/sim/seed")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"),
                    help="serve HTTPS with this certificate chain and key")
    ap.add_argument("--name", help="host name in URLs (default: --host)")
    a = ap.parse_args()
    if a.host not in ("127.0.0.1", "localhost", "::1"):
        ap.error("the simulator listens on loopback only")
    srv = Server((a.host, a.port), Handler)
    port = srv.server_address[1]
    scheme = "http"
    if a.tls:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls[0], a.tls[1])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        scheme = "https"
    srv.state = State(f"{scheme}://{a.name or a.host}:{port}")
    srv.verbose = a.verbose
    if a.seed:
        with open(a.seed) as f:
            seed(srv.state, json.load(f))
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        import os
        os.replace(tmp, a.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
