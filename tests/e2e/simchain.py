"""The simulator and the hourly pipeline, for scripts/demo.py and
tests/e2e/month.py.

Sim starts tests/sim/gitlab_sim.py on loopback and speaks its admin API
(/-/sim/...) and the REST API. Chain runs the real relay-* binaries the way
the project's pipeline does: the jobs, their needs, variables, retry and
allow_failure rules are read from the components in templates/ (inputs
filled in as an includer would), dotenv reports are handed to the jobs that
need them (artifacts when: on_success unless the job says always), a job
whose needs failed is skipped, and exit codes listed under retry run the
job again (at most retry: max times).
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
STAGES = ["mirror", "find-green", "open-mr", "watch", "triage", "notify",
          "track-deploy"]


class Sim:
    def __init__(self, workdir, extra_args=()):
        self.workdir = workdir
        port_file = os.path.join(workdir, "port")
        self.log = open(os.path.join(workdir, "sim.log"), "w")
        self.proc = subprocess.Popen(
            [sys.executable, os.environ.get("SIM_SCRIPT", os.path.join(TOP, "tests/sim/gitlab_sim.py")),
             "--port-file", port_file, *extra_args],
            stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(200):
            if os.path.exists(port_file):
                break
            time.sleep(0.05)
        else:
            raise SystemExit("simulator did not start")
        with open(port_file) as f:
            self.url = f"http://127.0.0.1:{f.read().strip()}"
        self.api = self.url + "/api/v4"
        self.opener = urllib.request.build_opener()

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        self.log.close()

    def call(self, method, url, body=None, headers=None):
        data = None
        h = dict(headers or {})
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method,
                                     headers=h)
        try:
            with self.opener.open(req) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            raw = e.read()
            raise RuntimeError(f"{method} {url}: HTTP {e.code}: "
                               f"{raw[:200]!r}") from None
        ctype = r.headers.get("Content-Type", "")
        return json.loads(raw) if "json" in ctype and raw else raw

    def admin(self, method, path, body=None):
        return self.call(method, self.url + "/-/sim" + path, body)

    def get(self, path, token):
        return self.call("GET", self.api + path,
                         headers={"PRIVATE-TOKEN": token})

    def write(self, method, path, body, token):
        return self.call(method, self.api + path, body,
                         headers={"PRIVATE-TOKEN": token})


def q(path):
    return urllib.parse.quote(path, safe="")


# ---------------------------------------------------------------- CI

COMMON_INPUTS = {"stage", "job_prefix", "image", "tries", "timeout_s",
                 "retry_base_ms", "ca_bundle", "debug"}
INPUT = re.compile(r"\$\[\[\s*inputs\.([a-z_]+)\s*(\|[^\]]*)?\]\]")


def load_component(stage, inputs):
    """The job of templates/<stage>.yml as an includer gets it: inputs
    filled in from `inputs`, else the spec's defaults."""
    with open(os.path.join(TOP, "templates", f"{stage}.yml")) as f:
        spec_text, body = f.read().split("\n---\n", 1)
    spec = yaml.safe_load(spec_text)["spec"]["inputs"]
    vals = {}
    for name, attrs in spec.items():
        attrs = attrs or {}
        # update-component.yml's names: the mirror's own inputs prefixed
        outer = name if stage != "mirror" or name in COMMON_INPUTS \
            else "mirror_" + name
        if outer in inputs:
            vals[name] = inputs[outer]
        elif "default" in attrs:
            vals[name] = attrs["default"]
        else:
            raise SystemExit(f"{stage}: input {name} is required")

    def sub(m):
        v = vals[m.group(1)]
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)

    def interpolate(node):
        # GitLab interpolates inputs in the parsed YAML's strings
        if isinstance(node, dict):
            return {interpolate(k): interpolate(v) for k, v in node.items()}
        if isinstance(node, list):
            return [interpolate(v) for v in node]
        if isinstance(node, str):
            return INPUT.sub(sub, node)
        return node
    jobs = interpolate(yaml.safe_load(body))
    name, job = next((k, v) for k, v in jobs.items()
                     if isinstance(v, dict) and "script" in v)
    return name, job, vals


class Job:
    def __init__(self, stage, inputs):
        self.stage = stage
        self.name, d, self.inputs = load_component(stage, inputs)
        self.needs = []
        for n in d.get("needs") or []:
            if isinstance(n, str):
                n = {"job": n}
            self.needs.append((n["job"], n.get("artifacts", True)))
        self.variables = {k: "" if v is None else str(v)
                          for k, v in (d.get("variables") or {}).items()}
        af = d.get("allow_failure", False)
        self.allow_all = af is True
        self.allow_codes = set(af.get("exit_codes", [])
                               if isinstance(af, dict) else [])
        r = d.get("retry") or {}
        self.retry_max = r.get("max", 0) if isinstance(r, dict) else r
        self.retry_codes = set(r.get("exit_codes", [])
                               if isinstance(r, dict) else [])
        self.when_always = (d.get("artifacts") or {}).get("when") == "always"
        self.dotenv = self.variables.get("RELAY_DOTENV", "relay.env")
        self.binary = os.path.abspath(os.path.join(os.environ.get(
            "RELAY_BIN", os.path.join(TOP, "bin")), f"relay-{stage}"))


class Run:
    """One job's run in a pipeline: attempts (exit codes), final status
    (success, failed, allowed: failed with allow_failure, skipped), the
    dotenv it passes on, and the last attempt's stderr."""

    def __init__(self, job):
        self.job = job
        self.codes = []
        self.status = "skipped"
        self.dotenv = {}
        self.stderr = ""
        self.stdout = ""


VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def read_dotenv(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                k, sep, v = line.rstrip("\n").partition("=")
                if sep:
                    out[k] = v
    except FileNotFoundError:
        pass
    return out


class Chain:
    """The chain of update-component.yml: one Job per stage."""

    def __init__(self, inputs, ci_vars, stages=STAGES, workdir=None):
        self.jobs = [Job(s, inputs) for s in stages]
        self.by_name = {j.name: j for j in self.jobs}
        self.ci_vars = dict(ci_vars)
        self.workdir = workdir or tempfile.mkdtemp(prefix="relay-chain.")
        # the runner's checkout; the CI cache (the mirror's) lives here
        self.project_dir = os.path.join(self.workdir, "project")
        os.makedirs(self.project_dir, exist_ok=True)
        self.n = 0

    def run(self, pipeline_vars=None, on_attempt=None):
        """One pipeline; returns {stage: Run}. on_attempt(stage, n) is
        called before each attempt (fault bookkeeping)."""
        self.n += 1
        runs = {}
        for job in self.jobs:  # templates list them in needs order
            r = Run(job)
            runs[job.stage] = r
            env_dotenv = {}
            blocked = False
            for need, artifacts in job.needs:
                dep = self.by_name.get(need)
                if dep is None:
                    continue  # optional need, job not in this pipeline
                dr = runs[dep.stage]
                if dr.status not in ("success", "allowed"):
                    blocked = True
                if artifacts:
                    env_dotenv.update(dr.dotenv)
            if blocked:
                continue
            jobdir = os.path.join(self.workdir, f"p{self.n}-{job.stage}")
            os.makedirs(jobdir, exist_ok=True)
            # GitLab's precedence: pipeline > project > dotenv > job
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                   "CI_PIPELINE_SOURCE": "schedule",
                   "CI_PROJECT_DIR": self.project_dir,
                   "CI_JOB_URL": self.ci_vars.get("CI_JOB_URL", "") +
                   f"/{self.n * 10 + len(runs)}"}
            # the runner's own environment: sanitizer settings of the
            # instrumented builds
            env.update({k: v for k, v in os.environ.items()
                        if k.endswith("SAN_OPTIONS")})
            predefined = dict(env)
            env.update({k: VAR.sub(lambda m: predefined.get(
                m.group(1) or m.group(2), ""), v)
                for k, v in job.variables.items()})
            env.update(env_dotenv)
            env.update(self.ci_vars)
            env.update(pipeline_vars or {})
            env = {k: v for k, v in env.items() if v is not None}
            for attempt in range(1 + job.retry_max):
                if on_attempt:
                    on_attempt(job.stage, attempt)
                dpath = os.path.join(jobdir, job.dotenv)
                if os.path.exists(dpath):
                    os.unlink(dpath)
                p = subprocess.run([job.binary], env=env, cwd=jobdir,
                                   capture_output=True, text=True)
                r.codes.append(p.returncode)
                r.stderr, r.stdout = p.stderr, p.stdout
                if p.returncode not in job.retry_codes:
                    break
            rc = r.codes[-1]
            if rc == 0:
                r.status = "success"
            elif job.allow_all or rc in job.allow_codes:
                r.status = "allowed"
            else:
                r.status = "failed"
            if rc == 0 or job.when_always:
                r.dotenv = read_dotenv(os.path.join(jobdir, job.dotenv))
        return runs


def pipeline_status(runs):
    return "failed" if any(r.status == "failed" for r in runs.values()) \
        else "success"
