/* env: declared tables of environment variables, read once in main */
#ifndef RELAY_ENV_H
#define RELAY_ENV_H

#include <stddef.h>
#include <stdio.h>

enum {
	ENV_REQUIRED = 1 << 0,
	ENV_SECRET = 1 << 1, /* value is masked in logs and never printed */
	ENV_API = 1 << 2, /* only for stages that talk to the GitLab API */
};

struct env_var {
	const char *name;
	unsigned flags;
	const char *def; /* default when unset or empty, or NULL */
	const char *desc; /* one line for --help */
	const char *value; /* filled by env_read: the value, default or NULL */
};

/* env_read: fill value for each entry from get (getenv in main), masking
 * secrets in logs. Returns E_CONFIG naming every missing required variable
 * in one message. Empty values count as unset, as in GitLab CI. */
int env_read(struct env_var *vars, size_t n, char *(*get)(const char *));
/* env_find: the entry called name, or NULL */
struct env_var *env_find(struct env_var *vars, size_t n, const char *name);
const char *env_get(struct env_var *vars, size_t n, const char *name);
/* typed accessors: E_USAGE naming the variable when the value is bad */
int env_long(long *out, struct env_var *vars, size_t n, const char *name,
    long min, long max);
int env_bool(int *out, struct env_var *vars, size_t n, const char *name);
/* env_help: the variable table for --help */
void env_help(FILE *f, const struct env_var *vars, size_t n);

#endif
