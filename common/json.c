/* json: jsmn-based documents with borrowed views, and a small writer.
 *
 * jsmn tokenises but accepts some invalid documents (missing commas, bare
 * words in strict mode's blind spots), so a strict validating pass runs
 * first; jsmn then indexes a document known to be well formed. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSMN_STATIC
#define JSMN_STRICT
/* parent links: closing a container is O(depth), not a scan back over
 * every token (quadratic on wide documents: relay-status's 1,000 bumps) */
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#include "buf.h"
#include "err.h"
#include "json.h"

struct json {
	char *text; /* owned; strings unescaped in place and NUL-terminated */
	size_t len;
	jsmntok_t *tok;
	int ntok;
};

/* ---- strict validation (RFC 8259) ---- */

struct vstate {
	const unsigned char *s;
	size_t n, i;
	int depth;
	const char *why;
};

static void
ws(struct vstate *v)
{
	while (v->i < v->n &&
	    (v->s[v->i] == ' ' || v->s[v->i] == '\t' || v->s[v->i] == '\n' ||
		v->s[v->i] == '\r'))
		v->i++;
}

static int
fail(struct vstate *v, const char *why)
{
	if (!v->why)
		v->why = why;
	return -1;
}

static int
hex4(const unsigned char *p, unsigned *out)
{
	unsigned x = 0;
	int k;

	for (k = 0; k < 4; k++) {
		unsigned c = p[k];

		x <<= 4;
		if (c >= '0' && c <= '9')
			x |= c - '0';
		else if (c >= 'a' && c <= 'f')
			x |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			x |= c - 'A' + 10;
		else
			return -1;
	}
	*out = x;
	return 0;
}

/* utf8_len: length of the valid UTF-8 sequence at p (max n), or 0 */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	size_t len, k;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (k = 1; k < len; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[k] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

static int
vstring(struct vstate *v)
{
	v->i++; /* opening quote */
	while (v->i < v->n) {
		unsigned c = v->s[v->i];

		if (c == '"') {
			v->i++;
			return 0;
		}
		if (c < 0x20)
			return fail(v, "control character in string");
		if (c == '\\') {
			unsigned u, lo;

			if (v->i + 1 >= v->n)
				break;
			c = v->s[v->i + 1];
			if (strchr("\"\\/bfnrt", (int)c) && c) {
				v->i += 2;
				continue;
			}
			if (c != 'u')
				return fail(v, "bad escape in string");
			if (v->i + 6 > v->n)
				break;
			if (hex4(v->s + v->i + 2, &u) < 0)
				return fail(v, "bad \\u escape in string");
			if (u == 0)
				return fail(v, "\\u0000 in string");
			v->i += 6;
			if (u >= 0xdc00 && u <= 0xdfff)
				return fail(v, "lone low surrogate in string");
			if (u >= 0xd800 && u <= 0xdbff) {
				if (v->i + 6 > v->n)
					break;
				if (v->s[v->i] != '\\' ||
				    v->s[v->i + 1] != 'u' ||
				    hex4(v->s + v->i + 2, &lo) < 0 ||
				    lo < 0xdc00 || lo > 0xdfff)
					return fail(
					    v, "lone high surrogate in string");
				v->i += 6;
			}
			continue;
		}
		{
			size_t l = utf8_len(v->s + v->i, v->n - v->i);

			if (!l)
				return fail(v, "invalid UTF-8 in string");
			v->i += l;
		}
	}
	return fail(v, "truncated string");
}

static int
vdigits(struct vstate *v)
{
	size_t start = v->i;

	while (v->i < v->n && v->s[v->i] >= '0' && v->s[v->i] <= '9')
		v->i++;
	return v->i > start ? 0 : fail(v, "bad number");
}

static int
vnumber(struct vstate *v)
{
	if (v->s[v->i] == '-')
		v->i++;
	if (v->i < v->n && v->s[v->i] == '0')
		v->i++;
	else if (vdigits(v) < 0)
		return -1;
	if (v->i < v->n && v->s[v->i] == '.') {
		v->i++;
		if (vdigits(v) < 0)
			return -1;
	}
	if (v->i < v->n && (v->s[v->i] == 'e' || v->s[v->i] == 'E')) {
		v->i++;
		if (v->i < v->n && (v->s[v->i] == '+' || v->s[v->i] == '-'))
			v->i++;
		if (vdigits(v) < 0)
			return -1;
	}
	return 0;
}

static int vvalue(struct vstate *v);

static int
vcontainer(struct vstate *v, int obj)
{
	char close = obj ? '}' : ']';

	if (++v->depth > JSON_MAX_DEPTH)
		return fail(v, "nesting too deep");
	v->i++;
	ws(v);
	if (v->i < v->n && v->s[v->i] == close) {
		v->i++;
		v->depth--;
		return 0;
	}
	for (;;) {
		if (obj) {
			ws(v);
			if (v->i >= v->n)
				return fail(v, "truncated document");
			if (v->s[v->i] != '"')
				return fail(v, "object key is not a string");
			if (vstring(v) < 0)
				return -1;
			ws(v);
			if (v->i >= v->n)
				return fail(v, "truncated document");
			if (v->s[v->i] != ':')
				return fail(v, "expected ':' after key");
			v->i++;
		}
		if (vvalue(v) < 0)
			return -1;
		ws(v);
		if (v->i >= v->n)
			return fail(v, "truncated document");
		if (v->s[v->i] == ',') {
			v->i++;
			continue;
		}
		if (v->s[v->i] == close) {
			v->i++;
			v->depth--;
			return 0;
		}
		return fail(
		    v, obj ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static int
vlit(struct vstate *v, const char *lit)
{
	size_t n = strlen(lit);

	if (v->n - v->i < n) {
		if (memcmp(v->s + v->i, lit, v->n - v->i) == 0)
			return fail(v, "truncated document");
		return fail(v, "unexpected word");
	}
	if (memcmp(v->s + v->i, lit, n) != 0)
		return fail(v, "unexpected word");
	v->i += n;
	return 0;
}

static int
vvalue(struct vstate *v)
{
	ws(v);
	if (v->i >= v->n)
		return fail(v, "truncated document");
	switch (v->s[v->i]) {
	case '{': return vcontainer(v, 1);
	case '[': return vcontainer(v, 0);
	case '"': return vstring(v);
	case 't': return vlit(v, "true");
	case 'f': return vlit(v, "false");
	case 'n': return vlit(v, "null");
	default:
		if (v->s[v->i] == '-' ||
		    (v->s[v->i] >= '0' && v->s[v->i] <= '9'))
			return vnumber(v);
		return fail(v, "unexpected character");
	}
}

/* ---- unescaping (input already validated) ---- */

static size_t
put_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* unescape s[start, end) in place and NUL-terminate: output is never
 * longer than input, and s[end] is the closing quote, free to overwrite */
static void
unescape(char *s, int start, int end)
{
	int i = start;
	char *o = s + start;

	while (i < end) {
		unsigned u, lo;

		if (s[i] != '\\') {
			*o++ = s[i++];
			continue;
		}
		switch (s[i + 1]) {
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u':
			hex4((unsigned char *)s + i + 2, &u);
			if (u >= 0xd800 && u <= 0xdbff) {
				hex4((unsigned char *)s + i + 8, &lo);
				u = 0x10000 + ((u - 0xd800) << 10) +
				    (lo - 0xdc00);
				i += 6;
			}
			o += put_utf8(o, u);
			i += 6;
			continue;
		default: *o++ = s[i + 1]; break;
		}
		i += 2;
	}
	*o = '\0';
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int skip(const struct json *d, int i);

/* strict: what parsers disagree on is refused, so no two readers of an
 * answer see different values: duplicate keys in an object (which one
 * wins?), integers past 64 bits (rounded, wrapped or cut). Keys are
 * already unescaped. */
static int
strict(const struct json *d)
{
	char **keys = NULL;
	size_t cap = 0;
	int i, rc = 0;

	for (i = 0; i < d->ntok && rc == 0; i++) {
		const jsmntok_t *t = &d->tok[i];

		if (t->type == JSMN_PRIMITIVE) {
			const char *p = d->text + t->start;
			int n = t->end - t->start, k, digits = 0, integral = 1;

			for (k = 0; k < n; k++) {
				if (p[k] >= '0' && p[k] <= '9')
					digits++;
				else if (p[k] != '-')
					integral = 0;
			}
			if ((*p == '-' || (*p >= '0' && *p <= '9')) &&
			    integral && digits > 18) {
				char tmp[24], *end;
				long long x;

				errno = 0;
				if (n < (int)sizeof(tmp)) {
					memcpy(tmp, p, (size_t)n);
					tmp[n] = '\0';
					x = strtoll(tmp, &end, 10);
					(void)x;
				}
				if (n >= (int)sizeof(tmp) || errno == ERANGE)
					rc = err_set(E_PARSE,
					    "malformed JSON: integer out of range at byte %d",
					    t->start);
			}
		} else if (t->type == JSMN_OBJECT && t->size > 1) {
			size_t k, nk = (size_t)t->size;
			int j = i + 1;

			if (nk > cap) {
				char **nkeys =
				    realloc(keys, nk * sizeof(*keys));

				if (!nkeys) {
					rc = err_set(E_NOMEM, "out of memory");
					break;
				}
				keys = nkeys;
				cap = nk;
			}
			for (k = 0; k < nk; k++) {
				keys[k] = d->text + d->tok[j].start;
				j = skip(d, j + 1);
			}
			qsort(keys, nk, sizeof(*keys), cmp_str);
			for (k = 1; k < nk && rc == 0; k++)
				if (strcmp(keys[k - 1], keys[k]) == 0)
					rc = err_set(E_PARSE,
					    "malformed JSON: duplicate key \"%.40s\"",
					    keys[k]);
		}
	}
	free(keys);
	return rc;
}

/* index: validate and tokenize text (owned by d, len bytes, NUL at len) */
static int
index_doc(struct json **out, struct json *d)
{
	struct vstate v = { (const unsigned char *)d->text, d->len, 0, 0,
		NULL };
	jsmn_parser p;
	int n, i;

	if (vvalue(&v) == 0) {
		ws(&v);
		if (v.i != v.n)
			fail(&v, "trailing data after document");
	}
	if (v.why) {
		json_free(d);
		return err_set(
		    E_PARSE, "malformed JSON: %s at byte %zu", v.why, v.i);
	}
	jsmn_init(&p);
	n = jsmn_parse(&p, d->text, d->len, NULL, 0);
	if (n <= 0)
		goto bad;
	d->tok = calloc((size_t)n, sizeof(*d->tok));
	if (!d->tok) {
		i = (int)d->len;
		json_free(d);
		return err_set(
		    E_NOMEM, "out of memory parsing %d bytes of JSON", i);
	}
	jsmn_init(&p);
	d->ntok = jsmn_parse(&p, d->text, d->len, d->tok, (unsigned)n);
	if (d->ntok != n)
		goto bad;
	for (i = 0; i < n; i++)
		if (d->tok[i].type == JSMN_STRING)
			unescape(d->text, d->tok[i].start, d->tok[i].end);
	i = strict(d);
	if (i < 0) {
		json_free(d);
		return i;
	}
	*out = d;
	return 0;
bad:
	json_free(d);
	return err_set(E_PARSE, "malformed JSON: tokenizer rejected it");
}

int
json_parse(struct json **out, const char *text, size_t len)
{
	struct json *d;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (d)
		d->text = malloc(len + 1);
	if (!d || !d->text) {
		json_free(d);
		return err_set(
		    E_NOMEM, "out of memory parsing %zu bytes of JSON", len);
	}
	memcpy(d->text, text, len);
	d->text[len] = '\0';
	d->len = len;
	return index_doc(out, d);
}

int
json_parse_owned(struct json **out, char *text, size_t len)
{
	struct json *d;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (!d) {
		free(text);
		return err_set(
		    E_NOMEM, "out of memory parsing %zu bytes of JSON", len);
	}
	d->text = text;
	d->text[len] = '\0';
	d->len = len;
	return index_doc(out, d);
}

void
json_free(struct json *d)
{
	if (!d)
		return;
	free(d->text);
	free(d->tok);
	free(d);
}

struct jv
json_root(const struct json *d)
{
	struct jv v = { d, d && d->ntok > 0 ? 0 : -1 };

	return v;
}

static const jsmntok_t *
tok(struct jv v)
{
	if (!v.doc || v.i < 0 || v.i >= v.doc->ntok)
		return NULL;
	return &v.doc->tok[v.i];
}

int
json_type(struct jv v)
{
	const jsmntok_t *t = tok(v);

	if (!t)
		return JSON_MISSING;
	switch (t->type) {
	case JSMN_OBJECT: return JSON_OBJECT;
	case JSMN_ARRAY: return JSON_ARRAY;
	case JSMN_STRING: return JSON_STRING;
	default:
		switch (v.doc->text[t->start]) {
		case 'n': return JSON_NULL;
		case 't':
		case 'f': return JSON_BOOL;
		default: return JSON_NUMBER;
		}
	}
}

/* skip: index of the token after the subtree rooted at i. An object's size
 * counts its keys and each key's size is 1 (its value). */
static int
skip(const struct json *d, int i)
{
	int pending = 1;

	while (pending > 0 && i < d->ntok) {
		pending += d->tok[i].size - 1;
		i++;
	}
	return i;
}

size_t
json_size(struct jv v)
{
	const jsmntok_t *t = tok(v);

	if (!t || (t->type != JSMN_OBJECT && t->type != JSMN_ARRAY))
		return 0;
	return (size_t)t->size;
}

void
json_iter_init(struct json_iter *it, struct jv c)
{
	const jsmntok_t *t = tok(c);

	it->doc = c.doc;
	it->next = c.i + 1;
	it->left = 0;
	it->obj = 0;
	if (t && (t->type == JSMN_OBJECT || t->type == JSMN_ARRAY)) {
		it->left = t->size;
		it->obj = t->type == JSMN_OBJECT;
	}
}

int
json_iter_next(struct json_iter *it, struct jv *val, const char **key)
{
	if (it->left <= 0)
		return 0;
	it->left--;
	if (it->obj) {
		if (key)
			*key = it->doc->text + it->doc->tok[it->next].start;
		it->next++;
	} else if (key) {
		*key = NULL;
	}
	val->doc = it->doc;
	val->i = it->next;
	it->next = skip(it->doc, it->next);
	return 1;
}

static struct jv
member(struct jv v, const char *name, size_t n)
{
	struct jv miss = { v.doc, -1 }, e;
	const jsmntok_t *t = tok(v);
	struct json_iter it;
	const char *k;

	if (!t)
		return miss;
	json_iter_init(&it, v);
	if (t->type == JSMN_OBJECT) {
		while (json_iter_next(&it, &e, &k))
			if (strlen(k) == n && memcmp(k, name, n) == 0)
				return e;
	} else if (t->type == JSMN_ARRAY) {
		long idx = 0;
		size_t j;

		if (n == 0 || n > 9)
			return miss;
		for (j = 0; j < n; j++) {
			if (name[j] < '0' || name[j] > '9')
				return miss;
			idx = idx * 10 + (name[j] - '0');
		}
		while (json_iter_next(&it, &e, NULL))
			if (idx-- == 0)
				return e;
	}
	return miss;
}

struct jv
json_get(struct jv v, const char *path)
{
	const char *p = path;

	while (*p && v.i >= 0) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		v = member(v, p, n);
		p += n;
		if (*p == '.')
			p++;
	}
	return v;
}

const char *
json_str(struct jv v)
{
	const jsmntok_t *t = tok(v);

	if (!t || t->type != JSMN_STRING)
		return NULL;
	return v.doc->text + t->start;
}

const char *
json_strp(struct jv v, const char *path)
{
	return json_str(json_get(v, path));
}

int
json_int(long long *out, struct jv v)
{
	const jsmntok_t *t = tok(v);
	char tmp[24], *end;
	int n;
	long long x;

	if (json_type(v) != JSON_NUMBER)
		return err_set(E_PARSE, "expected a number");
	n = t->end - t->start;
	if (n <= 0 || n >= (int)sizeof(tmp))
		return err_set(E_PARSE, "number out of range");
	memcpy(tmp, v.doc->text + t->start, (size_t)n);
	tmp[n] = '\0';
	x = strtoll(tmp, &end, 10);
	if (*end || (n > 18 && (x == LLONG_MAX || x == LLONG_MIN)))
		return err_set(E_PARSE, "expected a whole number, got %s", tmp);
	*out = x;
	return 0;
}

long long
json_intp(struct jv v, const char *path, long long def)
{
	long long x;

	if (json_int(&x, json_get(v, path)) < 0)
		return def;
	return x;
}

int
json_bool(struct jv v)
{
	const jsmntok_t *t = tok(v);

	if (json_type(v) != JSON_BOOL)
		return -1;
	return v.doc->text[t->start] == 't';
}

/* ---- writer ---- */

int
json_escape(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	int rc = buf_putc(b, '"');

	for (; *p && rc == 0; p++) {
		switch (*p) {
		case '"': rc = buf_puts(b, "\\\""); break;
		case '\\': rc = buf_puts(b, "\\\\"); break;
		case '\n': rc = buf_puts(b, "\\n"); break;
		case '\r': rc = buf_puts(b, "\\r"); break;
		case '\t': rc = buf_puts(b, "\\t"); break;
		default:
			if (*p < 0x20)
				rc = buf_printf(b, "\\u%04x", *p);
			else
				rc = buf_putc(b, (char)*p);
		}
	}
	if (rc == 0)
		rc = buf_putc(b, '"');
	return rc;
}

void
jw_init(struct jw *w, struct buf *b)
{
	w->b = b;
	w->depth = 0;
	w->err = 0;
	w->first[0] = 1;
}

/* sep: comma before a value unless first in its container; a value right
 * after a key never takes one (first is set by jw_key) */
static void
sep(struct jw *w)
{
	if (w->err)
		return;
	if (!w->first[w->depth])
		w->err = buf_putc(w->b, ',');
	w->first[w->depth] = 0;
}

static void
open_(struct jw *w, char c)
{
	sep(w);
	if (w->err)
		return;
	if (w->depth + 1 >= JSON_MAX_DEPTH) {
		w->err = err_set(E_FAIL, "JSON writer nesting too deep");
		return;
	}
	w->err = buf_putc(w->b, c);
	w->depth++;
	w->first[w->depth] = 1;
	w->close[w->depth] = c == '{' ? '}' : ']';
}

void
jw_obj(struct jw *w)
{
	open_(w, '{');
}

void
jw_arr(struct jw *w)
{
	open_(w, '[');
}

void
jw_end(struct jw *w)
{
	if (w->err)
		return;
	if (w->depth == 0) {
		w->err = err_set(E_FAIL, "JSON writer: unbalanced end");
		return;
	}
	w->err = buf_putc(w->b, w->close[w->depth]);
	w->depth--;
}

void
jw_key(struct jw *w, const char *key)
{
	sep(w);
	if (w->err)
		return;
	w->err = json_escape(w->b, key);
	if (!w->err)
		w->err = buf_putc(w->b, ':');
	w->first[w->depth] = 1; /* the value follows without a comma */
}

/* after a key, the member counts as written: the next key needs a comma */
static void
done_value(struct jw *w)
{
	w->first[w->depth] = 0;
}

void
jw_str(struct jw *w, const char *s)
{
	sep(w);
	if (!w->err)
		w->err = json_escape(w->b, s);
	done_value(w);
}

void
jw_int(struct jw *w, long long v)
{
	sep(w);
	if (!w->err)
		w->err = buf_printf(w->b, "%lld", v);
	done_value(w);
}

void
jw_bool(struct jw *w, int v)
{
	sep(w);
	if (!w->err)
		w->err = buf_puts(w->b, v ? "true" : "false");
	done_value(w);
}

void
jw_null(struct jw *w)
{
	sep(w);
	if (!w->err)
		w->err = buf_puts(w->b, "null");
	done_value(w);
}

void
jw_kstr(struct jw *w, const char *key, const char *s)
{
	jw_key(w, key);
	jw_str(w, s);
}

void
jw_kint(struct jw *w, const char *key, long long v)
{
	jw_key(w, key);
	jw_int(w, v);
}

void
jw_kbool(struct jw *w, const char *key, int v)
{
	jw_key(w, key);
	jw_bool(w, v);
}

int
jw_finish(struct jw *w)
{
	if (!w->err && w->depth != 0)
		w->err = err_set(E_FAIL, "JSON writer: unclosed container");
	return w->err;
}

int
jw_strs(struct buf *b, ...)
{
	struct jw w;
	const char *k, *v;
	va_list ap;

	jw_init(&w, b);
	jw_obj(&w);
	va_start(ap, b);
	while ((k = va_arg(ap, const char *))) {
		v = va_arg(ap, const char *);
		if (v)
			jw_kstr(&w, k, v);
	}
	va_end(ap);
	jw_end(&w);
	return jw_finish(&w);
}
