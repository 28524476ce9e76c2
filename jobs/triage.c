/* relay-triage: tell why the bump MR's pipeline failed and act once.
 *
 *   flake          first failure of a pipeline: retry its failed jobs once
 *                  (TRIAGE=flake-retried); when the retry passes, the
 *                  verdict is flake and a flaky-job issue is opened, or
 *                  noted when one is open, in RELAY_FLAKY_PROJECT.
 *   broken-master  the same jobs fail in the target branch's latest
 *                  finished pipeline: label the MR RELAY_WAIT_LABEL; once
 *                  that branch is green again, close the MR with a note so
 *                  the next open-mr run opens a fresh one.
 *   regression     failed again after the retry while the target branch is
 *                  green: SUSPECT_RANGE is the compare URL between the old
 *                  and new pinned SHAs, and a note lists the changes.
 *
 * Every action leaves a note with a hidden marker naming the pipeline
 * (<!-- relay:retried pipeline=12 jobs=a,b -->), so re-runs and later
 * scheduled pipelines find it done and never act twice.
 *
 * Variables: common ones, MR_IID (unset with MR_ACTION=none: nothing to
 * do, exit 0), OUTCOME, PIPELINE_ID, FAILED_JOBS,
 * RELAY_WAIT_LABEL, RELAY_MR_BRANCH, RELAY_FLAKY_PROJECT, RELAY_FLAKY_LABELS,
 * RELAY_FLAKY_TEMPLATE, RELAY_RANGE_MAX, CI_JOB_URL.
 * Outputs: TRIAGE, SUSPECT_RANGE.
 * Exit: 0 done; 64 bad variable; 69 refused; 75 temporary; 78 missing. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "err.h"
#include "gitlab.h"
#include "http.h"
#include "job.h"
#include "joblist.h"
#include "json.h"
#include "log.h"
#include "mr.h"
#include "notes.h"
#include "record.h"
#include "pipeline.h"
#include "range.h"
#include "url.h"
#include "util.h"

static const struct env_var stage_vars[] = {
	ENV_LONG("PIPELINE_ID", 0, NULL, 1, 0x7fffffffL,
	    "the MR pipeline (from relay-watch)"),
	ENV_STRING(
	    "FAILED_JOBS", 0, NULL, "its failed jobs (from relay-watch)"),
	ENV_STRING("RELAY_WAIT_LABEL", 0, "relay::waiting-for-master",
	    "label of an MR waiting for a broken target branch"),
	/* merged bump MRs whose retry decided after the chain moved on */
	ENV_STRING("RELAY_MR_BRANCH", 0, "release-tools/update-gitaly",
	    "source branch of the bump MRs"),
	/* the seed files flaky tests with the canonical project's "Flaky
	 * Test" template, not in the security mirror */
	ENV_STRING("RELAY_FLAKY_PROJECT", 0, "gitlab-org/gitaly",
	    "where flaky-job issues go (the canonical project)"),
	ENV_STRING("RELAY_FLAKY_LABELS", 0, "failure::flaky-test",
	    "labels of flaky-job issues"),
	ENV_STRING("RELAY_FLAKY_TEMPLATE", 0, "Flaky Test",
	    "issue template (.gitlab/issue_templates/<name>.md), if present"),
	ENV_LONG("RELAY_RANGE_MAX", 0, "30", 1, 500,
	    "changes listed in a regression note"),
};

/* the index of retries without a verdict yet: set with the retried note,
 * removed with the verdict's, both through quick actions of that note
 * (one request, no window between the record and the index). A merged
 * MR still carrying it is finished by the next run (sweep). The note is
 * the record; the label only finds the MRs to read. */
#define RETRIED_LABEL "relay-retried"
/* the retried note's marker: the pipeline and its failed jobs (a joblist),
 * the ones the flake verdict files issues for once the retry passed */
#define RETRIED_MARKER "<!-- relay:retried pipeline=%lld jobs=%s -->"

struct ctx {
	struct job *job;
	struct gitlab *gl;
	char *tgt;
	char *src;
	struct mr mr;
	long long pl; /* the MR pipeline triaged */
	char pl_url[512];
	const char *outcome;
	struct buf failed; /* failed jobs, a joblist (joblist.h) */
	struct buf shown; /* the same for people */
	const char *verdict;
	char *range_url;
};

/* marker: "<!-- relay:<what> pipeline=<id>" (a prefix of the full marker,
 * which may carry more fields) */
static int
marker(struct buf *b, const char *what, long long pl)
{
	buf_reset(b);
	return pl ? buf_printf(b, "<!-- relay:%s pipeline=%lld ", what, pl)
		  : buf_printf(b, "<!-- relay:%s ", what);
}

/* done: does the MR carry the note of this action? 1 yes (and *body, if
 * asked, gets a copy), 0 no, < 0 error */
static int
done(struct ctx *c, const char *what, long long pl, char **body)
{
	struct buf m;
	int rc;

	buf_init(&m, 0);
	rc = marker(&m, what, pl);
	/* only notes relay's own identity wrote count (record.c) */
	if (rc == 0)
		rc = record_find(body, NULL, c->gl, c->mr.path, m.data);
	buf_free(&m);
	return rc;
}

/* note: post b on the MR, then relay's footer and tail (quick actions,
 * the marker), printf-style; b's appends are checked here, once */
static int note(struct ctx *c, struct buf *b, const char *tail, ...)
    __attribute__((format(printf, 3, 4)));
static int
note(struct ctx *c, struct buf *b, const char *tail, ...)
{
	const char *url = job_var(c->job, "CI_JOB_URL");
	va_list ap;
	int rc;

	if (url)
		buf_printf(b, "\n\n_relay-triage, [job](%s)_", url);
	va_start(ap, tail);
	buf_vprintf(b, tail, ap);
	va_end(ap);
	rc = buf_error(b);
	if (rc < 0)
		return rc;
	if (c->job->dry_run) {
		log_info("dry run: would note on !%lld: %.*s", c->mr.iid,
		    (int)strcspn(b->data, "\n"), b->data);
		return 0;
	}
	return notes_post(NULL, c->gl, c->mr.path, b->data);
}

/* verdict_note: note b, the verdict what; it takes the MR out of the
 * index of retries without a verdict */
static int
verdict_note(struct ctx *c, struct buf *b, const char *what)
{
	return note(c, b,
	    "\n\n/unlabel ~" RETRIED_LABEL
	    "\n\n<!-- relay:%s pipeline=%lld -->",
	    what, c->pl);
}

/* ---- the target branch ---- */

struct master {
	long long id;
	const char *outcome; /* success or failed */
	char url[512];
	struct buf failed;
};

/* master_latest: the newest finished push pipeline of the MR's target
 * branch (scheduled ones run other jobs and say nothing about whether a
 * change broke it); m->id stays 0 when there is none. m is set up here,
 * the caller frees m->failed. */
static int
master_latest(struct ctx *c, struct master *m)
{
	struct json *d = NULL;
	struct json_iter it;
	struct jv e;
	char *ref;
	int rc;

	memset(m, 0, sizeof(*m));
	buf_init(&m->failed, 0);
	ref = url_escape(c->mr.target_branch ? c->mr.target_branch : "");
	rc = ref ? gitlab_listf(c->gl, &d,
		       "%s/pipelines?ref=%s&source=push&order_by=id"
		       "&sort=desc&per_page=20",
		       c->tgt, ref)
		 : err_set(E_NOMEM, "out of memory");
	free(ref);
	if (rc < 0)
		return err_prefix(rc,
		    "cannot list the pipelines of %s: ", c->mr.target_branch);
	json_iter_init(&it, json_root(d));
	while (!m->id && json_iter_next(&it, &e, NULL)) {
		const char *o = pipeline_outcome(json_strp(e, "status"));

		if (o &&
		    (strcmp(o, "success") == 0 || strcmp(o, "failed") == 0)) {
			m->id = json_intp(e, "id", 0);
			m->outcome = o;
			snprintf(m->url, sizeof(m->url), "%s",
			    json_strp(e, "web_url") ? json_strp(e, "web_url")
						    : "");
		}
	}
	json_free(d);
	if (m->id && strcmp(m->outcome, "failed") == 0)
		rc = pipeline_failed_jobs(&m->failed, c->gl, c->tgt, m->id);
	return rc;
}

/* same_failures: every job that failed in the MR also fails on master,
 * names compared as GitLab gives them (joblist entries, byte for byte) */
static int
same_failures(struct ctx *c, struct master *m)
{
	const char *p = c->failed.data;
	struct buf e;
	int any = 0, all = 1;

	if (!p || !m->id || strcmp(m->outcome, "failed") != 0)
		return 0;
	buf_init(&e, 0);
	while (all && joblist_next(&e, &p)) {
		all = joblist_has(m->failed.data, e.data);
		any = 1;
	}
	buf_free(&e);
	return any && all;
}

/* failed_list: the failed jobs, a joblist ("" when none) */
static const char *
failed_list(const struct ctx *c)
{
	return c->failed.data ? c->failed.data : "";
}

/* shown: the failed jobs for people (names decoded), valid until the next
 * call */
static const char *
shown(struct ctx *c)
{
	buf_reset(&c->shown);
	if (joblist_text(&c->shown, c->failed.data ? c->failed.data : "") < 0 ||
	    !c->shown.data)
		return "";
	return c->shown.data;
}

static int
broken_master(struct ctx *c, struct master *m)
{
	const char *label = job_var(c->job, "RELAY_WAIT_LABEL");
	const char *tb = c->mr.target_branch;
	struct buf b;
	int rc;

	c->verdict = "broken-master";
	rc = done(c, "broken-master", c->pl, NULL);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	log_info(
	    "the jobs that failed also fail on %s (pipeline %lld): waiting for it to be fixed",
	    tb, m->id);
	if (!mr_has_label(&c->mr, label) && c->job->dry_run)
		log_info("dry run: would label !%lld %s", c->mr.iid, label);
	else if (!mr_has_label(&c->mr, label)) {
		rc = mr_labels(c->gl, &c->mr, label, NULL);
		if (rc < 0)
			return rc;
	}
	buf_init(&b, 0);
	buf_printf(&b,
	    "**Broken `%s`**: the jobs that failed in [pipeline %lld](%s) "
	    "(`%s`) also fail on `%s` in [pipeline %lld](%s), so this is not "
	    "a %s regression. This MR waits; once `%s` is green again relay "
	    "closes it and the next run opens a fresh one.",
	    tb, c->pl, c->pl_url, shown(c), tb, m->id, m->url,
	    job_var(c->job, "RELAY_COMPONENT"), tb);
	rc = note(c, &b,
	    "\n\n<!-- relay:broken-master pipeline=%lld master=%lld -->", c->pl,
	    m->id);
	buf_free(&b);
	return rc;
}

/* close_mr: the target branch is green again (pipeline m): close the
 * waiting MR with a note, once */
static int
close_mr(struct ctx *c, struct master *m)
{
	struct buf b;
	int rc;

	log_info("%s is green again (pipeline %lld): closing !%lld",
	    c->mr.target_branch, m->id, c->mr.iid);
	buf_init(&b, 0);
	rc = done(c, "closed", 0, NULL);
	if (rc == 0) {
		buf_printf(&b,
		    "`%s` is green again ([pipeline %lld](%s)). Closing this "
		    "MR: the next relay run opens a fresh one against the "
		    "fixed branch.",
		    c->mr.target_branch, m->id, m->url);
		rc =
		    note(c, &b, "\n\n<!-- relay:closed master=%lld -->", m->id);
	}
	buf_free(&b);
	if (rc >= 0 && c->job->dry_run)
		log_info("dry run: would close !%lld", c->mr.iid);
	else if (rc >= 0)
		rc = gitlab_call(c->gl, NULL, "PUT", c->mr.path,
		    "{\"state_event\":\"close\"}");
	if (rc < 0)
		return err_prefix(rc, "cannot close !%lld: ", c->mr.iid);
	return 0;
}

/* waiting: the MR waits for its target branch; close it once green */
static int
waiting(struct ctx *c)
{
	struct master m;
	int rc;

	c->verdict = "broken-master";
	rc = master_latest(c, &m);
	if (rc == 0 && m.id && strcmp(m.outcome, "success") == 0)
		rc = close_mr(c, &m);
	else if (rc == 0)
		log_info("!%lld waits for %s to be green again", c->mr.iid,
		    c->mr.target_branch);
	buf_free(&m.failed);
	return rc;
}

/* ---- flake ---- */

/* count_jobs: the jobs of pipeline pl, every page (query: extra
 * parameters) */
static int
count_jobs(struct ctx *c, size_t *out, const char *query)
{
	struct gitlab_pager pg;
	struct json *d = NULL;
	int rc = gitlab_pager_initf(&pg, c->gl, 50,
	    "%s/pipelines/%lld/jobs?%sper_page=100", c->tgt, c->pl, query);

	*out = 0;
	if (rc < 0)
		return rc;
	while ((rc = gitlab_pager_next(&pg, &d)) == 1) {
		*out += json_size(json_root(d));
		json_free(d);
		d = NULL;
	}
	gitlab_pager_free(&pg);
	return rc;
}

/* retried_before: the pipeline already has retried jobs (a retry whose
 * note was lost): jobs listed with include_retried outnumber the rest,
 * counted over every page (hundreds of jobs on gitlab-org/gitlab) */
static int
retried_before(struct ctx *c)
{
	size_t all = 0, latest = 0;
	int rc = count_jobs(c, &all, "include_retried=true&");

	if (rc == 0)
		rc = count_jobs(c, &latest, "");
	if (rc < 0)
		return err_prefix(
		    rc, "cannot list the jobs of pipeline %lld: ", c->pl);
	return all > latest;
}

/* status_now: the pipeline's outcome now; OUTCOME may predate a retry (a
 * re-run job, a stale dotenv) */
static int
status_now(struct ctx *c, const char **now)
{
	struct json *d = NULL;
	int rc = 0;

	/* the MR read at set-up carries its head pipeline's status */
	if (c->mr.head.id == c->pl)
		*now = pipeline_outcome(c->mr.head.status);
	else {
		rc = gitlab_getf(c->gl, &d, "%s/pipelines/%lld", c->tgt, c->pl);
		*now = rc == 0
		    ? pipeline_outcome(json_strp(json_root(d), "status"))
		    : NULL;
		json_free(d);
	}
	if (rc == 0 && !*now)
		rc = err_set(E_PARSE,
		    "GET %s/pipelines/%lld: unknown pipeline status", c->tgt,
		    c->pl);
	return rc;
}

static int regression(struct ctx *c);
static int flake(struct ctx *c, const char *retried_note);
static int after_retry(struct ctx *c, const char *retried);

/* retried_elsewhere: the pipeline was retried without relay's note (by a
 * person, or by a run whose note was lost). A retry still running gets
 * relay's note below, so the run after it decides; a retry that failed
 * again, with the target branch green, is a regression now: never a
 * second retry, nor a note claiming one. 1: decided, 0: note it. */
static int
retried_elsewhere(struct ctx *c)
{
	const char *now = NULL;
	struct buf mk;
	int rc = status_now(c, &now);

	if (rc < 0)
		return rc;
	log_info("pipeline %lld was retried already: it is %s now", c->pl, now);
	if (strcmp(now, "running") == 0)
		return 0;
	buf_init(&mk, 0);
	rc = buf_printf(&mk, RETRIED_MARKER, c->pl, failed_list(c));
	if (rc == 0)
		rc = after_retry(c, mk.data);
	buf_free(&mk);
	return rc < 0 ? rc : 1;
}

/* retry_jobs: POST the pipeline's retry (its failed jobs) */
static int
retry_jobs(struct ctx *c)
{
	int rc;

	if (c->job->dry_run) {
		log_info(
		    "dry run: would retry the failed jobs of pipeline %lld",
		    c->pl);
		return 0;
	}
	rc = gitlab_callf(c->gl, NULL, "POST", NULL, "%s/pipelines/%lld/retry",
	    c->tgt, c->pl);
	if (rc < 0)
		return err_prefix(rc, "cannot retry pipeline %lld: ", c->pl);
	log_info(
	    "retried the failed jobs of pipeline %lld (%s)", c->pl, shown(c));
	return 0;
}

/* retry: the first failure of the pipeline: retry its failed jobs once
 * and say so in the retried note, whoever started the retry */
static int
retry(struct ctx *c)
{
	struct buf b;
	int rc = retried_before(c);

	c->verdict = "flake-retried";
	if (rc == 1)
		rc = retried_elsewhere(c);
	else if (rc == 0)
		rc = retry_jobs(c);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	/* the same words whoever started the retry: a run whose note was
	 * lost must leave what the clean run leaves */
	buf_init(&b, 0);
	buf_printf(&b,
	    "[Pipeline %lld](%s) failed (`%s`). Its failed jobs are retried "
	    "once to tell a flaky test from a real failure.",
	    c->pl, c->pl_url, shown(c));
	rc = note(c, &b, "\n\n/label ~" RETRIED_LABEL "\n\n" RETRIED_MARKER,
	    c->pl, failed_list(c));
	buf_free(&b);
	return rc;
}

/* a flaky job's issue in RELAY_FLAKY_PROJECT: the title is the key, a
 * marker per pipeline keeps notes single */
struct flaky {
	const char *proj; /* "/projects/x" */
	const char *job; /* the joblist entry: the marker keeps it */
	struct buf title; /* "Flaky job: <name>" */
	struct buf line; /* this flake, for people */
	struct buf mk; /* this flake's marker */
	struct json *d; /* the search page that holds the open issue */
	long long iid; /* the open issue, 0: none */
	long long author;
	const char *url; /* borrowed from d */
	const char *desc;
};

/* pages of the title search read for a flaky job's open issue */
#define FLAKY_PAGES 20

/* flaky_find: the open issue titled f->title. A title search matches
 * every "Flaky job: rspec…": read every page until the exact title. */
static int
flaky_find(struct ctx *c, struct flaky *f)
{
	struct gitlab_pager pg = { 0 };
	struct json_iter it;
	struct jv e;
	char *q = url_escape(f->title.data);
	int rc = q
	    ? gitlab_pager_initf(&pg, c->gl, FLAKY_PAGES,
		  "%s/issues?state=opened&in=title&search=%s&per_page=100",
		  f->proj, q)
	    : err_set(E_NOMEM, "out of memory");

	free(q);
	while (
	    rc >= 0 && !f->iid && (rc = gitlab_pager_next(&pg, &f->d)) == 1) {
		json_iter_init(&it, json_root(f->d));
		while (!f->iid && json_iter_next(&it, &e, NULL)) {
			const char *t = json_strp(e, "title");

			if (!t || strcmp(t, f->title.data) != 0)
				continue;
			f->iid = json_intp(e, "iid", 0);
			f->url = json_strp(e, "web_url");
			f->desc = json_strp(e, "description");
			f->author = json_intp(e, "author.id", 0);
		}
		if (!f->iid) {
			json_free(f->d);
			f->d = NULL;
		}
	}
	/* past the cap "none" would open a second issue for the job */
	if (rc == 0 && !f->iid && pg.capped)
		rc = err_set(E_TEMP,
		    "GET %s/issues: more than %d open issues match the flaky job's title, none exactly; not counted as absent",
		    f->proj, FLAKY_PAGES * 100);
	gitlab_pager_free(&pg);
	if (rc < 0)
		return err_prefix(rc, "cannot search flaky-job issues: ");
	return 0;
}

/* flaky_note: note this flake on the open issue, once. Its description
 * counts as a record only if relay wrote it: an issue opened by a run
 * whose answer was lost holds this pipeline's marker already. */
static int
flaky_note(struct ctx *c, struct flaky *f)
{
	long long self = 0;
	char *path;
	int rc = f->desc ? record_self(&self, c->gl) : 0;

	if (rc < 0)
		return rc;
	if (f->desc && f->author == self && strstr(f->desc, f->mk.data))
		return 0;
	path = str_printf("%s/issues/%lld", f->proj, f->iid);
	rc = path ? record_find(NULL, NULL, c->gl, path, f->mk.data)
		  : err_set(E_NOMEM, "out of memory");
	if (rc == 0 && c->job->dry_run)
		log_info("dry run: would note on issue #%lld", f->iid);
	else if (rc == 0) {
		buf_printf(&f->line, "\n\n%s", f->mk.data);
		rc = buf_error(&f->line);
		if (rc == 0)
			rc = notes_post(NULL, c->gl, path, f->line.data);
		if (rc == 0)
			log_info("noted a new flake of %s on %s", f->job,
			    f->url ? f->url : "");
	}
	free(path);
	return rc < 0 ? rc : 0;
}

/* flaky_desc: a new issue's description: the project's template
 * RELAY_FLAKY_TEMPLATE, if it has one, then relay's facts */
static int
flaky_desc(struct ctx *c, struct flaky *f, struct buf *desc)
{
	const char *name = job_var(c->job, "RELAY_FLAKY_TEMPLATE");
	struct buf file;
	char *tmpl = NULL;
	int rc = 0;

	buf_init(&file, 0);
	if (name) {
		rc = buf_printf(&file, ".gitlab/issue_templates/%s.md", name);
		if (rc == 0)
			rc =
			    gitlab_file(c->gl, &tmpl, f->proj, file.data, NULL);
		if (rc == E_NOTFOUND) {
			err_clear();
			rc = 0;
		}
	}
	if (tmpl && *tmpl)
		buf_printf(desc, "%s\n\n", tmpl);
	buf_printf(
	    desc, "## Seen by relay\n\n%s\n\n%s\n", f->line.data, f->mk.data);
	free(tmpl);
	buf_free(&file);
	return rc < 0 ? rc : buf_error(desc);
}

/* flaky_open: open the flaky job's issue; its URL goes to links */
static int
flaky_open(struct ctx *c, struct flaky *f, struct buf *links)
{
	struct buf desc, req;
	struct json *made = NULL;
	const char *url;
	int rc;

	buf_init(&desc, 0);
	buf_init(&req, 0);
	rc = flaky_desc(c, f, &desc);
	if (rc == 0)
		rc = jw_strs(&req, "title", f->title.data, "description",
		    desc.data ? desc.data : "", "labels",
		    job_var(c->job, "RELAY_FLAKY_LABELS"), (char *)NULL);
	if (rc == 0 && c->job->dry_run)
		log_info("dry run: would open issue '%s'", f->title.data);
	else if (rc == 0) {
		rc = gitlab_callf(
		    c->gl, &made, "POST", req.data, "%s/issues", f->proj);
		url = json_strp(json_root(made), "web_url");
		if (rc < 0)
			err_prefix(rc, "cannot open a flaky-job issue: ");
		else {
			log_info("opened %s", url);
			rc = buf_printf(links, "- %s\n", url ? url : "");
		}
	}
	json_free(made);
	buf_free(&desc);
	buf_free(&req);
	return rc;
}

/* flaky_init: the key, the words and the marker of job's flake in
 * project proj */
static int
flaky_init(struct flaky *f, struct ctx *c, const char *proj, const char *job)
{
	struct buf name;
	int rc;

	memset(f, 0, sizeof(*f));
	f->proj = proj;
	f->job = job;
	buf_init(&f->title, 0);
	buf_init(&f->line, 0);
	buf_init(&f->mk, 0);
	buf_init(&name, 0);
	buf_puts(&f->title, "Flaky job: ");
	joblist_decode(&f->title, job);
	/* shown in a code span: a backtick or control byte stays encoded */
	joblist_text(&name, job);
	buf_printf(&f->line,
	    "- `%s` failed in [pipeline %lld](%s) of %s and passed when "
	    "retried.",
	    name.data ? name.data : "", c->pl, c->pl_url,
	    url_is_own(c->mr.web_url, c->gl->api) ? c->mr.web_url
						  : "the bump MR");
	buf_printf(
	    &f->mk, "<!-- relay:flaky pipeline=%lld job=%s -->", c->pl, job);
	rc = buf_error(&name);
	buf_free(&name);
	if (rc == 0)
		rc = buf_error(&f->title);
	if (rc == 0)
		rc = buf_error(&f->line);
	return rc < 0 ? rc : buf_error(&f->mk);
}

static void
flaky_free(struct flaky *f)
{
	json_free(f->d);
	buf_free(&f->title);
	buf_free(&f->line);
	buf_free(&f->mk);
}

/* flaky_issue: open the issue of a flaky job, or note this run on the
 * open one; its URL goes to links */
static int
flaky_issue(struct ctx *c, const char *proj, const char *job, struct buf *links)
{
	struct flaky f;
	int rc = flaky_init(&f, c, proj, job);

	if (rc == 0)
		rc = flaky_find(c, &f);
	if (rc == 0 && f.iid) {
		rc = flaky_note(c, &f);
		if (rc == 0)
			rc = buf_printf(links, "- %s\n", f.url ? f.url : "");
	} else if (rc == 0)
		rc = flaky_open(c, &f, links);
	flaky_free(&f);
	return rc;
}

/* flaky_issues: file every job the retried note names (jobs=<joblist>
 * -->: entries never hold ',' or '>'); their issues' URLs go to links */
static int
flaky_issues(struct ctx *c, const char *retried, struct buf *links)
{
	const char *p = strstr(retried, " jobs="), *end, *q;
	char *proj =
	    gitlab_project_path(job_var(c->job, "RELAY_FLAKY_PROJECT"));
	char *list;
	struct buf e;
	int rc = 0;

	p = p ? p + 6 : "";
	end = strstr(p, " -->");
	list = str_ndup(p, end ? (size_t)(end - p) : strlen(p));
	if (!proj || !list)
		rc = err_set(E_NOMEM, "out of memory");
	buf_init(&e, 0);
	q = list;
	while (rc == 0 && joblist_next(&e, &q))
		if (e.data[0] != '+') /* "+N more": no name */
			rc = flaky_issue(c, proj, e.data, links);
	buf_free(&e);
	free(list);
	free(proj);
	return rc;
}

/* flake: the retry passed; file the flaky jobs once */
static int
flake(struct ctx *c, const char *retried_note)
{
	struct buf links, b;
	int rc;

	c->verdict = "flake";
	rc = done(c, "flake", c->pl, NULL);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	buf_init(&links, 0);
	buf_init(&b, 0);
	rc = flaky_issues(c, retried_note, &links);
	buf_printf(&b,
	    "The retried jobs of [pipeline %lld](%s) passed: a flaky "
	    "test, not a %s problem. Tracked in:\n\n%s",
	    c->pl, c->pl_url, job_var(c->job, "RELAY_COMPONENT"),
	    links.len ? links.data : "- (no job names recorded)\n");
	if (rc == 0)
		rc = verdict_note(c, &b, "flake");
	buf_free(&links);
	buf_free(&b);
	return rc;
}

/* ---- regression ---- */

/* suspects: the pinned SHAs on the target branch (*old) and in the MR
 * (*new), and c->range_url, the compare URL between them in the source
 * project; the caller frees *old and *new */
static int
suspects(struct ctx *c, char **old, char **new)
{
	const char *file = job_var(c->job, "RELAY_VERSION_FILE");
	const char *web;
	struct json *d = NULL;
	struct buf url;
	int rc = gitlab_call(c->gl, &d, "GET", c->src, NULL);

	if (rc < 0)
		err_prefix(rc, "cannot read project %s: ",
		    job_var(c->job, "RELAY_SOURCE_PROJECT"));
	if (rc == 0)
		rc = gitlab_file(c->gl, old, c->tgt, file, c->mr.target_branch);
	if (rc == 0)
		rc = gitlab_file(c->gl, new, c->tgt, file, c->mr.sha);
	if (rc < 0) {
		json_free(d);
		return err_prefix(rc, "cannot read the pinned versions: ");
	}
	str_trim(*old);
	str_trim(*new);
	web = json_strp(json_root(d), "web_url");
	buf_init(&url, 0);
	if (!is_sha(*old) || !is_sha(*new) || !web)
		rc = err_set(E_PARSE,
		    "cannot name the suspect range: %s holds '%.48s' on %s and '%.48s' in !%lld",
		    file, *old, c->mr.target_branch, *new, c->mr.iid);
	else
		rc = buf_printf(&url, "%s/-/compare/%s...%s", web, *old, *new);
	if (rc == 0)
		c->range_url = buf_detach(&url);
	buf_free(&url);
	json_free(d);
	return rc;
}

/* regression: failed again after the retry while the target branch is
 * green: name the suspect range and list its changes, once */
static int
regression(struct ctx *c)
{
	char *old = NULL, *new = NULL;
	struct buf b;
	int rc;

	c->verdict = "regression";
	rc = suspects(c, &old, &new);
	if (rc == 0)
		rc = done(c, "regression", c->pl, NULL);
	buf_init(&b, 0);
	if (rc == 0) {
		log_info(
		    "regression: pipeline %lld failed again after a retry while %s is green; suspects: %s",
		    c->pl, c->mr.target_branch, c->range_url);
		buf_printf(&b,
		    "**Regression suspected**: [pipeline %lld](%s) failed again after "
		    "a retry (`%s`) while `%s` is green. The cause is likely among the "
		    "%s changes from `%.12s` to `%.12s`: [compare](%s)\n\n",
		    c->pl, c->pl_url, shown(c), c->mr.target_branch,
		    job_var(c->job, "RELAY_COMPONENT"), old, new, c->range_url);
		rc = range_list(&b, c->gl, c->src, old, new,
		    job_long(c->job, "RELAY_RANGE_MAX"));
		if (rc == 0)
			rc = verdict_note(c, &b, "regression");
	}
	buf_free(&b);
	free(old);
	free(new);
	return rc < 0 ? rc : 0;
}

/* ---- the decision ---- */

/* after_retry: OUTCOME=failed, and this pipeline was retried before. The
 * pipeline's status now decides: failed again is a regression, a retry
 * still running waits, a pass is a flake. */
static int
after_retry(struct ctx *c, const char *retried)
{
	const char *now = NULL;
	int rc = status_now(c, &now);

	if (rc == 0 && strcmp(now, "running") == 0) {
		log_info(
		    "pipeline %lld: the retried jobs are still running", c->pl);
		c->verdict = "flake-retried";
	} else if (rc == 0 && strcmp(now, "success") == 0)
		rc = flake(c, retried);
	else if (rc == 0)
		rc = regression(c);
	return rc;
}

static int
failed(struct ctx *c)
{
	struct master m;
	char *retried = NULL;
	int rc;

	if (!c->failed.len) {
		rc = pipeline_failed_jobs(&c->failed, c->gl, c->tgt, c->pl);
		if (rc < 0)
			return rc;
	}
	rc = master_latest(c, &m);
	if (rc == 0 && same_failures(c, &m))
		rc = broken_master(c, &m);
	else if (rc == 0) {
		rc = done(c, "retried", c->pl, &retried);
		if (rc == 0)
			rc = retry(c);
		else if (rc == 1)
			rc = after_retry(c, retried);
	}
	free(retried);
	buf_free(&m.failed);
	return rc;
}

static int
run(struct ctx *c)
{
	const char *label = job_var(c->job, "RELAY_WAIT_LABEL");
	char *retried = NULL;
	int rc;

	if (strcmp(c->mr.state, "opened") == 0 && mr_has_label(&c->mr, label)) {
		if (strcmp(c->outcome, "success") != 0 &&
		    strcmp(c->outcome, "merged") != 0)
			return waiting(c);
		/* it passed after all: let it merge */
		log_info("pipeline %lld passed: !%lld no longer waits", c->pl,
		    c->mr.iid);
		if (!c->job->dry_run &&
		    (rc = mr_labels(c->gl, &c->mr, NULL, label)) < 0)
			return rc;
	}
	if (strcmp(c->mr.state, "closed") == 0 ||
	    strcmp(c->mr.state, "locked") == 0) {
		if (mr_has_label(&c->mr, label))
			c->verdict = "broken-master";
		return 0;
	}
	if (!c->pl)
		return 0;
	if (strcmp(c->outcome, "failed") == 0)
		return failed(c);
	if (strcmp(c->outcome, "success") != 0 &&
	    strcmp(c->outcome, "merged") != 0 &&
	    strcmp(c->outcome, "running") != 0)
		return 0;
	rc = done(c, "retried", c->pl, &retried);
	if (rc == 1 && strcmp(c->outcome, "running") == 0)
		c->verdict = "flake-retried";
	else if (rc == 1)
		rc = flake(c, retried);
	free(retried);
	return rc < 0 ? rc : 0;
}

/* setup: the MR, which pipeline, and its outcome */
static int
setup(struct ctx *c, long long iid)
{
	const char *o = job_var(c->job, "OUTCOME");
	const char *jobs = job_var(c->job, "FAILED_JOBS");
	long id = job_long(c->job, "PIPELINE_ID"); /* 0: unset */
	struct mr_pipeline p;
	int rc;

	rc = mr_read(&c->mr, c->gl, c->tgt, iid);
	if (rc < 0)
		return rc;
	/* a list cut short ("+N more") cannot show that every failed job
	 * also fails on master: read them all from GitLab */
	if (jobs && !joblist_truncated(jobs) && buf_puts(&c->failed, jobs) < 0)
		return E_NOMEM;
	c->pl = id;
	if (!c->pl || !o) {
		/* run by hand: read what relay-watch would have said */
		rc = mr_pipeline_for_head(&p, &c->mr, c->gl);
		if (rc < 0)
			return rc;
		if (!c->pl && rc == 1)
			c->pl = p.id;
		if (!o && rc == 1 && p.id == c->pl)
			o = pipeline_outcome(p.status);
		if (rc == 1 && p.id == c->pl)
			snprintf(c->pl_url, sizeof(c->pl_url), "%s", p.web_url);
	}
	/* a URL from GitLab goes into notes' links only when it is a plain
	 * one of GitLab's own origin */
	if (!url_is_own(c->pl_url, c->gl->api))
		c->pl_url[0] = '\0';
	if (!o)
		o = strcmp(c->mr.state, "opened") == 0 ? "none" : c->mr.state;
	c->outcome = o;
	if (c->pl && !c->pl_url[0])
		mr_pipeline_url(c->pl_url, sizeof(c->pl_url), &c->mr, c->pl);
	if (!url_is_own(c->pl_url, c->gl->api))
		c->pl_url[0] = '\0';
	return 0;
}

/* ctx_init, ctx_free: a triage of no MR yet, of job's projects tgt and
 * src (borrowed) */
static void
ctx_init(struct ctx *c, struct job *job, char *tgt, char *src)
{
	memset(c, 0, sizeof(*c));
	c->job = job;
	c->gl = job->gl;
	c->tgt = tgt;
	c->src = src;
	c->verdict = "none";
	buf_init(&c->failed, 0);
	buf_init(&c->shown, 0);
}

static void
ctx_free(struct ctx *c)
{
	mr_free(&c->mr);
	buf_free(&c->failed);
	buf_free(&c->shown);
	free(c->range_url);
}

/* pending: the verdict of MR o's head pipeline is still open: relay's
 * retried note for it (*retried) and no verdict yet. 1 yes, 0 no, < 0
 * error. */
static int
pending(struct ctx *o, char **retried)
{
	int rc;

	if (o->mr.head.id <= 0)
		return 0;
	o->pl = o->mr.head.id;
	snprintf(o->pl_url, sizeof(o->pl_url), "%s", o->mr.head.web_url);
	if (!o->pl_url[0])
		mr_pipeline_url(o->pl_url, sizeof(o->pl_url), &o->mr, o->pl);
	rc = done(o, "retried", o->pl, retried);
	if (rc == 1)
		rc = done(o, "flake", o->pl, NULL);
	else
		return rc;
	if (rc == 0)
		rc = done(o, "regression", o->pl, NULL);
	return rc < 0 ? rc : !rc;
}

/* finish: one merged bump MR still carrying RETRIED_LABEL. Its head
 * pipeline is the one that merged it: relay's retried note for it and
 * no verdict yet means the retry decided after the chain moved on. */
static int
finish(struct ctx *c, long long iid)
{
	struct ctx o;
	char *retried = NULL;
	int rc;

	ctx_init(&o, c->job, c->tgt, c->src);
	rc = mr_read(&o.mr, o.gl, o.tgt, iid);
	if (rc == 0)
		rc = pending(&o, &retried);
	if (rc == 1) {
		log_info(
		    "merged !%lld: its retried pipeline %lld has no verdict yet",
		    iid, o.pl);
		rc = after_retry(&o, retried);
		if (rc == 0)
			log_info("merged !%lld, pipeline %lld: %s", iid, o.pl,
			    o.verdict);
	} else if (rc == 0 && c->job->dry_run)
		/* nothing pending: drop the index */
		log_info("dry run: would unlabel !%lld", iid);
	else if (rc == 0)
		rc = mr_labels(o.gl, &o.mr, NULL, RETRIED_LABEL);
	free(retried);
	ctx_free(&o);
	return rc;
}

/* sweep: merged bump MRs that relay retried and whose verdict is still
 * open (the retry passed, auto-merge merged the MR, and the next run had
 * another MR or none): file the flake now, whichever run sees it first.
 * One list request when there is nothing to finish. */
static int
sweep(struct ctx *c)
{
	char *branch = url_escape(job_var(c->job, "RELAY_MR_BRANCH"));
	struct json *d = NULL;
	struct json_iter it;
	struct jv e;
	int rc = branch ? gitlab_getf(c->gl, &d,
			      "%s/merge_requests?state=merged&source_branch=%s"
			      "&labels=" RETRIED_LABEL
			      "&order_by=updated_at&sort=desc&per_page=20",
			      c->tgt, branch)
			: err_set(E_NOMEM, "out of memory");

	free(branch);
	if (rc < 0)
		return err_prefix(rc, "cannot list merged bump MRs: ");
	json_iter_init(&it, json_root(d));
	while (rc == 0 && json_iter_next(&it, &e, NULL)) {
		long long iid = json_intp(e, "iid", 0);

		if (iid > 0 && iid != c->mr.iid)
			rc = finish(c, iid);
	}
	json_free(d);
	return rc;
}

static int
cmd_triage(struct job *job)
{
	long iid = job_long(job, "MR_IID");
	struct ctx c;
	int rc;

	ctx_init(&c, job,
	    gitlab_project_path(job_var(job, "RELAY_TARGET_PROJECT")),
	    gitlab_project_path(job_var(job, "RELAY_SOURCE_PROJECT")));
	rc = c.tgt && c.src ? 0 : err_set(E_NOMEM, "out of memory");
	if (rc == 0 && iid == 0)
		/* up to date or no green commit: the common hourly case */
		log_info(
		    "MR_ACTION=none and no MR_IID: no bump MR, nothing to do but finish merged ones");
	if (rc == 0 && iid)
		rc = setup(&c, iid);
	if (rc == 0 && iid)
		rc = run(&c);
	/* a retry of an earlier MR may have decided since: finish it */
	if (rc == 0)
		rc = sweep(&c);
	if (rc == 0 && iid)
		log_info("triage of !%lld, pipeline %lld: %s", c.mr.iid, c.pl,
		    c.verdict);
	if (rc == 0) {
		job_out(job, "TRIAGE", c.verdict);
		job_out(job, "SUSPECT_RANGE", c.range_url ? c.range_url : "");
	}
	free(c.tgt);
	free(c.src);
	ctx_free(&c);
	return rc;
}

JOB_STAGE(.name = "triage",
    .synopsis =
	"Tell a flaky test, a broken target branch and a regression apart "
	"when the bump MR's pipeline fails, and act once.",
    .flags = JOB_API, .run = cmd_triage, .connect = job_api)
