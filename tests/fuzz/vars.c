/* fuzz the variable validators: numbers, booleans, SHAs, URLs, times and
 * lists, as read from CI variables (fields separated by newlines) */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "url.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *field[4];

static char *
get(const char *name)
{
	return (char *)field[(unsigned char)name[0] % 4];
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), *p;
	struct env_var vars[] = {
		ENV_LONG("A_LONG", 0, NULL, 0, 100, ""),
		ENV_BOOL("B_BOOL", 0, "false", ""),
		ENV_SHA("C_SHA", ENV_SECRET, ""),
		ENV_ENUM("D_ENUM", ENV_REQUIRED, NULL, "a, b,,c ", ""),
	};
	long n;
	long long t;
	int b, i;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	for (i = 0, p = s; i < 4; i++) {
		field[i] = p;
		p += strcspn(p, "\n");
		if (*p)
			*p++ = 0;
	}
	if (parse_long(&n, field[0], -1000, 1000) == 0)
		assert(n >= -1000 && n <= 1000);
	if (parse_bool(&b, field[1]) == 0)
		assert(b == 0 || b == 1);
	if (is_sha(field[2]))
		assert(strlen(field[2]) == 40);
	(void)url_allowed(field[0]);
	(void)url_same_origin(field[0], field[1]);
	(void)iso8601_parse(&t, field[3]);
	(void)list_has(field[0], field[1]);
	if (env_read(vars, 4, get) == 0) {
		n = env_num(vars, 4, "A_LONG");
		assert(n >= 0 && n <= 100);
		assert(env_num(vars, 4, "B_BOOL") == 0 ||
		    env_num(vars, 4, "B_BOOL") == 1);
		assert(!vars[2].value || strlen(vars[2].value) == 40);
	}
	free(s);
	return 0;
}
