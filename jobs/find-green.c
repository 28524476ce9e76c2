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
 * UP_TO_DATE. UP_TO_DATE=true carries GREEN_SHA=CURRENT_SHA, so no later
 * stage can pin anything older. On exit 1 after the pin was read:
 * GREEN_SHA empty, CURRENT_SHA, UP_TO_DATE=false (relay-open-mr: nothing
 * to do).
 * Exit: 0 found or up to date; 1 no green commit, or the pin diverged;
 * 64 bad RELAY_PIN_SHA; 69/75/78 as in docs/contract.md. */
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
	char *tgt; /* "/projects/<target>" */
	char *branch; /* source branch */
	char *src_url; /* source web URL */
	char current[41]; /* pinned SHA in the target */
	long max_commits;
};

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

static int
read_current(struct ctx *c)
{
	struct buf path;
	char *file = url_escape(job_var(c->job, "RELAY_VERSION_FILE"));
	const char *tbranch = job_var(c->job, "RELAY_TARGET_BRANCH");
	char *ref = tbranch ? url_escape(tbranch) : NULL, *body = NULL;
	int rc;

	buf_init(&path, 0);
	if (!file || (tbranch && !ref)) {
		rc = err_set(E_NOMEM, "out of memory");
		goto out;
	}
	/* without ref, GitLab reads the default branch */
	rc = buf_printf(&path, "%s/repository/files/%s/raw%s%s", c->tgt, file,
	    ref ? "?ref=" : "", ref ? ref : "");
	if (rc == 0)
		rc = gitlab_raw(c->gl, &body, path.data);
	if (rc < 0) {
		err_prefix(rc, "cannot read %s of %s: ",
		    job_var(c->job, "RELAY_VERSION_FILE"),
		    job_var(c->job, "RELAY_TARGET_PROJECT"));
		goto out;
	}
	str_trim(body);
	if (is_sha(body)) {
		sha_lower(c->current, body);
	} else {
		/* a stable branch may pin a tag, or a version X.Y.Z that
		 * names tag vX.Y.Z: resolve it in the source */
		struct json *d = NULL;
		char tag[300] = "";
		char *e;

		if (is_version(body))
			snprintf(tag, sizeof(tag), "v%s", body);
		e = url_escape(tag[0] ? tag : body);
		buf_reset(&path);
		rc = e
		    ? buf_printf(&path, "%s/repository/commits/%s", c->src, e)
		    : E_NOMEM;
		free(e);
		if (rc == 0 && strlen(body) > 0 && strlen(body) < 256 &&
		    !strpbrk(body, " \t\n"))
			rc = gitlab_call(c->gl, &d, "GET", path.data, NULL);
		else
			rc = E_NOTFOUND;
		if (rc == 0 && json_strp(json_root(d), "id") &&
		    is_sha(json_strp(json_root(d), "id"))) {
			snprintf(c->current, sizeof(c->current), "%s",
			    json_strp(json_root(d), "id"));
			log_info("%s pins '%.60s'%s%s%s, which is %.12s",
			    job_var(c->job, "RELAY_VERSION_FILE"), body,
			    tag[0] ? " (tag " : "", tag, tag[0] ? ")" : "",
			    c->current);
		} else if (rc != E_TEMP && tag[0]) {
			rc = err_set(E_PERM,
			    "%s of %s holds version '%.60s', but %s has no tag %.61s",
			    job_var(c->job, "RELAY_VERSION_FILE"),
			    job_var(c->job, "RELAY_TARGET_PROJECT"), body,
			    job_var(c->job, "RELAY_SOURCE_PROJECT"), tag);
		} else if (rc != E_TEMP) {
			rc = err_set(E_PERM,
			    "%s of %s holds '%.60s', which is neither a 40-hex SHA nor a ref of %s",
			    job_var(c->job, "RELAY_VERSION_FILE"),
			    job_var(c->job, "RELAY_TARGET_PROJECT"), body,
			    job_var(c->job, "RELAY_SOURCE_PROJECT"));
		}
		json_free(d);
	}
out:
	free(body);
	free(file);
	free(ref);
	buf_free(&path);
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
	struct buf path;
	char *ref = url_escape(c->branch);
	int rc;

	buf_init(&path, 0);
	rc = ref ? buf_printf(&path,
		       "%s/pipelines?ref=%s&sha=%s&per_page=1"
		       "&order_by=id&sort=desc",
		       c->src, ref, sha)
		 : E_NOMEM;
	free(ref);
	if (rc == 0)
		rc = gitlab_call(c->gl, out, "GET", path.data, NULL);
	buf_free(&path);
	if (rc < 0)
		return err_prefix(rc, "cannot read pipelines of %.12s: ", sha);
	if (json_type(json_root(*out)) != JSON_ARRAY)
		return err_set(E_PARSE, "pipelines of %.12s: not a list", sha);
	return 0;
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
	return rc;
}

static int
pinned(struct ctx *c, const char *pin)
{
	struct json *d = NULL, *pls = NULL;
	struct buf path;
	char sha[41], id[32] = "";
	const char *url = NULL;
	int rc, allow = job_bool(c->job, "RELAY_ALLOW_DOWNGRADE"), rel;

	buf_init(&path, 0);
	rc = buf_printf(&path, "%s/repository/commits/%s", c->src, pin);
	if (rc == 0)
		rc = gitlab_call(c->gl, &d, "GET", path.data, NULL);
	buf_free(&path);
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
	if (rel != 1 && !allow)
		return job_no(
		    "RELAY_PIN_SHA %.12s does not descend from the pinned %.12s (%s); set RELAY_ALLOW_DOWNGRADE=true to pin it anyway",
		    sha, c->current,
		    rel == 0 ? "it is older" : "they diverged");
	if (rel != 1)
		log_warn(
		    "pinning %.12s although it does not descend from %.12s (RELAY_ALLOW_DOWNGRADE=true)",
		    sha, c->current);
	rc = latest_pipeline(c, &pls, sha);
	if (rc == 0 && json_size(json_root(pls)) > 0) {
		struct jv p = json_get(json_root(pls), "0");

		snprintf(id, sizeof(id), "%lld", json_intp(p, "id", 0));
		url = json_strp(p, "web_url");
		if (!json_strp(p, "status") ||
		    strcmp(json_strp(p, "status"), "success") != 0)
			log_warn("pinned %.12s: its latest pipeline is %s", sha,
			    json_strp(p, "status") ? json_strp(p, "status")
						   : "unknown");
	}
	if (rc == 0) {
		log_info("pinning %.12s as asked by RELAY_PIN_SHA", sha);
		rc = emit(c, sha, id[0] ? id : NULL, url,
		    strcasecmp(sha, c->current) == 0);
	}
	json_free(pls);
	return rc;
}

/* search: walk first-parent commits newest first until a green one or the
 * pinned SHA */
static int
search(struct ctx *c)
{
	struct greens g;
	struct gitlab_pager commits;
	struct buf path;
	struct json *page = NULL, *latest = NULL;
	char *ref = url_escape(c->branch);
	long seen = 0, skipped = 0;
	char newest_skipped[41] = "";
	int rc, found = 0, reached_pin = 0;

	memset(&g, 0, sizeof(g));
	g.oldest_ts = (long long)1 << 62;
	buf_init(&path, 0);
	if (!ref)
		return err_set(E_NOMEM, "out of memory");
	rc = buf_printf(&path,
	    "%s/pipelines?ref=%s&status=success&per_page=100"
	    "&order_by=id&sort=desc",
	    c->src, ref);
	if (rc == 0)
		rc = gitlab_pager_init(&g.pager, c->gl, path.data, 50);
	buf_reset(&path);
	if (rc == 0)
		rc = buf_printf(&path,
		    "%s/repository/commits?ref_name=%s"
		    "&first_parent=true&per_page=100",
		    c->src, ref);
	if (rc == 0)
		rc = gitlab_pager_init(&commits, c->gl, path.data,
		    (int)((c->max_commits + 99) / 100));
	if (rc < 0)
		goto out0;
	if (rc == 0)
		rc = greens_more(c, &g);
	while (rc >= 0 && !found && !reached_pin && seen < c->max_commits) {
		struct json_iter it;
		struct jv e;

		json_free(page);
		page = NULL;
		rc = gitlab_pager_next(&commits, &page);
		if (rc < 0)
			err_prefix(
			    rc, "cannot list commits of %s: ", c->branch);
		if (rc <= 0)
			break;
		json_iter_init(&it, json_root(page));
		while (!found && seen < c->max_commits &&
		    json_iter_next(&it, &e, NULL)) {
			const char *sha = json_strp(e, "id");
			const char *at = json_strp(e, "committed_date");
			long long ts = 0;
			struct jv pl;
			int hit;

			if (!sha || !is_sha(sha)) {
				rc = err_set(E_PARSE,
				    "commit list: entry without a valid id");
				break;
			}
			seen++;
			if (strcasecmp(sha, c->current) == 0) {
				reached_pin = 1;
				break;
			}
			if (at)
				iso8601_parse(&ts, at);
			hit = greens_find(c, &g, &pl, sha, ts);
			if (hit < 0) {
				rc = hit;
				break;
			}
			if (!hit) {
				/* newer than the result: say why it was passed */
				if (!skipped++)
					snprintf(newest_skipped,
					    sizeof(newest_skipped), "%s", sha);
				continue;
			}
			/* a newer pipeline of the same SHA may have failed */
			json_free(latest);
			latest = NULL;
			rc = latest_pipeline(c, &latest, sha);
			if (rc < 0)
				break;
			pl = json_get(json_root(latest), "0");
			if (json_strp(pl, "status") &&
			    strcmp(json_strp(pl, "status"), "success") == 0) {
				found = 1;
				break;
			}
			log_info(
			    "%.12s had a green pipeline, but its latest (%lld) is %s",
			    sha, json_intp(pl, "id", 0),
			    json_strp(pl, "status") ? json_strp(pl, "status")
						    : "unknown");
		}
	}
	if (rc < 0)
		goto out;
	rc = 0;
	log_debug(
	    "scanned %ld first-parent commits, %zu page(s) of green pipelines, %ld requests so far",
	    seen, g.npages, http_requests(c->job->http));
	if (found) {
		struct jv pl = json_get(json_root(latest), "0");
		const char *sha = json_strp(pl, "sha");
		char id[32];
		int rel = 1;

		/* the walk met no pin before this commit: ask the server */
		rc = descends(c, &rel, sha);
		if (rc < 0)
			goto out;
		if (rel == 0) {
			log_info(
			    "the pinned %.12s is newer than the latest green %.12s: nothing to do",
			    c->current, sha);
			rc = emit(c, c->current, NULL, NULL, 1);
			goto out;
		}
		if (rel < 0) {
			rc = job_no(
			    "latest green %.12s does not descend from the pinned %.12s (diverged): refusing to move the pin",
			    sha, c->current);
			goto out;
		}
		snprintf(id, sizeof(id), "%lld", json_intp(pl, "id", 0));
		if (skipped)
			log_info(
			    "skipped %ld newer commit(s) without a successful pipeline, the newest %.12s",
			    skipped, newest_skipped);
		log_info("latest green commit of %s@%s: %.12s (pipeline %s)",
		    job_var(c->job, "RELAY_SOURCE_PROJECT"), c->branch, sha,
		    id);
		rc = emit(c, sha, id, json_strp(pl, "web_url"),
		    strcasecmp(sha, c->current) == 0);
	} else if (reached_pin) {
		log_info(
		    "no green commit newer than the pinned %.12s: up to date",
		    c->current);
		rc = emit(c, c->current, NULL, NULL, 1);
	} else {
		rc = job_no(
		    "no green commit in the last %ld first-parent commits of %s@%s",
		    seen, job_var(c->job, "RELAY_SOURCE_PROJECT"), c->branch);
	}
out:
	gitlab_pager_free(&commits);
out0:
	while (g.npages > 0)
		json_free(g.pages[--g.npages]);
	free(g.pages);
	gitlab_pager_free(&g.pager);
	json_free(page);
	json_free(latest);
	buf_free(&path);
	free(ref);
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
	c.tgt = gitlab_project_path(job_var(job, "RELAY_TARGET_PROJECT"));
	rc = c.src && c.tgt ? 0 : err_set(E_NOMEM, "out of memory");
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
	free(c.src);
	free(c.tgt);
	free(c.branch);
	free(c.src_url);
	return rc;
}

JOB_STAGE(.name = "find-green",
    .synopsis =
	"Find the latest green commit of the source branch (first-parent "
	"order, never older than the pinned SHA).",
    .flags = JOB_API, .exit_no = "no green commit, or the pinned SHA diverged",
    .run = cmd_find_green, .connect = job_api)
