/* log: stderr logging with a prefix, levels, sections and secret masking */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "log.h"
#include "util.h"

#define MAX_SECRETS 8

static const char *prefix = "relay";
static int level = LOG_INFO;
static int color;
static char *secrets[MAX_SECRETS];
static size_t nsecrets;
/* the run of debug lines being printed sits in this collapsed section */
static char debug_section[32];
static unsigned debug_sections;

/* debug_fold: debug lines (one per request) are folded, each run of them
 * into a collapsed GitLab section, so the job log shows the story and the
 * requests are one click away; any other line closes the run first. */
static void
debug_fold(int lvl)
{
	if (lvl == LOG_DEBUG && !debug_section[0]) {
		char header[128];

		snprintf(debug_section, sizeof(debug_section), "relay_debug_%u",
		    ++debug_sections);
		snprintf(header, sizeof(header), "%s: requests (RELAY_DEBUG)",
		    prefix);
		log_section_start(debug_section, header, 1);
	} else if (lvl != LOG_DEBUG) {
		log_end();
	}
}

void
log_end(void)
{
	if (!debug_section[0])
		return;
	log_section_end(debug_section);
	debug_section[0] = '\0';
}

void
log_init(const char *prog, int lvl, int use_color)
{
	static int once;

	prefix = prog;
	level = lvl;
	color = use_color;
	/* a section still open when main returns is closed in the log */
	if (lvl == LOG_DEBUG && !once)
		once = atexit(log_end) == 0;
}

static void
add_secret(const char *s)
{
	size_t i;

	if (!s || strlen(s) < 4 || nsecrets == MAX_SECRETS)
		return;
	for (i = 0; i < nsecrets; i++)
		if (strcmp(secrets[i], s) == 0)
			return;
	secrets[nsecrets] = str_dup(s);
	if (secrets[nsecrets])
		nsecrets++;
}

void
log_secret(const char *s)
{
	const char *p;

	add_secret(s);
	/* a webhook's secret is its path: masked wherever it shows alone
	 * (an error echoing the path, a message naming only the path) */
	p = s ? strstr(s, "://") : NULL;
	if (p) {
		p = strchr(p + 3, '/');
		if (p && strlen(p) >= 8)
			add_secret(p);
	}
}

void
log_forget_secrets(void)
{
	size_t i;

	for (i = 0; i < nsecrets; i++) {
		secure_zero(secrets[i], strlen(secrets[i]));
		free(secrets[i]);
		secrets[i] = NULL;
	}
	nsecrets = 0;
}

char *
log_mask(const char *line)
{
	struct buf b;
	const char *p = line;

	buf_init(&b, 0);
	while (*p) {
		size_t i, skip = 0;

		for (i = 0; i < nsecrets; i++) {
			size_t n = strlen(secrets[i]);

			if (strncmp(p, secrets[i], n) == 0) {
				skip = n;
				break;
			}
		}
		if (skip) {
			buf_puts(&b, "[MASKED]");
			p += skip;
		} else {
			buf_putc(&b, *p++);
		}
	}
	return buf_detach(&b);
}

static void
vlog(int lvl, const char *fmt, va_list ap)
{
	static const char *tag[] = { "error: ", "warning: ", "", "debug: " };
	static const char *col[] = { "\033[31;1m", "\033[33;1m", "",
		"\033[2m" };
	char line[4096];
	char *full, *masked;
	struct buf b;
	size_t n;
	va_list cp;
	int len;

	if (lvl > level)
		return;
	debug_fold(lvl);
	/* masked whole, then cut: a secret split by the cut is never half
	 * printed */
	va_copy(cp, ap);
	len = vsnprintf(line, sizeof(line), fmt, cp);
	va_end(cp);
	full = len >= (int)sizeof(line) ? malloc((size_t)len + 1) : NULL;
	if (full)
		vsnprintf(full, (size_t)len + 1, fmt, ap);
	masked = log_mask(full ? full : line);
	free(full);
	/* one line per message: a stray newline would split GitLab's log;
	 * other control characters (ANSI escapes from server text) are
	 * shown escaped */
	buf_init(&b, 0);
	for (n = 0; masked[n] && b.len < sizeof(line) - 8; n++) {
		unsigned char c = (unsigned char)masked[n];

		if (c == '\n' || c == '\r' || c == '\t')
			buf_putc(&b, ' ');
		else if (c < 0x20 || c == 0x7f)
			buf_printf(&b, "\\x%02x", c);
		else
			buf_putc(&b, (char)c);
	}
	free(masked);
	masked = buf_detach(&b);
	if (color && *col[lvl])
		fprintf(stderr, "%s%s: %s%s\033[0m\n", col[lvl], prefix,
		    tag[lvl], masked);
	else
		fprintf(stderr, "%s: %s%s\n", prefix, tag[lvl], masked);
	free(masked);
}

#define LOGFN(name, lvl)                                                       \
	void name(const char *fmt, ...)                                        \
	{                                                                      \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		vlog(lvl, fmt, ap);                                            \
		va_end(ap);                                                    \
	}

LOGFN(log_error, LOG_ERROR)
LOGFN(log_warn, LOG_WARN)
LOGFN(log_info, LOG_INFO)
LOGFN(log_debug, LOG_DEBUG)

void
log_section_start(const char *name, const char *header, int collapsed)
{
	char *masked = log_mask(header);

	fprintf(stderr, "\033[0Ksection_start:%lld:%s%s\r\033[0K%s\n",
	    (long long)time(NULL), name, collapsed ? "[collapsed=true]" : "",
	    masked);
	free(masked);
}

void
log_section_end(const char *name)
{
	fprintf(stderr, "\033[0Ksection_end:%lld:%s\r\033[0K\n",
	    (long long)time(NULL), name);
}
