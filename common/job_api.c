/* job_api: the GitLab API clients of the stages that talk to GitLab, kept
 * apart from job.c so relay-mirror links no HTTP library */
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "gitlab.h"
#include "http.h"
#include "job.h"
#include "log.h"

static void
api_cleanup(struct job *j)
{
	if (j->http)
		log_debug("%ld HTTP requests", http_requests(j->http));
	gitlab_free(j->gl);
	gitlab_free(j->approver);
	http_free(j->http);
	j->gl = j->approver = NULL;
	j->http = NULL;
}

/* by_name: a webhook given as the name of the CI variable that holds it
 * (components take variable names, never secrets, as inputs) */
static int
by_name(
    struct job *j, const char *key, const char *var, char *(*get)(const char *))
{
	struct env_var *v = env_find(j->vars, j->nvars, key);
	const char *name = job_var(j, var), *val;

	if (!v || v->value || !name)
		return 0;
	val = get(name);
	if (!val || !*val) {
		/* Slack is optional; a renamed variable that is unset is
		 * worth a line */
		if (strcmp(name, key) != 0)
			log_warn(
			    "%s names %s, which is unset: no Slack message",
			    var, name);
		return 0;
	}
	log_secret(val);
	v->value = val;
	return 0;
}

int
job_api(struct job *j, char *(*get)(const char *))
{
	struct http_opts ho;
	int rc;

	j->cleanup = api_cleanup;
	rc =
	    by_name(j, "RELAY_SLACK_ALERTS_URL", "RELAY_SLACK_ALERTS_VAR", get);
	if (rc == 0)
		rc = by_name(j, "RELAY_SLACK_FAILURES_URL",
		    "RELAY_SLACK_FAILURES_VAR", get);
	if (rc < 0)
		return rc;
	http_opts_default(&ho);
	ho.timeout_s = j->timeout_s;
	ho.tries = j->tries;
	ho.backoff_ms = j->backoff_ms;
	ho.ca_bundle = job_var(j, "RELAY_CA_BUNDLE");
	ho.user_agent = "relay/" RELAY_VERSION;
	rc = http_new(&j->http, &ho);
	if (rc == 0)
		http_deadline(j->http, job_long(j, "RELAY_DEADLINE_S"));
	/* job tokens reach only a few endpoints: every call is the bot's */
	if (rc == 0)
		rc = gitlab_new(&j->gl, j->http, job_var(j, "CI_API_V4_URL"),
		    job_var(j, "RELAY_TOKEN"), HTTP_AUTH_PRIVATE);
	if (rc == 0 && job_var(j, "RELAY_APPROVER_TOKEN"))
		rc = gitlab_new(&j->approver, j->http,
		    job_var(j, "CI_API_V4_URL"),
		    job_var(j, "RELAY_APPROVER_TOKEN"), HTTP_AUTH_PRIVATE);
	return rc;
}
