/* unit tests: bisect (point selection, narrowing, the recorded state) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bisect.h"
#include "buf.h"
#include "err.h"
#include "tap.h"

static char shas[BISECT_MAX][41];

static void
make_shas(size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		snprintf(shas[i], 41, "%040zx", i + 1);
}

/* run: bisect n changes with the culprit at c, k ways, commits in skip
 * having no green pipeline; returns the rounds, *found the verdict */
static int
run(size_t n, int c, int k, const char *skip, int *state, int *culprit)
{
	struct bisect b;
	int rounds = 0, pts[BISECT_MAX_POINTS], np, i, lo, hi;

	make_shas(n);
	if (bisect_init(&b, (const char(*)[41])shas, n, k, "rspec") < 0)
		return -1;
	while ((*state = bisect_state(&b)) == BISECT_OPEN && rounds < 100) {
		np = bisect_points(&b, pts, BISECT_MAX_POINTS);
		if (np == 0)
			break;
		rounds++;
		for (i = 0; i < np; i++) {
			if (skip && strchr(skip, 'a' + pts[i]))
				b.mark[pts[i]] = BISECT_SKIP;
			else
				b.mark[pts[i]] =
				    pts[i] < c ? BISECT_GOOD : BISECT_BAD;
		}
	}
	bisect_bounds(&b, &lo, &hi);
	*culprit = hi;
	bisect_free(&b);
	return rounds;
}

int
main(void)
{
	static const size_t sizes[] = { 1, 2, 7, 40 };
	struct bisect b, p;
	struct buf t;
	size_t s;
	int rounds, st, culprit, k, pts[BISECT_MAX_POINTS];

	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		int n = (int)sizes[s];
		int at[3] = { 0, n / 2, n - 1 }, a;

		for (k = 2; k <= 3; k++)
			for (a = 0; a < 3; a++) {
				rounds = run(
				    (size_t)n, at[a], k, NULL, &st, &culprit);
				printf("# n=%d culprit=%d k=%d: %d rounds\n", n,
				    at[a], k, rounds);
				OK(st == BISECT_FOUND && culprit == at[a]);
				if (n == 40)
					OK(rounds <= (k == 2 ? 6 : 4));
				if (n == 1)
					OK(rounds == 0);
				if (n == 2)
					OK(rounds == 1);
			}
	}
	/* the worst case of 40 over every culprit */
	for (k = 2; k <= 3; k++) {
		int c, worst = 0;

		for (c = 0; c < 40; c++) {
			rounds = run(40, c, k, NULL, &st, &culprit);
			OK(st == BISECT_FOUND && culprit == c);
			if (rounds > worst)
				worst = rounds;
		}
		OK(worst <= (k == 2 ? 6 : 4));
	}

	/* first round of 40, k=2: the middle; k=3: two thirds */
	make_shas(40);
	OK(bisect_init(&b, (const char(*)[41])shas, 40, 2, "") == 0);
	OK(bisect_points(&b, pts, 8) == 1 && pts[0] == 19);
	bisect_free(&b);
	OK(bisect_init(&b, (const char(*)[41])shas, 40, 3, "") == 0);
	OK(bisect_points(&b, pts, 8) == 2 && pts[0] == 12 && pts[1] == 26);
	/* a cap on drafts: one point only */
	OK(bisect_points(&b, pts, 1) == 1);
	/* a skipped point: its neighbour instead */
	b.mark[12] = BISECT_SKIP;
	OK(bisect_points(&b, pts, 8) == 2 && pts[0] == 11);
	bisect_free(&b);

	/* a skipped point next to the culprit: inconclusive, range kept */
	rounds = run(7, 3, 2, "c", &st, &culprit);
	OK(st == BISECT_INCONCLUSIVE && culprit == 3);
	/* skipped elsewhere: still found */
	rounds = run(7, 5, 2, "c", &st, &culprit);
	OK(st == BISECT_FOUND && culprit == 5);

	/* a good commit after a bad one: inconclusive */
	make_shas(7);
	OK(bisect_init(&b, (const char(*)[41])shas, 7, 2, "") == 0);
	b.mark[2] = BISECT_BAD;
	b.mark[4] = BISECT_GOOD;
	OK(bisect_state(&b) == BISECT_INCONCLUSIVE);
	bisect_free(&b);

	/* the state's text round-trips */
	make_shas(5);
	OK(bisect_init(&b, (const char(*)[41])shas, 5, 3,
	       "rspec: [ruby-3.3%2C pg-16],qa/smoke") == 0);
	b.mark[1] = BISECT_GOOD;
	b.mark[2] = BISECT_RETRIED;
	b.round = 2;
	b.npoints = 2;
	b.points[0] = 2;
	b.points[1] = 3;
	buf_init(&t, 0);
	OK(bisect_format(&t, &b) == 0);
	OK(bisect_parse(&p, t.data) == 0);
	STREQ(p.mark, "?gr?b");
	OK(p.n == 5 && p.ways == 3 && p.round == 2 && p.npoints == 2 &&
	    p.points[1] == 3);
	STREQ(p.sha[4], shas[4]);
	STREQ(p.jobs, "rspec: [ruby-3.3%2C pg-16],qa/smoke");
	STREQ(p.status, "running");
	bisect_free(&p);
	bisect_free(&b);

	/* hostile state text */
	OK(bisect_parse(&p, "") == E_PARSE);
	OK(bisect_parse(&p,
	       "status=running\nround=1\nways=2\npoints=\n"
	       "marks=?x\nshas=" /* bad mark, short shas */
	       "\njobs=\n") == E_PARSE);
	buf_reset(&t);
	buf_puts(&t,
	    "status=running\nround=1\nways=2\npoints=9\nmarks=?b\n"
	    "shas=0000000000000000000000000000000000000001,"
	    "0000000000000000000000000000000000000002\njobs=\n");
	OK(bisect_parse(&p, t.data) == E_PARSE); /* point out of range */
	buf_reset(&t);
	buf_puts(&t,
	    "status=running\nround=1\nways=2\npoints=0\nmarks=?b\n"
	    "shas=0000000000000000000000000000000000000001,"
	    "0000000000000000000000000000000000000002\njobs=\n");
	OK(bisect_parse(&p, t.data) == 0 && p.npoints == 1);
	bisect_free(&p);
	buf_free(&t);
	return tap_done();
}
