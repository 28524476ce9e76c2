/* unit tests: URL checks, markdown and Slack escaping, secret masking */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "log.h"
#include "notes.h"
#include "slack.h"
#include "tap.h"
#include "url.h"

#define API "https://gitlab.example.com/api/v4"

static char out[4096];

static const char *
md(const char *s)
{
	struct buf b;

	buf_init(&b, 0);
	notes_escape(&b, s);
	snprintf(out, sizeof(out), "%s", b.data ? b.data : "");
	buf_free(&b);
	return out;
}

static const char *
slink(const char *url, const char *text)
{
	struct buf b;

	buf_init(&b, 0);
	slack_link(&b, url, text, API);
	snprintf(out, sizeof(out), "%s", b.data ? b.data : "");
	buf_free(&b);
	return out;
}

static const char *
mlink(const char *text, const char *url)
{
	struct buf b;

	buf_init(&b, 0);
	notes_link(&b, text, url, API);
	snprintf(out, sizeof(out), "%s", b.data ? b.data : "");
	buf_free(&b);
	return out;
}

int
main(void)
{
	char *m;
	char big[3000];

	/* the API root and tokens: checked before any request */
	OK(url_api_check(API) == 0);
	OK(url_api_check(API " ") == E_USAGE);
	OK(url_api_check(API "?private_token=x") == E_USAGE);
	OK(url_api_check(API "#x") == E_USAGE);
	OK(url_api_check("http://evil.example/api/v4") == E_USAGE);
	OK(url_header_safe("glpat-abc_DEF-123") == 0);
	OK(url_header_safe("glpat\r\nX-Injected: yes") == E_USAGE);
	OK(url_header_safe("glpat\x1b") == E_USAGE);
	OK(url_header_safe("glpat abc") == E_USAGE);
	OK(url_header_safe("") == E_USAGE);

	/* links only to plain URLs of GitLab's own origin */
	OK(url_is_own("https://gitlab.example.com/g/p/-/pipelines/1", API));
	OK(!url_is_own("https://gitlab.example.com.evil.example/x", API));
	OK(!url_is_own("https://evil.example/x", API));
	OK(!url_is_own("http://gitlab.example.com/x", API)); /* scheme */
	OK(!url_is_own("https://gitlab.example.com:8443/x", API)); /* port */
	OK(!url_is_own("https://gitlab.example.com/x|<!channel>", API));
	OK(!url_is_own("https://gitlab.example.com/x)[y](https://e)", API));
	OK(!url_is_own("https://gitlab.example.com/x y", API));
	OK(!url_is_own("javascript:alert(1)", API));
	OK(!url_is_own(NULL, API));
	STREQ(slink("https://gitlab.example.com/g/p/-/merge_requests/1", "!1"),
	    "<https://gitlab.example.com/g/p/-/merge_requests/1|!1>");
	STREQ(slink("https://evil.example/x|<!channel>", "!1"), "!1");
	STREQ(slink("https://gitlab.example.com/x", "<!here> & co"),
	    "<https://gitlab.example.com/x|&lt;!here&gt; &amp; co>");
	STREQ(
	    mlink("compare", "https://gitlab.example.com/g/p/-/compare/a...b"),
	    "[compare](https://gitlab.example.com/g/p/-/compare/a...b)");
	STREQ(mlink("compare", "https://evil.example/x"), "compare");

	/* markdown: no link, mention, quick action, HTML or marker */
	STREQ(md("rspec 1/2"), "rspec 1\\/2");
	STREQ(md("[x](https://evil.example)"),
	    "\\[x\\]\\(https\\:\\/\\/evil\\.example\\)");
	STREQ(md("@all"),
	    "@\xe2\x81\xa0"
	    "all");
	STREQ(md("a\n/merge"), "a \\/merge");
	STREQ(md("<!-- relay:stale slack=sent -->"),
	    "&lt;!\xe2\x81\xa0\\-\\- relay\\:stale slack=sent \\-\\-&gt;");
	STREQ(md("`x`\x1b[31m"), "\\`x\\` \\[31m");
	STREQ(md(NULL), "");

	/* Slack's answers: error codes only */
	OK(slack_error_code("channel_is_archived", 19));
	OK(!slack_error_code("no such hook: /slack/T0/B0/SECRET", 33));
	OK(!slack_error_code("", 0));

	/* a webhook's path is masked on its own; a secret is masked before
	 * a message is cut */
	log_secret("https://hooks.slack.com/services/T0/B0/SECRETSECRET");
	m = log_mask("POST /services/T0/B0/SECRETSECRET: 404");
	STREQ(m, "POST [MASKED]: 404");
	free(m);
	memset(big, 'x', sizeof(big));
	big[1015] = '\0';
	err_set(E_TEMP,
	    "%s https://hooks.slack.com/services/T0/B0/SECRETSECRET", big);
	OK(!strstr(err_msg(), "SECRET"));
	OK(strlen(err_msg()) < 1024);
	err_set(
	    E_TEMP, "at https://hooks.slack.com/services/T0/B0/SECRETSECRET");
	STREQ(err_msg(), "at [MASKED]");
	log_forget_secrets();
	return tap_done();
}
