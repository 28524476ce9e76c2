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
	return NULL;
}

int
main(void)
{
	struct env_var vars[] = {
		{ "API", ENV_REQUIRED, NULL, "api", NULL },
		{ "TOKEN", ENV_SECRET, NULL, "token", NULL },
		{ "NUM", 0, "5", "number", NULL },
		{ "EMPTY", 0, "dflt", "empty uses default", NULL },
		{ "BAD", 0, NULL, "bad number", NULL },
		{ "UNSET", 0, NULL, "unset", NULL },
	};
	struct env_var missing[] = {
		{ "M1", ENV_REQUIRED, NULL, "one", NULL },
		{ "API", ENV_REQUIRED, NULL, "api", NULL },
		{ "M2", ENV_REQUIRED, NULL, "two", NULL },
	};
	size_t n = sizeof(vars) / sizeof(vars[0]);
	long v;
	char *m;

	log_init("test", LOG_INFO, 0);
	OK(env_read(vars, n, fake) == 0);
	STREQ(env_get(vars, n, "API"), "https://gitlab.example.com/api/v4");
	STREQ(env_get(vars, n, "EMPTY"), "dflt");
	OK(env_get(vars, n, "UNSET") == NULL);
	OK(env_get(vars, n, "NOT_DECLARED") == NULL);
	OK(env_long(&v, vars, n, "NUM", 1, 100) == 0 && v == 12);
	OK(env_long(&v, vars, n, "BAD", 1, 100) == E_USAGE);
	OK(strstr(err_msg(), "BAD: expected a whole number") != NULL);
	OK(env_long(&v, vars, n, "NUM", 1, 10) == E_USAGE);
	/* secrets are masked in every later log line */
	m = log_mask("token is glpat-very-secret!");
	STREQ(m, "token is [MASKED]!");
	free(m);
	/* all missing variables in one message */
	OK(env_read(missing, 3, fake) == E_CONFIG);
	STREQ(err_msg(), "missing variables: M1, M2");
	log_forget_secrets();
	m = log_mask("glpat-very-secret");
	STREQ(m, "glpat-very-secret");
	free(m);
	return tap_done();
}
