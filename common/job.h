/* job: what every stage does around its own logic */
#ifndef RELAY_JOB_H
#define RELAY_JOB_H

#include <stddef.h>

#include "env.h"

#ifndef RELAY_VERSION
#define RELAY_VERSION "0.0.0" /* the Makefile passes the real one */
#endif

/* LEN: the number of entries of an array (not a pointer) */
#define LEN(a) (sizeof(a) / sizeof((a)[0]))

struct dotenv;
struct gitlab;
struct http;
struct job;

#define JOB_MAX_VARS 64

/* a stage: one binary, one table entry (git's cmd_struct). Its variables,
 * what it needs set up, and run, its policy. */
struct stage {
	const char *name; /* "find-green": the binary is relay-find-green */
	const char *synopsis; /* one line for --help */
	const struct env_var *vars; /* the stage's own variables */
	size_t nvars;
	unsigned flags; /* JOB_API, JOB_APPROVER */
	const char *exit_no; /* what exit 1 means, or NULL: never */
	/* idle: the report (key, value) of a run after MR_ACTION=none left
	 * no MR_IID: nothing to do, said before any request; NULL: none */
	const char *idle[2];
	/* run: the stage's work; 0, EXIT_NO (from job_no) or an
	 * E_* code. Outputs go through job_out. */
	int (*run)(struct job *j);
	/* connect: job_api for JOB_API stages (the HTTP and GitLab clients,
	 * in job_api.c so relay-mirror links no HTTP library) */
	int (*connect)(struct job *j, char *(*get)(const char *));
};

struct job {
	const char *name; /* stage name: "find-green" */
	const char *synopsis; /* one line for --help */
	const char *exit_no; /* what exit 1 means, or NULL */
	int dry_run;
	struct env_var vars[JOB_MAX_VARS]; /* common + stage variables */
	size_t nvars;
	struct http *http;
	struct gitlab *gl; /* RELAY_TOKEN */
	struct gitlab
	    *approver; /* JOB_APPROVER: RELAY_APPROVER_TOKEN, or NULL */
	struct dotenv *out; /* the report written by job_finish */
	long timeout_s; /* RELAY_TIMEOUT_S */
	int tries; /* RELAY_TRIES */
	long backoff_ms; /* RELAY_RETRY_BASE_MS */
	void (*cleanup)(struct job *); /* frees what connect added */
};

#define JOB_STOP 0x100
#define JOB_API 0x1 /* declare the GitLab API variables; needs connect */
#define JOB_APPROVER 0x2 /* and RELAY_APPROVER_TOKEN, the second identity */

/* JOB_STAGE: a stage's table entry, over its stage_vars, and its main; the
 * rest of the entry as designated initializers (.name, .run, .flags, ...) */
#define JOB_STAGE(...)                                                         \
	static const struct stage stage_entry = {                              \
		.vars = stage_vars, .nvars = LEN(stage_vars), __VA_ARGS__      \
	};                                                                     \
	int main(int argc, char **argv)                                        \
	{                                                                      \
		return job_main(&stage_entry, argc, argv);                     \
	}

/* job_main: the whole life of a stage, from main (git's run_builtin):
 * flags and variables (all checked before any request), the clients, run,
 * the report. Returns the exit code. */
int job_main(const struct stage *s, int argc, char **argv);
/* job_init: parse flags, read the common variables the stage uses (API ones
 * with JOB_API) and the stage's and check every one (required, type,
 * bounds) before the stage acts, set up logging and the dotenv report.
 * Returns 0 or JOB_STOP | exit code (after --help/--version, or a usage or
 * configuration error already reported). s->vars is copied. */
int job_init(struct job *j, const struct stage *s, int argc, char **argv,
    char *(*get)(const char *));
/* job_api (job_api.c): the HTTP and GitLab clients of a JOB_API stage */
int job_api(struct job *j, char *(*get)(const char *));
/* job_var: a variable's value (default applied), or NULL when unset */
const char *job_var(struct job *j, const char *name);
/* job_long, job_bool: the value of an ENV_T_LONG or ENV_T_BOOL variable,
 * checked by job_init (0 when unset without a default) */
long job_long(struct job *j, const char *name);
int job_bool(struct job *j, const char *name);
/* job_out: set a dotenv key (also printed on stdout as KEY=value) */
int job_out(struct job *j, const char *key, const char *value);
/* job_no: the answer is no (exit 1, not a failure): log the
 * reason as a warning and return EXIT_NO for run to return */
int job_no(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* job_finish: write the report, log err_msg() when rc < 0, free everything
 * and wipe secrets; returns the exit code. rc is 0, an E_* code, or
 * EXIT_NO (1) for "the answer is no". */
int job_finish(struct job *j, int rc);

#endif
