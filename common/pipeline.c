/* pipeline: outcome of a pipeline and its failed jobs */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "gitlab.h"
#include "joblist.h"
#include "json.h"
#include "pipeline.h"
#include "util.h"

const char *
pipeline_outcome(const char *status)
{
	static const char *const running[] = { "created",
		"waiting_for_resource", "preparing", "pending", "running",
		"scheduled", "manual", NULL };
	size_t i;

	if (!status)
		return NULL;
	if (strcmp(status, "success") == 0)
		return "success";
	if (strcmp(status, "failed") == 0)
		return "failed";
	if (strcmp(status, "canceled") == 0 || strcmp(status, "skipped") == 0)
		return "canceled";
	for (i = 0; running[i]; i++)
		if (strcmp(status, running[i]) == 0)
			return "running";
	return NULL;
}

/* add_name: prefix (an encoded entry, or NULL) "/" name, as one entry */
static int
add_name(struct buf *out, const char *prefix, const char *name)
{
	struct buf full;
	int rc;

	buf_init(&full, 0);
	rc = buf_printf(&full, "%s%s", prefix ? prefix : "", prefix ? "/" : "");
	if (rc == 0)
		rc = joblist_encode(&full, name);
	if (rc == 0)
		rc = joblist_add(out, full.data);
	buf_free(&full);
	return rc;
}

/* every failed job up to 50 pages of 100, per pipeline */
#define PIPELINE_MAX_PAGES 50

static int walk(struct buf *out, struct gitlab *g, const char *proj,
    long long id, const char *prefix, int depth);

/* list_page: the names of one page of failed jobs or bridges */
static int
list_page(struct buf *out, struct gitlab *g, struct json *d, const char *kind,
    const char *prefix, int depth)
{
	struct json_iter it;
	struct jv e;
	int rc = 0;

	json_iter_init(&it, json_root(d));
	while (rc == 0 && json_iter_next(&it, &e, NULL)) {
		const char *name = json_strp(e, "name");
		long long down = json_intp(e, "downstream_pipeline.id", 0);
		long long pid =
		    json_intp(e, "downstream_pipeline.project_id", 0);

		if (!name || json_bool(json_get(e, "allow_failure")) == 1)
			continue;
		if (strcmp(kind, "bridges") == 0 && down > 0 && pid > 0 &&
		    depth < 3) {
			struct buf sub, dproj;
			size_t before = out->len;

			buf_init(&sub, 0);
			buf_init(&dproj, 0);
			rc = buf_printf(&sub, "%s%s", prefix ? prefix : "",
			    prefix ? "/" : "");
			if (rc == 0)
				rc = joblist_encode(&sub, name);
			if (rc == 0)
				rc = buf_printf(&dproj, "/projects/%lld", pid);
			if (rc == 0)
				rc = walk(out, g, dproj.data, down, sub.data,
				    depth + 1);
			/* a downstream pipeline that failed without failed
			 * jobs (yaml error, canceled) names the bridge */
			if (rc == 0 && out->len == before)
				rc = add_name(out, prefix, name);
			buf_free(&sub);
			buf_free(&dproj);
		} else
			rc = add_name(out, prefix, name);
	}
	return rc;
}

/* list: the failed jobs or bridges, every page (gitlab-org/gitlab
 * pipelines have hundreds of jobs) */
static int
list(struct buf *out, struct gitlab *g, const char *proj, long long id,
    const char *kind, const char *prefix, int depth)
{
	struct gitlab_pager pg;
	struct json *d = NULL;
	int rc;

	rc = gitlab_pager_initf(&pg, g, PIPELINE_MAX_PAGES,
	    "%s/pipelines/%lld/%s?scope%%5B%%5D=failed&per_page=100", proj, id,
	    kind);
	if (rc < 0)
		return rc;
	while (rc >= 0 && (rc = gitlab_pager_next(&pg, &d)) == 1) {
		rc = list_page(out, g, d, kind, prefix, depth);
		json_free(d);
		d = NULL;
	}
	gitlab_pager_free(&pg);
	return rc < 0 ? rc : 0;
}

static int
walk(struct buf *out, struct gitlab *g, const char *proj, long long id,
    const char *prefix, int depth)
{
	int rc = list(out, g, proj, id, "jobs", prefix, depth);

	if (rc == 0)
		rc = list(out, g, proj, id, "bridges", prefix, depth);
	return rc;
}

int
pipeline_failed_jobs(
    struct buf *out, struct gitlab *g, const char *proj, long long id)
{
	int rc = walk(out, g, proj, id, NULL, 0);

	return rc < 0
	    ? err_prefix(
		  rc, "cannot list the failed jobs of pipeline %lld: ", id)
	    : 0;
}
