/* tap: a tiny test harness */
#include <stdio.h>
#include <string.h>

#include "tap.h"

static int n, failed;

void
tap_ok(int cond, const char *file, int line, const char *expr)
{
	n++;
	if (cond) {
		printf("ok %d - %s\n", n, expr);
	} else {
		failed++;
		printf("not ok %d - %s (%s:%d)\n", n, expr, file, line);
	}
}

void
tap_streq(const char *got, const char *want, const char *file, int line,
    const char *expr)
{
	int eq = got && want ? strcmp(got, want) == 0 : got == want;

	tap_ok(eq, file, line, expr);
	if (!eq)
		printf("#   got:  '%s'\n#   want: '%s'\n", got ? got : "(null)",
		    want ? want : "(null)");
}

int
tap_done(void)
{
	printf("1..%d\n", n);
	return failed ? 1 : 0;
}
