/* relay-bisect: find the change that broke the component, one round per
 * scheduled run, never waiting.
 *
 * When relay-triage says regression (TRIAGE=regression) and
 * RELAY_BISECT=true, the first-parent changes between the pin on the
 * target branch (good) and the bump MR's pin (bad) are bisected: each
 * round opens draft MRs in the target, labelled relay::bisect, on branches
 * release-tools/bisect-<component>-<short sha>, pinning k-1 evenly spaced
 * green commits (RELAY_BISECT_WAYS=k). A draft's pipeline counts as bad
 * only when exactly the bump MR's jobs failed (FAILED_JOBS, compared entry
 * by entry); another failure is retried once, then the point is skipped.
 * Commits without a green pipeline in the source are skipped. When every
 * draft of a round finished, the round's drafts are closed (branches
 * deleted) and the range narrows. Drafts are never merged.
 *
 * The state is one note on the bump MR written by relay's identity
 * (<!-- relay:bisect-state ... -->, edited in place), so any run
 * continues it; drafts are found by their branch, so re-runs and lost
 * answers never open a second one. The verdict (the first bad commit and
 * its source MR) is one note on the bump MR (<!-- relay:bisect-verdict
 * slack=... -->) and one Slack message to RELAY_SLACK_FAILURES_URL. A bump
 * MR closed or merged mid-bisect ends it: its drafts are closed, and every
 * run closes drafts whose bump MR is no longer open (sweep).
 *
 * Variables: common ones, MR_IID (unset with MR_ACTION=none: nothing to
 * do), TRIAGE, FAILED_JOBS, RELAY_BISECT, RELAY_BISECT_WAYS,
 * RELAY_BISECT_MAX_DRAFTS, RELAY_BISECT_MAX_ROUNDS.
 * Outputs: BISECT (off, none, running, found, inconclusive, aborted),
 * SUSPECT_SHA, SUSPECT_MR (once found), BISECT_RANGE (the narrowed range,
 * "<first>..<last>" of the suspects, while unresolved).
 * Exit: 0 done; 64 bad variable; 69 refused; 75 temporary; 78 missing. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bisect.h"
#include "buf.h"
#include "err.h"
#include "gitlab.h"
#include "job.h"
#include "joblist.h"
#include "json.h"
#include "log.h"
#include "mr.h"
#include "notes.h"
#include "pipeline.h"
#include "range.h"
#include "record.h"
#include "slack.h"
#include "url.h"
#include "util.h"

static const struct env_var stage_vars[] = {
	ENV_STRING("TRIAGE", 0, NULL,
	    "verdict of relay-triage: regression starts a bisection"),
	ENV_STRING("FAILED_JOBS", 0, NULL,
	    "the bump MR pipeline's failed jobs (from relay-watch)"),
	ENV_BOOL("RELAY_BISECT", 0, "false",
	    "bisect regressions (each step is a full product pipeline)"),
	ENV_LONG("RELAY_BISECT_WAYS", 0, "2", 2, BISECT_MAX_POINTS + 1,
	    "k: each round pins k-1 evenly spaced commits"),
	ENV_LONG("RELAY_BISECT_MAX_DRAFTS", 0, "4", 1, BISECT_MAX_POINTS,
	    "draft MRs open at once at most"),
	ENV_LONG("RELAY_BISECT_MAX_ROUNDS", 0, "8", 1, 50,
	    "rounds at most; then the narrowed range is the verdict"),
	ENV_BOOL("RELAY_OFFER_REVERT", 0, "false",
	    "open a draft revert MR of the first bad change"),
	ENV_STRING("RELAY_REVERT_PROJECT", 0, "gitlab-org/gitaly",
	    "where the revert MR goes (the canonical source project)"),
};

#define LABEL "relay::bisect"
#define STATE_MARK "<!-- relay:bisect-state\n"

struct ctx {
	struct job *job;
	struct gitlab *gl;
	char *tgt;
	char *src;
	const char *component;
	char slug[64]; /* component for branch names */
	struct mr mr;
	long long me;
	struct bisect b;
	int have; /* b holds a state read or started */
	long long state_id;
	const char *result;
	char suspect_sha[41];
	char suspect_mr[256];
	char range[64];
};

/* ---- reads ---- */

/* state_note: keep the oldest state note read */
static int
state_note(void *arg, const struct record_entry *n)
{
	struct ctx *c = arg;
	const char *m = strstr(n->body, STATE_MARK);
	struct bisect b;

	if (!m)
		return 0;
	if (bisect_parse(&b, m + strlen(STATE_MARK)) < 0) {
		bisect_free(&b);
		log_warn("state note %lld unreadable: ignored", n->id);
		return 0;
	}
	/* older than the one kept: it wins */
	bisect_free(&c->b);
	c->b = b;
	c->have = 1;
	c->state_id = n->id;
	return 0;
}

/* records: the oldest trusted state note of the bump MR, read newest
 * first as every record (record_each): ordinary notes piling up before a
 * bisection starts cannot hide it, and a page cap reached before every
 * note was read is E_TEMP, never "no bisection yet" (which would start a
 * second one) nor a younger state taken for the oldest. Racing first
 * runs write their states moments apart, so the oldest of those wins. */
static int
records(struct ctx *c)
{
	int rc =
	    record_each(c->gl, c->mr.path, "bisection state", state_note, c);

	return rc < 0
	    ? err_prefix(rc, "cannot read the notes of !%lld: ", c->mr.iid)
	    : 0;
}

/* green: 1 when sha has a successful pipeline in the source */
static int
green(struct ctx *c, const char *sha)
{
	struct json *d = NULL;
	int rc = gitlab_getf(c->gl, &d,
	    "%s/pipelines?sha=%s&status=success&per_page=1", c->src, sha);

	if (rc == 0)
		rc = json_size(json_root(d)) > 0;
	json_free(d);
	return rc < 0
	    ? err_prefix(rc, "cannot read the pipelines of %.12s: ", sha)
	    : rc;
}

/* ---- the state note ---- */

static void
bounds_text(struct ctx *c)
{
	int lo, hi;

	bisect_bounds(&c->b, &lo, &hi);
	if (lo >= hi)
		lo = -1;
	snprintf(c->range, sizeof(c->range), "%.12s..%.12s", c->b.sha[lo + 1],
	    c->b.sha[hi]);
}

/* oldest_wins: after posting a new state note, read the states again:
 * racing first runs each post one moments apart, and every one of them
 * sees the oldest (posted before its own), as record_once lets the
 * oldest claim win. A run whose note is not the oldest deletes it and
 * continues with the oldest state, so one state is ever in use. */
static int
oldest_wins(struct ctx *c)
{
	long long mine = c->state_id;
	int rc = records(c);

	if (rc < 0 || c->state_id == mine)
		return rc;
	log_info(
	    "a racing run recorded this bisection first (note %lld): continuing with it",
	    c->state_id);
	rc = gitlab_callf(
	    c->gl, NULL, "DELETE", NULL, "%s/notes/%lld", c->mr.path, mine);
	if (rc < 0)
		log_warn(
		    "cannot delete the state note %lld: %s", mine, err_msg());
	return 0;
}

static int
save(struct ctx *c)
{
	struct buf b;
	int lo, hi, rc, j;

	bisect_bounds(&c->b, &lo, &hi);
	bounds_text(c);
	buf_init(&b, 0);
	buf_printf(&b,
	    "**Bisecting the %s regression** (relay): round %d, %d "
	    "suspects left (`%s`).",
	    c->component, c->b.round, hi > lo ? hi - lo : 0, c->range);
	if (c->b.npoints) {
		buf_puts(&b, " Draft MRs pin");
		for (j = 0; j < c->b.npoints; j++)
			buf_printf(&b, "%s `%.12s`", j ? "," : "",
			    c->b.sha[c->b.points[j]]);
		buf_puts(&b, "; they are never merged.");
	}
	buf_printf(&b, "\n\n%s", STATE_MARK);
	bisect_format(&b, &c->b);
	buf_puts(&b, "-->\n");
	rc = buf_error(&b);
	if (rc == 0 && c->job->dry_run)
		log_info("dry run: would record round %d of !%lld", c->b.round,
		    c->mr.iid);
	else if (rc == 0 && c->state_id)
		rc = notes_update(c->gl, c->mr.path, c->state_id, b.data);
	else if (rc == 0) {
		rc = notes_post(&c->state_id, c->gl, c->mr.path, b.data);
		if (rc == 0)
			rc = oldest_wins(c);
	}
	buf_free(&b);
	return rc < 0 ? err_prefix(rc,
			    "cannot record the bisection on !%lld: ", c->mr.iid)
		      : 0;
}

/* ---- drafts ---- */

static void
branch(struct ctx *c, char *out, size_t n, int i)
{
	snprintf(out, n, "release-tools/bisect-%s-%.8s", c->slug, c->b.sha[i]);
}

/* draft_find: the newest draft MR of point i for this bump MR, open or
 * not (by its branch, written by relay, its description naming the bump
 * MR) into *iid and *open; *iid 0 when none. A draft closed by an earlier
 * run that died before recording the round still tells its result, and
 * is never opened again. */
static int
draft_find(struct ctx *c, int i, long long *iid, int *open)
{
	char br[128], tag[64];
	char *esc;
	struct json *d = NULL;
	struct json_iter it;
	struct jv e;
	int rc;

	*iid = 0;
	*open = 0;
	branch(c, br, sizeof(br), i);
	snprintf(tag, sizeof(tag), "relay:bisect-draft mr=%lld ", c->mr.iid);
	esc = url_escape(br);
	if (!esc)
		return err_set(E_NOMEM, "out of memory");
	rc = gitlab_getf(c->gl, &d,
	    "%s/merge_requests?source_branch=%s&state=all&labels=%s"
	    "&per_page=100",
	    c->tgt, esc, "relay%3A%3Abisect");
	free(esc);
	if (rc < 0)
		return err_prefix(rc, "cannot list the drafts of %s: ", br);
	json_iter_init(&it, json_root(d));
	while (json_iter_next(&it, &e, NULL)) {
		const char *desc = json_strp(e, "description");
		const char *st = json_strp(e, "state");

		if (json_intp(e, "author.id", -1) != c->me || !desc ||
		    !strstr(desc, tag))
			continue;
		/* newest first (GitLab's order): an open one wins */
		if (!*iid || (st && strcmp(st, "opened") == 0)) {
			*iid = json_intp(e, "iid", 0);
			*open = st && strcmp(st, "opened") == 0;
		}
		if (*open)
			break;
	}
	json_free(d);
	return 0;
}

static int
draft_open(struct ctx *c, int i)
{
	char br[128];
	struct buf body, text;
	struct jw w;
	struct json *d = NULL;
	const char *sha = c->b.sha[i];
	int rc;

	branch(c, br, sizeof(br), i);
	if (c->job->dry_run) {
		log_info("dry run: would open a draft MR pinning %.12s on %s",
		    sha, br);
		return 0;
	}
	buf_init(&body, 0);
	buf_init(&text, 0);
	buf_printf(&text, "%s\n", sha);
	jw_init(&w, &body);
	jw_obj(&w);
	jw_kstr(&w, "branch", br);
	jw_kstr(&w, "start_branch", c->mr.target_branch);
	buf_reset(&text);
	buf_printf(&text, "Bisect %s at %.12s", c->component, sha);
	jw_kstr(&w, "commit_message", text.data);
	jw_key(&w, "actions");
	jw_arr(&w);
	jw_obj(&w);
	jw_kstr(&w, "action", "update");
	jw_kstr(&w, "file_path", job_var(c->job, "RELAY_VERSION_FILE"));
	buf_reset(&text);
	buf_printf(&text, "%s\n", sha);
	jw_kstr(&w, "content", text.data);
	jw_end(&w);
	jw_end(&w);
	jw_end(&w);
	rc = jw_finish(&w);
	/* no force: when runs race GitLab lets one create the branch and
	 * answers the others 400 "already exists", which is as good */
	if (rc == 0)
		rc = gitlab_callf(c->gl, NULL, "POST", body.data,
		    "%s/repository/commits", c->tgt);
	if (rc < 0 && c->gl->status == 400) {
		log_info("%s exists already: reusing it", br);
		rc = 0;
	}
	if (rc < 0)
		err_prefix(rc, "cannot commit %.12s to %s: ", sha, br);
	buf_reset(&body);
	buf_reset(&text);
	buf_printf(&text,
	    "relay bisects the %s regression of !%lld: this draft pins "
	    "`%s`. It is never merged; relay closes it when its round is "
	    "decided.\n\n<!-- relay:bisect-draft mr=%lld sha=%s -->\n",
	    c->component, c->mr.iid, sha, c->mr.iid, sha);
	jw_init(&w, &body);
	jw_obj(&w);
	jw_kstr(&w, "source_branch", br);
	jw_kstr(&w, "target_branch", c->mr.target_branch);
	{
		struct buf title;

		buf_init(&title, 0);
		buf_printf(
		    &title, "Draft: Bisect %s at %.12s", c->component, sha);
		jw_kstr(&w, "title", title.data);
		buf_free(&title);
	}
	jw_kstr(&w, "description", text.data);
	jw_kstr(&w, "labels", LABEL);
	jw_kbool(&w, "remove_source_branch", 1);
	jw_end(&w);
	if (rc == 0)
		rc = jw_finish(&w);
	if (rc == 0) {
		rc = gitlab_callf(
		    c->gl, &d, "POST", body.data, "%s/merge_requests", c->tgt);
		if (rc == 0)
			log_info("opened draft !%lld pinning %.12s",
			    json_intp(json_root(d), "iid", 0), sha);
		else if (rc == E_CONFLICT) {
			log_info("a draft for %.12s exists already", sha);
			rc = 0;
		} else
			err_prefix(
			    rc, "cannot open the draft for %.12s: ", sha);
	}
	json_free(d);
	buf_free(&body);
	buf_free(&text);
	return rc;
}

static int
draft_close(struct ctx *c, int i)
{
	char br[128];
	char *esc;
	long long iid;
	int open, rc = draft_find(c, i, &iid, &open);

	if (rc < 0)
		return rc;
	if (c->job->dry_run) {
		log_info("dry run: would close draft !%lld", iid);
		return 0;
	}
	if (open)
		rc = gitlab_callf(c->gl, NULL, "PUT",
		    "{\"state_event\":\"close\"}", "%s/merge_requests/%lld",
		    c->tgt, iid);
	if (rc < 0)
		return err_prefix(rc, "cannot close draft !%lld: ", iid);
	branch(c, br, sizeof(br), i);
	esc = url_escape(br);
	if (!esc)
		return err_set(E_NOMEM, "out of memory");
	rc = gitlab_callf(c->gl, NULL, "DELETE", NULL,
	    "%s/repository/branches/%s", c->tgt, esc);
	free(esc);
	if (rc == E_NOTFOUND)
		rc = 0;
	if (rc < 0)
		return err_prefix(rc, "cannot delete %s: ", br);
	log_info("closed draft !%lld (%.12s)", iid, c->b.sha[i]);
	return 0;
}

/* same_jobs: the draft's failed jobs are exactly the bump MR's */
static int
same_jobs(const char *a, const char *b)
{
	struct buf e;
	const char *p;
	int same = 1, pass;

	buf_init(&e, 0);
	for (pass = 0; pass < 2 && same; pass++) {
		p = pass ? b : a;
		while (same && joblist_next(&e, &p))
			if (e.data[0] != '+' &&
			    !joblist_has(pass ? a : b, e.data))
				same = 0;
	}
	buf_free(&e);
	return same;
}

enum { R_RUNNING, R_GOOD, R_BAD, R_OTHER, R_SKIP };

/* draft_result: what point i's draft says; opens it when missing */
static int
draft_result(struct ctx *c, int i, int *res)
{
	struct mr d = { 0 };
	struct mr_pipeline pl = { 0 };
	const char *out;
	long long iid;
	int open, rc;

	*res = R_RUNNING;
	rc = draft_find(c, i, &iid, &open);
	if (rc == 0 && iid == 0)
		return draft_open(c, i);
	if (rc == 0)
		rc = mr_read(&d, c->gl, c->tgt, iid);
	if (rc == 0)
		rc = mr_pipeline_for_head(&pl, &d, c->gl);
	if (rc == 0 && !open) {
		*res = R_SKIP; /* closed before it had a pipeline */
		goto out;
	}
	if (rc <= 0)
		goto out;
	rc = 0;
	out = pipeline_outcome(pl.status);
	if ((!out || strcmp(out, "running") == 0) && !open) {
		/* closed by a person before its pipeline finished */
		log_info("draft !%lld (%.12s) closed unfinished: skipped", iid,
		    c->b.sha[i]);
		*res = R_SKIP;
		goto out;
	}
	if (!out || strcmp(out, "running") == 0)
		goto out;
	if (strcmp(out, "success") == 0) {
		*res = R_GOOD;
	} else if (strcmp(out, "failed") == 0) {
		struct buf jobs;

		buf_init(&jobs, 0);
		rc = pipeline_failed_jobs(&jobs, c->gl, c->tgt, pl.id);
		if (rc == 0)
			*res = same_jobs(jobs.data ? jobs.data : "", c->b.jobs)
			    ? R_BAD
			    : R_OTHER;
		if (rc == 0)
			log_info("draft !%lld (%.12s): failed: %s", iid,
			    c->b.sha[i], jobs.len ? jobs.data : "(none)");
		buf_free(&jobs);
	} else {
		*res = R_OTHER;
	}
	if (rc == 0 && *res == R_OTHER && c->b.mark[i] != BISECT_RETRIED &&
	    open) {
		/* a different failure: retry once, then skip the point */
		if (c->job->dry_run)
			log_info("dry run: would retry pipeline %lld", pl.id);
		else
			rc = gitlab_callf(c->gl, NULL, "POST", NULL,
			    "%s/pipelines/%lld/retry", c->tgt, pl.id);
		if (rc < 0)
			err_prefix(rc, "cannot retry pipeline %lld: ", pl.id);
		else {
			log_info(
			    "draft !%lld (%.12s): another failure, retried once",
			    iid, c->b.sha[i]);
			c->b.mark[i] = BISECT_RETRIED;
			rc = save(c);
		}
		*res = R_RUNNING;
	}
out:
	mr_free(&d);
	return rc;
}

/* ---- rounds ---- */

/* next_round: choose the next round's green points, record, open */
static int
next_round(struct ctx *c)
{
	int pts[BISECT_MAX_POINTS], np, j, rc, changed;
	long max = job_long(c->job, "RELAY_BISECT_MAX_DRAFTS");

	do {
		changed = 0;
		np = bisect_points(&c->b, pts, (int)max);
		for (j = 0; j < np && !changed; j++) {
			rc = green(c, c->b.sha[pts[j]]);
			if (rc < 0)
				return rc;
			if (rc == 0) {
				log_info("%.12s has no green pipeline: skipped",
				    c->b.sha[pts[j]]);
				c->b.mark[pts[j]] = BISECT_SKIP;
				changed = 1;
			}
		}
	} while (changed);
	if (np == 0)
		return 0;
	c->b.round++;
	c->b.npoints = np;
	memcpy(c->b.points, pts, sizeof(pts[0]) * (size_t)np);
	/* recorded before the drafts: a run that dies between finds the
	 * points and opens what is missing */
	rc = save(c);
	/* the points of the state in use (a racing run's may win in save) */
	for (j = 0; rc == 0 && j < c->b.npoints; j++)
		rc = draft_open(c, c->b.points[j]);
	return rc;
}

/* round: read the running round; decide it when every draft finished */
static int
round_step(struct ctx *c, int *decided)
{
	int res[BISECT_MAX_POINTS] = { 0 }, j, rc = 0, running = 0;

	*decided = 0;
	for (j = 0; rc == 0 && j < c->b.npoints; j++) {
		rc = draft_result(c, c->b.points[j], &res[j]);
		if (res[j] == R_RUNNING)
			running++;
	}
	if (rc < 0 || running) {
		if (rc == 0)
			log_info("round %d: %d of %d drafts still running",
			    c->b.round, running, c->b.npoints);
		return rc;
	}
	for (j = 0; j < c->b.npoints; j++) {
		int i = c->b.points[j];

		c->b.mark[i] = res[j] == R_GOOD ? BISECT_GOOD
		    : res[j] == R_BAD           ? BISECT_BAD
						: BISECT_SKIP;
	}
	for (j = 0; rc == 0 && j < c->b.npoints; j++)
		rc = draft_close(c, c->b.points[j]);
	if (rc < 0)
		return rc;
	log_info("round %d decided: %s", c->b.round, c->b.mark);
	c->b.npoints = 0;
	*decided = 1;
	return 0;
}

static int
abort_all(struct ctx *c)
{
	int j, rc = 0;

	for (j = 0; rc == 0 && j < c->b.npoints; j++)
		rc = draft_close(c, c->b.points[j]);
	if (rc < 0)
		return rc;
	c->b.npoints = 0;
	snprintf(c->b.status, sizeof(c->b.status), "aborted");
	log_info("!%lld is %s: bisection ended, drafts closed", c->mr.iid,
	    c->mr.state);
	return save(c);
}

/* sweep: open drafts of bump MRs that were closed or merged since (the
 * chain moved on to another bump MR, or none) are closed, their
 * branches deleted: a bisection leaves nothing behind */
static int
sweep(struct ctx *c)
{
	struct json *d = NULL, *m = NULL;
	struct json_iter it;
	struct jv e;
	int rc;

	rc = gitlab_getf(c->gl, &d,
	    "%s/merge_requests?labels=relay%%3A%%3Abisect&state=opened"
	    "&per_page=100",
	    c->tgt);
	if (rc < 0)
		return err_prefix(rc, "cannot list the bisect drafts: ");
	json_iter_init(&it, json_root(d));
	while (rc == 0 && json_iter_next(&it, &e, NULL)) {
		const char *desc = json_strp(e, "description");
		const char *br = json_strp(e, "source_branch");
		const char *t =
		    desc ? strstr(desc, "relay:bisect-draft mr=") : NULL;
		long long bump, iid = json_intp(e, "iid", 0);
		const char *st;
		char *esc;

		if (!t || !br || json_intp(e, "author.id", -1) != c->me)
			continue;
		bump = strtoll(t + strlen("relay:bisect-draft mr="), NULL, 10);
		if (bump <= 0 || bump == c->mr.iid)
			continue;
		json_free(m);
		m = NULL;
		rc = gitlab_getf(
		    c->gl, &m, "%s/merge_requests/%lld", c->tgt, bump);
		if (rc < 0) {
			err_prefix(rc, "cannot read !%lld: ", bump);
			break;
		}
		st = json_strp(json_root(m), "state");
		if (!st || strcmp(st, "opened") == 0)
			continue;
		if (c->job->dry_run) {
			log_info("dry run: would close draft !%lld of %s !%lld",
			    iid, st, bump);
			continue;
		}
		esc = url_escape(br);
		rc = esc ? gitlab_callf(c->gl, NULL, "DELETE", NULL,
			       "%s/repository/branches/%s", c->tgt, esc)
			 : err_set(E_NOMEM, "out of memory");
		free(esc);
		if (rc == E_NOTFOUND)
			rc = 0;
		/* the branch first: a run that dies between finds the draft
		 * still open and finishes */
		if (rc < 0) {
			err_prefix(rc, "cannot delete %s: ", br);
			break;
		}
		rc = gitlab_callf(c->gl, NULL, "PUT",
		    "{\"state_event\":\"close\"}", "%s/merge_requests/%lld",
		    c->tgt, iid);
		if (rc < 0)
			err_prefix(rc, "cannot close draft !%lld: ", iid);
		else
			log_info("closed draft !%lld: its bump MR !%lld is %s",
			    iid, bump, st);
	}
	json_free(m);
	json_free(d);
	return rc;
}

/* ---- the verdict ---- */

/* mr_ref_ok: "group/project!12" and nothing that could be markup */
static int
mr_ref_ok(const char *ref)
{
	const char *bang = strchr(ref, '!');
	size_t n = strspn(ref,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	    "_./-");

	return bang && ref + n == bang && n > 0 && bang[1] &&
	    strspn(bang + 1, "0123456789") == strlen(bang + 1);
}

/* mr_author: the author's name of source MR project!iid, read from the
 * MRs holding its merged head (side, the merge commit's second parent:
 * GitLab's commit merge_requests never counts the merge commit); *out
 * stays NULL when no such MR is listed or GitLab answers 404 (the merge
 * commit's author is shown then) */
static int
mr_author(struct ctx *c, char **out, const char *project, long long iid,
    const char *side)
{
	struct json *d = NULL;
	struct json_iter it;
	struct jv e;
	char *pp;
	int rc;

	*out = NULL;
	if (!side || !is_sha(side))
		return 0;
	pp = gitlab_project_path(project);
	if (!pp)
		return err_set(E_NOMEM, "out of memory");
	rc = gitlab_getf(c->gl, &d,
	    "%s/repository/commits/%s/merge_requests?per_page=100", pp, side);
	free(pp);
	if (rc < 0 && c->gl->status == 404) {
		/* the MR's project is not readable to relay, or does not
		 * hold the commit: the merge commit's author is named */
		log_warn(
		    "%s: merge requests of %.12s not found: naming the merge commit's author",
		    project, side);
		return 0;
	}
	if (rc < 0)
		return err_prefix(
		    rc, "cannot read the merge requests of %.12s: ", side);
	json_iter_init(&it, json_root(d));
	while (!*out && json_iter_next(&it, &e, NULL)) {
		const char *name = json_strp(e, "author.name");

		if (json_intp(e, "iid", 0) == iid && name) {
			*out = str_ndup(name, strlen(name));
			if (!*out)
				rc = err_set(E_NOMEM, "out of memory");
		}
	}
	json_free(d);
	return rc;
}

static int
culprit(struct ctx *c, struct buf *text, struct buf *slack)
{
	struct json *d = NULL, *p = NULL;
	const char *msg, *author, *web, *pw;
	char base[512] = "";
	char *m = NULL;
	int rc;

	rc = gitlab_getf(
	    c->gl, &d, "%s/repository/commits/%s", c->src, c->suspect_sha);
	if (rc == 0)
		rc = gitlab_call(c->gl, &p, "GET", c->src, NULL);
	if (rc < 0) {
		err_prefix(rc, "cannot read commit %.12s: ", c->suspect_sha);
		goto out;
	}
	msg = json_strp(json_root(d), "message");
	author = json_strp(json_root(d), "author_name");
	web = json_strp(json_root(d), "web_url");
	pw = json_strp(json_root(p), "web_url");
	if (pw && json_strp(json_root(p), "path_with_namespace")) {
		size_t n = strlen(pw),
		       k = strlen(
			   json_strp(json_root(p), "path_with_namespace"));

		if (n > k && n - k < sizeof(base))
			snprintf(base, sizeof(base), "%.*s", (int)(n - k), pw);
	}
	if (msg && range_mr_ref(c->suspect_mr, sizeof(c->suspect_mr), msg) &&
	    mr_ref_ok(c->suspect_mr)) {
		const char *t = strstr(msg, "\n\n");
		int n = t ? (int)strcspn(t + 2, "\n") : 0;
		char path[256];
		char *bang = strchr(c->suspect_mr, '!');

		snprintf(path, sizeof(path), "%.*s",
		    (int)(bang - c->suspect_mr), c->suspect_mr);
		rc = mr_author(c, &m, path, atoll(bang + 1),
		    json_strp(json_root(d), "parent_ids.1"));
		if (rc < 0)
			goto out;
		if (m)
			author = m;
		buf_printf(text, "%s ", c->suspect_mr);
		{
			char *title = str_ndup(n > 0 ? t + 2 : "", (size_t)n);

			notes_escape(text, title ? title : "");
			free(title);
		}
		buf_puts(text, " by ");
		notes_escape(text, author ? author : "?");
		buf_printf(
		    text, ": %s%s/-/merge_requests/%s", base, path, bang + 1);
		buf_printf(slack, "%s ", c->suspect_mr);
		{
			char *title = str_ndup(n > 0 ? t + 2 : "", (size_t)n);

			slack_escape(slack, title ? title : "");
			free(title);
		}
		buf_puts(slack, " by ");
		slack_escape(slack, author ? author : "?");
		buf_printf(
		    slack, " <%s%s/-/merge_requests/%s>", base, path, bang + 1);
	} else {
		/* a commit pushed without a merge request */
		c->suspect_mr[0] = '\0';
		buf_printf(text, "`%.12s` by ", c->suspect_sha);
		notes_escape(text, author ? author : "?");
		buf_printf(text, ": %s", web ? web : "");
		buf_printf(slack, "%.12s by ", c->suspect_sha);
		slack_escape(slack, author ? author : "?");
	}
	rc = buf_error(text) ? buf_error(text) : buf_error(slack);
out:
	json_free(d);
	json_free(p);
	free(m);
	return rc;
}

struct post {
	struct ctx *c;
	const char *hook;
	const char *text;
};

static int
post_slack(void *arg)
{
	struct post *p = arg;
	int rc = slack_post(p->c->job->http, p->hook, p->text);

	if (rc == 0)
		log_info("posted the verdict of !%lld to Slack", p->c->mr.iid);
	return rc;
}

/* verdict: one note on the bump MR and one Slack message, at most once
 * across runs (record.c: the note is written pending before the post) */
static int
verdict(struct ctx *c, int found)
{
	struct buf text, slack, note;
	struct post p = { c, job_var(c->job, "RELAY_SLACK_FAILURES_URL"),
		NULL };
	struct record_op op;
	int lo, hi, rc = 0, result = 0;

	bisect_bounds(&c->b, &lo, &hi);
	bounds_text(c);
	buf_init(&text, 0);
	buf_init(&slack, 0);
	buf_init(&note, 0);
	if (found) {
		snprintf(
		    c->suspect_sha, sizeof(c->suspect_sha), "%s", c->b.sha[hi]);
		rc = culprit(c, &text, &slack);
		if (rc < 0)
			goto out;
		buf_printf(&note,
		    "**Bisection of the %s regression** (relay, %d rounds): "
		    "the first bad change is %s (`%s`).",
		    c->component, c->b.round, text.data, c->suspect_sha);
	} else
		buf_printf(&note,
		    "**Bisection of the %s regression is inconclusive** "
		    "(relay, %d rounds): flaky or skipped points (commits "
		    "without a green pipeline) leave the first bad change "
		    "among `%s`.",
		    c->component, c->b.round, c->range);
	buf_reset(&text);
	buf_puts(&text, ":mag: ");
	slack_escape(&text, c->component);
	buf_printf(&text, " regression bisected (<%s|!%lld>): ", c->mr.web_url,
	    c->mr.iid);
	if (found)
		buf_printf(&text, "first bad change %s", slack.data);
	else
		buf_printf(&text,
		    "inconclusive, the first bad change is among %s", c->range);
	rc = buf_error(&text) ? buf_error(&text) : buf_error(&note);
	if (rc < 0)
		goto out;
	p.text = text.data;
	memset(&op, 0, sizeof(op));
	op.noteable = c->mr.path;
	op.marker = "relay:bisect-verdict";
	op.text = note.data;
	op.act = p.hook ? post_slack : NULL;
	op.arg = &p;
	op.dry_run = c->job->dry_run;
	rc = record_once(&result, c->gl, &op);
	if (rc < 0)
		err_prefix(rc, "cannot give the verdict on !%lld: ", c->mr.iid);
	else if (result == RECORD_ACTED)
		log_info("verdict noted on !%lld%s", c->mr.iid,
		    p.hook ? " and posted to Slack" : "");
	else if (result == RECORD_DRY)
		log_info("dry run: would note the verdict on !%lld", c->mr.iid);
out:
	buf_free(&text);
	buf_free(&slack);
	buf_free(&note);
	return rc;
}

/* ---- the revert, offered ---- */

/* revert: a draft MR in the canonical project reverting the culprit,
 * on branch release-tools/revert-<component>-<short sha> made from its
 * default branch. Each step is found before it is done (the MR, the
 * revert commit on the branch, the branch), so re-runs and lost answers
 * never make a second one. A person decides; relay never merges it. */
static int
revert(struct ctx *c)
{
	const char *proj_name = job_var(c->job, "RELAY_REVERT_PROJECT");
	char *proj = gitlab_project_path(proj_name);
	char *def = NULL, *esc = NULL;
	char br[128];
	struct json *d = NULL;
	struct json_iter it;
	struct jv e;
	struct buf body, text;
	struct jw w;
	const char *head_title;
	int rc;

	buf_init(&body, 0);
	buf_init(&text, 0);
	snprintf(br, sizeof(br), "release-tools/revert-%s-%.8s", c->slug,
	    c->suspect_sha);
	esc = url_escape(br);
	rc = proj && esc ? 0 : err_set(E_NOMEM, "out of memory");
	if (rc == 0)
		rc = gitlab_project_read(
		    &def, NULL, c->gl, proj, "RELAY_REVERT_PROJECT", NULL);
	/* the MR, if a run opened it already */
	if (rc == 0)
		rc = gitlab_getf(c->gl, &d,
		    "%s/merge_requests?source_branch=%s&state=all"
		    "&per_page=100",
		    proj, esc);
	if (rc < 0)
		goto out;
	json_iter_init(&it, json_root(d));
	while (json_iter_next(&it, &e, NULL))
		if (json_intp(e, "author.id", -1) == c->me) {
			const char *url = json_strp(e, "web_url");

			log_info("the revert MR exists: %s", url ? url : "");
			if (url)
				rc = job_out(c->job, "REVERT_MR_URL", url);
			goto out;
		}
	json_free(d);
	d = NULL;
	if (c->job->dry_run) {
		log_info("dry run: would offer a revert of %.12s in %s",
		    c->suspect_sha, proj_name);
		goto out;
	}
	/* the branch, from the default branch */
	rc = gitlab_getf(c->gl, &d, "%s/repository/branches/%s", proj, esc);
	if (rc == E_NOTFOUND) {
		jw_init(&w, &body);
		jw_obj(&w);
		jw_kstr(&w, "branch", br);
		jw_kstr(&w, "ref", def);
		jw_end(&w);
		rc = jw_finish(&w);
		if (rc == 0)
			rc = gitlab_callf(c->gl, &d, "POST", body.data,
			    "%s/repository/branches", proj);
		if (rc < 0 && c->gl->status == 400) /* a racing run made it */
			rc = gitlab_getf(
			    c->gl, &d, "%s/repository/branches/%s", proj, esc);
	}
	if (rc < 0) {
		err_prefix(rc, "cannot make branch %s in %s: ", br, proj_name);
		goto out;
	}
	/* the revert commit, unless the branch holds it already */
	head_title = json_strp(json_root(d), "commit.title");
	if (!head_title || strncmp(head_title, "Revert \"", 8) != 0) {
		buf_reset(&body);
		jw_init(&w, &body);
		jw_obj(&w);
		jw_kstr(&w, "branch", br);
		jw_end(&w);
		rc = jw_finish(&w);
		if (rc == 0)
			rc = gitlab_callf(c->gl, NULL, "POST", body.data,
			    "%s/repository/commits/%s/revert", proj,
			    c->suspect_sha);
		if (rc < 0 && c->gl->status == 400) {
			/* GitLab cannot revert it (a conflict, or reverted
			 * already): a person's call, said once a run */
			log_warn(
			    "GitLab cannot revert %.12s in %s automatically: no revert MR",
			    c->suspect_sha, proj_name);
			rc = 0;
			goto out;
		}
		if (rc < 0) {
			err_prefix(rc,
			    "cannot revert %.12s in %s: ", c->suspect_sha,
			    proj_name);
			goto out;
		}
	}
	/* the draft MR, linking the evidence */
	buf_reset(&body);
	buf_printf(&text, "relay's bisection of the %s regression names `%s`",
	    c->component, c->suspect_sha);
	if (c->suspect_mr[0])
		buf_printf(&text, " (%s)", c->suspect_mr);
	buf_printf(&text,
	    " as the first bad change: the bump MR %s and its verdict note "
	    "hold the evidence (the draft pipelines before and after it). "
	    "relay never merges this MR: a person decides.\n\n"
	    "<!-- relay:revert sha=%s -->\n",
	    c->mr.web_url ? c->mr.web_url : "", c->suspect_sha);
	jw_init(&w, &body);
	jw_obj(&w);
	jw_kstr(&w, "source_branch", br);
	jw_kstr(&w, "target_branch", def);
	{
		struct buf title;

		buf_init(&title, 0);
		buf_printf(&title, "Draft: Revert %.12s (%s regression)",
		    c->suspect_sha, c->component);
		jw_kstr(&w, "title", title.data);
		buf_free(&title);
	}
	jw_kstr(&w, "description", text.data);
	jw_kbool(&w, "remove_source_branch", 1);
	jw_end(&w);
	rc = jw_finish(&w);
	json_free(d);
	d = NULL;
	if (rc == 0)
		rc = gitlab_callf(
		    c->gl, &d, "POST", body.data, "%s/merge_requests", proj);
	if (rc == E_CONFLICT) {
		log_info("a racing run opened the revert MR");
		rc = 0;
	} else if (rc < 0)
		err_prefix(rc, "cannot open the revert MR in %s: ", proj_name);
	else {
		const char *url = json_strp(json_root(d), "web_url");

		log_info("offered the revert of %.12s: %s", c->suspect_sha,
		    url ? url : "");
		if (url)
			rc = job_out(c->job, "REVERT_MR_URL", url);
	}
out:
	json_free(d);
	buf_free(&body);
	buf_free(&text);
	free(proj);
	free(def);
	free(esc);
	return rc;
}

/* ---- the run ---- */

static int
start(struct ctx *c)
{
	const char *file = job_var(c->job, "RELAY_VERSION_FILE");
	const char *jobs = job_var(c->job, "FAILED_JOBS");
	char *old = NULL, *new = NULL;
	char(*shas)[41] = NULL;
	struct gitlab_pager pg;
	struct json *page = NULL;
	size_t n = 0, i;
	int rc, done = 0;

	if (!jobs || !*jobs || joblist_truncated(jobs)) {
		log_info(
		    "FAILED_JOBS is empty or cut: nothing to compare drafts with, no bisection");
		return 0;
	}
	rc = gitlab_file(c->gl, &old, c->tgt, file, c->mr.target_branch);
	if (rc == 0)
		rc = gitlab_file(c->gl, &new, c->tgt, file, c->mr.sha);
	if (rc < 0) {
		err_prefix(rc, "cannot read the pinned versions: ");
		goto out;
	}
	str_trim(old);
	str_trim(new);
	if (!is_sha(old) || !is_sha(new)) {
		log_info("%s does not hold SHAs: no bisection", file);
		goto out;
	}
	shas = calloc(BISECT_MAX, sizeof(*shas));
	if (!shas) {
		rc = err_set(E_NOMEM, "out of memory");
		goto out;
	}
	{
		struct buf path;

		buf_init(&path, 0);
		rc = buf_printf(&path,
		    "%s/repository/commits?ref_name=%s&first_parent=true"
		    "&per_page=100",
		    c->src, new);
		if (rc == 0)
			rc = gitlab_pager_init(
			    &pg, c->gl, path.data, BISECT_MAX / 100 + 1);
		buf_free(&path);
	}
	if (rc < 0)
		goto out;
	while (!done && (rc = gitlab_pager_next(&pg, &page)) > 0) {
		struct json_iter it;
		struct jv e;

		json_iter_init(&it, json_root(page));
		while (!done && json_iter_next(&it, &e, NULL)) {
			const char *sha = json_strp(e, "id");

			if (!sha || strcmp(sha, old) == 0)
				done = 1;
			else if (n < BISECT_MAX && is_sha(sha))
				sha_lower(shas[n++], sha);
			else
				break;
		}
		json_free(page);
		page = NULL;
		if (n >= BISECT_MAX)
			break;
	}
	gitlab_pager_free(&pg);
	if (rc < 0) {
		err_prefix(rc, "cannot list the changes: ");
		goto out;
	}
	rc = 0;
	if (!done || n == 0) {
		log_info(
		    "the range %.12s..%.12s is not a first-parent range of at most %d changes: no bisection",
		    old, new, BISECT_MAX);
		goto out;
	}
	/* oldest first */
	for (i = 0; i < n / 2; i++) {
		char t[41];

		memcpy(t, shas[i], 41);
		memcpy(shas[i], shas[n - 1 - i], 41);
		memcpy(shas[n - 1 - i], t, 41);
	}
	rc = bisect_init(&c->b, (const char(*)[41])shas, n,
	    (int)job_long(c->job, "RELAY_BISECT_WAYS"), jobs);
	if (rc == 0) {
		c->have = 1;
		log_info("bisecting %zu changes %.12s..%.12s", n, old, new);
	}
out:
	free(old);
	free(new);
	free(shas);
	return rc;
}

static int
run(struct ctx *c)
{
	int rc, decided = 0, st;
	const char *triage = job_var(c->job, "TRIAGE");

	rc = record_self(&c->me, c->gl);
	if (rc == 0 && job_long(c->job, "MR_IID") == 0) {
		log_info(
		    "MR_ACTION=none and no MR_IID: no bump MR, nothing to do but close drafts left behind");
		return sweep(c);
	}
	if (rc == 0)
		rc = mr_read(&c->mr, c->gl, c->tgt, job_long(c->job, "MR_IID"));
	if (rc == 0)
		rc = sweep(c);
	if (rc == 0)
		rc = records(c);
	if (rc < 0)
		return rc;
	if (!c->have) {
		if (!triage || strcmp(triage, "regression") != 0 ||
		    strcmp(c->mr.state, "opened") != 0) {
			log_info("!%lld: no regression to bisect", c->mr.iid);
			return 0;
		}
		rc = start(c);
		if (rc < 0 || !c->have)
			return rc;
	}
	if (strcmp(c->b.status, "running") == 0 &&
	    strcmp(c->mr.state, "opened") != 0) {
		c->result = "aborted";
		return abort_all(c);
	}
	if (strcmp(c->b.status, "aborted") == 0) {
		c->result = "aborted";
		return 0;
	}
	if (strcmp(c->b.status, "running") == 0 && c->b.npoints) {
		rc = round_step(c, &decided);
		if (rc < 0)
			return rc;
		if (!decided) {
			c->result = "running";
			bounds_text(c);
			return 0;
		}
	}
	st = bisect_state(&c->b);
	if (strcmp(c->b.status, "running") == 0 && st == BISECT_OPEN &&
	    c->b.round >= job_long(c->job, "RELAY_BISECT_MAX_ROUNDS")) {
		log_info("RELAY_BISECT_MAX_ROUNDS (%ld) reached",
		    job_long(c->job, "RELAY_BISECT_MAX_ROUNDS"));
		st = BISECT_INCONCLUSIVE;
	}
	if (strcmp(c->b.status, "running") == 0 && st == BISECT_OPEN) {
		rc = next_round(c);
		if (rc == 0 && c->b.npoints == 0)
			st = BISECT_INCONCLUSIVE;
		else {
			c->result = "running";
			bounds_text(c);
			return rc;
		}
	}
	if (strcmp(c->b.status, "found") == 0)
		st = BISECT_FOUND;
	else if (strcmp(c->b.status, "inconclusive") == 0)
		st = BISECT_INCONCLUSIVE;
	c->result = st == BISECT_FOUND ? "found" : "inconclusive";
	if (strcmp(c->b.status, "running") == 0 || decided) {
		snprintf(c->b.status, sizeof(c->b.status), "%s", c->result);
		rc = save(c);
		if (rc < 0)
			return rc;
	}
	rc = verdict(c, st == BISECT_FOUND);
	if (rc == 0 && st == BISECT_FOUND &&
	    job_bool(c->job, "RELAY_OFFER_REVERT"))
		rc = revert(c);
	return rc;
}

static int
cmd_bisect(struct job *job)
{
	struct ctx c;
	const char *comp;
	size_t i, k = 0;
	int rc = 0;

	memset(&c, 0, sizeof(c));
	c.job = job;
	c.gl = job->gl;
	c.result = "none";
	comp = job_var(job, "RELAY_COMPONENT");
	c.component = comp;
	for (i = 0; comp[i] && k + 1 < sizeof(c.slug); i++) {
		unsigned char ch = (unsigned char)comp[i];

		c.slug[k++] = isalnum(ch) ? (char)tolower(ch) : '-';
	}
	if (!job_bool(job, "RELAY_BISECT")) {
		log_info("RELAY_BISECT is off: nothing to do");
		c.result = "off";
	} else {
		c.tgt =
		    gitlab_project_path(job_var(job, "RELAY_TARGET_PROJECT"));
		c.src =
		    gitlab_project_path(job_var(job, "RELAY_SOURCE_PROJECT"));
		rc = c.tgt && c.src ? run(&c)
				    : err_set(E_NOMEM, "out of memory");
	}
	if (rc == 0) {
		job_out(job, "BISECT", c.result);
		if (c.suspect_sha[0])
			job_out(job, "SUSPECT_SHA", c.suspect_sha);
		if (c.suspect_mr[0])
			job_out(job, "SUSPECT_MR", c.suspect_mr);
		if (c.range[0] && strcmp(c.result, "found") != 0)
			job_out(job, "BISECT_RANGE", c.range);
	}
	mr_free(&c.mr);
	bisect_free(&c.b);
	free(c.tgt);
	free(c.src);
	return rc;
}

JOB_STAGE(.name = "bisect",
    .synopsis = "Bisect a regression over green commits with draft MRs, "
		"one round per run, and name the first bad change.",
    .flags = JOB_API, .run = cmd_bisect, .connect = job_api)
