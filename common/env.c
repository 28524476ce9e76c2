/* env: declared tables of environment variables */
#include <string.h>

#include "buf.h"
#include "env.h"
#include "err.h"
#include "log.h"
#include "util.h"

int
env_read(struct env_var *vars, size_t n, char *(*get)(const char *))
{
	struct buf missing;
	size_t i, nmissing = 0;
	int rc = 0;

	buf_init(&missing, 4096);
	for (i = 0; i < n; i++) {
		const char *v = get(vars[i].name);

		if (!v || !*v)
			v = vars[i].def;
		vars[i].value = v;
		if (v && (vars[i].flags & ENV_SECRET))
			log_secret(v);
		if (!v && (vars[i].flags & ENV_REQUIRED)) {
			buf_printf(&missing, "%s%s", nmissing ? ", " : "",
			    vars[i].name);
			nmissing++;
		}
	}
	if (nmissing)
		rc = err_set(E_CONFIG, "missing variable%s: %s",
		    nmissing > 1 ? "s" : "", missing.data);
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

int
env_long(long *out, struct env_var *vars, size_t n, const char *name, long min,
    long max)
{
	const char *v = env_get(vars, n, name);

	if (!v)
		return err_set(E_CONFIG, "missing variable: %s", name);
	if (parse_long(out, v, min, max) < 0)
		return err_set(E_USAGE,
		    "%s: expected a whole number from %ld to %ld, got '%.40s'",
		    name, min, max, v);
	return 0;
}

int
env_bool(int *out, struct env_var *vars, size_t n, const char *name)
{
	const char *v = env_get(vars, n, name);

	if (!v) {
		*out = 0;
		return 0;
	}
	if (parse_bool(out, v) < 0)
		return err_set(E_USAGE,
		    "%s: expected true or false, got '%.40s'", name, v);
	return 0;
}

void
env_help(FILE *f, const struct env_var *vars, size_t n)
{
	size_t i;

	fprintf(f, "\nvariables:\n");
	for (i = 0; i < n; i++) {
		fprintf(f, "  %-26s %s", vars[i].name, vars[i].desc);
		if (vars[i].flags & ENV_REQUIRED)
			fprintf(f, " (required)");
		else if (vars[i].def)
			fprintf(f, " (default: %s)", vars[i].def);
		fputc('\n', f);
	}
}
