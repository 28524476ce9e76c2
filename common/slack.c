/* slack: incoming-webhook poster */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "http.h"
#include "json.h"
#include "slack.h"
#include "url.h"

int
slack_post(struct http *h, const char *webhook, const char *text)
{
	struct http_resp r;
	struct http_req req = { "POST", webhook, HTTP_AUTH_NONE, NULL, NULL,
		NULL, "Slack webhook" };
	struct buf body;
	int rc;

	buf_init(&body, 1 << 20);
	rc = jw_strs(&body, "text", text, (char *)NULL);
	if (rc < 0) {
		buf_free(&body);
		return rc;
	}
	req.body = body.data;
	rc = http_do(h, &r, &req);
	buf_free(&body);
	if (rc < 0) {
		http_resp_free(&r);
		return rc;
	}
	if (r.status < 200 || r.status > 299) {
		/* Slack answers an error code ("invalid_payload",
		 * "channel_is_archived"); any other body (a proxy's page, an
		 * endpoint echoing the request and its secret path) is not
		 * printed */
		const char *code = slack_error_code(r.body.data, r.body.len)
		    ? r.body.data
		    : NULL;

		rc = err_set(
		    r.status == 429 || r.status >= 500 ? E_TEMP : E_PERM,
		    "POST Slack webhook: HTTP %ld%s%.*s", r.status,
		    code             ? ": "
			: r.body.len ? " (answer not shown)"
				     : "",
		    code ? (int)r.body.len : 0, code ? code : "");
	}
	http_resp_free(&r);
	return rc;
}

int
slack_error_code(const char *body, size_t len)
{
	size_t i;

	if (!body || len == 0 || len > 64)
		return 0;
	for (i = 0; i < len; i++)
		if (!((body[i] >= 'a' && body[i] <= 'z') || body[i] == '_'))
			return 0;
	return 1;
}

int
slack_link(struct buf *b, const char *url, const char *text, const char *api)
{
	int rc = 0;

	if (url_is_own(url, api)) {
		rc = buf_printf(b, "<%s|", url);
		if (rc == 0)
			rc = slack_escape(b, text);
		return rc ? rc : buf_putc(b, '>');
	}
	return slack_escape(b, text);
}

int
slack_escape(struct buf *b, const char *s)
{
	int rc = 0;

	for (; s && *s && rc == 0; s++) {
		if (*s == '&')
			rc = buf_puts(b, "&amp;");
		else if (*s == '<')
			rc = buf_puts(b, "&lt;");
		else if (*s == '>')
			rc = buf_puts(b, "&gt;");
		else
			rc = buf_putc(b, *s);
	}
	return rc;
}
