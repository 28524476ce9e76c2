/* http: one keep-alive libcurl handle, auth, caps, retries, pagination.
 * The only file that includes <curl/curl.h>. */
#define _DEFAULT_SOURCE
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <curl/curl.h>

#include "buf.h"
#include "err.h"
#include "http.h"
#include "json.h"
#include "url.h"
#include "log.h"
#include "util.h"

struct http {
	CURL *curl;
	struct http_opts o;
	long nrequests;
	unsigned rnd;
	long long deadline_ms; /* now_ms() after which nothing starts; 0 */
	long deadline_s;
};

void
http_deadline(struct http *h, long secs)
{
	if (!h)
		return;
	h->deadline_s = secs;
	h->deadline_ms = secs > 0 ? now_ms() + secs * 1000LL : 0;
}

/* left_ms: time left before the deadline, or -1 without one */
static long long
left_ms(const struct http *h)
{
	long long l;

	if (!h->deadline_ms)
		return -1;
	l = h->deadline_ms - now_ms();
	return l > 0 ? l : 0;
}

struct xfer {
	struct http_resp *r;
	size_t max;
	int toobig;
	size_t hdrbytes;
};

#define HTTP_MAX_HEADERS (256u << 10) /* all header lines of an answer */

void
http_opts_default(struct http_opts *o)
{
	o->timeout_s = 30;
	o->tries = 4;
	o->backoff_ms = 1000;
	o->max_wait_s = 120;
	o->max_body = 16u << 20;
	o->ca_bundle = NULL;
	o->user_agent = "relay";
}

int
http_new(struct http **out, const struct http_opts *o)
{
	struct http *h;
	static int global;

	*out = NULL;
	if (!global) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return err_set(E_FAIL, "cannot initialise libcurl");
		global = 1;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return err_set(E_NOMEM, "out of memory");
	h->curl = curl_easy_init();
	if (!h->curl) {
		free(h);
		return err_set(E_FAIL, "cannot create a libcurl handle");
	}
	h->o = *o;
	if (h->o.tries < 1)
		h->o.tries = 1;
	h->rnd = (unsigned)time(NULL) ^ (unsigned)getpid();
	*out = h;
	return 0;
}

void
http_free(struct http *h)
{
	if (!h)
		return;
	curl_easy_cleanup(h->curl);
	free(h);
}

void
http_resp_free(struct http_resp *r)
{
	if (!r)
		return;
	buf_free(&r->body);
	free(r->next_url);
	free(r->content_type);
	r->next_url = NULL;
	r->content_type = NULL;
}

long
http_requests(const struct http *h)
{
	return h->nrequests;
}

/* ---- parsers ---- */

int
http_link_next(char **out, const char *link)
{
	const char *p = link;

	*out = NULL;
	while (p && *p) {
		const char *lt, *gt, *end, *rel;

		lt = strchr(p, '<');
		if (!lt)
			return 0;
		gt = strchr(lt, '>');
		if (!gt)
			return err_set(E_PARSE, "malformed Link header");
		/* parameters run to the next ", <" or the end */
		end = strstr(gt, ", <");
		if (!end)
			end = gt + strlen(gt);
		rel = gt;
		while ((rel = strstr(rel, "rel=")) != NULL && rel < end) {
			const char *v = rel + 4;
			size_t n;

			if (*v == '"')
				v++;
			/* rel may hold several space-separated types */
			for (;;) {
				n = strcspn(v, "\" ;,");
				if (n == 4 && strncmp(v, "next", 4) == 0) {
					if (gt - lt - 1 <= 0)
						return err_set(E_PARSE,
						    "empty Link target");
					/* a URI-reference has no '<' and no
					 * white space (RFC 8288) */
					if (memchr(lt + 1, '<',
						(size_t)(gt - lt - 1)) ||
					    strcspn(lt + 1, " \t\r\n") <
						(size_t)(gt - lt - 1))
						return err_set(E_PARSE,
						    "malformed Link target");
					*out = str_ndup(
					    lt + 1, (size_t)(gt - lt - 1));
					return *out ? 0 : E_NOMEM;
				}
				if (v[n] != ' ')
					break;
				v += n + 1;
			}
			rel += 4;
		}
		p = *end ? end + 2 : end;
	}
	return 0;
}

static int
month_index(const char *m)
{
	static const char *names = "JanFebMarAprMayJunJulAugSepOctNovDec";
	const char *p;

	if (strlen(m) < 3)
		return -1;
	for (p = names; *p; p += 3)
		if (strncmp(p, m, 3) == 0)
			return (int)((p - names) / 3);
	return -1;
}

int
http_date(long long *out, const char *value)
{
	char wd[4], mon[4], tz[4];
	struct tm tm;
	int n = 0;

	while (isspace((unsigned char)*value))
		value++;
	/* IMF-fixdate: "Wed, 21 Oct 2015 07:28:00 GMT" */
	memset(&tm, 0, sizeof(tm));
	if (sscanf(value, "%3s, %2d %3s %4d %2d:%2d:%2d %3s%n", wd, &tm.tm_mday,
		mon, &tm.tm_year, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, tz,
		&n) != 8 ||
	    strcmp(tz, "GMT") != 0 || value[n + strspn(value + n, " \t\r\n")])
		return err_set(E_PARSE, "bad HTTP date");
	tm.tm_mon = month_index(mon);
	if (tm.tm_mon < 0 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60 ||
	    tm.tm_year < 1970)
		return err_set(E_PARSE, "bad HTTP date");
	tm.tm_year -= 1900;
	*out = (long long)timegm(&tm);
	return 0;
}

int
http_retry_after(long *out, const char *value, time_t now)
{
	long long t;
	long secs;

	while (isspace((unsigned char)*value))
		value++;
	if (isdigit((unsigned char)*value)) {
		if (parse_long(&secs, value, 0, 86400 * 7) < 0) {
			/* tolerate trailing whitespace only */
			char tmp[16];
			size_t k = strcspn(value, " \t\r\n");

			if (k >= sizeof(tmp))
				return err_set(E_PARSE, "bad Retry-After");
			memcpy(tmp, value, k);
			tmp[k] = '\0';
			if (parse_long(&secs, tmp, 0, 86400 * 7) < 0 ||
			    value[k + strspn(value + k, " \t\r\n")])
				return err_set(E_PARSE, "bad Retry-After");
		}
		*out = secs;
		return 0;
	}
	if (http_date(&t, value) < 0)
		return err_set(E_PARSE, "bad Retry-After");
	*out = t > (long long)now ? (long)(t - (long long)now) : 0;
	return 0;
}

/* ---- transfer ---- */

static size_t
on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = sz * n;

	if (x->r->body.len + len > x->max) {
		x->toobig = 1;
		return 0;
	}
	if (buf_add(&x->r->body, p, len) < 0)
		return 0;
	return len;
}

static char *
header_value(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);
	const char *v, *e;

	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return NULL;
	v = line + n + 1;
	e = line + len;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && isspace((unsigned char)e[-1]))
		e--;
	return str_ndup(v, (size_t)(e - v));
}

static size_t
on_header(char *p, size_t sz, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = sz * n;
	char *v;

	x->hdrbytes += len;
	if (x->hdrbytes > HTTP_MAX_HEADERS)
		return 0;

	/* a new status line starts a new header block (e.g. after 100) */
	if (len > 5 && strncmp(p, "HTTP/", 5) == 0) {
		free(x->r->next_url);
		x->r->next_url = NULL;
		x->r->next_page = 0;
		x->r->retry_after_s = -1;
		x->r->declared_size = -1;
		x->r->date = 0;
		return len;
	}
	v = header_value(p, len, "link");
	if (v) {
		char *next = NULL;

		if (http_link_next(&next, v) == 0 && next) {
			free(x->r->next_url);
			x->r->next_url = next;
		}
		free(v);
		return len;
	}
	v = header_value(p, len, "x-next-page");
	if (v) {
		long pg;

		if (*v && parse_long(&pg, v, 1, 1000000000L) == 0)
			x->r->next_page = pg;
		free(v);
		return len;
	}
	v = header_value(p, len, "retry-after");
	if (v) {
		long s;

		if (http_retry_after(&s, v, time(NULL)) == 0)
			x->r->retry_after_s = s;
		free(v);
		return len;
	}
	v = header_value(p, len, "date");
	if (v) {
		long long t;

		if (http_date(&t, v) == 0)
			x->r->date = t;
		free(v);
		return len;
	}
	v = header_value(p, len, "x-gitlab-size");
	if (v) {
		long size;

		if (parse_long(&size, v, 0, 2147483647L) == 0)
			x->r->declared_size = size;
		free(v);
		return len;
	}
	v = header_value(p, len, "content-type");
	if (v) {
		free(x->r->content_type);
		x->r->content_type = v;
	}
	return len;
}

static int
is_post(const struct http_req *req)
{
	return strcmp(req->method, "POST") == 0 ||
	    strcmp(req->method, "PATCH") == 0;
}

/* path_of: the URL without scheme and host, for log lines */
static const char *
path_of(const char *url)
{
	const char *p = strstr(url, "://");

	if (!p)
		return url;
	p += 3;
	p += strcspn(p, "/");
	return *p ? p : "/";
}

static const char *
where(const struct http_req *req)
{
	return req->label ? req->label : path_of(req->url);
}

static long
backoff(struct http *h, int attempt)
{
	long ms = h->o.backoff_ms;
	int i;

	for (i = 1; i < attempt && ms < 30000; i++)
		ms *= 2;
	if (ms > 30000)
		ms = 30000;
	h->rnd = h->rnd * 1103515245u + 12345u;
	/* +-25% jitter so parallel jobs do not retry in lockstep */
	return ms - ms / 4 +
	    (long)((h->rnd >> 8) % (unsigned long)(ms / 2 + 1));
}

static int
setup(struct http *h, struct xfer *x, const struct http_req *req,
    struct curl_slist **hdrs, char *auth, size_t authn)
{
	CURL *c = h->curl;
	const char *ct;

	curl_easy_reset(c); /* keeps the connection cache: keep-alive */
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, h->o.timeout_s);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT,
	    h->o.timeout_s < 10 ? h->o.timeout_s : 10L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (h->o.ca_bundle)
		curl_easy_setopt(c, CURLOPT_CAINFO, h->o.ca_bundle);
	curl_easy_setopt(c, CURLOPT_USERAGENT, h->o.user_agent);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	*hdrs = curl_slist_append(*hdrs, "Accept: application/json");
	/* no "Expect: 100-continue" round trip for small bodies */
	*hdrs = curl_slist_append(*hdrs, "Expect:");
	if (req->token && req->auth != HTTP_AUTH_NONE &&
	    url_header_safe(req->token) < 0)
		return err_set(E_USAGE, "the token holds a control character");
	if (req->token && req->auth != HTTP_AUTH_NONE) {
		static const char *name[] = { "", "PRIVATE-TOKEN: ",
			"JOB-TOKEN: ", "Authorization: Bearer " };

		if (snprintf(auth, authn, "%s%s", name[req->auth],
			req->token) >= (int)authn)
			return err_set(E_USAGE, "token too long");
		*hdrs = curl_slist_append(*hdrs, auth);
	}
	if (req->body) {
		char line[128];

		ct = req->content_type ? req->content_type : "application/json";
		snprintf(line, sizeof(line), "Content-Type: %s", ct);
		*hdrs = curl_slist_append(*hdrs, line);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(
		    c, CURLOPT_POSTFIELDSIZE, (long)strlen(req->body));
	}
	if (strcmp(req->method, "GET") == 0) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(req->method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		/* libcurl sends a request again by itself when a reused
		 * connection turns out dead before any answer byte; the server
		 * may have processed it. A POST is sent once: on a new
		 * connection, which libcurl never silently retries. */
		curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
		if (!req->body)
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
	} else {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
		if (strcmp(req->method, "HEAD") == 0)
			curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	}
	if (!*hdrs)
		return err_set(E_NOMEM, "out of memory");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
	return 0;
}

int
http_do(struct http *h, struct http_resp *r, const struct http_req *req)
{
	char auth[1024];
	int attempt, rc = 0;

	memset(r, 0, sizeof(*r));
	buf_init(&r->body, h->o.max_body + 1);
	r->retry_after_s = -1;
	r->declared_size = -1;
	rc = url_allowed(req->url);
	if (rc < 0)
		return err_prefix(rc, "%s %s: ", req->method, where(req));
	for (attempt = 1; attempt <= h->o.tries; attempt++) {
		struct curl_slist *hdrs = NULL;
		struct xfer x = { r, h->o.max_body, 0, 0 };
		long long t0 = now_ms();
		CURLcode cc = CURLE_OK;
		long wait_ms = -1;
		int retry = 0, unsent = 0;

		if (left_ms(h) == 0) {
			/* retries x backoff never outlive the job */
			r->status = 0;
			return err_set(E_TEMP,
			    "%s %s: RELAY_DEADLINE_S (%ld s) reached%s",
			    req->method, where(req), h->deadline_s,
			    attempt > 1 ? " while retrying" : "");
		}
		buf_reset(&r->body);
		free(r->content_type);
		r->content_type = NULL;
		r->status = 0;
		rc = setup(h, &x, req, &hdrs, auth, sizeof(auth));
		if (rc == 0 && left_ms(h) > 0 &&
		    left_ms(h) < h->o.timeout_s * 1000LL)
			curl_easy_setopt(
			    h->curl, CURLOPT_TIMEOUT_MS, (long)left_ms(h) + 1);
		if (rc == 0) {
			h->nrequests++;
			cc = curl_easy_perform(h->curl);
		}
		/* curl_slist_append copied the token: wipe the copies */
		for (struct curl_slist *l = hdrs; l; l = l->next)
			secure_zero(l->data, strlen(l->data));
		curl_slist_free_all(hdrs);
		secure_zero(auth, sizeof(auth));
		if (rc < 0)
			return rc;
		r->tries = attempt;
		if (cc == CURLE_OK) {
			curl_easy_getinfo(
			    h->curl, CURLINFO_RESPONSE_CODE, &r->status);
			log_debug("%s %s -> %ld (%lld ms, %zu bytes)",
			    req->method, where(req), r->status, now_ms() - t0,
			    r->body.len);
			if (r->status == 429) {
				retry = 1;
			} else if (r->status >= 500 && !is_post(req)) {
				retry = 1;
			} else {
				return 0;
			}
			if (r->retry_after_s >= 0) {
				if (r->retry_after_s > h->o.max_wait_s) {
					log_warn(
					    "%s %s: Retry-After %ld s is longer than %ld s, giving up",
					    req->method, where(req),
					    r->retry_after_s, h->o.max_wait_s);
					return 0;
				}
				wait_ms = r->retry_after_s * 1000;
			}
		} else if (x.toobig) {
			return err_set(E_PARSE,
			    "%s %s: response larger than %zu bytes",
			    req->method, where(req), h->o.max_body);
		} else if (x.hdrbytes > HTTP_MAX_HEADERS ||
		    cc == CURLE_OUT_OF_MEMORY) {
			/* libcurl refuses a header line over 100 KB with
			 * "out of memory": a malformed answer, not ours */
			return err_set(E_PARSE,
			    "%s %s: malformed answer: response headers too large",
			    req->method, where(req));
		} else {
			switch (cc) {
			case CURLE_COULDNT_RESOLVE_HOST:
			case CURLE_COULDNT_CONNECT:
				unsent = 1;
				retry = 1;
				break;
			case CURLE_OPERATION_TIMEDOUT:
			case CURLE_SEND_ERROR:
			case CURLE_RECV_ERROR:
			case CURLE_GOT_NOTHING:
			case CURLE_PARTIAL_FILE:
			case CURLE_SSL_CONNECT_ERROR:
			case CURLE_BAD_CONTENT_ENCODING:
			case CURLE_HTTP2: retry = 1; break;
			case CURLE_PEER_FAILED_VERIFICATION:
				return err_set(E_PERM,
				    "%s %s: TLS certificate verification failed: %s",
				    req->method, where(req),
				    curl_easy_strerror(cc));
			case CURLE_SSL_CACERT_BADFILE:
				return err_set(E_CONFIG,
				    "%s %s: the CA file cannot be used (%s): set RELAY_CA_BUNDLE",
				    req->method, where(req),
				    curl_easy_strerror(cc));
			default:
				return err_set(E_FAIL, "%s %s: %s", req->method,
				    where(req), curl_easy_strerror(cc));
			}
			log_debug("%s %s -> %s (%lld ms)", req->method,
			    where(req), curl_easy_strerror(cc), now_ms() - t0);
			rc = err_set(E_TEMP, "%s %s: %s (after %d tr%s)",
			    req->method, where(req), curl_easy_strerror(cc),
			    attempt, attempt == 1 ? "y" : "ies");
			if (is_post(req) && !unsent)
				return cc == CURLE_PARTIAL_FILE
				    ? err_set(E_TEMP, "%s %s: answer cut short",
					  req->method, where(req))
				    : rc;
		}
		if (!retry || attempt == h->o.tries)
			break;
		if (wait_ms < 0)
			wait_ms = backoff(h, attempt);
		if (left_ms(h) >= 0 && wait_ms >= left_ms(h)) {
			/* the wait would pass the deadline: the answer so far
			 * stands (a 429/5xx for the caller, or the error) */
			log_info(
			    "%s %s: no time left for another try before RELAY_DEADLINE_S",
			    req->method, where(req));
			break;
		}
		if (r->status)
			log_info(
			    "%s %s: HTTP %ld, retrying in %ld ms (try %d of %d)",
			    req->method, where(req), r->status, wait_ms,
			    attempt + 1, h->o.tries);
		else
			log_info("%s %s: %s, retrying in %ld ms (try %d of %d)",
			    req->method, where(req), err_msg(), wait_ms,
			    attempt + 1, h->o.tries);
		sleep_ms(wait_ms);
	}
	/* a final HTTP answer (429/5xx) is for the caller to judge */
	return r->status ? 0 : rc;
}

static void
flatten(struct buf *b, struct jv v)
{
	struct json_iter it;
	struct jv e;
	const char *k;
	int first = 1;

	switch (json_type(v)) {
	case JSON_STRING: buf_puts(b, json_str(v)); break;
	case JSON_ARRAY:
		json_iter_init(&it, v);
		while (json_iter_next(&it, &e, NULL)) {
			if (!first)
				buf_puts(b, ", ");
			flatten(b, e);
			first = 0;
		}
		break;
	case JSON_OBJECT:
		json_iter_init(&it, v);
		while (json_iter_next(&it, &e, &k)) {
			if (!first)
				buf_puts(b, "; ");
			buf_printf(b, "%s ", k);
			flatten(b, e);
			first = 0;
		}
		break;
	default: break;
	}
}

char *
http_error_line(const char *body, size_t len)
{
	struct json *d = NULL;
	struct buf b;
	size_t i, j;
	char *s;

	buf_init(&b, 0);
	if (len && json_parse(&d, body, len) == 0) {
		struct jv r = json_root(d);
		struct jv m = json_get(r, "message");

		if (json_type(m) == JSON_MISSING)
			m = json_get(r, "error_description");
		if (json_type(m) == JSON_MISSING)
			m = json_get(r, "error");
		flatten(&b, m);
		json_free(d);
	} else if (len) {
		buf_add(&b, body, len < 200 ? len : 200);
	}
	s = buf_detach(&b);
	/* one printable line, capped */
	for (i = 0, j = 0; s[i] && j < 300; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\n' || c == '\r' || c == '\t')
			c = ' ';
		if (c < 0x20 || c == 0x7f)
			continue;
		if (c == ' ' && j > 0 && s[j - 1] == ' ')
			continue;
		s[j++] = (char)c;
	}
	while (j > 0 && s[j - 1] == ' ')
		j--;
	s[j] = '\0';
	return s;
}
