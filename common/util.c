/* util: small string helpers */
#define _DEFAULT_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "util.h"

void
secure_zero(void *p, size_t n)
{
	explicit_bzero(p, n);
}

char *
str_dup(const char *s)
{
	return str_ndup(s, strlen(s));
}

char *
str_ndup(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
str_printf(const char *fmt, ...)
{
	va_list ap, aq;
	char *p = NULL;
	int n;

	va_start(ap, fmt);
	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, ap);
	if (n >= 0)
		p = malloc((size_t)n + 1);
	if (p)
		vsnprintf(p, (size_t)n + 1, fmt, aq);
	va_end(aq);
	va_end(ap);
	return p;
}

char *
str_trim(char *s)
{
	size_t n = strlen(s), i = 0;

	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	s[n] = '\0';
	while (isspace((unsigned char)s[i]))
		i++;
	if (i)
		memmove(s, s + i, n - i + 1);
	return s;
}

int
str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

int
is_sha(const char *s)
{
	size_t i;

	for (i = 0; i < 40; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return s[40] == '\0';
}

int
parse_long(long *out, const char *s, long min, long max)
{
	char *end;
	long v;

	if (!s || !*s || isspace((unsigned char)*s))
		return err_set(E_USAGE,
		    "expected a whole number from %ld to %ld", min, max);
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return err_set(E_USAGE,
		    "expected a whole number from %ld to %ld", min, max);
	*out = v;
	return 0;
}

int
parse_bool(int *out, const char *s)
{
	static const char *yes[] = { "true", "1", "yes", "on" };
	static const char *no[] = { "false", "0", "no", "off", "" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	return err_set(E_USAGE, "expected true or false");
}

long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
sleep_ms(long ms)
{
	struct timespec ts, rem;

	if (ms <= 0)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &rem) < 0 && errno == EINTR)
		ts = rem;
}

/* days_from_civil: Howard Hinnant's algorithm, proleptic Gregorian */
static long long
days_from_civil(long long y, unsigned m, unsigned d)
{
	long long era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

static int
digits(const char *s, int n, int *out)
{
	int i, v = 0;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int
iso8601_parse(long long *out, const char *s)
{
	int y, mo, d, h, mi, sec, oh = 0, om = 0;
	const char *p;
	long long t;

	if (strlen(s) < 19 || digits(s, 4, &y) || s[4] != '-' ||
	    digits(s + 5, 2, &mo) || s[7] != '-' || digits(s + 8, 2, &d) ||
	    (s[10] != 'T' && s[10] != ' ') || digits(s + 11, 2, &h) ||
	    s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
	    digits(s + 17, 2, &sec))
		return err_set(E_PARSE, "bad timestamp");
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    sec > 60)
		return err_set(E_PARSE, "bad timestamp");
	p = s + 19;
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++)
			;
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1;

		if (digits(p + 1, 2, &oh) || p[3] != ':' ||
		    digits(p + 4, 2, &om))
			return err_set(E_PARSE, "bad timestamp");
		oh *= sign;
		om *= sign;
		p += 6;
	} else {
		return err_set(E_PARSE, "bad timestamp");
	}
	if (*p)
		return err_set(E_PARSE, "bad timestamp");
	t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400LL +
	    h * 3600LL + mi * 60LL + sec;
	*out = t - (oh * 3600LL + om * 60LL);
	return 0;
}

int
list_next(const char **p, const char **item, size_t *len)
{
	const char *s = *p;

	for (;;) {
		size_t n;

		while (*s == ' ' || *s == ',')
			s++;
		if (!*s)
			break;
		n = strcspn(s, ",");
		*item = s;
		s += n;
		while (n > 0 && (*item)[n - 1] == ' ')
			n--;
		if (n > 0) {
			*len = n;
			*p = s;
			return 1;
		}
	}
	*p = s;
	return 0;
}

int
list_has(const char *list, const char *item)
{
	size_t n = item ? strlen(item) : 0, len;
	const char *e;

	if (!list || n == 0)
		return 0;
	while (list_next(&list, &e, &len))
		if (len == n && strncmp(e, item, n) == 0)
			return 1;
	return 0;
}

void
sha_lower(char out[41], const char *sha)
{
	size_t i;

	for (i = 0; i < 40 && sha[i]; i++)
		out[i] = (char)tolower((unsigned char)sha[i]);
	out[i] = '\0';
}
