/* http: a few keep-alive connections (one libcurl multi handle, a small
 * pool of easy handles), auth, caps, retries, concurrent requests.
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

/* connections at most, and requests in flight at once: the independent
 * requests of a stage's round are a handful */
#define HTTP_CONNS 4

struct http {
	CURLM *multi; /* owns the connection cache */
	CURL *easy[HTTP_CONNS]; /* made on first use */
	int busy[HTTP_CONNS]; /* an attempt is in flight on easy[i] */
	struct http_pre pre[HTTP_PREFETCH_MAX]; /* http_prefetch's reads */
	size_t npre;
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
	h->multi = curl_multi_init();
	if (!h->multi) {
		free(h);
		return err_set(E_FAIL, "cannot create a libcurl handle");
	}
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)HTTP_CONNS);
	h->o = *o;
	if (h->o.tries < 1)
		h->o.tries = 1;
	h->rnd = (unsigned)time(NULL) ^ (unsigned)getpid();
	*out = h;
	return 0;
}

static void pre_free(struct http_pre *p);

void
http_free(struct http *h)
{
	int i;

	if (!h)
		return;
	/* no easy handle is in the multi handle between calls */
	curl_multi_cleanup(h->multi);
	while (h->npre > 0)
		pre_free(&h->pre[--h->npre]);
	for (i = 0; i < HTTP_CONNS; i++)
		curl_easy_cleanup(h->easy[i]);
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

/* Each header relay reads, and what it keeps of its value v (owned). */
static void
take_link(struct http_resp *r, char *v)
{
	char *next = NULL;

	if (http_link_next(&next, v) == 0 && next) {
		free(r->next_url);
		r->next_url = next;
	}
	free(v);
}

static void
take_next_page(struct http_resp *r, char *v)
{
	long pg;

	if (*v && parse_long(&pg, v, 1, 1000000000L) == 0)
		r->next_page = pg;
	free(v);
}

static void
take_retry_after(struct http_resp *r, char *v)
{
	long s;

	if (http_retry_after(&s, v, time(NULL)) == 0)
		r->retry_after_s = s;
	free(v);
}

static void
take_date(struct http_resp *r, char *v)
{
	long long t;

	if (http_date(&t, v) == 0)
		r->date = t;
	free(v);
}

static void
take_size(struct http_resp *r, char *v)
{
	long size;

	if (parse_long(&size, v, 0, 2147483647L) == 0)
		r->declared_size = size;
	free(v);
}

static void
take_type(struct http_resp *r, char *v)
{
	free(r->content_type);
	r->content_type = v;
}

static const struct {
	const char *name;
	void (*take)(struct http_resp *, char *);
} headers[] = {
	{ "link", take_link },
	{ "x-next-page", take_next_page },
	{ "retry-after", take_retry_after },
	{ "date", take_date },
	{ "x-gitlab-size", take_size },
	{ "content-type", take_type },
};

static size_t
on_header(char *p, size_t sz, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = sz * n, i;
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
	for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		v = header_value(p, len, headers[i].name);
		if (v) {
			headers[i].take(x->r, v);
			break;
		}
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

/* auth_header: the token's header, appended to *hdrs; the formatted copy
 * is wiped (curl_slist_append keeps its own, wiped after the request) */
static int
auth_header(struct curl_slist **hdrs, const struct http_req *req)
{
	static const char *name[] = { "",
		"PRIVATE-TOKEN: ", "JOB-TOKEN: ", "Authorization: Bearer " };
	char auth[1024];
	int n;

	if (!req->token || req->auth == HTTP_AUTH_NONE)
		return 0;
	if (url_header_safe(req->token) < 0)
		return err_set(E_USAGE, "the token holds a control character");
	n = snprintf(auth, sizeof(auth), "%s%s", name[req->auth], req->token);
	if (n < (int)sizeof(auth))
		*hdrs = curl_slist_append(*hdrs, auth);
	secure_zero(auth, sizeof(auth));
	return n < (int)sizeof(auth) ? 0 : err_set(E_USAGE, "token too long");
}

static void
set_method(CURL *c, const struct http_req *req)
{
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
}

static int
setup(struct http *h, CURL *c, struct xfer *x, const struct http_req *req,
    struct curl_slist **hdrs)
{
	const char *ct;

	curl_easy_reset(c); /* the multi handle keeps the connections */
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, h->o.timeout_s);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT,
	    h->o.timeout_s < 10 ? h->o.timeout_s : 10L);
	if (left_ms(h) > 0 && left_ms(h) < h->o.timeout_s * 1000LL)
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)left_ms(h) + 1);
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
	if (auth_header(hdrs, req) < 0)
		return E_USAGE;
	if (req->body) {
		char line[128];

		ct = req->content_type ? req->content_type : "application/json";
		snprintf(line, sizeof(line), "Content-Type: %s", ct);
		*hdrs = curl_slist_append(*hdrs, line);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(
		    c, CURLOPT_POSTFIELDSIZE, (long)strlen(req->body));
	}
	set_method(c, req);
	if (!*hdrs)
		return err_set(E_NOMEM, "out of memory");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
	return 0;
}

/* One request of http_do_many on its way: its attempts, the pool slot of
 * the attempt in flight, and when the next one may start. */
struct call {
	struct http_call *c;
	struct xfer x;
	struct curl_slist *hdrs;
	int slot; /* index in h->easy while in flight, else -1 */
	int attempt; /* attempts started */
	int rc; /* the error of the latest failed attempt */
	long long t0; /* start of the latest attempt */
	long long start_at; /* the next attempt waits until now_ms() >= it */
	int done;
};

#define RETRY 1 /* a judge's verdict: try again (after backoff) */

/* finish: the call's outcome; an error keeps its own message, since the
 * batch's other calls set theirs before the caller looks */
static int
finish(struct call *a, int rc)
{
	a->c->rc = rc;
	if (rc < 0)
		a->c->err = str_dup(err_msg());
	a->done = 1;
	return 1;
}

/* free_headers: curl_slist_append copied the token: wipe the copies */
static void
free_headers(struct call *a)
{
	for (struct curl_slist *l = a->hdrs; l; l = l->next)
		secure_zero(l->data, strlen(l->data));
	curl_slist_free_all(a->hdrs);
	a->hdrs = NULL;
}

/* free_slot: a pool slot with no attempt in flight, its easy handle made
 * on first use; -1 when all are busy (or none can be made) */
static int
free_slot(struct http *h)
{
	int i;

	for (i = 0; i < HTTP_CONNS; i++) {
		if (h->busy[i])
			continue;
		if (!h->easy[i])
			h->easy[i] = curl_easy_init();
		return h->easy[i] ? i : -1;
	}
	return -1;
}

/* attempt_start: the call's next attempt, in flight on a free slot; 1 when
 * the call is done instead (the deadline, a refused request) */
static int
attempt_start(struct http *h, struct call *a, int slot)
{
	const struct http_req *req = &a->c->req;
	struct http_resp *r = &a->c->resp;
	int rc;

	if (left_ms(h) == 0) {
		/* retries x backoff never outlive the job */
		r->status = 0;
		return finish(a,
		    err_set(E_TEMP, "%s %s: RELAY_DEADLINE_S (%ld s) reached%s",
			req->method, where(req), h->deadline_s,
			a->attempt > 0 ? " while retrying" : ""));
	}
	buf_reset(&r->body);
	free(r->content_type);
	r->content_type = NULL;
	r->status = 0;
	memset(&a->x, 0, sizeof(a->x));
	a->x.r = r;
	a->x.max = h->o.max_body;
	rc = setup(h, h->easy[slot], &a->x, req, &a->hdrs);
	if (rc == 0 &&
	    curl_multi_add_handle(h->multi, h->easy[slot]) != CURLM_OK)
		rc = err_set(E_FAIL, "%s %s: cannot start the request",
		    req->method, where(req));
	if (rc < 0) {
		free_headers(a);
		return finish(a, rc);
	}
	h->busy[slot] = 1;
	a->slot = slot;
	a->attempt++;
	a->t0 = now_ms();
	h->nrequests++;
	return 0;
}

/* judge_answer: RETRY for a 429, or a 5xx to anything but a POST, unless
 * Retry-After asks for longer than max_wait_s; else 0: the caller judges
 * the status. *wait_ms: Retry-After's wait, or -1 (backoff). */
static int
judge_answer(struct http *h, struct call *a, long *wait_ms)
{
	const struct http_req *req = &a->c->req;
	const struct http_resp *r = &a->c->resp;

	if (r->status != 429 && !(r->status >= 500 && !is_post(req)))
		return 0;
	if (r->retry_after_s >= 0) {
		if (r->retry_after_s > h->o.max_wait_s) {
			log_warn(
			    "%s %s: Retry-After %ld s is longer than %ld s, giving up",
			    req->method, where(req), r->retry_after_s,
			    h->o.max_wait_s);
			return 0;
		}
		*wait_ms = r->retry_after_s * 1000;
	}
	return RETRY;
}

/* judge_failure: a transfer without an answer: RETRY, or the error. A POST
 * is retried only when it certainly never left (could not connect). */
static int
judge_failure(struct http *h, struct call *a, CURLcode cc)
{
	const struct http_req *req = &a->c->req;
	int unsent = 0;

	if (a->x.toobig)
		return err_set(E_PARSE, "%s %s: response larger than %zu bytes",
		    req->method, where(req), h->o.max_body);
	if (a->x.hdrbytes > HTTP_MAX_HEADERS || cc == CURLE_OUT_OF_MEMORY)
		/* libcurl refuses a header line over 100 KB with "out of
		 * memory": a malformed answer, not ours */
		return err_set(E_PARSE,
		    "%s %s: malformed answer: response headers too large",
		    req->method, where(req));
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT: unsent = 1; break;
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_BAD_CONTENT_ENCODING:
	case CURLE_HTTP2: break;
	case CURLE_PEER_FAILED_VERIFICATION:
		return err_set(E_PERM,
		    "%s %s: TLS certificate verification failed: %s",
		    req->method, where(req), curl_easy_strerror(cc));
	case CURLE_SSL_CACERT_BADFILE:
		return err_set(E_CONFIG,
		    "%s %s: the CA file cannot be used (%s): set RELAY_CA_BUNDLE",
		    req->method, where(req), curl_easy_strerror(cc));
	default:
		return err_set(E_FAIL, "%s %s: %s", req->method, where(req),
		    curl_easy_strerror(cc));
	}
	log_debug("%s %s -> %s (%lld ms)", req->method, where(req),
	    curl_easy_strerror(cc), now_ms() - a->t0);
	a->rc = err_set(E_TEMP, "%s %s: %s (after %d tr%s)", req->method,
	    where(req), curl_easy_strerror(cc), a->attempt,
	    a->attempt == 1 ? "y" : "ies");
	if (is_post(req) && !unsent)
		return cc == CURLE_PARTIAL_FILE
		    ? err_set(E_TEMP, "%s %s: answer cut short", req->method,
			  where(req))
		    : a->rc;
	return RETRY;
}

/* retry_later: schedule the next attempt after wait_ms (-1: backoff), or
 * end the call when the tries or the deadline are used up: a final HTTP
 * answer (429/5xx) is for the caller to judge, else the latest error */
static int
retry_later(struct http *h, struct call *a, long wait_ms)
{
	const struct http_req *req = &a->c->req;
	const struct http_resp *r = &a->c->resp;

	if (a->attempt >= h->o.tries)
		return finish(a, r->status ? 0 : a->rc);
	if (wait_ms < 0)
		wait_ms = backoff(h, a->attempt);
	if (left_ms(h) >= 0 && wait_ms >= left_ms(h)) {
		log_info(
		    "%s %s: no time left for another try before RELAY_DEADLINE_S",
		    req->method, where(req));
		return finish(a, r->status ? 0 : a->rc);
	}
	if (r->status)
		log_info("%s %s: HTTP %ld, retrying in %ld ms (try %d of %d)",
		    req->method, where(req), r->status, wait_ms, a->attempt + 1,
		    h->o.tries);
	else
		log_info("%s %s: %s, retrying in %ld ms (try %d of %d)",
		    req->method, where(req), err_msg(), wait_ms, a->attempt + 1,
		    h->o.tries);
	a->start_at = now_ms() + wait_ms;
	return 0;
}

/* attempt_end: the attempt in flight ended with cc; 1 when the call is
 * done, 0 when it will be tried again */
static int
attempt_end(struct http *h, struct call *a, CURLcode cc)
{
	const struct http_req *req = &a->c->req;
	struct http_resp *r = &a->c->resp;
	CURL *c = h->easy[a->slot];
	long wait_ms = -1;
	int v;

	curl_multi_remove_handle(h->multi, c);
	h->busy[a->slot] = 0;
	a->slot = -1;
	free_headers(a);
	r->tries = a->attempt;
	if (cc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
		log_debug("%s %s -> %ld (%lld ms, %zu bytes)", req->method,
		    where(req), r->status, now_ms() - a->t0, r->body.len);
		v = judge_answer(h, a, &wait_ms);
	} else {
		v = judge_failure(h, a, cc);
	}
	return v == RETRY ? retry_later(h, a, wait_ms) : finish(a, v);
}

/* start_ready: start every waiting call whose time has come while slots
 * are free; *wake: the earliest start still ahead (-1: none) */
static size_t
start_ready(struct http *h, struct call *cs, size_t n, long long *wake)
{
	size_t i, ended = 0;
	long long now = now_ms();

	*wake = -1;
	for (i = 0; i < n; i++) {
		int slot;

		if (cs[i].done || cs[i].slot >= 0)
			continue;
		if (cs[i].start_at > now) {
			if (*wake < 0 || cs[i].start_at < *wake)
				*wake = cs[i].start_at;
			continue;
		}
		slot = free_slot(h);
		if (slot < 0)
			break;
		ended += (size_t)attempt_start(h, &cs[i], slot);
	}
	return ended;
}

/* collect: the attempts that ended, judged; returns the calls done */
static size_t
collect(struct http *h, struct call *cs, size_t n, int *any)
{
	CURLMsg *m;
	size_t i, ended = 0;
	int q;

	*any = 0;
	while ((m = curl_multi_info_read(h->multi, &q)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		for (i = 0; i < n; i++)
			if (cs[i].slot >= 0 &&
			    h->easy[cs[i].slot] == m->easy_handle)
				break;
		if (i == n)
			continue;
		*any = 1;
		ended += (size_t)attempt_end(h, &cs[i], m->data.result);
	}
	return ended;
}

/* drive: run the calls to their ends; E_FAIL if libcurl's multi handle
 * fails (every call left is then failed with it) */
static int
drive(struct http *h, struct call *cs, size_t n)
{
	size_t left = n, i;

	for (i = 0; i < n; i++)
		if (cs[i].done)
			left--;
	while (left > 0) {
		long long wake;
		long timeout = 1000;
		int running = 0, any;

		left -= start_ready(h, cs, n, &wake);
		if (curl_multi_perform(h->multi, &running) != CURLM_OK)
			return err_set(E_FAIL, "libcurl's multi handle failed");
		left -= collect(h, cs, n, &any);
		if (left == 0 || any)
			continue; /* slots came free: start what waits */
		if (wake >= 0 && wake - now_ms() < timeout)
			timeout = wake > now_ms() ? (long)(wake - now_ms()) : 0;
		if (running)
			curl_multi_poll(h->multi, NULL, 0, (int)timeout, NULL);
		else if (timeout > 0)
			sleep_ms(timeout);
	}
	return 0;
}

/* resp_init: an empty answer, before any attempt */
static void
resp_init(struct http *h, struct http_call *c)
{
	struct http_resp *r = &c->resp;

	memset(r, 0, sizeof(*r));
	buf_init(&r->body, h->o.max_body + 1);
	r->retry_after_s = -1;
	r->declared_size = -1;
	c->rc = 0;
	c->err = NULL;
}

static void
pre_free(struct http_pre *p)
{
	http_resp_free(&p->call.resp);
	free(p->call.err);
	free(p->url);
	memset(p, 0, sizeof(*p));
}

/* pre_drop: forget prefetched answers (a write may have changed them) */
static void
pre_drop(struct http *h)
{
	size_t i, k = 0;

	for (i = 0; i < h->npre; i++) {
		if (h->pre[i].sent)
			pre_free(&h->pre[i]);
		else
			h->pre[k++] = h->pre[i];
	}
	h->npre = k;
}

/* pre_match: prefetch p is a GET of req's URL with req's credentials */
static int
pre_match(const struct http_pre *p, const struct http_req *q)
{
	const char *a = p->call.req.token, *b = q->token;

	return strcmp(q->method, "GET") == 0 && strcmp(p->url, q->url) == 0 &&
	    p->call.req.auth == q->auth &&
	    (a && b ? strcmp(a, b) == 0 : a == b);
}

/* pre_take: the prefetched answer to GET c, moved into c: 1; 0 when c
 * must be sent (a prefetch of it not sent yet is c itself from now) */
static int
pre_take(struct http *h, struct http_call *c)
{
	size_t i;

	for (i = 0; i < h->npre; i++) {
		struct http_pre *p = &h->pre[i];
		int sent = p->sent;

		if (!pre_match(p, &c->req))
			continue;
		if (sent) {
			http_resp_free(&c->resp);
			c->resp = p->call.resp;
			c->rc = p->call.rc;
			c->err = p->call.err;
			p->call.err = NULL;
			memset(&p->call.resp, 0, sizeof(p->call.resp));
		}
		pre_free(p);
		h->pre[i] = h->pre[--h->npre];
		return sent;
	}
	return 0;
}

int
http_prefetch(struct http *h, const struct http_req *req)
{
	struct http_pre *p;
	size_t i;

	for (i = 0; i < h->npre; i++)
		if (pre_match(&h->pre[i], req))
			return 0; /* asked already */
	if (h->npre == HTTP_PREFETCH_MAX)
		return 0; /* an optimisation only: the read happens later */
	p = &h->pre[h->npre];
	memset(p, 0, sizeof(*p));
	p->url = str_dup(req->url);
	if (!p->url)
		return err_set(E_NOMEM, "out of memory");
	p->call.req = *req;
	p->call.req.method = "GET";
	p->call.req.body = NULL;
	p->call.req.url = p->url;
	h->npre++;
	return 0;
}

/* enlist: call c into cs[*k] for the run, unless it is refused */
static void
enlist(struct http *h, struct call *cs, size_t *k, struct http_call *c)
{
	struct call *a = &cs[(*k)++];
	int rc;

	resp_init(h, c);
	a->c = c;
	a->slot = -1;
	rc = url_allowed(c->req.url);
	if (rc < 0)
		finish(a,
		    err_prefix(rc, "%s %s: ", c->req.method, where(&c->req)));
}

int
http_do_many(struct http *h, struct http_call *calls, size_t n)
{
	struct call *cs = calloc(n + h->npre + 1, sizeof(*cs));
	size_t i, k = 0;
	int rc = 0;

	for (i = 0; i < n; i++)
		if (strcmp(calls[i].req.method, "GET") != 0)
			pre_drop(h);
	for (i = 0; i < n; i++) {
		resp_init(h, &calls[i]);
		if (!cs)
			calls[i].rc = err_set(E_NOMEM, "out of memory");
		else if (!pre_take(h, &calls[i]))
			enlist(h, cs, &k, &calls[i]);
	}
	/* prefetches queued meanwhile go out with this run, if it sends */
	for (i = 0; cs && k > 0 && i < h->npre; i++)
		if (!h->pre[i].sent) {
			h->pre[i].sent = 1;
			enlist(h, cs, &k, &h->pre[i].call);
		}
	rc = cs ? drive(h, cs, k) : 0;
	for (i = 0; cs && i < k; i++) {
		/* only after a multi handle failure: nothing left in flight */
		if (cs[i].slot >= 0) {
			curl_multi_remove_handle(h->multi, h->easy[cs[i].slot]);
			h->busy[cs[i].slot] = 0;
			free_headers(&cs[i]);
		}
		if (!cs[i].done) {
			/* its own message, for a prefetch taken later */
			cs[i].c->rc = rc;
			free(cs[i].c->err);
			cs[i].c->err = str_dup(err_msg());
		}
	}
	free(cs);
	/* the first failure in request order is the one reported */
	for (i = 0; i < n; i++)
		if (calls[i].rc < 0)
			return err_set(calls[i].rc, "%s",
			    calls[i].err ? calls[i].err : err_msg());
	return 0;
}

int
http_do(struct http *h, struct http_resp *r, const struct http_req *req)
{
	struct http_call c;
	int rc;

	memset(&c, 0, sizeof(c));
	c.req = *req;
	rc = http_do_many(h, &c, 1);
	*r = c.resp;
	free(c.err);
	return rc;
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
