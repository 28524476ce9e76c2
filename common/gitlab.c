/* gitlab: REST API v4 calls with GitLab's status codes turned into errors */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "err.h"
#include "gitlab.h"
#include "http.h"
#include "url.h"
#include "json.h"
#include "util.h"

int
gitlab_new(struct gitlab **out, struct http *h, const char *api,
    const char *token, int auth)
{
	struct gitlab *g;
	size_t n;
	int rc;

	*out = NULL;
	rc = url_api_check(api);
	if (rc < 0)
		return err_prefix(rc, "CI_API_V4_URL: ");
	/* checked before any request: a CR/LF would put headers on the
	 * wire */
	rc = token ? url_header_safe(token) : 0;
	if (rc < 0)
		return err_prefix(rc, "a token (%s) ",
		    auth == HTTP_AUTH_JOB
			? "CI_JOB_TOKEN"
			: "RELAY_TOKEN or RELAY_APPROVER_TOKEN");
	g = calloc(1, sizeof(*g));
	if (!g)
		return err_set(E_NOMEM, "out of memory");
	g->api = str_dup(api);
	if (!g->api) {
		free(g);
		return err_set(E_NOMEM, "out of memory");
	}
	n = strlen(g->api);
	while (n > 0 && g->api[n - 1] == '/')
		g->api[--n] = '\0';
	g->http = h;
	g->token = token;
	g->auth = token ? auth : HTTP_AUTH_NONE;
	*out = g;
	return 0;
}

void
gitlab_free(struct gitlab *g)
{
	if (!g)
		return;
	free(g->api);
	free(g);
}

char *
gitlab_project_path(const char *project)
{
	struct buf b;
	char *e = url_escape(project);

	if (!e)
		return NULL;
	buf_init(&b, 0);
	if (buf_printf(&b, "/projects/%s", e) < 0) {
		free(e);
		buf_free(&b);
		return NULL;
	}
	free(e);
	return buf_detach(&b);
}

/* status_error: the error code and one-line message of a non-2xx answer;
 * the message names the path without its query (paths carry no secrets,
 * queries are long) */
static int
status_error(const char *method, const char *path, const struct http_resp *r)
{
	char *line = http_error_line(r->body.data, r->body.len);
	int code;
	char tries[32] = "";

	if (r->status == 404)
		code = E_NOTFOUND;
	else if (r->status == 409)
		code = E_CONFLICT;
	else if (r->status == 429 || r->status >= 500)
		code = E_TEMP;
	else
		code = E_PERM;
	if (code == E_TEMP && r->tries > 1)
		snprintf(tries, sizeof(tries), " (after %d tries)", r->tries);
	err_set(code, "%s %.*s: HTTP %ld%s%s%s", method,
	    (int)strcspn(path, "?"), path, r->status, tries,
	    line && *line ? ": " : "", line ? line : "");
	free(line);
	return code;
}

/* parse_json: a 2xx body as JSON into *m->out (NULL for an empty body
 * unless a list is expected: a list answer is a JSON array) */
static int
parse_json(struct gitlab_req *m, const struct http_resp *r)
{
	struct json **out = m->out;
	int n = (int)strcspn(m->path, "?"), rc;

	if (!out)
		return 0;
	if (r->body.len > 0) {
		rc = json_parse(out, r->body.data, r->body.len);
		if (rc < 0)
			return err_prefix(
			    rc, "%s %.*s: ", m->method, n, m->path);
	}
	if (m->kind != GITLAB_JSON &&
	    json_type(json_root(*out)) != JSON_ARRAY) {
		json_free(*out);
		*out = NULL;
		return err_set(
		    E_PARSE, "GET %.*s: expected a JSON array", n, m->path);
	}
	return 0;
}

/* take_raw: a raw file's body into *m->out; a proxy's error page or a
 * JSON answer is not the file, and a body shorter than the declared size
 * was cut on the way */
static int
take_raw(struct gitlab_req *m, struct http_resp *r)
{
	int n = (int)strcspn(m->path, "?");
	const char *ct = r->content_type ? r->content_type : "";

	if (strncmp(ct, "application/json", 16) == 0 ||
	    strncmp(ct, "text/html", 9) == 0)
		return err_set(
		    E_PARSE, "GET %.*s: %s answer, not a file", n, m->path, ct);
	if (r->declared_size >= 0 && (size_t)r->declared_size != r->body.len)
		return err_set(E_PARSE,
		    "GET %.*s: answer cut short (%zu of %ld bytes)", n, m->path,
		    r->body.len, r->declared_size);
	if (memchr(r->body.data ? r->body.data : "", '\0', r->body.len))
		return err_set(E_PARSE, "GET %.*s: binary content", n, m->path);
	*(char **)m->out = buf_detach(&r->body);
	return 0;
}

/* with_page: url with its page= parameter set to page (X-Next-Page) */
static char *
with_page(const char *url, long page)
{
	struct buf b;
	const char *q = strchr(url, '?'), *p;

	buf_init(&b, 0);
	if (!q) {
		buf_printf(&b, "%s?page=%ld", url, page);
		return buf_detach(&b);
	}
	buf_add(&b, url, (size_t)(q - url));
	buf_putc(&b, '?');
	p = q + 1;
	while (*p) {
		size_t n = strcspn(p, "&");

		if (!(n >= 5 && strncmp(p, "page=", 5) == 0)) {
			buf_add(&b, p, n);
			buf_putc(&b, '&');
		}
		p += n;
		if (*p == '&')
			p++;
	}
	buf_printf(&b, "page=%ld", page);
	return buf_detach(&b);
}

/* next_page: the pager's next URL from a page's answer; links to another
 * origin are refused (the token must not leave) */
static int
next_page(struct gitlab_req *m, struct http_resp *r)
{
	struct gitlab_pager *p = m->pager;

	p->pages++;
	if (r->next_url && !url_same_origin(r->next_url, p->g->api)) {
		json_free(*(struct json **)m->out);
		*(struct json **)m->out = NULL;
		return err_set(E_PERM,
		    "GET %.*s: next-page link points to another host, refused",
		    (int)strcspn(m->path, "?"), m->path);
	}
	if (r->next_url) {
		p->next = r->next_url;
		r->next_url = NULL;
	} else if (r->next_page > 0) {
		p->next = with_page(m->url, r->next_page);
	}
	return 0;
}

/* judge: a member's answer turned into its rc and *out */
static int
judge(struct gitlab *g, struct gitlab_req *m, struct http_call *hc)
{
	struct http_resp *r = &hc->resp;
	int rc;

	m->tries = r->tries;
	if (hc->rc < 0)
		return err_set(hc->rc, "%s", hc->err ? hc->err : err_msg());
	m->status = r->status;
	if (r->date > 0) {
		g->date = r->date;
		g->date_at = (long long)time(NULL);
	}
	if (r->status < 200 || r->status > 299)
		return status_error(m->method, m->path, r);
	if (m->kind == GITLAB_RAW)
		return take_raw(m, r);
	rc = parse_json(m, r);
	if (rc == 0 && m->kind == GITLAB_PAGE)
		rc = next_page(m, r);
	return rc;
}

void
gitlab_batch_init(struct gitlab_batch *b, struct gitlab *g)
{
	memset(b, 0, sizeof(*b));
	b->g = g;
}

/* add: a member for url (owned from here on, also on failure); returns
 * its index, or the batch's sticky error */
static int
add(struct gitlab_batch *b, int kind, const char *method, const char *body,
    char *url, void *out)
{
	struct gitlab_req *m;
	size_t api = strlen(b->g->api);

	if (out)
		memset(out, 0,
		    kind == GITLAB_RAW ? sizeof(char *)
				       : sizeof(struct json *));
	if (b->rc == 0 && !url)
		b->rc = err_set(E_NOMEM, "out of memory");
	if (b->rc == 0 && b->n == GITLAB_BATCH_MAX)
		b->rc = err_set(E_FAIL, "more than %d requests in a batch",
		    GITLAB_BATCH_MAX);
	if (b->rc < 0 || !url) {
		free(url);
		return b->rc < 0 ? b->rc : E_NOMEM;
	}
	m = &b->req[b->n];
	m->kind = kind;
	m->method = method;
	m->body = body;
	m->url = url;
	m->path = strncmp(url, b->g->api, api) == 0 ? url + api : url;
	m->out = out;
	return (int)b->n++;
}

/* addv: a member for api + the path from fmt */
static int
addv(struct gitlab_batch *b, int kind, const char *method, const char *body,
    void *out, const char *fmt, va_list ap)
{
	struct buf url;

	buf_init(&url, 0);
	if (buf_puts(&url, b->g->api) < 0 || buf_vprintf(&url, fmt, ap) < 0) {
		buf_free(&url);
		return add(b, kind, method, body, NULL, out);
	}
	return add(b, kind, method, body, buf_detach(&url), out);
}

int
gitlab_batch_callf(struct gitlab_batch *b, struct json **out,
    const char *method, const char *body, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = addv(b, GITLAB_JSON, method, body, out, fmt, ap);
	va_end(ap);
	return rc;
}

int
gitlab_batch_getf(
    struct gitlab_batch *b, struct json **out, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = addv(b, GITLAB_JSON, "GET", NULL, out, fmt, ap);
	va_end(ap);
	return rc;
}

int
gitlab_batch_listf(
    struct gitlab_batch *b, struct json **out, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = addv(b, GITLAB_LIST, "GET", NULL, out, fmt, ap);
	va_end(ap);
	return rc;
}

int
gitlab_batch_rawf(struct gitlab_batch *b, char **out, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = addv(b, GITLAB_RAW, "GET", NULL, out, fmt, ap);
	va_end(ap);
	return rc;
}

int
gitlab_batch_file(struct gitlab_batch *b, char **out, const char *proj,
    const char *file, const char *ref)
{
	char *f = url_escape(file), *r = ref ? url_escape(ref) : NULL;
	int rc = f && (r || !ref)
	    ? gitlab_batch_rawf(b, out, "%s/repository/files/%s/raw%s%s", proj,
		  f, r ? "?ref=" : "", r ? r : "")
	    : add(b, GITLAB_RAW, "GET", NULL, NULL, out);

	free(f);
	free(r);
	return rc;
}

int
gitlab_batch_page(
    struct gitlab_batch *b, struct gitlab_pager *p, struct json **out)
{
	char *url = p->next;
	int i;

	*out = NULL;
	if (url && p->pages >= p->max_pages) {
		p->capped = 1;
		free(url);
		url = NULL;
	}
	p->next = NULL;
	if (!url) {
		/* no more pages: a member that sends nothing */
		i = add(b, GITLAB_PAGE, "GET", NULL, str_dup(""), out);
		if (i >= 0)
			b->req[i].done = 1;
		return i;
	}
	i = add(b, GITLAB_PAGE, "GET", NULL, url, out);
	if (i >= 0)
		b->req[i].pager = p;
	return i;
}

int
gitlab_batch_rc(struct gitlab_batch *b, int i)
{
	struct gitlab_req *m;

	if (i < 0)
		return b->rc < 0 ? b->rc : i;
	m = &b->req[i];
	b->g->status = m->status;
	b->g->tries = m->tries;
	if (m->rc < 0)
		err_set(m->rc, "%s", m->err ? m->err : "out of memory");
	return m->rc;
}

int
gitlab_batch_run(struct gitlab_batch *b)
{
	struct http_call hc[GITLAB_BATCH_MAX];
	size_t i, k = 0;
	int idx[GITLAB_BATCH_MAX];

	b->g->status = 0;
	if (b->rc < 0)
		return b->rc;
	memset(hc, 0, sizeof(hc));
	for (i = 0; i < b->n; i++) {
		struct gitlab_req *m = &b->req[i];

		if (m->done)
			continue;
		hc[k].req = (struct http_req){ m->method, m->url, b->g->auth,
			b->g->token, m->body, NULL, NULL };
		idx[k++] = (int)i;
	}
	http_do_many(b->g->http, hc, k);
	for (i = 0; i < k; i++) {
		struct gitlab_req *m = &b->req[idx[i]];

		m->rc = judge(b->g, m, &hc[i]);
		if (m->rc < 0)
			m->err = str_dup(err_msg());
		m->done = 1;
		http_resp_free(&hc[i].resp);
		free(hc[i].err);
	}
	/* one error however many failed: the first in request order */
	for (i = 0; i < b->n; i++)
		if (b->req[i].rc < 0)
			return gitlab_batch_rc(b, (int)i);
	if (b->n > 0)
		gitlab_batch_rc(b, (int)b->n - 1);
	return 0;
}

void
gitlab_batch_free(struct gitlab_batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		free(b->req[i].url);
		free(b->req[i].err);
	}
	b->n = 0;
}

/* one: run a batch of the one member just added */
static int
one(struct gitlab_batch *b)
{
	int rc = gitlab_batch_run(b);

	gitlab_batch_free(b);
	return rc;
}

/* prefetch: queue a GET of url (owned) as g */
static int
prefetch(struct gitlab *g, char *url)
{
	struct http_req req = { "GET", url, g->auth, g->token, NULL, NULL,
		NULL };
	int rc = url ? http_prefetch(g->http, &req)
		     : err_set(E_NOMEM, "out of memory");

	free(url);
	return rc;
}

int
gitlab_prefetchf(struct gitlab *g, const char *fmt, ...)
{
	struct buf url;
	va_list ap;
	int rc;

	buf_init(&url, 0);
	va_start(ap, fmt);
	rc = buf_puts(&url, g->api) == 0 ? buf_vprintf(&url, fmt, ap) : E_NOMEM;
	va_end(ap);
	if (rc < 0)
		buf_free(&url);
	return prefetch(g, rc < 0 ? NULL : buf_detach(&url));
}

int
gitlab_prefetch_file(
    struct gitlab *g, const char *proj, const char *file, const char *ref)
{
	char *f = url_escape(file), *r = ref ? url_escape(ref) : NULL;
	int rc = f && (r || !ref)
	    ? gitlab_prefetchf(g, "%s/repository/files/%s/raw%s%s", proj, f,
		  r ? "?ref=" : "", r ? r : "")
	    : err_set(E_NOMEM, "out of memory");

	free(f);
	free(r);
	return rc;
}

int
gitlab_pager_prefetch(struct gitlab_pager *p)
{
	if (!p->next || p->pages >= p->max_pages)
		return 0;
	return prefetch(p->g, str_dup(p->next));
}

long long
gitlab_now(const struct gitlab *g)
{
	long long now = (long long)time(NULL);

	if (!g || g->date <= 0)
		return now;
	return g->date + (now - g->date_at);
}

int
gitlab_call(struct gitlab *g, struct json **out, const char *method,
    const char *path, const char *body)
{
	struct gitlab_batch b;

	gitlab_batch_init(&b, g);
	gitlab_batch_callf(&b, out, method, body, "%s", path);
	return one(&b);
}

int
gitlab_callf(struct gitlab *g, struct json **out, const char *method,
    const char *body, const char *fmt, ...)
{
	struct gitlab_batch b;
	va_list ap;

	gitlab_batch_init(&b, g);
	va_start(ap, fmt);
	addv(&b, GITLAB_JSON, method, body, out, fmt, ap);
	va_end(ap);
	return one(&b);
}

int
gitlab_getf(struct gitlab *g, struct json **out, const char *fmt, ...)
{
	struct gitlab_batch b;
	va_list ap;

	gitlab_batch_init(&b, g);
	va_start(ap, fmt);
	addv(&b, GITLAB_JSON, "GET", NULL, out, fmt, ap);
	va_end(ap);
	return one(&b);
}

int
gitlab_project_from(char **branch_out, char **url_out, struct json *d,
    const char *name, const char *branch)
{
	const char *url;

	if (!branch)
		branch = json_strp(json_root(d), "default_branch");
	url = json_strp(json_root(d), "web_url");
	if ((branch_out && !branch) || !url)
		return err_set(E_PARSE,
		    "project %s: answer has no default_branch or web_url",
		    name);
	if (branch_out)
		*branch_out = str_dup(branch);
	if (url_out)
		*url_out = str_dup(url);
	if ((branch_out && !*branch_out) || (url_out && !*url_out))
		return err_set(E_NOMEM, "out of memory");
	return 0;
}

int
gitlab_project_read(char **branch_out, char **url_out, struct gitlab *g,
    const char *proj, const char *name, const char *branch)
{
	struct json *d = NULL;
	int rc = gitlab_call(g, &d, "GET", proj, NULL);

	if (rc < 0)
		return err_prefix(rc, "cannot read project %s: ", name);
	rc = gitlab_project_from(branch_out, url_out, d, name, branch);
	json_free(d);
	return rc;
}

int
gitlab_list(struct gitlab *g, struct json **out, const char *path)
{
	struct gitlab_batch b;

	gitlab_batch_init(&b, g);
	gitlab_batch_listf(&b, out, "%s", path);
	return one(&b);
}

int
gitlab_listf(struct gitlab *g, struct json **out, const char *fmt, ...)
{
	struct gitlab_batch b;
	va_list ap;

	gitlab_batch_init(&b, g);
	va_start(ap, fmt);
	addv(&b, GITLAB_LIST, "GET", NULL, out, fmt, ap);
	va_end(ap);
	return one(&b);
}

int
gitlab_raw(struct gitlab *g, char **out, const char *path)
{
	struct gitlab_batch b;

	gitlab_batch_init(&b, g);
	gitlab_batch_rawf(&b, out, "%s", path);
	return one(&b);
}

int
gitlab_file(struct gitlab *g, char **out, const char *proj, const char *file,
    const char *ref)
{
	struct gitlab_batch b;

	gitlab_batch_init(&b, g);
	gitlab_batch_file(&b, out, proj, file, ref);
	return one(&b);
}

int
gitlab_pager_init(
    struct gitlab_pager *p, struct gitlab *g, const char *path, int max_pages)
{
	struct buf url;

	buf_init(&url, 0);
	p->g = g;
	p->pages = 0;
	p->max_pages = max_pages;
	p->capped = 0;
	if (buf_printf(&url, "%s%s", g->api, path) < 0) {
		p->next = NULL;
		return E_NOMEM;
	}
	p->next = buf_detach(&url);
	return 0;
}

int
gitlab_pager_initf(struct gitlab_pager *p, struct gitlab *g, int max_pages,
    const char *fmt, ...)
{
	struct buf path;
	va_list ap;
	int rc;

	buf_init(&path, 0);
	va_start(ap, fmt);
	rc = buf_vprintf(&path, fmt, ap);
	va_end(ap);
	if (rc == 0)
		rc = gitlab_pager_init(p, g, path.data, max_pages);
	else
		p->next = NULL;
	buf_free(&path);
	if (rc == E_NOMEM)
		rc = err_set(rc, "out of memory");
	return rc;
}

int
gitlab_pager_next(struct gitlab_pager *p, struct json **out)
{
	struct gitlab_batch b;
	int rc;

	gitlab_batch_init(&b, p->g);
	gitlab_batch_page(&b, p, out);
	rc = one(&b);
	return rc < 0 ? rc : *out != NULL;
}

void
gitlab_pager_free(struct gitlab_pager *p)
{
	free(p->next);
	p->next = NULL;
}
