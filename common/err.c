/* err: one process-wide error message (jobs are single-threaded) */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

static char msg[1024];

int
err_set(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return code;
}

int
err_prefix(int code, const char *fmt, ...)
{
	char old[sizeof(msg)];
	size_t n;
	va_list ap;

	memcpy(old, msg, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = strlen(msg);
	if (n < sizeof(msg) - 1)
		snprintf(msg + n, sizeof(msg) - n, "%s", old);
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
