/* fuzz what keeps server text from changing meaning on the way: record
 * markers, the URL checks (API root, header values, links to GitLab's own
 * origin), markdown and Slack escaping, dotenv value encoding, log masking */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dotenv.h"
#include "log.h"
#include "notes.h"
#include "record.h"
#include "slack.h"
#include "url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define API "https://gitlab.example.com/api/v4"
#define P "<!-- relay:notified pipeline=12 "

static void
check_notes(const char *s)
{
	struct buf b;
	size_t i;

	buf_init(&b, 0);
	if (notes_escape(&b, s) == 0 && b.data) {
		for (i = 0; i < b.len; i++) {
			unsigned char c = (unsigned char)b.data[i];

			/* no new line (quick action), no HTML or marker */
			assert(c >= 0x20 && c != 0x7f && c != '<' && c != '>');
			/* every markdown opener is escaped */
			if (strchr("[]()`*_|", c))
				assert(i > 0 && b.data[i - 1] == '\\');
			/* every @ is followed by a word joiner */
			if (c == '@')
				assert(i + 3 < b.len + 1 &&
				    memcmp(b.data + i + 1, "\xe2\x81\xa0", 3) ==
					0);
		}
	}
	buf_free(&b);
}

static void
check_slack(const char *s)
{
	struct buf b;
	size_t i;

	buf_init(&b, 0);
	if (slack_escape(&b, s) == 0 && b.data)
		for (i = 0; i < b.len; i++)
			assert(b.data[i] != '<' && b.data[i] != '>');
	buf_reset(&b);
	if (slack_link(&b, s, "x", API) == 0 && b.data && url_is_own(s, API))
		/* a link holds one '|' and closes where it should */
		assert(strchr(b.data, '|') == strrchr(b.data, '|') &&
		    strchr(b.data, '>') == b.data + b.len - 1);
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), run[17];
	struct dotenv *d = NULL;
	const unsigned char *p;
	int st;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	st = record_state(s, P, run);
	assert(st >= RECORD_NONE && st <= RECORD_VOID && strlen(run) <= 16);
	if (url_is_own(s, API)) {
		assert(url_same_origin(s, API));
		assert(!strpbrk(s, "|<> ()[]\"`\\"));
	}
	if (url_header_safe(s) == 0 || url_api_check(s) == 0)
		for (p = (const unsigned char *)s; *p; p++)
			assert(*p > 0x20 && *p != 0x7f);
	check_notes(s);
	check_slack(s);
	if (dotenv_new(&d) == 0) {
		if (dotenv_set(d, "K", s) == 0)
			for (p = (const unsigned char *)dotenv_get(d, "K"); *p;
			     p++)
				assert(*p >= 0x20 && *p != 0x7f && *p != '$' &&
				    *p != '`');
		dotenv_free(d);
	}
	/* a secret is never printed, whole or cut */
	log_secret("https://hooks.slack.com/services/T0/B0/SECRETSECRET");
	{
		char *m = log_mask(s);

		assert(m && !strstr(m, "/services/T0/B0/SECRETSECRET"));
		free(m);
	}
	free(s);
	return 0;
}
