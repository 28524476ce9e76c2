/* range: first-parent changes between two SHAs, for MR descriptions and
 * regression notes */
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

int
range_mr_ref(char *out, size_t n, const char *msg)
{
	const char *p = strstr(msg, "See merge request ");
	size_t len;

	if (!p)
		return 0;
	p += strlen("See merge request ");
	len = strcspn(p, " \n\r\t");
	if (len == 0 || len >= n || !memchr(p, '!', len))
		return 0;
	memcpy(out, p, len);
	out[len] = '\0';
	return 1;
}

static void
entry(struct buf *b, const char *sha, const char *msg, const char *title)
{
	char ref[256], one[200];

	if (msg && range_mr_ref(ref, sizeof(ref), msg)) {
		/* GitLab's merge commits carry the MR title as their
		 * second paragraph */
		const char *t = strstr(msg, "\n\n");
		int n = t ? (int)strcspn(t + 2, "\n") : 0;

		if (n > 0 && n < (int)sizeof(one)) {
			memcpy(one, t + 2, (size_t)n);
			one[n] = '\0';
			title = one;
		}
		buf_printf(b, "- %s ", ref);
	} else {
		buf_printf(b, "- %.12s ", sha);
	}
	/* a title is anyone's text: no mention, link or quick action */
	notes_escape(b, title ? title : "");
	buf_putc(b, '\n');
}

int
range_pager(struct gitlab_pager *p, struct gitlab *g, const char *src,
    const char *ref, int max_pages)
{
	return gitlab_pager_initf(p, g, max_pages,
	    "%s/repository/commits?ref_name=%s&first_parent=true&per_page=100",
	    src, ref);
}

int
range_list(struct buf *b, struct gitlab *g, const char *src, const char *from,
    const char *to, long max)
{
	struct gitlab_pager pg;
	struct json *page = NULL;
	long listed = 0, more = 0;
	int rc, done = 0;

	rc = range_pager(&pg, g, src, to, 5);
	if (rc < 0)
		return rc;
	while (!done && (rc = gitlab_pager_next(&pg, &page)) > 0) {
		struct json_iter it;
		struct jv e;

		json_iter_init(&it, json_root(page));
		while (json_iter_next(&it, &e, NULL)) {
			const char *sha = json_strp(e, "id");

			if (!sha || strcasecmp(sha, from) == 0) {
				done = 1;
				break;
			}
			if (listed >= max) {
				more++;
				continue;
			}
			entry(b, sha, json_strp(e, "message"),
			    json_strp(e, "title"));
			listed++;
		}
		json_free(page);
		page = NULL;
	}
	gitlab_pager_free(&pg);
	if (rc < 0)
		return err_prefix(rc, "cannot list the changes: ");
	if (more)
		buf_printf(b, "- ... and %ld more\n", more);
	if (!done)
		buf_puts(b,
		    "- (range not fully listed: the pinned commit was "
		    "not reached)\n");
	return 0;
}

int
range_merge_base(
    char *out, struct gitlab *g, const char *proj, const char *a, const char *b)
{
	struct json *d = NULL;
	const char *base;
	int rc;

	out[0] = '\0';
	rc = gitlab_getf(g, &d,
	    "%s/repository/merge_base?refs%%5B%%5D=%s&refs%%5B%%5D=%s", proj, a,
	    b);
	/* 404: no common ancestor (diverged); 400 names an unknown ref,
	 * which is an error, not a divergence (lib/api/repositories.rb) */
	if (rc == E_NOTFOUND)
		rc = 0;
	else if (rc < 0 && g->status == 400)
		rc = err_prefix(rc,
		    "cannot compare %.12s with %.12s (a ref GitLab does not know: check the pinned SHA and the branch): ",
		    a, b);
	else if (rc < 0)
		rc = err_prefix(rc, "cannot compare %.12s with %.12s: ", a, b);
	else if (!(base = json_strp(json_root(d), "id")))
		rc = err_set(E_PARSE, "merge base answer has no id");
	else {
		snprintf(out, 41, "%s", base);
		rc = 1;
	}
	json_free(d);
	return rc;
}
