/* relay-notify: report a failed bump MR pipeline, once per pipeline, to
 * Slack (RELAY_SLACK_FAILURES_URL, #g_gitaly) and in a note on the MR that
 * tags RELAY_TEAM_HANDLE.
 *
 * The note is the durable record (common/record.c): its hidden marker names
 * the pipeline and whether Slack got the message (<!-- relay:notified
 * pipeline=12 slack=sent -->). It is written pending first, then Slack is
 * posted, then the marker flips to slack=sent; a failed post releases it
 * (slack=retry) for the next run, so a Slack outage delays the message
 * but never loses it. Only notes by relay's own identity count. A note
 * GitLab does not take holds the Slack post back.
 *
 * Nothing is reported while triage retries the failed jobs
 * (TRIAGE=flake-retried): if the retry fails, the same pipeline is reported
 * with the final verdict. A broken target branch is reported without
 * tagging the team: it is not the component's fault.
 *
 * The Slack message tags the team too: RELAY_SLACK_TEAM, a Slack user
 * group id, becomes a real mention (<!subteam^ID>); unset, the handle is
 * written as text (a webhook cannot resolve a GitLab handle).
 *
 * Variables: common ones, MR_IID (unset with MR_ACTION=none: nothing to
 * do, exit 0), OUTCOME, PIPELINE_ID, PIPELINE_URL,
 * FAILED_JOBS, TRIAGE, SUSPECT_RANGE, RELAY_SLACK_TEAM.
 * Outputs: NOTIFIED (true: this run reported; false: nothing to report or
 * reported before).
 * Exit: 0 done; 64 bad variable; 69 refused (Slack or GitLab); 75
 * temporary (the rest is delivered by the next run); 78 missing. */
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
#include "notes.h"
#include "record.h"
#include "slack.h"
#include "util.h"

static const struct env_var stage_vars[] = {
	{ .name = "PIPELINE_ID",
	    .desc = "the failed pipeline (from relay-watch)",
	    .type = ENV_T_LONG,
	    .min = 1,
	    .max = 0x7fffffffL,
	    .when = "OUTCOME=failed" },
	ENV_STRING("PIPELINE_URL", 0, NULL, "its web page (from relay-watch)"),
	ENV_STRING(
	    "FAILED_JOBS", 0, NULL, "its failed jobs (from relay-watch)"),
	ENV_STRING("TRIAGE", 0, NULL, "verdict (from relay-triage)"),
	ENV_STRING("SUSPECT_RANGE", 0, NULL, "compare URL (from relay-triage)"),
	ENV_STRING("RELAY_SLACK_TEAM", 0, NULL,
	    "Slack user group id tagged in #g_gitaly (S0123ABC; default: "
	    "RELAY_TEAM_HANDLE as text)"),
};

struct ctx {
	struct job *job;
	struct mr mr;
	long long pl;
	const char *pl_url;
	const char *jobs;
	const char *triage;
	const char *range;
	const char *hook;
	const char *slack; /* the Slack message */
};

static const char *
verdict_text(const char *t)
{
	if (!t || !*t || strcmp(t, "none") == 0)
		return "not triaged";
	if (strcmp(t, "regression") == 0)
		return "regression: failed again after a retry while the "
		       "target branch is green";
	if (strcmp(t, "broken-master") == 0)
		return "broken target branch: the same jobs fail there; the MR "
		       "waits and is reopened fresh once it is fixed";
	if (strcmp(t, "flake") == 0)
		return "flaky test";
	return t;
}

/* slack_group_ok: a Slack user group id as Slack shows it (S, then
 * upper-case letters and digits): nothing else may open a <!...> mention */
static int
slack_group_ok(const char *id)
{
	size_t i;

	if (!id || id[0] != 'S' || strlen(id) < 3 || strlen(id) > 24)
		return 0;
	for (i = 1; id[i]; i++)
		if (!((id[i] >= 'A' && id[i] <= 'Z') ||
			(id[i] >= '0' && id[i] <= '9')))
			return 0;
	return 1;
}

static int
slack_text(struct ctx *c, struct buf *b)
{
	const char *comp = job_var(c->job, "RELAY_COMPONENT");
	char label[64];

	buf_puts(b, ":red_circle: ");
	slack_escape(b, comp);
	buf_puts(b, " update ");
	snprintf(label, sizeof(label), "!%lld", c->mr.iid);
	slack_link(b, c->mr.web_url, label, c->job->gl->api);
	buf_puts(b, " (");
	snprintf(label, sizeof(label), "pipeline %lld", c->pl);
	slack_link(b, c->pl_url, label, c->job->gl->api);
	buf_puts(b, ") failed.");
	/* a broken target branch is not the component's fault: no tag */
	if (!c->triage || strcmp(c->triage, "broken-master") != 0) {
		const char *group = job_var(c->job, "RELAY_SLACK_TEAM");

		buf_puts(b, " cc ");
		if (group)
			buf_printf(b, "<!subteam^%s>", group);
		else
			slack_escape(b, job_var(c->job, "RELAY_TEAM_HANDLE"));
	}
	buf_puts(b, "\n*Failed jobs*: ");
	slack_escape(b, c->jobs && *c->jobs ? c->jobs : "(not listed)");
	buf_puts(b, "\n*Verdict*: ");
	slack_escape(b, verdict_text(c->triage));
	if (c->range && *c->range) {
		buf_puts(b, "\n*Suspects*: ");
		slack_link(b, c->range, "compare", c->job->gl->api);
	}
	return buf_puts(b, "\n");
}

static int
note_text(struct ctx *c, struct buf *b)
{
	const char *api = c->job->gl->api;
	const char *job_url = job_var(c->job, "CI_JOB_URL");
	int tag = !c->triage || strcmp(c->triage, "broken-master") != 0;
	char label[48];

	if (tag)
		buf_printf(b, "%s ", job_var(c->job, "RELAY_TEAM_HANDLE"));
	/* text and URLs from GitLab: no link, mention, quick action or
	 * marker can open from them */
	snprintf(label, sizeof(label), "Pipeline %lld", c->pl);
	notes_link(b, label, c->pl_url, api);
	buf_puts(b, " of this ");
	notes_escape(b, job_var(c->job, "RELAY_COMPONENT"));
	buf_puts(b, " update failed.\n\n- **Failed jobs**: ");
	notes_escape(b, c->jobs && *c->jobs ? c->jobs : "(not listed)");
	buf_printf(b, "\n- **Verdict**: %s\n", verdict_text(c->triage));
	if (c->range && *c->range) {
		buf_puts(b, "- **Suspects**: ");
		notes_link(b, "compare", c->range, api);
		buf_puts(b, "\n");
	}
	if (job_url)
		buf_printf(b, "\n_relay-notify, [job](%s)_", job_url);
	return buf_error(b);
}

/* nothing_to_report: a pipeline that did not fail, or whose failed jobs
 * triage is retrying (reported only if they fail again) */
static int
nothing_to_report(struct ctx *c)
{
	const char *outcome = job_var(c->job, "OUTCOME");

	if (!outcome || strcmp(outcome, "failed") != 0) {
		log_info("OUTCOME=%s: nothing to report",
		    outcome ? outcome : "(unset)");
		return 1;
	}
	if (c->triage && strcmp(c->triage, "flake-retried") == 0) {
		log_info(
		    "the failed jobs are being retried: reported only if they fail again");
		return 1;
	}
	return 0;
}

/* read_mr: the MR, and its pipeline's web page when relay-watch did not
 * pass it on */
static int
read_mr(struct ctx *c, char *url, size_t n)
{
	char *tgt =
	    gitlab_project_path(job_var(c->job, "RELAY_TARGET_PROJECT"));
	int rc = tgt
	    ? mr_read(&c->mr, c->job->gl, tgt, job_long(c->job, "MR_IID"))
	    : err_set(E_NOMEM, "out of memory");

	free(tgt);
	c->pl = job_long(c->job, "PIPELINE_ID");
	c->pl_url = job_var(c->job, "PIPELINE_URL");
	if (rc == 0 && !c->pl_url) {
		mr_pipeline_url(url, n, &c->mr, c->pl);
		c->pl_url = url;
	}
	return rc;
}

/* post_slack: the action of the record (record_once): the Slack message */
static int
post_slack(void *arg)
{
	struct ctx *c = arg;
	int rc = slack_post(c->job->http, c->hook, c->slack);

	if (rc == 0)
		log_info(
		    "posted pipeline %lld of !%lld to Slack", c->pl, c->mr.iid);
	return rc;
}

/* said: what record_once did (result), in the log */
static void
said(struct ctx *c, int result, int *notified)
{
	switch (result) {
	case RECORD_DONE_BEFORE:
		log_info("pipeline %lld of !%lld was reported already", c->pl,
		    c->mr.iid);
		break;
	case RECORD_BUSY:
		log_info(
		    "pipeline %lld of !%lld is being reported by another run",
		    c->pl, c->mr.iid);
		break;
	case RECORD_DRY:
		log_info("dry run: would report pipeline %lld of !%lld", c->pl,
		    c->mr.iid);
		fprintf(stdout, "%s", c->slack);
		break;
	default:
		log_info("reported pipeline %lld on !%lld", c->pl, c->mr.iid);
		if (!c->hook)
			log_info(
			    "RELAY_SLACK_FAILURES_URL unset: no Slack message");
		*notified = 1;
	}
}

/* report: the note is the record the next run reads: written pending
 * before Slack is posted, flipped to sent after (record.c) */
static int
report(struct ctx *c, int *notified)
{
	struct buf text, body;
	struct record_op op = { 0 };
	char mk[64];
	int rc, result = 0;

	snprintf(mk, sizeof(mk), "relay:notified pipeline=%lld", c->pl);
	buf_init(&text, 0);
	buf_init(&body, 0);
	rc = slack_text(c, &text);
	if (rc == 0)
		rc = note_text(c, &body);
	c->slack = text.data;
	op.noteable = c->mr.path;
	op.marker = mk;
	op.text = body.data;
	op.act = c->hook ? post_slack : NULL;
	op.arg = c;
	op.dry_run = c->job->dry_run;
	if (rc == 0)
		rc = record_once(&result, c->job->gl, &op);
	if (rc == 0)
		said(c, result, notified);
	buf_free(&text);
	buf_free(&body);
	return rc;
}

static int
cmd_notify(struct job *job)
{
	const char *team = job_var(job, "RELAY_SLACK_TEAM");
	struct ctx c = { .job = job };
	struct buf jobs;
	char url[600];
	int rc, notified = 0;

	if (team && !slack_group_ok(team))
		return err_set(E_USAGE,
		    "RELAY_SLACK_TEAM: expected a Slack user group id such as S0123ABC, got '%.40s'",
		    team);
	c.triage = job_var(job, "TRIAGE");
	c.range = job_var(job, "SUSPECT_RANGE");
	c.hook = job_var(job, "RELAY_SLACK_FAILURES_URL");
	if (nothing_to_report(&c))
		return job_out(job, "NOTIFIED", "false");
	buf_init(&jobs, 0);
	rc = read_mr(&c, url, sizeof(url));
	/* FAILED_JOBS is a joblist: names shown decoded */
	if (rc == 0 && job_var(job, "FAILED_JOBS"))
		rc = joblist_text(&jobs, job_var(job, "FAILED_JOBS"));
	c.jobs = jobs.data;
	if (rc == 0)
		rc = report(&c, &notified);
	if (rc == 0 || notified)
		job_out(job, "NOTIFIED", notified ? "true" : "false");
	buf_free(&jobs);
	mr_free(&c.mr);
	return rc;
}

JOB_STAGE(.name = "notify",
    .synopsis =
	"Report a failed bump MR pipeline to Slack and on the MR, once per "
	"pipeline.",
    .flags = JOB_API, .idle = { "NOTIFIED", "false" }, .run = cmd_notify,
    .connect = job_api)
