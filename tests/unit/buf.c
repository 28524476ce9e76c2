/* unit tests: buf */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "tap.h"

int
main(void)
{
	struct buf b;
	char *p;
	int i, rc = 0;

	buf_init(&b, 16);
	OK(buf_puts(&b, "hello") == 0);
	OK(buf_putc(&b, ' ') == 0);
	OK(buf_printf(&b, "%d", 42) == 0);
	STREQ(b.data, "hello 42");
	OK(b.len == 8);
	/* the cap is hard */
	OK(buf_puts(&b, "123456789") == E_NOMEM);
	STREQ(b.data, "hello 42");
	OK(buf_printf(&b, "%s", "123456789") == E_NOMEM);
	/* the error sticks: what fits is refused too, and reported once */
	OK(buf_puts(&b, "1234") == E_NOMEM && b.len == 8);
	OK(buf_putc(&b, 'x') == E_NOMEM && b.len == 8);
	OK(buf_error(&b) == E_NOMEM);
	buf_reset(&b);
	OK(b.len == 0 && b.data[0] == '\0' && buf_error(&b) == E_NOMEM);
	buf_free(&b);
	OK(buf_error(&b) == 0);
	buf_free(&b); /* twice is harmless */
	buf_init(&b, 16);
	OK(buf_puts(&b, "12345678") == 0 && buf_puts(&b, "12345678") == 0 &&
	    b.len == 16 && buf_error(&b) == 0);
	buf_free(&b);

	buf_init(&b, 0);
	for (i = 0; i < 10000 && rc == 0; i++)
		rc = buf_add(&b, "abcdefgh", 8);
	OK(rc == 0 && b.len == 80000);
	p = buf_detach(&b);
	OK(p && strlen(p) == 80000 && b.data == NULL);
	buf_free(&b);
	free(p);
	buf_init(&b, 0);
	p = buf_detach(&b); /* empty detaches to "" */
	STREQ(p, "");
	free(p);
	return tap_done();
}
