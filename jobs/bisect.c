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
#define DRAFT_TAG "relay:bisect-draft mr="

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

/* open_mr: a new MR from br into target in project proj, its source
 * branch removed on merge (labels may be NULL); *d its answer. 1 when one
 * exists already (409: a racing run opened it), 0 opened, or < 0. */
static int
open_mr(struct ctx *c, struct json **d, const char *proj, const char *br,
    const char *target, const struct buf *title, const struct buf *desc,
    const char *labels)
{
	struct buf body;
	struct jw w;
	int rc = buf_error(title) ? buf_error(title) : buf_error(desc);

	buf_init(&body, 0);
	jw_init(&w, &body);
	jw_obj(&w);
	jw_kstr(&w, "source_branch", br);
	jw_kstr(&w, "target_branch", target);
	jw_kstr(&w, "title", title->data ? title->data : "");
	jw_kstr(&w, "description", desc->data ? desc->data : "");
	if (labels)
		jw_kstr(&w, "labels", labels);
	jw_kbool(&w, "remove_source_branch", 1);
	jw_end(&w);
	if (rc == 0)
		rc = jw_finish(&w);
	if (rc == 0)
		rc = gitlab_callf(
		    c->gl, d, "POST", body.data, "%s/merge_requests", proj);
	buf_free(&body);
	return rc == E_CONFLICT ? 1 : rc;
}

/* close_mr: close MR iid of the target */
static int
close_mr(struct ctx *c, long long iid)
{
	int rc = gitlab_callf(c->gl, NULL, "PUT", "{\"state_event\":\"close\"}",
	    "%s/merge_requests/%lld", c->tgt, iid);

	return rc < 0 ? err_prefix(rc, "cannot close draft !%lld: ", iid) : 0;
}

/* drop_branch: delete branch br of the target; gone already is done */
static int
drop_branch(struct ctx *c, const char *br)
{
	char *esc = url_escape(br);
	int rc = esc ? gitlab_callf(c->gl, NULL, "DELETE", NULL,
			   "%s/repository/branches/%s", c->tgt, esc)
		     : err_set(E_NOMEM, "out of memory");

	free(esc);
	if (rc == E_NOTFOUND)
		rc = 0;
	return rc < 0 ? err_prefix(rc, "cannot delete %s: ", br) : 0;
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
	snprintf(tag, sizeof(tag), DRAFT_TAG "%lld ", c->mr.iid);
	esc = url_escape(br);
	if (!esc)
		return err_set(E_NOMEM, "out of memory");
	rc = gitlab_listf(c->gl, &d,
	    "%s/merge_requests?source_branch=%s&state=all&labels=%s"
	    "&per_page=100",
	    c->tgt, esc, "relay%3A%3Abisect");
	free(esc);
	if (rc < 0)
		return err_prefix(rc, "cannot list the drafts of %s: ", br);
	json_iter_init(&it, json_root(d));
	while (!*open && json_iter_next(&it, &e, NULL)) {
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
	}
	json_free(d);
	return 0;
}

/* draft_commit: the pin of sha committed on a new branch br from the bump
 * MR's target branch. No force: when runs race GitLab lets one create the
 * branch and answers the others 400 "already exists", which is as good. */
static int
draft_commit(struct ctx *c, const char *br, const char *sha)
{
	struct buf body, msg, pin;
	struct jw w;
	int rc;

	buf_init(&body, 0);
	buf_init(&msg, 0);
	buf_init(&pin, 0);
	buf_printf(&msg, "Bisect %s at %.12s", c->component, sha);
	buf_printf(&pin, "%s\n", sha);
	jw_init(&w, &body);
	jw_obj(&w);
	jw_kstr(&w, "branch", br);
	jw_kstr(&w, "start_branch", c->mr.target_branch);
	jw_kstr(&w, "commit_message", msg.data ? msg.data : "");
	jw_key(&w, "actions");
	jw_arr(&w);
	jw_obj(&w);
	jw_kstr(&w, "action", "update");
	jw_kstr(&w, "file_path", job_var(c->job, "RELAY_VERSION_FILE"));
	jw_kstr(&w, "content", pin.data ? pin.data : "");
	jw_end(&w);
	jw_end(&w);
	jw_end(&w);
	rc = buf_error(&msg) ? buf_error(&msg) : buf_error(&pin);
	if (rc == 0)
		rc = jw_finish(&w);
	if (rc == 0)
		rc = gitlab_callf(c->gl, NULL, "POST", body.data,
		    "%s/repository/commits", c->tgt);
	if (rc < 0 && c->gl->status == 400) {
		log_info("%s exists already: reusing it", br);
		rc = 0;
	}
	buf_free(&body);
	buf_free(&msg);
	buf_free(&pin);
	return rc < 0 ? err_prefix(rc, "cannot commit %.12s to %s: ", sha, br)
		      : 0;
}

/* draft_mr: the draft MR of branch br pinning sha, labelled LABEL, its
 * description naming the bump MR (draft_find); one exists already (409)
 * is as good */
static int
draft_mr(struct ctx *c, const char *br, const char *sha)
{
	struct buf title, desc;
	struct json *d = NULL;
	int rc;

	buf_init(&title, 0);
	buf_init(&desc, 0);
	buf_printf(&title, "Draft: Bisect %s at %.12s", c->component, sha);
	buf_printf(&desc,
	    "relay bisects the %s regression of !%lld: this draft pins "
	    "`%s`. It is never merged; relay closes it when its round is "
	    "decided.\n\n<!-- " DRAFT_TAG "%lld sha=%s -->\n",
	    c->component, c->mr.iid, sha, c->mr.iid, sha);
	rc = open_mr(
	    c, &d, c->tgt, br, c->mr.target_branch, &title, &desc, LABEL);
	if (rc == 1)
		log_info("a draft for %.12s exists already", sha);
	else if (rc == 0)
		log_info("opened draft !%lld pinning %.12s",
		    json_intp(json_root(d), "iid", 0), sha);
	else
		err_prefix(rc, "cannot open the draft for %.12s: ", sha);
	json_free(d);
	buf_free(&title);
	buf_free(&desc);
	return rc < 0 ? rc : 0;
}

static int
draft_open(struct ctx *c, int i)
{
	char br[128];
	const char *sha = c->b.sha[i];
	int rc;

	branch(c, br, sizeof(br), i);
	if (c->job->dry_run) {
		log_info("dry run: would open a draft MR pinning %.12s on %s",
		    sha, br);
		return 0;
	}
	rc = draft_commit(c, br, sha);
	return rc < 0 ? rc : draft_mr(c, br, sha);
}

static int
draft_close(struct ctx *c, int i)
{
	char br[128];
	long long iid;
	int open, rc = draft_find(c, i, &iid, &open);

	if (rc < 0)
		return rc;
	if (c->job->dry_run) {
		log_info("dry run: would close draft !%lld", iid);
		return 0;
	}
	if (open)
		rc = close_mr(c, iid);
	branch(c, br, sizeof(br), i);
	if (rc == 0)
		rc = drop_branch(c, br);
	if (rc == 0)
		log_info("closed draft !%lld (%.12s)", iid, c->b.sha[i]);
	return rc;
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

/* judge: what the finished pipeline pl (outcome out) of point i's draft
 * iid says: good, bad when exactly the bump MR's jobs failed, else other */
static int
judge(struct ctx *c, int i, long long iid, long long pl, const char *out,
    int *res)
{
	struct buf jobs;
	int rc;

	if (strcmp(out, "failed") != 0) {
		*res = strcmp(out, "success") == 0 ? R_GOOD : R_OTHER;
		return 0;
	}
	buf_init(&jobs, 0);
	rc = pipeline_failed_jobs(&jobs, c->gl, c->tgt, pl);
	if (rc == 0) {
		*res = same_jobs(jobs.data ? jobs.data : "", c->b.jobs)
		    ? R_BAD
		    : R_OTHER;
		log_info("draft !%lld (%.12s): failed: %s", iid, c->b.sha[i],
		    jobs.len ? jobs.data : "(none)");
	}
	buf_free(&jobs);
	return rc;
}

/* retry_once: a draft that failed otherwise is retried once (the next
 * time its point is skipped); it runs again */
static int
retry_once(struct ctx *c, int i, long long iid, long long pl, int *res)
{
	int rc = 0;

	*res = R_RUNNING;
	if (c->job->dry_run)
		log_info("dry run: would retry pipeline %lld", pl);
	else
		rc = gitlab_callf(c->gl, NULL, "POST", NULL,
		    "%s/pipelines/%lld/retry", c->tgt, pl);
	if (rc < 0)
		return err_prefix(rc, "cannot retry pipeline %lld: ", pl);
	log_info("draft !%lld (%.12s): another failure, retried once", iid,
	    c->b.sha[i]);
	c->b.mark[i] = BISECT_RETRIED;
	return save(c);
}

/* draft_result: what point i's draft says; opens it when missing */
static int
draft_result(struct ctx *c, int i, int *res)
{
	struct mr d = { 0 };
	struct mr_pipeline pl = { 0 };
	const char *out;
	long long iid;
	int open, rc, finished;

	*res = R_RUNNING;
	rc = draft_find(c, i, &iid, &open);
	if (rc == 0 && iid == 0)
		return draft_open(c, i);
	if (rc == 0)
		rc = mr_read(&d, c->gl, c->tgt, iid);
	if (rc == 0)
		rc = mr_pipeline_for_head(&pl, &d, c->gl);
	if (rc == 0 && !open)
		*res = R_SKIP; /* closed before it had a pipeline */
	if (rc <= 0) {
		mr_free(&d);
		return rc;
	}
	out = pipeline_outcome(pl.status);
	finished = out && strcmp(out, "running") != 0;
	if (!finished && !open) {
		/* closed by a person before its pipeline finished */
		log_info("draft !%lld (%.12s) closed unfinished: skipped", iid,
		    c->b.sha[i]);
		*res = R_SKIP;
	}
	rc = finished ? judge(c, i, iid, pl.id, out, res) : 0;
	/* a different failure: retry once, then skip the point */
	if (rc == 0 && *res == R_OTHER && open &&
	    c->b.mark[i] != BISECT_RETRIED)
		rc = retry_once(c, i, iid, pl.id, res);
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

/* sweep_draft: open draft e is closed, its branch deleted, when its bump
 * MR is closed or merged */
static int
sweep_draft(struct ctx *c, struct jv e)
{
	const char *desc = json_strp(e, "description");
	const char *br = json_strp(e, "source_branch");
	const char *t = desc ? strstr(desc, DRAFT_TAG) : NULL;
	long long bump, iid = json_intp(e, "iid", 0);
	struct json *m = NULL;
	const char *st;
	int rc;

	if (!t || !br || json_intp(e, "author.id", -1) != c->me)
		return 0;
	bump = strtoll(t + strlen(DRAFT_TAG), NULL, 10);
	if (bump <= 0 || bump == c->mr.iid)
		return 0;
	rc = gitlab_getf(c->gl, &m, "%s/merge_requests/%lld", c->tgt, bump);
	if (rc < 0)
		return err_prefix(rc, "cannot read !%lld: ", bump);
	st = json_strp(json_root(m), "state");
	if (!st || strcmp(st, "opened") == 0) {
		json_free(m);
		return 0;
	}
	if (c->job->dry_run) {
		log_info("dry run: would close draft !%lld of %s !%lld", iid,
		    st, bump);
	} else {
		/* the branch first: a run that dies between finds the draft
		 * still open and finishes */
		rc = drop_branch(c, br);
		if (rc == 0)
			rc = close_mr(c, iid);
		if (rc == 0)
			log_info("closed draft !%lld: its bump MR !%lld is %s",
			    iid, bump, st);
	}
	json_free(m);
	return rc;
}

/* sweep: open drafts of bump MRs that were closed or merged since (the
 * chain moved on to another bump MR, or none) are closed, their
 * branches deleted: a bisection leaves nothing behind */
static int
sweep(struct ctx *c)
{
	struct json *d = NULL;
	struct json_iter it;
	struct jv e;
	int rc = gitlab_listf(c->gl, &d,
	    "%s/merge_requests?labels=relay%%3A%%3Abisect&state=opened"
	    "&per_page=100",
	    c->tgt);

	if (rc < 0)
		return err_prefix(rc, "cannot list the bisect drafts: ");
	json_iter_init(&it, json_root(d));
	while (rc == 0 && json_iter_next(&it, &e, NULL))
		rc = sweep_draft(c, e);
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
	rc = gitlab_listf(c->gl, &d,
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

/* web_root: the web root of the source project ("https://gitlab.com/")
 * into base (n bytes): its web_url without its path; "" when unknown */
static int
web_root(struct ctx *c, char *base, size_t n)
{
	struct json *p = NULL;
	const char *url, *path;
	int rc = gitlab_getf(c->gl, &p, "%s", c->src);

	base[0] = '\0';
	if (rc < 0)
		return err_prefix(rc, "cannot read the source project: ");
	url = json_strp(json_root(p), "web_url");
	path = json_strp(json_root(p), "path_with_namespace");
	if (url && path && strlen(url) > strlen(path) &&
	    strlen(url) - strlen(path) < n)
		snprintf(
		    base, n, "%.*s", (int)(strlen(url) - strlen(path)), url);
	json_free(p);
	return 0;
}

/* mr_line: "group/project!12 Title by Author" with title and author
 * escaped by esc for where the line goes, then the link as fmt puts it */
static void
mr_line(struct buf *b, int (*esc)(struct buf *, const char *), const char *ref,
    const char *title, const char *author, const char *fmt, const char *url)
{
	buf_printf(b, "%s ", ref);
	esc(b, title);
	buf_puts(b, " by ");
	esc(b, author);
	buf_printf(b, fmt, url);
}

/* culprit_mr: the culprit merged as source MR c->suspect_mr: its title
 * (the merge commit's second paragraph), its author (mr_author, else the
 * merge commit's), its link, into text (markdown) and slack (mrkdwn) */
static int
culprit_mr(struct ctx *c, struct buf *text, struct buf *slack, const char *base,
    const char *msg, const char *author, const char *side)
{
	const char *t = strstr(msg, "\n\n");
	const char *bang = strchr(c->suspect_mr, '!');
	size_t n = t ? strcspn(t + 2, "\n") : 0;
	char path[256];
	char *m = NULL, *title;
	struct buf url;
	int rc;

	snprintf(path, sizeof(path), "%.*s", (int)(bang - c->suspect_mr),
	    c->suspect_mr);
	rc = mr_author(c, &m, path, atoll(bang + 1), side);
	if (rc < 0)
		return rc;
	if (m)
		author = m;
	if (!author)
		author = "?";
	title = str_ndup(n > 0 ? t + 2 : "", n);
	buf_init(&url, 0);
	buf_printf(&url, "%s%s/-/merge_requests/%s", base, path, bang + 1);
	rc = title ? buf_error(&url) : err_set(E_NOMEM, "out of memory");
	if (rc == 0) {
		mr_line(text, notes_escape, c->suspect_mr, title, author,
		    ": %s", url.data);
		mr_line(slack, slack_escape, c->suspect_mr, title, author,
		    " <%s>", url.data);
	}
	buf_free(&url);
	free(title);
	free(m);
	return rc;
}

/* culprit: the first bad change c->suspect_sha as its source MR when its
 * merge commit names one (c->suspect_mr), else as the commit */
static int
culprit(struct ctx *c, struct buf *text, struct buf *slack)
{
	struct json *d = NULL;
	const char *msg, *author;
	char base[512];
	int rc;

	rc = gitlab_getf(
	    c->gl, &d, "%s/repository/commits/%s", c->src, c->suspect_sha);
	if (rc < 0)
		return err_prefix(
		    rc, "cannot read commit %.12s: ", c->suspect_sha);
	rc = web_root(c, base, sizeof(base));
	msg = json_strp(json_root(d), "message");
	author = json_strp(json_root(d), "author_name");
	if (rc == 0 && msg &&
	    range_mr_ref(c->suspect_mr, sizeof(c->suspect_mr), msg) &&
	    mr_ref_ok(c->suspect_mr)) {
		rc = culprit_mr(c, text, slack, base, msg, author,
		    json_strp(json_root(d), "parent_ids.1"));
	} else if (rc == 0) {
		/* a commit pushed without a merge request */
		const char *web = json_strp(json_root(d), "web_url");

		c->suspect_mr[0] = '\0';
		buf_printf(text, "`%.12s` by ", c->suspect_sha);
		notes_escape(text, author ? author : "?");
		buf_printf(text, ": %s", web ? web : "");
		buf_printf(slack, "%.12s by ", c->suspect_sha);
		slack_escape(slack, author ? author : "?");
	}
	if (rc == 0)
		rc = buf_error(text) ? buf_error(text) : buf_error(slack);
	json_free(d);
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

/* verdict_text: the verdict as a note (markdown) and a Slack message */
static int
verdict_text(struct ctx *c, int found, struct buf *note, struct buf *msg)
{
	struct buf md, mrkdwn; /* the culprit, for each */
	int lo, hi, rc = 0;

	bisect_bounds(&c->b, &lo, &hi);
	bounds_text(c);
	buf_init(&md, 0);
	buf_init(&mrkdwn, 0);
	if (found) {
		snprintf(
		    c->suspect_sha, sizeof(c->suspect_sha), "%s", c->b.sha[hi]);
		rc = culprit(c, &md, &mrkdwn);
	}
	if (rc < 0) {
		buf_free(&md);
		buf_free(&mrkdwn);
		return rc;
	}
	if (found)
		buf_printf(note,
		    "**Bisection of the %s regression** (relay, %d rounds): "
		    "the first bad change is %s (`%s`).",
		    c->component, c->b.round, md.data, c->suspect_sha);
	else
		buf_printf(note,
		    "**Bisection of the %s regression is inconclusive** "
		    "(relay, %d rounds): flaky or skipped points (commits "
		    "without a green pipeline) leave the first bad change "
		    "among `%s`.",
		    c->component, c->b.round, c->range);
	buf_puts(msg, ":mag: ");
	slack_escape(msg, c->component);
	buf_printf(msg, " regression bisected (<%s|!%lld>): ", c->mr.web_url,
	    c->mr.iid);
	if (found)
		buf_printf(msg, "first bad change %s", mrkdwn.data);
	else
		buf_printf(msg,
		    "inconclusive, the first bad change is among %s", c->range);
	buf_free(&md);
	buf_free(&mrkdwn);
	return buf_error(msg) ? buf_error(msg) : buf_error(note);
}

/* verdict: one note on the bump MR and one Slack message, at most once
 * across runs (record.c: the note is written pending before the post) */
static int
verdict(struct ctx *c, int found)
{
	struct buf note, msg;
	struct post p = { c, job_var(c->job, "RELAY_SLACK_FAILURES_URL"),
		NULL };
	struct record_op op;
	int rc, result = 0;

	buf_init(&note, 0);
	buf_init(&msg, 0);
	rc = verdict_text(c, found, &note, &msg);
	if (rc == 0) {
		p.text = msg.data;
		memset(&op, 0, sizeof(op));
		op.noteable = c->mr.path;
		op.marker = "relay:bisect-verdict";
		op.text = note.data;
		op.act = p.hook ? post_slack : NULL;
		op.arg = &p;
		op.dry_run = c->job->dry_run;
		rc = record_once(&result, c->gl, &op);
		if (rc < 0)
			err_prefix(rc,
			    "cannot give the verdict on !%lld: ", c->mr.iid);
	}
	if (rc == 0 && result == RECORD_ACTED)
		log_info("verdict noted on !%lld%s", c->mr.iid,
		    p.hook ? " and posted to Slack" : "");
	else if (rc == 0 && result == RECORD_DRY)
		log_info("dry run: would note the verdict on !%lld", c->mr.iid);
	buf_free(&note);
	buf_free(&msg);
	return rc;
}

/* ---- the revert, offered ---- */

/* The revert's project and branch. */
struct offer {
	const char *name; /* RELAY_REVERT_PROJECT */
	char *proj; /* its API path */
	char *def; /* its default branch */
	char br[128];
	char *esc; /* br, escaped for a path */
};

/* branch_json: {"branch": br, "ref": ref} (ref may be NULL) into b */
static int
branch_json(struct buf *b, const char *br, const char *ref)
{
	return jw_strs(b, "branch", br, "ref", ref, (char *)NULL);
}

/* offer_found: *found when relay opened the revert MR already (its URL
 * is the output REVERT_MR_URL) */
static int
offer_found(struct ctx *c, struct offer *o, int *found)
{
	struct json *d = NULL;
	struct json_iter it;
	struct jv e;
	int rc = gitlab_listf(c->gl, &d,
	    "%s/merge_requests?source_branch=%s&state=all&per_page=100",
	    o->proj, o->esc);

	*found = 0;
	if (rc < 0)
		return rc;
	json_iter_init(&it, json_root(d));
	while (rc == 0 && !*found && json_iter_next(&it, &e, NULL)) {
		const char *url = json_strp(e, "web_url");

		if (json_intp(e, "author.id", -1) != c->me)
			continue;
		log_info("the revert MR exists: %s", url ? url : "");
		if (url)
			rc = job_out(c->job, "REVERT_MR_URL", url);
		*found = 1;
	}
	json_free(d);
	return rc;
}

/* offer_branch: the branch, made from the default branch unless it
 * exists; *reverted when its head is a revert commit already */
static int
offer_branch(struct ctx *c, struct offer *o, int *reverted)
{
	struct json *d = NULL;
	struct buf body;
	const char *head;
	int rc;

	*reverted = 0;
	buf_init(&body, 0);
	rc = gitlab_getf(
	    c->gl, &d, "%s/repository/branches/%s", o->proj, o->esc);
	if (rc == E_NOTFOUND) {
		rc = branch_json(&body, o->br, o->def);
		if (rc == 0)
			rc = gitlab_callf(c->gl, &d, "POST", body.data,
			    "%s/repository/branches", o->proj);
		if (rc < 0 && c->gl->status == 400) /* a racing run made it */
			rc = gitlab_getf(c->gl, &d, "%s/repository/branches/%s",
			    o->proj, o->esc);
	}
	head = rc == 0 ? json_strp(json_root(d), "commit.title") : NULL;
	*reverted = head && strncmp(head, "Revert \"", 8) == 0;
	json_free(d);
	buf_free(&body);
	return rc < 0
	    ? err_prefix(rc, "cannot make branch %s in %s: ", o->br, o->name)
	    : 0;
}

/* offer_commit: the revert of the culprit committed on the branch;
 * *refused when GitLab cannot revert it (a conflict, or reverted
 * already): a person's call, said once a run */
static int
offer_commit(struct ctx *c, struct offer *o, int *refused)
{
	struct buf body;
	int rc;

	*refused = 0;
	buf_init(&body, 0);
	rc = branch_json(&body, o->br, NULL);
	if (rc == 0)
		rc = gitlab_callf(c->gl, NULL, "POST", body.data,
		    "%s/repository/commits/%s/revert", o->proj, c->suspect_sha);
	buf_free(&body);
	if (rc < 0 && c->gl->status == 400) {
		log_warn(
		    "GitLab cannot revert %.12s in %s automatically: no revert MR",
		    c->suspect_sha, o->name);
		*refused = 1;
		return 0;
	}
	return rc < 0
	    ? err_prefix(
		  rc, "cannot revert %.12s in %s: ", c->suspect_sha, o->name)
	    : 0;
}

/* offer_mr: the draft revert MR, linking the evidence */
static int
offer_mr(struct ctx *c, struct offer *o)
{
	struct buf title, desc;
	struct json *d = NULL;
	int rc;

	buf_init(&title, 0);
	buf_init(&desc, 0);
	buf_printf(&title, "Draft: Revert %.12s (%s regression)",
	    c->suspect_sha, c->component);
	buf_printf(&desc, "relay's bisection of the %s regression names `%s`",
	    c->component, c->suspect_sha);
	if (c->suspect_mr[0])
		buf_printf(&desc, " (%s)", c->suspect_mr);
	buf_printf(&desc,
	    " as the first bad change: the bump MR %s and its verdict note "
	    "hold the evidence (the draft pipelines before and after it). "
	    "relay never merges this MR: a person decides.\n\n"
	    "<!-- relay:revert sha=%s -->\n",
	    c->mr.web_url ? c->mr.web_url : "", c->suspect_sha);
	rc = open_mr(c, &d, o->proj, o->br, o->def, &title, &desc, NULL);
	if (rc == 1)
		log_info("a racing run opened the revert MR");
	else if (rc < 0)
		err_prefix(rc, "cannot open the revert MR in %s: ", o->name);
	else {
		const char *url = json_strp(json_root(d), "web_url");

		log_info("offered the revert of %.12s: %s", c->suspect_sha,
		    url ? url : "");
		if (url)
			rc = job_out(c->job, "REVERT_MR_URL", url);
	}
	json_free(d);
	buf_free(&title);
	buf_free(&desc);
	return rc < 0 ? rc : 0;
}

/* revert: a draft MR in the canonical project reverting the culprit,
 * on branch release-tools/revert-<component>-<short sha> made from its
 * default branch. Each step is found before it is done (the MR, the
 * revert commit on the branch, the branch), so re-runs and lost answers
 * never make a second one. A person decides; relay never merges it. */
static int
revert(struct ctx *c)
{
	struct offer o = { job_var(c->job, "RELAY_REVERT_PROJECT"), NULL, NULL,
		"", NULL };
	int rc, done = 0, reverted = 0;

	snprintf(o.br, sizeof(o.br), "release-tools/revert-%s-%.8s", c->slug,
	    c->suspect_sha);
	o.proj = gitlab_project_path(o.name);
	o.esc = url_escape(o.br);
	rc = o.proj && o.esc ? 0 : err_set(E_NOMEM, "out of memory");
	if (rc == 0)
		rc = gitlab_project_read(
		    &o.def, NULL, c->gl, o.proj, "RELAY_REVERT_PROJECT", NULL);
	if (rc == 0)
		rc = offer_found(c, &o, &done);
	if (rc == 0 && !done && c->job->dry_run) {
		log_info("dry run: would offer a revert of %.12s in %s",
		    c->suspect_sha, o.name);
		done = 1;
	}
	if (rc == 0 && !done)
		rc = offer_branch(c, &o, &reverted);
	if (rc == 0 && !done && !reverted)
		rc = offer_commit(c, &o, &done);
	if (rc == 0 && !done)
		rc = offer_mr(c, &o);
	free(o.proj);
	free(o.def);
	free(o.esc);
	return rc;
}

/* ---- the run ---- */

/* pins: the SHAs pinned on the target branch (good) and by the bump MR
 * (bad) into old and new (41 bytes each); both "" when they are not SHAs */
static int
pins(struct ctx *c, char *old, char *new)
{
	const char *file = job_var(c->job, "RELAY_VERSION_FILE");
	char *a = NULL, *b = NULL;
	int rc;

	old[0] = new[0] = '\0';
	rc = gitlab_file(c->gl, &a, c->tgt, file, c->mr.target_branch);
	if (rc == 0)
		rc = gitlab_file(c->gl, &b, c->tgt, file, c->mr.sha);
	if (rc < 0)
		err_prefix(rc, "cannot read the pinned versions: ");
	else if (is_sha(str_trim(a)) && is_sha(str_trim(b))) {
		snprintf(old, 41, "%s", a);
		snprintf(new, 41, "%s", b);
	} else
		log_info("%s does not hold SHAs: no bisection", file);
	free(a);
	free(b);
	return rc;
}

/* page_shas: a page of the first-parent history, newest first, into shas
 * (*n of them): 1 when old (or an entry without id) is reached, -1 when
 * the walk ends short of it (BISECT_MAX changes, an id not a SHA), 0 for
 * the next page */
static int
page_shas(char (*shas)[41], size_t *n, struct json *page, const char *old)
{
	struct json_iter it;
	struct jv e;
	const char *sha;

	json_iter_init(&it, json_root(page));
	while (json_iter_next(&it, &e, NULL)) {
		sha = json_strp(e, "id");
		if (!sha || strcmp(sha, old) == 0)
			return 1;
		if (*n >= BISECT_MAX || !is_sha(sha))
			return -1;
		sha_lower(shas[(*n)++], sha);
	}
	return 0;
}

/* changes: the first-parent changes of the source from new down to, not
 * including, old into shas (BISECT_MAX), oldest first; *n 0 when old is
 * not reached within BISECT_MAX of them */
static int
changes(struct ctx *c, char (*shas)[41], size_t *n, const char *old,
    const char *new)
{
	struct gitlab_pager pg;
	struct json *page = NULL;
	size_t i;
	int rc, end = 0;

	*n = 0;
	rc = range_pager(&pg, c->gl, c->src, new, BISECT_MAX / 100 + 1);
	if (rc < 0)
		return rc;
	while (!end && (rc = gitlab_pager_next(&pg, &page)) > 0) {
		end = page_shas(shas, n, page, old);
		json_free(page);
		page = NULL;
	}
	gitlab_pager_free(&pg);
	if (rc < 0)
		return err_prefix(rc, "cannot list the changes: ");
	if (end != 1)
		*n = 0;
	for (i = 0; i < *n / 2; i++) {
		char t[41];

		memcpy(t, shas[i], 41);
		memcpy(shas[i], shas[*n - 1 - i], 41);
		memcpy(shas[*n - 1 - i], t, 41);
	}
	return 0;
}

/* start: a new bisection of the bump MR's range, when its failed jobs
 * and its pins allow one (c->have) */
static int
start(struct ctx *c)
{
	const char *jobs = job_var(c->job, "FAILED_JOBS");
	char old[41], new[41];
	char(*shas)[41] = NULL;
	size_t n = 0;
	int rc;

	if (!jobs || !*jobs || joblist_truncated(jobs)) {
		log_info(
		    "FAILED_JOBS is empty or cut: nothing to compare drafts with, no bisection");
		return 0;
	}
	rc = pins(c, old, new);
	if (rc < 0 || !old[0])
		return rc;
	shas = calloc(BISECT_MAX, sizeof(*shas));
	rc = shas ? changes(c, shas, &n, old, new)
		  : err_set(E_NOMEM, "out of memory");
	if (rc == 0 && n == 0)
		log_info(
		    "the range %.12s..%.12s is not a first-parent range of at most %d changes: no bisection",
		    old, new, BISECT_MAX);
	else if (rc == 0)
		rc = bisect_init(&c->b, (const char(*)[41])shas, n,
		    (int)job_long(c->job, "RELAY_BISECT_WAYS"), jobs);
	if (rc == 0 && n) {
		c->have = 1;
		log_info("bisecting %zu changes %.12s..%.12s", n, old, new);
	}
	free(shas);
	return rc;
}

/* conclude: the outcome st recorded once, its verdict given, the revert
 * offered */
static int
conclude(struct ctx *c, int st, int decided)
{
	int rc = 0;

	if (strcmp(c->b.status, "found") == 0)
		st = BISECT_FOUND;
	else if (strcmp(c->b.status, "inconclusive") == 0)
		st = BISECT_INCONCLUSIVE;
	c->result = st == BISECT_FOUND ? "found" : "inconclusive";
	if (strcmp(c->b.status, "running") == 0 || decided) {
		snprintf(c->b.status, sizeof(c->b.status), "%s", c->result);
		rc = save(c);
	}
	if (rc == 0)
		rc = verdict(c, st == BISECT_FOUND);
	if (rc == 0 && st == BISECT_FOUND &&
	    job_bool(c->job, "RELAY_OFFER_REVERT"))
		rc = revert(c);
	return rc;
}

/* step: the running round read (and decided when every draft finished),
 * the next one opened, or the bisection concluded */
static int
step(struct ctx *c)
{
	long max = job_long(c->job, "RELAY_BISECT_MAX_ROUNDS");
	int running = strcmp(c->b.status, "running") == 0;
	int rc, decided = 0, st;

	if (running && c->b.npoints) {
		rc = round_step(c, &decided);
		if (rc < 0 || !decided) {
			c->result = "running";
			bounds_text(c);
			return rc;
		}
	}
	st = bisect_state(&c->b);
	if (running && st == BISECT_OPEN && c->b.round >= max) {
		log_info("RELAY_BISECT_MAX_ROUNDS (%ld) reached", max);
		st = BISECT_INCONCLUSIVE;
	}
	if (running && st == BISECT_OPEN) {
		rc = next_round(c);
		if (rc < 0 || c->b.npoints) {
			c->result = "running";
			bounds_text(c);
			return rc;
		}
		st = BISECT_INCONCLUSIVE;
	}
	return conclude(c, st, decided);
}

static int
run(struct ctx *c)
{
	const char *triage = job_var(c->job, "TRIAGE");
	int rc = record_self(&c->me, c->gl);

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
	if (rc == 0 && !c->have &&
	    (!triage || strcmp(triage, "regression") != 0 ||
		strcmp(c->mr.state, "opened") != 0)) {
		log_info("!%lld: no regression to bisect", c->mr.iid);
		return 0;
	}
	if (rc == 0 && !c->have)
		rc = start(c);
	if (rc < 0 || !c->have)
		return rc;
	if (strcmp(c->b.status, "running") == 0 &&
	    strcmp(c->mr.state, "opened") != 0) {
		c->result = "aborted";
		return abort_all(c);
	}
	if (strcmp(c->b.status, "aborted") == 0) {
		c->result = "aborted";
		return 0;
	}
	return step(c);
}

/* outputs: the dotenv report of a run that ended well */
static void
outputs(struct ctx *c)
{
	job_out(c->job, "BISECT", c->result);
	if (c->suspect_sha[0])
		job_out(c->job, "SUSPECT_SHA", c->suspect_sha);
	if (c->suspect_mr[0])
		job_out(c->job, "SUSPECT_MR", c->suspect_mr);
	if (c->range[0] && strcmp(c->result, "found") != 0)
		job_out(c->job, "BISECT_RANGE", c->range);
}

static void
ctx_free(struct ctx *c)
{
	mr_free(&c->mr);
	bisect_free(&c->b);
	free(c->tgt);
	free(c->src);
}

static int
cmd_bisect(struct job *job)
{
	struct ctx c;
	size_t i, k = 0;
	int rc = 0;

	memset(&c, 0, sizeof(c));
	c.job = job;
	c.gl = job->gl;
	c.result = "none";
	c.component = job_var(job, "RELAY_COMPONENT");
	for (i = 0; c.component[i] && k + 1 < sizeof(c.slug); i++) {
		unsigned char ch = (unsigned char)c.component[i];

		c.slug[k++] = isalnum(ch) ? (char)tolower(ch) : '-';
	}
	c.tgt = gitlab_project_path(job_var(job, "RELAY_TARGET_PROJECT"));
	c.src = gitlab_project_path(job_var(job, "RELAY_SOURCE_PROJECT"));
	if (!job_bool(job, "RELAY_BISECT")) {
		log_info("RELAY_BISECT is off: nothing to do");
		c.result = "off";
	} else
		rc = c.tgt && c.src ? run(&c)
				    : err_set(E_NOMEM, "out of memory");
	if (rc == 0)
		outputs(&c);
	ctx_free(&c);
	return rc;
}

JOB_STAGE(.name = "bisect",
    .synopsis = "Bisect a regression over green commits with draft MRs, "
		"one round per run, and name the first bad change.",
    .flags = JOB_API, .run = cmd_bisect, .connect = job_api)
