/* unit tests: json */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "json.h"
#include "tap.h"

static int
parse(struct json **d, const char *s)
{
	return json_parse(d, s, strlen(s));
}

static int
rejects(const char *s)
{
	struct json *d = NULL;
	int rc = parse(&d, s);

	json_free(d);
	return rc == E_PARSE;
}

int
main(void)
{
	struct json *d = NULL;
	struct json_iter it;
	struct jv v, e;
	const char *k;
	long long n;
	int count;

	OK(parse(&d,
	       "{\"a\":{\"b\":[1,{\"c\":\"x\"}]},\"s\":\"h\\u00e9\\n\","
	       "\"t\":true,\"f\":false,\"z\":null,\"n\":-42,\"big\":1e3}") ==
	    0);
	v = json_root(d);
	OK(json_type(v) == JSON_OBJECT);
	OK(json_size(v) == 7);
	STREQ(json_strp(v, "a.b.1.c"), "x");
	STREQ(json_strp(v, "s"), "h\xc3\xa9\n");
	OK(json_bool(json_get(v, "t")) == 1);
	OK(json_bool(json_get(v, "f")) == 0);
	OK(json_bool(json_get(v, "z")) == -1);
	OK(json_type(json_get(v, "z")) == JSON_NULL);
	OK(json_int(&n, json_get(v, "n")) == 0 && n == -42);
	OK(json_int(&n, json_get(v, "big")) == E_PARSE);
	OK(json_intp(v, "a.b.0", 0) == 1);
	OK(json_type(json_get(v, "a.b.2")) == JSON_MISSING);
	OK(json_type(json_get(v, "a.nope.deeper")) == JSON_MISSING);
	OK(json_strp(v, "n") == NULL);
	OK(json_intp(v, "s", 7) == 7);
	count = 0;
	json_iter_init(&it, v);
	while (json_iter_next(&it, &e, &k))
		count++;
	OK(count == 7);
	json_iter_init(&it, json_get(v, "a.b"));
	OK(json_iter_next(&it, &e, &k) && k == NULL &&
	    json_intp(e, "", 0) == 1);
	OK(json_iter_next(&it, &e, NULL) && json_type(e) == JSON_OBJECT);
	OK(!json_iter_next(&it, &e, NULL));
	json_free(d);
	d = NULL;

	/* unescaping: surrogate pairs, escapes, keys */
	OK(parse(&d,
	       "[\"\\ud83d\\ude00\",\"a\\\"b\\\\c\\/d\\t\",\"\\u0041\"]") == 0);
	STREQ(json_strp(json_root(d), "0"), "\xf0\x9f\x98\x80");
	STREQ(json_strp(json_root(d), "1"), "a\"b\\c/d\t");
	STREQ(json_strp(json_root(d), "2"), "A");
	json_free(d);
	d = NULL;
	OK(parse(&d, "{\"k\\u0065y\":\"v\"}") == 0);
	STREQ(json_strp(json_root(d), "key"), "v");
	json_free(d);
	d = NULL;

	/* hostile input */
	OK(rejects(""));
	OK(rejects("   "));
	OK(rejects("{"));
	OK(rejects("{\"a\":"));
	OK(rejects("{\"a\":1"));
	OK(rejects("[1,2"));
	OK(rejects("[1,]"));
	OK(rejects("{\"a\":1,}"));
	OK(rejects("{\"a\" 1}"));
	OK(rejects("{\"a\":1 \"b\":2}"));
	OK(rejects("{a:1}"));
	OK(rejects("[tru]"));
	OK(rejects("[nul]"));
	OK(rejects("[truex]"));
	OK(rejects("[01]"));
	OK(rejects("[1.]"));
	OK(rejects("[-]"));
	OK(rejects("[1e]"));
	OK(rejects("\"unterminated"));
	OK(rejects("\"bad \\x escape\""));
	OK(rejects("\"\\ud800\""));
	OK(rejects("\"\\udc00\""));
	OK(rejects("\"\\ud800\\u0041\""));
	OK(rejects("\"\\u0000\""));
	OK(rejects("\"\\u12\""));
	OK(rejects("\"tab\there\""));
	OK(rejects("\"\xff\""));
	OK(rejects("\"\xc0\x80\""));
	OK(rejects("\"\xed\xa0\x80\""));
	OK(rejects("{} {}"));
	OK(rejects("{}x"));
	OK(rejects("<html>502 Bad Gateway</html>"));
	{
		char deep[200];

		memset(deep, '[', 100);
		memset(deep + 100, ']', 100);
		OK(json_parse(&d, deep, 200) == E_PARSE);
		OK(strstr(err_msg(), "nesting too deep") != NULL);
		json_free(d);
		d = NULL;
	}
	OK(parse(&d, "{\"a\":") == E_PARSE && strstr(err_msg(), "truncated"));
	OK(d == NULL);
	/* embedded NUL in the buffer is not JSON */
	OK(json_parse(&d, "[1]\0", 4) == E_PARSE);
	/* accessors on missing values are safe */
	v.doc = NULL;
	v.i = -1;
	OK(json_type(v) == JSON_MISSING && json_str(v) == NULL &&
	    json_size(v) == 0 && json_bool(v) == -1);
	json_iter_init(&it, v);
	OK(!json_iter_next(&it, &e, NULL));
	json_free(NULL);

	/* writer */
	{
		/* jw_strs: string members in order, a NULL value left out */
		struct buf b;

		buf_init(&b, 0);
		OK(jw_strs(&b, "a", "x\"y", "skip", (char *)NULL, "c", "",
		       (char *)NULL) == 0);
		STREQ(b.data, "{\"a\":\"x\\\"y\",\"c\":\"\"}");
		buf_free(&b);
		buf_init(&b, 0);
		OK(jw_strs(&b, (char *)NULL) == 0);
		STREQ(b.data, "{}");
		buf_free(&b);
	}
	{
		struct buf b;
		struct jw w;

		buf_init(&b, 0);
		jw_init(&w, &b);
		jw_obj(&w);
		jw_kstr(&w, "s", "q\"\\\n\x01");
		jw_kint(&w, "i", -5);
		jw_key(&w, "a");
		jw_arr(&w);
		jw_bool(&w, 1);
		jw_null(&w);
		jw_obj(&w);
		jw_end(&w);
		jw_str(&w, "x");
		jw_end(&w);
		jw_kbool(&w, "b", 0);
		jw_end(&w);
		OK(jw_finish(&w) == 0);
		STREQ(b.data,
		    "{\"s\":\"q\\\"\\\\\\n\\u0001\",\"i\":-5,"
		    "\"a\":[true,null,{},\"x\"],\"b\":false}");
		/* what the writer writes, the parser reads back */
		OK(json_parse(&d, b.data, b.len) == 0);
		STREQ(json_strp(json_root(d), "s"), "q\"\\\n\x01");
		json_free(d);
		d = NULL;
		buf_reset(&b);
		jw_init(&w, &b);
		jw_obj(&w);
		OK(jw_finish(&w) == E_FAIL);
		jw_init(&w, &b);
		jw_end(&w);
		OK(jw_finish(&w) == E_FAIL);
		buf_free(&b);
	}
	{
		/* json_parse_owned: parsed in place; the text belongs to the
		 * document, and is freed on failure too (ASan's leak check) */
		char *t = malloc(32), *bad = malloc(32);

		snprintf(t, 32, "%s", "{\"a\":[1,{\"b\":\"c\\n\"}]}");
		OK(json_parse_owned(&d, t, strlen(t)) == 0);
		STREQ(json_strp(json_root(d), "a.1.b"), "c\n");
		OK(json_size(json_get(json_root(d), "a")) == 2);
		json_free(d);
		d = NULL;
		snprintf(bad, 32, "%s", "{\"a\":[1,}");
		OK(json_parse_owned(&d, bad, strlen(bad)) == E_PARSE);
		OK(d == NULL);
	}
	return tap_done();
}
