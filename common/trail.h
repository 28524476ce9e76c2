/* trail: where a source change went. Each canonical source MR named in a
 * bump's first-parent range carries one note written by relay's identity:
 * the environments of the target the change reached, when, and through
 * which bump MR. The note is created once (common/record.c: racing runs
 * write one) and edited in place as the change advances; a note written
 * by anyone else is ignored, and a note is never moved back. */
#ifndef RELAY_TRAIL_H
#define RELAY_TRAIL_H

#include <stddef.h>

struct gitlab;

#define TRAIL_MAX_REFS 500

/* trail_refs: the MRs of project canonical ("gitlab-org/gitaly") named by
 * the merge commits ("See merge request gitlab-org/gitaly!12") of the
 * first-parent commits of src ("/projects/x") reachable from `to` down to,
 * not including, `from`, and for a commit no such line names (a squash or
 * fast-forward merge) the merged MRs of canonical GitLab lists for it
 * (GET .../repository/commits/:sha/merge_requests; 404: none); newest first, each once, at most
 * TRAIL_MAX_REFS. *out (n strings "gitlab-org/gitaly!12") is freed with
 * trail_refs_free. E_TEMP when `from` is not reached within 5 pages. */
int trail_refs(char ***out, size_t *n, struct gitlab *g, const char *src,
    const char *from, const char *to, const char *canonical);
void trail_refs_free(char **v, size_t n);

/* trail_ref: 1 when ref ("gitlab-org/gitaly!12") names an MR of project
 * canonical (case-insensitive path, iid 1 to 10^9 in digits only); its
 * project path goes to proj (n bytes), its iid to *iid. Else 0. Pure. */
int trail_ref(char *proj, size_t n, long long *iid, const char *ref,
    const char *canonical);

/* trail_times: at[i] = when relay's own record on noteable (a bump MR)
 * says envs[i] was reached: the creation time (GitLab's clock) of the
 * oldest trusted "<!-- relay:deployed env=NAME " note; 0 when none */
int trail_times(long long *at, struct gitlab *g, const char *noteable,
    const char *const *envs, size_t n);

enum {
	TRAIL_SAME = 1, /* the note already says this (or more) */
	TRAIL_CREATED,
	TRAIL_EDITED,
	TRAIL_BUSY, /* another run is writing it */
	TRAIL_DRY, /* dry run: would write */
};

/* trail_note: the one note keyed by marker ("relay:trail
 * target=gitlab-org/gitlab") on noteable ("/projects/x/merge_requests/7"):
 * created with text, or edited to text when it records fewer than level
 * environments (or the same number with other text). Returns 0 or < 0. */
int trail_note(int *result, struct gitlab *g, const char *noteable,
    const char *marker, const char *text, int level, int dry_run);

#endif
