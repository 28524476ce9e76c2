/* relay-watch: read the outcome of the bump MR's pipeline for its current
 * head SHA, name its failed jobs (child and downstream pipelines too), and
 * merge the MR when the pipeline succeeded but nothing else will: neither
 * merged nor set to auto-merge (a pipeline that succeeded on retry, an
 * auto-merge GitLab dropped).
 *
 * Variables: common ones, MR_IID (unset with MR_ACTION=none: nothing to
 * do, exit 0), RELAY_WATCH_WAIT_S, RELAY_POLL_S.
 * Outputs: OUTCOME (success, failed, running, canceled, merged, closed,
 * none), PIPELINE_ID, PIPELINE_URL, FAILED_JOBS (a joblist: names as
 * GitLab gives them, encoded so commas in names stay unambiguous).
 * Exit: 0 done; 1 the pipeline failed; 64 bad MR_IID; 69 refused (also a
 * refused merge); 75 temporary; 78 missing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "gitlab.h"
#include "http.h"
#include "job.h"
#include "joblist.h"
#include "log.h"
#include "mr.h"
#include "pipeline.h"
#include "util.h"

static const struct env_var stage_vars[] = {
	ENV_LONG("RELAY_WATCH_WAIT_S", 0, "0", 0, 86400,
	    "wait up to this long for a running pipeline to finish (0: one "
	    "look)"),
	ENV_LONG(
	    "RELAY_POLL_S", 0, "5", 1, 3600, "polling interval while waiting"),
};

/* FAILED_JOBS stays well inside GitLab's dotenv value size */
#define FAILED_MAX 1500

struct ctx {
	struct job *job;
	struct gitlab *gl;
	char *tgt;
	struct mr mr;
	struct mr_pipeline pl;
	const char *outcome;
};

/* look: one read of the MR and its pipeline; sets outcome */
static int
look(struct ctx *c, long long iid)
{
	int rc = mr_read(&c->mr, c->gl, c->tgt, iid);

	if (rc < 0)
		return rc;
	memset(&c->pl, 0, sizeof(c->pl));
	rc = mr_pipeline_for_head(&c->pl, &c->mr, c->gl);
	if (rc < 0)
		return rc;
	if (strcmp(c->mr.state, "merged") == 0) {
		/* the merged MR's last pipeline is still worth reporting */
		if (rc == 0 && c->mr.head.id > 0)
			c->pl = c->mr.head;
		c->outcome = "merged";
		return 0;
	}
	if (strcmp(c->mr.state, "opened") != 0) {
		c->outcome = "closed";
		return 0;
	}
	if (rc == 0) {
		c->outcome = "none";
		return 0;
	}
	c->outcome = pipeline_outcome(c->pl.status);
	if (!c->outcome)
		return err_set(E_PARSE, "pipeline %lld has unknown status '%s'",
		    c->pl.id, c->pl.status);
	return 0;
}

/* refused: why GitLab refused the merge (the PUT's answer rc), and what
 * to do. GitLab's line names the request; the prefix says what to do. */
static int
refused(struct ctx *c, int rc)
{
	const char *tb = c->mr.target_branch ? c->mr.target_branch : "";
	long long iid = c->mr.iid;

	switch (c->job->approver->status) {
	case 401:
		return err_prefix(E_PERM,
		    "cannot merge !%lld: the RELAY_APPROVER_TOKEN user may not merge into %s (allow it to merge on that protected branch): ",
		    iid, tb);
	case 405:
		return err_prefix(E_CONFLICT,
		    "cannot merge !%lld: approvals missing, a merge check failing, or a draft (see its merge checks; the next run merges once they pass): ",
		    iid);
	case 409:
		return err_prefix(E_CONFLICT,
		    "cannot merge !%lld: its head moved past %.12s since the pipeline ran (the next run reads the new pipeline): ",
		    iid, c->mr.sha);
	case 422:
		return err_prefix(E_CONFLICT,
		    "cannot merge !%lld: the branch conflicts with %s (the next open-mr run rebuilds it): ",
		    iid, tb);
	default: return err_prefix(rc, "cannot merge !%lld: ", iid);
	}
}

/* merge: the pipeline succeeded; merge the MR unless GitLab will
 * (auto-merge) or a person must (no approver identity) */
static int
merge(struct ctx *c)
{
	char body[128];
	int rc;

	if (c->mr.auto_merge) {
		log_info(
		    "!%lld is set to auto-merge: GitLab merges it", c->mr.iid);
		return 0;
	}
	if (!c->job->approver) {
		log_info(
		    "RELAY_APPROVER_TOKEN unset: !%lld is left for a person to merge",
		    c->mr.iid);
		return 0;
	}
	if (c->job->dry_run) {
		log_info("dry run: would merge !%lld at %.12s", c->mr.iid,
		    c->mr.sha);
		return 0;
	}
	/* sha: merge exactly what the pipeline tested, nothing pushed since */
	snprintf(body, sizeof(body),
	    "{\"sha\":\"%s\",\"should_remove_source_branch\":true}", c->mr.sha);
	rc = gitlab_callf(
	    c->job->approver, NULL, "PUT", body, "%s/merge", c->mr.path);
	if (rc < 0)
		return refused(c, rc);
	log_info("merged !%lld at %.12s", c->mr.iid, c->mr.sha);
	c->outcome = "merged";
	return 0;
}

/* failed_jobs: report the failed jobs of the failed pipeline (cut at an
 * entry with "+N more" past FAILED_MAX); the answer is no */
static int
failed_jobs(struct ctx *c)
{
	struct buf jobs;
	int rc;

	buf_init(&jobs, 0);
	rc = pipeline_failed_jobs(&jobs, c->gl, c->tgt, c->pl.id);
	if (rc == 0)
		rc = joblist_cap(&jobs, FAILED_MAX);
	if (rc == 0) {
		log_info(
		    "failed jobs: %s", jobs.len ? jobs.data : "(none listed)");
		rc = job_out(c->job, "FAILED_JOBS", jobs.len ? jobs.data : "");
	}
	buf_free(&jobs);
	if (rc < 0)
		return rc;
	return job_no("pipeline %lld of !%lld failed", c->pl.id, c->mr.iid);
}

/* settle: look until the pipeline is done or RELAY_WATCH_WAIT_S is over */
static int
settle(struct ctx *c, long long iid)
{
	long wait = job_long(c->job, "RELAY_WATCH_WAIT_S");
	long poll = job_long(c->job, "RELAY_POLL_S");
	long long deadline = now_ms() + wait * 1000;
	int rc;

	for (;;) {
		rc = look(c, iid);
		if (rc < 0)
			return rc;
		if (strcmp(c->outcome, "running") != 0 &&
		    strcmp(c->outcome, "none") != 0)
			return 0;
		if (now_ms() + poll * 1000 > deadline)
			return 0;
		log_info("!%lld: pipeline %s, checking again in %lds", iid,
		    c->outcome, poll);
		sleep_ms(poll * 1000);
	}
}

static int
run(struct ctx *c, long long iid)
{
	int rc = settle(c, iid);

	if (rc < 0)
		return rc;
	log_info("!%lld (%s): pipeline %lld %s", iid, c->mr.state, c->pl.id,
	    c->pl.id ? c->pl.status : "not created yet");
	if (strcmp(c->outcome, "failed") == 0)
		return failed_jobs(c);
	job_out(c->job, "FAILED_JOBS", "");
	if (strcmp(c->outcome, "success") == 0)
		return merge(c);
	return 0;
}

static int
cmd_watch(struct job *job)
{
	struct ctx c = { .job = job, .gl = job->gl };
	int rc;

	c.tgt = gitlab_project_path(job_var(job, "RELAY_TARGET_PROJECT"));
	rc = c.tgt ? run(&c, job_long(job, "MR_IID"))
		   : err_set(E_NOMEM, "out of memory");
	/* what is known is reported even when a later step failed */
	if (c.outcome) {
		char id[32];

		job_out(job, "OUTCOME", c.outcome);
		snprintf(id, sizeof(id), "%lld", c.pl.id);
		job_out(job, "PIPELINE_ID", c.pl.id ? id : "");
		job_out(job, "PIPELINE_URL", c.pl.web_url);
	}
	mr_free(&c.mr);
	free(c.tgt);
	return rc;
}

JOB_STAGE(.name = "watch",
    .synopsis = "Read the outcome of the bump MR's pipeline; merge it when it "
		"succeeded and nothing else will.",
    .flags = JOB_API | JOB_APPROVER, .exit_no = "the pipeline failed",
    .idle = { "OUTCOME", "none" }, .run = cmd_watch, .connect = job_api)
