/* repo: the git side of relay-mirror. The only file that includes
 * <git2.h>. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>
#include <git2/sys/transport.h>
#if LIBGIT2_VER_MAJOR > 1 || LIBGIT2_VER_MINOR >= 8
#include <git2/sys/errors.h> /* git_error_set_str, git_error_clear */
#endif

#include "buf.h"
#include "err.h"
#include "repo.h"
#include "url.h"
#include "util.h"

struct repo {
	git_repository *git;
	int lock; /* fd holding the cache's lock, or -1 */
};

struct repo_conn {
	struct repo *r;
	git_remote *remote;
	const struct repo_remote *rm;
	int push;
	int auth_tries; /* credentials handed out on this connection */
	int auth_failed; /* the server refused them */
	struct repo_refs *rejected;
	struct repo_refs *keep; /* push: the advertised refs kept */
	struct push_sub *sub; /* push over HTTP: the connected subtransport */
	struct buf adv; /* push over HTTP: the mirror's listing, as read */
	int adv_ok; /* adv holds all of it */
	git_smart_subtransport_definition def;
};

static const char *ca_path; /* the CA file, set in libgit2 on first https */

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
	l->sorted = 0;
	return 0;
}

static int
ref_cmp(const void *a, const void *b)
{
	return strcmp(((const struct repo_ref *)a)->name,
	    ((const struct repo_ref *)b)->name);
}

const struct repo_ref *
repo_refs_find(struct repo_refs *l, const char *name)
{
	struct repo_ref key;

	if (!l->n)
		return NULL;
	if (!l->sorted) {
		qsort(l->v, l->n, sizeof(*l->v), ref_cmp);
		l->sorted = 1;
	}
	memset(&key, 0, sizeof(key));
	key.name = (char *)name;
	return bsearch(&key, l->v, l->n, sizeof(*l->v), ref_cmp);
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
	/* parsed on the first https connection only (~30 ms for Debian's
	 * bundle): paths and plain-http loopback remotes never need it */
	ca_path = ca_file ? ca_file : "/etc/ssl/certs/ca-certificates.crt";
	if (user_agent)
		git_libgit2_opts(GIT_OPT_SET_USER_AGENT, user_agent);
	return 0;
}

void
repo_global_shutdown(void)
{
	git_libgit2_shutdown();
}

/* lock: hold an exclusive lock on path/relay-mirror.lock for the life of
 * the process (fcntl: the kernel drops it when a killed run dies) */
static int
lock(struct repo *r, const char *path)
{
	struct buf f;
	struct flock fl;
	int rc = 0;

	buf_init(&f, 0);
	if (mkdir(path, 0777) < 0 && errno != EEXIST)
		rc = err_set(E_FAIL, "cannot create the cache %s: %s", path,
		    strerror(errno));
	if (rc == 0)
		rc = buf_printf(&f, "%s/relay-mirror.lock", path);
	if (rc == 0) {
		r->lock = open(f.data, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
		if (r->lock < 0)
			rc = err_set(E_FAIL, "cannot open %s: %s", f.data,
			    strerror(errno));
	}
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (rc == 0 && fcntl(r->lock, F_SETLK, &fl) < 0)
		rc = errno == EACCES || errno == EAGAIN
		    ? err_set(E_TEMP,
			  "the cache %s is in use by another relay-mirror run (%s): try again when it has finished",
			  path, f.data)
		    : err_set(E_FAIL, "cannot lock %s: %s", f.data,
			  strerror(errno));
	buf_free(&f);
	return rc;
}

int
repo_open(struct repo **out, const char *path)
{
	struct repo *r = calloc(1, sizeof(*r));
	int rc;

	*out = NULL;
	if (!r)
		return err_set(E_NOMEM, "out of memory");
	r->lock = -1;
	rc = lock(r, path);
	if (rc < 0) {
		if (r->lock >= 0)
			close(r->lock);
		free(r);
		return rc;
	}
	rc = git_repository_open_bare(&r->git, path);
	if (rc == GIT_ENOTFOUND)
		rc = git_repository_init(&r->git, path, 1);
	if (rc < 0) {
		rc = fail(NULL, rc, "cannot open the cache");
		close(r->lock);
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
	if (r->lock >= 0)
		close(r->lock);
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

/* ---- push over smart HTTP ----
 *
 * libgit2 opens the receive-pack request on the connection of the ref
 * listing, then builds the pack (1.5: after it has sent the request's
 * first bytes). A server that closes idle connections (lighttpd: 5 s)
 * closes it meanwhile, and the write dies of SIGPIPE or reads an EOF, on
 * every try. So the request body is spooled into a file in the cache until
 * libgit2 reads the answer, then sent at once on a connection of its own,
 * opened (and authenticated by a ref listing) right then.
 *
 * libgit2 also hides every ref the mirror advertises from its pack walk,
 * and loads the whole tree of each (1,001 on a mirror with 1,000 tags);
 * with c->keep set, the listing libgit2 sees holds only those refs: the
 * ones pushed and the mirror's default branch, which hides the history
 * already there. */

struct push_sub {
	git_smart_subtransport parent;
	git_smart_subtransport *inner; /* libgit2's own HTTP subtransport */
	git_transport *owner;
	struct repo_conn *c;
};

struct push_stream {
	git_smart_subtransport_stream parent;
	struct push_sub *s;
	char *url;
	git_smart_subtransport *fresh; /* receive-pack: its own connection */
	git_smart_subtransport_stream *inner; /* the request, once sent */
	FILE *spool; /* receive-pack: the body until the first read */
	struct buf adv; /* receive-pack listing: the filtered refs */
	size_t off;
	int ready;
	int tee; /* the listing: read from inner, kept in c->adv */
};

static int
is_http(const char *url)
{
	return str_has_prefix(url, "http://") ||
	    str_has_prefix(url, "https://");
}

/* pkt: append one pkt-line: a, then (when caps) NUL and caps, then LF */
static int
pkt(struct buf *out, const char *a, size_t na, const char *caps, size_t nc)
{
	int rc = buf_printf(out, "%04zx", 4 + na + (caps ? 1 + nc : 0) + 1);

	if (rc == 0)
		rc = buf_add(out, a, na);
	if (rc == 0 && caps)
		rc = buf_add(out, "", 1); /* the NUL */
	if (rc == 0 && caps)
		rc = buf_add(out, caps, nc);
	if (rc == 0)
		rc = buf_add(out, "\n", 1);
	return rc;
}

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

int
repo_adv_filter(
    struct buf *out, const char *in, size_t len, struct repo_refs *keep)
{
	static const char zero[] = "0000000000000000000000000000000000000000 "
				   "capabilities^{}";
	const char *caps = NULL;
	size_t off = 0, ncaps = 0;
	int phase = 0, sent = 0, rc = 0; /* 0 service line, 1 refs, 2 rest */

	while (rc == 0 && off < len) {
		const char *p = in + off + 4, *end, *nul, *sp;
		size_t n = 0, i;
		char name[1024];

		for (i = 0; i < 4; i++) {
			int d = off + i < len ? hexval(in[off + i]) : -1;

			if (d < 0)
				return err_set(
				    E_PARSE, "malformed ref advertisement");
			n = n * 16 + (size_t)d;
		}
		if ((n && n < 4) || n > len - off)
			return err_set(E_PARSE, "malformed ref advertisement");
		if (n == 0) { /* flush */
			if (phase == 1 && !sent && caps)
				rc = pkt(
				    out, zero, sizeof(zero) - 1, caps, ncaps);
			if (rc == 0)
				rc = buf_add(out, "0000", 4);
			phase = phase == 0 ? 1 : 2;
			off += 4;
			continue;
		}
		end = in + off + n;
		if (phase == 0 && n >= 14 && memcmp(p, "# service=", 10) == 0) {
			rc = buf_add(out, in + off, n);
			off += n;
			continue;
		}
		off += n;
		if (phase == 2) {
			rc = buf_add(out, p - 4, n);
			continue;
		}
		phase = 1; /* (a listing without the service line) */
		nul = memchr(p, '\0', (size_t)(end - p));
		if (!nul && end > p && end[-1] == '\n')
			end--;
		sp = memchr(p, ' ', (size_t)(end - p));
		if (!sp || (nul && nul < sp))
			return err_set(E_PARSE, "malformed ref advertisement");
		if (nul && !caps) {
			caps = nul + 1;
			ncaps = (size_t)(in + off - caps);
			if (ncaps && caps[ncaps - 1] == '\n')
				ncaps--;
		}
		i = (size_t)((nul ? nul : end) - (sp + 1));
		if (i >= sizeof(name))
			return err_set(E_PARSE, "malformed ref advertisement");
		memcpy(name, sp + 1, i);
		name[i] = '\0';
		if (strcmp(name, ".have") != 0 &&
		    (strcmp(name, "capabilities^{}") == 0 ||
			!repo_refs_find(keep, name)))
			continue;
		rc = pkt(out, p, (size_t)(sp + 1 - p) + i, sent ? NULL : caps,
		    ncaps);
		sent = 1;
	}
	return rc;
}

/* spool_send: the request on a connection of its own: a ref listing (read
 * to its end, which authenticates), then the spooled body at once */
static int
spool_send(struct push_stream *st)
{
	git_smart_subtransport_stream *ls = NULL;
	char tmp[65536];
	size_t got;
	int rc;

	st->s->c->auth_tries = 0; /* a new connection asks again */
	rc = git_smart_subtransport_http(&st->fresh, st->s->owner, NULL);
	if (rc == 0)
		rc = st->fresh->action(
		    &ls, st->fresh, st->url, GIT_SERVICE_RECEIVEPACK_LS);
	while (rc == 0 && (rc = ls->read(ls, tmp, sizeof(tmp), &got)) == 0 &&
	    got > 0)
		;
	if (ls)
		ls->free(ls);
	if (rc == 0)
		rc = st->fresh->action(
		    &st->inner, st->fresh, st->url, GIT_SERVICE_RECEIVEPACK);
	if (rc == 0 && fseek(st->spool, 0, SEEK_SET) != 0)
		rc = -1;
	while (rc == 0 && (got = fread(tmp, 1, sizeof(tmp), st->spool)) > 0)
		rc = st->inner->write(st->inner, tmp, got);
	if (rc == 0 && ferror(st->spool)) {
		git_error_set_str(GIT_ERROR_OS, "cannot read the push spool");
		rc = -1;
	}
	fclose(st->spool);
	st->spool = NULL;
	return rc;
}

static int
push_stream_read(git_smart_subtransport_stream *stream, char *buffer,
    size_t buf_size, size_t *bytes_read)
{
	struct push_stream *st = (struct push_stream *)stream;
	git_smart_subtransport_stream *ls = NULL;
	struct buf raw;
	char tmp[65536];
	size_t got, n;
	int rc = 0;

	*bytes_read = 0;
	if (st->spool) /* receive-pack */
		rc = spool_send(st);
	if (st->inner && rc == 0)
		rc = st->inner->read(st->inner, buffer, buf_size, bytes_read);
	if (st->inner && st->tee && rc == 0) {
		struct repo_conn *c = st->s->c;

		if (*bytes_read == 0 && c->adv_ok == 0)
			c->adv_ok = 1;
		else if (*bytes_read &&
		    buf_add(&c->adv, buffer, *bytes_read) < 0)
			c->adv_ok = -1; /* too large: listed again if needed */
	}
	if (st->inner)
		return rc;
	if (rc == 0 && !st->ready) { /* the filtered listing */
		struct repo_conn *c = st->s->c;

		buf_init(&raw, 0);
		if (c->adv_ok == 1) /* the listing the run planned with */
			rc =
			    buf_add(&raw, c->adv.data, c->adv.len) < 0 ? -1 : 0;
		else
			rc = st->s->inner->action(&ls, st->s->inner, st->url,
			    GIT_SERVICE_RECEIVEPACK_LS);
		while (rc == 0 && ls &&
		    (rc = ls->read(ls, tmp, sizeof(tmp), &got)) == 0 && got > 0)
			if (buf_add(&raw, tmp, got) < 0) {
				git_error_set_str(GIT_ERROR_NET,
				    "the mirror's ref listing is too large");
				rc = -1;
			}
		if (ls)
			ls->free(ls);
		if (rc == 0 &&
		    repo_adv_filter(
			&st->adv, raw.data, raw.len, st->s->c->keep) < 0) {
			git_error_set_str(GIT_ERROR_NET, err_msg());
			rc = -1;
		}
		buf_free(&raw);
		st->ready = 1;
	}
	if (rc < 0)
		return rc;
	n = st->adv.len - st->off;
	if (n > buf_size)
		n = buf_size;
	if (n)
		memcpy(buffer, st->adv.data + st->off, n);
	st->off += n;
	*bytes_read = n;
	return 0;
}

static int
push_stream_write(
    git_smart_subtransport_stream *stream, const char *buffer, size_t len)
{
	struct push_stream *st = (struct push_stream *)stream;

	if (!st->spool || fwrite(buffer, 1, len, st->spool) != len) {
		git_error_set_str(GIT_ERROR_OS, "cannot write the push spool");
		return -1;
	}
	return 0;
}

static void
push_stream_free(git_smart_subtransport_stream *stream)
{
	struct push_stream *st = (struct push_stream *)stream;

	if (st->inner)
		st->inner->free(st->inner);
	if (st->fresh) {
		st->fresh->close(st->fresh);
		st->fresh->free(st->fresh);
	}
	if (st->spool)
		fclose(st->spool);
	buf_free(&st->adv);
	free(st->url);
	free(st);
}

/* spool_open: an unlinked file in the cache (a CI image may lack /tmp) */
static FILE *
spool_open(struct repo *r)
{
	struct buf p;
	FILE *f = NULL;
	int fd;

	buf_init(&p, 0);
	if (buf_printf(
		&p, "%srelay-push-XXXXXX", git_repository_path(r->git)) == 0 &&
	    (fd = mkstemp(p.data)) >= 0) {
		unlink(p.data);
		f = fdopen(fd, "w+");
		if (!f)
			close(fd);
	}
	buf_free(&p);
	return f;
}

static int
push_sub_action(git_smart_subtransport_stream **out, git_smart_subtransport *t,
    const char *url, git_smart_service_t action)
{
	struct push_sub *s = (struct push_sub *)t;
	struct push_stream *st;

	git_smart_subtransport_stream *tee = NULL;
	int rc;

	if (action == GIT_SERVICE_RECEIVEPACK_LS && !s->c->keep) {
		/* kept, so that a push filters it without asking again */
		buf_reset(&s->c->adv);
		s->c->adv_ok = 0;
		rc = s->inner->action(&tee, s->inner, url, action);
		if (rc < 0)
			return rc;
	} else if (action != GIT_SERVICE_RECEIVEPACK &&
	    action != GIT_SERVICE_RECEIVEPACK_LS)
		return s->inner->action(out, s->inner, url, action);
	st = calloc(1, sizeof(*st));
	if (!st || !(st->url = str_dup(url))) {
		free(st);
		if (tee)
			tee->free(tee);
		git_error_set_oom();
		return -1;
	}
	st->inner = tee;
	st->tee = tee != NULL;
	st->parent.subtransport = t;
	st->parent.read = push_stream_read;
	st->parent.write = push_stream_write;
	st->parent.free = push_stream_free;
	st->s = s;
	buf_init(&st->adv, 0);
	if (action == GIT_SERVICE_RECEIVEPACK &&
	    !(st->spool = spool_open(s->c->r))) {
		git_error_set(GIT_ERROR_OS, "cannot create a push spool in %s",
		    git_repository_path(s->c->r->git));
		push_stream_free(&st->parent);
		return -1;
	}
	*out = &st->parent;
	return 0;
}

static int
push_sub_close(git_smart_subtransport *t)
{
	struct push_sub *s = (struct push_sub *)t;

	s->c->auth_tries = 0; /* the next connection asks again */
	return s->inner->close(s->inner);
}

static void
push_sub_free(git_smart_subtransport *t)
{
	struct push_sub *s = (struct push_sub *)t;

	if (s->c->sub == s)
		s->c->sub = NULL;
	s->inner->free(s->inner);
	free(s);
}

static int
push_sub_new(git_smart_subtransport **out, git_transport *owner, void *param)
{
	struct push_sub *s = calloc(1, sizeof(*s));

	if (!s) {
		git_error_set_oom();
		return -1;
	}
	if (git_smart_subtransport_http(&s->inner, owner, NULL) < 0) {
		free(s);
		return -1;
	}
	s->parent.action = push_sub_action;
	s->parent.close = push_sub_close;
	s->parent.free = push_sub_free;
	s->owner = owner;
	s->c = param;
	s->c->auth_tries = 0; /* a new connection asks again */
	s->c->sub = s;
	*out = &s->parent;
	return 0;
}

static int
push_transport(git_transport **out, git_remote *owner, void *param)
{
	struct repo_conn *c = param;

	c->def.callback = push_sub_new;
	c->def.rpc = 1;
	c->def.param = c;
	return git_transport_smart(out, owner, &c->def);
}

static void
callbacks(git_remote_callbacks *cb, struct repo_conn *c)
{
	git_remote_init_callbacks(cb, GIT_REMOTE_CALLBACKS_VERSION);
	cb->credentials = on_credentials;
	cb->push_update_reference = on_push_ref;
	if (c->push && is_http(c->rm->url))
		cb->transport = push_transport;
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
	buf_init(&c->adv, 0);
	c->r = r;
	c->rm = rm;
	c->push = push;
	if (str_has_prefix(rm->url, "https://") && ca_path) {
		/* a missing CA file only matters for https remotes, which
		 * then fail with a certificate error naming the remote */
		if (git_libgit2_opts(
			GIT_OPT_SET_SSL_CERT_LOCATIONS, ca_path, NULL) < 0)
			git_error_clear();
		ca_path = NULL;
	}
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
	buf_free(&c->adv);
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
	git_refdb *db;
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
	if (rc < 0)
		return fail(c, rc, "cannot fetch from");
	/* one packed-refs file, not a file per tag: the next run lists
	 * thousands of refs in one read */
	if (git_repository_refdb(&db, c->r->git) == 0) {
		if (git_refdb_compress(db) < 0)
			git_error_clear();
		git_refdb_free(db);
	} else
		git_error_clear();
	return 0;
}

int
repo_conn_push(struct repo_conn *c, char *const *specs, size_t n,
    struct repo_refs *keep, struct repo_refs *rejected)
{
	git_push_options o;
	git_strarray arr;
	int rc;

	git_push_options_init(&o, GIT_PUSH_OPTIONS_VERSION);
	callbacks(&o.callbacks, c);
	o.pb_parallelism = 0; /* one pack-building thread per core */
	c->rejected = rejected;
	if (keep && is_http(c->rm->url)) {
		/* listed again, through the filter (see push_stream) */
		c->keep = keep;
		git_remote_disconnect(c->remote);
	}
	arr.strings = (char **)specs;
	arr.count = n;
	rc = git_remote_push(c->remote, &arr, &o);
	c->rejected = NULL;
	c->keep = NULL;
	return rc < 0 ? fail(c, rc, "cannot push to") : 0;
}

/* ---- first mirror: the cache's pack as it is ----
 *
 * libgit2 never reuses a delta (pack-objects.c: "TODO: support
 * reuse-delta"): it recomputes every delta of the history it pushes, which
 * makes a first mirror several times slower than git's. An empty mirror
 * needs every object the cache has, and a cache fetched once holds them
 * all in one pack, deltas made by canonical's git: that pack is sent as it
 * is, after the ref creations, in one receive-pack request. */

/* one_pack: *out = the path of the cache's only pack file */
static int
one_pack(struct buf *out, struct repo *r)
{
	DIR *d;
	struct dirent *e;
	int n = 0, rc;

	rc = buf_printf(out, "%sobjects/pack/", git_repository_path(r->git));
	d = rc == 0 ? opendir(out->data) : NULL;
	if (!d)
		return E_NOTFOUND;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);

		if (len > 5 && strcmp(e->d_name + len - 5, ".pack") == 0 &&
		    n++ == 0)
			rc = buf_puts(out, e->d_name);
	}
	closedir(d);
	return rc == 0 && n == 1 ? 0 : E_NOTFOUND;
}

/* read_all: the whole answer of stream st into b */
static int
read_all(struct buf *b, git_smart_subtransport_stream *st)
{
	char tmp[65536];
	size_t got;
	int rc;

	while ((rc = st->read(st, tmp, sizeof(tmp), &got)) == 0 && got > 0)
		if (buf_add(b, tmp, got) < 0) {
			git_error_set_str(GIT_ERROR_NET, "answer too large");
			return -1;
		}
	return rc;
}

/* pack_commands: one "create" command per spec ("src:dst", src a cache
 * ref), the first asking for a status report */
static int
pack_commands(
    struct buf *cmd, struct repo_conn *c, char *const *specs, size_t n)
{
	static const char zero[] = "0000000000000000000000000000000000000000";
	static const char caps[] = "report-status agent=relay-mirror";
	size_t i;
	int rc = 0;

	for (i = 0; rc == 0 && i < n; i++) {
		const char *src = specs[i] + (specs[i][0] == '+');
		const char *dst = strchr(src, ':');
		char name[1024], hex[41];
		git_oid oid;

		if (!dst || (size_t)(dst - src) >= sizeof(name) || dst == src)
			return err_set(E_FAIL, "bad push refspec %s", specs[i]);
		memcpy(name, src, (size_t)(dst - src));
		name[dst - src] = '\0';
		dst++;
		if (git_reference_name_to_id(&oid, c->r->git, name) < 0)
			return fail(NULL, -1, "cannot read the cache");
		git_oid_tostr(hex, sizeof(hex), &oid);
		rc = buf_printf(cmd, "%04zx%s %s %s",
		    4 + 40 + 1 + 40 + 1 + strlen(dst) + 1 +
			(i ? 0 : 1 + sizeof(caps) - 1),
		    zero, hex, dst);
		if (rc == 0 && i == 0)
			rc = buf_add(cmd, "", 1);
		if (rc == 0 && i == 0)
			rc = buf_puts(cmd, caps);
		if (rc == 0)
			rc = buf_putc(cmd, '\n');
	}
	if (rc == 0)
		rc = buf_puts(cmd, "0000");
	return rc;
}

/* report: the receive-pack status report in b: refused refs go to
 * c->rejected */
static int
report(struct repo_conn *c, const struct buf *b)
{
	size_t off = 0;
	int rc = 0;

	while (rc == 0 && off + 4 <= b->len) {
		char line[1100];
		size_t n = 0, i;

		for (i = 0; i < 4; i++) {
			int d = hexval(b->data[off + i]);

			if (d < 0)
				return err_set(E_TEMP,
				    "%s: malformed push report", c->rm->url);
			n = n * 16 + (size_t)d;
		}
		if (n == 0)
			break;
		if (n < 4 || n - 4 >= sizeof(line) || n > b->len - off)
			return err_set(
			    E_TEMP, "%s: malformed push report", c->rm->url);
		memcpy(line, b->data + off + 4, n - 4);
		line[n - 4] = '\0';
		line[strcspn(line, "\n")] = '\0';
		off += n;
		if (str_has_prefix(line, "unpack ") &&
		    strcmp(line + 7, "ok") != 0)
			return err_set(E_PERM,
			    "%s could not unpack the pack: %s", c->rm->url,
			    line + 7);
		if (str_has_prefix(line, "ng ")) {
			char *sp = strchr(line + 3, ' ');

			if (sp)
				*sp++ = '\0';
			rc = on_push_ref(line + 3, sp ? sp : "refused", c) < 0
			    ? E_NOMEM
			    : 0;
		}
	}
	return rc;
}

int
repo_conn_push_pack(struct repo_conn *c, char *const *specs, size_t n,
    struct repo_refs *rejected)
{
	git_smart_subtransport *fresh = NULL;
	git_smart_subtransport_stream *ls = NULL, *post = NULL;
	struct buf pack, cmd, ans;
	char tmp[65536];
	FILE *f = NULL;
	size_t got;
	int rc;

	buf_init(&pack, 0);
	buf_init(&cmd, 0);
	buf_init(&ans, 0);
	if (!c->sub || !is_http(c->rm->url) || one_pack(&pack, c->r) < 0) {
		buf_free(&pack);
		return E_NOTFOUND; /* nothing sent: push as usual */
	}
	rc = pack_commands(&cmd, c, specs, n);
	if (rc == 0 && !(f = fopen(pack.data, "rb")))
		rc = err_set(E_FAIL, "cannot read %s", pack.data);
	if (rc == 0) {
		c->auth_tries = 0; /* a new connection asks again */
		c->rejected = rejected;
		rc = git_smart_subtransport_http(&fresh, c->sub->owner, NULL);
		if (rc == 0)
			rc = fresh->action(
			    &ls, fresh, c->rm->url, GIT_SERVICE_RECEIVEPACK_LS);
		if (rc == 0)
			rc = read_all(&ans, ls);
		if (rc == 0 &&
		    !strstr(ans.data ? ans.data : "", "capabilities^{}")) {
			/* someone pushed meanwhile: not empty any more */
			git_error_set_str(
			    GIT_ERROR_NET, "the mirror is not empty any more");
			rc = -1;
		}
		if (rc == 0)
			rc = fresh->action(
			    &post, fresh, c->rm->url, GIT_SERVICE_RECEIVEPACK);
		if (rc == 0)
			rc = post->write(post, cmd.data, cmd.len);
		while (rc == 0 && (got = fread(tmp, 1, sizeof(tmp), f)) > 0)
			rc = post->write(post, tmp, got);
		buf_reset(&ans);
		if (rc == 0)
			rc = read_all(&ans, post);
		rc = rc < 0 ? fail(c, rc, "cannot push to") : report(c, &ans);
		c->rejected = NULL;
	}
	if (f)
		fclose(f);
	if (ls)
		ls->free(ls);
	if (post)
		post->free(post);
	if (fresh) {
		fresh->close(fresh);
		fresh->free(fresh);
	}
	buf_free(&pack);
	buf_free(&cmd);
	buf_free(&ans);
	return rc;
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

int
repo_ref_name_ok(const char *name)
{
	int valid = 0;

	if (git_reference_name_is_valid(&valid, name) < 0) {
		git_error_clear();
		return 0;
	}
	return valid;
}
