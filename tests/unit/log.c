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
	log_debug("shown too");
	log_warn("back");
	log_debug("again");
	log_end();
	log_end(); /* nothing open: nothing printed */
	fflush(stderr);
	f = fopen(path, "r");
	n = fread(got, 1, sizeof(got) - 1, f);
	got[n] = '\0';
	fclose(f);
	unlink(path);
	OK(strncmp(got, "relay-test: error: cannot read x y: token [MASKED]\n",
	       51) == 0);
	/* a run of debug lines is folded in one collapsed section, closed by
	 * the next other line */
	{
		const char *s1 = strstr(got, "section_start:");
		const char *d1 = strstr(got, "relay-test: debug: shown\n");
		const char *d2 = strstr(got, "relay-test: debug: shown too\n");
		const char *e1 = strstr(got, "section_end:");
		const char *w = strstr(got, "relay-test: warning: back\n");

		OK(s1 && d1 && d2 && e1 && w);
		OK(s1 < d1 && d1 < d2 && d2 < e1 && e1 < w);
		OK(strstr(got,
		       ":relay_debug_1[collapsed=true]\r\033[0Krelay-test: "
		       "requests (RELAY_DEBUG)\n") != NULL);
		OK(strstr(got, "section_end:") &&
		    strstr(strstr(got, "section_end:"), ":relay_debug_1\r"));
		OK(strstr(got, "relay_debug_2[collapsed=true]") != NULL);
	}
	log_forget_secrets();
	return tap_done();
}
