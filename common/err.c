/* err: one process-wide error message (jobs are single-threaded) */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"

static char msg[1024];

/* store: the message masked whole, then cut to fit, so a secret split by
 * the cut is never half kept */
static void
store(const char *prefix, const char *fmt, va_list ap)
{
	char small[sizeof(msg)], *full = NULL, *masked;
	va_list cp;
	size_t pn = prefix ? strlen(prefix) : 0;
	int len;

	if (!fmt) /* never by relay; also quiets gcc 12's -fsanitize build */
		fmt = "";
	va_copy(cp, ap);
	len = vsnprintf(small, sizeof(small), fmt, cp);
	va_end(cp);
	if (len < 0)
		len = 0;
	full = malloc((size_t)len + pn + 1);
	if (!full) {
		snprintf(msg, sizeof(msg), "%s", small);
		return;
	}
	vsnprintf(full, (size_t)len + 1, fmt, ap);
	if (pn)
		memcpy(full + len, prefix, pn + 1);
	masked = log_mask(full);
	snprintf(msg, sizeof(msg), "%s", masked ? masked : full);
	free(masked);
	free(full);
}

int
err_set(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	store(NULL, fmt, ap);
	va_end(ap);
	return code;
}

int
err_prefix(int code, const char *fmt, ...)
{
	char old[sizeof(msg)];
	va_list ap;

	memcpy(old, msg, sizeof(old));
	va_start(ap, fmt);
	store(old, fmt, ap);
	va_end(ap);
	return code;
}

const char *
err_msg(void)
{
	return msg[0] ? msg : "unknown error";
}

void
err_clear(void)
{
	msg[0] = '\0';
}

int
err_exit(int code)
{
	switch (code) {
	case E_OK: return EXIT_DONE;
	case E_NOTFOUND:
	case E_PERM:
	case E_CONFLICT: return EXIT_UNAVAILABLE;
	case E_TEMP:
	/* A malformed or truncated answer comes from an interrupted transfer
	 * or a proxy's error page: re-running is the right response. */
	case E_PARSE: return EXIT_TEMPFAIL;
	case E_USAGE:
	case E_INPUT: return EXIT_USAGE;
	case E_CONFIG: return EXIT_CONFIG;
	default: return EXIT_SOFTWARE;
	}
}
