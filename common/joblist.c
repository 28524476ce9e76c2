/* joblist: the FAILED_JOBS encoding */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "joblist.h"

static int
special(unsigned char ch)
{
	return ch < 0x20 || ch == 0x7f || ch == '%' || ch == ',' || ch == '+' ||
	    ch == '<' || ch == '>' || ch == '`' || ch == '$';
}

int
joblist_encode(struct buf *out, const char *name)
{
	const unsigned char *s = (const unsigned char *)name;
	int rc = 0;

	for (; rc == 0 && *s; s++)
		rc = special(*s) ? buf_printf(out, "%%%02X", *s)
				 : buf_putc(out, (char)*s);
	return rc;
}

int
joblist_has(const char *list, const char *entry)
{
	size_t n = entry ? strlen(entry) : 0;

	if (!list || n == 0)
		return 0;
	while (*list) {
		size_t len = strcspn(list, ",");

		if (len == n && strncmp(list, entry, n) == 0)
			return 1;
		list += len;
		if (*list == ',')
			list++;
	}
	return 0;
}

int
joblist_add(struct buf *out, const char *entry)
{
	if (!entry || !*entry || joblist_has(out->data, entry))
		return 0;
	return buf_printf(out, "%s%s", out->len ? "," : "", entry);
}

int
joblist_next(struct buf *out, const char **p)
{
	size_t len;

	buf_reset(out);
	while (*p && **p == ',')
		(*p)++;
	if (!*p || !**p)
		return 0;
	len = strcspn(*p, ",");
	if (buf_printf(out, "%.*s", (int)len, *p) < 0)
		return 0;
	*p += len;
	return 1;
}

static int
hex(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* decode: with safe, bytes that could open or close markup or a hidden
 * marker, and control bytes, stay encoded */
static int
decode(struct buf *out, const char *entry, int safe)
{
	int rc = 0;

	while (rc == 0 && *entry) {
		int ch =
		    entry[0] == '%' && hex(entry[1]) >= 0 && hex(entry[2]) >= 0
		    ? hex(entry[1]) * 16 + hex(entry[2])
		    : -1;

		if (ch > 0 &&
		    !(safe &&
			(ch < 0x20 || ch == 0x7f || ch == '<' || ch == '>' ||
			    ch == '`'))) {
			rc = buf_putc(out, (char)ch);
			entry += 3;
		} else {
			rc = buf_putc(out, *entry);
			entry++;
		}
	}
	return rc;
}

int
joblist_decode(struct buf *out, const char *entry)
{
	return decode(out, entry, 0);
}

/* more: N of a "+N more" entry, or -1 */
static long
more(const char *entry)
{
	char *end;
	long n;

	if (entry[0] != '+')
		return -1;
	n = strtol(entry + 1, &end, 10);
	return n >= 0 && strcmp(end, " more") == 0 ? n : -1;
}

int
joblist_truncated(const char *list)
{
	const char *last = list ? strrchr(list, ',') : NULL;

	if (!list || !*list)
		return 0;
	return more(last ? last + 1 : list) >= 0;
}

int
joblist_cap(struct buf *b, size_t max)
{
	const char *p;
	struct buf e, kept;
	long cut = 0;
	int rc = 0;

	if (!b->data || b->len <= max)
		return 0;
	buf_init(&e, 0);
	buf_init(&kept, 0);
	p = b->data;
	/* room for ",+NNNNNN more" */
	while (rc == 0 && joblist_next(&e, &p)) {
		long m = more(e.data);

		if (m >= 0)
			cut += m;
		else if (cut == 0 && kept.len + 1 + e.len + 16 <= max)
			rc = buf_printf(
			    &kept, "%s%s", kept.len ? "," : "", e.data);
		else
			cut++;
	}
	if (rc == 0)
		rc = buf_printf(&kept, "%s+%ld more", kept.len ? "," : "", cut);
	if (rc == 0) {
		buf_reset(b);
		rc = buf_puts(b, kept.data);
	}
	buf_free(&e);
	buf_free(&kept);
	return rc;
}

int
joblist_text(struct buf *out, const char *list)
{
	struct buf e;
	const char *p = list;
	int rc = 0, first = 1;

	buf_init(&e, 0);
	while (rc == 0 && joblist_next(&e, &p)) {
		long m = more(e.data);

		if (!first)
			rc = buf_puts(out, "; ");
		if (rc == 0 && m >= 0)
			rc = buf_printf(out, "and %ld more", m);
		else if (rc == 0)
			rc = decode(out, e.data, 1);
		first = 0;
	}
	buf_free(&e);
	return rc;
}
