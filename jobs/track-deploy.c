/* relay-track-deploy: follow a merged bump MR's merge commit through the
 * target's environments (RELAY_ENVIRONMENTS, in rollout order), set the
 * environment's scoped label on the MR and post one Slack message per
 * environment reached (RELAY_SLACK_ALERTS_URL, #gitaly_alerts).
 *
 * An environment is reached when one of its successful deployments, made
 * after the merge, deployed the merge commit or a descendant of it (merge
 * base API). Environments are checked furthest first, so a run that finds
 * several new ones announces only the furthest, and a later deployment of
 * an earlier environment never moves the MR back.
 *
 * The labels say how far the MR got; a note per environment reached
 * (<!-- relay:deployed env=gstg slack=sent -->, common/record.c) says
 * whether Slack got the message. Order: note (pending), label, Slack, note
 * flipped to slack=sent; a failed post releases it (slack=retry) and the
 * next run posts, so a Slack outage delays the message without losing the
 * label step or repeating the message.
 *
 * Variables: common ones, MR_IID (unset: every merged bump MR not yet at
 * the last environment, merged within RELAY_DEPLOY_MAX_DAYS, in pages),
 * RELAY_ENVIRONMENTS, RELAY_DEPLOY_MAX_MRS (page size),
 * RELAY_DEPLOY_MAX_DAYS.
 * Outputs: DEPLOY_STAGE (furthest environment reached by MR_IID, or by the
 * newest merged bump MR; "none").
 * Exit: 0 done; 64 bad variable; 69 refused; 75 temporary (the next run
 * resumes); 78 missing. */
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
#include "trail.h"
#include "url.h"
#include "util.h"

#define MAX_ENVS 16
#define MAX_SEEN 64

static const struct env_var stage_vars[] = {
	ENV_LONG("MR_IID", 0, NULL, 1, 1000000000L,
	    "the merged bump MR (unset: every merged bump MR not yet at the "
	    "last environment)"),
	ENV_LONG("RELAY_DEPLOY_MAX_MRS", 0, "20", 1, 100,
	    "page size of the merged bump MR list when MR_IID is unset "
	    "(every page is read)"),
	ENV_LONG("RELAY_DEPLOY_MAX_DAYS", 0, "14", 1, 3650,
	    "MRs merged longer ago than this are no longer followed"),
	ENV_BOOL("RELAY_SOURCE_NOTES", 0, "true",
	    "note on each source MR of the bump's range where its change "
	    "went (false: off)"),
	ENV_STRING("RELAY_SOURCE_NOTES_ENVS", 0, NULL,
	    "environments whose reaching writes the source notes (default: "
	    "the last one, production)"),
	ENV_LONG("RELAY_SOURCE_NOTES_MAX", 0, "50", 1, 10000,
	    "source notes written or edited per run; the rest are written by "
	    "the next run"),
	ENV_STRING("RELAY_CANONICAL_PROJECT", 0, "gitlab-org/gitaly",
	    "project whose MRs get the source notes (the canonical one, not "
	    "the security mirror)"),
};

struct env {
	char name[128];
	char label[256];
	struct json *deps; /* its latest successful deployments, lazily */
};

/* what was found deployed: links for the message */
struct hit {
	long long env_id;
	char sha[41];
	char url[512]; /* the deploying job, or empty */
};

struct ctx {
	struct job *job;
	char *tgt; /* "/projects/<target>" */
	const char *hook;
	struct env env[MAX_ENVS];
	size_t nenv;
	/* merge-base answers: is b the merge commit a or one of its
	 * descendants (one request per distinct pair and run) */
	struct {
		char a[41], b[41];
		int in;
	} seen[MAX_SEEN];
	size_t nseen;
	/* source notes: off when notes_max is 0; notes_left this run */
	long notes_max, notes_left;
	unsigned notes_envs; /* bit i: reaching env i writes them */
	char *src; /* "/projects/<source>" */
};

static int
parse_envs(struct ctx *c, const char *spec)
{
	const char *p = spec, *e;
	size_t len;

	while (list_next(&p, &e, &len)) {
		char item[400];
		char *colon, *name, *label;

		if (len >= sizeof(item))
			return err_set(E_USAGE,
			    "RELAY_ENVIRONMENTS: entry too long: %.40s...", e);
		memcpy(item, e, len);
		item[len] = 0;
		colon = strchr(item, ':');
		if (!colon)
			return err_set(E_USAGE,
			    "RELAY_ENVIRONMENTS: \"%s\" is not environment:label",
			    item);
		*colon = 0;
		name = str_trim(item);
		label = str_trim(colon + 1);
		if (!*name || !*label || strlen(name) >= sizeof(c->env[0].name))
			return err_set(E_USAGE,
			    "RELAY_ENVIRONMENTS: \"%s:%s\" needs an environment and a label",
			    name, label);
		if (c->nenv == MAX_ENVS)
			return err_set(E_USAGE,
			    "RELAY_ENVIRONMENTS: more than %d environments",
			    MAX_ENVS);
		snprintf(
		    c->env[c->nenv].name, sizeof(c->env[0].name), "%s", name);
		snprintf(c->env[c->nenv].label, sizeof(c->env[0].label), "%s",
		    label);
		c->nenv++;
	}
	if (c->nenv == 0)
		return err_set(
		    E_USAGE, "RELAY_ENVIRONMENTS: no environment listed");
	return 0;
}

/* parse_notes_envs: RELAY_SOURCE_NOTES_ENVS, names of RELAY_ENVIRONMENTS
 * (unset: the last one) */
static int
parse_notes_envs(struct ctx *c, const char *spec)
{
	const char *p = spec, *e;
	size_t len, i;

	c->notes_envs = 0;
	if (!spec || !*spec) {
		c->notes_envs = 1u << (c->nenv - 1);
		return 0;
	}
	while (list_next(&p, &e, &len)) {
		for (i = 0; i < c->nenv; i++)
			if (strlen(c->env[i].name) == len &&
			    strncmp(c->env[i].name, e, len) == 0)
				break;
		if (i == c->nenv)
			return err_set(E_USAGE,
			    "RELAY_SOURCE_NOTES_ENVS: \"%.*s\" is not one of RELAY_ENVIRONMENTS",
			    (int)(len > 64 ? 64 : len), e);
		c->notes_envs |= 1u << i;
	}
	if (!c->notes_envs)
		return err_set(
		    E_USAGE, "RELAY_SOURCE_NOTES_ENVS: no environment listed");
	return 0;
}

static int
load_deps(struct ctx *c, struct env *e)
{
	char *name;
	int rc;

	if (e->deps)
		return 0;
	name = url_escape(e->name);
	if (!name)
		return err_set(E_NOMEM, "out of memory");
	/* newest first; 20 covers days of deployments of one environment */
	rc = gitlab_listf(c->job->gl, &e->deps,
	    "%s/deployments?environment=%s&status=success&order_by=id"
	    "&sort=desc&per_page=20",
	    c->tgt, name);
	free(name);
	return rc < 0
	    ? err_prefix(rc, "cannot list deployments to %s: ", e->name)
	    : 0;
}

/* contains: *in = 1 when sha is the merge commit or descends from it */
static int
contains(struct ctx *c, int *in, const char *merge, const char *sha)
{
	char base[41];
	size_t i;
	int rc;

	if (strcasecmp(merge, sha) == 0) {
		*in = 1;
		return 0;
	}
	for (i = 0; i < c->nseen; i++)
		if (strcasecmp(c->seen[i].a, merge) == 0 &&
		    strcasecmp(c->seen[i].b, sha) == 0) {
			*in = c->seen[i].in;
			return 0;
		}
	/* unrelated or unknown SHA (0): not this change */
	rc = range_merge_base(base, c->job->gl, c->tgt, merge, sha);
	if (rc < 0)
		return rc;
	*in = rc == 1 && strcasecmp(base, merge) == 0;
	if (c->nseen < MAX_SEEN) {
		snprintf(c->seen[c->nseen].a, 41, "%s", merge);
		snprintf(c->seen[c->nseen].b, 41, "%s", sha);
		c->seen[c->nseen++].in = *in;
	}
	return 0;
}

/* reached: 1 when environment e got the MR's merge commit (*h says by
 * which deployment), 0 when not yet, < 0 error */
static int
reached(struct ctx *c, const struct mr *m, const char *merge, struct env *e,
    struct hit *h)
{
	struct json_iter it;
	struct jv d;
	int rc = load_deps(c, e);

	if (rc < 0)
		return rc;
	json_iter_init(&it, json_root(e->deps));
	while (json_iter_next(&it, &d, NULL)) {
		const char *sha = json_strp(d, "sha");
		const char *at = json_strp(d, "created_at");
		long long ts = 0;
		int in = 0;

		if (!sha || !is_sha(sha))
			continue;
		/* started before the merge: cannot hold the merge commit */
		if (m->merged_ts && at && iso8601_parse(&ts, at) == 0 &&
		    ts + 60 < m->merged_ts)
			continue;
		rc = contains(c, &in, merge, sha);
		if (rc < 0)
			return rc;
		if (in) {
			memset(h, 0, sizeof(*h));
			h->env_id = json_intp(d, "environment.id", 0);
			snprintf(h->sha, sizeof(h->sha), "%s", sha);
			/* a URL that does not fit is left out, never cut */
			if (json_strp(d, "deployable.web_url") &&
			    strlen(json_strp(d, "deployable.web_url")) <
				sizeof(h->url))
				snprintf(h->url, sizeof(h->url), "%s",
				    json_strp(d, "deployable.web_url"));
			return 1;
		}
	}
	return 0;
}

static void
env_url(char *out, size_t n, const struct mr *m, const struct hit *h)
{
	char sfx[64];

	if (h->env_id > 0)
		snprintf(sfx, sizeof(sfx), "/-/environments/%lld", h->env_id);
	else
		snprintf(sfx, sizeof(sfx), "/-/environments");
	mr_project_url(out, n, m, sfx);
}

static int
slack_text(struct ctx *c, struct buf *b, const struct mr *m, const char *merge,
    const struct env *e, const struct hit *h)
{
	char url[700], label[32];

	env_url(url, sizeof(url), m, h);
	buf_puts(b, ":rocket: ");
	slack_escape(b, job_var(c->job, "RELAY_COMPONENT"));
	snprintf(label, sizeof(label), "!%lld", m->iid);
	buf_puts(b, " update ");
	slack_link(b, m->web_url, label, c->job->gl->api);
	buf_printf(b, " (`%.12s`) reached *", merge);
	slack_escape(b, e->name);
	buf_puts(b, "* (");
	slack_escape(b, e->label);
	buf_puts(b, ").\n");
	slack_link(b, url, "environment", c->job->gl->api);
	if (h->url[0]) {
		buf_puts(b, " · ");
		slack_link(b, h->url, "deployment job", c->job->gl->api);
	}
	return buf_puts(b, "\n");
}

/* signature: the note's last line, naming the job that wrote it */
static int
signature(struct ctx *c, struct buf *b)
{
	const char *job = job_var(c->job, "CI_JOB_URL");

	if (job)
		buf_printf(b, "\n_relay-track-deploy, [job](%s)_\n", job);
	return buf_error(b);
}

static int
note_text(struct ctx *c, struct buf *b, const struct mr *m, const char *merge,
    const struct env *e, const struct hit *h)
{
	const char *api = c->job->gl->api;
	char url[700];

	env_url(url, sizeof(url), m, h);
	buf_puts(b, "This ");
	notes_escape(b, job_var(c->job, "RELAY_COMPONENT"));
	buf_printf(b, " update (`%.12s`) reached **", merge);
	notes_escape(b, e->name);
	buf_puts(b, "**: ");
	notes_link(b, "environment", url, api);
	if (h->url[0]) {
		buf_puts(b, ", ");
		notes_link(b, "deployment job", h->url, api);
	}
	buf_puts(b, ".\n");
	return signature(c, b);
}

/* relabel: set e's label, removing the MR's other labels of its scope
 * ("workflow::" for "workflow::staging"), as scoped labels behave */
static int
relabel(struct ctx *c, const struct mr *m, const struct env *e)
{
	const char *scope_end = strstr(e->label, "::");
	const char *last = scope_end;
	struct json_iter it;
	struct jv v;
	struct buf rm;
	int rc = 0;

	if (mr_has_label(m, e->label))
		return 0;
	while (last && strstr(last + 2, "::"))
		last = strstr(last + 2, "::");
	buf_init(&rm, 0);
	json_iter_init(&it, json_get(json_root(m->doc), "labels"));
	while (last && rc == 0 && json_iter_next(&it, &v, NULL)) {
		const char *l = json_str(v);
		size_t n = (size_t)(last - e->label) + 2;

		if (l && strncmp(l, e->label, n) == 0 && !strstr(l + n, "::"))
			rc = buf_printf(&rm, "%s%s", rm.len ? "," : "", l);
	}
	if (rc == 0)
		rc =
		    mr_labels(c->job->gl, m, e->label, rm.len ? rm.data : NULL);
	buf_free(&rm);
	if (rc == 0)
		log_info("!%lld labelled %s", m->iid, e->label);
	return rc;
}

struct step {
	struct ctx *c;
	const struct mr *m;
	const struct env *e;
	const char *text;
};

/* act: the label, then the message; run once the record is claimed */
static int
act(void *arg)
{
	struct step *s = arg;
	int rc = relabel(s->c, s->m, s->e);

	if (rc < 0 || !s->c->hook)
		return rc;
	rc = slack_post(s->c->job->http, s->c->hook, s->text);
	if (rc == 0)
		log_info("posted !%lld at %s to Slack", s->m->iid, s->e->name);
	return rc;
}

/* owed: 1 when relay's record under prefix on noteable is not done (its
 * message was not delivered), 0 when done or absent, < 0 error */
static int
owed(struct ctx *c, const char *noteable, const char *prefix)
{
	char *body = NULL;
	int rc = record_find(&body, NULL, c->job->gl, noteable, prefix);

	if (rc == 1)
		rc = record_state(body, prefix, NULL) != RECORD_DONE;
	free(body);
	return rc;
}

/* resumed: 1 when m's record of reaching e (prefix) is owed, *again
 * then the deployment's links as the message first gave them; 0 when
 * nothing is owed; < 0 error */
static int
resumed(struct ctx *c, const struct mr *m, const char *merge, struct env *e,
    const char *prefix, struct hit *again)
{
	int rc = owed(c, m->path, prefix);

	if (rc != 1)
		return rc;
	memset(again, 0, sizeof(*again));
	rc = reached(c, m, merge, e, again);
	return rc < 0 ? rc : 1;
}

/* told: what record_once's result means for the MR */
static int
told(struct ctx *c, const struct step *st, int result, int resume)
{
	const struct mr *m = st->m;

	if (result == RECORD_DRY) {
		log_info("dry run: would %s !%lld at %s%s",
		    resume ? "announce" : "label", m->iid, st->e->label,
		    c->hook ? " and post to Slack" : "");
		fprintf(stdout, "%s", st->text);
	} else if (result == RECORD_DONE_BEFORE && !resume) {
		/* recorded before, label since removed by a person: it is
		 * set again, without a second message */
		return relabel(c, m, st->e);
	} else if (result == RECORD_BUSY) {
		log_info("!%lld at %s is being announced by another run",
		    m->iid, st->e->name);
	}
	return 0;
}

/* announce: record, label and post that m reached e (common/record.c);
 * with resume, e is the MR's label already and only a message whose
 * record is not done (Slack failed) is delivered */
static int
announce(struct ctx *c, const struct mr *m, const char *merge, struct env *e,
    const struct hit *h, int resume)
{
	struct hit again = { 0 };
	struct buf mk, prefix, text, body;
	struct record_op op = { 0 };
	struct step st = { c, m, e, NULL };
	int rc, result = 0;

	buf_init(&mk, 0);
	buf_init(&prefix, 0);
	buf_init(&text, 0);
	buf_init(&body, 0);
	rc = buf_printf(&mk, "relay:deployed env=%s", e->name);
	if (rc == 0)
		rc = buf_printf(&prefix, "<!-- %s ", mk.data);
	/* only a record relay wrote and did not complete */
	if (rc == 0 && resume)
		rc = resumed(c, m, merge, e, prefix.data, &again);
	if (rc < 0 || (resume && rc == 0))
		goto out;
	if (resume && (again.env_id > 0 || again.url[0]))
		h = &again;
	rc = slack_text(c, &text, m, merge, e, h);
	if (rc == 0)
		rc = note_text(c, &body, m, merge, e, h);
	st.text = text.data;
	op.noteable = m->path;
	op.marker = mk.data;
	op.text = body.data;
	op.act = act;
	op.arg = &st;
	op.done_state = c->hook ? "sent" : "none";
	op.dry_run = c->job->dry_run;
	if (rc == 0)
		rc = record_once(&result, c->job->gl, &op);
	if (rc == 0)
		rc = told(c, &st, result, resume);
out:
	buf_free(&mk);
	buf_free(&prefix);
	buf_free(&text);
	buf_free(&body);
	return rc;
}

/* ---- source notes: where each change of the range went (trail.c) ---- */

/* notes_key: the environment whose completion record covers stage: the
 * furthest of RELAY_SOURCE_NOTES_ENVS at or before it; -1: none yet */
static int
notes_key(const struct ctx *c, int stage)
{
	int i;

	if (!c->notes_max)
		return -1;
	for (i = stage; i >= 0; i--)
		if (c->notes_envs & (1u << i))
			return i;
	return -1;
}

/* pins: the pinned SHAs before (the merge commit's first parent) and
 * after the bump, read from the target's version file; 0 or < 0 */
static int
pins(struct ctx *c, char *from, char *to, const char *merge)
{
	const char *file = job_var(c->job, "RELAY_VERSION_FILE");
	struct json *d = NULL;
	char *a = NULL, *b = NULL;
	const char *parent;
	int rc;

	rc = gitlab_getf(
	    c->job->gl, &d, "%s/repository/commits/%s", c->tgt, merge);
	parent = rc == 0 ? json_strp(json_root(d), "parent_ids.0") : NULL;
	if (rc == 0 && (!parent || !is_sha(parent)))
		rc =
		    err_set(E_PARSE, "merge commit %.12s has no parent", merge);
	if (rc == 0)
		rc = gitlab_file(c->job->gl, &a, c->tgt, file, parent);
	if (rc == 0)
		rc = gitlab_file(c->job->gl, &b, c->tgt, file, merge);
	if (rc == 0) {
		str_trim(a);
		str_trim(b);
		if (!is_sha(a) || !is_sha(b))
			rc = err_set(E_PARSE,
			    "%s does not hold a SHA before and after %.12s",
			    file, merge);
	}
	if (rc == 0) {
		snprintf(from, 41, "%s", str_trim(a));
		snprintf(to, 41, "%s", str_trim(b));
	}
	json_free(d);
	free(a);
	free(b);
	return rc < 0 ? err_prefix(rc, "cannot tell the bump's range: ") : 0;
}

static int
trail_text(struct ctx *c, struct buf *b, const struct mr *m, const char *merge,
    const long long *at, int stage)
{
	const char *api = c->job->gl->api;
	char url[700], ref[300], when[40];
	int i;

	buf_puts(b, "This change was deployed with the ");
	notes_escape(b, job_var(c->job, "RELAY_COMPONENT"));
	buf_puts(b, " update ");
	snprintf(ref, sizeof(ref), "%s!%lld",
	    job_var(c->job, "RELAY_TARGET_PROJECT"), m->iid);
	notes_link(b, ref, m->web_url, api);
	buf_printf(b, " (`%.12s`). It reached:\n\n", merge);
	for (i = 0; i <= stage; i++) {
		time_t t = (time_t)at[i];
		struct tm tm;

		buf_puts(b, "- **");
		notes_escape(b, c->env[i].name);
		buf_puts(b, "**");
		if (at[i] > 0 && gmtime_r(&t, &tm) &&
		    strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm))
			buf_printf(b, ": %s", when);
		buf_puts(b, "\n");
	}
	mr_project_url(url, sizeof(url), m, "/-/environments");
	buf_puts(b, "\n");
	notes_link(b, "Environments", url, api);
	return buf_puts(b, "\n\n_relay-track-deploy_\n");
}

/* trail_gather: the source MRs of m's range (refs, n) and the note they
 * get (text) */
static int
trail_gather(struct ctx *c, const struct mr *m, const char *merge, int stage,
    char ***refs, size_t *n, struct buf *text)
{
	const char *envs[MAX_ENVS];
	long long at[MAX_ENVS];
	char from[41], to[41];
	size_t i;
	int rc = pins(c, from, to, merge);

	if (rc == 0)
		rc = trail_refs(refs, n, c->job->gl, c->src, from, to,
		    job_var(c->job, "RELAY_CANONICAL_PROJECT"));
	for (i = 0; i < c->nenv; i++)
		envs[i] = c->env[i].name;
	if (rc == 0)
		rc = trail_times(at, c->job->gl, m->path, envs, c->nenv);
	if (rc == 0)
		rc = trail_text(c, text, m, merge, at, stage);
	return rc;
}

/* trail_one: the deployment note (marker mk) on source MR ref, counted
 * in *written, or in *left when the next run is to write it */
static int
trail_one(struct ctx *c, const char *ref, const char *mk, const char *text,
    int level, int *written, int *left)
{
	const char *bang = strchr(ref, '!');
	char proj[256];
	char *pp, *mr;
	int res = 0, rc;

	snprintf(proj, sizeof(proj), "%.*s", (int)(bang - ref), ref);
	pp = gitlab_project_path(proj);
	mr = pp ? str_printf("%s/merge_requests/%s", pp, bang + 1) : NULL;
	rc = mr
	    ? trail_note(&res, c->job->gl, mr, mk, text, level, c->job->dry_run)
	    : err_set(E_NOMEM, "out of memory");
	free(pp);
	free(mr);
	if (rc == E_NOTFOUND) {
		/* a deleted MR: the others are written; this one is tried
		 * again by the next runs while the bump is followed (a
		 * refusal, 401 or 403, is an error) */
		log_warn("no deployment note on %s: %s", ref, err_msg());
		(*left)++;
		return 0;
	}
	if (rc < 0)
		return err_prefix(rc, "%s: ", ref);
	if (res == TRAIL_CREATED || res == TRAIL_EDITED) {
		c->notes_left--;
		(*written)++;
		log_info("%s: deployment note %s", ref,
		    res == TRAIL_CREATED ? "written" : "updated");
	} else if (res == TRAIL_DRY) {
		log_info("dry run: would write the deployment note of %s", ref);
	}
	*left += res == TRAIL_BUSY || res == TRAIL_DRY;
	return 0;
}

/* trail_done: the bump's completion record for environment key */
static int
trail_done(struct ctx *c, const struct mr *m, int key, size_t n, int written)
{
	struct record_op op = { 0 };
	struct buf mk, text;
	int res = 0, rc;

	buf_init(&mk, 0);
	buf_init(&text, 0);
	rc = buf_printf(&mk, "relay:trail env=%s", c->env[key].name);
	if (rc == 0)
		rc = buf_printf(&text,
		    "Deployment notes are up to date on the %zu source MR(s) of this update.",
		    n);
	op.noteable = m->path;
	op.marker = mk.data;
	op.text = text.data;
	if (rc == 0)
		rc = record_once(&res, c->job->gl, &op);
	if (rc == 0)
		log_info(
		    "!%lld: %d deployment note(s) written, %zu source MR(s) up to date",
		    m->iid, written, n);
	buf_free(&mk);
	buf_free(&text);
	return rc;
}

/* trail: the note on each canonical source MR of m's range, then the
 * bump's completion record for the environment (relay:trail env=X); a
 * run that reaches the cap leaves the record unwritten, so the next run
 * finds the notes not yet up to date and writes them */
static int
trail(struct ctx *c, const struct mr *m, const char *merge, int stage)
{
	int key = notes_key(c, stage);
	char **refs = NULL;
	size_t n = 0, i;
	struct buf prefix, text, mk;
	int rc, left = 0, written = 0;

	if (key < 0)
		return 0;
	buf_init(&prefix, 0);
	buf_init(&text, 0);
	buf_init(&mk, 0);
	rc = buf_printf(&prefix, "<!-- relay:trail env=%s ", c->env[key].name);
	/* found (1): the notes are up to date, nothing to write */
	if (rc == 0)
		rc = record_find(NULL, NULL, c->job->gl, m->path, prefix.data);
	if (rc == 0)
		rc = trail_gather(c, m, merge, stage, &refs, &n, &text);
	if (rc == 0)
		rc = buf_printf(&mk, "relay:trail target=%s",
		    job_var(c->job, "RELAY_TARGET_PROJECT"));
	for (i = 0; rc == 0 && i < n; i++) {
		if (c->notes_left <= 0) {
			left = (int)(n - i);
			break;
		}
		rc = trail_one(
		    c, refs[i], mk.data, text.data, stage + 1, &written, &left);
	}
	if (rc == 0 && left)
		log_info("!%lld: %d source note(s) left for the next run",
		    m->iid, left);
	else if (rc == 0)
		rc = trail_done(c, m, key, n, written);
	trail_refs_free(refs, n);
	buf_free(&prefix);
	buf_free(&text);
	buf_free(&mk);
	return rc < 0 ? rc : 0;
}

/* track: one merged MR; *stage is the index of the furthest environment
 * it reached (-1: none) */
static int
track(struct ctx *c, const struct mr *m, int *stage)
{
	const char *merge = m->merge_sha[0] ? m->merge_sha : m->sha;
	struct hit h;
	int cur = -1, i, rc;

	for (i = 0; i < (int)c->nenv; i++)
		if (mr_has_label(m, c->env[i].label))
			cur = i;
	*stage = cur;
	if (strcmp(m->state, "merged") != 0) {
		log_info("!%lld is %s, not merged: nothing deployed", m->iid,
		    m->state);
		return 0;
	}
	if (!is_sha(merge))
		return err_set(
		    E_PARSE, "merged !%lld has no merge commit SHA", m->iid);
	for (i = (int)c->nenv - 1; i > cur; i--) {
		rc = reached(c, m, merge, &c->env[i], &h);
		if (rc < 0)
			return rc;
		if (rc == 1) {
			*stage = i;
			log_info("!%lld (%.12s) reached %s", m->iid, merge,
			    c->env[i].name);
			rc = announce(c, m, merge, &c->env[i], &h, 0);
			return rc < 0 ? rc : trail(c, m, merge, i);
		}
	}
	if (cur < 0) {
		log_info("!%lld (%.12s) is not deployed yet", m->iid, merge);
		return 0;
	}
	log_info("!%lld (%.12s) is at %s", m->iid, merge, c->env[cur].name);
	/* source notes the cap or a failure left for this run */
	rc = trail(c, m, merge, cur);
	if (rc < 0 || !c->hook)
		return rc;
	/* a message that Slack did not take last time */
	memset(&h, 0, sizeof(h));
	return announce(c, m, merge, &c->env[cur], &h, 1);
}

static int
track_iid(struct ctx *c, long long iid, int *stage)
{
	struct mr m = { 0 };
	int rc = mr_read(&m, c->job->gl, c->tgt, iid);

	if (rc == 0)
		rc = track(c, &m, stage);
	mr_free(&m);
	return rc;
}

/* the state of a pass over the merged bump MRs */
struct sweep {
	long long now; /* GitLab's clock */
	long long newest; /* the newest merge seen */
	int stage; /* the environment it reached */
	int n; /* MRs tracked */
	int worst; /* the first failure, reported at the end */
	char why[512];
};

/* sweep_fail: one MR failed; the others go on */
static void
sweep_fail(struct sweep *sw, int rc)
{
	log_warn("%s", err_msg());
	if (!sw->worst) {
		sw->worst = rc;
		snprintf(sw->why, sizeof(sw->why), "%s", err_msg());
	}
}

static void
sweep_seen(struct sweep *sw, long long merged, int stage)
{
	if (merged > sw->newest) {
		sw->newest = merged;
		sw->stage = stage;
	}
}

/* settled: 1 when merged bump MR iid, at the last environment, owes
 * nothing: its message was delivered (Slack was up) and its source notes
 * have their completion record; a failure to tell counts as settled */
static int
settled(struct ctx *c, struct sweep *sw, long long iid)
{
	int key = notes_key(c, (int)c->nenv - 1);
	struct buf path, msg, notes;
	int rc, bad, done = 1;

	buf_init(&path, 0);
	buf_init(&msg, 0);
	buf_init(&notes, 0);
	buf_printf(&path, "%s/merge_requests/%lld", c->tgt, iid);
	buf_printf(
	    &msg, "<!-- relay:deployed env=%s ", c->env[c->nenv - 1].name);
	if (key >= 0)
		buf_printf(
		    &notes, "<!-- relay:trail env=%s ", c->env[key].name);
	bad = buf_error(&path) || buf_error(&msg) || buf_error(&notes);
	if (bad)
		sweep_fail(sw, err_set(E_NOMEM, "out of memory"));
	if (!bad && c->hook) {
		rc = owed(c, path.data, msg.data);
		if (rc < 0)
			sweep_fail(sw, rc);
		done = rc != 1;
	}
	/* source notes the cap left for later */
	if (!bad && done && key >= 0) {
		rc = record_find(NULL, NULL, c->job->gl, path.data, notes.data);
		if (rc < 0)
			sweep_fail(sw, rc);
		done = rc != 0;
	}
	buf_free(&path);
	buf_free(&msg);
	buf_free(&notes);
	return done;
}

/* sweep_mr: one merged MR of the list (v): followed when it is a bump MR
 * merged within RELAY_DEPLOY_MAX_DAYS that still owes something */
static void
sweep_mr(struct ctx *c, struct sweep *sw, struct jv v)
{
	const char *last = c->env[c->nenv - 1].label;
	const char *labels = job_var(c->job, "RELAY_MR_LABELS");
	long days = job_long(c->job, "RELAY_DEPLOY_MAX_DAYS");
	long long iid = json_intp(v, "iid", 0), ts = 0;
	const char *at = json_strp(v, "merged_at");
	struct json_iter li;
	struct jv l;
	int done = 0, ours = !labels, st = -1, rc;

	/* ours: one of the bump labels is enough, as people edit labels;
	 * done: at the last environment */
	json_iter_init(&li, json_get(v, "labels"));
	while (json_iter_next(&li, &l, NULL) && json_str(l)) {
		done |= strcmp(json_str(l), last) == 0;
		ours |= list_has(labels, json_str(l));
	}
	if (!ours || iid <= 0)
		return;
	if (!at || iso8601_parse(&ts, at) < 0)
		ts = 0;
	if (ts && sw->now - ts > (long long)days * 86400)
		return; /* merged too long ago */
	if (done && settled(c, sw, iid)) {
		sweep_seen(sw, ts, (int)c->nenv - 1);
		return;
	}
	rc = track_iid(c, iid, &st);
	sw->n++;
	if (rc < 0)
		sweep_fail(sw, rc);
	sweep_seen(sw, ts, st);
}

/* list_merged: a pager over the merged bump MRs updated (so merged)
 * within RELAY_DEPLOY_MAX_DAYS of *now, GitLab's clock */
static int
list_merged(struct ctx *c, struct gitlab_pager *pg, long long *now)
{
	char *branch = url_escape(job_var(c->job, "RELAY_MR_BRANCH"));
	long per = job_long(c->job, "RELAY_DEPLOY_MAX_MRS");
	long days = job_long(c->job, "RELAY_DEPLOY_MAX_DAYS");
	char after[32] = "";
	char *path = NULL;
	struct tm tm;
	time_t cut;
	int rc = branch ? 0 : err_set(E_NOMEM, "out of memory");

	/* "merged within N days" by GitLab's clock (merged_at is GitLab's),
	 * not the runner's: one read of the target project tells its Date */
	if (rc == 0 && c->job->gl->date <= 0) {
		rc = gitlab_call(c->job->gl, NULL, "GET", c->tgt, NULL);
		if (rc < 0)
			rc = err_prefix(rc, "cannot read the target project: ");
	}
	*now = gitlab_now(c->job->gl);
	cut = (time_t)(*now - (long long)days * 86400);
	/* a merge updates the MR: updated_after bounds the list by the
	 * merge time, whatever happened to older MRs since */
	if (rc == 0 &&
	    (!gmtime_r(&cut, &tm) ||
		!strftime(after, sizeof(after), "%Y-%m-%dT%H:%M:%SZ", &tm)))
		rc = err_set(E_FAIL, "cannot format the time");
	if (rc == 0)
		path =
		    str_printf("%s/merge_requests?state=merged&source_branch=%s"
			       "&updated_after=%s&order_by=updated_at&sort=desc"
			       "&per_page=%ld",
			c->tgt, branch, after, per);
	if (rc == 0)
		rc = path ? gitlab_pager_init(pg, c->job->gl, path, 1000)
			  : err_set(E_NOMEM, "out of memory");
	free(path);
	free(branch);
	return rc;
}

/* track_all: every merged bump MR not yet at the last environment, merged
 * within RELAY_DEPLOY_MAX_DAYS, in pages (hourly bumps during a long
 * rollout are many); a failure on one MR does not stop the others.
 * *stage is that of the newest merge. */
static int
track_all(struct ctx *c, int *stage)
{
	struct sweep sw = { .newest = -1, .stage = -1 };
	struct gitlab_pager pg;
	struct json *list = NULL;
	int rc = list_merged(c, &pg, &sw.now);

	*stage = -1;
	if (rc < 0)
		return rc;
	while (rc == 0 && (rc = gitlab_pager_next(&pg, &list)) > 0) {
		struct json_iter it;
		struct jv v;

		rc = 0;
		json_iter_init(&it, json_root(list));
		while (json_iter_next(&it, &v, NULL))
			sweep_mr(c, &sw, v);
		json_free(list);
		list = NULL;
	}
	gitlab_pager_free(&pg);
	*stage = sw.stage;
	if (rc < 0)
		return err_prefix(rc, "cannot list merged bump MRs: ");
	if (sw.n == 0)
		log_info("no merged bump MR to follow");
	return sw.worst ? err_set(sw.worst, "%s", sw.why) : 0;
}

static void
ctx_free(struct ctx *c)
{
	size_t i;

	free(c->tgt);
	free(c->src);
	for (i = 0; i < c->nenv; i++)
		json_free(c->env[i].deps);
}

static int
cmd_track_deploy(struct job *job)
{
	struct ctx c;
	long iid;
	int rc, stage = -1;

	memset(&c, 0, sizeof(c));
	c.job = job;
	c.hook = job_var(job, "RELAY_SLACK_ALERTS_URL");
	rc = parse_envs(&c, job_var(job, "RELAY_ENVIRONMENTS"));
	iid = job_long(job, "MR_IID"); /* 0: every merged bump MR */
	if (rc == 0) {
		c.tgt =
		    gitlab_project_path(job_var(job, "RELAY_TARGET_PROJECT"));
		if (!c.tgt)
			rc = err_set(E_NOMEM, "out of memory");
	}
	if (rc == 0 && job_bool(job, "RELAY_SOURCE_NOTES")) {
		c.notes_max = job_long(job, "RELAY_SOURCE_NOTES_MAX");
		c.notes_left = c.notes_max;
		rc = parse_notes_envs(
		    &c, job_var(job, "RELAY_SOURCE_NOTES_ENVS"));
		c.src =
		    gitlab_project_path(job_var(job, "RELAY_SOURCE_PROJECT"));
		if (rc == 0 && !c.src)
			rc = err_set(E_NOMEM, "out of memory");
	}
	if (rc == 0)
		rc = iid ? track_iid(&c, iid, &stage) : track_all(&c, &stage);
	ctx_free(&c); /* the environments' names stay, in c.env */
	if (rc == 0 || stage >= 0)
		job_out(job, "DEPLOY_STAGE",
		    stage >= 0 ? c.env[stage].name : "none");
	return rc;
}

JOB_STAGE(.name = "track-deploy",
    .synopsis = "Follow merged bump MRs through the environments: labels and "
		"Slack.",
    .flags = JOB_API, .run = cmd_track_deploy, .connect = job_api)
