/* unit tests: relay's readers against the response examples of GitLab's
 * API documentation (tests/conformance/, one fixture per endpoint relay
 * reads; sources in tests/conformance/README.md). A forked loopback server
 * answers each API path with its fixture; the readers of common/ run
 * unchanged over real HTTP, and the fields the stages read inline are
 * checked through the JSON layer. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "gitlab.h"
#include "http.h"
#include "json.h"
#include "mr.h"
#include "pipeline.h"
#include "range.h"
#include "record.h"
#include "tap.h"
#include "util.h"

#define DIR "tests/conformance/"

/* API path (query cut) -> fixture file, or a literal body */
static const struct route {
	const char *path;
	const char *file;
	const char *body;
} routes[] = {
	{ "/projects/3/merge_requests/1", "merge_request.json", NULL },
	{ "/projects/3/merge_requests/1/pipelines",
	    "merge_request_pipelines.json", NULL },
	{ "/projects/3/merge_requests/1/approvals", "approvals.json", NULL },
	{ "/projects/3/repository/commits/"
	  "6104942438c14ec7bd21c6cd5bd995272b3faff6",
	    "commit.json", NULL },
	{ "/projects/5/repository/commits", "commits.json", NULL },
	{ "/projects/5/repository/merge_base", "merge_base.json", NULL },
	{ "/projects/1/pipelines", "pipelines.json", NULL },
	{ "/projects/21/pipelines/287", "pipeline.json", NULL },
	{ "/projects/1/pipelines/6/jobs", "pipeline_jobs.json", NULL },
	{ "/projects/1/pipelines/6/bridges", "pipeline_bridges.json", NULL },
	{ "/projects/1/pipelines/5/jobs", NULL, "[]" },
	{ "/projects/1/pipelines/5/bridges", NULL, "[]" },
	{ "/user", "user.json", NULL },
	{ "/projects/3", "project.json", NULL },
	{ "/projects/5/merge_requests/2/notes", "merge_request_notes.json",
	    NULL },
	{ "/projects/1/deployments", "deployments.json", NULL },
	{ "/projects/4/issues", "issues.json", NULL },
	{ "/projects/5/repository/compare", "compare.json", NULL },
	{ "/projects/3/merge_requests", "merge_requests.json", NULL },
};

static char *
slurp(const char *file)
{
	char path[256];
	struct buf b;
	char chunk[4096];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), DIR "%s", file);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	buf_init(&b, 0);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	return buf_detach(&b);
}

static void
answer(int fd)
{
	char req[8192], path[1024];
	struct buf out;
	char *body = NULL;
	const char *b = "{\"message\":\"404 Not Found\"}";
	const char *status = "404 Not Found";
	size_t len = 0, i;
	ssize_t n;

	while (len < sizeof(req) - 1) {
		n = read(fd, req + len, sizeof(req) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		req[len] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	req[len] = '\0';
	if (sscanf(req, "GET /api/v4%1023[^? ]", path) == 1) {
		for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
			if (strcmp(routes[i].path, path) != 0)
				continue;
			if (routes[i].file)
				body = slurp(routes[i].file);
			b = routes[i].file ? body : routes[i].body;
			status = b ? "200 OK" : "500 Internal Server Error";
			if (!b)
				b = "{}";
			break;
		}
	}
	buf_init(&out, 0);
	buf_printf(&out,
	    "HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
	    "Date: Wed, 21 Oct 2015 07:28:00 GMT\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
	    status, strlen(b), b);
	if (write(fd, out.data, out.len) < 0)
		perror("write");
	buf_free(&out);
	free(body);
}

/* serve: a child answering on a loopback port until killed */
static pid_t
serve(int *port)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	pid_t pid;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(s, 16) < 0 || getsockname(s, (struct sockaddr *)&a, &al) < 0)
		return -1;
	*port = ntohs(a.sin_port);
	pid = fork();
	if (pid == 0) {
		for (;;) {
			int c = accept(s, NULL, NULL);

			if (c < 0)
				continue;
			answer(c);
			close(c);
		}
	}
	close(s);
	return pid;
}

/* has: the JSON value at path of fixture file has the given type */
static int
has(const char *file, const char *path, int type)
{
	char *text = slurp(file);
	struct json *d = NULL;
	int ok;

	ok = text && json_parse(&d, text, strlen(text)) == 0 &&
	    json_type(json_get(json_root(d), path)) == type;
	json_free(d);
	free(text);
	return ok;
}

int
main(void)
{
	struct http_opts o;
	struct http *h = NULL;
	struct gitlab *g = NULL;
	struct mr m = { 0 };
	struct mr_pipeline p;
	struct buf jobs, list;
	char api[64], base[41];
	char *branch = NULL, *url = NULL, *body = NULL;
	struct json *d = NULL;
	long long self = 0, nid = 0, ts = 0;
	int port = 0, rc;
	pid_t pid = serve(&port);

	OK(pid > 0);
	if (pid <= 0)
		return tap_done();
	snprintf(api, sizeof(api), "http://127.0.0.1:%d/api/v4", port);
	http_opts_default(&o);
	o.tries = 1;
	OK(http_new(&h, &o) == 0);
	OK(gitlab_new(&g, h, api, "glpat-conformance", HTTP_AUTH_PRIVATE) == 0);

	/* GET /projects/:id/merge_requests/:iid: the MR entity */
	rc = mr_read(&m, g, "/projects/3", 1);
	OK(rc == 0);
	STREQ(m.state, "merged");
	STREQ(m.sha, "8888888888888888888888888888888888888888");
	STREQ(m.merge_sha, ""); /* merge_commit_sha: null */
	STREQ(m.source_branch, "test1");
	STREQ(m.target_branch, "master");
	OK(m.author_id == 1);
	OK(m.auto_merge == 1);
	OK(m.created_ts == 1493455560LL);
	OK(m.merged_ts == 1536318977LL);
	OK(mr_has_label(&m, "Manage"));
	OK(m.head.id == 0); /* this example has no head_pipeline */
	/* the Date header is GitLab's clock */
	OK(gitlab_now(g) >= 1445412480LL && gitlab_now(g) < 1445412480LL + 60);

	/* GET .../merge_requests/:iid/pipelines: id, sha, ref, status; a
	 * pipeline of another SHA on a branch ref is not the head's */
	OK(mr_pipeline_for_head(&p, &m, g) == 0);
	snprintf(m.sha, sizeof(m.sha), "%s",
	    "959e04d7c7a30600c894bd3c0cd0e1ce7f42c11d");
	OK(mr_pipeline_for_head(&p, &m, g) == 1);
	OK(p.id == 77);
	STREQ(p.ref, "master");
	STREQ(p.status, "success");

	/* GET /projects/:id/repository/commits/:sha: parent_ids. A commit of
	 * one parent on a merge ref is not a merged-results commit */
	memset(&p, 0, sizeof(p));
	p.id = 2;
	snprintf(p.sha, sizeof(p.sha), "%s",
	    "6104942438c14ec7bd21c6cd5bd995272b3faff6");
	snprintf(p.ref, sizeof(p.ref), "%s", "refs/merge-requests/1/merge");
	snprintf(m.sha, sizeof(m.sha), "%s",
	    "ae1d9fb46aa2b07ee9836d49862ec4e2c46fbbba");
	OK(mr_pipeline_is_own(&p, &m, g) == 0);
	OK(has("commit.json", "parent_ids", JSON_ARRAY));
	mr_free(&m);

	/* GET .../pipelines/:id/jobs and /bridges (scope[]=failed): names;
	 * the documented bridge's downstream_pipeline has no project_id, so
	 * the bridge is named alone */
	buf_init(&jobs, 0);
	OK(pipeline_failed_jobs(&jobs, g, "/projects/1", 6) == 0);
	STREQ(jobs.data, "rspec:other,teaspoon");
	buf_free(&jobs);

	/* GET /projects/:id/repository/merge_base: id */
	OK(range_merge_base(base, g, "/projects/5", "a", "b") == 1);
	STREQ(base, "1a0b36b3cdad1d2ee32457c102a8c0b7056fa863");

	/* GET /projects/:id/repository/commits (first_parent): id, title,
	 * message, parent_ids */
	buf_init(&list, 0);
	OK(range_list(&list, g, "/projects/5",
	       "6104942438c14ec7bd21c6cd5bd995272b3faff6",
	       "ed899a2f4b50b4370feeea94676502b42383c746", 10) == 0);
	OK(list.data && strstr(list.data, "Replace sanitize with escape once"));
	OK(list.data && !strstr(list.data, "Sanitize for network graph"));
	buf_free(&list);

	/* GET /user: id (record_self, the identity notes are trusted by) */
	OK(record_self(&self, g) == 0);
	OK(self == 1);

	/* GET /projects/:id: default_branch and web_url */
	OK(gitlab_project_read(
	       &branch, &url, g, "/projects/3", "diaspora", NULL) == 0);
	STREQ(branch, "master");
	STREQ(url, "http://example.com/diaspora/diaspora-project-site");
	free(branch);
	free(url);

	/* GET .../merge_requests/:iid/notes: id, body, author.id, system,
	 * created_at, updated_at; the documented note is by user 1 (relay
	 * here), not a system note, so it is trusted */
	OK(record_find(&body, &nid, g, "/projects/5/merge_requests/2",
	       "Comment for") == 1);
	OK(nid == 301);
	STREQ(body, "Comment for MR");
	free(body);
	OK(record_find(
	       NULL, &nid, g, "/projects/5/merge_requests/2", "relay:") == 0);

	/* GET /projects/:id/deployments (track-deploy's query): sha,
	 * created_at, environment.id; the documented deployable has no
	 * web_url, so track-deploy posts only the environment link */
	OK(gitlab_list(g, &d,
	       "/projects/1/deployments?environment=production&status=success"
	       "&order_by=id&sort=desc&per_page=20") == 0);
	STREQ(json_strp(json_root(d), "0.sha"),
	    "99d03678b90d914dbb1b109132516d71a4a03ea8");
	OK(iso8601_parse(&ts, json_strp(json_root(d), "0.created_at")) == 0);
	OK(ts == 1470901000LL);
	OK(json_intp(json_root(d), "1.environment.id", 0) == 9);
	OK(json_strp(json_root(d), "0.deployable.web_url") == NULL);
	json_free(d);
	d = NULL;

	/* GET /projects/:id/issues (status, triage): iid, title,
	 * description, author.id, web_url */
	OK(gitlab_list(g, &d,
	       "/projects/4/issues?author_id=1&state=opened&order_by=created_at"
	       "&sort=asc&per_page=100") == 0);
	OK(json_intp(json_root(d), "0.iid", 0) == 1);
	OK(json_intp(json_root(d), "0.author.id", 0) == 1);
	STREQ(json_strp(json_root(d), "0.title"),
	    "Ut commodi ullam eos dolores perferendis nihil sunt.");
	STREQ(json_strp(json_root(d), "0.description"),
	    "Omnis vero earum sunt corporis dolor et placeat.");
	STREQ(json_strp(json_root(d), "0.web_url"),
	    "http://example.com/my-group/my-project/issues/1");
	json_free(d);
	d = NULL;

	/* GET /projects/:id/repository/compare (status): commits, and
	 * commit.committed_date, which the documented example lacks (it
	 * shows created_at only): status then counts the commits behind and
	 * leaves the time behind out */
	OK(gitlab_getf(g, &d, "/projects/5/repository/compare?from=%s&to=%s",
	       "main", "feature") == 0);
	OK(json_size(json_get(json_root(d), "commits")) == 1);
	STREQ(json_strp(json_root(d), "commit.id"),
	    "12d65c8dd2b2676fa3ac47d955accc085a37a9c1");
	OK(json_strp(json_root(d), "commit.committed_date") == NULL);
	json_free(d);
	d = NULL;

	/* GET /projects/:id/merge_requests (track-deploy, open-mr, status,
	 * bisect, triage): iid, merged_at, labels, state, sha,
	 * source_branch, author.id, description, web_url */
	OK(gitlab_list(g, &d,
	       "/projects/3/merge_requests?state=merged&source_branch=test1"
	       "&order_by=updated_at&sort=desc&per_page=100") == 0);
	OK(json_intp(json_root(d), "0.iid", 0) == 1);
	OK(iso8601_parse(&ts, json_strp(json_root(d), "0.merged_at")) == 0);
	OK(ts == 1536318977LL);
	STREQ(json_strp(json_root(d), "0.labels.1"), "Manage");
	STREQ(json_strp(json_root(d), "0.state"), "merged");
	STREQ(json_strp(json_root(d), "0.sha"),
	    "8888888888888888888888888888888888888888");
	STREQ(json_strp(json_root(d), "0.source_branch"), "test1");
	OK(json_intp(json_root(d), "0.author.id", 0) == 1);
	STREQ(json_strp(json_root(d), "0.description"),
	    "fixed login page css paddings");
	STREQ(json_strp(json_root(d), "0.web_url"),
	    "http://gitlab.example.com/my-group/my-project/merge_requests/1");
	json_free(d);
	d = NULL;

	/* fields the stages read inline */
	OK(has("pipelines.json", "0.id", JSON_NUMBER));
	OK(has("pipelines.json", "0.sha", JSON_STRING));
	OK(has("pipelines.json", "0.status", JSON_STRING));
	OK(has("pipelines.json", "0.web_url", JSON_STRING));
	OK(has("pipelines.json", "0.source", JSON_STRING));
	OK(has("pipeline.json", "status", JSON_STRING));
	OK(has("pipeline.json", "ref", JSON_STRING));
	OK(has("approvals.json", "approved_by.1.user.id", JSON_NUMBER));
	OK(has("pipeline_jobs.json", "0.allow_failure", JSON_BOOL));
	OK(has("merge_request.json", "web_url", JSON_STRING));
	OK(has("merge_request.json", "labels.0", JSON_STRING));

	gitlab_free(g);
	http_free(h);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	return tap_done();
}
