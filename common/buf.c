/* buf: growable byte buffer with a hard cap */
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max ? max : BUF_DEFAULT_MAX;
	b->err = 0;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->err = 0;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

int
buf_error(const struct buf *b)
{
	return b->err;
}

/* fail: remember the first error; returns it */
static int
fail(struct buf *b, int rc)
{
	if (!b->err)
		b->err = rc;
	return b->err;
}

static int
grow(struct buf *b, size_t need)
{
	size_t ncap;
	char *p;

	if (b->max == 0)
		b->max = BUF_DEFAULT_MAX;
	if (need > b->max)
		return fail(b,
		    err_set(
			E_NOMEM, "buffer limit of %zu bytes exceeded", b->max));
	if (need + 1 <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 256;
	while (ncap < need + 1)
		ncap *= 2;
	p = realloc(b->data, ncap);
	if (!p)
		return fail(
		    b, err_set(E_NOMEM, "out of memory (%zu bytes)", ncap));
	b->data = p;
	b->cap = ncap;
	return 0;
}

int
buf_add(struct buf *b, const void *p, size_t n)
{
	int rc;

	if (b->err)
		return b->err;
	if (n > SIZE_MAX / 2 - b->len)
		return fail(b, err_set(E_NOMEM, "buffer size overflow"));
	rc = grow(b, b->len + n);
	if (rc < 0)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_puts(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int
buf_putc(struct buf *b, char c)
{
	return buf_add(b, &c, 1);
}

int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list again;
	int n, rc;

	if (b->err)
		return b->err;
	va_copy(again, ap);
	n = vsnprintf(NULL, 0, fmt, ap);
	if (n < 0) {
		va_end(again);
		return fail(b, err_set(E_FAIL, "bad format"));
	}
	rc = grow(b, b->len + (size_t)n);
	if (rc == 0) {
		vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
		b->len += (size_t)n;
	}
	va_end(again);
	return rc;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

char *
buf_detach(struct buf *b)
{
	char *p = b->data;

	if (!p)
		p = calloc(1, 1);
	b->data = NULL;
	b->len = b->cap = 0;
	b->err = 0;
	return p;
}
