/* buf: growable byte buffer with a hard cap */
#ifndef RELAY_BUF_H
#define RELAY_BUF_H

#include <stddef.h>

/* data is always NUL-terminated when non-NULL; the owner calls buf_free. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max; /* hard cap on len; 0 means BUF_DEFAULT_MAX */
};

#define BUF_DEFAULT_MAX (64u << 20)

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
/* all return 0, or E_NOMEM when allocation fails or the cap is hit */
int buf_add(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* buf_detach: hand the data to the caller (who frees it); b is reset */
char *buf_detach(struct buf *b);

#endif
