/* repo: the git side of relay-mirror. The only file that includes
 * <git2.h>. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <git2.h>
#include <git2/sys/transport.h>
#if LIBGIT2_VER_MAJOR > 1 || LIBGIT2_VER_MINOR >= 8
#include <git2/sys/errors.h> /* git_error_set_str, git_error_clear */
#endif

#include "err.h"
#include "repo.h"
#include "url.h"
#include "util.h"

struct repo {
	git_repository *git;
};

struct repo_conn {
	struct repo *r;
	git_remote *remote;
	const struct repo_remote *rm;
	int push;
	int auth_tries; /* credentials handed out on this connection */
	int auth_failed; /* the server refused them */
	struct repo_refs *rejected;
};

/* ---- ref lists ---- */

int
repo_refs_add(struct repo_refs *l, const char *name, const char *oid)
{
	struct repo_ref *e;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct repo_ref *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return err_set(E_NOMEM, "out of memory");
		l->v = v;
		l->cap = cap;
	}
	e = &l->v[l->n];
	memset(e, 0, sizeof(*e));
	e->name = str_dup(name);
	if (!e->name)
		return err_set(E_NOMEM, "out of memory");
	snprintf(e->oid, sizeof(e->oid), "%s", oid ? oid : "");
	l->n++;
	return 0;
}

const struct repo_ref *
repo_refs_find(const struct repo_refs *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].name, name) == 0)
			return &l->v[i];
	return NULL;
}

void
repo_refs_free(struct repo_refs *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].why);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* ---- errors ---- */

/* fail: turn libgit2's last error into one line and an E_* code: network
 * trouble and 5xx are temporary, refusals and bad credentials are not */
static int
fail(struct repo_conn *c, int gerr, const char *what)
{
	const git_error *e = git_error_last();
	const char *msg = e && e->message ? e->message : "unknown git error";
	const char *url = c ? c->rm->url : "";
	const char *sc = strstr(msg, "status code: ");
	int klass = e ? e->klass : 0, status = sc ? atoi(sc + 13) : 0, code;
	char line[400];
	char *p;

	snprintf(line, sizeof(line), "%s", msg);
	for (p = line; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	if (c && c->auth_failed)
		return err_set(E_PERM, "%s %s: authentication failed: %s", what,
		    url, c->rm->token ? "the token was refused" : "no token");
	if (gerr == GIT_EAUTH || gerr == GIT_ECERTIFICATE ||
	    (status >= 400 && status < 500 && status != 429))
		code = status == 404 ? E_NOTFOUND : E_PERM;
	else if (gerr == GIT_ENOTFOUND)
		code = E_NOTFOUND;
	else if (strstr(msg, "unsupported URL protocol"))
		code = E_USAGE;
	else if (status >= 500 || status == 429 || klass == GIT_ERROR_NET ||
	    klass == GIT_ERROR_OS || klass == GIT_ERROR_SSL ||
	    klass == GIT_ERROR_HTTP || klass == GIT_ERROR_ZLIB)
		code = E_TEMP;
	else
		code = E_FAIL;
	return err_set(code, "%s %s: %s", what, url, line);
}

/* ---- library ---- */

int
repo_global_init(const char *ca_file, const char *user_agent)
{
	if (git_libgit2_init() < 0)
		return fail(NULL, -1, "libgit2 set-up");
	if (!ca_file)
		ca_file = "/etc/ssl/certs/ca-certificates.crt";
	/* a missing CA file only matters for https remotes, which then fail
	 * with a certificate error naming the remote */
	if (git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, ca_file, NULL) < 0)
		git_error_clear();
	if (user_agent)
		git_libgit2_opts(GIT_OPT_SET_USER_AGENT, user_agent);
	return 0;
}

void
repo_global_shutdown(void)
{
	git_libgit2_shutdown();
}

int
repo_open(struct repo **out, const char *path)
{
	struct repo *r = calloc(1, sizeof(*r));
	int rc;

	*out = NULL;
	if (!r)
		return err_set(E_NOMEM, "out of memory");
	rc = git_repository_open_bare(&r->git, path);
	if (rc == GIT_ENOTFOUND)
		rc = git_repository_init(&r->git, path, 1);
	if (rc < 0) {
		rc = fail(NULL, rc, "cannot open the cache");
		free(r);
		return err_prefix(rc, "%s: ", path);
	}
	*out = r;
	return 0;
}

void
repo_free(struct repo *r)
{
	if (!r)
		return;
	git_repository_free(r->git);
	free(r);
}

/* ---- connections ---- */

static int
on_credentials(git_credential **out, const char *url, const char *user_url,
    unsigned int allowed, void *payload)
{
	struct repo_conn *c = payload;

	(void)user_url;
	/* only to the configured origin (never after a redirect elsewhere),
	 * and once: a second request means the token was refused */
	if (!c->rm->token || !(allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) ||
	    !url_same_origin(url, c->rm->url) || c->auth_tries > 0) {
		c->auth_failed = 1;
		git_error_set_str(GIT_ERROR_HTTP, "authentication failed");
		return GIT_EAUTH;
	}
	c->auth_tries++;
	return git_credential_userpass_plaintext_new(
	    out, c->rm->user ? c->rm->user : "oauth2", c->rm->token);
}

static int
on_push_ref(const char *ref, const char *status, void *payload)
{
	struct repo_conn *c = payload;
	int rc;

	if (!status || !c->rejected)
		return 0;
	rc = repo_refs_add(c->rejected, ref, NULL);
	if (rc == 0) {
		c->rejected->v[c->rejected->n - 1].why = str_dup(status);
		if (!c->rejected->v[c->rejected->n - 1].why)
			rc = E_NOMEM;
	}
	return rc < 0 ? -1 : 0;
}

static void
callbacks(git_remote_callbacks *cb, struct repo_conn *c)
{
	git_remote_init_callbacks(cb, GIT_REMOTE_CALLBACKS_VERSION);
	cb->credentials = on_credentials;
	cb->push_update_reference = on_push_ref;
	cb->payload = c;
}

int
repo_connect(struct repo_conn **out, struct repo *r,
    const struct repo_remote *rm, int push)
{
	struct repo_conn *c = calloc(1, sizeof(*c));
	git_remote_callbacks cb;
	int rc;

	*out = NULL;
	if (!c)
		return err_set(E_NOMEM, "out of memory");
	c->r = r;
	c->rm = rm;
	c->push = push;
	/* anonymous: the URL is never written to the cache's config */
	rc = git_remote_create_anonymous(&c->remote, r->git, rm->url);
	if (rc == 0) {
		callbacks(&cb, c);
		rc = git_remote_connect(c->remote,
		    push ? GIT_DIRECTION_PUSH : GIT_DIRECTION_FETCH, &cb, NULL,
		    NULL);
	}
	if (rc < 0) {
		rc = fail(c, rc, "cannot connect to");
		repo_conn_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void
repo_conn_free(struct repo_conn *c)
{
	if (!c)
		return;
	if (c->remote) {
		git_remote_disconnect(c->remote);
		git_remote_free(c->remote);
	}
	free(c);
}

int
repo_conn_ls(struct repo_conn *c, struct repo_refs *out, char **head)
{
	const git_remote_head **heads;
	size_t n, i;
	int rc;

	if (head)
		*head = NULL;
	rc = git_remote_ls(&heads, &n, c->remote);
	if (rc < 0)
		return fail(c, rc, "cannot list the refs of");
	for (i = 0; i < n; i++) {
		const git_remote_head *h = heads[i];
		char hex[41];
		size_t len = strlen(h->name);

		if (strcmp(h->name, "HEAD") == 0) {
			if (head && h->symref_target && !*head &&
			    !(*head = str_dup(h->symref_target)))
				return err_set(E_NOMEM, "out of memory");
			continue;
		}
		if (strncmp(h->name, "refs/", 5) != 0 ||
		    (len > 3 && strcmp(h->name + len - 3, "^{}") == 0))
			continue;
		git_oid_tostr(hex, sizeof(hex), &h->oid);
		rc = repo_refs_add(out, h->name, hex);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int
repo_conn_fetch(struct repo_conn *c, char *const *specs, size_t n)
{
	git_fetch_options o;
	git_strarray arr;
	int rc;

	git_fetch_options_init(&o, GIT_FETCH_OPTIONS_VERSION);
	callbacks(&o.callbacks, c);
	o.prune = GIT_FETCH_NO_PRUNE;
	o.update_fetchhead = 0;
	o.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	arr.strings = (char **)specs;
	arr.count = n;
	rc = git_remote_fetch(c->remote, &arr, &o, "relay-mirror");
	return rc < 0 ? fail(c, rc, "cannot fetch from") : 0;
}

int
repo_conn_push(struct repo_conn *c, char *const *specs, size_t n,
    struct repo_refs *rejected)
{
	git_push_options o;
	git_strarray arr;
	int rc;

	git_push_options_init(&o, GIT_PUSH_OPTIONS_VERSION);
	callbacks(&o.callbacks, c);
	o.pb_parallelism = 0; /* one pack-building thread per core */
	c->rejected = rejected;
	arr.strings = (char **)specs;
	arr.count = n;
	rc = git_remote_push(c->remote, &arr, &o);
	c->rejected = NULL;
	return rc < 0 ? fail(c, rc, "cannot push to") : 0;
}

/* ---- the cache ---- */

int
repo_local_refs(struct repo *r, const char *prefix, struct repo_refs *out)
{
	git_reference_iterator *it;
	git_reference *ref;
	size_t plen = strlen(prefix);
	int rc, add = 0;

	rc = git_reference_iterator_new(&it, r->git);
	if (rc < 0)
		return fail(NULL, rc, "cannot list the cache's refs");
	while (add == 0 && (rc = git_reference_next(&ref, it)) == 0) {
		const git_oid *oid = git_reference_target(ref);
		const char *name = git_reference_name(ref);

		if (oid && strncmp(name, prefix, plen) == 0) {
			char hex[41];

			git_oid_tostr(hex, sizeof(hex), oid);
			add = repo_refs_add(out, name, hex);
		}
		git_reference_free(ref);
	}
	git_reference_iterator_free(it);
	if (add < 0)
		return add;
	if (rc == GIT_ITEROVER)
		return 0;
	return fail(NULL, rc, "cannot list the cache's refs");
}

int
repo_ref_delete(struct repo *r, const char *name)
{
	int rc = git_reference_remove(r->git, name);

	if (rc < 0 && rc != GIT_ENOTFOUND)
		return err_prefix(
		    fail(NULL, rc, "cannot delete"), "%s: ", name);
	return 0;
}

int
repo_descends(struct repo *r, const char *desc, const char *anc)
{
	git_oid d, a;
	git_odb *odb;
	int have, rc;

	if (strcasecmp(desc, anc) == 0)
		return 1;
	if (git_oid_fromstr(&d, desc) < 0 || git_oid_fromstr(&a, anc) < 0)
		return 0;
	if (git_repository_odb(&odb, r->git) < 0)
		return fail(NULL, -1, "cannot open the cache's objects");
	have = git_odb_exists(odb, &a);
	git_odb_free(odb);
	if (!have)
		return 0; /* a commit only the mirror has */
	rc = git_graph_descendant_of(r->git, &d, &a);
	if (rc < 0) {
		git_error_clear();
		return 0; /* not commits (tags of trees or blobs) */
	}
	return rc;
}
