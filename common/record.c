/* record: durable records in notes only relay writes, and the at-most-once
 * protocol on them (see record.h) */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "gitlab.h"
#include "json.h"
#include "log.h"
#include "notes.h"
#include "record.h"
#include "util.h"

int
record_state(const char *body, const char *prefix, char *run)
{
	const char *p, *end;
	int st = RECORD_DONE;

	if (run)
		run[0] = '\0';
	if (!body || !prefix || !*prefix)
		return RECORD_NONE;
	p = strstr(body, prefix);
	if (!p)
		return RECORD_NONE;
	p += strlen(prefix);
	end = strstr(p, "-->");
	if (!end)
		return RECORD_NONE;
	while (p < end) {
		size_t n;

		p += strspn(p, " ");
		n = strcspn(p, " ");
		if (p + n > end)
			n = (size_t)(end - p);
		if (n == 13 && strncmp(p, "slack=pending", 13) == 0)
			st = RECORD_PENDING;
		else if (n == 11 && strncmp(p, "slack=retry", 11) == 0)
			st = RECORD_RETRY;
		else if (n == 10 && strncmp(p, "slack=void", 10) == 0)
			st = RECORD_VOID;
		else if (n > 4 && n <= 4 + 16 && strncmp(p, "run=", 4) == 0 &&
		    run) {
			memcpy(run, p + 4, n - 4);
			run[n - 4] = '\0';
		}
		p += n;
	}
	return st;
}

static int
voided(const struct record_note *n, size_t len, const char *run)
{
	size_t i;

	for (i = 0; i < len && *run; i++)
		if (n[i].state == RECORD_VOID && strcmp(n[i].run, run) == 0)
			return 1;
	return 0;
}

/* live: a claim whose run may still be delivering it */
static int
live(const struct record_note *all, size_t len, const struct record_note *n,
    long long t)
{
	return n->state == RECORD_PENDING && t - n->updated <= RECORD_LEASE_S &&
	    !voided(all, len, n->run);
}

int
record_winner(const struct record_note *n, size_t len, long long t)
{
	size_t i;
	int w = -1;

	for (i = 0; i < len; i++)
		if (n[i].state == RECORD_DONE &&
		    (w < 0 || n[i].id < n[(size_t)w].id))
			w = (int)i;
	if (w >= 0)
		return w;
	for (i = 0; i < len; i++)
		if (live(n, len, &n[i], t) &&
		    (w < 0 || n[i].id < n[(size_t)w].id))
			w = (int)i;
	return w;
}

int
record_self(long long *out, struct gitlab *g)
{
	struct json *d = NULL;
	int rc;

	if (g->self_id > 0) {
		*out = g->self_id;
		return 0;
	}
	*out = 0;
	rc = gitlab_call(g, &d, "GET", "/user", NULL);
	if (rc == 0 &&
	    (json_int(out, json_get(json_root(d), "id")) < 0 || *out <= 0))
		rc = err_set(E_PARSE, "GET /user: no user id in the answer");
	json_free(d);
	if (rc < 0)
		return err_prefix(rc, "cannot tell relay's own identity: ");
	g->self_id = *out;
	return 0;
}

/* trusted: written by relay's identity, and not a system note */
static int
trusted(struct jv e, long long self)
{
	long long author = 0;

	if (json_bool(json_get(e, "system")) == 1)
		return 0;
	if (json_int(&author, json_get(e, "author.id")) < 0)
		return 0;
	return author == self;
}

/* entry: note e's id and times; 0 where missing or invalid */
static void
entry(struct record_entry *n, struct jv e)
{
	const char *ca = json_strp(e, "created_at");
	const char *ua = json_strp(e, "updated_at");

	if (json_int(&n->id, json_get(e, "id")) < 0 || n->id < 0)
		n->id = 0;
	if (!ca || iso8601_parse(&n->created, ca) < 0)
		n->created = 0;
	if (!ua || iso8601_parse(&n->updated, ua) < 0)
		n->updated = 0;
}

/* each_page: fn on the trusted notes of one page: 0 more, 1 stop, < 0 */
static int
each_page(struct json *page, long long self,
    int (*fn)(void *, const struct record_entry *), void *arg)
{
	struct json_iter it;
	struct jv e;
	int rc = 0;

	json_iter_init(&it, json_root(page));
	while (rc == 0 && json_iter_next(&it, &e, NULL)) {
		struct record_entry n;

		memset(&n, 0, sizeof(n));
		n.body = json_strp(e, "body");
		if (!n.body || !trusted(e, self))
			continue;
		entry(&n, e);
		rc = fn(arg, &n);
	}
	return rc;
}

int
record_each(struct gitlab *g, const char *noteable, const char *what,
    int (*fn)(void *arg, const struct record_entry *note), void *arg)
{
	struct gitlab_pager pg;
	struct json *page = NULL;
	long long self;
	int rc;

	rc = record_self(&self, g);
	if (rc < 0)
		return rc;
	rc = gitlab_pager_initf(&pg, g, RECORD_MAX_PAGES,
	    "%s/notes?sort=desc&order_by=created_at&per_page=100", noteable);
	if (rc < 0)
		return rc;
	while ((rc = gitlab_pager_next(&pg, &page)) > 0) {
		rc = each_page(page, self, fn, arg);
		json_free(page);
		page = NULL;
		if (rc != 0)
			break;
	}
	/* a reader that needs every note never stops: say it did not see
	 * them all, not that nothing was found */
	if (rc == 0 && pg.capped)
		rc = err_set(E_TEMP,
		    "GET %s/notes: stopped after the newest %d notes with more left unread (looking for the %s); not counted as absent",
		    noteable, RECORD_MAX_PAGES * 100, what ? what : "answer");
	gitlab_pager_free(&pg);
	return rc;
}

struct scan {
	struct record_note *n;
	size_t len, cap;
	char *body; /* record_find: the newest match's body */
	long long body_id;
	const char *prefix;
	int first_only, stop_done;
};

/* scan_note: collect a note carrying the prefix: 0 more, 1 stop, < 0 */
static int
scan_note(void *arg, const struct record_entry *e)
{
	struct scan *s = arg;
	struct record_note r;

	memset(&r, 0, sizeof(r));
	r.state = record_state(e->body, s->prefix, r.run);
	if (r.state == RECORD_NONE &&
	    !(s->first_only && strstr(e->body, s->prefix)))
		return 0;
	if (e->id <= 0 || e->created <= 0 || e->updated <= 0)
		return err_set(E_PARSE, "a note has no valid id or timestamps");
	r.id = e->id;
	r.created = e->created;
	r.updated = e->updated;
	if (s->first_only) {
		s->body = str_dup(e->body);
		s->body_id = r.id;
		return s->body ? 1 : err_set(E_NOMEM, "out of memory");
	}
	if (s->len == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 8;
		struct record_note *nn = realloc(s->n, nc * sizeof(*nn));

		if (!nn)
			return err_set(E_NOMEM, "out of memory");
		s->n = nn;
		s->cap = nc;
	}
	s->n[s->len++] = r;
	return s->stop_done && r.state == RECORD_DONE;
}

/* scan: read noteable's notes newest first, collecting the trusted ones
 * that carry prefix; stop at the first when first_only, or at the first
 * done one when stop_done. E_TEMP when the page cap is reached. */
static int
scan(struct scan *s, struct gitlab *g, const char *noteable, const char *prefix,
    int first_only, int stop_done)
{
	int rc;

	s->prefix = prefix;
	s->first_only = first_only;
	s->stop_done = stop_done;
	rc = record_each(g, noteable, "answer", scan_note, s);
	if (rc < 0)
		return err_prefix(rc, "cannot read notes: ");
	return 0;
}

static void
scan_free(struct scan *s)
{
	free(s->n);
	free(s->body);
	memset(s, 0, sizeof(*s));
}

int
record_find(char **body, long long *id, struct gitlab *g, const char *noteable,
    const char *prefix)
{
	struct scan s;
	int rc;

	if (body)
		*body = NULL;
	if (id)
		*id = 0;
	memset(&s, 0, sizeof(s));
	rc = scan(&s, g, noteable, prefix, 1, 0);
	if (rc == 0 && s.body) {
		if (id)
			*id = s.body_id;
		if (body) {
			*body = s.body;
			s.body = NULL;
		}
		rc = 1;
	}
	scan_free(&s);
	return rc;
}

static void
nonce(char out[17])
{
	unsigned char r[8];
	size_t i;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		unsigned long long x =
		    (unsigned long long)now_ms() ^ (unsigned long long)getpid();

		memcpy(r, &x, sizeof(r));
	}
	for (i = 0; i < sizeof(r); i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

static int
note_body(struct buf *b, const struct record_op *op, const char *state,
    const char *run)
{
	size_t n = strlen(op->text);

	while (n > 0 && op->text[n - 1] == '\n')
		n--;
	buf_reset(b);
	return buf_printf(b, "%.*s\n\n<!-- %s slack=%s%s%s -->", (int)n,
	    op->text, op->marker, state, run ? " run=" : "", run ? run : "");
}

static int
note_delete(struct gitlab *g, const char *noteable, long long id)
{
	return gitlab_callf(
	    g, NULL, "DELETE", NULL, "%s/notes/%lld", noteable, id);
}

/* quietly: run a clean-up step without losing the error being reported */
static void
quietly_delete(struct gitlab *g, const char *noteable, long long id)
{
	char saved[1024];

	snprintf(saved, sizeof(saved), "%s", err_msg());
	if (note_delete(g, noteable, id) < 0)
		log_warn("cannot delete note %lld: %s", id, err_msg());
	err_set(0, "%s", saved);
}

static void
quietly_release(struct gitlab *g, const struct record_op *op, long long id,
    struct buf *body)
{
	char saved[1024];

	snprintf(saved, sizeof(saved), "%s", err_msg());
	if (note_body(body, op, "retry", NULL) < 0 ||
	    notes_write(NULL, g, "PUT", op->noteable, id, body->data) < 0)
		log_warn("cannot release note %lld: %s", id, err_msg());
	err_set(0, "%s", saved);
}

/* One record_once in progress. */
struct once {
	struct gitlab *g;
	const struct record_op *op;
	struct scan s; /* the key's records, as last read */
	struct buf prefix; /* "<!-- marker " */
	struct buf body; /* the note as last written */
	char run[17]; /* this run's nonce */
	long long mine; /* this run's claim */
	long long t; /* its time, GitLab's clock */
};

/* rescan: read the key's records again */
static int
rescan(struct once *o)
{
	scan_free(&o->s);
	return scan(&o->s, o->g, o->op->noteable, o->prefix.data, 0, 0);
}

static int
done_before(const struct scan *s)
{
	size_t i;

	for (i = 0; i < s->len; i++)
		if (s->n[i].state == RECORD_DONE)
			return 1;
	return 0;
}

/* takeover: a released or abandoned record (note id) is claimed in place:
 * one note per key, however many runs Slack's outage lasts. *result is
 * set when this run does not act. */
static int
takeover(struct once *o, long long id, int *result)
{
	struct json *d = NULL;
	const char *ua;
	size_t i;
	int rc;

	o->mine = id;
	rc = note_body(&o->body, o->op, "pending", o->run);
	if (rc == 0)
		rc = notes_write(
		    &d, o->g, "PUT", o->op->noteable, id, o->body.data);
	ua = rc == 0 ? json_strp(json_root(d), "updated_at") : NULL;
	if (rc == 0 && iso8601_parse(&o->t, ua ? ua : "") < 0)
		o->t = gitlab_now(o->g);
	json_free(d);
	if (rc < 0)
		return err_prefix(rc, "cannot update note %lld: ", id);
	rc = rescan(o);
	if (rc < 0) {
		quietly_release(o->g, o->op, id, &o->body);
		return rc;
	}
	for (i = 0; i < o->s.len && o->s.n[i].id != id; i++)
		;
	if (done_before(&o->s))
		*result = RECORD_DONE_BEFORE;
	else if (i == o->s.len || strcmp(o->s.n[i].run, o->run) != 0)
		*result = RECORD_BUSY; /* another run took it over meanwhile */
	return 0;
}

/* withdraw: the claim's POST failed (rc), and may have been applied with
 * its answer lost: it is never sent again. Found by its nonce, it is
 * deleted; not found, it may land later: a void note withdraws it. */
static void
withdraw(struct once *o, int rc)
{
	char saved[1024];
	size_t i;
	int gone = 0;

	if (rc == E_PERM || rc == E_NOTFOUND)
		return; /* refused: nothing was written */
	snprintf(saved, sizeof(saved), "%s", err_msg());
	if (rescan(o) == 0)
		for (i = 0; i < o->s.len; i++)
			if (strcmp(o->s.n[i].run, o->run) == 0 &&
			    note_delete(o->g, o->op->noteable, o->s.n[i].id) ==
				0)
				gone = 1;
	if (!gone &&
	    (buf_printf(&o->prefix, "slack=void run=%s -->", o->run) < 0 ||
		notes_write(NULL, o->g, "POST", o->op->noteable, 0,
		    o->prefix.data) < 0))
		log_warn("cannot withdraw the claim: %s", err_msg());
	err_set(0, "%s", saved);
}

/* claim: a new pending note naming this run; racing runs: the oldest
 * live claim wins, the others delete theirs. *result is set when this
 * run does not act. */
static int
claim(struct once *o, int *result)
{
	struct json *d = NULL;
	const char *ca;
	int rc, w;

	rc = note_body(&o->body, o->op, "pending", o->run);
	if (rc == 0 && o->op->claim_extra)
		rc = buf_printf(&o->body, "\n\n%s", o->op->claim_extra);
	if (rc == 0)
		rc = notes_write(
		    &d, o->g, "POST", o->op->noteable, 0, o->body.data);
	ca = rc == 0 ? json_strp(json_root(d), "created_at") : NULL;
	if (rc == 0 &&
	    (json_int(&o->mine, json_get(json_root(d), "id")) < 0 ||
		o->mine <= 0 || iso8601_parse(&o->t, ca ? ca : "") < 0))
		rc = err_set(E_PARSE,
		    "POST %s/notes: no note id or time in the answer",
		    o->op->noteable);
	json_free(d);
	if (rc < 0) {
		withdraw(o, rc);
		return err_prefix(rc, "cannot add a note: ");
	}
	rc = rescan(o);
	if (rc < 0) {
		quietly_release(o->g, o->op, o->mine, &o->body);
		return rc;
	}
	w = record_winner(o->s.n, o->s.len, o->t);
	if (w < 0 || o->s.n[w].id == o->mine)
		return 0;
	*result =
	    o->s.n[w].state == RECORD_DONE ? RECORD_DONE_BEFORE : RECORD_BUSY;
	if (note_delete(o->g, o->op->noteable, o->mine) < 0)
		log_warn("cannot withdraw note %lld: %s", o->mine, err_msg());
	return 0;
}

/* unrecorded: acted but the PUT marking it done failed (rc): the record
 * is written anew; failing that, the claim goes, and the next run acts
 * again (at least once, never lost). The failed request is reported. */
static int
unrecorded(struct once *o, int rc)
{
	char saved[1024];

	rc = err_prefix(rc, "cannot update note %lld: ", o->mine);
	snprintf(saved, sizeof(saved), "%s", err_msg());
	if (notes_write(NULL, o->g, "POST", o->op->noteable, 0, o->body.data) <
	    0)
		log_warn("cannot record the action: %s", err_msg());
	err_set(0, "%s", saved);
	quietly_delete(o->g, o->op->noteable, o->mine);
	return rc;
}

/* deliver: act, then mark the claim done and delete the claims released
 * or abandoned before, so one record is left */
static int
deliver(struct once *o, int *result)
{
	const struct record_op *op = o->op;
	size_t i;
	int rc = op->act ? op->act(op->arg) : 0;

	if (rc < 0) {
		quietly_release(o->g, op, o->mine, &o->body);
		return rc;
	}
	rc = note_body(&o->body, op,
	    op->done_state ? op->done_state
		: op->act  ? "sent"
			   : "none",
	    NULL);
	if (rc == 0)
		rc = notes_write(
		    NULL, o->g, "PUT", op->noteable, o->mine, o->body.data);
	if (rc < 0)
		return unrecorded(o, rc);
	*result = RECORD_ACTED;
	for (i = 0; i < o->s.len; i++)
		if (o->s.n[i].id != o->mine && o->s.n[i].state != RECORD_DONE &&
		    !live(o->s.n, o->s.len, &o->s.n[i], o->t) &&
		    note_delete(o->g, op->noteable, o->s.n[i].id) < 0)
			log_warn("cannot delete note %lld: %s", o->s.n[i].id,
			    err_msg());
	return 0;
}

int
record_once(int *result, struct gitlab *g, const struct record_op *op)
{
	struct once o;
	size_t i;
	int rc, w = -1;

	*result = 0;
	memset(&o, 0, sizeof(o));
	o.g = g;
	o.op = op;
	buf_init(&o.prefix, 0);
	buf_init(&o.body, 0);
	rc = buf_printf(&o.prefix, "<!-- %s ", op->marker);
	if (rc == 0)
		rc = scan(&o.s, g, op->noteable, o.prefix.data, 0, 1);
	if (rc == 0 && done_before(&o.s))
		*result = RECORD_DONE_BEFORE;
	else if (rc == 0 && op->dry_run)
		*result = RECORD_DRY;
	/* another run's claim, live by GitLab's clock: that run delivers */
	o.t = gitlab_now(g);
	for (i = 0; rc == 0 && !*result && i < o.s.len; i++) {
		if (live(o.s.n, o.s.len, &o.s.n[i], o.t))
			*result = RECORD_BUSY;
		else if ((o.s.n[i].state == RECORD_RETRY ||
			     o.s.n[i].state == RECORD_PENDING) &&
		    (w < 0 || o.s.n[i].id < o.s.n[(size_t)w].id))
			w = (int)i;
	}
	nonce(o.run);
	if (rc == 0 && !*result)
		rc = w >= 0 ? takeover(&o, o.s.n[w].id, result)
			    : claim(&o, result);
	if (rc == 0 && !*result)
		rc = deliver(&o, result);
	scan_free(&o.s);
	buf_free(&o.prefix);
	buf_free(&o.body);
	return rc;
}
