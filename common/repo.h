/* repo: the git side of relay-mirror, and the only libgit2 user. A local
 * bare cache repository, and connections to remotes that are never saved
 * in its config (tokens stay in memory). */
#ifndef RELAY_REPO_H
#define RELAY_REPO_H

#include <stddef.h>

struct repo;
struct repo_conn;

struct repo_ref {
	char *name; /* "refs/heads/main" */
	char oid[41]; /* hex */
	char *why; /* push: the server's reason for rejecting it, or NULL */
	const char *action; /* a push plan: "create", "fast-forward", "force"
	                     * or "delete" (static), or NULL */
};

struct repo_refs {
	struct repo_ref *v;
	size_t n, cap;
	int sorted; /* v is in name order (repo_refs_find sorts it) */
};

struct repo_remote {
	const char *url; /* https://, http://, file:// or a path */
	const char *user; /* basic auth user sent with token */
	const char *token; /* NULL: no credentials */
};

/* repo_global_init: libgit2 set-up; ca_file (or NULL: Debian's bundle) is
 * the CA file HTTPS trusts */
int repo_global_init(const char *ca_file, const char *user_agent);
void repo_global_shutdown(void);

/* repo_open: open the bare repository at path, creating it if absent,
 * and lock it for this process (E_TEMP when another run holds it) */
int repo_open(struct repo **out, const char *path);
void repo_free(struct repo *r);

/* repo_connect: connect to rm for fetching (push 0) or pushing (1).
 * Credentials go only to rm->url's own scheme, host and port. */
int repo_connect(struct repo_conn **out, struct repo *r,
    const struct repo_remote *rm, int push);
void repo_conn_free(struct repo_conn *c);
/* repo_conn_ls: the remote's refs (peeled "^{}" entries left out) and, in
 * *head (caller frees; NULL if unknown), the branch its HEAD names */
int repo_conn_ls(struct repo_conn *c, struct repo_refs *out, char **head);
/* repo_conn_fetch: fetch refspecs ("+src:dst"), no tag following, no
 * FETCH_HEAD; the connection is closed afterwards */
int repo_conn_fetch(struct repo_conn *c, char *const *specs, size_t n);
/* repo_conn_push: push refspecs; refs the server rejected are added to
 * *rejected with its reason. Over HTTP the pack is built before the
 * request is opened, on a connection of its own; keep (or NULL: all)
 * names the mirror's refs libgit2 may see, and so hide from its pack walk:
 * it must hold every ref pushed to. */
int repo_conn_push(struct repo_conn *c, char *const *specs, size_t n,
    struct repo_refs *keep, struct repo_refs *rejected);
/* repo_conn_push_pack: a first mirror: create the refs of specs on the
 * empty remote of c (HTTP, connected by repo_connect) with the cache's one
 * pack as it is, without recomputing its deltas. E_NOTFOUND, nothing
 * sent, when the cache holds several packs or the remote is not HTTP. */
int repo_conn_push_pack(struct repo_conn *c, char *const *specs, size_t n,
    struct repo_refs *rejected);

/* repo_local_refs: the cache's refs under prefix ("refs/relay/") */
int repo_local_refs(struct repo *r, const char *prefix, struct repo_refs *out);
int repo_ref_delete(struct repo *r, const char *name);
/* repo_descends: 1 when commit desc is anc or descends from it, 0 when not
 * or when anc is not in the cache (the mirror's own commits) */
int repo_descends(struct repo *r, const char *desc, const char *anc);

int repo_refs_add(struct repo_refs *l, const char *name, const char *oid);
/* repo_refs_find: the entry named name, or NULL; sorts l by name first
 * (a mirror has thousands of tags: lookups are binary searches) */
const struct repo_ref *repo_refs_find(struct repo_refs *l, const char *name);
void repo_refs_free(struct repo_refs *l);

struct buf;
/* repo_adv_filter: append to out the smart-protocol ref listing in (len
 * bytes) holding only the refs named in keep (capabilities kept) */
int repo_adv_filter(
    struct buf *out, const char *in, size_t len, struct repo_refs *keep);
/* repo_ref_name_ok: 1 when git accepts name as a ref name */
int repo_ref_name_ok(const char *name);

#endif
