/* unit tests: repo's ref listing filter (the rest of repo runs against
 * real repositories in t70-mirror) */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "repo.h"
#include "tap.h"

#define A "1111111111111111111111111111111111111111"
#define B "2222222222222222222222222222222222222222"
#define Z "0000000000000000000000000000000000000000"
#define CAPS "report-status ofs-delta"
#define SVC "001f# service=git-receive-pack\n0000"

/* pkt: append a pkt-line holding the n bytes at s */
static void
pkt(struct buf *b, const char *s, size_t n)
{
	buf_printf(b, "%04zx", n + 4);
	buf_add(b, s, n);
}
#define PKT(b, lit) pkt((b), (lit), sizeof(lit) - 1)
#define RAW(b, lit) buf_add((b), (lit), sizeof(lit) - 1)

static int
same(const struct buf *a, const struct buf *b)
{
	return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

int
main(void)
{
	struct repo_refs keep = { 0 };
	struct buf in, out, want;

	buf_init(&in, 0);
	buf_init(&out, 0);
	buf_init(&want, 0);
	OK(repo_refs_add(&keep, "refs/heads/main", NULL) == 0);

	/* the capabilities ride on the first ref: they move to the first
	 * ref kept; refs not kept are gone */
	RAW(&in, SVC);
	PKT(&in, A " refs/tags/v1\0" CAPS "\n");
	PKT(&in, B " refs/heads/main\n");
	PKT(&in, A " refs/tags/v2\n");
	RAW(&in, "0000");
	RAW(&want, SVC);
	PKT(&want, B " refs/heads/main\0" CAPS "\n");
	RAW(&want, "0000");
	OK(repo_adv_filter(&out, in.data, in.len, &keep) == 0);
	OK(same(&out, &want));

	/* nothing kept: the capabilities alone, as an empty repository
	 * advertises them */
	buf_reset(&out);
	buf_reset(&want);
	repo_refs_free(&keep);
	OK(repo_refs_add(&keep, "refs/heads/other", NULL) == 0);
	RAW(&want, SVC);
	PKT(&want, Z " capabilities^{}\0" CAPS "\n");
	RAW(&want, "0000");
	OK(repo_adv_filter(&out, in.data, in.len, &keep) == 0);
	OK(same(&out, &want));

	/* an empty repository stays as it is */
	buf_reset(&in);
	buf_reset(&out);
	RAW(&in, SVC);
	PKT(&in, Z " capabilities^{}\0" CAPS "\n");
	RAW(&in, "0000");
	OK(repo_adv_filter(&out, in.data, in.len, &keep) == 0);
	OK(same(&out, &want));

	/* hostile: a length past the end, a bad hex digit, a short one, a
	 * ref line without a name */
	OK(repo_adv_filter(&out, SVC "0fff" A, sizeof(SVC) + 43, &keep) ==
	    E_PARSE);
	OK(repo_adv_filter(&out, "00zz", 4, &keep) == E_PARSE);
	OK(repo_adv_filter(&out, "0002", 4, &keep) == E_PARSE);
	OK(repo_adv_filter(&out, SVC "0008abcd", sizeof(SVC) + 7, &keep) ==
	    E_PARSE);
	OK(repo_adv_filter(&out, "00", 2, &keep) == E_PARSE);

	/* lookups sort the list once, then search it */
	repo_refs_free(&keep);
	OK(repo_refs_add(&keep, "refs/tags/v2", B) == 0);
	OK(repo_refs_add(&keep, "refs/heads/main", A) == 0);
	OK(repo_refs_add(&keep, "refs/tags/v1", A) == 0);
	OK(repo_refs_find(&keep, "refs/tags/v2") &&
	    strcmp(repo_refs_find(&keep, "refs/tags/v2")->oid, B) == 0);
	STREQ(keep.v[0].name, "refs/heads/main");
	OK(repo_refs_find(&keep, "refs/tags/v3") == NULL);
	OK(repo_refs_add(&keep, "refs/tags/v0", Z) == 0);
	OK(repo_refs_find(&keep, "refs/tags/v0") != NULL);

	buf_free(&in);
	buf_free(&out);
	buf_free(&want);
	repo_refs_free(&keep);
	return tap_done();
}
