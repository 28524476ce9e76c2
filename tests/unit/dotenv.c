/* unit tests: dotenv */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dotenv.h"
#include "err.h"
#include "tap.h"

static int
parses(const char *s)
{
	struct dotenv *d = NULL;
	int rc = dotenv_parse(&d, s, strlen(s));

	dotenv_free(d);
	return rc;
}

int
main(void)
{
	struct dotenv *d = NULL, *r = NULL;
	char path[] = "/tmp/relay-dotenv-XXXXXX";
	char big[6000];
	int fd, i, rc = 0;

	OK(dotenv_new(&d) == 0);
	OK(dotenv_set(d, "GREEN_SHA", "0123") == 0);
	OK(dotenv_set(d, "EMPTY", "") == 0);
	OK(dotenv_set(d, "URL", "https://x/y?a=b=c") == 0);
	OK(dotenv_set(d, "GREEN_SHA", "4567") == 0); /* replaces */
	OK(dotenv_count(d) == 3);
	STREQ(dotenv_get(d, "GREEN_SHA"), "4567");
	OK(dotenv_set(d, "lower", "x") == E_USAGE);
	OK(dotenv_set(d, "1ABC", "x") == E_USAGE);
	OK(dotenv_set(d, "A-B", "x") == E_USAGE);
	OK(dotenv_set(d, "", "x") == E_USAGE);
	OK(dotenv_set(d, "SP", " padded") == E_USAGE);
	OK(dotenv_set(d, "SP", "padded ") == E_USAGE);
	OK(dotenv_count(d) == 3);

	fd = mkstemp(path);
	OK(fd >= 0);
	close(fd);
	OK(dotenv_write(d, path) == 0);
	OK(dotenv_read(&r, path) == 0);
	STREQ(dotenv_get(r, "GREEN_SHA"), "4567");
	STREQ(dotenv_get(r, "URL"), "https://x/y?a=b=c");
	STREQ(dotenv_get(r, "EMPTY"), "");
	OK(dotenv_count(r) == 3);
	dotenv_free(r);
	r = NULL;
	OK(dotenv_write(d, "/nonexistent-dir/relay.env") == E_FAIL);
	unlink(path);
	OK(dotenv_read(&r, path) == E_INPUT);

	/* GitLab's limits: count and size */
	for (i = 0; i < DOTENV_MAX_VARS + 1 && rc == 0; i++) {
		char k[16];

		snprintf(k, sizeof(k), "K%d", i);
		rc = dotenv_set(d, k, "v");
	}
	OK(rc == E_NOMEM);
	dotenv_free(d);
	OK(dotenv_new(&d) == 0);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	/* one oversized value is left out; the rest of the report stays */
	OK(dotenv_set(d, "KEPT", "1") == 0);
	OK(dotenv_set(d, "BIG", big) == E_NOMEM);
	OK(dotenv_get(d, "BIG") == NULL && dotenv_count(d) == 1);
	OK(dotenv_set(d, "KEPT", big) == E_NOMEM);
	STREQ(dotenv_get(d, "KEPT"), "1");
	/* from the server: never a newline, `$`, backtick or control
	 * character in a value; percent-encoded */
	OK(dotenv_set(d, "NL", "a\nb") == 0);
	STREQ(dotenv_get(d, "NL"), "a%0Ab");
	OK(dotenv_set(d, "CR", "a\rb$HOME`id`\033[31m") == 0);
	STREQ(dotenv_get(d, "CR"), "a%0Db%24HOME%60id%60%1B[31m");
	dotenv_free(d);

	/* reading what GitLab reads, refusing what it refuses */
	OK(parses("A=1\nB = two \n") == 0);
	OK(dotenv_parse(&r, "A=1\nB = two \n", 12) == 0);
	STREQ(dotenv_get(r, "B"), "two");
	dotenv_free(r);
	OK(parses("A=1\n\nB=2\n") == E_INPUT);
	OK(parses("# comment\nA=1\n") == E_INPUT);
	OK(parses("=value\n") == E_INPUT);
	OK(parses("NOEQUALS\n") == E_INPUT);
	OK(parses("A B=1\n") == E_INPUT);
	OK(dotenv_parse(&r, "A=1\0B=2", 7) == E_INPUT);
	memset(big, 'x', sizeof(big));
	OK(dotenv_parse(&r, big, sizeof(big)) == E_INPUT);
	return tap_done();
}
