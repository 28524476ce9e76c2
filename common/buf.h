/* buf: growable byte buffer with a hard cap */
#ifndef RELAY_BUF_H
#define RELAY_BUF_H

#include <stdarg.h>
#include <stddef.h>

/* data is always NUL-terminated when non-NULL; the owner calls buf_free.
 * Errors stick (as curl's dynbuf, relay's JSON writer): once an append
 * failed, every later one does nothing and returns the same code, so a
 * run of appends is checked once, with buf_error, at the end. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max; /* hard cap on len; 0 means BUF_DEFAULT_MAX */
	int err; /* the first failed append's code, or 0 */
};

#define BUF_DEFAULT_MAX (64u << 20)

void buf_init(struct buf *b, size_t max);
/* buf_free: release the data and forget the error */
void buf_free(struct buf *b);
/* buf_reset: empty the data; an error stays */
void buf_reset(struct buf *b);
/* buf_error: 0, or the code of the first append that failed */
int buf_error(const struct buf *b);
/* all return 0, or E_NOMEM when allocation fails or the cap is hit (then
 * and after: the error sticks) */
int buf_add(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* buf_detach: hand the data to the caller (who frees it); b is reset,
 * its error forgotten */
char *buf_detach(struct buf *b);

#endif
