/* unit tests: annotate (artifacts:reports:annotations) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "annotate.h"
#include "buf.h"
#include "dotenv.h"
#include "json.h"
#include "tap.h"

/* report: the JSON for d and the extras, or "" on error */
static char *
report(const struct dotenv *d, const char *stage, const struct annotate_link *x,
    size_t n)
{
	struct buf b;

	buf_init(&b, 0);
	if (annotate_json(&b, d, stage, x, n) < 0) {
		buf_free(&b);
		return calloc(1, 1);
	}
	return buf_detach(&b);
}

int
main(void)
{
	struct dotenv *d = NULL;
	struct json *doc = NULL;
	struct annotate_link x[] = {
		{ "compare", "https://gitlab.example.com/a/-/compare/x...y" },
		{ "not a web link", "javascript:alert(1)" },
		{ NULL, NULL },
	};
	char path[] = "/tmp/relay-annotate-XXXXXX";
	char jobs[400], got[4096];
	char *s;
	FILE *f;
	size_t n;
	int fd;

	/* nothing known: an empty section, still a valid report */
	s = report(NULL, "watch", NULL, 0);
	STREQ(s, "{\"relay-watch\":[]}");
	free(s);

	OK(dotenv_new(&d) == 0);
	dotenv_set(d, "MR_IID", "12");
	dotenv_set(
	    d, "MR_URL", "https://gitlab.example.com/g/-/merge_requests/12");
	dotenv_set(d, "MR_ACTION", "created");
	s = report(d, "open-mr", x, 3);
	STREQ(s,
	    "{\"relay-open-mr\":["
	    "{\"external_link\":{\"label\":\"bump MR !12: created\","
	    "\"url\":\"https://gitlab.example.com/g/-/merge_requests/12\"}},"
	    "{\"external_link\":{\"label\":\"compare\",\"url\":"
	    "\"https://gitlab.example.com/a/-/compare/x...y\"}}]}");
	free(s);

	/* the failed pipeline: outcome, verdict, Slack, failed jobs; text
	 * from GitLab is escaped, long labels are cut, the link is kept */
	dotenv_set(d, "PIPELINE_ID", "345");
	dotenv_set(
	    d, "PIPELINE_URL", "https://gitlab.example.com/g/-/pipelines/345");
	dotenv_set(d, "OUTCOME", "failed");
	dotenv_set(d, "TRIAGE", "regression");
	dotenv_set(d, "NOTIFIED", "true");
	memset(jobs, 'j', sizeof(jobs) - 1);
	jobs[0] = '"';
	jobs[sizeof(jobs) - 1] = '\0';
	dotenv_set(d, "FAILED_JOBS", jobs);
	dotenv_set(d, "SUSPECT_RANGE", "http://127.0.0.1:9/s/-/compare/a...b");
	s = report(d, "notify", NULL, 0);
	OK(json_parse(&doc, s, strlen(s)) == 0);
	json_free(doc);
	OK(strstr(s,
	       "\"label\":\"MR pipeline 345: failed, regression, "
	       "reported to Slack (failed: \\\"jjj") != NULL);
	OK(strstr(
	       s, "\"url\":\"https://gitlab.example.com/g/-/pipelines/345\"") !=
	    NULL);
	OK(strstr(s,
	       "{\"label\":\"suspect changes (compare)\",\"url\":"
	       "\"http://127.0.0.1:9/s/-/compare/a...b\"}") != NULL);
	OK(strstr(s,
	       "jjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjj"
	       "jjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjj"
	       "jjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjj"
	       "jjjjjjjjjjjjjjjjjjj") == NULL);
	free(s);

	/* a URL GitLab did not give as a web link is left out */
	dotenv_set(d, "MR_URL", "javascript:alert(1)");
	s = report(d, "watch", NULL, 0);
	OK(strstr(s, "javascript") == NULL);
	free(s);

	/* annotate_write: the file, atomically */
	fd = mkstemp(path);
	OK(fd >= 0);
	close(fd);
	OK(annotate_write(path, NULL, "find-green", NULL, 0) == 0);
	f = fopen(path, "r");
	n = f ? fread(got, 1, sizeof(got) - 1, f) : 0;
	got[n] = '\0';
	if (f)
		fclose(f);
	STREQ(got, "{\"relay-find-green\":[]}\n");
	unlink(path);
	OK(annotate_write("/nonexistent/dir/a.json", d, "x", NULL, 0) < 0);
	dotenv_free(d);
	return tap_done();
}
