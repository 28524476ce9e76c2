/* json: jsmn-based documents with borrowed views, and a small writer */
#ifndef RELAY_JSON_H
#define RELAY_JSON_H

#include <stddef.h>

struct buf;
struct json;

/* A view of one value inside a document; valid while the document lives.
 * i < 0 means "missing" and every accessor treats it as such. */
struct jv {
	const struct json *doc;
	int i;
};

enum {
	JSON_MISSING,
	JSON_NULL,
	JSON_BOOL,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

#define JSON_MAX_DEPTH 64

/* json_parse: strict RFC 8259 parse of text (copied). Strings are
 * unescaped once, so json_str views are NUL-terminated and borrowed.
 * Rejects truncated input, trailing data, invalid UTF-8, lone surrogates
 * and \u0000. Returns 0 or E_PARSE/E_NOMEM; *out is freed with json_free. */
int json_parse(struct json **out, const char *text, size_t len);
/* json_parse_owned: json_parse without the copy, for large documents:
 * text (malloc'd, len + 1 bytes) belongs to the document from here on,
 * also when parsing fails */
int json_parse_owned(struct json **out, char *text, size_t len);
void json_free(struct json *doc);

struct jv json_root(const struct json *doc);
int json_type(struct jv v);
/* json_get: follow a dotted path of keys and array indexes
 * ("head_pipeline.status", "0.sha"); missing when any step is absent */
struct jv json_get(struct jv v, const char *path);
/* json_size: members of an object or elements of an array, else 0 */
size_t json_size(struct jv v);
/* json_str: the unescaped string, or NULL when v is not a string */
const char *json_str(struct jv v);
/* json_strp: json_str(json_get(v, path)) */
const char *json_strp(struct jv v, const char *path);
/* json_int: an integral number that fits a long long; else E_PARSE */
int json_int(long long *out, struct jv v);
/* json_intp: the integer at path, or def */
long long json_intp(struct jv v, const char *path, long long def);
/* json_bool: 1 true, 0 false, -1 not a boolean */
int json_bool(struct jv v);

/* Iterate an array (key is NULL) or object (key is the member name). */
struct json_iter {
	const struct json *doc;
	int next; /* token index of the next element */
	int left; /* elements left */
	int obj;
};
void json_iter_init(struct json_iter *it, struct jv container);
/* json_iter_next: 1 and the element, or 0 at the end */
int json_iter_next(struct json_iter *it, struct jv *val, const char **key);

/* Writer: appends compact JSON to a buf; errors stick and are returned by
 * jw_finish, so call sites stay linear. */
struct jw {
	struct buf *b;
	int depth;
	int err;
	unsigned char first[JSON_MAX_DEPTH];
	char close[JSON_MAX_DEPTH];
};
void jw_init(struct jw *w, struct buf *b);
void jw_obj(struct jw *w);
void jw_arr(struct jw *w);
void jw_end(struct jw *w);
void jw_key(struct jw *w, const char *key);
void jw_str(struct jw *w, const char *s);
void jw_int(struct jw *w, long long v);
void jw_bool(struct jw *w, int v);
void jw_null(struct jw *w);
/* jw_kstr etc: key and value in one call */
void jw_kstr(struct jw *w, const char *key, const char *s);
void jw_kint(struct jw *w, const char *key, long long v);
void jw_kbool(struct jw *w, const char *key, int v);
int jw_finish(struct jw *w);
/* jw_strs: b = the object of string members named by the (key, value)
 * pairs that follow, up to a NULL key; a NULL value leaves its member out
 * (a request body: {"body": "..."}). Returns 0 or the writer's error. */
int jw_strs(struct buf *b, ...) __attribute__((sentinel));
/* json_escape: append s as a quoted JSON string */
int json_escape(struct buf *b, const char *s);

#endif
