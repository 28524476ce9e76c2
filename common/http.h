/* http: a few keep-alive connections, auth, caps, retries, concurrency */
#ifndef RELAY_HTTP_H
#define RELAY_HTTP_H

#include <stddef.h>
#include <time.h>

#include "buf.h"

struct http;

enum {
	HTTP_AUTH_NONE,
	HTTP_AUTH_PRIVATE, /* PRIVATE-TOKEN: personal/project/bot token */
	HTTP_AUTH_JOB, /* JOB-TOKEN: CI_JOB_TOKEN */
	HTTP_AUTH_BEARER, /* Authorization: Bearer (OAuth) */
};

struct http_opts {
	long timeout_s; /* per attempt, whole transfer */
	int tries; /* attempts for retryable failures, >= 1 */
	long backoff_ms; /* first backoff, doubled each retry, +-25% jitter */
	long max_wait_s; /* longest Retry-After honoured before giving up */
	size_t max_body; /* response size cap */
	const char *ca_bundle; /* CA file, or NULL for the built-in default */
	const char *user_agent;
};

struct http_req {
	const char *method; /* GET, POST, PUT, DELETE */
	const char *url;
	int auth;
	const char *token; /* borrowed; never logged */
	const char *body; /* NULL: no body */
	const char *content_type; /* default application/json with a body */
	const char *label; /* names the request in logs instead of its URL
	                    * path (a webhook's path is its secret) */
};

/* Owned by the caller, released with http_resp_free. */
struct http_resp {
	long status;
	struct buf body;
	char *next_url; /* Link: rel="next", or NULL */
	long next_page; /* X-Next-Page, 0 when absent or empty */
	long retry_after_s;
	int tries; /* attempts made */
	char *content_type;
	/* X-Gitlab-Size, -1 when absent: GitLab's raw file answers declare
	 * the blob's size, which tells a cut answer from a short file */
	long declared_size;
	/* the Date header (the server's clock), epoch seconds; 0 when absent
	 * or unparseable */
	long long date;
};

void http_opts_default(struct http_opts *o);
int http_new(struct http **out, const struct http_opts *o);
void http_free(struct http *h);
void http_resp_free(struct http_resp *r);

/* http_do: perform req, retrying 429/5xx/network failures with backoff and
 * Retry-After. GET/PUT/DELETE retry all of those; POST only retries when the
 * request was certainly not processed (429, could not connect), so a
 * re-run, not a blind retry, repairs the rest. Returns 0 once any HTTP
 * answer arrived (the caller judges the status, including a final 5xx), or
 * E_TEMP (network, after retries), E_USAGE (URL refused), E_PARSE (body over
 * the cap or cut short), E_PERM (TLS verification failed). */
int http_do(struct http *h, struct http_resp *out, const struct http_req *req);
/* One request of http_do_many. */
struct http_call {
	struct http_req req; /* in */
	struct http_resp
	    resp; /* out: the caller's, freed with http_resp_free */
	int rc; /* out: what http_do would return */
	char *err; /* out: the message when rc < 0 (masked); caller frees */
};
/* http_do_many: perform n independent requests concurrently over a few
 * keep-alive connections, each exactly as http_do would (its own retries,
 * backoff and Retry-After; the deadline; a POST sent once). Every call's
 * resp is set, even when it failed. Returns 0, or the first failed call's
 * rc in request order with the error message set to its message: one
 * error, however many failed. */
int http_do_many(struct http *h, struct http_call *calls, size_t n);
/* http_prefetch: queue GET req (copied; its token borrowed): it goes out
 * with the next http_do/http_do_many run, side by side with that run's
 * requests, and the first later GET of the same URL and token takes its
 * answer (or error) instead of asking again. For a read a later step
 * surely makes that needs nothing the run in flight answers. That run may
 * be a write: prefetch only what the writes before its use cannot change
 * (the caller knows; open-mr's MR update changes no field auto-merge
 * reads). Answers already in hand are forgotten when a write (any method
 * but GET) is sent, since it may change them. */
#define HTTP_PREFETCH_MAX 8
struct http_pre {
	char *url; /* owned */
	int sent; /* went out with a run: call holds the answer */
	struct http_call call;
};
int http_prefetch(struct http *h, const struct http_req *req);
/* http_deadline: no attempt starts, no backoff waits, and no transfer runs
 * past secs from now (0: none), so retries x backoff never outlive the
 * job; a request refused by it is E_TEMP. job_api sets it from
 * RELAY_DEADLINE_S, a common variable of the API stages. */
void http_deadline(struct http *h, long secs);
/* http_requests: attempts made by this handle so far (request budgets) */
long http_requests(const struct http *h);
/* http_error_line: an error answer's body as one printable line for a
 * message: JSON ({"message": ...}, {"error_description": ...},
 * {"error": ...}, as GitLab answers) flattened, or the text (Slack answers
 * "invalid_payload"), capped; caller frees */
char *http_error_line(const char *body, size_t len);

/* Parsers, exposed for tests and fuzzing. */
/* http_link_next: the rel="next" target of a Link header; *out NULL if none */
int http_link_next(char **out, const char *link);
/* http_date: an IMF-fixdate ("Wed, 21 Oct 2015 07:28:00 GMT") as epoch
 * seconds */
int http_date(long long *out, const char *value);
/* http_retry_after: delta-seconds or an IMF-fixdate relative to now */
int http_retry_after(long *out, const char *value, time_t now);

#endif
