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

/* what a value must look like; env_read checks it before any work */
enum env_type {
	ENV_T_STRING, /* any text */
	ENV_T_LONG, /* whole number within [min, max] */
	ENV_T_BOOL, /* true/false, 1/0, yes/no, on/off */
	ENV_T_ENUM, /* one of the comma-separated words of choices */
	ENV_T_SHA, /* 40 hex digits, read back in lowercase */
};

struct env_var {
	const char *name;
	unsigned flags;
	const char *def; /* default when unset or empty, or NULL */
	const char *desc; /* one line for --help */
	const char *value; /* filled by env_read: the value, default or NULL */
	enum env_type type;
	long min, max; /* ENV_T_LONG bounds */
	const char *choices; /* ENV_T_ENUM: "a,b,c" */
	/* required while every clause holds: "VAR=value", "VAR=" (unset),
	 * "VAR!=value" (unset or other); bools as true or false */
	const char *when;
	long num; /* filled by env_read: ENV_T_LONG value, ENV_T_BOOL 0 or 1 */
};

/* table entries, as git's OPT_* macros: ENV_LONG("N", 0, "5", 1, 9, "help") */
#define ENV_STRING(n, f, d, h)                                                 \
	{                                                                      \
		.name = (n), .flags = (f), .def = (d), .desc = (h)             \
	}
#define ENV_LONG(n, f, d, lo, hi, h)                                           \
	{                                                                      \
		.name = (n), .flags = (f), .def = (d), .desc = (h),            \
		.type = ENV_T_LONG, .min = (lo), .max = (hi)                   \
	}
#define ENV_BOOL(n, f, d, h)                                                   \
	{                                                                      \
		.name = (n), .flags = (f), .def = (d), .desc = (h),            \
		.type = ENV_T_BOOL                                             \
	}
#define ENV_ENUM(n, f, d, c, h)                                                \
	{                                                                      \
		.name = (n), .flags = (f), .def = (d), .desc = (h),            \
		.type = ENV_T_ENUM, .choices = (c)                             \
	}
#define ENV_SHA(n, f, h)                                                       \
	{                                                                      \
		.name = (n), .flags = (f), .desc = (h), .type = ENV_T_SHA      \
	}

#define ENV_MAX_SHAS 8

/* env_read: fill value (and num) for each entry from get (getenv in
 * main), masking secrets in logs, then check every value against its type.
 * Returns E_CONFIG naming every missing required variable in one message,
 * else E_USAGE naming the first value of the wrong type, else 0. Empty
 * values count as unset, as in GitLab CI. An ENV_T_SHA value is a lowercase
 * copy kept by env.c (ENV_MAX_SHAS of them) until the next env_read. */
int env_read(struct env_var *vars, size_t n, char *(*get)(const char *));
/* env_find: the entry called name, or NULL */
struct env_var *env_find(struct env_var *vars, size_t n, const char *name);
const char *env_get(struct env_var *vars, size_t n, const char *name);
/* env_num: the checked number of an ENV_T_LONG or ENV_T_BOOL entry; 0 when
 * it is unset without a default or not declared */
long env_num(struct env_var *vars, size_t n, const char *name);
/* env_help: the variable table for --help */
void env_help(FILE *f, const struct env_var *vars, size_t n);

#endif
