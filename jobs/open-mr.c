/* relay-open-mr: create or update the "Update <component> version" merge
 * request in the target project, whose only change is RELAY_VERSION_FILE
 * set to GREEN_SHA, and have a second identity approve it and set it to
 * merge when its pipeline succeeds.
 *
 * No clone: the commit goes through the commits API, started from the
 * target branch with force, so the MR branch is always target + one commit
 * and never carries stale conflicts. There is never a second MR: GitLab
 * answers 409 to a duplicate, and the MR list is checked again after
 * creating. Every step first looks at GitLab's state, so a re-run after
 * any failure converges without duplicate commits, MRs, notes or posts.
 *
 * Variables: common ones, GREEN_SHA, CURRENT_SHA, UP_TO_DATE,
 * SOURCE_WEB_URL (all four from relay-find-green), CI_JOB_URL,
 * RELAY_PIPELINE_WAIT_S, RELAY_POLL_S.
 * Outputs: MR_IID, MR_URL, MR_ACTION (created, updated, unchanged, stale:
 * open longer than RELAY_STALE_HOURS and not changed by this run, none:
 * UP_TO_DATE=true, or no GREEN_SHA but a CURRENT_SHA from relay-find-green,
 * which found no green commit).
 * Exit: 0 done; 64 bad GREEN_SHA; 69 refused; 75 temporary; 78 missing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "err.h"
#include "gitlab.h"
#include "http.h"
#include "job.h"
#include "json.h"
#include "log.h"
#include "mr.h"
#include "notes.h"
#include "record.h"
#include "range.h"
#include "slack.h"
#include "url.h"
#include "util.h"

static const struct env_var stage_vars[] = {
	{ .name = "GREEN_SHA",
	    .desc = "SHA to pin (from relay-find-green)",
	    .type = ENV_T_SHA,
	    .when = "UP_TO_DATE=false,CURRENT_SHA=" },
	ENV_SHA("CURRENT_SHA", 0, "SHA pinned now (from relay-find-green)"),
	ENV_BOOL("UP_TO_DATE", 0, "false", "true: nothing to do"),
	ENV_LONG("RELAY_PIPELINE_WAIT_S", 0, "60", 0, 3600,
	    "how long to wait for the MR pipeline before setting auto-merge"),
	ENV_LONG(
	    "RELAY_POLL_S", 0, "5", 1, 600, "polling interval while waiting"),
	ENV_LONG("RELAY_RANGE_MAX", 0, "30", 1, 500,
	    "changes listed in the MR description"),
	/* a run started by hand may take over an MR scheduled runs hold */
	ENV_SHA("RELAY_PIN_SHA", 0,
	    "manual pipelines: the SHA pinned by hand (its MR is held)"),
	ENV_STRING("SOURCE_WEB_URL", 0, NULL,
	    "the source project's web URL (from relay-find-green); unset: "
	    "read from GitLab"),
	ENV_STRING("CI_PIPELINE_SOURCE", 0, NULL,
	    "what started the pipeline (set by GitLab): web, api and trigger "
	    "are runs by hand"),
};

/* the commit of a SHA pinned by hand says so: scheduled runs hold it */
#define PINNED_TRAILER                                                         \
	"Pinned by hand (RELAY_PIN_SHA): scheduled runs leave this merge "     \
	"request alone until it is merged or closed."

#define STALE_LABEL "auto updated"

struct ctx {
	struct job *job;
	struct gitlab *gl;
	char *tgt; /* "/projects/<target>" */
	char *src; /* "/projects/<source>" */
	char *target_branch;
	char *src_url;
	char *mr; /* "/projects/<target>/merge_requests/<iid>" */
	char green[41];
	char current[41];
	const char *component;
	const char *file;
	const char *branch; /* MR source branch */
	long long iid;
	char *web_url;
	long long author_id;
	long long created_ts;
	struct json *created; /* the answer of the POST that created the MR */
	int branch_ok; /* MR branch already holds GREEN_SHA */
	int desc_ok; /* MR description already names GREEN_SHA */
	int labels_ok;
	int stale_labelled;
};

/* ---- reads ---- */

/* read_projects: the target branch, and the source's web URL, handed over
 * by relay-find-green (SOURCE_WEB_URL, relay's own output) or read */
static int
read_projects(struct ctx *c)
{
	const char *url = job_var(c->job, "SOURCE_WEB_URL");
	int rc = 0;

	/* sent with the target's read: the source's, and the version file
	 * on the MR branch when this run has something to pin */
	if (!url_is_own(url, c->gl->api))
		rc = gitlab_prefetchf(c->gl, "%s", c->src);
	if (rc == 0 && is_sha(c->current) &&
	    strcasecmp(c->current, c->green) != 0)
		rc = gitlab_prefetch_file(c->gl, c->tgt, c->file, c->branch);
	if (rc == 0)
		rc = gitlab_project_read(&c->target_branch, NULL, c->gl, c->tgt,
		    job_var(c->job, "RELAY_TARGET_PROJECT"),
		    job_var(c->job, "RELAY_TARGET_BRANCH"));
	if (rc < 0)
		return rc;
	if (!url_is_own(url, c->gl->api))
		return gitlab_project_read(NULL, &c->src_url, c->gl, c->src,
		    job_var(c->job, "RELAY_SOURCE_PROJECT"), NULL);
	c->src_url = str_dup(url);
	return c->src_url ? 0 : err_set(E_NOMEM, "out of memory");
}

/* file_on: the trimmed version file on ref into out (41 bytes); 0, or
 * E_NOTFOUND when the branch or file is absent */
static int
file_on(struct ctx *c, char *out, const char *ref)
{
	char *body = NULL;
	int rc = gitlab_file(c->gl, &body, c->tgt, c->file, ref);

	if (rc == 0)
		snprintf(out, 41, "%s", str_trim(body));
	free(body);
	return rc;
}

/* has_label: the MR (as listed) carries label (n bytes) */
static int
has_label(struct jv mr, const char *label, size_t n)
{
	struct json_iter it;
	struct jv e;

	json_iter_init(&it, json_get(mr, "labels"));
	while (json_iter_next(&it, &e, NULL))
		if (json_str(e) && strlen(json_str(e)) == n &&
		    strncmp(json_str(e), label, n) == 0)
			return 1;
	return 0;
}

/* labels_present: the MR carries every label of RELAY_MR_LABELS */
static int
labels_present(struct ctx *c, struct jv mr)
{
	const char *p = job_var(c->job, "RELAY_MR_LABELS"), *l;
	size_t n;

	while (list_next(&p, &l, &n))
		if (!has_label(mr, l, n))
			return 0;
	return 1;
}

/* set_mr: the MR this run works on, from GitLab's answer about it */
static int
set_mr(struct ctx *c, struct jv mr)
{
	struct buf path;
	const char *desc = json_strp(mr, "description");
	const char *at = json_strp(mr, "created_at");
	char marker[80];

	c->iid = json_intp(mr, "iid", 0);
	c->author_id = json_intp(mr, "author.id", 0);
	free(c->web_url);
	c->web_url =
	    str_dup(json_strp(mr, "web_url") ? json_strp(mr, "web_url") : "");
	if (c->iid <= 0 || !c->web_url)
		return err_set(E_PARSE, "merge request answer has no iid");
	if (!at || iso8601_parse(&c->created_ts, at) < 0)
		c->created_ts = gitlab_now(c->gl);
	snprintf(
	    marker, sizeof(marker), "<!-- relay:bump sha=%s -->", c->green);
	c->desc_ok = desc && strstr(desc, marker) != NULL;
	c->labels_ok = labels_present(c, mr);
	c->stale_labelled = has_label(mr, STALE_LABEL, strlen(STALE_LABEL));
	free(c->mr);
	buf_init(&path, 0);
	buf_printf(&path, "%s/merge_requests/%lld", c->tgt, c->iid);
	c->mr = buf_error(&path) ? NULL : buf_detach(&path);
	buf_free(&path);
	return c->mr ? 0 : err_set(E_NOMEM, "out of memory");
}

/* find_open: the open bump MR into the target branch; 1 found, 0 none */
static int
find_open(struct ctx *c)
{
	struct json *d = NULL;
	char *sb = url_escape(c->branch), *tb = url_escape(c->target_branch);
	size_t n;
	int rc = sb && tb ? gitlab_listf(c->gl, &d,
				"%s/merge_requests?state=opened"
				"&source_branch=%s&target_branch=%s"
				"&order_by=created_at&sort=asc&per_page=100",
				c->tgt, sb, tb)
			  : err_set(E_NOMEM, "out of memory");

	free(sb);
	free(tb);
	n = json_size(json_root(d));
	if (rc < 0) {
		err_prefix(rc, "cannot list merge requests: ");
	} else if (n > 0) {
		/* the oldest wins; GitLab refuses true duplicates with 409 */
		rc = set_mr(c, json_get(json_root(d), "0"));
		if (rc == 0)
			rc = 1;
		if (n > 1)
			log_warn("%zu open merge requests from %s; using !%lld",
			    n, c->branch, c->iid);
	}
	json_free(d);
	return rc;
}

/* ---- the description ---- */

/* prefetch_range: range's first page, sent with the commit */
static int
prefetch_range(struct ctx *c)
{
	return is_sha(c->current) ? gitlab_prefetchf(c->gl,
					"%s/repository/commits?ref_name=%s"
					"&first_parent=true&per_page=100",
					c->src, c->green)
				  : 0;
}

/* range: the first-parent changes between CURRENT_SHA and GREEN_SHA */
static int
range(struct ctx *c, struct buf *b)
{
	if (!is_sha(c->current))
		return 0;
	buf_puts(b,
	    "\n### Changes in this range (first-parent, newest "
	    "first)\n\n");
	return range_list(b, c->gl, c->src, c->current, c->green,
	    job_long(c->job, "RELAY_RANGE_MAX"));
}

static int
description(struct ctx *c, struct buf *b)
{
	const char *job_url = job_var(c->job, "CI_JOB_URL");
	int rc;

	buf_printf(b, "Update %s from `%.12s` to `%.12s`.\n\n", c->component,
	    is_sha(c->current) ? c->current : "unknown", c->green);
	buf_printf(b, "`%s` is set to `%s`. ", c->file, c->green);
	if (is_sha(c->current))
		buf_printf(b, "[Compare](%s/-/compare/%s...%s)\n", c->src_url,
		    c->current, c->green);
	else
		buf_printf(
		    b, "[Commit](%s/-/commit/%s)\n", c->src_url, c->green);
	rc = range(c, b);
	if (rc < 0)
		return rc;
	buf_puts(b,
	    "\n### When the pipeline fails\n\n"
	    "- **Flaky test**: relay-triage retries the failed jobs once; if "
	    "they pass, a flaky-test issue is filed and this MR merges.\n"
	    "- **Broken master**: when the same jobs fail on the target "
	    "branch, this MR waits; once it is green again relay closes this "
	    "MR and the next run opens a fresh one.\n"
	    "- **Regression**: the failure comes from a change listed above: "
	    "revert or fix it in the component; the next green commit is "
	    "picked up by the next run.\n\n");
	if (job_url)
		buf_printf(b, "Opened by relay in [this job](%s).\n", job_url);
	else
		buf_puts(b, "Opened by relay.\n");
	return buf_printf(b, "\n<!-- relay:bump sha=%s -->\n", c->green);
}

/* ---- writes ---- */

/* commit_body: the commits API request: the MR branch from the target
 * branch, one action setting the file */
static int
commit_body(struct ctx *c, struct buf *body, const char *msg, int create_only)
{
	char content[42];
	struct jw w;

	snprintf(content, sizeof(content), "%s\n", c->green);
	jw_init(&w, body);
	jw_obj(&w);
	jw_kstr(&w, "branch", c->branch);
	/* start from the target every time: target + exactly one commit */
	jw_kstr(&w, "start_branch", c->target_branch);
	if (!create_only)
		jw_kbool(&w, "force", 1);
	jw_kstr(&w, "commit_message", msg);
	jw_key(&w, "actions");
	jw_arr(&w);
	jw_obj(&w);
	jw_kstr(&w, "action", "update");
	jw_kstr(&w, "file_path", c->file);
	jw_kstr(&w, "content", content);
	jw_end(&w);
	jw_end(&w);
	jw_end(&w);
	return jw_finish(&w);
}

/* commit: the MR branch := target + one commit setting the file. With
 * create_only (the branch was absent) no force is sent: when runs race,
 * GitLab lets exactly one create the branch and answers the others 400
 * "already exists". */
static int
commit(struct ctx *c, int create_only)
{
	struct buf body, msg;
	int rc, title;

	buf_init(&body, 0);
	buf_init(&msg, 0);
	buf_printf(&msg, "Update %s to %.12s", c->component, c->green);
	if (job_var(c->job, "RELAY_PIN_SHA") &&
	    strcasecmp(job_var(c->job, "RELAY_PIN_SHA"), c->green) == 0)
		buf_printf(&msg, "\n\n%s", PINNED_TRAILER);
	rc = buf_error(&msg);
	if (rc == 0)
		rc = commit_body(c, &body, msg.data, create_only);
	title = rc == 0 ? (int)strcspn(msg.data, "\n") : 0;
	if (rc == 0 && c->job->dry_run)
		log_info("dry run: would commit '%.*s' to %s (from %s)", title,
		    msg.data, c->branch, c->target_branch);
	else if (rc == 0)
		rc = gitlab_callf(c->gl, NULL, "POST", body.data,
		    "%s/repository/commits", c->tgt);
	if (rc < 0)
		err_prefix(rc, "cannot commit %s to %s: ", c->file, c->branch);
	else if (!c->job->dry_run)
		log_info("committed '%.*s' to %s", title, msg.data, c->branch);
	buf_free(&body);
	buf_free(&msg);
	return rc;
}

/* mr_body: the MR's title, description and labels; creating, its
 * branches too. An update adds labels, never replaces them: workflow::
 * labels belong to later stages. */
static int
mr_body(struct ctx *c, struct buf *body, const char *desc, int create)
{
	struct buf title;
	struct jw w;
	int rc;

	buf_init(&title, 0);
	rc = buf_printf(&title, "Update %s version", c->component);
	jw_init(&w, body);
	jw_obj(&w);
	if (create) {
		jw_kstr(&w, "source_branch", c->branch);
		jw_kstr(&w, "target_branch", c->target_branch);
	}
	jw_kstr(&w, "title", rc == 0 ? title.data : "");
	jw_kstr(&w, "description", desc);
	jw_kstr(&w, create ? "labels" : "add_labels",
	    job_var(c->job, "RELAY_MR_LABELS"));
	if (create)
		jw_kbool(&w, "remove_source_branch", 1);
	jw_end(&w);
	buf_free(&title);
	return rc < 0 ? rc : jw_finish(&w);
}

/* create_mr: the POST's answer is the MR: kept for its first read */
static int
create_mr(struct ctx *c, const char *desc)
{
	struct buf body;
	struct json *d = NULL;
	int rc;

	buf_init(&body, 0);
	rc = mr_body(c, &body, desc, 1);
	if (rc == 0)
		rc = gitlab_callf(
		    c->gl, &d, "POST", body.data, "%s/merge_requests", c->tgt);
	buf_free(&body);
	if (rc == E_CONFLICT)
		/* a concurrent run won the race: use its MR */
		log_info(
		    "another run opened the merge request first; reusing it");
	else if (rc < 0)
		err_prefix(rc, "cannot create the merge request: ");
	else
		rc = set_mr(c, json_root(d));
	if (rc == 0) {
		log_info("created !%lld: %s", c->iid, c->web_url);
		c->created = d;
		d = NULL;
	}
	json_free(d);
	return rc;
}

static int
update_mr(struct ctx *c, const char *desc)
{
	struct buf body;
	int rc;

	if (c->job->dry_run) {
		log_info(
		    "dry run: would update !%lld to %.12s", c->iid, c->green);
		return 0;
	}
	buf_init(&body, 0);
	rc = mr_body(c, &body, desc, 0);
	if (rc == 0)
		rc = gitlab_call(c->gl, NULL, "PUT", c->mr, body.data);
	buf_free(&body);
	if (rc < 0)
		return err_prefix(rc, "cannot update !%lld: ", c->iid);
	log_info("updated !%lld to %.12s", c->iid, c->green);
	return 0;
}

/* ---- the stale warning ---- */

/* stale_act: the Slack warning, once (the act of the stale record) */
static int
stale_act(void *arg)
{
	struct ctx *c = arg;
	const char *hook = job_var(c->job, "RELAY_SLACK_ALERTS_URL");
	struct buf text;
	char iid[32];
	int rc;

	if (!hook)
		return 0;
	snprintf(iid, sizeof(iid), "!%lld", c->iid);
	buf_init(&text, 0);
	buf_puts(&text, ":warning: ");
	slack_escape(&text, c->component);
	buf_puts(&text, " bump merge request ");
	slack_link(&text, c->web_url, iid, c->gl->api);
	buf_printf(&text, " has been open for more than %ld hours.",
	    job_long(c->job, "RELAY_STALE_HOURS"));
	rc = buf_error(&text);
	if (rc == 0)
		rc = slack_post(c->job->http, hook, text.data);
	buf_free(&text);
	if (rc < 0)
		return err_prefix(rc, "cannot post the stale warning: ");
	log_info("posted the stale warning for !%lld to Slack", c->iid);
	return 0;
}

/* stale: warn once on Slack and label the MR through a note, the record
 * of common/record.c: written pending (its /label quick action labels the
 * MR), then Slack, then flipped to sent, so a Slack failure is retried by
 * the next run and never lost or doubled. 1 stale, 0 not, < 0 error. */
static int
stale(struct ctx *c)
{
	struct record_op op = { 0 };
	struct buf note;
	long hours = job_long(c->job, "RELAY_STALE_HOURS");
	int rc, result = 0;

	/* by GitLab's clock (created_at is GitLab's), not the runner's */
	if (gitlab_now(c->gl) - c->created_ts < hours * 3600LL)
		return 0;
	buf_init(&note, 0);
	rc = buf_printf(&note,
	    "This merge request has been open for more "
	    "than %ld hours. Please check why its pipeline does not pass.",
	    hours);
	op.noteable = c->mr;
	op.marker = "relay:stale";
	op.text = note.data;
	op.claim_extra = "/label ~\"" STALE_LABEL "\"";
	op.act = stale_act;
	op.arg = c;
	op.done_state =
	    job_var(c->job, "RELAY_SLACK_ALERTS_URL") ? "sent" : "none";
	op.dry_run = c->job->dry_run;
	if (rc == 0)
		rc = record_once(&result, c->gl, &op);
	if (rc == 0 && result == RECORD_DRY)
		log_info("dry run: would warn that !%lld is stale", c->iid);
	else if (rc == 0 && result == RECORD_ACTED)
		log_info("!%lld is stale: labelled '%s'", c->iid, STALE_LABEL);
	buf_free(&note);
	return rc < 0 ? rc : 1;
}

/* ---- approval and auto-merge (second identity) ---- */

/* prefetch_merge_reads: what auto_merge reads (after the push: a push
 * resets approvals), sent side by side with the request before it: the
 * MR (unless its POST answered it), the approver and the approvals */
static int
prefetch_merge_reads(struct ctx *c)
{
	int rc = c->created ? 0 : gitlab_prefetchf(c->gl, "%s", c->mr);

	if (rc == 0 && c->job->approver)
		rc = gitlab_prefetchf(c->job->approver, "/user");
	if (rc == 0 && c->job->approver)
		rc = gitlab_prefetchf(c->gl, "%s/approvals", c->mr);
	return rc;
}

/* prefetch_merge_commit: the merge commit of a merged-results pipeline of
 * m, which mr_pipeline_for_head reads to tell whether it is the head's */
static int
prefetch_merge_commit(struct ctx *c, const struct mr *m)
{
	const struct mr_pipeline *p = &m->head;

	if (p->id <= 0 || !p->sha[0] || strcasecmp(p->sha, m->sha) == 0 ||
	    !str_has_prefix(p->ref, "refs/merge-requests/"))
		return 0;
	return gitlab_prefetchf(
	    c->gl, "%s/repository/commits/%s", c->tgt, p->sha);
}

static int
user_id(struct gitlab *g, long long *out)
{
	struct json *d = NULL;
	int rc = gitlab_call(g, &d, "GET", "/user", NULL);

	if (rc == 0)
		*out = json_intp(json_root(d), "id", 0);
	json_free(d);
	return rc < 0 ? err_prefix(rc, "cannot read the approver: ") : 0;
}

/* approved_by: 1 when user me approved the MR, 0 not, < 0 error */
static int
approved_by(struct ctx *c, long long me)
{
	struct json *d = NULL;
	struct json_iter it;
	struct jv e;
	int rc, yes = 0;

	rc = gitlab_getf(c->gl, &d, "%s/approvals", c->mr);
	if (rc < 0)
		err_prefix(rc, "cannot read approvals of !%lld: ", c->iid);
	json_iter_init(&it, json_get(json_root(d), "approved_by"));
	while (rc == 0 && !yes && json_iter_next(&it, &e, NULL))
		yes = json_intp(e, "user.id", -1) == me;
	json_free(d);
	return rc < 0 ? rc : yes;
}

/* approve_refused: the approver's POST was refused with st (401, 403): an
 * approval that landed meanwhile still counts; else say what to fix */
static int
approve_refused(struct ctx *c, long long me, long st)
{
	int by = approved_by(c, me);

	if (by == 1) {
		err_clear();
		log_info("!%lld was approved by another run", c->iid);
		return 0;
	}
	if (by < 0)
		return by;
	if (st == 401)
		return err_set(E_PERM,
		    "POST %s/approve: HTTP 401: the approver may not approve !%lld: make the RELAY_APPROVER_TOKEN user an eligible approver (approval rules) who is not the MR author",
		    c->mr, c->iid);
	return err_set(E_PERM,
	    "POST %s/approve: HTTP 403: RELAY_APPROVER_TOKEN cannot approve !%lld: it needs the api scope and at least the Developer role on the target project",
	    c->mr, c->iid);
}

/* post_approve: the approver approves head */
static int
post_approve(struct ctx *c, long long me, const char *head)
{
	char body[64];
	long st;
	int rc;

	snprintf(body, sizeof(body), "{\"sha\":\"%s\"}", head);
	rc = gitlab_callf(
	    c->job->approver, NULL, "POST", body, "%s/approve", c->mr);
	st = c->job->approver->status;
	if (rc == 0) {
		log_info("approved !%lld", c->iid);
	} else if (st == 304) {
		/* GitLab's answer to a repeat approval: a racing run approved
		 * between the read and the POST */
		err_clear();
		rc = 0;
		log_info("!%lld was approved already (HTTP 304)", c->iid);
	} else if (st == 409) {
		/* the branch moved since it was read (a racing run pushed):
		 * temporary, the next run approves its head */
		rc = err_prefix(E_TEMP, "the MR branch moved meanwhile: ");
		err_prefix(rc, "cannot approve !%lld: ", c->iid);
	} else if (st == 401 || st == 403) {
		rc = approve_refused(c, me, st);
	} else {
		err_prefix(rc, "cannot approve !%lld: ", c->iid);
	}
	return rc;
}

static int
approve(struct ctx *c, const char *head)
{
	long long me = 0;
	int rc;

	rc = user_id(c->job->approver, &me);
	if (rc < 0)
		return rc;
	if (me == c->author_id) {
		log_info("the approver is the MR author: approval skipped");
		return 0;
	}
	rc = approved_by(c, me);
	if (rc != 0)
		return rc < 0 ? rc : 0; /* approved already */
	if (c->job->dry_run) {
		log_info("dry run: would approve !%lld", c->iid);
		return 0;
	}
	return post_approve(c, me, head);
}

/* mr_state: head SHA, the head's own pipeline (id, status; merged-results
 * and merge-train pipelines count, see mr_pipeline_for_head), auto-merge */
struct mr_state {
	char head[41];
	char pl_status[32];
	long long pl_id; /* 0: no pipeline of the head yet */
	int auto_merge;
	char state[16];
};

/* read_mr: the MR's state; first from the answer of the POST that created
 * it, if this run did. approving: an open MR is approved on the way (the
 * approval needs its head, not its pipeline: the read of the pipeline's
 * merge commit goes out with it) */
static int
read_mr(struct ctx *c, struct mr_state *s, int approving)
{
	struct mr m = { 0 };
	struct mr_pipeline pl = { 0 };
	long long made = json_intp(json_root(c->created), "iid", 0);
	int rc = made == c->iid ? mr_adopt(&m, c->created, c->tgt)
				: mr_read(&m, c->gl, c->tgt, c->iid);

	c->created = made == c->iid ? NULL : c->created;
	memset(s, 0, sizeof(*s));
	if (rc == 0 && approving && strcmp(m.state, "opened") == 0)
		rc = prefetch_merge_commit(c, &m);
	if (rc == 0 && approving && strcmp(m.state, "opened") == 0)
		rc = approve(c, m.sha);
	if (rc == 0)
		rc = mr_pipeline_for_head(&pl, &m, c->gl);
	if (rc >= 0) {
		snprintf(s->head, sizeof(s->head), "%s", m.sha);
		snprintf(s->state, sizeof(s->state), "%s", m.state);
		s->auto_merge = m.auto_merge;
		if (rc == 1) {
			s->pl_id = pl.id;
			snprintf(s->pl_status, sizeof(s->pl_status), "%s",
			    pl.status);
		}
		rc = 0;
	}
	mr_free(&m);
	return rc;
}

/* no_pipeline: auto-merge waits for the next run; a note says so, once */
static int
no_pipeline(struct ctx *c, const char *head)
{
	struct buf note;
	char marker[96];
	int rc;

	snprintf(marker, sizeof(marker),
	    "<!-- relay:automerge-pending sha=%s -->", head);
	rc = record_find(NULL, NULL, c->gl, c->mr, marker);
	log_info(
	    "no pipeline for %.12s yet: auto-merge is left to the next run",
	    head);
	if (rc != 0 || c->job->dry_run)
		return rc < 0 ? rc : 0;
	buf_init(&note, 0);
	buf_printf(&note,
	    "Auto-merge is not set yet: no "
	    "pipeline has started for `%s`. The next relay run "
	    "sets it.\n\n%s",
	    head, marker);
	rc = buf_error(&note);
	if (rc == 0)
		rc = notes_post(NULL, c->gl, c->mr, note.data);
	buf_free(&note);
	return rc;
}

/* what the approver's PUT .../merge answered with each status means:
 * GitLab's line names the request, the prefix what to do; %s is the
 * target branch, or with head, the MR head */
static const struct {
	long status;
	int code;
	int head;
	const char *why;
} merge_refusals[] = {
	{ 401, E_PERM, 0,
	    "cannot set auto-merge on !%lld: the RELAY_APPROVER_TOKEN user may not merge into %s (allow it to merge on that protected branch): " },
	{ 405, E_CONFLICT, 0,
	    "cannot set auto-merge on !%lld: it is a draft, closed, blocked by approvals or discussions, or its pipeline failed (see its merge checks; the next run sets it once they pass): " },
	{ 409, E_TEMP, 1,
	    "cannot set auto-merge on !%lld: the branch moved past %.12s (the next run retries): " },
	{ 422, E_CONFLICT, 0,
	    "cannot set auto-merge on !%lld: the branch conflicts with %s (the next open-mr run rebuilds it): " },
};

/* merge_refused: the error of a refused PUT .../merge (status st) */
static int
merge_refused(struct ctx *c, int rc, long st, const char *head)
{
	const char *tb = c->target_branch ? c->target_branch : "";
	size_t i;

	for (i = 0; i < LEN(merge_refusals); i++)
		if (merge_refusals[i].status == st)
			return err_prefix(merge_refusals[i].code,
			    merge_refusals[i].why, c->iid,
			    merge_refusals[i].head ? head : tb);
	return err_prefix(rc, "cannot set auto-merge on !%lld: ", c->iid);
}

/* set_auto_merge: the approver sets the MR to merge when the pipeline of
 * the head succeeds */
static int
set_auto_merge(struct ctx *c, const struct mr_state *s)
{
	char body[192];
	int rc;

	if (c->job->dry_run) {
		log_info(
		    "dry run: would set !%lld to merge when pipeline %lld succeeds",
		    c->iid, s->pl_id);
		return 0;
	}
	/* auto_merge since GitLab 17.11; merge_when_pipeline_succeeds before */
	snprintf(body, sizeof(body),
	    "{\"sha\":\"%s\",\"auto_merge\":true,"
	    "\"merge_when_pipeline_succeeds\":true,"
	    "\"should_remove_source_branch\":true}",
	    s->head);
	rc = gitlab_callf(
	    c->job->approver, NULL, "PUT", body, "%s/merge", c->mr);
	if (rc < 0)
		return merge_refused(c, rc, c->job->approver->status, s->head);
	log_info(
	    "!%lld set to merge when pipeline %lld succeeds", c->iid, s->pl_id);
	return 0;
}

/* auto_merge: approve the head, then set auto-merge on its pipeline: only
 * a pipeline of the current head may carry the merge (auto-merge set
 * before it exists is refused, 405, or would merge on an old one) */
static int
auto_merge(struct ctx *c)
{
	struct mr_state s;
	long long deadline;
	int rc = prefetch_merge_reads(c);

	if (rc == 0)
		rc = read_mr(c, &s, 1);
	if (rc < 0 || strcmp(s.state, "opened") != 0)
		return rc;
	if (s.auto_merge) {
		log_info(
		    "!%lld is already set to merge when the pipeline succeeds",
		    c->iid);
		return 0;
	}
	deadline = now_ms() + job_long(c->job, "RELAY_PIPELINE_WAIT_S") * 1000;
	while (!s.pl_id && now_ms() < deadline && !c->job->dry_run) {
		log_info("waiting for the pipeline of %.12s", s.head);
		sleep_ms(job_long(c->job, "RELAY_POLL_S") * 1000);
		rc = read_mr(c, &s, 0);
		if (rc < 0)
			return rc;
	}
	if (!s.pl_id)
		return no_pipeline(c, s.head);
	if (strcmp(s.pl_status, "failed") == 0 ||
	    strcmp(s.pl_status, "canceled") == 0) {
		log_info(
		    "pipeline %lld of !%lld %s: auto-merge not set (relay-watch and relay-triage take it from here)",
		    s.pl_id, c->iid, s.pl_status);
		return 0;
	}
	return set_auto_merge(c, &s);
}

/* ---- held MRs ---- */

/* by_hand: a pipeline a person started (RELAY_PIN_SHA, or run from the
 * web, the API or a trigger) may take over an MR that scheduled runs hold */
static int
by_hand(struct ctx *c)
{
	const char *src = job_var(c->job, "CI_PIPELINE_SOURCE");

	return job_var(c->job, "RELAY_PIN_SHA") ||
	    (src &&
		(strcmp(src, "web") == 0 || strcmp(src, "api") == 0 ||
		    strcmp(src, "trigger") == 0));
}

/* held_note: say once, in relay's own note, why the MR is held (a forged
 * note must not silence it) */
static int
held_note(struct ctx *c, int foreign, const char *head, const char *onbranch)
{
	struct buf body;
	int rc = record_find(NULL, NULL, c->gl, c->mr, "<!-- relay:held ");

	if (rc != 0)
		return rc;
	if (c->job->dry_run) {
		log_info(
		    "dry run: would note on !%lld that it is held", c->iid);
		return 0;
	}
	buf_init(&body, 0);
	if (foreign)
		buf_printf(&body,
		    "**Held**: `%s` holds a commit relay did not make "
		    "(`%.12s`), "
		    "so relay leaves this MR alone: no commit, no description, "
		    "approval or auto-merge change, until it is merged or "
		    "closed; then the next run opens a fresh one. A pipeline "
		    "run by hand (web, API, trigger or `RELAY_PIN_SHA`) takes "
		    "it over again.",
		    c->branch, head);
	else
		buf_printf(&body,
		    "**Held**: this MR pins `%.12s`, asked for by hand with "
		    "`RELAY_PIN_SHA`. Scheduled runs leave it alone until it "
		    "is "
		    "merged or closed, even for a newer green commit "
		    "(`%.12s`); a pipeline run by hand moves it on.",
		    onbranch, c->green);
	rc = buf_printf(&body, "\n\n<!-- relay:held commit=%.40s -->",
	    is_sha(head) ? head : "");
	if (rc == 0)
		rc = notes_post(NULL, c->gl, c->mr, body.data);
	buf_free(&body);
	return rc;
}

/* relays_commit: the head commit d is relay's own "Update <component> to
 * <first 12 of onbranch>"; without the file (absent, or a 404 on the way)
 * only the shape of the title can tell it */
static int
relays_commit(struct ctx *c, struct jv d, const char *onbranch, int no_file)
{
	const char *title = json_strp(d, "title");
	struct buf b;
	int rc;

	if (!title)
		return 0;
	buf_init(&b, 0);
	buf_printf(&b, "Update %s to %.12s", c->component, onbranch);
	rc = buf_error(&b) == 0 &&
	    (no_file ? str_has_prefix(title, b.data)
		     : strcmp(title, b.data) == 0);
	buf_free(&b);
	return rc;
}

/* held: the open MR's branch must be left alone by this run: its head is
 * a commit relay did not make (a person followed the manual path and set
 * the version file in the MR), or relay's commit of a SHA pinned by hand
 * that this run would replace. relay's own commit is "Update <component>
 * to <first 12 of the SHA in the file>" (PINNED_TRAILER when pinned).
 * Says so once in a note. 1 held, 0 not, < 0 error. */
static int
held(struct ctx *c, const char *onbranch, int no_file)
{
	struct json *d = NULL;
	const char *msg, *head;
	char *b = url_escape(c->branch);
	int rc, foreign, pinned;

	rc = b ? gitlab_getf(c->gl, &d, "%s/repository/commits/%s", c->tgt, b)
	       : err_set(E_NOMEM, "out of memory");
	free(b);
	if (rc == E_NOTFOUND && no_file) {
		/* no branch at all: nothing to hold, relay creates it */
		err_clear();
		return 0;
	}
	if (rc < 0)
		return err_prefix(
		    rc, "cannot read the head of %s: ", c->branch);
	msg = json_strp(json_root(d), "message");
	head =
	    json_strp(json_root(d), "id") ? json_strp(json_root(d), "id") : "";
	foreign = !relays_commit(c, json_root(d), onbranch, no_file);
	pinned = !foreign && msg && strstr(msg, PINNED_TRAILER);
	if (!foreign && (!pinned || strcasecmp(onbranch, c->green) == 0)) {
		json_free(d);
		return 0; /* relay's, and not held */
	}
	if (foreign)
		log_info(
		    "!%lld: %s holds %.12s, a commit relay did not make: left alone until the MR is merged or closed",
		    c->iid, c->branch, head);
	else
		log_info(
		    "!%lld pins %.12s by hand (RELAY_PIN_SHA): scheduled runs leave it alone until it is merged or closed",
		    c->iid, onbranch);
	rc = held_note(c, foreign, head, onbranch);
	json_free(d);
	return rc < 0 ? rc : 1;
}

/* ---- main flow ---- */

/* branch: the MR branch holds GREEN_SHA: target + one commit. absent: the
 * branch does not exist yet. */
static int
branch(struct ctx *c, char *onbranch, int absent)
{
	int rc;

	err_clear();
	rc = commit(c, absent);
	if (rc == E_PERM && absent && c->gl->status == 400) {
		/* a racing run created the branch first: its commit may be
		 * ours already */
		rc = file_on(c, onbranch, c->branch);
		if (rc == 0 && strcasecmp(onbranch, c->green) == 0)
			log_info("another run committed %.12s to %s", c->green,
			    c->branch);
		else if (rc == 0 || rc == E_NOTFOUND)
			rc = commit(c, 0);
	}
	return rc;
}

/* open_or_update: the MR with its description; *action says what was
 * done */
static int
open_or_update(struct ctx *c, int found, const char *desc, const char **action)
{
	int rc;

	if (found) {
		*action = "updated";
		if (c->desc_ok && c->labels_ok)
			return 0;
		rc = prefetch_merge_reads(c);
		return rc < 0 ? rc : update_mr(c, desc);
	}
	if (c->job->dry_run) {
		log_info(
		    "dry run: would open 'Update %s version' from %s into %s:\n%s",
		    c->component, c->branch, c->target_branch, desc);
		*action = "created";
		return 0;
	}
	rc = create_mr(c, desc);
	*action = rc == E_CONFLICT ? "updated" : "created";
	if (rc < 0 && rc != E_CONFLICT)
		return rc;
	if (rc == 0 && prefetch_merge_reads(c) < 0)
		return E_NOMEM;
	/* check again: a racing run may have created one too */
	found = find_open(c);
	if (found == 0 && rc == E_CONFLICT)
		return err_set(E_TEMP,
		    "GitLab reported a duplicate merge request but lists none; re-run");
	if (found < 0 || rc == 0)
		return found < 0 ? found : 0;
	return !c->desc_ok || !c->labels_ok ? update_mr(c, desc) : 0;
}

/* write_mr: the MR, opened or brought up to date; changed: the branch
 * got a new commit */
static int
write_mr(struct ctx *c, int found, int changed, const char **action)
{
	struct buf desc;
	int rc = 0;

	buf_init(&desc, 0);
	if (!found || !c->desc_ok || !c->labels_ok)
		rc = description(c, &desc);
	if (rc == 0 && (!found || !c->desc_ok || !c->labels_ok))
		rc = open_or_update(c, found, desc.data, action);
	else if (rc == 0)
		*action = changed ? "updated" : "unchanged";
	buf_free(&desc);
	return rc;
}

/* take: the open MR (found) is this run's to change: not held */
static int
take(struct ctx *c, int found, const char *onbranch, int no_file,
    const char **action)
{
	int h = found && !by_hand(c) ? held(c, onbranch, no_file) : 0;

	if (h == 1)
		*action = "held";
	return h;
}

static int
run(struct ctx *c, const char **action)
{
	char onbranch[41] = "";
	int rc, found, absent, st;

	rc = read_projects(c);
	if (rc == 0 && !is_sha(c->current)) {
		/* CURRENT_SHA not handed over: read the pin on the target */
		rc = file_on(c, c->current, c->target_branch);
		if (rc < 0 && rc != E_NOTFOUND)
			return err_prefix(rc, "cannot read %s: ", c->file);
		rc = 0;
	}
	if (rc < 0)
		return rc;
	if (strcasecmp(c->current, c->green) == 0) {
		log_info(
		    "%s already pins %.12s: nothing to do", c->file, c->green);
		*action = "none";
		return 0;
	}
	found = find_open(c);
	if (found < 0)
		return found;
	rc = file_on(c, onbranch, c->branch);
	if (rc < 0 && rc != E_NOTFOUND)
		return err_prefix(
		    rc, "cannot read %s on %s: ", c->file, c->branch);
	absent = rc == E_NOTFOUND;
	rc = take(c, found, onbranch, absent, action);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	c->branch_ok = strcasecmp(onbranch, c->green) == 0;
	rc = !found || !c->desc_ok || !c->labels_ok ? prefetch_range(c) : 0;
	if (rc == 0)
		rc = c->branch_ok ? 0 : branch(c, onbranch, absent);
	if (rc == 0)
		rc = write_mr(c, found, !c->branch_ok, action);
	if (rc < 0 || c->iid <= 0)
		return rc; /* a dry run opened none */
	st = strcmp(*action, "created") != 0 ? stale(c) : 0;
	if (st == 1 && strcmp(*action, "unchanged") == 0)
		*action = "stale";
	if (st < 0)
		return st;
	if (!c->job->approver) {
		log_info(
		    "RELAY_APPROVER_TOKEN unset: not approving or setting auto-merge");
		return 0;
	}
	return auto_merge(c);
}

/* ctx_free: what the context owns */
static void
ctx_free(struct ctx *c)
{
	json_free(c->created);
	free(c->mr);
	free(c->web_url);
	free(c->target_branch);
	free(c->src_url);
	free(c->tgt);
	free(c->src);
}

static int
cmd_open_mr(struct job *job)
{
	struct ctx c;
	const char *green = job_var(job, "GREEN_SHA");
	char iid[32];
	const char *action = "none";
	int rc;

	if (job_bool(job, "UP_TO_DATE")) {
		log_info("UP_TO_DATE=true: nothing to do");
		return job_out(job, "MR_ACTION", "none");
	}
	if (!green && job_var(job, "CURRENT_SHA")) {
		/* relay-find-green read the pin but found nothing to pin (no
		 * green commit, or a diverged pin): its log says why */
		log_info(
		    "no GREEN_SHA from relay-find-green (pinned: %.12s): nothing to do",
		    job_var(job, "CURRENT_SHA"));
		return job_out(job, "MR_ACTION", "none");
	}
	memset(&c, 0, sizeof(c));
	c.job = job;
	c.gl = job->gl;
	c.component = job_var(job, "RELAY_COMPONENT");
	c.file = job_var(job, "RELAY_VERSION_FILE");
	c.branch = job_var(job, "RELAY_MR_BRANCH");
	/* both already checked and lowercased by job_init */
	memcpy(c.green, green, 40);
	if (job_var(job, "CURRENT_SHA"))
		memcpy(c.current, job_var(job, "CURRENT_SHA"), 40);
	c.tgt = gitlab_project_path(job_var(job, "RELAY_TARGET_PROJECT"));
	c.src = gitlab_project_path(job_var(job, "RELAY_SOURCE_PROJECT"));
	rc = c.tgt && c.src ? run(&c, &action)
			    : err_set(E_NOMEM, "out of memory");
	/* what is known is reported even when a later step failed */
	snprintf(iid, sizeof(iid), "%lld", c.iid);
	if (c.iid > 0) {
		job_out(job, "MR_IID", iid);
		job_out(job, "MR_URL", c.web_url);
	}
	if (rc == 0)
		job_out(job, "MR_ACTION", action);
	ctx_free(&c);
	return rc;
}

JOB_STAGE(.name = "open-mr",
    .synopsis = "Create or update the merge request that pins GREEN_SHA in the "
		"target project.",
    .flags = JOB_API | JOB_APPROVER, .run = cmd_open_mr, .connect = job_api)
