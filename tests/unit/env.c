/* unit tests: env */
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "err.h"
#include "log.h"
#include "tap.h"

static char *
fake(const char *name)
{
	static char a[] = "https://gitlab.example.com/api/v4";
	static char t[] = "glpat-very-secret";
	static char n[] = "12";
	static char e[] = "";
	static char bad[] = "twelve";
	static char sha[] = "0123456789ABCDEF0123456789abcdef01234567";
	static char yes[] = "YES";
	static char word[] = "failed";

	if (strcmp(name, "API") == 0)
		return a;
	if (strcmp(name, "TOKEN") == 0)
		return t;
	if (strcmp(name, "NUM") == 0)
		return n;
	if (strcmp(name, "EMPTY") == 0)
		return e;
	if (strcmp(name, "BAD") == 0)
		return bad;
	if (strcmp(name, "SHA") == 0)
		return sha;
	if (strcmp(name, "FLAG") == 0)
		return yes;
	if (strcmp(name, "WORD") == 0)
		return word;
	return NULL;
}

/* pairs: the environment of the when tests, NAME=value strings */
static const char *pairs[4];

static char *
from_pairs(const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < 4 && pairs[i]; i++)
		if (strncmp(pairs[i], name, n) == 0 && pairs[i][n] == '=')
			return (char *)pairs[i] + n + 1;
	return NULL;
}

/* iid: read MR_IID (required unless MR_ACTION=none) from a, b */
static int
iid(long *out, const char *a, const char *b)
{
	struct env_var v[] = {
		{ .name = "MR_IID",
		    .desc = "",
		    .type = ENV_T_LONG,
		    .min = 1,
		    .max = 1000000000L,
		    .when = "MR_ACTION!=none" },
		ENV_STRING("MR_ACTION", 0, NULL, ""),
	};
	int rc;

	pairs[0] = a;
	pairs[1] = b;
	pairs[2] = NULL;
	rc = env_read(v, 2, from_pairs);
	*out = env_num(v, 2, "MR_IID");
	return rc;
}

/* green: GREEN_SHA required while UP_TO_DATE=false and CURRENT_SHA unset */
static int
green(const char *a, const char *b)
{
	struct env_var v[] = {
		{ .name = "GREEN_SHA",
		    .desc = "",
		    .type = ENV_T_SHA,
		    .when = "UP_TO_DATE=false,CURRENT_SHA=" },
		ENV_SHA("CURRENT_SHA", 0, ""),
		ENV_BOOL("UP_TO_DATE", 0, "false", ""),
	};

	pairs[0] = a;
	pairs[1] = b;
	pairs[2] = NULL;
	return env_read(v, 3, from_pairs);
}

int
main(void)
{
	struct env_var vars[] = {
		ENV_STRING("API", ENV_REQUIRED, NULL, "api"),
		ENV_STRING("TOKEN", ENV_SECRET, NULL, "token"),
		ENV_LONG("NUM", 0, "5", 1, 100, "number"),
		ENV_STRING("EMPTY", 0, "dflt", "empty uses default"),
		ENV_STRING("BAD", 0, NULL, "not a number, as a string"),
		ENV_STRING("UNSET", 0, NULL, "unset"),
		ENV_LONG("UNSET_NUM", 0, NULL, 1, 9, "unset number"),
		ENV_LONG("DEF_NUM", 0, "7", 1, 9, "default number"),
		ENV_SHA("SHA", 0, "sha"),
		ENV_BOOL("FLAG", 0, "false", "flag"),
		ENV_ENUM("WORD", 0, NULL, "success, failed", "word"),
		/* required only while WORD=failed, as it is */
		{ .name = "COND", .desc = "cond", .when = "WORD=failed" },
	};
	struct env_var missing[] = {
		ENV_STRING("M1", ENV_REQUIRED, NULL, "one"),
		ENV_STRING("API", ENV_REQUIRED, NULL, "api"),
		ENV_STRING("M2", ENV_REQUIRED, NULL, "two"),
		/* required only while FLAG is false: it is true */
		{ .name = "COND2", .desc = "cond", .when = "FLAG=false" },
		ENV_BOOL("FLAG", 0, NULL, "flag"),
	};
	struct env_var badnum[] = {
		ENV_LONG("NUM", 0, NULL, 1, 10, "number out of bounds"),
		ENV_LONG("BAD", 0, NULL, 1, 10, "not a number"),
	};
	struct env_var badsha[] = { ENV_SHA("BAD", 0, "sha") };
	struct env_var badbool[] = { ENV_BOOL("BAD", 0, NULL, "flag") };
	struct env_var badword[] = {
		ENV_ENUM("BAD", 0, NULL, "one, two", "word"),
	};
	struct env_var both[] = {
		ENV_LONG("BAD", 0, NULL, 1, 10, "not a number"),
		ENV_STRING("M1", ENV_REQUIRED, NULL, "one"),
	};
	size_t n = sizeof(vars) / sizeof(vars[0]);
	char *m;

	log_init("test", LOG_INFO, 0);
	OK(env_read(vars, n - 1, fake) == 0);
	OK(env_read(vars, n, fake) == E_CONFIG);
	STREQ(err_msg(), "missing variable: COND");
	STREQ(env_get(vars, n, "API"), "https://gitlab.example.com/api/v4");
	STREQ(env_get(vars, n, "EMPTY"), "dflt");
	OK(env_get(vars, n, "UNSET") == NULL);
	OK(env_get(vars, n, "NOT_DECLARED") == NULL);
	OK(env_num(vars, n, "NUM") == 12);
	OK(env_num(vars, n, "UNSET_NUM") == 0);
	OK(env_num(vars, n, "DEF_NUM") == 7);
	OK(env_num(vars, n, "NOT_DECLARED") == 0);
	OK(env_num(vars, n, "FLAG") == 1);
	STREQ(env_get(vars, n, "SHA"),
	    "0123456789abcdef0123456789abcdef01234567");
	STREQ(env_get(vars, n, "WORD"), "failed");
	/* a bad value of any type is a usage error naming the variable */
	OK(env_read(badnum, 2, fake) == E_USAGE);
	STREQ(err_msg(), "NUM: expected a whole number from 1 to 10, got '12'");
	OK(env_read(badnum + 1, 1, fake) == E_USAGE);
	OK(strstr(err_msg(), "BAD: expected a whole number") != NULL);
	OK(env_read(badsha, 1, fake) == E_USAGE);
	STREQ(err_msg(), "BAD: expected 40 hex digits, got 'twelve'");
	OK(env_read(badbool, 1, fake) == E_USAGE);
	STREQ(err_msg(), "BAD: expected true or false, got 'twelve'");
	OK(env_read(badword, 1, fake) == E_USAGE);
	STREQ(err_msg(), "BAD: expected one of one, two; got 'twelve'");
	/* missing configuration is reported before bad values */
	OK(env_read(both, 2, fake) == E_CONFIG);
	STREQ(err_msg(), "missing variable: M1");
	/* MR_IID: unset after MR_ACTION=none is "nothing to do", not 78 */
	{
		long v = -1;

		OK(iid(&v, "MR_ACTION=none", NULL) == 0 && v == 0);
		OK(iid(&v, "MR_ACTION=created", NULL) == E_CONFIG);
		OK(iid(&v, NULL, NULL) == E_CONFIG);
		STREQ(err_msg(), "missing variable: MR_IID");
		OK(iid(&v, "MR_IID=12", NULL) == 0 && v == 12);
		OK(iid(&v, "MR_IID=12", "MR_ACTION=none") == 0 && v == 12);
		OK(iid(&v, "MR_IID=12x", NULL) == E_USAGE);
		OK(iid(&v, "MR_IID=0", "MR_ACTION=none") == E_USAGE);
	}
	OK(green(NULL, NULL) == E_CONFIG);
	OK(green("UP_TO_DATE=no", NULL) == E_CONFIG);
	OK(green("UP_TO_DATE=true", NULL) == 0);
	OK(green("CURRENT_SHA=0123456789abcdef0123456789abcdef01234567",
	       NULL) == 0);
	OK(green("GREEN_SHA=0123456789abcdef0123456789abcdef01234567", NULL) ==
	    0);
	OK(green("UP_TO_DATE=maybe",
	       "GREEN_SHA=0123456789abcdef0123456789abcdef01234567") ==
	    E_USAGE);
	/* secrets are masked in every later log line */
	m = log_mask("token is glpat-very-secret!");
	STREQ(m, "token is [MASKED]!");
	free(m);
	/* all missing variables in one message */
	OK(env_read(missing, 5, fake) == E_CONFIG);
	STREQ(err_msg(), "missing variables: M1, M2");
	log_forget_secrets();
	m = log_mask("glpat-very-secret");
	STREQ(m, "glpat-very-secret");
	free(m);
	return tap_done();
}
