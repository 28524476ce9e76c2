/* mr: read a merge request and its head pipeline, edit its labels */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "err.h"
#include "gitlab.h"
#include "json.h"
#include "mr.h"
#include "util.h"

/* copy: a value that does not fit is left out (empty), never cut: a cut
 * URL links somewhere else, a cut ref names another one */
static void
copy(char *dst, size_t n, const char *src)
{
	if (snprintf(dst, n, "%s", src ? src : "") >= (int)n)
		dst[0] = '\0';
}

static void
pipeline_from(struct mr_pipeline *p, struct jv v)
{
	memset(p, 0, sizeof(*p));
	p->id = json_intp(v, "id", 0);
	copy(p->sha, sizeof(p->sha), json_strp(v, "sha"));
	copy(p->ref, sizeof(p->ref), json_strp(v, "ref"));
	copy(p->status, sizeof(p->status), json_strp(v, "status"));
	copy(p->web_url, sizeof(p->web_url), json_strp(v, "web_url"));
}

/* parse: m's fields from m->doc, the answer about MR iid */
static int
parse(struct mr *m, long long iid)
{
	struct jv r = json_root(m->doc);
	const char *at;

	if (json_intp(r, "iid", 0) != iid || !json_strp(r, "state") ||
	    !json_strp(r, "web_url"))
		return err_set(E_PARSE,
		    "merge request !%lld: answer lacks iid, state or web_url",
		    iid);
	copy(m->state, sizeof(m->state), json_strp(r, "state"));
	copy(m->sha, sizeof(m->sha), json_strp(r, "sha"));
	copy(m->merge_sha, sizeof(m->merge_sha),
	    json_strp(r, "merge_commit_sha"));
	if (!m->merge_sha[0])
		copy(m->merge_sha, sizeof(m->merge_sha),
		    json_strp(r, "squash_commit_sha"));
	m->web_url = json_strp(r, "web_url");
	m->title = json_strp(r, "title");
	m->source_branch = json_strp(r, "source_branch");
	m->target_branch = json_strp(r, "target_branch");
	m->author_id = json_intp(r, "author.id", 0);
	m->auto_merge =
	    json_bool(json_get(r, "merge_when_pipeline_succeeds")) == 1;
	at = json_strp(r, "created_at");
	if (!at || iso8601_parse(&m->created_ts, at) < 0)
		m->created_ts = 0;
	at = json_strp(r, "merged_at");
	if (!at || iso8601_parse(&m->merged_ts, at) < 0)
		m->merged_ts = 0;
	pipeline_from(&m->head, json_get(r, "head_pipeline"));
	return 0;
}

/* start: m emptied, for MR iid of proj */
static int
start(struct mr *m, const char *proj, long long iid)
{
	struct buf path;
	int rc;

	mr_free(m);
	buf_init(&path, 0);
	rc = buf_printf(&path, "%s/merge_requests/%lld", proj, iid);
	if (rc < 0) {
		buf_free(&path);
		return rc;
	}
	m->path = buf_detach(&path);
	m->iid = iid;
	return 0;
}

int
mr_read(struct mr *m, struct gitlab *g, const char *proj, long long iid)
{
	int rc = start(m, proj, iid);

	if (rc == 0)
		rc = gitlab_call(g, &m->doc, "GET", m->path, NULL);
	if (rc < 0)
		return err_prefix(rc, "cannot read !%lld: ", iid);
	return parse(m, iid);
}

int
mr_adopt(struct mr *m, struct json *doc, const char *proj)
{
	long long iid = json_intp(json_root(doc), "iid", 0);
	int rc = start(m, proj, iid);

	if (rc < 0) {
		json_free(doc);
		return rc;
	}
	m->doc = doc;
	return parse(m, iid);
}

void
mr_free(struct mr *m)
{
	free(m->path);
	json_free(m->doc);
	memset(m, 0, sizeof(*m));
}

int
mr_has_label(const struct mr *m, const char *label)
{
	struct json_iter it;
	struct jv e;

	json_iter_init(&it, json_get(json_root(m->doc), "labels"));
	while (json_iter_next(&it, &e, NULL))
		if (json_str(e) && strcmp(json_str(e), label) == 0)
			return 1;
	return 0;
}

/* merge_ref: 1 when ref is refs/merge-requests/<iid>/merge or /train, the
 * refs merged-results and merge-train pipelines run on */
static int
merge_ref(const char *ref, long long iid)
{
	char want[64];
	size_t n;

	n = (size_t)snprintf(
	    want, sizeof(want), "refs/merge-requests/%lld/", iid);
	if (!ref || strncmp(ref, want, n) != 0)
		return 0;
	return strcmp(ref + n, "merge") == 0 || strcmp(ref + n, "train") == 0;
}

int
mr_pipeline_is_own(
    const struct mr_pipeline *p, const struct mr *m, struct gitlab *g)
{
	struct json *d = NULL;
	struct jv parents;
	const char *second;
	const char *cut;
	int rc;

	if (p->id <= 0 || !m->sha[0])
		return 0;
	if (strcasecmp(p->sha, m->sha) == 0)
		return 1;
	if (!merge_ref(p->ref, m->iid) || !m->path)
		return 0;
	/* the merge commit's parents: target head, then the MR head */
	cut = strstr(m->path, "/merge_requests/");
	rc = gitlab_getf(g, &d, "%.*s/repository/commits/%s",
	    cut ? (int)(cut - m->path) : (int)strlen(m->path), m->path, p->sha);
	if (rc < 0)
		return err_prefix(rc,
		    "cannot read the merge commit of pipeline %lld: ", p->id);
	parents = json_get(json_root(d), "parent_ids");
	second = json_strp(parents, "1");
	rc = json_size(parents) == 2 && second &&
	    strcasecmp(second, m->sha) == 0;
	json_free(d);
	return rc;
}

int
mr_pipeline_for_head(struct mr_pipeline *out, struct mr *m, struct gitlab *g)
{
	struct json *d = NULL;
	struct json_iter it;
	struct jv e;
	int rc, found = 0, looked = 0;

	memset(out, 0, sizeof(*out));
	rc = mr_pipeline_is_own(&m->head, m, g);
	if (rc != 0) {
		if (rc == 1)
			*out = m->head;
		return rc;
	}
	/* head_pipeline lags behind a push, or is a pipeline of another SHA:
	 * the MR's own list (newest first) tells */
	rc = gitlab_listf(g, &d, "%s/pipelines?per_page=20", m->path);
	if (rc < 0)
		return err_prefix(
		    rc, "cannot list the pipelines of !%lld: ", m->iid);
	json_iter_init(&it, json_root(d));
	while (rc >= 0 && !found && json_iter_next(&it, &e, NULL)) {
		struct mr_pipeline p;

		pipeline_from(&p, e);
		if (p.id == m->head.id)
			continue; /* read above: not this head's */
		/* a merge commit costs a request: the newest few tell, older
		 * ones ran before the newest for another head */
		if (strcasecmp(p.sha, m->sha) != 0 &&
		    merge_ref(p.ref, m->iid) && ++looked > 3)
			break;
		rc = mr_pipeline_is_own(&p, m, g);
		if (rc == 1) {
			*out = p;
			found = 1;
		}
	}
	json_free(d);
	return rc < 0 ? rc : found;
}

int
mr_labels(
    struct gitlab *g, const struct mr *m, const char *add, const char *remove)
{
	struct buf body;
	int rc;

	buf_init(&body, 0);
	rc = jw_strs(
	    &body, "add_labels", add, "remove_labels", remove, (char *)NULL);
	if (rc == 0)
		rc = gitlab_call(g, NULL, "PUT", m->path, body.data);
	buf_free(&body);
	return rc < 0 ? err_prefix(rc, "cannot label !%lld: ", m->iid) : 0;
}

void
mr_project_url(char *out, size_t n, const struct mr *m, const char *suffix)
{
	const char *u = m->web_url ? m->web_url : "";
	const char *cut = strstr(u, "/-/merge_requests/");
	int len = cut ? (int)(cut - u) : (int)strlen(u);

	/* a URL that does not fit is left out (empty), never cut: a cut
	 * URL links somewhere else */
	if (snprintf(out, n, "%.*s%s", len, u, suffix ? suffix : "") >= (int)n)
		out[0] = '\0';
}

void
mr_pipeline_url(char *out, size_t n, const struct mr *m, long long id)
{
	char sfx[48];

	snprintf(sfx, sizeof(sfx), "/-/pipelines/%lld", id);
	mr_project_url(out, n, m, sfx);
}
