/* range: the changes between two pinned SHAs of a component, as GitLab's
 * first-parent history of the source project names them */
#ifndef RELAY_RANGE_H
#define RELAY_RANGE_H

struct buf;
struct gitlab;
struct gitlab_pager;

/* range_list: append a Markdown list of the first-parent commits reachable
 * from `to` down to (not including) `from` in project path src
 * ("/projects/x"), newest first; merge commits are shown as the merge
 * request they merged ("group/project!12 Title"). At most max entries are
 * listed, then "... and N more". Reads at most 5 pages of 100. */
int range_list(struct buf *b, struct gitlab *g, const char *src,
    const char *from, const char *to, long max);

/* range_pager: a pager over the first-parent commits of ref (a branch,
 * escaped, or a SHA) in project path src, newest first, 100 a page */
int range_pager(struct gitlab_pager *p, struct gitlab *g, const char *src,
    const char *ref, int max_pages);
/* range_merge_base: the merge base of commits a and b in project path proj
 * ("/projects/x") into out (41 bytes); 1 found, 0 when they share no
 * history (GitLab's 404), < 0 error (an unknown ref is GitLab's 400) */
int range_merge_base(char *out, struct gitlab *g, const char *proj,
    const char *a, const char *b);

/* range_mr_ref: "group/project!123" from a merge commit message into out;
 * 1 when found, else 0 */
int range_mr_ref(char *out, size_t n, const char *msg);

#endif
