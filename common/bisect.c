/* bisect: point selection, narrowing and the recorded state of a
 * regression bisection (see bisect.h); no I/O */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bisect.h"
#include "buf.h"
#include "err.h"
#include "util.h"

static int
alloc(struct bisect *b, size_t n)
{
	b->n = n;
	b->sha = calloc(n ? n : 1, sizeof(*b->sha));
	b->mark = calloc(n + 1, 1);
	if (!b->sha || !b->mark)
		return err_set(E_NOMEM, "out of memory");
	memset(b->mark, BISECT_UNKNOWN, n);
	return 0;
}

int
bisect_init(struct bisect *b, const char (*sha)[41], size_t n, int ways,
    const char *jobs)
{
	int rc;

	memset(b, 0, sizeof(*b));
	if (n < 1 || n > BISECT_MAX || ways < 2 || ways > BISECT_MAX_POINTS + 1)
		return err_set(
		    E_USAGE, "cannot bisect %zu changes %d ways", n, ways);
	rc = alloc(b, n);
	if (rc < 0)
		return rc;
	memcpy(b->sha, sha, n * sizeof(*b->sha));
	b->mark[n - 1] = BISECT_BAD;
	b->ways = ways;
	snprintf(b->status, sizeof(b->status), "running");
	b->jobs = str_dup(jobs ? jobs : "");
	return b->jobs ? 0 : err_set(E_NOMEM, "out of memory");
}

void
bisect_free(struct bisect *b)
{
	if (!b)
		return;
	free(b->sha);
	free(b->mark);
	free(b->jobs);
	memset(b, 0, sizeof(*b));
}

void
bisect_bounds(const struct bisect *b, int *lo, int *hi)
{
	size_t i;

	*lo = -1;
	*hi = (int)b->n - 1;
	for (i = 0; i < b->n; i++) {
		if (b->mark[i] == BISECT_GOOD)
			*lo = (int)i;
		if (b->mark[i] == BISECT_BAD && (int)i < *hi)
			*hi = (int)i;
	}
}

static int
candidate(const struct bisect *b, int i)
{
	return b->mark[i] == BISECT_UNKNOWN || b->mark[i] == BISECT_RETRIED;
}

static int
chosen(const int *out, int len, int i)
{
	int j;

	for (j = 0; j < len; j++)
		if (out[j] == i)
			return 1;
	return 0;
}

int
bisect_points(const struct bisect *b, int *out, int max)
{
	int lo, hi, m, j, len = 0, d;

	bisect_bounds(b, &lo, &hi);
	m = hi - lo;
	if (max > b->ways - 1)
		max = b->ways - 1;
	if (max > BISECT_MAX_POINTS)
		max = BISECT_MAX_POINTS;
	if (m < 2 || lo >= hi)
		return 0;
	for (j = 1; j < b->ways && len < max; j++) {
		/* the j-th of k evenly spaced cuts, rounded */
		int ideal = lo + (m * j + b->ways / 2) / b->ways;

		/* the nearest unknown commit inside the range, lower first */
		for (d = 0; d < m; d++) {
			int a = ideal - d, c = ideal + d;

			if (a > lo && a < hi && candidate(b, a) &&
			    !chosen(out, len, a)) {
				out[len++] = a;
				break;
			}
			if (c > lo && c < hi && candidate(b, c) &&
			    !chosen(out, len, c)) {
				out[len++] = c;
				break;
			}
		}
	}
	/* ascending */
	for (j = 1; j < len; j++) {
		int v = out[j], i = j;

		while (i > 0 && out[i - 1] > v) {
			out[i] = out[i - 1];
			i--;
		}
		out[i] = v;
	}
	return len;
}

int
bisect_state(const struct bisect *b)
{
	int lo, hi, i;
	size_t k;

	bisect_bounds(b, &lo, &hi);
	/* a good commit after a bad one: a flake somewhere */
	for (k = 0; k < b->n; k++)
		if (b->mark[k] == BISECT_GOOD && (int)k > hi)
			return BISECT_INCONCLUSIVE;
	if (hi == lo + 1)
		return BISECT_FOUND;
	for (i = lo + 1; i < hi; i++)
		if (candidate(b, i))
			return BISECT_OPEN;
	return BISECT_INCONCLUSIVE;
}

int
bisect_format(struct buf *out, const struct bisect *b)
{
	size_t i;
	int j;

	buf_printf(out, "status=%s\nround=%d\nways=%d\npoints=", b->status,
	    b->round, b->ways);
	for (j = 0; j < b->npoints; j++)
		buf_printf(out, "%s%d", j ? "," : "", b->points[j]);
	buf_printf(out, "\nmarks=%s\nshas=", b->mark);
	for (i = 0; i < b->n; i++)
		buf_printf(out, "%s%s", i ? "," : "", b->sha[i]);
	buf_printf(out, "\njobs=%s\n", b->jobs ? b->jobs : "");
	return buf_error(out);
}

/* line: the value of "key=" at a line start in text, length in *len */
static const char *
line(const char *text, const char *key, size_t *len)
{
	size_t kl = strlen(key);
	const char *p = text;

	while (p && *p) {
		if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
			p += kl + 1;
			*len = strcspn(p, "\n");
			return p;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

static int
number(const char *p, size_t len, long lo, long hi, long *out)
{
	char tmp[16];
	char *end;

	if (len == 0 || len >= sizeof(tmp))
		return -1;
	memcpy(tmp, p, len);
	tmp[len] = '\0';
	*out = strtol(tmp, &end, 10);
	return *end || *out < lo || *out > hi ? -1 : 0;
}

/* points: the comma-separated indexes (below n) of the line p, len bytes */
static int
points(struct bisect *b, const char *p, size_t len, size_t n)
{
	long v;

	while (len > 0) {
		size_t l = strcspn(p, ",\n");

		if (l > len)
			l = len;
		if (b->npoints >= BISECT_MAX_POINTS ||
		    number(p, l, 0, (long)n - 1, &v) < 0)
			return -1;
		b->points[b->npoints++] = (int)v;
		p += l;
		len -= l;
		if (len > 0) {
			p++;
			len--;
		}
	}
	return 0;
}

int
bisect_parse(struct bisect *b, const char *text)
{
	const char *p, *st, *mk, *sh, *pt, *jb;
	size_t len, slen, mlen, hlen, plen, jlen, i;
	long v;

	memset(b, 0, sizeof(*b));
	st = line(text, "status", &slen);
	mk = line(text, "marks", &mlen);
	sh = line(text, "shas", &hlen);
	pt = line(text, "points", &plen);
	jb = line(text, "jobs", &jlen);
	if (!st || !mk || !sh || !pt || !jb || slen == 0 ||
	    slen >= sizeof(b->status) || mlen < 1 || mlen > BISECT_MAX ||
	    hlen != mlen * 41 - 1)
		return err_set(E_PARSE, "malformed bisect state");
	if (alloc(b, mlen) < 0)
		return E_NOMEM;
	memcpy(b->status, st, slen);
	for (i = 0; i < mlen; i++) {
		if (!strchr("?rgbs", mk[i]) || mk[i] == '\0')
			goto bad;
		b->mark[i] = mk[i];
		memcpy(b->sha[i], sh + i * 41, 40);
		b->sha[i][40] = '\0';
		if (!is_sha(b->sha[i]) ||
		    (i + 1 < mlen && sh[i * 41 + 40] != ','))
			goto bad;
	}
	p = line(text, "round", &len);
	if (!p || number(p, len, 0, 1000, &v) < 0)
		goto bad;
	b->round = (int)v;
	p = line(text, "ways", &len);
	if (!p || number(p, len, 2, BISECT_MAX_POINTS + 1, &v) < 0)
		goto bad;
	b->ways = (int)v;
	if (points(b, pt, plen, mlen) < 0)
		goto bad;
	b->jobs = malloc(jlen + 1);
	if (!b->jobs) {
		bisect_free(b);
		return err_set(E_NOMEM, "out of memory");
	}
	memcpy(b->jobs, jb, jlen);
	b->jobs[jlen] = '\0';
	return 0;
bad:
	bisect_free(b);
	return err_set(E_PARSE, "malformed bisect state");
}
