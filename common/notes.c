/* notes: merge request notes carrying hidden markers */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "gitlab.h"
#include "json.h"
#include "notes.h"
#include "url.h"
#include "util.h"

int
notes_write(struct json **out, struct gitlab *g, const char *method,
    const char *noteable, long long id, const char *body)
{
	struct buf req;
	int rc;

	buf_init(&req, 0);
	rc = jw_strs(&req, "body", body, (char *)NULL);
	if (rc == 0 && id)
		rc = gitlab_callf(
		    g, out, method, req.data, "%s/notes/%lld", noteable, id);
	else if (rc == 0)
		rc = gitlab_callf(
		    g, out, method, req.data, "%s/notes", noteable);
	buf_free(&req);
	return rc;
}

int
notes_post(
    long long *id_out, struct gitlab *g, const char *mr, const char *body)
{
	struct json *d = NULL;
	int rc = notes_write(&d, g, "POST", mr, 0, body);

	if (rc == 0 && id_out)
		*id_out = json_intp(json_root(d), "id", 0);
	json_free(d);
	return rc < 0 ? err_prefix(rc, "cannot add a note: ") : 0;
}

int
notes_update(struct gitlab *g, const char *mr, long long id, const char *body)
{
	int rc = notes_write(NULL, g, "PUT", mr, id, body);

	return rc < 0 ? err_prefix(rc, "cannot update note %lld: ", id) : 0;
}

int
notes_escape(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	int rc = 0;

	for (; *p && rc == 0; p++) {
		if (*p < 0x20 || *p == 0x7f)
			/* no new line: a quick action starts one */
			rc = buf_putc(b, ' ');
		else if (*p == '<')
			rc = buf_puts(b, "&lt;"); /* no HTML, no marker */
		else if (*p == '>')
			rc = buf_puts(b, "&gt;");
		else if (*p == '&')
			rc = buf_puts(b, "&amp;");
		else if (*p == '@' || *p == '#' || *p == '!' || *p == '~' ||
		    *p == '$' || *p == '%')
			/* a word joiner after it: no mention (@all), no
			 * reference that notifies or cross-links */
			rc = buf_printf(b, "%c\xe2\x81\xa0", *p);
		else if (strchr("\\`*_{}[]()+-.|/:", *p))
			/* no link, emphasis, code span or autolink */
			rc = buf_printf(b, "\\%c", *p);
		else
			rc = buf_putc(b, (char)*p);
	}
	return rc;
}

int
notes_link(struct buf *b, const char *text, const char *url, const char *api)
{
	int rc;

	if (!url_is_own(url, api))
		return notes_escape(b, text); /* the text, without a link */
	rc = buf_putc(b, '[');
	if (rc == 0)
		rc = notes_escape(b, text);
	if (rc == 0)
		rc = buf_printf(b, "](%s)", url);
	return rc;
}
