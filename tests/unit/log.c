/* unit tests: log masking and one-line messages */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tap.h"

int
main(void)
{
	char path[] = "/tmp/relay-log-XXXXXX";
	char got[4096];
	char *m;
	FILE *f;
	size_t n;
	int fd;

	log_init("relay-test", LOG_INFO, 0);
	log_secret("abc"); /* too short to mask usefully: ignored */
	log_secret("glpat-SECRET");
	log_secret("https://hooks.slack.com/services/T0/B0/XYZ");
	m = log_mask("a glpat-SECRET b glpat-SECRETglpat-SECRET abc");
	STREQ(m, "a [MASKED] b [MASKED][MASKED] abc");
	free(m);
	m = log_mask("post to https://hooks.slack.com/services/T0/B0/XYZ ok");
	STREQ(m, "post to [MASKED] ok");
	free(m);
	m = log_mask("");
	STREQ(m, "");
	free(m);

	/* every line: prefix, no newline inside, secrets masked, debug off */
	fd = mkstemp(path);
	OK(fd >= 0);
	fflush(stderr);
	OK(dup2(fd, 2) == 2);
	log_error("cannot read %s: token %s", "x\ny", "glpat-SECRET");
	log_debug("hidden at info level");
	log_init("relay-test", LOG_DEBUG, 0);
	log_debug("shown");
	fflush(stderr);
	f = fopen(path, "r");
	n = fread(got, 1, sizeof(got) - 1, f);
	got[n] = '\0';
	fclose(f);
	unlink(path);
	STREQ(got,
	    "relay-test: error: cannot read x y: token [MASKED]\n"
	    "relay-test: debug: shown\n");
	log_forget_secrets();
	return tap_done();
}
