/* env: declared tables of environment variables */
#include <string.h>

#include "buf.h"
#include "env.h"
#include "err.h"
#include "log.h"
#include "util.h"

/* the lowercase copies of ENV_T_SHA values, until the next env_read */
static char shas[ENV_MAX_SHAS][41];
static size_t nshas;

/* check: parse v's value by its type; E_USAGE naming it when it is bad */
static int
check(struct env_var *v)
{
	int b;

	switch (v->type) {
	case ENV_T_LONG:
		if (parse_long(&v->num, v->value, v->min, v->max) < 0)
			return err_set(E_USAGE,
			    "%s: expected a whole number from %ld to %ld, got '%.40s'",
			    v->name, v->min, v->max, v->value);
		break;
	case ENV_T_BOOL:
		if (parse_bool(&b, v->value) < 0)
			return err_set(E_USAGE,
			    "%s: expected true or false, got '%.40s'", v->name,
			    v->value);
		v->num = b;
		break;
	case ENV_T_ENUM:
		if (!list_has(v->choices, v->value))
			return err_set(E_USAGE,
			    "%s: expected one of %s; got '%.40s'", v->name,
			    v->choices, v->value);
		break;
	case ENV_T_SHA:
		if (!is_sha(v->value))
			return err_set(E_USAGE,
			    "%s: expected 40 hex digits, got '%.48s'", v->name,
			    v->value);
		if (nshas == ENV_MAX_SHAS)
			return err_set(
			    E_FAIL, "%s: too many SHA variables", v->name);
		sha_lower(shas[nshas], v->value);
		v->value = shas[nshas++];
		break;
	case ENV_T_STRING: break;
	}
	return 0;
}

/* holds: one clause of a when condition: "VAR=value", "VAR=" (unset) or
 * "VAR!=value" (unset or another value); a bool compares as parsed */
static int
holds(struct env_var *vars, size_t n, const char *c, size_t len)
{
	size_t name = strcspn(c, "!=");
	int neg = c[name] == '!', same;
	const char *want = c + name + 1 + neg;
	size_t wlen = len - (size_t)(want - c);
	struct env_var *on;

	if (name >= len)
		return 0;
	for (on = vars; on < vars + n; on++)
		if (strncmp(on->name, c, name) == 0 && on->name[name] == '\0')
			break;
	if (on == vars + n)
		return 0;
	if (!on->value)
		same = wlen == 0;
	else if (on->type == ENV_T_BOOL && wlen > 0)
		same = (wlen == 4 && strncmp(want, "true", 4) == 0) ||
			(wlen == 5 && strncmp(want, "false", 5) == 0)
		    ? (want[0] == 't') == (on->num != 0)
		    : 0;
	else
		same = strlen(on->value) == wlen &&
		    strncmp(on->value, want, wlen) == 0;
	return neg ? !same : same;
}

/* needed: v is required, always or while every clause of its when holds */
static int
needed(struct env_var *vars, size_t n, const struct env_var *v)
{
	const char *p = v->when, *c;
	size_t len;

	if (v->flags & ENV_REQUIRED)
		return 1;
	if (!p)
		return 0;
	while (list_next(&p, &c, &len))
		if (!holds(vars, n, c, len))
			return 0;
	return 1;
}

int
env_read(struct env_var *vars, size_t n, char *(*get)(const char *))
{
	struct buf missing;
	size_t i, nmissing = 0;
	int rc = 0, bad = 0;

	nshas = 0;
	for (i = 0; i < n; i++) {
		const char *v = get(vars[i].name);

		if (!v || !*v)
			v = vars[i].def;
		vars[i].value = v;
		vars[i].num = 0;
		if (v && (vars[i].flags & ENV_SECRET))
			log_secret(v);
		if (v && !bad && check(&vars[i]) < 0)
			bad = 1; /* the first one keeps its message */
	}
	buf_init(&missing, 4096);
	for (i = 0; i < n; i++)
		if (!vars[i].value && needed(vars, n, &vars[i])) {
			buf_printf(&missing, "%s%s", nmissing ? ", " : "",
			    vars[i].name);
			nmissing++;
		}
	if (nmissing)
		rc = err_set(E_CONFIG, "missing variable%s: %s",
		    nmissing > 1 ? "s" : "", missing.data);
	else if (bad)
		rc = E_USAGE;
	buf_free(&missing);
	return rc;
}

struct env_var *
env_find(struct env_var *vars, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(vars[i].name, name) == 0)
			return &vars[i];
	return NULL;
}

const char *
env_get(struct env_var *vars, size_t n, const char *name)
{
	struct env_var *v = env_find(vars, n, name);

	return v ? v->value : NULL;
}

long
env_num(struct env_var *vars, size_t n, const char *name)
{
	struct env_var *v = env_find(vars, n, name);

	return v && v->value ? v->num : 0;
}

/* help_when: " (required when A=x and B is unset)" */
static void
help_when(FILE *f, const char *p)
{
	const char *sep = " (required when ", *c;
	size_t n;

	while (list_next(&p, &c, &n)) {
		int len = (int)n, name = (int)strcspn(c, "!=");

		if (c[len - 1] == '=')
			fprintf(f, "%s%.*s is unset", sep, len - 1, c);
		else if (name < len && c[name] == '!')
			fprintf(f, "%s%.*s is not %.*s", sep, name, c,
			    len - name - 2, c + name + 2);
		else
			fprintf(f, "%s%.*s", sep, len, c);
		sep = " and ";
	}
	fputc(')', f);
}

void
env_help(FILE *f, const struct env_var *vars, size_t n)
{
	size_t i;

	fprintf(f, "\nvariables:\n");
	for (i = 0; i < n; i++) {
		fprintf(f, "  %-26s %s", vars[i].name, vars[i].desc);
		if (vars[i].type == ENV_T_LONG)
			fprintf(f, " (whole number, %ld to %ld)", vars[i].min,
			    vars[i].max);
		else if (vars[i].type == ENV_T_BOOL)
			fprintf(f, " (true or false)");
		else if (vars[i].type == ENV_T_ENUM)
			fprintf(f, " (one of %s)", vars[i].choices);
		else if (vars[i].type == ENV_T_SHA)
			fprintf(f, " (40 hex digits)");
		if (vars[i].flags & ENV_REQUIRED)
			fprintf(f, " (required)");
		else if (vars[i].when)
			help_when(f, vars[i].when);
		else if (vars[i].def)
			fprintf(f, " (default: %s)", vars[i].def);
		fputc('\n', f);
	}
}
