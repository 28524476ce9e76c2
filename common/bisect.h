/* bisect: the pure part of a regression bisection over the first-parent
 * commits of a suspect range: which commits to pin next, how results
 * narrow the range, and the state's text as relay records it in a note.
 *
 * The range is sha[0..n-1], oldest first: the changes after the pin that
 * was good (the target branch's) up to the bump MR's pin, sha[n-1], which
 * failed. The culprit is the first bad commit: some i with every commit
 * before it good. */
#ifndef RELAY_BISECT_H
#define RELAY_BISECT_H

#include <stddef.h>

struct buf;

#define BISECT_MAX 400 /* changes in a range bisected at most */
#define BISECT_MAX_POINTS 8 /* drafts of one round at most */

/* marks of a commit */
enum {
	BISECT_UNKNOWN = '?',
	BISECT_RETRIED = 'r', /* unknown, its draft's pipeline retried once */
	BISECT_GOOD = 'g',
	BISECT_BAD = 'b',
	BISECT_SKIP = 's', /* no green pipeline, or failed differently twice */
};

/* what became of the bisection */
enum {
	BISECT_OPEN, /* a round to run */
	BISECT_FOUND, /* the culprit is sha[hi] */
	BISECT_INCONCLUSIVE, /* narrowed to (lo, hi] but no further */
};

struct bisect {
	size_t n;
	char (*sha)[41]; /* n commits, oldest first; owned */
	char *mark; /* n marks (BISECT_*), NUL-terminated; owned */
	int ways; /* k: k-1 points a round */
	int round; /* rounds started */
	int npoints; /* points of the running round, 0: none running */
	int points[BISECT_MAX_POINTS];
	char status[16]; /* running, found, inconclusive, aborted */
	char *jobs; /* the bump MR's FAILED_JOBS; owned */
};

/* bisect_init: a new bisection of n commits (sha[n-1] bad), k ways,
 * baseline failed jobs; b is zeroed first. 0 or E_NOMEM/E_USAGE. */
int bisect_init(struct bisect *b, const char (*sha)[41], size_t n, int ways,
    const char *jobs);
void bisect_free(struct bisect *b);

/* bisect_bounds: lo, the last good index (-1: the pin before the range),
 * hi, the first bad one; the culprit lies in (lo, hi] */
void bisect_bounds(const struct bisect *b, int *lo, int *hi);

/* bisect_points: up to max (<= ways - 1) evenly spaced unknown commits
 * strictly inside (lo, hi), ascending, into out; returns how many */
int bisect_points(const struct bisect *b, int *out, int max);

/* bisect_state: BISECT_OPEN, _FOUND or _INCONCLUSIVE from the marks:
 * found when hi is lo + 1; inconclusive when no unknown commit is left
 * inside (lo, hi) but some were skipped, or when a good commit comes
 * after a bad one (a flake inside the range) */
int bisect_state(const struct bisect *b);

/* bisect_format: append the state as "key=value" lines (the hidden part
 * of the state note) */
int bisect_format(struct buf *out, const struct bisect *b);

/* bisect_parse: the state from text holding bisect_format's lines; b is
 * zeroed first. 0, or E_PARSE on anything malformed. */
int bisect_parse(struct bisect *b, const char *text);

#endif
