/* fuzz the JSON layer: parse any bytes, walk every value of a document
 * that parsed, and check that escaping a string and parsing it back gives
 * the string again */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
walk(struct jv v, int depth)
{
	struct json_iter it;
	struct jv e;
	const char *key;
	long long n;

	if (depth > 64)
		return;
	(void)json_type(v);
	(void)json_str(v);
	(void)json_int(&n, v);
	(void)json_bool(v);
	json_iter_init(&it, v);
	while (json_iter_next(&it, &e, &key)) {
		if (key)
			(void)json_get(v, key);
		walk(e, depth + 1);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json *doc = NULL;
	struct buf b;
	char *s;

	if (json_parse(&doc, (const char *)data, size) == 0) {
		walk(json_root(doc), 0);
		(void)json_strp(json_root(doc), "user.id");
		(void)json_strp(json_root(doc), "pipeline.sha");
		json_free(doc);
	}
	/* round trip: a C string survives escaping and parsing */
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	buf_init(&b, 0);
	if (buf_putc(&b, '"') == 0 && json_escape(&b, s) == 0 &&
	    buf_putc(&b, '"') == 0) {
		doc = NULL;
		if (json_parse(&doc, b.data, b.len) == 0) {
			const char *back = json_str(json_root(doc));

			/* invalid UTF-8 may be refused, never altered */
			assert(back && strcmp(back, s) == 0);
			json_free(doc);
		}
	}
	buf_free(&b);
	free(s);
	return 0;
}
