/* unit tests: joblist (the FAILED_JOBS encoding) */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "joblist.h"
#include "tap.h"

int
main(void)
{
	struct buf b, e, t;
	const char *p;
	int i;

	buf_init(&b, 0);
	buf_init(&e, 0);
	buf_init(&t, 0);
	/* parallel:matrix names hold ", " */
	OK(joblist_encode(&e, "rspec: [ruby-3.3, pg-16]") == 0);
	STREQ(e.data, "rspec: [ruby-3.3%2C pg-16]");
	OK(joblist_add(&b, e.data) == 0);
	OK(joblist_add(&b, "build") == 0);
	OK(joblist_add(&b, "build") == 0);
	STREQ(b.data, "rspec: [ruby-3.3%2C pg-16],build");
	OK(joblist_has(b.data, "rspec: [ruby-3.3%2C pg-16]"));
	OK(!joblist_has(b.data, "rspec: [ruby-3.3"));
	OK(!joblist_has(b.data, "pg-16]"));
	OK(!joblist_has(b.data, " build"));
	OK(!joblist_has(NULL, "x") && !joblist_has("x", ""));
	/* what could forge a marker, a count or an escape is encoded */
	buf_reset(&e);
	OK(joblist_encode(&e, "a%b+c<!-- x -->\n") == 0);
	STREQ(e.data, "a%25b%2Bc%3C!-- x --%3E%0A");
	buf_reset(&t);
	OK(joblist_decode(&t, e.data) == 0);
	STREQ(t.data, "a%b+c<!-- x -->\n");
	buf_reset(&t);
	OK(joblist_decode(&t, "100% %zz %00 %4") == 0);
	STREQ(t.data, "100% %zz %00 %4");
	/* iteration */
	p = "a,,b%2Cc,";
	OK(joblist_next(&e, &p) == 1);
	STREQ(e.data, "a");
	OK(joblist_next(&e, &p) == 1);
	STREQ(e.data, "b%2Cc");
	OK(joblist_next(&e, &p) == 0);
	/* the cap: whole entries and a count, which adds up */
	buf_reset(&b);
	for (i = 0; i < 50; i++) {
		buf_reset(&e);
		buf_printf(&e, "job %02d", i);
		joblist_add(&b, e.data);
	}
	OK(!joblist_truncated(b.data));
	OK(joblist_cap(&b, 100) == 0);
	OK(b.len <= 100);
	OK(joblist_truncated(b.data));
	OK(strstr(b.data, "job 00,job 01,") == b.data);
	{
		const char *last = strrchr(b.data, ',') + 1;
		int kept = 0;

		p = b.data;
		while (joblist_next(&e, &p))
			kept++;
		OK(atoi(last + 1) + kept - 1 == 50);
	}
	OK(joblist_cap(&b, 60) == 0 && b.len <= 60 &&
	    joblist_truncated(b.data));
	buf_reset(&t);
	OK(joblist_text(&t, "rspec: [ruby-3.3%2C pg-16],a/b,+3 more") == 0);
	STREQ(t.data, "rspec: [ruby-3.3, pg-16]; a/b; and 3 more");
	buf_reset(&t);
	OK(joblist_text(&t, "x %3C!-- relay:y --%3E%0A") == 0);
	STREQ(t.data, "x %3C!-- relay:y --%3E%0A");
	OK(!joblist_truncated("+3 mores") && !joblist_truncated(""));
	OK(joblist_truncated("+0 more"));
	buf_free(&b);
	buf_free(&e);
	buf_free(&t);
	return tap_done();
}
