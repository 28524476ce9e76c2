/* relay-find-green: the latest green commit of the source branch, and what
 * the target pins now.
 *
 * "Latest" is the newest commit in first-parent order of the source branch;
 * "green" means that commit's latest pipeline on the branch succeeded. The
 * search pairs one page of successful pipelines with one page of
 * first-parent commits and verifies the candidate's latest pipeline: three
 * requests in the common case, whatever the history depth. It never goes
 * older than the pinned SHA: the result must descend from it.
 *
 * Variables: common ones (docs/contract.md), RELAY_PIN_SHA (manual pipelines:
 * pin this SHA instead), RELAY_ALLOW_DOWNGRADE, RELAY_MAX_COMMITS.
 * Outputs: GREEN_SHA, GREEN_PIPELINE_ID, GREEN_PIPELINE_URL, CURRENT_SHA,
 * UP_TO_DATE, SOURCE_WEB_URL (for relay-open-mr). UP_TO_DATE=true carries GREEN_SHA=CURRENT_SHA, so no later
 * stage can pin anything older. On exit 1 after the pin was read:
 * GREEN_SHA empty, CURRENT_SHA, UP_TO_DATE=false (relay-open-mr: nothing
 * to do).
 * Exit: 0 found or up to date; 1 no green commit, or the pin diverged;
 * 64 bad RELAY_PIN_SHA; 69/75/78 as in docs/contract.md. */
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
#include "json.h"
#include "log.h"
#include "range.h"
#include "url.h"
#include "util.h"

static const struct env_var stage_vars[] = {
	ENV_SHA("RELAY_PIN_SHA", 0, "pin this 40-hex SHA instead of searching"),
	ENV_BOOL("RELAY_ALLOW_DOWNGRADE", 0, "false",
	    "true: accept a RELAY_PIN_SHA that does not descend from the pin"),
	ENV_LONG("RELAY_MAX_COMMITS", 0, "2000", 1, 100000,
	    "first-parent commits scanned at most for a green one"),
};

struct ctx {
	struct job *job;
	struct gitlab *gl;
	char *src; /* "/projects/<source>" */
	char *branch; /* source branch */
	char *src_url; /* source web URL */
	char current[41]; /* pinned SHA in the target */
	long max_commits;
};

/* ctx_free: what the context owns */
static void
ctx_free(struct ctx *c)
{
	free(c->src);
	free(c->branch);
	free(c->src_url);
}

/* Successful pipelines of the branch, newest first, fetched lazily. */
struct greens {
	struct gitlab_pager pager;
	struct json **pages;
	size_t npages;
	long long oldest_ts; /* created_at of the oldest pipeline seen */
	int done;
};

/* is_version: "X.Y.Z", optionally "-suffix" (17.5.1, 17.6.0-rc42), as the
 * version file on a stable branch holds it */
static int
is_version(const char *s)
{
	int part;

	for (part = 0; part < 3; part++) {
		if (part > 0 && *s++ != '.')
			return 0;
		if (*s < '0' || *s > '9')
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == '-' && s[1])
		for (s++; *s; s++)
			if (!strchr("abcdefghijklmnopqrstuvwxyz"
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-",
				*s))
				return 0;
	return *s == '\0';
}

/* resolve_pin: the commit of a pin that is not a SHA: a stable branch may
 * pin a tag, or a version X.Y.Z that names tag vX.Y.Z of the source */
static int
resolve_pin(struct ctx *c, const char *body)
{
	struct json *d = NULL;
	char tag[300] = "";
	const char *id, *file = job_var(c->job, "RELAY_VERSION_FILE");
	char *e;
	int rc = E_NOTFOUND;

	if (is_version(body))
		snprintf(tag, sizeof(tag), "v%s", body);
	e = url_escape(tag[0] ? tag : body);
	if (!e)
		return err_set(E_NOMEM, "out of memory");
	if (strlen(body) > 0 && strlen(body) < 256 && !strpbrk(body, " \t\n"))
		rc = gitlab_getf(
		    c->gl, &d, "%s/repository/commits/%s", c->src, e);
	free(e);
	id = rc == 0 ? json_strp(json_root(d), "id") : NULL;
	if (id && is_sha(id)) {
		snprintf(c->current, sizeof(c->current), "%s", id);
		log_info("%s pins '%.60s'%s%s%s, which is %.12s", file, body,
		    tag[0] ? " (tag " : "", tag, tag[0] ? ")" : "", c->current);
		rc = 0;
	} else if (rc != E_TEMP && tag[0]) {
		rc = err_set(E_PERM,
		    "%s of %s holds version '%.60s', but %s has no tag %.61s",
		    file, job_var(c->job, "RELAY_TARGET_PROJECT"), body,
		    job_var(c->job, "RELAY_SOURCE_PROJECT"), tag);
	} else if (rc != E_TEMP) {
		rc = err_set(E_PERM,
		    "%s of %s holds '%.60s', which is neither a 40-hex SHA nor a ref of %s",
		    file, job_var(c->job, "RELAY_TARGET_PROJECT"), body,
		    job_var(c->job, "RELAY_SOURCE_PROJECT"));
	}
	json_free(d);
	return rc;
}

/* read_current: the SHA the target pins now (without RELAY_TARGET_BRANCH,
 * GitLab reads the default branch) */
static int
read_current(struct ctx *c)
{
	char *body = NULL;
	char *tgt =
	    gitlab_project_path(job_var(c->job, "RELAY_TARGET_PROJECT"));
	int rc = tgt ? gitlab_file(c->gl, &body, tgt,
			   job_var(c->job, "RELAY_VERSION_FILE"),
			   job_var(c->job, "RELAY_TARGET_BRANCH"))
		     : err_set(E_NOMEM, "out of memory");

	free(tgt);
	if (rc < 0) {
		err_prefix(rc, "cannot read %s of %s: ",
		    job_var(c->job, "RELAY_VERSION_FILE"),
		    job_var(c->job, "RELAY_TARGET_PROJECT"));
	} else if (is_sha(str_trim(body))) {
		sha_lower(c->current, body);
	} else {
		rc = resolve_pin(c, body);
	}
	free(body);
	return rc;
}

/* prefetch_pin: the pin is read whatever the source project answers:
 * both go out at once */
static int
prefetch_pin(struct ctx *c)
{
	char *tgt =
	    gitlab_project_path(job_var(c->job, "RELAY_TARGET_PROJECT"));
	int rc = tgt ? gitlab_prefetch_file(c->gl, tgt,
			   job_var(c->job, "RELAY_VERSION_FILE"),
			   job_var(c->job, "RELAY_TARGET_BRANCH"))
		     : err_set(E_NOMEM, "out of memory");

	free(tgt);
	return rc;
}

static int
read_source(struct ctx *c)
{
	return gitlab_project_read(&c->branch, &c->src_url, c->gl, c->src,
	    job_var(c->job, "RELAY_SOURCE_PROJECT"),
	    job_var(c->job, "RELAY_SOURCE_BRANCH"));
}

/* latest_pipeline: the newest pipeline of sha on the branch (any status);
 * *out is NULL when there is none. Caller frees *out. */
static int
latest_pipeline(struct ctx *c, struct json **out, const char *sha)
{
	char *ref = url_escape(c->branch);
	int rc = ref ? gitlab_listf(c->gl, out,
			   "%s/pipelines?ref=%s&sha=%s&per_page=1"
			   "&order_by=id&sort=desc",
			   c->src, ref, sha)
		     : err_set(E_NOMEM, "out of memory");

	free(ref);
	return rc < 0 ? err_prefix(rc, "cannot read pipelines of %.12s: ", sha)
		      : 0;
}

static int
greens_more(struct ctx *c, struct greens *g)
{
	struct json *page = NULL, **np;
	struct json_iter it;
	struct jv e;
	int rc = gitlab_pager_next(&g->pager, &page);

	if (rc < 0)
		return err_prefix(rc, "cannot list successful pipelines: ");
	if (rc == 0) {
		g->done = 1;
		return 0;
	}
	np = realloc(g->pages, (g->npages + 1) * sizeof(*np));
	if (!np) {
		json_free(page);
		return err_set(E_NOMEM, "out of memory");
	}
	g->pages = np;
	g->pages[g->npages++] = page;
	json_iter_init(&it, json_root(page));
	while (json_iter_next(&it, &e, NULL)) {
		long long ts;
		const char *at = json_strp(e, "created_at");

		if (at && iso8601_parse(&ts, at) == 0 && ts < g->oldest_ts)
			g->oldest_ts = ts;
	}
	if (!g->pager.next)
		g->done = 1;
	(void)c;
	return 1;
}

/* greens_find: the newest successful pipeline listed for sha, fetching
 * more pages while they could still hold one: a pipeline is never older
 * than its commit, so pages older than commit_ts cannot. */
static int
greens_find(struct ctx *c, struct greens *g, struct jv *out, const char *sha,
    long long commit_ts)
{
	size_t i = 0;
	int rc;

	for (;;) {
		for (; i < g->npages; i++) {
			struct json_iter it;
			struct jv e;

			json_iter_init(&it, json_root(g->pages[i]));
			while (json_iter_next(&it, &e, NULL)) {
				const char *s = json_strp(e, "sha");

				if (s && strcasecmp(s, sha) == 0) {
					*out = e;
					return 1;
				}
			}
		}
		if (g->done || g->oldest_ts < commit_ts)
			return 0;
		rc = greens_more(c, g);
		if (rc <= 0)
			return rc;
	}
}

/* descends: 1 when sha descends from (or is) the pinned SHA, 0 when the
 * pin is newer (sha is its ancestor), -2 when they diverged */
static int
descends(struct ctx *c, int *out, const char *sha)
{
	char base[41];
	int rc;

	if (strcasecmp(sha, c->current) == 0) {
		*out = 1;
		return 0;
	}
	rc = range_merge_base(base, c->gl, c->src, c->current, sha);
	if (rc < 0)
		return rc;
	if (rc == 0)
		*out = -2;
	else if (strcasecmp(base, c->current) == 0)
		*out = 1;
	else if (strcasecmp(base, sha) == 0)
		*out = 0;
	else
		*out = -2;
	return 0;
}

static int
emit(struct ctx *c, const char *green, const char *pl_id, const char *pl_url,
    int up_to_date)
{
	int rc = job_out(c->job, "GREEN_SHA", green);

	if (rc == 0)
		rc = job_out(c->job, "GREEN_PIPELINE_ID", pl_id ? pl_id : "");
	if (rc == 0)
		rc =
		    job_out(c->job, "GREEN_PIPELINE_URL", pl_url ? pl_url : "");
	if (rc == 0)
		rc = job_out(c->job, "CURRENT_SHA", c->current);
	if (rc == 0)
		rc = job_out(
		    c->job, "UP_TO_DATE", up_to_date ? "true" : "false");
	/* read here anyway: relay-open-mr need not read it again */
	if (rc == 0)
		rc = job_out(c->job, "SOURCE_WEB_URL", c->src_url);
	return rc;
}

/* report_latest: the pinned commit's latest pipeline for the report, and a
 * warning when it did not succeed */
static int
report_latest(struct ctx *c, const char *sha)
{
	struct json *pls = NULL;
	struct jv p;
	char id[32] = "";
	const char *st;
	int rc = latest_pipeline(c, &pls, sha);

	p = json_get(json_root(pls), "0");
	st = json_strp(p, "status");
	if (rc == 0 && json_size(json_root(pls)) > 0) {
		snprintf(id, sizeof(id), "%lld", json_intp(p, "id", 0));
		if (!st || strcmp(st, "success") != 0)
			log_warn("pinned %.12s: its latest pipeline is %s", sha,
			    st ? st : "unknown");
	}
	if (rc == 0) {
		log_info("pinning %.12s as asked by RELAY_PIN_SHA", sha);
		rc = emit(c, sha, id[0] ? id : NULL,
		    id[0] ? json_strp(p, "web_url") : NULL,
		    strcasecmp(sha, c->current) == 0);
	}
	json_free(pls);
	return rc;
}

static int
pinned(struct ctx *c, const char *pin)
{
	struct json *d = NULL;
	char sha[41];
	int rc, rel;

	rc = gitlab_getf(c->gl, &d, "%s/repository/commits/%s", c->src, pin);
	if (rc == E_NOTFOUND)
		return err_set(E_USAGE,
		    "RELAY_PIN_SHA %.12s is not a commit of %s", pin,
		    job_var(c->job, "RELAY_SOURCE_PROJECT"));
	if (rc < 0)
		return err_prefix(rc, "cannot read commit %.12s: ", pin);
	snprintf(sha, sizeof(sha), "%s",
	    json_strp(json_root(d), "id") ? json_strp(json_root(d), "id")
					  : pin);
	json_free(d);
	rc = descends(c, &rel, sha);
	if (rc < 0)
		return rc;
	if (rel != 1 && !job_bool(c->job, "RELAY_ALLOW_DOWNGRADE"))
		return job_no(
		    "RELAY_PIN_SHA %.12s does not descend from the pinned %.12s (%s); set RELAY_ALLOW_DOWNGRADE=true to pin it anyway",
		    sha, c->current,
		    rel == 0 ? "it is older" : "they diverged");
	if (rel != 1)
		log_warn(
		    "pinning %.12s although it does not descend from %.12s (RELAY_ALLOW_DOWNGRADE=true)",
		    sha, c->current);
	return report_latest(c, sha);
}

/* ---- the search ---- */

/* The walk over first-parent commits, newest first. */
struct walk {
	struct greens g;
	struct gitlab_pager commits;
	struct json *page; /* the page of commits being read */
	struct json_iter it; /* the next commit on it */
	struct json *latest; /* latest pipeline of the last candidate */
	long seen, skipped;
	char newest_skipped[41]; /* newer than the result: why passed */
	int found, reached_pin;
};

/* walk_open: the pagers, and the first page of green pipelines */
static int
walk_open(struct ctx *c, struct walk *w)
{
	char *ref = url_escape(c->branch);
	int rc;

	if (!ref)
		return err_set(E_NOMEM, "out of memory");
	rc = gitlab_pager_initf(&w->g.pager, c->gl, 50,
	    "%s/pipelines?ref=%s&status=success&per_page=100"
	    "&order_by=id&sort=desc",
	    c->src, ref);
	if (rc == 0)
		rc = range_pager(&w->commits, c->gl, c->src, ref,
		    (int)((c->max_commits + 99) / 100));
	free(ref);
	/* the first pages of both lists at once */
	if (rc == 0)
		rc = gitlab_pager_prefetch(&w->commits);
	return rc < 0 ? rc : greens_more(c, &w->g);
}

static void
walk_free(struct walk *w)
{
	while (w->g.npages > 0)
		json_free(w->g.pages[--w->g.npages]);
	free(w->g.pages);
	gitlab_pager_free(&w->g.pager);
	gitlab_pager_free(&w->commits);
	json_free(w->page);
	json_free(w->latest);
}

/* walk_next: the next first-parent commit (*sha, *ts its commit time):
 * 1, or 0 after the last one */
static int
walk_next(struct ctx *c, struct walk *w, const char **sha, long long *ts)
{
	struct jv e;
	const char *at;
	int rc;

	while (!w->page || !json_iter_next(&w->it, &e, NULL)) {
		json_free(w->page);
		w->page = NULL;
		rc = gitlab_pager_next(&w->commits, &w->page);
		if (rc < 0)
			return err_prefix(
			    rc, "cannot list commits of %s: ", c->branch);
		if (rc == 0)
			return 0;
		json_iter_init(&w->it, json_root(w->page));
	}
	*sha = json_strp(e, "id");
	if (!*sha || !is_sha(*sha))
		return err_set(
		    E_PARSE, "commit list: entry without a valid id");
	at = json_strp(e, "committed_date");
	*ts = 0;
	if (at)
		iso8601_parse(ts, at);
	return 1;
}

/* candidate: sha is green when a successful pipeline of it is listed and
 * its latest pipeline succeeded (a newer one may have failed): 1, else 0 */
static int
candidate(struct ctx *c, struct walk *w, const char *sha, long long ts)
{
	struct jv pl;
	const char *st;
	int rc = greens_find(c, &w->g, &pl, sha, ts);

	if (rc == 0 && !w->skipped++)
		snprintf(
		    w->newest_skipped, sizeof(w->newest_skipped), "%s", sha);
	if (rc <= 0)
		return rc;
	json_free(w->latest);
	w->latest = NULL;
	rc = latest_pipeline(c, &w->latest, sha);
	if (rc < 0)
		return rc;
	pl = json_get(json_root(w->latest), "0");
	st = json_strp(pl, "status");
	if (st && strcmp(st, "success") == 0)
		return 1;
	log_info("%.12s had a green pipeline, but its latest (%lld) is %s", sha,
	    json_intp(pl, "id", 0), st ? st : "unknown");
	return 0;
}

/* pin_below: the pin is further down the page of the green commit. The
 * page lists first-parent ancestors, newest first, so the green commit
 * descends from it: the page already answers what a merge base would. */
static int
pin_below(struct ctx *c, const struct walk *w)
{
	struct json_iter it = w->it;
	struct jv e;
	const char *sha;

	while (json_iter_next(&it, &e, NULL)) {
		sha = json_strp(e, "id");
		if (sha && strcasecmp(sha, c->current) == 0)
			return 1;
	}
	return 0;
}

/* found_green: the green commit the walk found, unless it does not descend
 * from the pin (the walk met no pin before it) */
static int
found_green(struct ctx *c, const struct walk *w)
{
	struct jv pl = json_get(json_root(w->latest), "0");
	const char *sha = json_strp(pl, "sha");
	char id[32];
	int rc, rel = 1;

	rc = pin_below(c, w) ? 0 : descends(c, &rel, sha);
	if (rc < 0)
		return rc;
	if (rel == 0) {
		log_info(
		    "the pinned %.12s is newer than the latest green %.12s: nothing to do",
		    c->current, sha);
		return emit(c, c->current, NULL, NULL, 1);
	}
	if (rel < 0)
		return job_no(
		    "latest green %.12s does not descend from the pinned %.12s (diverged): refusing to move the pin",
		    sha, c->current);
	snprintf(id, sizeof(id), "%lld", json_intp(pl, "id", 0));
	if (w->skipped)
		log_info(
		    "skipped %ld newer commit(s) without a successful pipeline, the newest %.12s",
		    w->skipped, w->newest_skipped);
	log_info("latest green commit of %s@%s: %.12s (pipeline %s)",
	    job_var(c->job, "RELAY_SOURCE_PROJECT"), c->branch, sha, id);
	return emit(c, sha, id, json_strp(pl, "web_url"),
	    strcasecmp(sha, c->current) == 0);
}

/* walk_end: what the walk found, in the report */
static int
walk_end(struct ctx *c, const struct walk *w)
{
	log_debug(
	    "scanned %ld first-parent commits, %zu page(s) of green pipelines, %ld requests so far",
	    w->seen, w->g.npages, http_requests(c->job->http));
	if (w->found)
		return found_green(c, w);
	if (!w->reached_pin)
		return job_no(
		    "no green commit in the last %ld first-parent commits of %s@%s",
		    w->seen, job_var(c->job, "RELAY_SOURCE_PROJECT"),
		    c->branch);
	log_info("no green commit newer than the pinned %.12s: up to date",
	    c->current);
	return emit(c, c->current, NULL, NULL, 1);
}

/* search: walk first-parent commits newest first until a green one or the
 * pinned SHA */
static int
search(struct ctx *c)
{
	struct walk w;
	const char *sha = NULL;
	long long ts = 0;
	int rc;

	memset(&w, 0, sizeof(w));
	w.g.oldest_ts = (long long)1 << 62;
	rc = walk_open(c, &w);
	while (
	    rc >= 0 && !w.found && !w.reached_pin && w.seen < c->max_commits) {
		rc = walk_next(c, &w, &sha, &ts);
		if (rc <= 0)
			break;
		w.seen++;
		w.reached_pin = strcasecmp(sha, c->current) == 0;
		rc = w.reached_pin ? 0 : candidate(c, &w, sha, ts);
		w.found = rc == 1;
	}
	if (rc >= 0)
		rc = walk_end(c, &w);
	walk_free(&w);
	return rc;
}

static int
cmd_find_green(struct job *job)
{
	struct ctx c;
	const char *pin;
	int rc;

	memset(&c, 0, sizeof(c));
	c.job = job;
	c.gl = job->gl;
	pin = job_var(job, "RELAY_PIN_SHA");
	c.max_commits = job_long(job, "RELAY_MAX_COMMITS");
	c.src = gitlab_project_path(job_var(job, "RELAY_SOURCE_PROJECT"));
	rc = c.src ? 0 : err_set(E_NOMEM, "out of memory");
	if (rc == 0)
		rc = prefetch_pin(&c);
	if (rc == 0)
		rc = read_source(&c);
	if (rc == 0)
		rc = read_current(&c);
	if (rc == 0)
		rc = pin ? pinned(&c, pin) : search(&c);
	/* the answer is no, but the pin was read: relay-open-mr then has
	 * nothing to do (GREEN_SHA empty, CURRENT_SHA set) and says so */
	if (rc == EXIT_NO && c.current[0]) {
		job_out(job, "GREEN_SHA", "");
		job_out(job, "CURRENT_SHA", c.current);
		job_out(job, "UP_TO_DATE", "false");
	}
	ctx_free(&c);
	return rc;
}

JOB_STAGE(.name = "find-green",
    .synopsis =
	"Find the latest green commit of the source branch (first-parent "
	"order, never older than the pinned SHA).",
    .flags = JOB_API, .exit_no = "no green commit, or the pinned SHA diverged",
    .run = cmd_find_green, .connect = job_api)
