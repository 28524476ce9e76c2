/* gitlab: REST API v4 calls with GitLab's status codes turned into errors */
#ifndef RELAY_GITLAB_H
#define RELAY_GITLAB_H

#include <stddef.h>

struct http;
struct json;

struct gitlab {
	struct http *http; /* borrowed */
	char *api; /* API root without trailing slash; owned */
	const char *token; /* borrowed; wiped by the job */
	int auth; /* HTTP_AUTH_* */
	long status; /* HTTP status of the last answer, 0 if none */
	int tries; /* attempts of the last call */
	/* GitLab's clock: the Date of the latest answer (epoch s, 0 none yet)
	 * and the local time it arrived */
	long long date;
	long long date_at;
	long long self_id; /* relay's own user id (record.c), 0 until asked */
};

int gitlab_new(struct gitlab **out, struct http *h, const char *api,
    const char *token, int auth);
void gitlab_free(struct gitlab *g);

/* gitlab_now: the time by GitLab's clock (the latest answer's Date plus
 * the time since), or the local clock before any answer with a Date.
 * Ages ("stale after 24 h", "merged within 14 days") are judged by it, so
 * a runner with a skewed clock decides as any other. */
long long gitlab_now(const struct gitlab *g);

/* gitlab_call: METHOD api+path with an optional JSON body. On 2xx, *out is
 * the parsed answer (NULL for an empty body; out may be NULL to discard).
 * Errors carry one line: "GET /projects/x: HTTP 404: 404 Project Not Found".
 * 404 -> E_NOTFOUND, 409 -> E_CONFLICT, 429/5xx after retries -> E_TEMP,
 * other 4xx -> E_PERM, unparseable 2xx body -> E_PARSE. g->status tells the
 * exact status to callers that treat some codes as answers. */
int gitlab_call(struct gitlab *g, struct json **out, const char *method,
    const char *path, const char *body);
/* gitlab_callf, gitlab_getf: gitlab_call with the path built printf-style
 * (gitlab_getf(g, &d, "%s/pipelines/%lld", proj, id)), so a request is one
 * line; the path's parts are escaped by the caller (url_escape) */
int gitlab_callf(struct gitlab *g, struct json **out, const char *method,
    const char *body, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
int gitlab_getf(struct gitlab *g, struct json **out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* gitlab_project_from: gitlab_project_read's answers from project
 * answer d (GET /projects/:id, e.g. read in a batch) */
int gitlab_project_from(char **branch_out, char **url_out, struct json *d,
    const char *name, const char *branch);
/* gitlab_project_read: the branch to use (branch, else the project's default
 * branch) and the web URL of project path proj ("/projects/x"), named name
 * in messages; *branch_out and *url_out are the caller's to free (either
 * may be NULL: not wanted) */
int gitlab_project_read(char **branch_out, char **url_out, struct gitlab *g,
    const char *proj, const char *name, const char *branch);
/* gitlab_list, gitlab_listf: GET a list; an answer that is not a JSON array
 * (an object, a proxy's JSON) is E_PARSE, never an empty list */
int gitlab_list(struct gitlab *g, struct json **out, const char *path);
int gitlab_listf(struct gitlab *g, struct json **out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* gitlab_raw: GET returning the body as text (raw file API); caller frees */
int gitlab_raw(struct gitlab *g, char **out, const char *path);
/* gitlab_file: the raw content of file on ref (NULL: the default branch)
 * in project path proj ("/projects/x"); caller frees */
int gitlab_file(struct gitlab *g, char **out, const char *proj,
    const char *file, const char *ref);

/* Offset or keyset pagination following Link rel="next" / X-Next-Page;
 * links to another origin are refused (the token must not leave). */
struct gitlab_pager {
	struct gitlab *g;
	char *next; /* absolute URL of the next page, or NULL when done */
	int pages;
	int max_pages;
	int capped; /* stopped at max_pages with more pages left */
};
int gitlab_pager_init(
    struct gitlab_pager *p, struct gitlab *g, const char *path, int max_pages);
/* gitlab_pager_initf: gitlab_pager_init with the path built printf-style */
int gitlab_pager_initf(struct gitlab_pager *p, struct gitlab *g, int max_pages,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* gitlab_pager_next: 1 with *out = the next page, 0 when done, or < 0 */
int gitlab_pager_next(struct gitlab_pager *p, struct json **out);
void gitlab_pager_free(struct gitlab_pager *p);

/* A batch: independent requests sent together, concurrently over a few
 * keep-alive connections, so a round of a stage costs one round trip.
 * Each add is one line naming where its answer goes; nothing is sent
 * before gitlab_batch_run, which fills every *out (the caller's to free;
 * NULL for a member that failed). Every member keeps gitlab_call's
 * guarantees (retries, deadline, a POST sent once, one-line errors and
 * their codes). An add returns the member's index, or a sticky error that
 * gitlab_batch_run returns; a body is borrowed until the run.
 *
 *	gitlab_batch_init(&b, g);
 *	gitlab_batch_getf(&b, &proj, "%s", src);
 *	gitlab_batch_file(&b, &pin, tgt, "VERSION", NULL);
 *	rc = gitlab_batch_run(&b);   (or gitlab_batch_rc(&b, i) per member)
 *	gitlab_batch_free(&b);
 */
enum { GITLAB_JSON, GITLAB_LIST, GITLAB_RAW, GITLAB_PAGE };
#define GITLAB_BATCH_MAX 8
struct gitlab_req {
	int kind; /* GITLAB_* */
	const char *method;
	const char *body; /* borrowed */
	char *url; /* owned */
	const char *path; /* url without the API root, for messages */
	void *out; /* struct json ** (JSON, LIST, PAGE) or char ** (RAW) */
	struct gitlab_pager *pager; /* PAGE */
	int done; /* answered (or nothing to send) */
	int rc; /* as gitlab_call would return */
	long status; /* HTTP status, 0 if none */
	int tries;
	char *err; /* the message when rc < 0; owned */
};
struct gitlab_batch {
	struct gitlab *g;
	size_t n;
	int rc; /* sticky: an add that failed */
	struct gitlab_req req[GITLAB_BATCH_MAX];
};
void gitlab_batch_init(struct gitlab_batch *b, struct gitlab *g);
int gitlab_batch_callf(struct gitlab_batch *b, struct json **out,
    const char *method, const char *body, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
int gitlab_batch_getf(struct gitlab_batch *b, struct json **out,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* gitlab_batch_listf: a list (gitlab_list's rule: an array or E_PARSE) */
int gitlab_batch_listf(struct gitlab_batch *b, struct json **out,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* gitlab_batch_rawf, gitlab_batch_file: gitlab_raw, gitlab_file */
int gitlab_batch_rawf(struct gitlab_batch *b, char **out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int gitlab_batch_file(struct gitlab_batch *b, char **out, const char *proj,
    const char *file, const char *ref);
/* gitlab_batch_page: the pager's next page (*out NULL after the run when
 * there was none), as gitlab_pager_next */
int gitlab_batch_page(
    struct gitlab_batch *b, struct gitlab_pager *p, struct json **out);
/* gitlab_batch_run: send every member at once and wait for all; returns
 * 0, or the first failed member's code in request order with the error
 * message and g->status its own: one error, however many failed */
int gitlab_batch_run(struct gitlab_batch *b);
/* gitlab_batch_rc: member i's code (i as an add returned it), with the
 * error message, g->status and g->tries made its own, for callers that
 * take some failures as answers (a 404 for an absent file) */
int gitlab_batch_rc(struct gitlab_batch *b, int i);
void gitlab_batch_free(struct gitlab_batch *b);

/* gitlab_prefetchf, gitlab_prefetch_file, gitlab_pager_prefetch: a read
 * a later step surely makes (gitlab_getf/_listf of that path, gitlab_file,
 * the pager's next page), sent side by side with the next request, so it
 * costs no round of its own (http_prefetch). The later call gets the very
 * answer, or error, it would have got. */
int gitlab_prefetchf(struct gitlab *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int gitlab_prefetch_file(
    struct gitlab *g, const char *proj, const char *file, const char *ref);
int gitlab_pager_prefetch(struct gitlab_pager *p);

/* gitlab_project_path: "/projects/<url-encoded path or id>"; caller frees */
char *gitlab_project_path(const char *project);

#endif
