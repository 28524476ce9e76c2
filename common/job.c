/* job: what every stage does around its own logic */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "annotate.h"
#include "buf.h"
#include "dotenv.h"
#include "err.h"
#include "job.h"
#include "log.h"
#include "util.h"

/* the common variables (docs/contract.md); ENV_API ones only for stages
 * that talk to the GitLab API (relay-mirror speaks git only), and each only
 * for the stages that read it, so --help lists what matters */
static const struct {
	struct env_var v;
	const char *stages; /* comma list of stage names, or NULL */
	unsigned needs; /* stage flags it goes with (JOB_APPROVER) */
} common_vars[] = {
	{ ENV_STRING(
	      "CI_API_V4_URL", ENV_REQUIRED | ENV_API, NULL, "GitLab API root"),
	    NULL, 0 },
	{ ENV_STRING("RELAY_TOKEN", ENV_REQUIRED | ENV_SECRET | ENV_API, NULL,
	      "bot token (PRIVATE-TOKEN) of every API call"),
	    NULL, 0 },
	{ ENV_STRING("RELAY_APPROVER_TOKEN", ENV_SECRET | ENV_API, NULL,
	      "second identity that approves and sets auto-merge"),
	    NULL, JOB_APPROVER },
	{ ENV_STRING("RELAY_SOURCE_PROJECT", ENV_API,
	      "gitlab-org/security/gitaly",
	      "project whose green commits are pinned"),
	    "find-green,open-mr,triage,bisect,track-deploy,status", 0 },
	{ ENV_STRING("RELAY_SOURCE_BRANCH", ENV_API, NULL,
	      "branch scanned for green commits (default: source default)"),
	    "find-green,status", 0 },
	{ ENV_STRING("RELAY_TARGET_PROJECT", ENV_API, "gitlab-org/gitlab",
	      "project that pins the component"),
	    NULL, 0 },
	{ ENV_STRING("RELAY_TARGET_BRANCH", ENV_API, NULL,
	      "MR target branch (default: target default branch)"),
	    "find-green,open-mr,status", 0 },
	{ ENV_STRING("RELAY_VERSION_FILE", ENV_API, "GITALY_SERVER_VERSION",
	      "file in the target holding the pinned SHA"),
	    "find-green,open-mr,triage,bisect,track-deploy,status", 0 },
	{ ENV_STRING(
	      "RELAY_COMPONENT", ENV_API, "Gitaly", "component name in titles"),
	    "open-mr,triage,bisect,notify,track-deploy,status", 0 },
	{ ENV_STRING("RELAY_MR_BRANCH", ENV_API, "release-tools/update-gitaly",
	      "source branch of the bump MR"),
	    "open-mr,track-deploy,status", 0 },
	{ ENV_STRING("RELAY_MR_LABELS", ENV_API,
	      "team::Delivery,dependency update,group::gitaly,"
	      "feature::maintenance",
	      "labels of the bump MR"),
	    "open-mr,track-deploy", 0 },
	{ ENV_LONG("RELAY_STALE_HOURS", ENV_API, "24", 1, 24 * 365,
	      "an open bump MR older than this is stale"),
	    "open-mr", 0 },
	{ ENV_STRING("RELAY_SLACK_ALERTS_URL", ENV_SECRET | ENV_API, NULL,
	      "Slack webhook for deployments and stale MRs (#gitaly_alerts)"),
	    "open-mr,track-deploy", 0 },
	{ ENV_STRING("RELAY_SLACK_FAILURES_URL", ENV_SECRET | ENV_API, NULL,
	      "Slack webhook for pipeline failures (#g_gitaly)"),
	    "notify,bisect", 0 },
	{ ENV_STRING("RELAY_SLACK_ALERTS_VAR", ENV_API, NULL,
	      "name of the variable holding RELAY_SLACK_ALERTS_URL"),
	    "open-mr,track-deploy", 0 },
	{ ENV_STRING("RELAY_SLACK_FAILURES_VAR", ENV_API, NULL,
	      "name of the variable holding RELAY_SLACK_FAILURES_URL"),
	    "notify,bisect", 0 },
	{ ENV_STRING("RELAY_TEAM_HANDLE", ENV_API, "@gl-gitaly",
	      "tagged on failed pipelines"),
	    "notify", 0 },
	{ ENV_STRING("RELAY_ENVIRONMENTS", ENV_API,
	      "gstg-cny:workflow::staging-canary,gprd-cny:workflow::canary,"
	      "gstg:workflow::staging,gprd:workflow::production",
	      "environment:label pairs in rollout order (gitlab.com: both "
	      "canaries, then promotion to gstg and gprd; the last one is "
	      "production for lead times)"),
	    "track-deploy,status", 0 },
	{ ENV_STRING("CI_JOB_URL", ENV_API, NULL,
	      "this job (set by GitLab), linked from MRs, notes and Slack"),
	    "open-mr,triage,notify,track-deploy", 0 },
	/* the bump MR's pipeline, handed on by relay-open-mr and relay-watch */
	{ { .name = "MR_IID",
	      .flags = ENV_API,
	      .desc = "the bump MR (from relay-open-mr)",
	      .type = ENV_T_LONG,
	      .min = 1,
	      .max = 1000000000L,
	      .when = "MR_ACTION!=none" },
	    "watch,triage,bisect,notify", 0 },
	{ ENV_STRING("MR_ACTION", ENV_API, NULL,
	      "none: relay-open-mr made no MR, so there is nothing to do"),
	    "watch,triage,bisect,notify", 0 },
	{ ENV_ENUM("OUTCOME", ENV_API, NULL,
	      "success, failed, running, canceled, merged, closed, none",
	      "pipeline outcome (from relay-watch; triage reads it from "
	      "GitLab when unset)"),
	    "triage,notify", 0 },
	{ ENV_STRING("RELAY_DOTENV", 0, "relay.env", "dotenv report path"),
	    NULL, 0 },
	{ ENV_STRING("RELAY_ANNOTATIONS", 0, NULL,
	      "where to write GitLab's annotations report (job page links)"),
	    NULL, 0 },
	{ ENV_STRING(
	      "RELAY_CA_BUNDLE", 0, NULL, "CA file for TLS (default: system)"),
	    NULL, 0 },
	{ ENV_LONG("RELAY_TIMEOUT_S", 0, "30", 1, 3600,
	      "per-request timeout in seconds"),
	    NULL, 0 },
	{ ENV_LONG(
	      "RELAY_TRIES", 0, "4", 1, 20, "attempts for transient failures"),
	    NULL, 0 },
	{ ENV_LONG("RELAY_DEADLINE_S", ENV_API, "3000", 10, 86400,
	      "overall deadline of the run's HTTP requests, retries and "
	      "backoff included; keep it below the job's timeout"),
	    NULL, 0 },
	{ ENV_LONG("RELAY_RETRY_BASE_MS", 0, "1000", 0, 60000,
	      "first retry backoff (doubles)"),
	    NULL, 0 },
	{ ENV_BOOL(
	      "RELAY_DRY_RUN", 0, NULL, "true: read everything, write nothing"),
	    NULL, 0 },
	{ ENV_BOOL("RELAY_DEBUG", 0, NULL,
	      "true: debug logging (requests, timings)"),
	    NULL, 0 },
	{ ENV_STRING("NO_COLOR", 0, NULL, "set: no colour in logs"), NULL, 0 },
	{ ENV_STRING("CI", 0, NULL,
	      "set by GitLab: logs are coloured for the job log"),
	    NULL, 0 },
};

static void
usage(FILE *f, struct job *j)
{
	fprintf(f, "usage: relay-%s [--dry-run] [--help] [--version]\n%s\n",
	    j->name, j->synopsis);
}

static void
help(struct job *j)
{
	usage(stdout, j);
	env_help(stdout, j->vars, j->nvars);
	printf("\nexit codes:\n"
	       "  0   done, or nothing to do\n");
	if (j->exit_no)
		printf("  1   %s\n", j->exit_no);
	printf("  64  a bad flag or variable value\n"
	       "  69  refused by GitLab, Slack or a git remote\n"
	       "  70  internal error\n"
	       "  75  temporary failure: the next run resumes\n"
	       "  78  configuration missing\n"
	       "\nthe contract (variables, dotenv keys, exit codes): "
	       "docs/contract.md\n");
}

int
job_init(struct job *j, const struct stage *s, int argc, char **argv,
    char *(*get)(const char *))
{
	static char prog[64];
	size_t i;
	int a, rc, color;

	memset(j, 0, sizeof(*j));
	j->name = s->name;
	j->synopsis = s->synopsis;
	j->exit_no = s->exit_no;
	snprintf(prog, sizeof(prog), "relay-%s", s->name);
	color = !get("NO_COLOR") && (isatty(2) || get("CI"));
	log_init(prog, LOG_INFO, color);
	for (i = 0; i < LEN(common_vars); i++) {
		const struct env_var *v = &common_vars[i].v;

		if ((v->flags & ENV_API) && !(s->flags & JOB_API))
			continue;
		if (common_vars[i].stages &&
		    !list_has(common_vars[i].stages, s->name))
			continue;
		if ((common_vars[i].needs & s->flags) != common_vars[i].needs)
			continue;
		if (j->nvars == JOB_MAX_VARS)
			break;
		j->vars[j->nvars++] = *v;
	}
	if (j->nvars + s->nvars > JOB_MAX_VARS) {
		log_error("too many variables declared");
		return JOB_STOP | EXIT_SOFTWARE;
	}
	memcpy(j->vars + j->nvars, s->vars, s->nvars * sizeof(*s->vars));
	j->nvars += s->nvars;
	for (i = 1; i < j->nvars; i++)
		if (env_find(j->vars, i, j->vars[i].name)) {
			/* one declaration, one default: a stage does not
			 * repeat a common variable */
			log_error("%s is declared twice", j->vars[i].name);
			return JOB_STOP | EXIT_SOFTWARE;
		}

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--help") == 0 ||
		    strcmp(argv[a], "-h") == 0) {
			help(j);
			return JOB_STOP | EXIT_DONE;
		} else if (strcmp(argv[a], "--version") == 0) {
			printf("relay-%s %s\n", s->name, RELAY_VERSION);
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

int
job_main(const struct stage *s, int argc, char **argv)
{
	struct job j;
	int rc = job_init(&j, s, argc, argv, getenv);

	if (rc)
		return rc & 0xff;
	if (s->idle[0] && !job_var(&j, "MR_IID")) {
		/* up to date or no green commit: the common hourly case */
		log_info(
		    "MR_ACTION=none and no MR_IID: no bump MR, nothing to do");
		return job_finish(&j, job_out(&j, s->idle[0], s->idle[1]));
	}
	if (s->flags & JOB_API)
		rc = s->connect ? s->connect(&j, getenv)
				: err_set(E_FAIL, "%s: no API set-up", s->name);
	if (rc == 0)
		rc = s->run(&j);
	return job_finish(&j, rc);
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
job_out(struct job *j, const char *key, const char *value)
{
	int rc = dotenv_set(j->out, key, value ? value : "");

	if (rc == 0)
		printf("%s=%s\n", key, value ? value : "");
	return rc;
}

int
job_no(const char *fmt, ...)
{
	char why[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_warn("%s", why);
	return EXIT_NO;
}

int
job_finish(struct job *j, int rc)
{
	int code;
	const char *path = job_var(j, "RELAY_DOTENV");

	if (rc < 0)
		log_error("%s", err_msg());
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
	annotate_job(j); /* job page links; a failure is only a warning */
	fflush(stdout);
	if (j->cleanup)
		j->cleanup(j);
	j->cleanup = NULL;
	dotenv_free(j->out);
	j->out = NULL;
	log_forget_secrets();
	return code;
}
