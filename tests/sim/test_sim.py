#!/usr/bin/env python3
"""The simulator's own tests: it must answer what GitLab answers.

Starts the simulator on loopback and checks status codes, error bodies,
pagination headers, state changes and fault injection. Prints TAP."""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TOK = "glpat-sim-test"
results = []


def check(name, cond):
    results.append(cond)
    print(f"{'ok' if cond else 'not ok'} {len(results)} - {name}")


class Sim:
    def __init__(self):
        self.dir = tempfile.mkdtemp()
        port_file = os.path.join(self.dir, "port")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "gitlab_sim.py"),
             "--port-file", port_file])
        for _ in range(200):
            if os.path.exists(port_file):
                break
            time.sleep(0.02)
        with open(port_file) as f:
            self.base = f"http://127.0.0.1:{f.read().strip()}"

    def call(self, method, path, body=None, token=TOK, headers=None,
             raw=False):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data,
                                     method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("PRIVATE-TOKEN", token)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                payload = r.read()
                return r.status, (payload if raw else
                                  json.loads(payload or b"null")), r.headers
        except urllib.error.HTTPError as e:
            payload = e.read()
            try:
                return e.code, json.loads(payload), e.headers
            except ValueError:
                return e.code, payload, e.headers

    def api(self, method, path, body=None, **kw):
        return self.call(method, "/api/v4" + path, body, **kw)

    def admin(self, method, path, body=None):
        return self.call(method, "/-/sim" + path, body, token=None)[1]

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def main():
    s = Sim()
    try:
        run(s)
    finally:
        s.stop()
    print(f"1..{len(results)}")
    return 0 if all(results) else 1


def run(s):
    seed = s.admin("POST", "/seed", {
        "users": [{"username": "bot", "token": TOK},
                  {"username": "other", "token": "glpat-other"},
                  {"username": "reader", "token": "glpat-ro",
                   "scopes": ["read_api"]},
                  {"username": "third", "token": "glpat-third"},
                  {"username": "job", "token": "job-tok",
                   "job_project": "g/src"}],
        "projects": [{"path": "g/src", "default_branch": "master"},
                     {"path": "g/tgt", "default_branch": "master",
                      "files": {"VERSION": "old\n"}}]})
    P = "/projects/g%2Ftgt"
    S = "/projects/g%2Fsrc"

    st, body, _ = s.api("GET", "/projects/g%2Fnope")
    check("unknown project: 404 Project Not Found",
          st == 404 and body == {"message": "404 Project Not Found"})
    st, body, _ = s.api("GET", P, token="wrong")
    check("bad token: 401", st == 401 and body["message"] ==
          "401 Unauthorized")
    st, body, _ = s.api("GET", P, token=None)
    check("private project without a token: 404", st == 404)
    st, body, _ = s.api("GET", P)
    check("project by path", st == 200 and body["default_branch"] ==
          "master" and body["path_with_namespace"] == "g/tgt")
    st, body, _ = s.api("GET", f"/projects/{body['id']}")
    check("project by numeric id", st == 200 and body["name"] == "tgt")
    st, body, _ = s.api("GET", "/nonexistent/route")
    check("unknown route: 404 with error", st == 404 and
          body == {"error": "404 Not Found"})
    st, body, _ = s.api("DELETE", P)
    check("wrong method: 405", st == 405)

    shas = s.admin("POST", "/commits", {"project": "g/src", "count": 45})
    shas = shas["shas"]
    st, body, h = s.api("GET", S + "/repository/commits?per_page=20")
    check("commits: newest first, per_page", st == 200 and len(body) == 20
          and body[0]["id"] == shas[-1])
    check("commits: no X-Total (as GitLab)", "X-Total" not in h and
          h["X-Next-Page"] == "2" and 'rel="next"' in h["Link"])
    st, body, h = s.api("GET", S + "/repository/commits?per_page=20&page=3")
    check("commits: last page has no next", len(body) == 6 and
          h["X-Next-Page"] == "" and 'rel="next"' not in h["Link"])
    st, body, h = s.api("GET", S + "/repository/commits?per_page=500")
    check("per_page is capped at 100", len(body) == 46)
    st, body, _ = s.api("GET", S + "/repository/commits?ref_name=nope")
    check("unknown ref: empty list", st == 200 and body == [])

    merge = s.admin("POST", "/commits", {"project": "g/src", "commits": [
        {"message": "Feature", "merge": 3}]})["head"]
    st, body, _ = s.api("GET", S + "/repository/commits?first_parent=true"
                        "&per_page=3")
    check("first_parent skips the merged side branch",
          [c["id"] for c in body] == [merge, shas[-1], shas[-2]])
    st, body, _ = s.api("GET", S + "/repository/commits?per_page=3")
    check("full history includes the side branch",
          body[0]["id"] == merge and body[1]["id"] != shas[-1])
    st, body, _ = s.api("GET", S + f"/repository/commits/{merge}")
    check("merge commit: two parents, See merge request",
          len(body["parent_ids"]) == 2 and
          "See merge request g/src!1" in body["message"])
    st, body, _ = s.api("GET", S + "/repository/merge_base?refs[]=" +
                        shas[3] + "&refs[]=" + merge)
    check("merge_base", st == 200 and body["id"] == shas[3])
    st, body, _ = s.api("GET", S + "/repository/merge_base?refs[]=x")
    check("merge_base with one ref: 400", st == 400)
    st, body, _ = s.api("GET", S + f"/repository/compare?from={shas[-3]}"
                        f"&to={shas[-1]}")
    check("compare lists commits oldest first",
          [c["id"] for c in body["commits"]] == [shas[-2], shas[-1]])
    st, body, _ = s.api("GET", S + "/repository/commits/" + "0" * 40)
    check("unknown commit: 404 Commit Not Found",
          st == 404 and body["message"] == "404 Commit Not Found")

    st, body, h = s.call("GET", "/api/v4" + P +
                         "/repository/files/VERSION/raw?ref=master",
                         raw=True)
    check("raw file", st == 200 and body == b"old\n" and
          h["Content-Type"].startswith("text/plain"))
    st, body, _ = s.api("GET", P + "/repository/files/NOPE/raw")
    check("missing file: 404 File Not Found", st == 404 and
          body["message"] == "404 File Not Found")
    st, body, _ = s.api("GET", P + "/repository/files/VERSION?ref=master")
    check("file metadata is base64", st == 200 and
          body["encoding"] == "base64" and body["content"] == "b2xkCg==")

    act = [{"action": "update", "file_path": "VERSION", "content": "new\n"}]
    st, body, _ = s.api("POST", P + "/repository/commits", {
        "branch": "bump", "commit_message": "m", "actions": act})
    check("commit to a missing branch without start: 400", st == 400)
    st, body, _ = s.api("POST", P + "/repository/commits", {
        "branch": "bump", "start_branch": "master", "commit_message": "m",
        "actions": act})
    check("commit with start_branch creates the branch", st == 201 and
          body["title"] == "m")
    st, body, _ = s.api("POST", P + "/repository/commits", {
        "branch": "bump", "start_branch": "master", "commit_message": "m2",
        "actions": act})
    check("existing branch without force: 400", st == 400 and
          "already exists" in body["message"])
    st, body, _ = s.api("POST", P + "/repository/commits", {
        "branch": "bump", "start_branch": "master", "force": True,
        "commit_message": "m3", "actions": act})
    check("force rebuilds the branch from start", st == 201 and
          body["parent_ids"] == [s.api("GET", P + "/repository/branches/"
                                       "master")[1]["commit"]["id"]])
    st, body, _ = s.api("POST", P + "/repository/commits", {
        "branch": "bump", "commit_message": "m",
        "actions": [{"action": "create", "file_path": "VERSION",
                     "content": "x"}]})
    check("create over an existing file: 400", st == 400)
    st, body, _ = s.api("POST", P + "/repository/commits", {
        "commit_message": "m", "actions": act})
    check("missing branch parameter: 400 error", st == 400 and
          body["error"] == "branch is missing")
    st, body, _ = s.api("POST", P + "/repository/commits", {
        "branch": "bump", "commit_message": "m", "actions": act},
        token="glpat-ro")
    check("read_api token cannot write: 403 insufficient_scope",
          st == 403 and body["error"] == "insufficient_scope")
    st, body, _ = s.call("POST", "/api/v4" + P + "/repository/commits",
                         {"branch": "b"}, token=None,
                         headers={"JOB-TOKEN": TOK})
    check("job token on a route not on its list: anonymous, 404",
          st == 404)
    st, body, _ = s.api("GET", P + "/repository/branches/nope")
    check("missing branch: 404 Branch Not Found", st == 404 and
          body["message"] == "404 Branch Not Found")

    mr_req = {"source_branch": "bump", "target_branch": "master",
              "title": "T", "labels": "a,b::c"}
    st, mr, _ = s.api("POST", P + "/merge_requests", {"source_branch": "x",
                                                       "target_branch":
                                                           "master"})
    check("MR without title: 400 title is missing", st == 400 and
          mr["error"] == "title is missing")
    st, mr, _ = s.api("POST", P + "/merge_requests", mr_req)
    check("MR created: 201 with iid and labels", st == 201 and
          mr["iid"] == 1 and mr["labels"] == ["a", "b::c"] and
          mr["state"] == "opened")
    st, body, _ = s.api("POST", P + "/merge_requests", mr_req)
    check("duplicate open MR: 409 with GitLab's message", st == 409 and
          "Another open merge request already exists for this source "
          "branch: !1" in body["message"][0])
    st, body, h = s.api("GET", P + "/merge_requests?state=opened"
                        "&source_branch=bump")
    check("MR list filters and counts", len(body) == 1 and
          h["X-Total"] == "1")
    # lib/api/merge_requests.rb: updated_after / updated_before (DateTime)
    st, body, _ = s.api("GET", P + "/merge_requests?source_branch=bump"
                        "&updated_after=2000-01-01T00:00:00Z")
    st2, body2, _ = s.api("GET", P + "/merge_requests?source_branch=bump"
                          "&updated_after=2999-01-01T00:00:00Z")
    st3, body3, _ = s.api("GET", P + "/merge_requests?updated_after=soon")
    check("MR list: updated_after keeps MRs updated since, 400 if invalid",
          st == 200 and len(body) == 1 and st2 == 200 and body2 == [] and
          st3 == 400)
    st, body, _ = s.api("PUT", P + "/merge_requests/1",
                        {"add_labels": "b::d,e"})
    check("scoped label replaces its scope", body["labels"] == ["a",
                                                                "b::d",
                                                                "e"])
    st, body, _ = s.api("POST", P + "/merge_requests/1/notes",
                        {"body": "hello\n/label ~\"x y\"\n<!-- m -->"})
    check("note with quick action: 201, command stripped", st == 201 and
          body["body"] == "hello\n<!-- m -->")
    st, body, _ = s.api("GET", P + "/merge_requests/1")
    check("quick action applied the label", "x y" in body["labels"])
    st, body, _ = s.api("POST", P + "/merge_requests/1/notes",
                        {"body": "/label ~z"})
    check("note of only quick actions: 202", st == 202)
    st, body, _ = s.api("POST", P + "/merge_requests/1/approve")
    check("author approving own MR: 401", st == 401)
    st, body, _ = s.api("POST", P + "/merge_requests/1/approve",
                        {"sha": "0" * 40}, token="glpat-other")
    check("approve with a wrong sha: 409", st == 409)
    st, body, _ = s.api("POST", P + "/merge_requests/1/approve",
                        token="glpat-other")
    check("second identity approves: 201", st == 201 and
          body["approved"] is True)
    st, body, _ = s.api("POST", P + "/merge_requests/1/approve",
                        token="glpat-other")
    check("approving twice: 304 Not Modified, no body", st == 304 and
          body in (b"", None))
    st, body, _ = s.api("PUT", P + "/merge_requests/1/merge",
                        {"auto_merge": True}, token="glpat-other")
    check("auto-merge without a pipeline: 405", st == 405)
    pl = s.admin("POST", "/pipelines", {"project": "g/tgt", "mr_iid": 1,
                                        "status": "running"})
    st, body, _ = s.api("PUT", P + "/merge_requests/1/merge",
                        {"sha": "1" * 40, "auto_merge": True},
                        token="glpat-other")
    check("merge with a stale sha: 409", st == 409)
    st, body, _ = s.api("PUT", P + "/merge_requests/1/merge",
                        {"auto_merge": True}, token="glpat-other")
    check("auto-merge on a running pipeline: 200, set", st == 200 and
          body["merge_when_pipeline_succeeds"] is True and
          body["state"] == "opened")
    s.admin("PATCH", f"/pipelines/{pl['id']}", {"status": "success"})
    st, body, _ = s.api("GET", P + "/merge_requests/1")
    check("pipeline success merges it", body["state"] == "merged" and
          body["merge_commit_sha"])
    st, body, _ = s.call("GET", "/api/v4" + P + "/repository/files/"
                         "VERSION/raw?ref=master", raw=True)
    check("the merge brought the change to master", body == b"new\n")
    st, body, _ = s.api("GET", P + "/repository/branches/bump")
    check("remove_source_branch honoured (not set): branch kept",
          st == 200)
    st, body, _ = s.api("PUT", P + "/merge_requests/1/merge", {},
                        token="glpat-other")
    check("merging a merged MR: 405", st == 405)
    st, mr1, _ = s.api("GET", P + "/merge_requests/1")
    st, body, h = s.api("GET", P + "/repository/commits/" + mr1["sha"] +
                        "/merge_requests")
    check("commit's MRs: the merged MR whose commit it is, basic fields",
          st == 200 and [m["iid"] for m in body] == [1] and
          body[0]["author"]["username"] == "bot" and
          body[0]["state"] == "merged" and "X-Total" in h)
    st, body, _ = s.api("GET", P + "/repository/commits/" +
                        mr1["merge_commit_sha"] + "/merge_requests")
    check("commit's MRs: the merge commit is none of the MR's commits",
          st == 200 and body == [])
    st, body, _ = s.api("GET", P + "/repository/commits/" + "e" * 40 +
                        "/merge_requests")
    check("commit's MRs: an unknown commit is 404 Commit Not Found",
          st == 404 and body == {"message": "404 Commit Not Found"})
    st, body, _ = s.api("GET", P + "/repository/commits/" + mr1["sha"] +
                        "/merge_requests", token="wrong")
    check("commit's MRs: a bad token is 401", st == 401)

    pl = s.admin("POST", "/pipelines", {
        "project": "g/src", "sha": shas[-1], "status": "failed",
        "jobs": [{"name": "rspec", "status": "failed"},
                 {"name": "lint", "status": "success"}]})
    st, body, _ = s.api("GET", S + f"/pipelines/{pl['id']}/jobs"
                        "?scope[]=failed")
    check("failed jobs by scope", [j["name"] for j in body] == ["rspec"])
    st, body, _ = s.api("POST", S + f"/pipelines/{pl['id']}/retry")
    check("retry: 201, pipeline running again", st == 201 and
          body["status"] == "running")
    s.admin("PATCH", f"/pipelines/{pl['id']}", {"jobs": {"rspec":
                                                         "success"}})
    st, body, _ = s.api("GET", S + f"/pipelines/{pl['id']}")
    check("retried job passing makes the pipeline green",
          body["status"] == "success")
    st, body, _ = s.api("GET", S + "/pipelines?status=bogus")
    check("invalid status filter: 400", st == 400)
    st, body, _ = s.api("GET", S + f"/pipelines?sha={shas[-1]}")
    check("pipelines filtered by sha", len(body) == 1)

    s.admin("POST", "/faults", {"path": "/projects/g%2Fsrc$",
                                "kind": "retry_after", "status": 429,
                                "retry_after": 7})
    st, body, h = s.api("GET", S)
    check("fault 429 carries Retry-After", st == 429 and
          h["Retry-After"] == "7")
    st, body, h = s.api("GET", S)
    check("a fault fires the set number of times", st == 200)
    s.admin("POST", "/faults", {"path": "/projects/g%2Fsrc$",
                                "kind": "status", "status": 503,
                                "after": 1})
    check("after: the first match passes", s.api("GET", S)[0] == 200)
    check("after: then the fault", s.api("GET", S)[0] == 503)
    s.admin("POST", "/faults", {"path": "/projects/g%2Fsrc$",
                                "kind": "truncated"})
    st, body, _ = s.call("GET", "/api/v4" + S, raw=True)
    check("truncated JSON is not JSON", st == 200 and
          not _is_json(body))
    s.admin("POST", "/faults", {"path": "/projects/g%2Fsrc$",
                                "kind": "drop"})
    try:
        s.api("GET", S)
        dropped = False
    except Exception:
        dropped = True
    check("drop closes the connection without an answer", dropped)
    reqs = s.admin("GET", "/requests")
    check("requests are logged with the user", any(
        r["auth"] == "bot" for r in reqs))

    st, body, _ = s.call("POST", "/slack/hook-1", {"text": "hi"},
                         token=None, raw=True)
    check("slack: 200 ok", st == 200 and body == b"ok")
    st, body, _ = s.call("POST", "/slack/hook-1", {"foo": 1}, token=None,
                         raw=True)
    check("slack without text: 400 no_text", st == 400 and
          body == b"no_text")
    s.admin("POST", "/slack/hooks", {"name": "gone", "status": 410,
                                     "body": "channel_is_archived"})
    st, body, _ = s.call("POST", "/slack/gone", {"text": "x"}, token=None,
                         raw=True)
    check("archived channel: 410", st == 410 and
          body == b"channel_is_archived")
    check("slack posts are recorded", [p["text"] for p in
                                       s.admin("GET", "/slack")] == ["hi"])
    issues(s)
    rounds(s)
    fidelity(s)


def issues(s):
    """Issues: newest first by default, sort=asc oldest first (GitLab's
    created_at order); POST /-/sim/issues opens many at once."""
    s.admin("POST", "/issues", {"project": "g/tgt", "author": "other",
                                "count": 3, "title": "bulk {i}"})
    st, body, _ = s.api("GET", "/projects/g%2Ftgt/issues?search=bulk")
    check("bulk issues: listed newest first, by their author",
          st == 200 and [i["title"] for i in body] ==
          ["bulk 2", "bulk 1", "bulk 0"] and
          body[0]["author"]["username"] == "other")
    st, body, _ = s.api("GET", "/projects/g%2Ftgt/issues?search=bulk"
                        "&order_by=created_at&sort=asc")
    check("issues with sort=asc: oldest first",
          st == 200 and [i["title"] for i in body] ==
          ["bulk 0", "bulk 1", "bulk 2"])


def rounds(s):
    """GET /-/sim/rounds: requests in flight together are one round, so
    latency delays them side by side, never one after the other."""
    import threading
    s.admin("POST", "/latency", {"ms": 300})
    s.admin("DELETE", "/requests")
    for _ in range(2):
        s.api("GET", "/projects/g%2Fsrc")
    r = s.admin("GET", "/rounds")
    check("rounds: two requests one after the other are two rounds",
          r["requests"] == 2 and r["rounds"] == 2 and r["max_inflight"] == 1)
    s.admin("DELETE", "/requests")
    ts = [threading.Thread(target=s.api, args=("GET", "/projects/g%2Fsrc"))
          for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    s.api("GET", "/projects/g%2Ftgt")
    r = s.admin("GET", "/rounds")
    s.admin("POST", "/latency", {"ms": 0})
    check("rounds: three requests at once under latency are one round, "
          "answered side by side; one more after them is a second",
          r["requests"] == 4 and r["rounds"] == 2 and r["max_inflight"] == 3)


def fidelity(s):
    """gitlab.com's answers, each cited in README.md beside this file."""
    import email.utils
    s.admin("POST", "/seed", {"projects": [
        {"path": "g/mr", "default_branch": "master",
         "files": {"VERSION": "1\n", "OTHER": "x\n"},
         "approvers": ["other"], "mergers": ["other"]},
        {"path": "g/third", "default_branch": "master",
         "job_token_allowlist": ["g/src"]}]})
    M = "/projects/g%2Fmr"
    J = {"JOB-TOKEN": "job-tok"}

    # job tokens: only listed endpoints, only from allowlisted projects
    st, _, _ = s.api("GET", "/user", token=None, headers=J)
    check("job token: GET /user 401", st == 401)
    st, _, _ = s.api("GET", "/projects/g%2Fsrc/pipelines", token=None,
                     headers=J)
    check("job token: pipelines list is not on its list: 404", st == 404)
    st, _, _ = s.api("GET", "/projects/g%2Fsrc", token=None, headers=J)
    check("job token: GET /projects/:id is not on its list: 404",
          st == 404)
    st, _, _ = s.api("GET", "/projects/g%2Fsrc/repository/branches",
                     token=None, headers=J)
    check("job token: branches list of its own project: 200", st == 200)
    st, body, _ = s.api("GET", "/projects/g%2Fmr/repository/branches",
                        token=None, headers=J)
    check("job token: project without it on the allowlist: 403",
          st == 403 and "not allowed from g/src to g/mr" in
          body["message"])
    st, _, _ = s.api("GET", "/projects/g%2Fthird/repository/branches",
                     token=None, headers=J)
    check("job token: allowlisted project: 200", st == 200)

    # merged-results pipelines
    act = [{"action": "update", "file_path": "VERSION", "content": "2\n"}]
    s.api("POST", M + "/repository/commits", {
        "branch": "bump", "start_branch": "master", "commit_message": "b",
        "actions": act})
    s.admin("POST", "/commits", {"project": "g/mr", "commits": [
        {"message": "other work", "files": {"OTHER": "y\n"}}]})
    st, mr, _ = s.api("POST", M + "/merge_requests", {
        "source_branch": "bump", "target_branch": "master", "title": "B"})
    master = s.api("GET", M + "/repository/branches/master")[1]["commit"]
    pl = s.admin("POST", "/pipelines", {"project": "g/mr", "mr_iid": 1,
                                        "status": "running"})
    st, p1, _ = s.api("GET", M + f"/pipelines/{pl['id']}")
    check("merged results: ref refs/merge-requests/1/merge, sha is not "
          "the MR head", p1["ref"] == "refs/merge-requests/1/merge" and
          p1["sha"] != mr["sha"] and p1["source"] == "merge_request_event")
    check("merged results: REST pipeline has no source_sha",
          "source_sha" not in p1)
    st, c, _ = s.api("GET", M + f"/repository/commits/{p1['sha']}")
    check("merged results: parent_ids are target head, MR head",
          st == 200 and c["parent_ids"] == [master["id"], mr["sha"]])
    st, m, _ = s.api("GET", M + "/merge_requests/1")
    check("head_pipeline is the merged-results pipeline",
          m["head_pipeline"]["id"] == pl["id"] and
          m["head_pipeline"]["sha"] == p1["sha"])
    st, body, _ = s.api("GET", M + "/merge_requests/1/pipelines")
    check("MR pipelines list shows sha and ref",
          body[0]["sha"] == p1["sha"] and
          body[0]["ref"] == "refs/merge-requests/1/merge")
    det = s.admin("POST", "/pipelines", {"project": "g/mr", "mr_iid": 1,
                                         "status": "running",
                                         "kind": "detached"})
    check("detached: refs/merge-requests/1/head on the MR head",
          det["ref"] == "refs/merge-requests/1/head" and
          det["sha"] == mr["sha"])
    tr = s.admin("POST", "/pipelines", {"project": "g/mr", "mr_iid": 1,
                                        "status": "running",
                                        "kind": "merge_train"})
    st, c, _ = s.api("GET", M + f"/repository/commits/{tr['sha']}")
    check("merge train: refs/merge-requests/1/train on a merge commit",
          tr["ref"] == "refs/merge-requests/1/train" and
          c["parent_ids"][1] == mr["sha"])
    pl = s.admin("POST", "/pipelines", {"project": "g/mr", "mr_iid": 1,
                                        "status": "running"})

    # approvals and merges
    st, body, _ = s.api("POST", M + "/merge_requests/1/approve",
                        token="glpat-ro")
    check("approve with read_api: 403", st == 403)
    st, body, _ = s.api("POST", M + "/merge_requests/1/approve",
                        token="glpat-third")
    check("ineligible approver: 401", st == 401)
    st, body, _ = s.api("POST", M + "/merge_requests/1/approve",
                        token="glpat-other")
    check("eligible approver: 201", st == 201 and body["approved"])
    st, body, _ = s.api("PUT", M + "/merge_requests/1/merge",
                        {"auto_merge": True}, token="glpat-third")
    check("merge by a user who may not merge: 401", st == 401)
    st, body, _ = s.api("PUT", M + "/merge_requests/1/merge",
                        {"auto_merge": True, "sha": "1" * 40},
                        token="glpat-other")
    check("auto-merge with a stale sha: 409", st == 409)
    st, body, _ = s.api("PUT", M + "/merge_requests/1/merge",
                        {"auto_merge": True, "sha": mr["sha"]},
                        token="glpat-other")
    check("auto-merge with sha on a merged-results pipeline: 200",
          st == 200 and body["merge_when_pipeline_succeeds"] is True)
    st, c2, _ = s.api("POST", M + "/repository/commits", {
        "branch": "bump", "commit_message": "again",
        "actions": [{"action": "update", "file_path": "VERSION",
                     "content": "3\n"}]})
    st, m, _ = s.api("GET", M + "/merge_requests/1")
    st, ap, _ = s.api("GET", M + "/merge_requests/1/approvals")
    check("a push cancels auto-merge and resets approvals",
          m["merge_when_pipeline_succeeds"] is False and
          ap["approved_by"] == [] and m["sha"] == c2["id"])
    st, body, _ = s.api("PUT", M + "/merge_requests/1/merge",
                        {"auto_merge": True}, token="glpat-other")
    check("auto-merge on a pipeline of an older head: 405", st == 405)
    pl = s.admin("POST", "/pipelines", {"project": "g/mr", "mr_iid": 1,
                                        "status": "success"})
    s.api("POST", M + "/merge_requests/1/approve", token="glpat-other")
    s.admin("POST", "/commits", {"project": "g/mr", "commits": [
        {"message": "conflict", "files": {"VERSION": "9\n"}}]})
    st, body, _ = s.api("PUT", M + "/merge_requests/1/merge",
                        {"sha": c2["id"]}, token="glpat-other")
    check("merge with conflicts: 422 Branch cannot be merged",
          st == 422 and body["message"] == "Branch cannot be merged")
    pl = s.admin("POST", "/pipelines", {"project": "g/mr", "mr_iid": 1,
                                        "status": "running"})
    check("conflicts: the MR pipeline falls back to detached",
          pl["ref"] == "refs/merge-requests/1/head" and
          pl["sha"] == c2["id"])

    # merge_base answers
    root = s.admin("POST", "/commits", {"project": "g/mr",
                                        "branch": "orphan", "orphan": True,
                                        "commits": [
                                            {"message": "root"}]})
    st, body, _ = s.api("GET", M + "/repository/merge_base?refs[]=master"
                        "&refs[]=nope")
    check("merge_base with an unknown ref: 400 Could not find ref",
          st == 400 and body["message"] == "Could not find ref: nope")
    st, body, _ = s.api("GET", M + "/repository/merge_base?refs[]=master"
                        "&refs[]=" + root["head"])
    check("merge_base without a common ancestor: 404", st == 404)

    # pagination: jobs in pages, retried ones on request, no totals
    # over 10,000
    jobs = [{"name": f"rspec {i}", "status": "failed"} for i in range(150)]
    big = s.admin("POST", "/pipelines", {"project": "g/mr", "sha": "master",
                                         "status": "failed", "jobs": jobs})
    s.api("POST", M + f"/pipelines/{big['id']}/retry")
    st, body, h = s.api("GET", M + f"/pipelines/{big['id']}/jobs"
                        "?include_retried=true&per_page=100&page=3")
    check("jobs: include_retried pages over retried and new jobs",
          len(body) == 100 and h["X-Total"] == "300" and
          h["X-Next-Page"] == "")
    st, body, h = s.api("GET", M + f"/pipelines/{big['id']}")
    check("branch pipeline source: push", body["source"] == "push")
    huge = s.admin("POST", "/pipelines", {
        "project": "g/mr", "sha": "master", "status": "failed",
        "jobs": [{"name": f"j{i}", "status": "failed"}
                 for i in range(10001)]})
    st, body, h = s.api("GET", M + f"/pipelines/{huge['id']}/jobs"
                        "?per_page=100")
    check("over 10,000 rows: no X-Total, X-Total-Pages or rel=last",
          len(body) == 100 and "X-Total" not in h and
          "X-Total-Pages" not in h and 'rel="last"' not in h["Link"] and
          h["X-Next-Page"] == "2")

    # the Date header is the simulator's clock
    s.admin("POST", "/clock", {"advance_s": 3 * 86400})
    st, body, h = s.api("GET", M)
    when = email.utils.parsedate_to_datetime(h["Date"]).timestamp()
    check("Date header follows the simulated clock",
          abs(when - (time.time() + 3 * 86400)) < 120)

    # commits of a real repository keep their ids and parents
    a, b, c = "a" * 40, "b" * 40, "c" * 40
    s.admin("POST", "/seed", {"projects": [
        {"path": "g/imp", "default_branch": "master",
         "mr_pipeline_status": "running",
         "mr_pipeline_jobs": [{"name": "rspec 1/2"}, {"name": "lint"}]}]})
    s.admin("POST", "/commits", {"project": "g/imp", "commits": [
        {"id": a, "parents": [], "message": "root"},
        {"id": b, "parents": [a], "message": "side", "side": True},
        {"id": c, "parents": [a, b], "message": "Merge side"}]})
    I = "/projects/g%2Fimp"
    st, body, _ = s.api("GET", I + "/repository/commits?ref_name=master"
                        "&first_parent=true")
    check("imported commits keep their ids; side ones stay off the "
          "first-parent line", st == 200 and
          [x["id"] for x in body] == [c, a])
    st, body, _ = s.api("GET", I + f"/repository/commits/{c}")
    check("imported merge keeps its parents", body["parent_ids"] == [a, b])
    s.api("POST", I + "/repository/branches", {"branch": "f", "ref": a})
    st, mr, _ = s.api("POST", I + "/merge_requests", {
        "source_branch": "f", "target_branch": "master", "title": "t"})
    st, jobs, _ = s.api("GET", I + f"/pipelines/"
                        f"{mr['head_pipeline']['id']}/jobs")
    check("mr_pipeline_jobs: MR pipelines get those jobs",
          sorted(j["name"] for j in jobs) == ["lint", "rspec 1/2"] and
          all(j["status"] == "running" for j in jobs))

    # a failed pipeline leaves auto-merge set; a passing retry merges
    s.api("POST", I + f"/merge_requests/{mr['iid']}/approve", {},
          token="glpat-other")
    st, body, _ = s.api("PUT", I + f"/merge_requests/{mr['iid']}/merge",
                        {"auto_merge": True}, token="glpat-other")
    plid = mr["head_pipeline"]["id"]
    s.admin("PATCH", f"/pipelines/{plid}", {"jobs": {
        "rspec 1/2": "failed", "lint": "success"}})
    st, body, _ = s.api("GET", I + f"/merge_requests/{mr['iid']}")
    check("a failed pipeline leaves auto-merge set",
          body["state"] == "opened" and
          body["merge_when_pipeline_succeeds"] is True)
    s.api("POST", I + f"/pipelines/{plid}/retry", {})
    s.admin("PATCH", f"/pipelines/{plid}", {"jobs": {"rspec 1/2": "success"}})
    st, body, _ = s.api("GET", I + f"/merge_requests/{mr['iid']}")
    check("the retried jobs pass: auto-merge merges", body["state"] ==
          "merged")

    # admin: merged source MRs at given numbers and titles (the demo's
    # gitlab-org/gitaly!6801); a number taken answers 400
    st, body, _ = s.call("POST", "/-/sim/mrs", {"project": "g/mr",
                                               "author": "other",
                                               "iids": [6801, 6802],
                                               "titles": ["Add cache",
                                                          "Fix"]},
                         token=None)
    check("admin /mrs with iids: those numbers", st == 200 and
          body["iids"] == [6801, 6802])
    st, body, _ = s.api("GET", "/projects/g%2Fmr/merge_requests/6801")
    check("admin /mrs: merged, with its title", st == 200 and
          body["state"] == "merged" and body["title"] == "Add cache")
    st, _, _ = s.call("POST", "/-/sim/mrs", {"project": "g/mr",
                                             "author": "other",
                                             "iids": [6802]}, token=None)
    check("admin /mrs: a number taken is refused", st == 400)


def _is_json(b):
    try:
        json.loads(b)
        return True
    except ValueError:
        return False


if __name__ == "__main__":
    sys.exit(main())
