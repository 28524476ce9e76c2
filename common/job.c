/* job: what every stage does around its own logic */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "dotenv.h"
#include "err.h"
#include "job.h"
#include "log.h"
#include "util.h"

#ifndef RELAY_VERSION
#define RELAY_VERSION "0.0.0"
#endif

/* CONTRACT.md's common variables; ENV_API ones only for stages that talk
 * to the GitLab API (relay-mirror speaks git only) */
static const struct env_var common_vars[] = {
	ENV_STRING(
	    "CI_API_V4_URL", ENV_REQUIRED | ENV_API, NULL, "GitLab API root"),
	ENV_STRING("RELAY_TOKEN", ENV_REQUIRED | ENV_SECRET | ENV_API, NULL,
	    "bot token (PRIVATE-TOKEN) of every API call"),
	ENV_STRING("RELAY_APPROVER_TOKEN", ENV_SECRET | ENV_API, NULL,
	    "second identity that approves and sets auto-merge"),
	ENV_STRING("RELAY_SOURCE_PROJECT", ENV_API,
	    "gitlab-org/security/gitaly",
	    "project whose green commits are pinned"),
	ENV_STRING("RELAY_SOURCE_BRANCH", ENV_API, NULL,
	    "branch scanned for green commits (default: source default)"),
	ENV_STRING("RELAY_TARGET_PROJECT", ENV_API, "gitlab-org/gitlab",
	    "project that pins the component"),
	ENV_STRING("RELAY_TARGET_BRANCH", ENV_API, NULL,
	    "MR target branch (default: target default branch)"),
	ENV_STRING("RELAY_VERSION_FILE", ENV_API, "GITALY_SERVER_VERSION",
	    "file in the target holding the pinned SHA"),
	ENV_STRING(
	    "RELAY_COMPONENT", ENV_API, "Gitaly", "component name in titles"),
	ENV_STRING("RELAY_MR_BRANCH", ENV_API, "release-tools/update-gitaly",
	    "source branch of the bump MR"),
	ENV_STRING("RELAY_MR_LABELS", ENV_API,
	    "team::Delivery,dependency update,group::gitaly,"
	    "feature::maintenance",
	    "labels of the bump MR"),
	ENV_LONG("RELAY_STALE_HOURS", ENV_API, "24", 1, 24 * 365,
	    "an open bump MR older than this is stale"),
	ENV_STRING("RELAY_SLACK_ALERTS_URL", ENV_SECRET | ENV_API, NULL,
	    "Slack webhook for deployments and stale MRs (#gitaly_alerts)"),
	ENV_STRING("RELAY_SLACK_FAILURES_URL", ENV_SECRET | ENV_API, NULL,
	    "Slack webhook for pipeline failures (#g_gitaly)"),
	ENV_STRING("RELAY_SLACK_ALERTS_VAR", ENV_API, NULL,
	    "name of the variable holding RELAY_SLACK_ALERTS_URL"),
	ENV_STRING("RELAY_SLACK_FAILURES_VAR", ENV_API, NULL,
	    "name of the variable holding RELAY_SLACK_FAILURES_URL"),
	ENV_STRING("RELAY_TEAM_HANDLE", ENV_API, "@gl-gitaly",
	    "tagged on failed pipelines"),
	ENV_STRING("RELAY_DOTENV", 0, "relay.env", "dotenv report path"),
	ENV_STRING(
	    "RELAY_CA_BUNDLE", 0, NULL, "CA file for TLS (default: system)"),
	ENV_LONG("RELAY_TIMEOUT_S", 0, "30", 1, 3600,
	    "per-request timeout in seconds"),
	ENV_LONG(
	    "RELAY_TRIES", 0, "4", 1, 20, "attempts for transient failures"),
	ENV_LONG("RELAY_RETRY_BASE_MS", 0, "1000", 0, 60000,
	    "first retry backoff (doubles)"),
	ENV_BOOL(
	    "RELAY_DRY_RUN", 0, NULL, "true: read everything, write nothing"),
	ENV_BOOL(
	    "RELAY_DEBUG", 0, NULL, "true: debug logging (requests, timings)"),
	ENV_STRING("NO_COLOR", 0, NULL, "set: no colour in logs"),
	ENV_STRING(
	    "CI", 0, NULL, "set by GitLab: logs are coloured for the job log"),
};

static void
usage(FILE *f, struct job *j)
{
	fprintf(f, "usage: relay-%s [--dry-run] [--help] [--version]\n%s\n",
	    j->name, j->synopsis);
}

int
job_init(struct job *j, const char *name, const char *synopsis, int argc,
    char **argv, const struct env_var *stage, size_t nstage,
    char *(*get)(const char *), unsigned flags)
{
	static char prog[64];
	size_t i, ncommon = sizeof(common_vars) / sizeof(common_vars[0]);
	int a, rc, color;

	memset(j, 0, sizeof(*j));
	j->name = name;
	j->synopsis = synopsis;
	snprintf(prog, sizeof(prog), "relay-%s", name);
	color = !get("NO_COLOR") && (isatty(2) || get("CI"));
	log_init(prog, LOG_INFO, color);
	if (ncommon + nstage > JOB_MAX_VARS) {
		log_error("too many variables declared");
		return JOB_STOP | EXIT_SOFTWARE;
	}
	for (i = 0; i < ncommon; i++)
		if ((flags & JOB_API) || !(common_vars[i].flags & ENV_API))
			j->vars[j->nvars++] = common_vars[i];
	memcpy(j->vars + j->nvars, stage, nstage * sizeof(*stage));
	j->nvars += nstage;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--help") == 0 ||
		    strcmp(argv[a], "-h") == 0) {
			usage(stdout, j);
			env_help(stdout, j->vars, j->nvars);
			return JOB_STOP | EXIT_DONE;
		} else if (strcmp(argv[a], "--version") == 0) {
			printf("relay-%s %s\n", name, RELAY_VERSION);
			return JOB_STOP | EXIT_DONE;
		} else if (strcmp(argv[a], "--dry-run") == 0 ||
		    strcmp(argv[a], "-n") == 0) {
			j->dry_run = 1;
		} else {
			log_error("unknown argument '%.40s'", argv[a]);
			usage(stderr, j);
			return JOB_STOP | EXIT_USAGE;
		}
	}

	/* every variable is checked before the stage makes a request */
	rc = env_read(j->vars, j->nvars, get);
	if (rc < 0) {
		log_error("%s", err_msg());
		if (rc == E_USAGE)
			usage(stderr, j);
		log_forget_secrets();
		return JOB_STOP | err_exit(rc);
	}
	if (job_bool(j, "RELAY_DEBUG"))
		log_init(prog, LOG_DEBUG, color);
	j->dry_run |= job_bool(j, "RELAY_DRY_RUN");
	j->timeout_s = job_long(j, "RELAY_TIMEOUT_S");
	j->tries = (int)job_long(j, "RELAY_TRIES");
	j->backoff_ms = job_long(j, "RELAY_RETRY_BASE_MS");
	rc = dotenv_new(&j->out);
	if (rc < 0)
		return JOB_STOP | job_finish(j, rc);
	if (j->dry_run)
		log_info("dry run: reading only, nothing will be changed");
	return 0;
}

const char *
job_var(struct job *j, const char *name)
{
	return env_get(j->vars, j->nvars, name);
}

long
job_long(struct job *j, const char *name)
{
	return env_num(j->vars, j->nvars, name);
}

int
job_bool(struct job *j, const char *name)
{
	return env_num(j->vars, j->nvars, name) != 0;
}

int
job_need(struct job *j, const char *first, ...)
{
	struct buf missing;
	const char *n;
	va_list ap;
	int count = 0, rc = 0;

	buf_init(&missing, 4096);
	va_start(ap, first);
	for (n = first; n; n = va_arg(ap, const char *))
		if (!job_var(j, n))
			buf_printf(&missing, "%s%s", count++ ? ", " : "", n);
	va_end(ap);
	if (count)
		rc = err_set(E_CONFIG, "missing variable%s: %s",
		    count > 1 ? "s" : "", missing.data);
	buf_free(&missing);
	return rc;
}

int
job_out(struct job *j, const char *key, const char *value)
{
	int rc = dotenv_set(j->out, key, value ? value : "");

	if (rc == 0)
		printf("%s=%s\n", key, value ? value : "");
	return rc;
}

int
job_finish(struct job *j, int rc)
{
	int code;
	const char *path = job_var(j, "RELAY_DOTENV");

	if (rc < 0)
		log_error("%s", err_msg());
	else if (rc == EXIT_NO)
		log_warn("%s", err_msg()); /* the answer is no: not a fault */
	code = rc < 0 ? err_exit(rc) : rc;
	/* the report is written on every outcome that has values, so later
	 * jobs see what was learnt before a failure */
	if (j->out && dotenv_count(j->out) > 0 && path) {
		int wrc = dotenv_write(j->out, path);

		if (wrc < 0) {
			log_error("%s", err_msg());
			if (code == 0)
				code = err_exit(wrc);
		}
	}
	fflush(stdout);
	if (j->cleanup)
		j->cleanup(j);
	j->cleanup = NULL;
	dotenv_free(j->out);
	j->out = NULL;
	log_forget_secrets();
	return code;
}
