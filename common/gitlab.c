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
status_error(struct gitlab *g, const char *method, const char *path,
    const struct http_resp *r)
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
	(void)g;
	return code;
}

static int
request(struct gitlab *g, struct http_resp *r, const char *method,
    const char *url, const char *path, const char *body)
{
	struct http_req req = { method, url, g->auth, g->token, body, NULL,
		NULL };
	int rc;

	g->status = 0;
	rc = http_do(g->http, r, &req);
	g->tries = r->tries;
	if (rc < 0)
		return rc;
	g->status = r->status;
	if (r->date > 0) {
		g->date = r->date;
		g->date_at = (long long)time(NULL);
	}
	if (r->status < 200 || r->status > 299)
		return status_error(g, method, path, r);
	return 0;
}

static int
parse_body(struct json **out, const char *method, const char *path,
    const struct http_resp *r)
{
	int rc;

	if (!out)
		return 0;
	*out = NULL;
	if (r->body.len == 0)
		return 0;
	rc = json_parse(out, r->body.data, r->body.len);
	if (rc < 0)
		return err_prefix(
		    rc, "%s %.*s: ", method, (int)strcspn(path, "?"), path);
	return 0;
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
	struct http_resp r;
	struct buf url;
	int rc;

	memset(&r, 0, sizeof(r)); /* freed below even when no request ran */
	if (out)
		*out = NULL;
	buf_init(&url, 0);
	rc = buf_printf(&url, "%s%s", g->api, path);
	if (rc == 0)
		rc = request(g, &r, method, url.data, path, body);
	buf_free(&url);
	if (rc == 0)
		rc = parse_body(out, method, path, &r);
	http_resp_free(&r);
	return rc;
}

/* callv: gitlab_call with a path from fmt and ap */
static int
callv(struct gitlab *g, struct json **out, const char *method, const char *body,
    const char *fmt, va_list ap)
{
	struct buf path;
	int rc;

	if (out)
		*out = NULL;
	buf_init(&path, 0);
	rc = buf_vprintf(&path, fmt, ap);
	if (rc == 0)
		rc = gitlab_call(g, out, method, path.data, body);
	buf_free(&path);
	return rc;
}

int
gitlab_callf(struct gitlab *g, struct json **out, const char *method,
    const char *body, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = callv(g, out, method, body, fmt, ap);
	va_end(ap);
	return rc;
}

int
gitlab_getf(struct gitlab *g, struct json **out, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = callv(g, out, "GET", NULL, fmt, ap);
	va_end(ap);
	return rc;
}

int
gitlab_project_read(char **branch_out, char **url_out, struct gitlab *g,
    const char *proj, const char *name, const char *branch)
{
	struct json *d = NULL;
	const char *url;
	int rc = gitlab_call(g, &d, "GET", proj, NULL);

	if (rc < 0)
		return err_prefix(rc, "cannot read project %s: ", name);
	if (!branch)
		branch = json_strp(json_root(d), "default_branch");
	url = json_strp(json_root(d), "web_url");
	if ((branch_out && !branch) || !url) {
		json_free(d);
		return err_set(E_PARSE,
		    "project %s: answer has no default_branch or web_url",
		    name);
	}
	if (branch_out)
		*branch_out = str_dup(branch);
	if (url_out)
		*url_out = str_dup(url);
	json_free(d);
	if ((branch_out && !*branch_out) || (url_out && !*url_out))
		return err_set(E_NOMEM, "out of memory");
	return 0;
}

int
gitlab_list(struct gitlab *g, struct json **out, const char *path)
{
	int rc = gitlab_call(g, out, "GET", path, NULL);

	if (rc == 0 && json_type(json_root(*out)) != JSON_ARRAY) {
		json_free(*out);
		*out = NULL;
		rc = err_set(E_PARSE, "GET %.*s: expected a JSON array",
		    (int)strcspn(path, "?"), path);
	}
	return rc;
}

int
gitlab_listf(struct gitlab *g, struct json **out, const char *fmt, ...)
{
	struct buf path;
	va_list ap;
	int rc;

	*out = NULL;
	buf_init(&path, 0);
	va_start(ap, fmt);
	rc = buf_vprintf(&path, fmt, ap);
	va_end(ap);
	if (rc == 0)
		rc = gitlab_list(g, out, path.data);
	buf_free(&path);
	return rc;
}

int
gitlab_raw(struct gitlab *g, char **out, const char *path)
{
	struct http_resp r;
	struct buf url;
	int rc;

	*out = NULL;
	buf_init(&url, 0);
	rc = buf_printf(&url, "%s%s", g->api, path);
	if (rc == 0)
		rc = request(g, &r, "GET", url.data, path, NULL);
	buf_free(&url);
	if (rc == 0) {
		int n = (int)strcspn(path, "?");
		const char *ct = r.content_type ? r.content_type : "";

		/* a proxy's error page or a JSON answer is not the file; a
		 * body shorter than the declared size was cut on the way */
		if (strncmp(ct, "application/json", 16) == 0 ||
		    strncmp(ct, "text/html", 9) == 0)
			rc = err_set(E_PARSE, "GET %.*s: %s answer, not a file",
			    n, path, ct);
		else if (r.declared_size >= 0 &&
		    (size_t)r.declared_size != r.body.len)
			rc = err_set(E_PARSE,
			    "GET %.*s: answer cut short (%zu of %ld bytes)", n,
			    path, r.body.len, r.declared_size);
		else if (memchr(
			     r.body.data ? r.body.data : "", '\0', r.body.len))
			rc = err_set(
			    E_PARSE, "GET %.*s: binary content", n, path);
		else
			*out = buf_detach(&r.body);
	}
	http_resp_free(&r);
	return rc;
}

int
gitlab_file(struct gitlab *g, char **out, const char *proj, const char *file,
    const char *ref)
{
	struct buf path;
	char *f = url_escape(file), *r = ref ? url_escape(ref) : NULL;
	int rc;

	*out = NULL;
	buf_init(&path, 0);
	rc = f && (r || !ref)
	    ? buf_printf(&path, "%s/repository/files/%s/raw%s%s", proj, f,
		  r ? "?ref=" : "", r ? r : "")
	    : err_set(E_NOMEM, "out of memory");
	if (rc == 0)
		rc = gitlab_raw(g, out, path.data);
	free(f);
	free(r);
	buf_free(&path);
	return rc;
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

int
gitlab_pager_next(struct gitlab_pager *p, struct json **out)
{
	struct http_resp r;
	const char *path;
	char *url;
	int rc;

	*out = NULL;
	if (!p->next)
		return 0;
	if (p->pages >= p->max_pages) {
		p->capped = 1;
		free(p->next);
		p->next = NULL;
		return 0;
	}
	url = p->next;
	p->next = NULL;
	path = url + strlen(p->g->api);
	if (strncmp(url, p->g->api, strlen(p->g->api)) != 0)
		path = url;
	rc = request(p->g, &r, "GET", url, path, NULL);
	if (rc == 0)
		rc = parse_body(out, "GET", path, &r);
	if (rc == 0 && json_type(json_root(*out)) != JSON_ARRAY) {
		json_free(*out);
		*out = NULL;
		rc = err_set(E_PARSE, "GET %.*s: expected a JSON array",
		    (int)strcspn(path, "?"), path);
	}
	if (rc == 0) {
		p->pages++;
		if (r.next_url) {
			if (!url_same_origin(r.next_url, p->g->api)) {
				rc = err_set(E_PERM,
				    "GET %.*s: next-page link points to another host, refused",
				    (int)strcspn(path, "?"), path);
			} else {
				p->next = r.next_url;
				r.next_url = NULL;
			}
		} else if (r.next_page > 0) {
			p->next = with_page(url, r.next_page);
		}
		if (rc < 0) {
			json_free(*out);
			*out = NULL;
		}
	}
	http_resp_free(&r);
	free(url);
	return rc < 0 ? rc : 1;
}

void
gitlab_pager_free(struct gitlab_pager *p)
{
	free(p->next);
	p->next = NULL;
}
