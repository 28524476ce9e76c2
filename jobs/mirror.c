/* relay-mirror: mirror the canonical project's default branch and tags
 * (or RELAY_MIRROR_REFS) into the security mirror, through a local bare
 * cache (RELAY_MIRROR_CACHE) that keeps later runs incremental.
 *
 * Fast-forwards only: a ref that moved on the mirror in a way canonical
 * does not contain (security fixes) is kept and listed in MIRROR_DIVERGED,
 * as GitLab's "keep divergent refs" does, unless RELAY_MIRROR_FORCE=true.
 * Refs deleted in canonical stay on the mirror unless
 * RELAY_MIRROR_PRUNE=true. Every run starts from what both remotes
 * advertise, so an interrupted run is finished by the next one.
 *
 * The cache keeps canonical's refs under refs/relay/ (its own namespace:
 * nothing else writes there) and no remote in its config; tokens are sent
 * as basic auth only to their own remote's origin.
 *
 * Variables: RELAY_MIRROR_FROM, RELAY_MIRROR_TO (https URLs, http to
 * loopback, or paths), RELAY_MIRROR_CACHE, RELAY_MIRROR_REFS,
 * RELAY_MIRROR_FORCE, RELAY_MIRROR_PRUNE, RELAY_MIRROR_FROM_TOKEN (else
 * CI_JOB_TOKEN as gitlab-ci-token), RELAY_MIRROR_TO_TOKEN,
 * RELAY_MIRROR_*_USER, RELAY_MIRROR_TIMEOUT_S; RELAY_TRIES and
 * RELAY_RETRY_BASE_MS for transient failures.
 * Outputs: MIRROR_SHA, MIRROR_UPDATED, MIRROR_DIVERGED, MIRROR_SKIPPED
 * (canonical's refs whose names git refuses: listed, never mirrored).
 * Exit: 0 done (diverged and skipped refs are reported, not failures); 64
 * bad variable; 69 refused (credentials, permissions, a rejected ref); 75
 * temporary (network, 5xx, timeout, the cache in use by another run); 78
 * missing. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "job.h"
#include "log.h"
#include "repo.h"
#include "url.h"
#include "util.h"

#define MAX_PATTERNS 32
#define LIST_MAX 1500 /* bytes of a ref list in the dotenv report */
#define NS "refs/relay/"

static const struct env_var stage_vars[] = {
	ENV_STRING("RELAY_MIRROR_FROM", ENV_REQUIRED, NULL,
	    "canonical repository (https URL, http to loopback, or path)"),
	ENV_STRING("RELAY_MIRROR_TO", ENV_REQUIRED, NULL,
	    "security mirror repository (same forms)"),
	ENV_STRING("RELAY_MIRROR_REFS", 0, "HEAD,refs/tags/*",
	    "refs to mirror: HEAD (the default branch), names, * patterns; "
	    "+ forces one"),
	ENV_BOOL("RELAY_MIRROR_FORCE", 0, "false",
	    "true: overwrite diverged refs on the mirror"),
	ENV_BOOL("RELAY_MIRROR_PRUNE", 0, "false",
	    "true: delete mirrored refs that canonical deleted"),
	ENV_STRING("RELAY_MIRROR_FROM_TOKEN", ENV_SECRET, NULL,
	    "token for reading canonical (default: CI_JOB_TOKEN)"),
	ENV_STRING("RELAY_MIRROR_FROM_USER", 0, "oauth2",
	    "basic auth user sent with RELAY_MIRROR_FROM_TOKEN"),
	ENV_STRING("CI_JOB_TOKEN", ENV_SECRET, NULL,
	    "job token, reads canonical when RELAY_MIRROR_FROM_TOKEN is unset"),
	ENV_STRING("RELAY_MIRROR_TO_TOKEN", ENV_SECRET, NULL,
	    "token for pushing to the mirror"),
	ENV_STRING("RELAY_MIRROR_TO_USER", 0, "oauth2",
	    "basic auth user sent with RELAY_MIRROR_TO_TOKEN"),
	ENV_LONG("RELAY_MIRROR_TIMEOUT_S", 0, "1800", 1, 86400,
	    "the whole run's time limit (libgit2 has no network timeout)"),
	ENV_STRING("RELAY_MIRROR_CACHE", 0, "relay-mirror.git",
	    "local bare cache, reused between runs (CI cache)"),
};

struct pattern {
	char *text; /* HEAD, a ref name, or a pattern with one star */
	int force; /* written "+..." */
};

/* a ref list for the report: names without "refs/", capped */
struct list {
	struct buf b;
	size_t n, more;
};

struct ctx {
	struct job *job;
	struct repo *repo;
	struct repo_remote from, to;
	struct pattern pat[MAX_PATTERNS];
	size_t npat;
	int force, prune;
	char *head; /* canonical's default branch, "refs/heads/main" */
	struct repo_refs want; /* canonical's refs to mirror */
	char mirror_sha[41];
	struct list updated, diverged, skipped;
	int refused; /* refs the mirror rejected for other reasons */
};

static void
on_alarm(int sig)
{
	static const char msg[] = "relay-mirror: error: the run took longer "
				  "than RELAY_MIRROR_TIMEOUT_S; the next run "
				  "resumes\n";

	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(EXIT_TEMPFAIL);
}

static void
list_add(struct list *l, const char *ref)
{
	const char *s = str_has_prefix(ref, "refs/") ? ref + 5 : ref;

	if (l->b.len + strlen(s) + 1 > LIST_MAX ||
	    buf_printf(&l->b, "%s%s", l->n ? "," : "", s) < 0)
		l->more++;
	else
		l->n++;
}

static int
list_out(struct job *j, const char *key, struct list *l)
{
	if (l->more)
		buf_printf(&l->b, "%s+%zu more", l->n ? "," : "", l->more);
	return job_out(j, key, l->b.len ? l->b.data : "");
}

static int
parse_patterns(struct ctx *c, const char *spec)
{
	const char *p = spec, *e;
	size_t len;
	int rc = 0;

	while (rc == 0 && list_next(&p, &e, &len)) {
		char *t, *entry = str_ndup(e, len);
		int force;
		const char *star;

		if (!entry) {
			rc = err_set(E_NOMEM, "out of memory");
			break;
		}
		t = str_trim(entry);
		force = *t == '+';
		t += force;
		star = strchr(t, '*');
		if (!*t)
			; /* a lone "+": nothing listed */
		else if (strcmp(t, "HEAD") != 0 &&
		    (!str_has_prefix(t, "refs/") || strpbrk(t, ": \t\\?[") ||
			(star && strchr(star + 1, '*'))))
			rc = err_set(E_USAGE,
			    "RELAY_MIRROR_REFS: \"%s\" is not HEAD, a ref name or a refs/... pattern with one *",
			    t);
		else if (c->npat == MAX_PATTERNS)
			rc = err_set(E_USAGE,
			    "RELAY_MIRROR_REFS: more than %d entries",
			    MAX_PATTERNS);
		else {
			c->pat[c->npat].text = str_dup(t);
			c->pat[c->npat].force = force;
			if (!c->pat[c->npat++].text)
				rc = err_set(E_NOMEM, "out of memory");
		}
		free(entry);
	}
	if (rc == 0 && c->npat == 0)
		rc = err_set(E_USAGE, "RELAY_MIRROR_REFS: no ref listed");
	return rc;
}

/* match: the pattern that selects ref, or NULL; "*" matches one or more
 * characters, "/" included, as in git refspecs */
static const struct pattern *
match(const struct ctx *c, const char *ref)
{
	size_t i, len = strlen(ref);

	for (i = 0; i < c->npat; i++) {
		const char *p = c->pat[i].text, *star = strchr(p, '*');

		if (strcmp(p, "HEAD") == 0) {
			if (c->head && strcmp(ref, c->head) == 0)
				return &c->pat[i];
		} else if (!star) {
			if (strcmp(p, ref) == 0)
				return &c->pat[i];
		} else {
			size_t pre = (size_t)(star - p),
			       post = strlen(star + 1);

			if (len > pre + post && strncmp(ref, p, pre) == 0 &&
			    strcmp(ref + len - post, star + 1) == 0)
				return &c->pat[i];
		}
	}
	return NULL;
}

static int
local_name(struct buf *b, const char *ref)
{
	buf_reset(b);
	return buf_printf(b, NS "%s", ref + 5);
}

static void
free_specs(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int
add_spec(char ***v, size_t *n, const char *fmt, const char *a, const char *b)
{
	struct buf s;
	char **nv = realloc(*v, (*n + 1) * sizeof(**v));

	if (!nv)
		return err_set(E_NOMEM, "out of memory");
	*v = nv;
	buf_init(&s, 0);
	if (buf_printf(&s, fmt, a, b) < 0)
		return E_NOMEM;
	nv[(*n)++] = buf_detach(&s);
	return 0;
}

/* select: canonical's advertised refs (all) that RELAY_MIRROR_REFS names
 * into c->want; names git refuses go to MIRROR_SKIPPED */
static int
select_refs(struct ctx *c, struct repo_refs *all)
{
	size_t i;
	int rc = 0;

	if (!c->head && repo_refs_find(all, "refs/heads/main"))
		c->head = str_dup("refs/heads/main");
	if (!c->head && repo_refs_find(all, "refs/heads/master"))
		c->head = str_dup("refs/heads/master");
	buf_reset(&c->skipped.b);
	c->skipped.n = c->skipped.more = 0;
	for (i = 0; rc == 0 && i < all->n; i++) {
		if (!match(c, all->v[i].name))
			continue;
		if (!repo_ref_name_ok(all->v[i].name)) {
			/* git refuses it: no cache or mirror can hold it */
			log_warn("%s: not a valid git ref name: skipped",
			    all->v[i].name);
			list_add(&c->skipped, all->v[i].name);
			continue;
		}
		rc = repo_refs_add(&c->want, all->v[i].name, all->v[i].oid);
	}
	if (rc == 0 && c->want.n == 0)
		rc = err_set(E_PERM, "%s has no ref matching RELAY_MIRROR_REFS",
		    c->from.url);
	return rc;
}

/* fetch_specs: one refspec per wanted ref the cache (local) lacks */
static int
fetch_specs(struct ctx *c, struct repo_refs *local, char ***specs, size_t *n)
{
	struct buf ln;
	size_t i;
	int rc = 0;

	buf_init(&ln, 0);
	for (i = 0; rc == 0 && i < c->want.n; i++) {
		const struct repo_ref *have;

		rc = local_name(&ln, c->want.v[i].name);
		have = rc == 0 ? repo_refs_find(local, ln.data) : NULL;
		if (rc == 0 &&
		    !(have && strcmp(have->oid, c->want.v[i].oid) == 0))
			rc = add_spec(
			    specs, n, "+%s:%s", c->want.v[i].name, ln.data);
	}
	buf_free(&ln);
	return rc;
}

/* forget_gone: the cache's refs canonical no longer has */
static int
forget_gone(struct ctx *c, const struct repo_refs *local)
{
	struct buf full;
	size_t i;
	int rc = 0;

	buf_init(&full, 0);
	for (i = 0; rc == 0 && i < local->n; i++) {
		buf_reset(&full);
		rc =
		    buf_printf(&full, "refs/%s", local->v[i].name + strlen(NS));
		if (rc == 0 && !repo_refs_find(&c->want, full.data))
			rc = repo_ref_delete(c->repo, local->v[i].name);
	}
	buf_free(&full);
	return rc;
}

/* fetch: canonical's refs into the cache, only those that changed */
static int
fetch(struct ctx *c)
{
	struct repo_conn *conn = NULL;
	struct repo_refs all = { 0 }, local = { 0 };
	char **specs = NULL;
	size_t n = 0;
	int rc;

	repo_refs_free(&c->want);
	free(c->head);
	c->head = NULL;
	rc = repo_connect(&conn, c->repo, &c->from, 0);
	if (rc == 0)
		rc = repo_conn_ls(conn, &all, &c->head);
	if (rc == 0)
		rc = select_refs(c, &all);
	if (rc == 0)
		rc = repo_local_refs(c->repo, NS, &local);
	if (rc == 0)
		rc = fetch_specs(c, &local, &specs, &n);
	if (rc == 0 && n) {
		log_info("fetching %zu of %zu refs from %s", n, c->want.n,
		    c->from.url);
		rc = repo_conn_fetch(conn, specs, n);
	} else if (rc == 0)
		log_info("cache up to date with %s (%zu refs)", c->from.url,
		    c->want.n);
	if (rc == 0)
		rc = forget_gone(c, &local);
	free_specs(specs, n);
	repo_refs_free(&all);
	repo_refs_free(&local);
	repo_conn_free(conn);
	return rc;
}

/* plan_act: the push refspec fmt of from and name, and name's act in acts */
static int
plan_act(char ***specs, size_t *n, struct repo_refs *acts, const char *act,
    const char *fmt, const char *from, const char *name)
{
	int rc = add_spec(specs, n, fmt, from, name);

	if (rc == 0)
		rc = repo_refs_add(acts, name, NULL);
	if (rc == 0)
		acts->v[acts->n - 1].action = act;
	return rc;
}

/* update_act: what to do to the mirror's m for canonical's w: "create",
 * "fast-forward", "force", NULL (diverged: keep), "" (nothing to do) */
static int
update_act(const char **out, struct ctx *c, const struct repo_ref *w,
    const struct repo_ref *m)
{
	const struct pattern *p = match(c, w->name);
	int ff;

	*out = NULL;
	if (!m)
		*out = "create";
	else if (strcasecmp(m->oid, w->oid) == 0)
		*out = "";
	else if (str_has_prefix(w->name, "refs/heads/") &&
	    (ff = repo_descends(c->repo, w->oid, m->oid)) != 0) {
		if (ff < 0)
			return ff;
		*out = "fast-forward";
	} else if (c->force || (p && p->force))
		*out = "force";
	return 0;
}

/* plan: one push refspec per ref to change; *acts[i] names what it does */
static int
plan(struct ctx *c, struct repo_refs *mir, char ***specs, size_t *n,
    struct repo_refs *acts)
{
	struct buf ln;
	size_t i;
	int rc = 0;

	buf_init(&ln, 0);
	for (i = 0; rc == 0 && i < c->want.n; i++) {
		const struct repo_ref *w = &c->want.v[i];
		const struct repo_ref *m = repo_refs_find(mir, w->name);
		const char *act = NULL;

		rc = local_name(&ln, w->name);
		if (rc == 0)
			rc = update_act(&act, c, w, m);
		if (rc < 0 || (act && !*act))
			continue;
		if (!act) {
			log_warn(
			    "%s diverged on the mirror (%.12s, canonical %.12s): kept",
			    w->name, m->oid, w->oid);
			list_add(&c->diverged, w->name);
			continue;
		}
		rc = plan_act(specs, n, acts, act,
		    strcmp(act, "force") ? "%s:%s" : "+%s:%s", ln.data,
		    w->name);
	}
	for (i = 0; rc == 0 && i < mir->n; i++) {
		const char *name = mir->v[i].name;

		if (!match(c, name) || repo_refs_find(&c->want, name))
			continue;
		if (!c->prune)
			log_info(
			    "%s is gone from canonical: kept (RELAY_MIRROR_PRUNE=true deletes it)",
			    name);
		else
			rc = plan_act(
			    specs, n, acts, "delete", "%s:%s", "", name);
	}
	buf_free(&ln);
	return rc;
}

static int
is_race(const char *why)
{
	return strstr(why, "non-fast-forward") || strstr(why, "fetch first") ||
	    strstr(why, "stale info");
}

/* send: the planned refspecs to the mirror (its refs mir); *rej lists
 * the refs it rejected */
static int
send(struct ctx *c, struct repo_conn *conn, const struct repo_refs *mir,
    char **specs, size_t n, const struct repo_refs *acts, struct repo_refs *rej)
{
	struct repo_refs keep = { 0 };
	size_t i;
	int rc = 0;

	log_info("pushing %zu refs to %s", n, c->to.url);
	/* the mirror's refs libgit2 hides from its pack walk: those pushed
	 * to, and the default branch, whose history is all the walk needs
	 * to stop at (see repo_conn_push) */
	for (i = 0; rc == 0 && i < acts->n; i++)
		rc = repo_refs_add(&keep, acts->v[i].name, NULL);
	if (rc == 0 && c->head && !repo_refs_find(&keep, c->head))
		rc = repo_refs_add(&keep, c->head, NULL);
	/* an empty mirror takes the cache's pack as it is */
	if (rc == 0 && mir->n == 0) {
		rc = repo_conn_push_pack(conn, specs, n, rej);
		if (rc == 0)
			log_info(
			    "the mirror was empty: sent the cache's pack as it is");
	} else if (rc == 0)
		rc = E_NOTFOUND;
	if (rc == E_NOTFOUND)
		rc = repo_conn_push(conn, specs, n, &keep, rej);
	repo_refs_free(&keep);
	return rc;
}

/* settle: each pushed ref into MIRROR_UPDATED or MIRROR_DIVERGED, or
 * refused (E_PERM naming the first) */
static int
settle(struct ctx *c, const struct repo_refs *acts, struct repo_refs *rej)
{
	char why[400] = "";
	size_t i;

	for (i = 0; i < acts->n; i++) {
		const char *name = acts->v[i].name;
		const struct repo_ref *r = repo_refs_find(rej, name);

		if (!r) {
			log_info("%s: %s", acts->v[i].action, name);
			list_add(&c->updated, name);
			if (c->head && strcmp(name, c->head) == 0) {
				const struct repo_ref *w =
				    repo_refs_find(&c->want, c->head);

				snprintf(c->mirror_sha, sizeof(c->mirror_sha),
				    "%s", w ? w->oid : "");
			}
		} else if (is_race(r->why)) {
			/* the mirror moved while we pushed */
			log_warn(
			    "%s diverged on the mirror during the push (%s): kept",
			    r->name, r->why);
			list_add(&c->diverged, r->name);
		} else {
			log_warn("the mirror refused %s: %s", r->name, r->why);
			if (!c->refused++)
				snprintf(why, sizeof(why),
				    "the mirror refused %s: %s", r->name,
				    r->why);
		}
	}
	if (!c->refused)
		return 0;
	return err_set(E_PERM, "%s%s", why,
	    c->refused > 1 ? " (and more, see above)" : "");
}

/* push: what the mirror lacks, fast-forwards only unless forced */
static int
push(struct ctx *c)
{
	struct repo_conn *conn = NULL;
	struct repo_refs mir = { 0 }, acts = { 0 }, rej = { 0 };
	const struct repo_ref *h;
	char **specs = NULL;
	size_t i, n = 0;
	int rc;

	buf_reset(&c->updated.b);
	buf_reset(&c->diverged.b);
	c->updated.n = c->updated.more = c->diverged.n = c->diverged.more = 0;
	c->refused = 0;
	rc = repo_connect(&conn, c->repo, &c->to, 1);
	if (rc == 0)
		rc = repo_conn_ls(conn, &mir, NULL);
	if (rc == 0)
		rc = plan(c, &mir, &specs, &n, &acts);
	h = c->head ? repo_refs_find(&mir, c->head) : NULL;
	snprintf(c->mirror_sha, sizeof(c->mirror_sha), "%s", h ? h->oid : "");
	if (rc == 0 && n == 0)
		log_info("%s is up to date", c->to.url);
	if (rc == 0 && n && c->job->dry_run) {
		for (i = 0; i < acts.n; i++)
			log_info("dry run: would %s %s", acts.v[i].action,
			    acts.v[i].name);
	} else if (rc == 0 && n) {
		rc = send(c, conn, &mir, specs, n, &acts, &rej);
		if (rc == 0)
			rc = settle(c, &acts, &rej);
	}
	free_specs(specs, n);
	repo_refs_free(&mir);
	repo_refs_free(&acts);
	repo_refs_free(&rej);
	repo_conn_free(conn);
	return rc;
}

/* retry: phase again while it fails for a transient reason */
static int
retry(struct ctx *c, int (*phase)(struct ctx *), const char *what)
{
	long wait = c->job->backoff_ms;
	int t, rc = 0;

	for (t = 1; t <= c->job->tries; t++) {
		rc = phase(c);
		if (rc != E_TEMP || t == c->job->tries)
			break;
		log_warn(
		    "%s (try %d of %d): %s", what, t, c->job->tries, err_msg());
		sleep_ms(wait);
		wait *= 2;
	}
	if (rc == E_TEMP && c->job->tries > 1)
		err_prefix(rc, "after %d tries: ", c->job->tries);
	return rc;
}

/* remote: check a URL and pick its credentials */
static int
remote(struct ctx *c, struct repo_remote *r, const char *side)
{
	struct buf v;
	const char *tok, *url;
	int rc, http;

	buf_init(&v, 0);
	buf_printf(&v, "RELAY_MIRROR_%s", side);
	url = job_var(c->job, v.data);
	http =
	    str_has_prefix(url, "http://") || str_has_prefix(url, "https://");
	rc = 0;
	if (http && url_allowed(url) < 0)
		rc = err_prefix(E_USAGE, "%s: ", v.data);
	else if (!http && strstr(url, "://") && !str_has_prefix(url, "file://"))
		rc = err_set(E_USAGE,
		    "%s: only https, http to loopback, file:// and paths are supported",
		    v.data);
	else if (!http && !str_has_prefix(url, "file://") &&
	    access(url, F_OK) != 0)
		rc =
		    err_set(E_NOTFOUND, "%s: no repository at %s", v.data, url);
	r->url = url;
	buf_reset(&v);
	buf_printf(&v, "RELAY_MIRROR_%s_TOKEN", side);
	tok = job_var(c->job, v.data);
	buf_reset(&v);
	buf_printf(&v, "RELAY_MIRROR_%s_USER", side);
	r->user = job_var(c->job, v.data);
	if (!tok && strcmp(side, "FROM") == 0 &&
	    job_var(c->job, "CI_JOB_TOKEN")) {
		tok = job_var(c->job, "CI_JOB_TOKEN");
		r->user = "gitlab-ci-token";
	}
	r->token = http ? tok : NULL;
	buf_free(&v);
	return rc;
}

static int
cmd_mirror(struct job *job)
{
	struct ctx c;
	long limit;
	size_t i;
	int rc;

	memset(&c, 0, sizeof(c));
	c.job = job;
	c.force = job_bool(job, "RELAY_MIRROR_FORCE");
	c.prune = job_bool(job, "RELAY_MIRROR_PRUNE");
	limit = job_long(job, "RELAY_MIRROR_TIMEOUT_S");
	buf_init(&c.updated.b, 0);
	buf_init(&c.diverged.b, 0);
	buf_init(&c.skipped.b, 0);
	rc = parse_patterns(&c, job_var(job, "RELAY_MIRROR_REFS"));
	if (rc == 0)
		rc = remote(&c, &c.from, "FROM");
	if (rc == 0)
		rc = remote(&c, &c.to, "TO");
	if (rc == 0) {
		signal(SIGALRM, on_alarm);
		/* a server that closed the connection is a write error that
		 * says so (75), not a silent death by SIGPIPE */
		signal(SIGPIPE, SIG_IGN);
		alarm((unsigned)limit);
		rc = repo_global_init(job_var(job, "RELAY_CA_BUNDLE"),
		    "relay-mirror " RELAY_VERSION);
		if (rc == 0)
			rc = repo_open(
			    &c.repo, job_var(job, "RELAY_MIRROR_CACHE"));
		if (rc == 0)
			rc = retry(&c, fetch, "fetch");
		if (rc == 0)
			rc = retry(&c, push, "push");
		repo_free(c.repo);
		repo_global_shutdown();
		alarm(0);
	}
	if (rc == 0 || c.updated.n || c.diverged.n) {
		job_out(job, "MIRROR_SHA", c.mirror_sha);
		list_out(job, "MIRROR_UPDATED", &c.updated);
		list_out(job, "MIRROR_DIVERGED", &c.diverged);
		list_out(job, "MIRROR_SKIPPED", &c.skipped);
	}
	if (rc == 0)
		log_info("mirrored %s to %s: %zu updated, %zu diverged (kept)",
		    c.from.url, c.to.url, c.updated.n + c.updated.more,
		    c.diverged.n + c.diverged.more);
	for (i = 0; i < c.npat; i++)
		free(c.pat[i].text);
	free(c.head);
	repo_refs_free(&c.want);
	buf_free(&c.updated.b);
	buf_free(&c.diverged.b);
	buf_free(&c.skipped.b);
	return rc;
}

JOB_STAGE(.name = "mirror",
    .synopsis =
	"Mirror the canonical default branch and tags into the security "
	"mirror, keeping diverged refs.",
    .run = cmd_mirror)
