/* relay-status: where is each change? Reads GitLab only and writes a
 * status issue in the target project (one per component, edited in place),
 * status.html (one self-contained page, inline SVG timeline), metrics.txt
 * (OpenMetrics for artifacts:reports:metrics) and status.json.
 *
 * A bump is a merge request from RELAY_MR_BRANCH written by relay's own
 * user (GET /user). Its stages: the pinned source commit merged (the
 * commit's date in the source project, SHA from the relay:bump marker of
 * the MR description), pinned (MR created), MR merged, then each
 * environment of RELAY_ENVIRONMENTS as relay-track-deploy recorded it
 * (its relay:deployed note). Verdicts and retries come from
 * relay-triage's notes. Only notes, MRs and issues whose author is
 * relay's user are read as records; everything else is ignored.
 *
 * Every figure is a difference of GitLab timestamps (no "now"), so a
 * re-run over the same state writes the same issue and files.
 *
 * Variables: common ones, RELAY_ENVIRONMENTS, RELAY_STATUS_BUMPS,
 * RELAY_STATUS_DIR, RELAY_STATUS_FROM (render from a status.json, no
 * GitLab).
 * Outputs: STATUS_ISSUE_IID, STATUS_ISSUE (created, updated, unchanged,
 * none); files status.html, status.md, metrics.txt, status.json.
 * Exit: 0 done; 64 bad variable; 69 refused; 75 temporary; 78 missing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "err.h"
#include "gitlab.h"
#include "http.h"
#include "job.h"
#include "json.h"
#include "log.h"
#include "mr.h"
#include "record.h"
#include "url.h"
#include "util.h"

#define MAX_ENVS 12
#define MAX_EVS 8
#define NSTAGE (3 + MAX_ENVS)
#define S_SOURCE 0
#define S_PINNED 1
#define S_MERGED 2
#define S_ENV 3

/* the common variables relay-status reads are declared here: job.c's
 * table lists the stages of each (status is not among them) */
static const struct env_var stage_vars[] = {
	ENV_LONG("RELAY_STATUS_BUMPS", 0, "30", 1, 1000,
	    "how many bump MRs are shown"),
	ENV_STRING("RELAY_STATUS_DIR", 0, ".",
	    "folder for status.html, status.md, metrics.txt, status.json"),
	ENV_STRING("RELAY_STATUS_FROM", 0, NULL,
	    "render the files from this status.json instead of GitLab (no "
	    "request, no issue)"),
};

/* a verdict or retry recorded by relay-triage, for the timeline */
struct ev {
	long long ts;
	char kind; /* r retried, f flake, R regression, b broken master,
		      c closed by relay */
};

struct bump {
	long long iid;
	char state[8];
	char sha[41]; /* pinned SHA, "" when unknown */
	char head[41]; /* the MR's head: relay's commit of the pin */
	long long created;
	long long t[NSTAGE]; /* UTC seconds, 0: not (yet) reached */
	int retries;
	int nev;
	struct ev ev[MAX_EVS];
};

struct ctx {
	struct job *job;
	const char *component;
	char *src, *tgt; /* "/projects/<path>" */
	char web[512]; /* target project's web page */
	char src_web[512];
	char env[MAX_ENVS][64];
	int nenv;
	long long me;
	long max;
	struct bump *b; /* newest first */
	int nb;
	/* the current state */
	char pin[41], green[41];
	long long pin_ts, green_ts;
	long long behind_commits, behind_s;
	long long open_iid; /* 0: none */
	long long pl_id;
	char pl_status[32];
	char pl_url[512];
	/* lead times over the window, seconds */
	long long p50, p90;
	int nlead;
};

static const char *
ev_name(char k)
{
	switch (k) {
	case 'r': return "retried";
	case 'f': return "flake";
	case 'R': return "regression";
	case 'b': return "broken-master";
	default: return "closed";
	}
}

/* ctx_free: what the context owns */
static void
ctx_free(struct ctx *c)
{
	free(c->b);
	free(c->src);
	free(c->tgt);
}

static int
parse_envs(struct ctx *c, const char *spec)
{
	const char *p = spec;

	while (*p) {
		size_t len = strcspn(p, ",");
		size_t nl = strcspn(p, ":,");
		char name[64];

		if (nl >= sizeof(name) || nl > len)
			nl = len;
		if (nl >= sizeof(name))
			return err_set(E_USAGE,
			    "RELAY_ENVIRONMENTS: entry too long: %.40s...", p);
		memcpy(name, p, nl);
		name[nl] = 0;
		p += len + (p[len] ? 1 : 0);
		if (!*str_trim(name))
			continue;
		if (strspn(name,
			"abcdefghijklmnopqrstuvwxyz"
			"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./") !=
		    strlen(name))
			return err_set(E_USAGE,
			    "RELAY_ENVIRONMENTS: bad environment name \"%s\"",
			    name);
		if (c->nenv == MAX_ENVS)
			return err_set(E_USAGE,
			    "RELAY_ENVIRONMENTS: more than %d environments",
			    MAX_ENVS);
		snprintf(c->env[c->nenv++], sizeof(c->env[0]), "%s", name);
	}
	if (c->nenv == 0)
		return err_set(
		    E_USAGE, "RELAY_ENVIRONMENTS: no environment listed");
	return 0;
}

/* civil: UTC calendar fields of ts (Howard Hinnant's days_from_civil,
 * inverted): no locale, no time zone file, 20 times cheaper than
 * gmtime + strftime, which a 1,000-bump page calls 10,000 times */
static void
civil(long long ts, int *y, int *mo, int *d, int *h, int *mi, int *s)
{
	long long days = ts / 86400, sec = ts % 86400;
	long long z = days + 719468, era = z / 146097;
	long long doe = z - era * 146097;
	long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	long long mp = (5 * doy + 2) / 153;

	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*mo = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*mo <= 2));
	*h = (int)(sec / 3600);
	*mi = (int)(sec / 60 % 60);
	*s = (int)(sec % 60);
}

/* stamp: "YYYY-MM-DD?HH:MM[:SSZ]" by hand (printf is most of a 1,000-bump
 * page's time); sep is 'T' (ISO 8601, with seconds) or ' ' (minutes) */
static void
stamp(char *out, size_t n, long long ts, char sep)
{
	int v[6], w[6] = { 4, 2, 2, 2, 2, 2 }, i, k, len = 0;
	const char *after = sep == 'T' ? "--T::Z" : "-- :";
	char buf[24];

	civil(ts, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]);
	for (i = 0; i < (sep == 'T' ? 6 : 5); i++) {
		for (k = w[i] - 1; k >= 0; k--) {
			buf[len + k] = (char)('0' + v[i] % 10);
			v[i] /= 10;
		}
		len += w[i];
		if (after[i])
			buf[len++] = after[i];
	}
	buf[len] = 0;
	snprintf(out, n, "%s", buf);
}

/* when: "2026-10-01 12:00" (UTC), or "–" */
static void
when(char *out, size_t n, long long ts)
{
	if (ts <= 0)
		snprintf(out, n, "%s", "–");
	else
		stamp(out, n, ts, ' ');
}

/* hours: seconds as hours with one decimal ("12.5") */
static void
hours(char *out, size_t n, long long s)
{
	long long tenths = (s + 180) / 360;

	snprintf(out, n, "%lld.%lld", tenths / 10, tenths % 10);
}

/* safe_url: a link GitLab gave that can go into Markdown and HTML as is */
static int
safe_url(const char *u)
{
	return u &&
	    (str_has_prefix(u, "https://") || str_has_prefix(u, "http://")) &&
	    !u[strcspn(u, " \t\r\n\"'<>()[]`\\")];
}

static long long
ts_of(struct jv v, const char *path)
{
	long long ts = 0;
	const char *s = json_strp(v, path);

	if (!s || iso8601_parse(&ts, s) < 0)
		return 0;
	return ts;
}

static void
add_ev(struct bump *b, char kind, long long ts)
{
	if (b->nev < MAX_EVS) {
		b->ev[b->nev].kind = kind;
		b->ev[b->nev++].ts = ts;
	}
}

/* ---- reading GitLab ---- */

static int
read_me(struct ctx *c)
{
	/* record.c's: asked once a run, for records and MRs alike */
	return record_self(&c->me, c->job->gl);
}

/* commit_ts: the committed date of sha in project path proj */
static int
commit_ts(struct ctx *c, long long *out, const char *proj, const char *sha)
{
	struct json *d = NULL;
	int rc =
	    gitlab_getf(c->job->gl, &d, "%s/repository/commits/%s", proj, sha);

	*out = 0;
	if (rc == E_NOTFOUND)
		return 0; /* gone (rewritten): no date */
	if (rc < 0)
		return err_prefix(rc, "cannot read commit %.12s: ", sha);
	*out = ts_of(json_root(d), "committed_date");
	json_free(d);
	return 0;
}

struct notes_of {
	struct ctx *c;
	struct bump *b;
};

/* note_ev: event kind at ts, read newest first: the oldest MAX_EVS stay
 * (read_notes puts them back in order) */
static void
note_ev(struct bump *b, char kind, long long ts)
{
	if (b->nev == MAX_EVS) {
		memmove(b->ev, b->ev + 1, sizeof(b->ev[0]) * (MAX_EVS - 1));
		b->nev--;
	}
	add_ev(b, kind, ts);
}

static int
bump_note(void *arg, const struct record_entry *n)
{
	struct notes_of *x = arg;
	struct bump *b = x->b;
	const char *m = strstr(n->body, "<!-- relay:deployed env=");
	long long ts = n->created;
	int i;

	if (ts <= 0)
		return 0;
	if (m) {
		m += strlen("<!-- relay:deployed env=");
		for (i = 0; i < x->c->nenv; i++) {
			size_t l = strlen(x->c->env[i]);

			if (strncmp(m, x->c->env[i], l) == 0 && m[l] == ' ' &&
			    (!b->t[S_ENV + i] || ts < b->t[S_ENV + i]))
				b->t[S_ENV + i] = ts;
		}
	} else if (strstr(n->body, "<!-- relay:retried ")) {
		b->retries++;
		note_ev(b, 'r', ts);
	} else if (strstr(n->body, "<!-- relay:flake ")) {
		note_ev(b, 'f', ts);
	} else if (strstr(n->body, "<!-- relay:regression ")) {
		note_ev(b, 'R', ts);
	} else if (strstr(n->body, "<!-- relay:broken-master ")) {
		note_ev(b, 'b', ts);
	} else if (strstr(n->body, "<!-- relay:closed ")) {
		note_ev(b, 'c', ts);
	}
	return 0;
}

/* read_notes: relay's own records on bump b (record_each): environments
 * reached, verdicts and retries, oldest first */
static int
read_notes(struct ctx *c, struct bump *b)
{
	struct notes_of x = { c, b };
	struct buf path;
	int rc, i;

	buf_init(&path, 0);
	rc = buf_printf(&path, "%s/merge_requests/%lld", c->tgt, b->iid);
	if (rc == 0)
		rc = record_each(
		    c->job->gl, path.data, "oldest record", bump_note, &x);
	buf_free(&path);
	if (rc < 0)
		return err_prefix(rc, "cannot read notes of !%lld: ", b->iid);
	for (i = 0; i < b->nev / 2; i++) {
		struct ev t = b->ev[i];

		b->ev[i] = b->ev[b->nev - 1 - i];
		b->ev[b->nev - 1 - i] = t;
	}
	return 0;
}

/* bump_of: list entry e as the next bump; 0 when it is not relay's */
static int
bump_of(struct ctx *c, struct jv e)
{
	struct bump *b = &c->b[c->nb];
	const char *d = json_strp(e, "description");
	const char *st = json_strp(e, "state");
	const char *u = json_strp(e, "web_url");
	const char *head = json_strp(e, "sha");
	const char *m = d ? strstr(d, "<!-- relay:bump sha=") : NULL;

	/* only relay's own MRs are bumps */
	if (json_intp(e, "author.id", 0) != c->me || !st)
		return 0;
	memset(b, 0, sizeof(*b));
	b->iid = json_intp(e, "iid", 0);
	snprintf(b->state, sizeof(b->state), "%s", st);
	if (m) {
		m += strlen("<!-- relay:bump sha=");
		if (strlen(m) >= 40 && m[40] == ' ') {
			memcpy(b->sha, m, 40);
			if (!is_sha(b->sha))
				b->sha[0] = 0;
		}
	}
	b->created = ts_of(e, "created_at");
	if (head && is_sha(head))
		snprintf(b->head, sizeof(b->head), "%s", head);
	b->t[S_MERGED] = ts_of(e, "merged_at");
	if (!c->web[0] && safe_url(u)) {
		const char *cut = strstr(u, "/-/merge_requests/");

		if (cut && (size_t)(cut - u) < sizeof(c->web))
			memcpy(c->web, u, (size_t)(cut - u));
	}
	return b->iid > 0;
}

/* read_stages: bump b's stages and events from relay's records */
static int
read_stages(struct ctx *c, struct bump *b)
{
	int rc = read_notes(c, b);

	if (rc == 0 && b->sha[0])
		rc = commit_ts(c, &b->t[S_SOURCE], c->src, b->sha);
	/* pinned: relay's commit of the pin on the MR branch (an updated
	 * MR pins later than it was opened) */
	if (rc == 0 && b->head[0])
		rc = commit_ts(c, &b->t[S_PINNED], c->tgt, b->head);
	if (rc == 0 && !b->t[S_PINNED])
		b->t[S_PINNED] = b->created;
	return rc;
}

/* read_bumps: relay's newest bump MRs, then each one's records */
static int
read_bumps(struct ctx *c)
{
	struct gitlab_pager pg;
	struct json *page = NULL;
	char *branch = url_escape(job_var(c->job, "RELAY_MR_BRANCH"));
	char *path = branch ? str_printf("%s/merge_requests?state=all"
					 "&source_branch=%s&order_by=created_at"
					 "&sort=desc&per_page=%ld",
				  c->tgt, branch, c->max < 100 ? c->max : 100)
			    : NULL;
	int rc = 0, i;

	c->b = calloc((size_t)c->max, sizeof(*c->b));
	if (!path || !c->b)
		rc = err_set(E_NOMEM, "out of memory");
	if (rc == 0)
		rc = gitlab_pager_init(
		    &pg, c->job->gl, path, (int)(c->max / 100 + 3));
	free(branch);
	free(path);
	if (rc < 0)
		return rc;
	while (c->nb < c->max && (rc = gitlab_pager_next(&pg, &page)) > 0) {
		struct json_iter it;
		struct jv e;

		json_iter_init(&it, json_root(page));
		while (c->nb < c->max && json_iter_next(&it, &e, NULL))
			c->nb += bump_of(c, e);
		json_free(page);
		page = NULL;
	}
	gitlab_pager_free(&pg);
	if (rc < 0)
		return err_prefix(rc, "cannot list bump MRs: ");
	for (i = 0; i < c->nb; i++) {
		rc = read_stages(c, &c->b[i]);
		if (rc < 0)
			return rc;
		if (!c->open_iid && strcmp(c->b[i].state, "opened") == 0)
			c->open_iid = c->b[i].iid;
	}
	return 0;
}

/* read_open: the open bump MR's head pipeline */
static int
read_open(struct ctx *c)
{
	struct mr m = { 0 };
	int rc;

	if (!c->open_iid)
		return 0;
	rc = mr_read(&m, c->job->gl, c->tgt, c->open_iid);
	if (rc == 0 && m.head.id > 0) {
		c->pl_id = m.head.id;
		snprintf(
		    c->pl_status, sizeof(c->pl_status), "%s", m.head.status);
		if (safe_url(m.head.web_url))
			snprintf(
			    c->pl_url, sizeof(c->pl_url), "%s", m.head.web_url);
	}
	mr_free(&m);
	return rc;
}

/* read_green: the source's web page and its newest green commit (on
 * RELAY_SOURCE_BRANCH, else the default branch) */
static int
read_green(struct ctx *c)
{
	const char *branch = job_var(c->job, "RELAY_SOURCE_BRANCH");
	struct json *d = NULL, *pl = NULL;
	const char *web, *sha;
	char *br = NULL;
	int rc = gitlab_call(c->job->gl, &d, "GET", c->src, NULL);

	if (rc < 0)
		return err_prefix(rc, "cannot read the source project: ");
	web = json_strp(json_root(d), "web_url");
	if (safe_url(web))
		snprintf(c->src_web, sizeof(c->src_web), "%s", web);
	if (!branch)
		branch = json_strp(json_root(d), "default_branch");
	br = branch ? url_escape(branch) : NULL;
	rc = br ? gitlab_getf(c->job->gl, &pl,
		      "%s/pipelines?ref=%s&status=success&order_by=id"
		      "&sort=desc&per_page=1",
		      c->src, br)
		: err_set(E_PARSE, "the source project has no default branch");
	free(br);
	json_free(d);
	if (rc < 0)
		return err_prefix(rc, "cannot list green pipelines: ");
	sha = json_strp(json_root(pl), "0.sha");
	if (sha && is_sha(sha))
		snprintf(c->green, sizeof(c->green), "%s", sha);
	json_free(pl);
	return 0;
}

/* read_behind: how far the pin is behind the newest green commit */
static int
read_behind(struct ctx *c)
{
	struct json *d = NULL;
	int rc = 0;

	if (c->pin[0])
		rc = commit_ts(c, &c->pin_ts, c->src, c->pin);
	if (rc == 0 && c->green[0] && c->pin[0] && strcmp(c->pin, c->green)) {
		rc = gitlab_getf(c->job->gl, &d,
		    "%s/repository/compare?from=%s&to=%s", c->src, c->pin,
		    c->green);
		if (rc < 0)
			rc = err_prefix(rc, "cannot compare the pin: ");
		if (rc == 0) {
			c->behind_commits = (long long)json_size(
			    json_get(json_root(d), "commits"));
			c->green_ts =
			    ts_of(json_root(d), "commit.committed_date");
		}
		json_free(d);
	} else if (rc == 0 && c->green[0]) {
		c->green_ts = c->pin_ts;
	}
	if (rc == 0 && c->behind_commits && c->green_ts > c->pin_ts &&
	    c->pin_ts > 0)
		c->behind_s = c->green_ts - c->pin_ts;
	return rc;
}

/* read_pins: the current pin, the newest green commit, how far behind */
static int
read_pins(struct ctx *c)
{
	char *file = NULL;
	int rc = gitlab_file(c->job->gl, &file, c->tgt,
	    job_var(c->job, "RELAY_VERSION_FILE"),
	    job_var(c->job, "RELAY_TARGET_BRANCH"));

	if (rc < 0)
		return err_prefix(rc, "cannot read the pin: ");
	snprintf(c->pin, sizeof(c->pin), "%s", str_trim(file));
	free(file);
	if (!is_sha(c->pin))
		c->pin[0] = 0;
	rc = read_green(c);
	return rc < 0 ? rc : read_behind(c);
}

/* ---- the model from a status.json (RELAY_STATUS_FROM) ---- */

static long long
jts(struct jv v, const char *path)
{
	return ts_of(v, path);
}

/* slurp: file whole, exactly, parsed in place: one copy in memory */
static int
slurp(struct json **out, const char *file)
{
	FILE *f = fopen(file, "rb");
	char *text = NULL;
	long size = -1;
	int rc = 0;

	if (!f)
		return err_set(
		    E_CONFIG, "RELAY_STATUS_FROM: cannot open %s", file);
	if (fseek(f, 0, SEEK_END) == 0)
		size = ftell(f);
	if (size < 0 || size > (64L << 20) || fseek(f, 0, SEEK_SET) != 0)
		rc = err_set(E_INPUT,
		    "RELAY_STATUS_FROM: %s: cannot read or larger than 64 MiB",
		    file);
	if (rc == 0) {
		text = malloc((size_t)size + 1);
		if (!text)
			rc = err_set(E_NOMEM, "out of memory");
	}
	if (rc == 0 && fread(text, 1, (size_t)size, f) != (size_t)size)
		rc =
		    err_set(E_INPUT, "RELAY_STATUS_FROM: cannot read %s", file);
	fclose(f);
	if (rc < 0) {
		free(text);
		return rc;
	}
	rc = json_parse_owned(out, text, (size_t)size);
	if (rc < 0)
		return err_prefix(E_INPUT, "RELAY_STATUS_FROM: %s: ", file);
	return 0;
}

/* copy_str: member path of v into out (n bytes), "" when absent; with
 * url, only a link safe_url takes, else out is left as it is */
static void
copy_str(char *out, size_t n, struct jv v, const char *path, int url)
{
	const char *s = json_strp(v, path);

	if (url && !safe_url(s))
		return;
	snprintf(out, n, "%s", s ? s : "");
}

/* from_current: the current state of a status.json (root r) */
static void
from_current(struct ctx *c, struct jv r)
{
	copy_str(c->pin, sizeof(c->pin), r, "pin.sha", 0);
	c->pin_ts = jts(r, "pin.committed_at");
	copy_str(c->green, sizeof(c->green), r, "green.sha", 0);
	c->green_ts = jts(r, "green.committed_at");
	c->behind_commits = json_intp(r, "green.behind_commits", 0);
	c->behind_s = json_intp(r, "green.behind_seconds", 0);
	c->open_iid = json_intp(r, "open_mr.iid", 0);
	c->pl_id = json_intp(r, "open_mr.pipeline.id", 0);
	copy_str(c->pl_status, sizeof(c->pl_status), r,
	    "open_mr.pipeline.status", 0);
	copy_str(c->pl_url, sizeof(c->pl_url), r, "open_mr.pipeline.url", 1);
	copy_str(c->web, sizeof(c->web), r, "target_url", 1);
	copy_str(c->src_web, sizeof(c->src_web), r, "source_url", 1);
}

/* ev_kind: the event letter of its status.json name, 0 if none */
static char
ev_kind(const char *k)
{
	static const char kinds[] = "rfRbc";
	int i;

	for (i = 0; k && kinds[i]; i++)
		if (strcmp(k, ev_name(kinds[i])) == 0)
			return kinds[i];
	return 0;
}

/* from_bump: a status.json bump (e) as the next bump; 0 when it has no iid */
static int
from_bump(struct ctx *c, struct jv e)
{
	struct bump *b = &c->b[c->nb];
	struct json_iter vi;
	struct jv v;
	const char *s = json_strp(e, "sha");
	int i;

	b->iid = json_intp(e, "iid", 0);
	copy_str(b->state, sizeof(b->state), e, "state", 0);
	if (s && is_sha(s))
		snprintf(b->sha, sizeof(b->sha), "%s", s);
	b->t[S_SOURCE] = jts(e, "source_merged_at");
	b->t[S_PINNED] = jts(e, "pinned_at");
	b->t[S_MERGED] = jts(e, "merged_at");
	for (i = 0; i < c->nenv; i++) {
		char key[80];

		snprintf(key, sizeof(key), "environments.%s", c->env[i]);
		b->t[S_ENV + i] = jts(e, key);
	}
	b->retries = (int)json_intp(e, "retries", 0);
	json_iter_init(&vi, json_get(e, "events"));
	while (json_iter_next(&vi, &v, NULL)) {
		char kind = ev_kind(json_strp(v, "kind"));

		if (kind)
			add_ev(b, kind, jts(v, "at"));
	}
	return b->iid > 0;
}

static int
read_from(struct ctx *c, const char *file)
{
	struct json *d = NULL;
	struct json_iter it;
	struct jv e;
	int rc = slurp(&d, file);

	if (rc < 0)
		return rc;
	from_current(c, json_root(d));
	c->b = calloc((size_t)c->max, sizeof(*c->b));
	if (!c->b) {
		json_free(d);
		return err_set(E_NOMEM, "out of memory");
	}
	json_iter_init(&it, json_get(json_root(d), "bumps"));
	while (c->nb < c->max && json_iter_next(&it, &e, NULL))
		c->nb += from_bump(c, e);
	json_free(d);
	return 0;
}

/* ---- figures ---- */

static int
cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

/* lead times, source merge to the last environment: nearest-rank p50 and
 * p90 over the bumps of the window that got there */
static int
lead_times(struct ctx *c)
{
	long long *v = calloc((size_t)c->nb + 1, sizeof(*v));
	int i, n = 0, last = S_ENV + c->nenv - 1;

	if (!v)
		return err_set(E_NOMEM, "out of memory");
	for (i = 0; i < c->nb; i++)
		if (c->b[i].t[S_SOURCE] > 0 && c->b[i].t[last] > 0)
			v[n++] = c->b[i].t[last] - c->b[i].t[S_SOURCE];
	qsort(v, (size_t)n, sizeof(*v), cmp_ll);
	c->nlead = n;
	if (n > 0) {
		c->p50 = v[(n * 50 + 99) / 100 - 1];
		c->p90 = v[(n * 90 + 99) / 100 - 1];
	}
	free(v);
	return 0;
}

static int
verdicts(const struct bump *b, char kind)
{
	int i, n = 0;

	for (i = 0; i < b->nev; i++)
		n += b->ev[i].kind == kind;
	return n;
}

/* ---- status.md: the issue's description ---- */

static void
md_text(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (strchr("\\`*_{}[]()#+-.!|<>~&@", *s))
			buf_putc(b, '\\');
		buf_putc(b, *s);
	}
}

static void
md_mr(struct ctx *c, struct buf *b, long long iid)
{
	if (c->web[0])
		buf_printf(
		    b, "[!%lld](%s/-/merge_requests/%lld)", iid, c->web, iid);
	else
		buf_printf(b, "!%lld", iid);
}

static void
md_sha(struct ctx *c, struct buf *b, const char *sha)
{
	if (!sha[0])
		buf_puts(b, "–");
	else if (c->src_web[0])
		buf_printf(
		    b, "[`%.12s`](%s/-/commit/%s)", sha, c->src_web, sha);
	else
		buf_printf(b, "`%.12s`", sha);
}

static void
marker(struct buf *b, const char *component)
{
	buf_puts(b, "<!-- relay:status component=");
	for (; *component; component++)
		buf_putc(
		    b, strchr("<>-\"' \t\r\n", *component) ? '_' : *component);
	buf_puts(b, " -->");
}

/* md_open: the open bump MR's cell */
static void
md_open(struct ctx *c, struct buf *b)
{
	struct bump *o = NULL;
	int i;

	if (!c->open_iid) {
		buf_puts(b, "none");
		return;
	}
	for (i = 0; i < c->nb; i++)
		if (c->b[i].iid == c->open_iid)
			o = &c->b[i];
	md_mr(c, b, c->open_iid);
	/* GitLab's words are escaped for Markdown like any text */
	if (c->pl_id && c->pl_url[0])
		buf_printf(b, ", pipeline [#%lld](%s) ", c->pl_id, c->pl_url);
	else if (c->pl_id)
		buf_printf(b, ", pipeline #%lld ", c->pl_id);
	if (c->pl_id)
		md_text(b, c->pl_status);
	else
		buf_puts(b, ", no pipeline yet");
	if (o) {
		buf_printf(b, ", retries %d", o->retries);
		if (o->nev)
			buf_printf(
			    b, ", verdict %s", ev_name(o->ev[o->nev - 1].kind));
	}
}

/* md_current: the table of the current state */
static void
md_current(struct ctx *c, struct buf *b)
{
	char t[64], h[32], h2[32];

	buf_puts(b, "| | |\n|---|---|\n| current pin | ");
	md_sha(c, b, c->pin);
	if (c->pin_ts > 0) {
		when(t, sizeof(t), c->pin_ts);
		buf_printf(b, " (%s)", t);
	}
	buf_puts(b, " |\n| newest green commit | ");
	md_sha(c, b, c->green);
	if (c->green[0]) {
		hours(h, sizeof(h), c->behind_s);
		buf_printf(b, ": the pin is %lld commits, %s hours behind",
		    c->behind_commits, h);
	}
	buf_puts(b, " |\n| open bump MR | ");
	md_open(c, b);
	buf_puts(b, " |\n| lead time, source merge to ");
	md_text(b, c->env[c->nenv - 1]);
	if (c->nlead) {
		hours(h, sizeof(h), c->p50);
		hours(h2, sizeof(h2), c->p90);
		buf_printf(b, " | median %s h, p90 %s h (%d bumps) |\n", h, h2,
		    c->nlead);
	} else {
		buf_puts(b, " | no bump reached it yet |\n");
	}
}

/* md_bump: bump x's row of the bumps table */
static void
md_bump(struct ctx *c, struct buf *b, const struct bump *x)
{
	char t[64];
	int j;

	buf_puts(b, "| ");
	md_mr(c, b, x->iid);
	buf_puts(b, " | ");
	md_sha(c, b, x->sha);
	buf_puts(b, " | ");
	md_text(b, x->state);
	for (j = 0; j < S_ENV + c->nenv; j++) {
		when(t, sizeof(t), x->t[j]);
		buf_printf(b, " | %s", t);
	}
	buf_printf(b, " | %d | ", x->retries);
	for (j = 0; j < x->nev; j++)
		buf_printf(b, "%s%s", j ? ", " : "", ev_name(x->ev[j].kind));
	if (!x->nev)
		buf_puts(b, "–");
	buf_puts(b, " |\n");
}

static int
issue_md(struct ctx *c, struct buf *b)
{
	int i, j;

	buf_puts(b, "Where each ");
	md_text(b, c->component);
	buf_puts(b,
	    " update is, from the source merge to production. "
	    "Written by relay-status; edits are overwritten.\n\n");
	md_current(c, b);
	buf_printf(b,
	    "\n### The last %d bumps\n\n| MR | pin | state | "
	    "source merged | pinned | MR merged",
	    c->nb);
	for (j = 0; j < c->nenv; j++) {
		buf_puts(b, " | ");
		md_text(b, c->env[j]);
	}
	buf_puts(b, " | retries | verdicts |\n|---|---|---|---|---|---");
	for (j = 0; j < c->nenv; j++)
		buf_puts(b, "|---");
	buf_puts(b, "|---|---|\n");
	for (i = 0; i < c->nb; i++)
		md_bump(c, b, &c->b[i]);
	buf_puts(b,
	    "\nTimes are UTC; environments as relay-track-deploy "
	    "recorded them.\n\n");
	marker(b, c->component);
	return b->data ? 0 : err_set(E_NOMEM, "out of memory");
}

/* ---- files ---- */

/* out_open: a temporary file next to dir/name; out_close renames it */
static FILE *
out_open(struct buf *tmp, const char *dir, const char *name)
{
	FILE *f;

	buf_reset(tmp);
	if (buf_printf(tmp, "%s/.%s.tmp", dir, name) < 0)
		return NULL;
	f = fopen(tmp->data, "wb");
	if (!f)
		err_set(
		    E_FAIL, "cannot write %s: %s", tmp->data, strerror(errno));
	return f;
}

static int
out_close(FILE *f, struct buf *tmp, const char *dir, const char *name)
{
	struct buf path;
	int bad = ferror(f);
	int rc = 0;

	if (fclose(f) != 0 || bad) {
		remove(tmp->data);
		return err_set(E_FAIL, "cannot write %s", tmp->data);
	}
	buf_init(&path, 0);
	rc = buf_printf(&path, "%s/%s", dir, name);
	if (rc == 0 && rename(tmp->data, path.data) < 0)
		rc = err_set(E_FAIL, "cannot rename %s to %s: %s", tmp->data,
		    path.data, strerror(errno));
	buf_free(&path);
	return rc;
}

static int
write_text(const char *dir, const char *name, const struct buf *b)
{
	struct buf tmp;
	FILE *f;
	int rc;

	buf_init(&tmp, 0);
	f = out_open(&tmp, dir, name);
	if (!f) {
		buf_free(&tmp);
		return E_FAIL;
	}
	fwrite(b->data ? b->data : "", 1, b->len, f);
	rc = out_close(f, &tmp, dir, name);
	buf_free(&tmp);
	return rc;
}

/* kstr: a string member, or null when s is NULL */
static void
kstr(struct jw *w, const char *key, const char *s)
{
	jw_key(w, key);
	if (s)
		jw_str(w, s);
	else
		jw_null(w);
}

static void
jw_kts(struct jw *w, const char *key, long long ts)
{
	char t[40];

	jw_key(w, key);
	if (ts > 0) {
		stamp(t, sizeof(t), ts, 'T');
		jw_str(w, t);
	} else {
		jw_null(w);
	}
}

/* flush: move what the writer holds to f, so memory stays flat */
static void
flush(FILE *f, struct buf *b)
{
	if (b->len)
		fwrite(b->data, 1, b->len, f);
	buf_reset(b);
}

/* json_open_mr: the open bump MR and its pipeline, or null */
static void
json_open_mr(struct ctx *c, struct jw *w)
{
	jw_key(w, "open_mr");
	if (!c->open_iid) {
		jw_null(w);
		return;
	}
	jw_obj(w);
	jw_kint(w, "iid", c->open_iid);
	jw_key(w, "pipeline");
	if (c->pl_id) {
		jw_obj(w);
		jw_kint(w, "id", c->pl_id);
		kstr(w, "status", c->pl_status);
		kstr(w, "url", c->pl_url[0] ? c->pl_url : NULL);
		jw_end(w);
	} else {
		jw_null(w);
	}
	jw_end(w);
}

/* json_current: the members before the bumps */
static void
json_current(struct ctx *c, struct jw *w)
{
	int i;

	kstr(w, "component", c->component);
	jw_key(w, "environments");
	jw_arr(w);
	for (i = 0; i < c->nenv; i++)
		jw_str(w, c->env[i]);
	jw_end(w);
	kstr(w, "target_url", c->web[0] ? c->web : NULL);
	kstr(w, "source_url", c->src_web[0] ? c->src_web : NULL);
	jw_key(w, "pin");
	jw_obj(w);
	kstr(w, "sha", c->pin[0] ? c->pin : NULL);
	jw_kts(w, "committed_at", c->pin_ts);
	jw_end(w);
	jw_key(w, "green");
	jw_obj(w);
	kstr(w, "sha", c->green[0] ? c->green : NULL);
	jw_kts(w, "committed_at", c->green_ts);
	jw_kint(w, "behind_commits", c->behind_commits);
	jw_kint(w, "behind_seconds", c->behind_s);
	jw_end(w);
	json_open_mr(c, w);
	jw_key(w, "lead_time_seconds");
	jw_obj(w);
	kstr(w, "to", c->env[c->nenv - 1]);
	jw_kint(w, "count", c->nlead);
	jw_key(w, "p50");
	c->nlead ? jw_int(w, c->p50) : jw_null(w);
	jw_key(w, "p90");
	c->nlead ? jw_int(w, c->p90) : jw_null(w);
	jw_end(w);
}

/* json_bump: bump x as an object of the bumps array */
static void
json_bump(struct ctx *c, struct jw *w, const struct bump *x)
{
	int j, last = S_ENV + c->nenv - 1;
	char url[640];

	jw_obj(w);
	jw_kint(w, "iid", x->iid);
	if (c->web[0]) {
		snprintf(url, sizeof(url), "%s/-/merge_requests/%lld", c->web,
		    x->iid);
		kstr(w, "url", url);
	}
	kstr(w, "state", x->state);
	kstr(w, "sha", x->sha[0] ? x->sha : NULL);
	jw_kts(w, "source_merged_at", x->t[S_SOURCE]);
	jw_kts(w, "pinned_at", x->t[S_PINNED]);
	jw_kts(w, "merged_at", x->t[S_MERGED]);
	jw_key(w, "environments");
	jw_obj(w);
	for (j = 0; j < c->nenv; j++)
		jw_kts(w, c->env[j], x->t[S_ENV + j]);
	jw_end(w);
	jw_kint(w, "retries", x->retries);
	jw_key(w, "events");
	jw_arr(w);
	for (j = 0; j < x->nev; j++) {
		jw_obj(w);
		kstr(w, "kind", ev_name(x->ev[j].kind));
		jw_kts(w, "at", x->ev[j].ts);
		jw_end(w);
	}
	jw_end(w);
	jw_key(w, "lead_time_seconds");
	if (x->t[S_SOURCE] > 0 && x->t[last] > 0)
		jw_int(w, x->t[last] - x->t[S_SOURCE]);
	else
		jw_null(w);
	jw_end(w);
}

static int
write_json(struct ctx *c, const char *dir)
{
	struct buf tmp, b;
	struct jw w;
	FILE *f;
	int i, rc;

	buf_init(&tmp, 0);
	buf_init(&b, 0);
	f = out_open(&tmp, dir, "status.json");
	if (!f) {
		buf_free(&tmp);
		return E_FAIL;
	}
	jw_init(&w, &b);
	jw_obj(&w);
	json_current(c, &w);
	jw_key(&w, "bumps");
	jw_arr(&w);
	for (i = 0; i < c->nb; i++) {
		json_bump(c, &w, &c->b[i]);
		if (w.err == 0)
			flush(f, &b);
	}
	jw_end(&w);
	jw_end(&w);
	rc = jw_finish(&w);
	if (rc == 0) {
		buf_putc(&b, '\n');
		flush(f, &b);
		rc = out_close(f, &tmp, dir, "status.json");
	} else {
		fclose(f);
		remove(tmp.data);
	}
	buf_free(&tmp);
	buf_free(&b);
	return rc;
}

/* metric_label: the component="..." label (OpenMetrics escapes \ and ") */
static void
metric_label(struct buf *lbl, const char *component)
{
	buf_puts(lbl, "component=\"");
	for (; *component; component++) {
		if (strchr("\\\"", *component))
			buf_putc(lbl, '\\');
		if (*component == '\n')
			buf_puts(lbl, "\\n");
		else
			buf_putc(lbl, *component);
	}
	buf_putc(lbl, '"');
}

/* metric_counts: the bumps by state and the verdicts by kind */
static void
metric_counts(struct ctx *c, struct buf *b, const char *lbl)
{
	static const char kinds[] = "rfRbc";
	const char *states[] = { "opened", "merged", "closed", "locked" };
	long long n[4] = { 0, 0, 0, 0 };
	int i, k;

	for (i = 0; i < c->nb; i++)
		for (k = 0; k < 4; k++)
			n[k] += strcmp(c->b[i].state, states[k]) == 0;
	buf_puts(b,
	    "# TYPE relay_bumps gauge\n"
	    "# HELP relay_bumps bump MRs in the window by state\n");
	for (k = 0; k < 4; k++)
		buf_printf(b, "relay_bumps{%s,state=\"%s\"} %lld\n", lbl,
		    states[k], n[k]);
	buf_puts(b,
	    "# TYPE relay_verdicts gauge\n"
	    "# HELP relay_verdicts relay-triage records in the "
	    "window by kind\n");
	for (k = 0; kinds[k]; k++) {
		long long v = 0;

		for (i = 0; i < c->nb; i++)
			v += verdicts(&c->b[i], kinds[k]);
		buf_printf(b, "relay_verdicts{%s,kind=\"%s\"} %lld\n", lbl,
		    ev_name(kinds[k]), v);
	}
}

static int
write_metrics(struct ctx *c, const char *dir)
{
	struct buf b, lbl;
	long long retries = 0;
	int i, rc;

	buf_init(&b, 0);
	buf_init(&lbl, 0);
	metric_label(&lbl, c->component);
	for (i = 0; i < c->nb; i++)
		retries += c->b[i].retries;
	buf_puts(&b,
	    "# TYPE relay_lead_time_seconds gauge\n"
	    "# HELP relay_lead_time_seconds source merge to the "
	    "last environment, over the window\n");
	if (c->nlead)
		buf_printf(&b,
		    "relay_lead_time_seconds{%s,quantile=\"0.5\"} %lld\n"
		    "relay_lead_time_seconds{%s,quantile=\"0.9\"} %lld\n",
		    lbl.data, c->p50, lbl.data, c->p90);
	metric_counts(c, &b, lbl.data);
	buf_printf(&b,
	    "# TYPE relay_retries gauge\n"
	    "# HELP relay_retries pipelines relay retried in the window\n"
	    "relay_retries{%s} %lld\n"
	    "# TYPE relay_behind_commits gauge\n"
	    "# HELP relay_behind_commits commits from the pin to the newest "
	    "green commit\n"
	    "relay_behind_commits{%s} %lld\n"
	    "# TYPE relay_behind_seconds gauge\n"
	    "# HELP relay_behind_seconds commit time from the pin to the "
	    "newest green commit\n"
	    "relay_behind_seconds{%s} %lld\n"
	    "# EOF\n",
	    lbl.data, retries, lbl.data, c->behind_commits, lbl.data,
	    c->behind_s);
	rc = write_text(dir, "metrics.txt", &b);
	buf_free(&b);
	buf_free(&lbl);
	return rc;
}

/* ---- status.html ---- */

static void
html_text(FILE *f, const char *s)
{
	for (; *s; s++)
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*s, f);
		}
}

static const char *const stage_colour[] = { "#8c8c8c", "#1f75cb", "#6e49cb" };
static const char *const env_colour[] = { "#9dc7a6", "#52b36a", "#2f8f4a",
	"#10652b" };

static const char *
colour(struct ctx *c, int stage)
{
	int k;

	if (stage < S_ENV)
		return stage_colour[stage];
	/* environments: lighter to darker green, production darkest */
	k = (stage - S_ENV) * 4 / c->nenv;
	if (stage == S_ENV + c->nenv - 1)
		k = 3;
	return env_colour[k < 4 ? k : 3];
}

static const char *
stage_name(struct ctx *c, int stage)
{
	static const char *const names[] = { "source merged", "pinned",
		"MR merged" };

	return stage < S_ENV ? names[stage] : c->env[stage - S_ENV];
}

/* html_cards: the current state, one card a figure */
static void
html_cards(struct ctx *c, FILE *f)
{
	char t[64], h[32], h2[32];

	fputs("<div class=\"card\">current pin<br><code>", f);
	fprintf(f, "%.12s", c->pin[0] ? c->pin : "none");
	when(t, sizeof(t), c->pin_ts);
	fprintf(f, "</code> %s</div>\n", t);
	hours(h, sizeof(h), c->behind_s);
	fprintf(f,
	    "<div class=\"card\">behind the newest green commit<br>"
	    "<span class=\"fig\">%lld</span> commits, "
	    "<span class=\"fig\">%s</span> h</div>\n",
	    c->behind_commits, h);
	fputs("<div class=\"card\">open bump MR<br>", f);
	if (c->open_iid) {
		if (c->web[0])
			fprintf(f,
			    "<a href=\"%s/-/merge_requests/%lld\">!%lld</a>",
			    c->web, c->open_iid, c->open_iid);
		else
			fprintf(f, "!%lld", c->open_iid);
		if (c->pl_id) {
			fputs(" pipeline ", f);
			html_text(f, c->pl_status);
		}
	} else {
		fputs("none", f);
	}
	fputs("</div>\n<div class=\"card\">lead time, source merge to ", f);
	html_text(f, c->env[c->nenv - 1]);
	if (c->nlead) {
		hours(h, sizeof(h), c->p50);
		hours(h2, sizeof(h2), c->p90);
		fprintf(f,
		    "<br>median <span class=\"fig\">%s</span> h, p90 "
		    "<span class=\"fig\">%s</span> h (%d bumps)</div>\n",
		    h, h2, c->nlead);
	} else {
		fputs("<br>no bump got there yet</div>\n", f);
	}
}

static void
html_head(struct ctx *c, FILE *f)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
	      "<meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width\">\n"
	      "<title>",
	    f);
	html_text(f, c->component);
	fputs(" release train</title>\n<style>\n"
	      "body{font:14px/1.4 system-ui,sans-serif;margin:24px;"
	      "color:#1f1e24;background:#fff}\n"
	      "h1{font-size:20px}h2{font-size:16px;margin-top:28px}\n"
	      "table{border-collapse:collapse}\n"
	      "td,th{padding:3px 8px;border-bottom:1px solid #dcdcde;"
	      "text-align:left;white-space:nowrap}\n"
	      "code{font:12px ui-monospace,monospace}\n"
	      ".fig{font-size:22px;font-weight:600}\n"
	      ".cards{display:flex;gap:24px;flex-wrap:wrap}\n"
	      ".card{border:1px solid #dcdcde;border-radius:4px;"
	      "padding:8px 14px}\n"
	      ".bad{color:#c91c00}.warn{color:#ab6100}\n"
	      "svg text{font:11px system-ui,sans-serif;fill:#535158}\n"
	      "</style>\n</head>\n<body>\n<h1>",
	    f);
	html_text(f, c->component);
	fputs(": where is my change?</h1>\n<div class=\"cards\">\n", f);
	html_cards(c, f);
	fputs("</div>\n", f);
}

/* tick_step: a step in seconds for the time axis giving <= 12 marks */
static long long
tick_step(long long span)
{
	static const long long steps[] = { 3600, 2 * 3600, 6 * 3600, 12 * 3600,
		86400, 2 * 86400, 7 * 86400, 30 * 86400 };
	size_t i;

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if (span / steps[i] <= 12)
			return steps[i];
	return 365 * 86400;
}

/* origin: where bump b's trail starts (its source merge, else its first
 * known stage); 0 when nothing is known */
static long long
origin(struct ctx *c, const struct bump *b)
{
	int j;

	for (j = 0; j < S_ENV + c->nenv; j++)
		if (b->t[j] > 0)
			return b->t[j];
	return 0;
}

/* the timeline's geometry: x = left + plot * (time since origin) / span */
struct svg {
	int left, top, row, width, height, plot;
	long long span;
};

static int
svg_x(const struct svg *g, long long d)
{
	return g->left + (int)(d * g->plot / g->span);
}

/* svg_span: the longest trail, an hour at least */
static long long
svg_span(struct ctx *c)
{
	long long span = 0;
	int i, j;

	for (i = 0; i < c->nb; i++) {
		long long o = origin(c, &c->b[i]);

		for (j = 0; j < S_ENV + c->nenv; j++)
			if (c->b[i].t[j] > 0 && c->b[i].t[j] - o > span)
				span = c->b[i].t[j] - o;
		for (j = 0; j < c->b[i].nev; j++)
			if (c->b[i].ev[j].ts - o > span)
				span = c->b[i].ev[j].ts - o;
	}
	return span < 3600 ? 3600 : span;
}

/* svg_legend: the stages' colours and the events' marks */
static void
svg_legend(struct ctx *c, FILE *f, const struct svg *g)
{
	int j, x;

	for (j = 0; j < S_ENV + c->nenv; j++) {
		x = g->left + j * 105;
		fprintf(f,
		    "<circle cx=\"%d\" cy=\"12\" r=\"5\" fill=\"%s\"/>"
		    "<text x=\"%d\" y=\"16\">",
		    x, colour(c, j), x + 8);
		html_text(f, stage_name(c, j));
		fputs("</text>\n", f);
	}
	x = g->left + (S_ENV + c->nenv) * 105;
	fprintf(f,
	    "<path d=\"M%d 6l5 10h-10z\" fill=\"#c91c00\"/>"
	    "<text x=\"%d\" y=\"16\">failure</text>"
	    "<path d=\"M%d 6l5 10h-10z\" fill=\"#ab6100\"/>"
	    "<text x=\"%d\" y=\"16\">flake</text>\n",
	    x, x + 8, x + 70, x + 78);
}

/* svg_axis: the hour marks and the lead time quantiles */
static void
svg_axis(struct ctx *c, FILE *f, const struct svg *g)
{
	long long q[2] = { c->p50, c->p90 }, tk;
	long long step = tick_step(g->span);
	int j;

	for (tk = 0; tk <= g->span; tk += step) {
		int x = svg_x(g, tk);

		fprintf(f,
		    "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
		    "stroke=\"#ececef\"/><text x=\"%d\" y=\"%d\">+%lld h"
		    "</text>\n",
		    x, g->top - 8, x, g->height - 26, x + 2, g->height - 12,
		    tk / 3600);
	}
	for (j = 0; c->nlead && j < 2; j++) {
		int x = svg_x(g, q[j]);

		/* median's label left of its line, p90's right: apart
		 * even when the two lines are close */
		fprintf(f,
		    "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
		    "stroke=\"#10652b\" stroke-dasharray=\"4 3\"/>"
		    "<text x=\"%d\" y=\"%d\" text-anchor=\"%s\">%s"
		    "</text>\n",
		    x, g->top - 8, x, g->height - 26, j ? x + 3 : x - 3,
		    g->top - 1, j ? "start" : "end", j ? "p90" : "median");
	}
}

/* svg_marks: bump b's stages (circles) and events (triangles) on row y */
static void
svg_marks(
    struct ctx *c, FILE *f, const struct svg *g, const struct bump *b, int y)
{
	long long o = origin(c, b);
	char t[64];
	int j;

	for (j = 0; j < S_ENV + c->nenv; j++) {
		if (b->t[j] <= 0)
			continue;
		when(t, sizeof(t), b->t[j]);
		fprintf(f,
		    "<circle cx=\"%d\" cy=\"%d\" r=\"4\" "
		    "fill=\"%s\"><title>",
		    svg_x(g, b->t[j] - o), y, colour(c, j));
		html_text(f, stage_name(c, j));
		fprintf(f, " %s</title></circle>\n", t);
	}
	for (j = 0; j < b->nev; j++) {
		long long d = b->ev[j].ts - o;

		when(t, sizeof(t), b->ev[j].ts);
		fprintf(f,
		    "<path d=\"M%d %dl5 10h-10z\" fill=\"%s\">"
		    "<title>%s %s</title></path>\n",
		    svg_x(g, d < 0 ? 0 : d), y - 6,
		    b->ev[j].kind == 'f' ? "#ab6100" : "#c91c00",
		    ev_name(b->ev[j].kind), t);
	}
}

/* svg_row: bump b's row i: its label, its trail, its marks */
static void
svg_row(
    struct ctx *c, FILE *f, const struct svg *g, const struct bump *b, int i)
{
	long long o = origin(c, b);
	int y = g->top + g->row * i + g->row / 2;
	int last = -1, j;
	char t[64];

	for (j = 0; j < S_ENV + c->nenv; j++)
		if (b->t[j] > 0)
			last = j;
	when(t, sizeof(t), o);
	fprintf(f,
	    "<g><title>!%lld %.12s %s</title><text x=\"4\" "
	    "y=\"%d\">!%lld %s</text>\n",
	    b->iid, b->sha, b->state, y + 4, b->iid, t);
	if (last >= 0 && b->t[last] > o)
		fprintf(f,
		    "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
		    "stroke=\"%s\" stroke-width=\"2\"/>\n",
		    g->left, y, svg_x(g, b->t[last] - o), y,
		    strcmp(b->state, "closed") == 0 ? "#dcdcde" : "#a4a3a8");
	svg_marks(c, f, g, b, y);
	fputs("</g>\n", f);
}

/* html_svg: one row per bump, each on its own clock: x is the time since
 * the bump's source merge, so the trails line up and lead times compare */
static void
html_svg(struct ctx *c, FILE *f)
{
	struct svg g = { .left = 150, .top = 40, .row = 18, .width = 1100 };
	int i;

	g.plot = g.width - g.left - 30; /* 30: the right margin */
	g.height = g.top + g.row * c->nb + 34;
	g.span = svg_span(c);
	fprintf(f,
	    "<h2>The last %d bumps, from the source merge</h2>\n"
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
	    "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
	    "aria-label=\"deployment trail of the last bumps\">\n",
	    c->nb, g.width, g.height, g.width, g.height);
	svg_legend(c, f, &g);
	svg_axis(c, f, &g);
	for (i = 0; i < c->nb; i++)
		svg_row(c, f, &g, &c->b[i], i);
	fputs("</svg>\n", f);
}

static void
html_table(struct ctx *c, FILE *f)
{
	char t[64], h[32];
	int i, j, last = S_ENV + c->nenv - 1;

	fputs("<h2>Bumps</h2>\n<table>\n<tr><th>MR</th><th>pin</th>"
	      "<th>state</th>",
	    f);
	for (j = 0; j < S_ENV + c->nenv; j++) {
		fputs("<th>", f);
		html_text(f, stage_name(c, j));
		fputs("</th>", f);
	}
	fputs("<th>lead time</th><th>retries</th><th>verdicts</th></tr>\n", f);
	for (i = 0; i < c->nb; i++) {
		struct bump *b = &c->b[i];

		if (c->web[0])
			fprintf(f,
			    "<tr><td><a href=\"%s/-/merge_requests/%lld\">"
			    "!%lld</a></td>",
			    c->web, b->iid, b->iid);
		else
			fprintf(f, "<tr><td>!%lld</td>", b->iid);
		fprintf(f, "<td><code>%.12s</code></td><td>", b->sha);
		html_text(f, b->state);
		fputs("</td>", f);
		/* "11-08 14:45": the year is in the timeline's labels, and
		 * the table fits a screen */
		for (j = 0; j < S_ENV + c->nenv; j++) {
			when(t, sizeof(t), b->t[j]);
			fprintf(f, "<td>%s</td>", b->t[j] > 0 ? t + 5 : t);
		}
		if (b->t[S_SOURCE] > 0 && b->t[last] > 0) {
			hours(h, sizeof(h), b->t[last] - b->t[S_SOURCE]);
			fprintf(f, "<td>%s h</td>", h);
		} else {
			fputs("<td>–</td>", f);
		}
		fprintf(f, "<td>%d</td><td>", b->retries);
		for (j = 0; j < b->nev; j++)
			fprintf(f, "%s<span class=\"%s\">%s</span>",
			    j ? ", " : "",
			    b->ev[j].kind == 'f' ? "warn" : "bad",
			    ev_name(b->ev[j].kind));
		fputs("</td></tr>\n", f);
	}
	fputs("</table>\n<p>Times are UTC. Environments as "
	      "relay-track-deploy recorded them; verdicts as relay-triage "
	      "recorded them.</p>\n</body>\n</html>\n",
	    f);
}

static int
write_html(struct ctx *c, const char *dir)
{
	struct buf tmp;
	FILE *f;
	int rc;

	buf_init(&tmp, 0);
	f = out_open(&tmp, dir, "status.html");
	if (!f) {
		buf_free(&tmp);
		return E_FAIL;
	}
	html_head(c, f);
	html_svg(c, f);
	html_table(c, f);
	rc = out_close(f, &tmp, dir, "status.html");
	buf_free(&tmp);
	return rc;
}

/* ---- the status issue ---- */

/* same_text: equal but for line endings and trailing white space, which
 * a text area may change */
static int
same_text(const char *a, const char *b)
{
	for (;;) {
		while (*a == '\r')
			a++;
		while (*b == '\r')
			b++;
		if (!a[strspn(a, " \t\r\n")] && !b[strspn(b, " \t\r\n")])
			return 1;
		if (*a != *b)
			return 0;
		a++;
		b++;
	}
}

/* pages of relay's open issues read for the status issue */
#define ISSUE_PAGES 5

/* find_issue: the oldest open issue relay wrote with marker mk (*iid, 0
 * when none); *same when its title and text are these already */
static int
find_issue(struct ctx *c, long long *iid, int *same, const char *mk,
    const char *title, const char *text)
{
	struct gitlab_pager pg;
	struct json *page = NULL;
	int rc = gitlab_pager_initf(&pg, c->job->gl, ISSUE_PAGES,
	    "%s/issues?author_id=%lld&state=opened&order_by=created_at&sort=asc&per_page=100",
	    c->tgt, c->me);

	*iid = 0;
	*same = 0;
	if (rc < 0)
		return rc;
	while (!*iid && (rc = gitlab_pager_next(&pg, &page)) > 0) {
		struct json_iter it;
		struct jv e;

		json_iter_init(&it, json_root(page));
		while (!*iid && json_iter_next(&it, &e, NULL)) {
			const char *desc = json_strp(e, "description");
			const char *t = json_strp(e, "title");

			if (json_intp(e, "author.id", 0) != c->me || !desc ||
			    !strstr(desc, mk))
				continue;
			*iid = json_intp(e, "iid", 0);
			*same =
			    same_text(desc, text) && t && strcmp(t, title) == 0;
		}
		json_free(page);
		page = NULL;
	}
	/* past the cap "none" would open a second status issue */
	if (rc == 0 && !*iid && pg.capped)
		rc = err_set(E_TEMP,
		    "GET %s/issues: more than %d open issues of relay's, the status issue not among them; not counted as absent",
		    c->tgt, ISSUE_PAGES * 100);
	gitlab_pager_free(&pg);
	return rc < 0 ? err_prefix(rc, "cannot list status issues: ") : 0;
}

/* save_issue: create the status issue, or edit issue *iid */
static int
save_issue(struct ctx *c, long long *iid, const char *title, const char *text)
{
	struct json *d = NULL;
	struct buf body;
	int rc;

	buf_init(&body, 0);
	rc = jw_strs(&body, "title", title, "description", text, (char *)NULL);
	if (rc == 0 && *iid)
		rc = gitlab_callf(c->job->gl, &d, "PUT", body.data,
		    "%s/issues/%lld", c->tgt, *iid);
	else if (rc == 0)
		rc = gitlab_callf(
		    c->job->gl, &d, "POST", body.data, "%s/issues", c->tgt);
	if (rc < 0)
		rc = err_prefix(rc,
		    "cannot %s the status issue: ", *iid ? "update" : "create");
	if (rc == 0 && !*iid)
		*iid = json_intp(json_root(d), "iid", 0);
	json_free(d);
	buf_free(&body);
	return rc;
}

static int
put_issue(struct ctx *c, const char *text, const char **action, long long *iid)
{
	struct buf mk, title;
	int rc, same = 0;

	buf_init(&mk, 0);
	buf_init(&title, 0);
	marker(&mk, c->component);
	buf_puts(&title, c->component);
	rc = buf_puts(&title, " release train status");
	/* the oldest open issue relay wrote with this component's marker */
	if (rc == 0)
		rc = find_issue(c, iid, &same, mk.data, title.data, text);
	if (rc == 0 && *iid && same) {
		*action = "unchanged";
		log_info("status issue #%lld is up to date", *iid);
	} else if (rc == 0 && c->job->dry_run) {
		log_info("dry run: would %s the status issue%s",
		    *iid ? "update" : "create", *iid ? "" : " (new)");
		*action = "none";
	} else if (rc == 0) {
		*action = *iid ? "updated" : "created";
		rc = save_issue(c, iid, title.data, text);
		if (rc == 0)
			log_info("status issue #%lld %s", *iid, *action);
	}
	buf_free(&mk);
	buf_free(&title);
	return rc;
}

static int
run(struct ctx *c)
{
	const char *action = "none";
	const char *dir = job_var(c->job, "RELAY_STATUS_DIR");
	const char *from = job_var(c->job, "RELAY_STATUS_FROM");
	long long iid = 0;
	struct buf md;
	char num[32];
	int rc;

	buf_init(&md, 0);
	/* the folder of the files, one level, as the component names it */
	if (mkdir(dir, 0777) < 0 && errno != EEXIST)
		return err_set(
		    E_FAIL, "cannot create %s: %s", dir, strerror(errno));
	if (from) {
		rc = read_from(c, from);
	} else {
		rc = read_me(c);
		if (rc == 0)
			rc = read_bumps(c);
		if (rc == 0)
			rc = read_open(c);
		if (rc == 0)
			rc = read_pins(c);
	}
	if (rc == 0)
		rc = lead_times(c);
	if (rc == 0)
		rc = issue_md(c, &md);
	if (rc == 0)
		rc = write_text(dir, "status.md", &md);
	if (rc == 0)
		rc = write_json(c, dir);
	if (rc == 0)
		rc = write_metrics(c, dir);
	if (rc == 0)
		rc = write_html(c, dir);
	if (rc == 0 && !from)
		rc = put_issue(c, md.data, &action, &iid);
	if (rc == 0) {
		log_info("%d bumps; files in %s", c->nb, dir);
		job_out(c->job, "STATUS_ISSUE", action);
		snprintf(num, sizeof(num), "%lld", iid);
		job_out(c->job, "STATUS_ISSUE_IID", num);
	}
	buf_free(&md);
	return rc;
}

static int
cmd_status(struct job *job)
{
	struct ctx c;
	int rc;

	memset(&c, 0, sizeof(c));
	c.job = job;
	c.component = job_var(job, "RELAY_COMPONENT");
	c.max = job_long(job, "RELAY_STATUS_BUMPS");
	rc = parse_envs(&c, job_var(job, "RELAY_ENVIRONMENTS"));
	if (rc == 0) {
		c.src =
		    gitlab_project_path(job_var(job, "RELAY_SOURCE_PROJECT"));
		c.tgt =
		    gitlab_project_path(job_var(job, "RELAY_TARGET_PROJECT"));
		if (!c.src || !c.tgt)
			rc = err_set(E_NOMEM, "out of memory");
	}
	if (rc == 0)
		rc = run(&c);
	ctx_free(&c);
	return rc;
}

JOB_STAGE(.name = "status", .run = cmd_status, .flags = JOB_API,
    .connect = job_api,
    .synopsis = "Write the status issue, status.html, metrics.txt and "
		"status.json: where each change is.")
