/* job: what every stage does around its own logic */
#ifndef RELAY_JOB_H
#define RELAY_JOB_H

#include <stddef.h>

#include "env.h"

struct dotenv;
struct gitlab;
struct http;

#define JOB_MAX_VARS 64

struct job {
	const char *name; /* stage name: "find-green" */
	const char *synopsis; /* one line for --help */
	int dry_run;
	struct env_var vars[JOB_MAX_VARS]; /* common + stage variables */
	size_t nvars;
	struct http *http;
	struct gitlab *gl; /* RELAY_TOKEN */
	struct gitlab *approver; /* RELAY_APPROVER_TOKEN, or NULL */
	struct dotenv *out; /* the report written by job_finish */
	long timeout_s; /* RELAY_TIMEOUT_S */
	int tries; /* RELAY_TRIES */
	long backoff_ms; /* RELAY_RETRY_BASE_MS */
	void (*cleanup)(struct job *); /* frees what job_start added */
};

#define JOB_STOP 0x100
#define JOB_API 0x1 /* job_init: declare the GitLab API variables too */

/* job_init: parse flags, read the common variables (API ones with JOB_API)
 * and the stage's and check every one (required, type, bounds) before the
 * stage acts, set up logging and the dotenv report. Returns 0 or
 * JOB_STOP | exit code, as job_start. */
int job_init(struct job *j, const char *name, const char *synopsis, int argc,
    char **argv, const struct env_var *stage, size_t nstage,
    char *(*get)(const char *), unsigned flags);
/* job_start (job_api.c): job_init with JOB_API (get is getenv, passed
 * from main), then the HTTP and GitLab clients.
 * Returns 0 to go on, or JOB_STOP | exit code to exit with at once (after
 * --help/--version, or a usage/configuration error already reported).
 * *stage is copied. */
int job_start(struct job *j, const char *name, const char *synopsis, int argc,
    char **argv, const struct env_var *stage, size_t nstage,
    char *(*get)(const char *));
/* job_var: a variable's value (default applied), or NULL when unset */
const char *job_var(struct job *j, const char *name);
/* job_long, job_bool: the value of an ENV_T_LONG or ENV_T_BOOL variable,
 * checked by job_init (0 when unset without a default) */
long job_long(struct job *j, const char *name);
int job_bool(struct job *j, const char *name);
/* job_need: E_CONFIG listing every name in the NULL-terminated list that is
 * unset (checks that depend on mode, beyond ENV_REQUIRED) */
int job_need(struct job *j, const char *first, ...);
/* job_out: set a dotenv key (also printed on stdout as KEY=value) */
int job_out(struct job *j, const char *key, const char *value);
/* job_finish: write the report, log err_msg() when rc < 0, free everything
 * and wipe secrets; returns the exit code. rc is 0, an E_* code, or
 * EXIT_NO (1) for "the answer is no". */
int job_finish(struct job *j, int rc);

#endif
