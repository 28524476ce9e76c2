/* trail: one note per source MR saying where its change went (see
 * trail.h) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "err.h"
#include "gitlab.h"
#include "json.h"
#include "notes.h"
#include "range.h"
#include "record.h"
#include "trail.h"
#include "util.h"

#define LEVEL "<!-- relay:trail-level "

void
trail_refs_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

int
trail_ref(char *proj, size_t n, long long *iid, const char *ref,
    const char *canonical)
{
	const char *bang = ref ? strchr(ref, '!') : NULL;
	size_t len = canonical ? strlen(canonical) : 0, digits;

	if (!bang || len == 0 || (size_t)(bang - ref) != len ||
	    strncasecmp(ref, canonical, len) != 0 || len >= n)
		return 0;
	digits = strspn(bang + 1, "0123456789");
	if (digits == 0 || digits > 9 || bang[1] == '0' ||
	    bang[1 + digits] != '\0')
		return 0;
	memcpy(proj, ref, len);
	proj[len] = '\0';
	*iid = atoll(bang + 1);
	return 1;
}

/* add: ref into v (len of them) unless there or full */
static int
add(char **v, size_t *len, const char *ref)
{
	size_t i;

	for (i = 0; i < *len && strcasecmp(v[i], ref) != 0; i++)
		;
	if (i < *len || *len == TRAIL_MAX_REFS)
		return 0;
	v[*len] = str_dup(ref);
	if (!v[*len])
		return err_set(E_NOMEM, "out of memory");
	(*len)++;
	return 0;
}

/* by_commit: a commit with no "See merge request" line (a squash or
 * fast-forward merge): the merged MRs of canonical holding it, as GitLab
 * lists them (GET .../repository/commits/:sha/merge_requests). A 404
 * (canonical does not hold the commit: the mirror's own) adds none. */
static int
by_commit(char **v, size_t *len, struct gitlab *g, const char *canonical,
    const char *sha)
{
	struct json *d = NULL;
	struct json_iter it;
	struct jv e;
	char *pp = gitlab_project_path(canonical);
	int rc;

	if (!pp)
		return err_set(E_NOMEM, "out of memory");
	rc = gitlab_listf(g, &d,
	    "%s/repository/commits/%s/merge_requests?per_page=100", pp, sha);
	free(pp);
	if (rc < 0 && g->status == 404)
		return 0;
	if (rc < 0)
		return rc;
	json_iter_init(&it, json_root(d));
	while (rc == 0 && json_iter_next(&it, &e, NULL)) {
		const char *st = json_strp(e, "state");
		long long iid = json_intp(e, "iid", 0);
		char ref[300];

		if (!st || strcmp(st, "merged") != 0 || iid <= 0)
			continue;
		snprintf(ref, sizeof(ref), "%s!%lld", canonical, iid);
		rc = add(v, len, ref);
	}
	json_free(d);
	return rc;
}

/* page_refs: the MRs named by a page of first-parent commits, newest
 * first, added to v: 1 when `from` (or an entry without id) is reached,
 * 0 for the next page, < 0 error */
static int
page_refs(char **v, size_t *len, struct gitlab *g, struct json *page,
    const char *from, const char *canonical)
{
	struct json_iter it;
	struct jv e;
	int rc = 0;

	json_iter_init(&it, json_root(page));
	while (rc == 0 && json_iter_next(&it, &e, NULL)) {
		const char *sha = json_strp(e, "id");
		const char *msg = json_strp(e, "message");
		char ref[256], proj[256];
		long long iid;

		if (!sha || strcasecmp(sha, from) == 0)
			return 1;
		if (!msg || !range_mr_ref(ref, sizeof(ref), msg))
			rc = is_sha(sha) && canonical
			    ? by_commit(v, len, g, canonical, sha)
			    : 0;
		else if (trail_ref(proj, sizeof(proj), &iid, ref, canonical))
			rc = add(v, len, ref);
	}
	return rc;
}

int
trail_refs(char ***out, size_t *n, struct gitlab *g, const char *src,
    const char *from, const char *to, const char *canonical)
{
	struct gitlab_pager pg;
	struct json *page = NULL;
	char **v = NULL;
	size_t len = 0;
	int rc, done = 0;

	*out = NULL;
	*n = 0;
	rc = range_pager(&pg, g, src, to, 5);
	if (rc < 0)
		return rc;
	v = calloc(TRAIL_MAX_REFS, sizeof(*v));
	if (!v) {
		gitlab_pager_free(&pg);
		return err_set(E_NOMEM, "out of memory");
	}
	while (!done && (rc = gitlab_pager_next(&pg, &page)) > 0) {
		rc = page_refs(v, &len, g, page, from, canonical);
		json_free(page);
		page = NULL;
		done = rc == 1;
		if (rc < 0)
			break;
	}
	gitlab_pager_free(&pg);
	if (rc >= 0 && !done)
		rc = err_set(E_TEMP,
		    "the range ends at %.12s, not reached in 500 commits",
		    from);
	if (rc < 0) {
		trail_refs_free(v, len);
		return err_prefix(rc, "cannot list the changes of the range: ");
	}
	*out = v;
	*n = len;
	return 0;
}

struct times {
	long long *at;
	const char *const *envs;
	size_t n;
};

/* deployed: a relay:deployed note: the oldest per environment wins */
static int
deployed(void *arg, const struct record_entry *e)
{
	struct times *t = arg;
	const char *p = strstr(e->body, "<!-- relay:deployed env=");
	size_t i;

	if (!p || e->created <= 0)
		return 0;
	p += strlen("<!-- relay:deployed env=");
	for (i = 0; i < t->n; i++) {
		size_t l = strlen(t->envs[i]);

		if (strncmp(p, t->envs[i], l) == 0 && p[l] == ' ' &&
		    (!t->at[i] || e->created < t->at[i]))
			t->at[i] = e->created;
	}
	return 0;
}

int
trail_times(long long *at, struct gitlab *g, const char *noteable,
    const char *const *envs, size_t n)
{
	struct times t = { at, envs, n };
	size_t i;
	int rc;

	for (i = 0; i < n; i++)
		at[i] = 0;
	/* only relay's own records count */
	rc = record_each(g, noteable, "oldest record", deployed, &t);
	return rc < 0 ? err_prefix(rc, "cannot read notes: ") : 0;
}

static int
level_of(const char *body)
{
	const char *p = body ? strstr(body, LEVEL) : NULL;

	return p ? atoi(p + strlen(LEVEL)) : 0;
}

/* edit: the done note id holds old; it is edited to body when it records
 * fewer environments than level (or as many, in other words) */
static int
edit(int *result, struct gitlab *g, const char *noteable, long long id,
    const char *old, const char *body, int level, int dry_run)
{
	int was = level_of(old);

	if (was > level || (was == level && strcmp(old, body) == 0)) {
		*result = TRAIL_SAME;
		return 0;
	}
	*result = dry_run ? TRAIL_DRY : TRAIL_EDITED;
	return dry_run ? 0 : notes_write(NULL, g, "PUT", noteable, id, body);
}

/* create: the note, written once however many runs race (record_once);
 * *result 0 when another run's was written meanwhile: read it again */
static int
create(int *result, struct gitlab *g, const char *noteable, const char *marker,
    const char *text, int dry_run)
{
	struct record_op op;
	int rc;

	memset(&op, 0, sizeof(op));
	op.noteable = noteable;
	op.marker = marker;
	op.text = text;
	op.dry_run = dry_run;
	rc = record_once(result, g, &op);
	if (rc < 0)
		return rc;
	*result = *result == RECORD_ACTED ? TRAIL_CREATED
	    : *result == RECORD_BUSY      ? TRAIL_BUSY
	    : *result == RECORD_DRY       ? TRAIL_DRY
					  : 0;
	return 0;
}

int
trail_note(int *result, struct gitlab *g, const char *noteable,
    const char *marker, const char *text, int level, int dry_run)
{
	struct buf full, prefix, body;
	char *old = NULL;
	long long id = 0;
	size_t n = strlen(text);
	int rc, tries;

	*result = 0;
	while (n > 0 && text[n - 1] == '\n')
		n--;
	buf_init(&full, 0);
	buf_init(&prefix, 0);
	buf_init(&body, 0);
	rc = buf_printf(&full, "%.*s\n\n" LEVEL "%d -->", (int)n, text, level);
	if (rc == 0)
		rc = buf_printf(&prefix, "<!-- %s ", marker);
	/* the body as record.c writes a done record without action */
	if (rc == 0)
		rc = buf_printf(
		    &body, "%s\n\n<!-- %s slack=none -->", full.data, marker);
	for (tries = 0; rc == 0 && tries < 2 && !*result; tries++) {
		free(old);
		old = NULL;
		rc = record_find(&old, &id, g, noteable, prefix.data);
		if (rc > 0 &&
		    record_state(old, prefix.data, NULL) == RECORD_DONE)
			rc = edit(result, g, noteable, id, old, body.data,
			    level, dry_run);
		else if (rc >= 0)
			rc = create(
			    result, g, noteable, marker, full.data, dry_run);
	}
	if (rc == 0 && !*result)
		*result = TRAIL_BUSY;
	free(old);
	buf_free(&full);
	buf_free(&prefix);
	buf_free(&body);
	return rc;
}
