/* unit tests: gitlab's error lines and paths, and batches of requests
 * against the simulator (tests/sim/gitlab_sim.py, started here): its own
 * record of the requests says how many were in flight together */
#define _DEFAULT_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "gitlab.h"
#include "http.h"
#include "json.h"
#include "tap.h"
#include "util.h"

#define TOKEN "glpat-unit-SECRET-0001"
#define SRC "/projects/g%2Fsrc"

static char base[128];
static struct http *admin_http;

/* sim_start: the simulator on a free loopback port; its pid, or -1 */
static pid_t
sim_start(const char *dir)
{
	char port_file[256], port[16] = "";
	pid_t pid;
	int i;

	snprintf(port_file, sizeof(port_file), "%s/port", dir);
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		dup2(null, 2);
		execlp("python3", "python3", "tests/sim/gitlab_sim.py",
		    "--port-file", port_file, (char *)NULL);
		_exit(127);
	}
	for (i = 0; pid > 0 && i < 200 && !port[0]; i++) {
		FILE *f = fopen(port_file, "r");

		if (f) {
			if (!fgets(port, sizeof(port), f))
				port[0] = '\0';
			fclose(f);
		}
		if (!port[0])
			usleep(50000);
	}
	if (!port[0]) {
		if (pid > 0)
			kill(pid, SIGTERM);
		return -1;
	}
	str_trim(port);
	snprintf(base, sizeof(base), "http://127.0.0.1:%s", port);
	return pid;
}

/* admin: a /-/sim call; the answer as JSON (caller frees), NULL on error */
static struct json *
admin(const char *method, const char *path, const char *body)
{
	struct http_req req = { method, NULL, HTTP_AUTH_NONE, NULL, body, NULL,
		NULL };
	struct http_resp r;
	struct json *d = NULL;
	struct buf url;

	buf_init(&url, 0);
	buf_printf(&url, "%s/-/sim%s", base, path);
	req.url = url.data;
	if (http_do(admin_http, &r, &req) == 0 && r.status == 200)
		json_parse(&d, r.body.data, r.body.len);
	http_resp_free(&r);
	buf_free(&url);
	return d;
}

static void
admin_do(const char *method, const char *path, const char *body)
{
	json_free(admin(method, path, body));
}

/* rounds: GET /-/sim/rounds's key, then the log is cleared */
static long long
rounds(const char *key)
{
	struct json *d = admin("GET", "/rounds", NULL);
	long long v = json_intp(json_root(d), key, -1);

	json_free(d);
	return v;
}

static void
fresh(void)
{
	admin_do("DELETE", "/faults", NULL);
	admin_do("DELETE", "/requests", NULL);
}

static void
batches(struct gitlab *g)
{
	struct gitlab_batch b;
	struct json *proj = NULL, *list = NULL, *page[2] = { NULL, NULL };
	struct gitlab_pager pg[2];
	char *raw = NULL, *branch = NULL, *url = NULL;
	long long n;
	int rc, i;

	/* three reads at once under 300 ms of latency: one round */
	admin_do("POST", "/latency", "{\"ms\": 300}");
	fresh();
	gitlab_batch_init(&b, g);
	gitlab_batch_getf(&b, &proj, "%s", SRC);
	gitlab_batch_file(&b, &raw, SRC, "VERSION", "master");
	gitlab_batch_listf(
	    &b, &list, "%s/repository/commits?ref_name=%s", SRC, "master");
	rc = gitlab_batch_run(&b);
	gitlab_batch_free(&b);
	OK(rc == 0);
	OK(gitlab_project_from(&branch, &url, proj, "g/src", NULL) == 0);
	STREQ(branch, "master");
	STREQ(raw, "1.0.0\n");
	OK(json_size(json_root(list)) == 6);
	n = rounds("requests");
	OK(n == 3);
	OK(rounds("max_inflight") == 3);
	OK(rounds("rounds") == 1);
	json_free(proj);
	json_free(list);
	free(raw);
	free(branch);
	free(url);

	/* two pagers' pages side by side: one round a page */
	fresh();
	gitlab_pager_init(&pg[0], g, SRC "/repository/commits?per_page=4", 10);
	gitlab_pager_init(&pg[1], g, SRC "/repository/commits?per_page=2", 10);
	for (i = 0; i < 3; i++) {
		gitlab_batch_init(&b, g);
		gitlab_batch_page(&b, &pg[0], &page[0]);
		gitlab_batch_page(&b, &pg[1], &page[1]);
		rc = gitlab_batch_run(&b);
		gitlab_batch_free(&b);
		OK(rc == 0);
		OK(i < 2 ? page[0] != NULL : page[0] == NULL);
		OK(page[1] && json_size(json_root(page[1])) == 2);
		json_free(page[0]);
		json_free(page[1]);
	}
	OK(pg[0].pages == 2 && pg[1].pages == 3);
	gitlab_pager_free(&pg[0]);
	gitlab_pager_free(&pg[1]);
	OK(rounds("requests") == 5);
	OK(rounds("rounds") == 3);

	/* several fail: one error, the first in request order, and every
	 * member keeps its own code, message and status */
	fresh();
	admin_do("POST", "/faults",
	    "{\"kind\": \"status\", \"status\": 503, \"times\": -1,"
	    " \"method\": \"GET\", \"path\": \"/pipelines$\"}");
	gitlab_batch_init(&b, g);
	gitlab_batch_getf(&b, &proj, "%s", SRC);
	gitlab_batch_getf(&b, &list, "%s/merge_requests/999", SRC);
	gitlab_batch_listf(&b, &page[0], "%s/pipelines", SRC);
	rc = gitlab_batch_run(&b);
	OK(rc == E_NOTFOUND);
	STREQ(err_msg(),
	    "GET " SRC "/merge_requests/999: HTTP 404: "
	    "404 Not Found");
	OK(g->status == 404);
	OK(proj != NULL && list == NULL && page[0] == NULL);
	OK(gitlab_batch_rc(&b, 0) == 0);
	OK(gitlab_batch_rc(&b, 2) == E_TEMP && g->status == 503 &&
	    g->tries == 2);
	STREQ(err_msg(),
	    "GET " SRC "/pipelines: HTTP 503 (after 2 tries): 503 simulated");
	gitlab_batch_free(&b);
	json_free(proj);
	/* the 503 was retried (tries 2), the others were not */
	OK(rounds("requests") == 4);

	/* a retry inside a batch: the member answers on its second try */
	fresh();
	admin_do("POST", "/faults",
	    "{\"kind\": \"status\", \"status\": 502, \"times\": 1,"
	    " \"method\": \"GET\", \"path\": \"/pipelines$\"}");
	gitlab_batch_init(&b, g);
	gitlab_batch_getf(&b, &proj, "%s", SRC);
	i = gitlab_batch_listf(&b, &list, "%s/pipelines", SRC);
	rc = gitlab_batch_run(&b);
	OK(rc == 0 && proj && list && i == 1 && b.req[1].tries == 2 &&
	    b.req[0].tries == 1);
	gitlab_batch_free(&b);
	json_free(proj);
	json_free(list);
	OK(rounds("requests") == 3);

	/* a POST whose connection dies is sent once, never again */
	fresh();
	admin_do("POST", "/faults",
	    "{\"kind\": \"drop\", \"times\": -1, \"method\": \"POST\","
	    " \"path\": \"/merge_requests$\"}");
	gitlab_batch_init(&b, g);
	gitlab_batch_getf(&b, &proj, "%s", SRC);
	gitlab_batch_callf(
	    &b, &list, "POST", "{\"title\": \"x\"}", "%s/merge_requests", SRC);
	rc = gitlab_batch_run(&b);
	OK(rc == E_TEMP && proj && !list);
	OK(strncmp(err_msg(), "POST ", 5) == 0 &&
	    strstr(err_msg(), SRC "/merge_requests: ") != NULL);
	OK(strstr(err_msg(), TOKEN) == NULL);
	gitlab_batch_free(&b);
	json_free(proj);
	OK(rounds("requests") == 2);

	/* a prefetch goes out with the next request, side by side, and the
	 * later read of it takes its answer: two requests, one round */
	fresh();
	OK(gitlab_prefetchf(g, "%s/repository/commits?ref_name=master", SRC) ==
	    0);
	OK(gitlab_prefetchf(g, "%s/repository/commits?ref_name=master", SRC) ==
	    0); /* asked already: not twice */
	OK(gitlab_getf(g, &proj, "%s", SRC) == 0 && proj);
	OK(gitlab_listf(
	       g, &list, "%s/repository/commits?ref_name=master", SRC) == 0 &&
	    json_size(json_root(list)) == 6);
	json_free(proj);
	json_free(list);
	OK(rounds("requests") == 2);
	OK(rounds("rounds") == 1);

	/* a prefetched read that fails: the run that carried it succeeds,
	 * the later read gets the error, as if it had asked itself */
	fresh();
	admin_do("POST", "/faults",
	    "{\"kind\": \"status\", \"status\": 404, \"times\": -1,"
	    " \"method\": \"GET\", \"path\": \"/pipelines$\"}");
	gitlab_prefetchf(g, "%s/pipelines", SRC);
	OK(gitlab_getf(g, &proj, "%s", SRC) == 0 && g->status == 200);
	json_free(proj);
	err_clear();
	OK(gitlab_listf(g, &list, "%s/pipelines", SRC) == E_NOTFOUND && !list &&
	    g->status == 404);
	STREQ(err_msg(), "GET " SRC "/pipelines: HTTP 404: 404 simulated");
	OK(rounds("requests") == 2);

	/* a prefetch not sent yet is the read itself: one request */
	fresh();
	gitlab_prefetchf(g, "%s", SRC);
	OK(gitlab_getf(g, &proj, "%s", SRC) == 0 && proj);
	json_free(proj);
	OK(rounds("requests") == 1);

	/* a read answered from a prefetch sends nothing: a prefetch queued
	 * meanwhile waits for the next request that goes out */
	fresh();
	gitlab_prefetchf(g, "%s/pipelines", SRC);
	gitlab_getf(g, &proj, "%s", SRC);
	json_free(proj);
	gitlab_prefetchf(g, "%s/repository/commits", SRC);
	OK(gitlab_listf(g, &list, "%s/pipelines", SRC) == 0 && list);
	json_free(list);
	OK(rounds("requests") == 2);
	OK(gitlab_listf(g, &list, "%s/repository/commits", SRC) == 0 && list);
	json_free(list);
	OK(rounds("requests") == 3);

	/* a write forgets prefetched answers: they may have changed */
	fresh();
	gitlab_prefetchf(g, "%s/merge_requests", SRC);
	gitlab_getf(g, &proj, "%s", SRC);
	json_free(proj);
	gitlab_callf(g, NULL, "POST",
	    "{\"source_branch\": \"nope\", \"target_branch\": \"master\","
	    " \"title\": \"x\"}",
	    "%s/merge_requests", SRC);
	OK(gitlab_listf(g, &list, "%s/merge_requests", SRC) == 0 && list);
	json_free(list);
	OK(rounds("requests") == 4);

	/* more members than a batch holds: a sticky error, nothing sent */
	fresh();
	gitlab_batch_init(&b, g);
	for (i = 0; i <= GITLAB_BATCH_MAX; i++)
		rc = gitlab_batch_getf(&b, NULL, "%s", SRC);
	OK(rc == E_FAIL && gitlab_batch_run(&b) == E_FAIL);
	gitlab_batch_free(&b);
	OK(rounds("requests") == 0);
	admin_do("POST", "/latency", "{\"ms\": 0}");
}

/* against: the batch tests with a simulator of their own */
static void
against_sim(void)
{
	char dir[] = "/tmp/relay-unit-gitlab.XXXXXX";
	struct http_opts o;
	struct http *h = NULL;
	struct gitlab *g = NULL;
	struct json *d;
	char api[160], port_file[sizeof(dir) + 8];
	pid_t pid;

	if (!mkdtemp(dir))
		return;
	pid = sim_start(dir);
	if (pid < 0) {
		printf("# skipped: no simulator (python3)\n");
		rmdir(dir);
		return;
	}
	http_opts_default(&o);
	o.backoff_ms = 10;
	o.tries = 2;
	o.timeout_s = 5;
	http_new(&admin_http, &o);
	http_new(&h, &o);
	snprintf(api, sizeof(api), "%s/api/v4", base);
	d = admin("POST", "/seed",
	    "{\"users\": [{\"username\": \"bot\", \"token\": \"" TOKEN
	    "\"}], \"projects\": [{\"path\": \"g/src\","
	    " \"default_branch\": \"master\","
	    " \"files\": {\"VERSION\": \"1.0.0\\n\"}}]}");
	json_free(d);
	admin_do("POST", "/commits",
	    "{\"project\": \"g/src\", \"count\": 5, \"prefix\": \"c\"}");
	OK(gitlab_new(&g, h, api, TOKEN, HTTP_AUTH_PRIVATE) == 0);
	if (g)
		batches(g);
	gitlab_free(g);
	http_free(h);
	http_free(admin_http);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	snprintf(port_file, sizeof(port_file), "%s/port", dir);
	unlink(port_file);
	rmdir(dir);
}

static char *
line(const char *body)
{
	return http_error_line(body, strlen(body));
}

int
main(void)
{
	char *s;

	s = line("{\"message\":\"404 Project Not Found\"}");
	STREQ(s, "404 Project Not Found");
	free(s);
	s = line("{\"message\":[\"Another open merge request already "
		 "exists for this source branch: !12\"]}");
	STREQ(s,
	    "Another open merge request already exists for this "
	    "source branch: !12");
	free(s);
	s = line("{\"message\":{\"base\":[\"a\",\"b\"],\"title\":[\"can't be "
		 "blank\"]}}");
	STREQ(s, "base a, b; title can't be blank");
	free(s);
	s = line("{\"error\":\"title is missing\"}");
	STREQ(s, "title is missing");
	free(s);
	s = line("{\"error\":\"insufficient_scope\",\"error_description\":"
		 "\"The request requires higher privileges.\"}");
	STREQ(s, "The request requires higher privileges.");
	free(s);
	s = line("<html>\n<body>502\tBad   Gateway</body>\n</html>");
	STREQ(s, "<html> <body>502 Bad Gateway</body> </html>");
	free(s);
	s = line("{\"message\":\"evil\\u001b[31m\\nsecond line\"}");
	STREQ(s, "evil[31m second line");
	free(s);
	s = line("");
	STREQ(s, "");
	free(s);
	s = line("{\"unrelated\":1}");
	STREQ(s, "");
	free(s);
	s = http_error_line("{\"message\":\"truncated", 21);
	STREQ(s, "{\"message\":\"truncated");
	free(s);

	s = gitlab_project_path("gitlab-org/security/gitaly");
	STREQ(s, "/projects/gitlab-org%2Fsecurity%2Fgitaly");
	free(s);
	s = gitlab_project_path("278964");
	STREQ(s, "/projects/278964");
	free(s);
	s = gitlab_project_path("a/../b?x=1#y");
	STREQ(s, "/projects/a%2F..%2Fb%3Fx%3D1%23y");
	free(s);

	against_sim();
	return tap_done();
}
