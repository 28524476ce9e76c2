/* slack: incoming-webhook poster */
#ifndef RELAY_SLACK_H
#define RELAY_SLACK_H

#include <stddef.h>

struct buf;
struct http;

/* slack_post: POST {"text": text} to webhook. 429 is retried by http (honouring
 * Retry-After); other failures are not retried here, so a message is never
 * sent twice by one run. Returns 0, E_TEMP (5xx, network), E_PERM (Slack
 * refused: invalid_payload, no_service, channel_is_archived...). The
 * webhook URL is a secret: it never appears in messages. */
int slack_post(struct http *h, const char *webhook, const char *text);

/* slack_error_code: 1 when body is one of Slack's error codes (lowercase
 * letters and '_', at most 64 bytes), the only answer body shown */
int slack_error_code(const char *body, size_t len);

/* slack_link: <url|text> when url is an http(s) URL on the API's own
 * origin without a character that ends or splits a Slack link (url_is_own);
 * otherwise text alone: no link, mention or foreign URL from a server field
 * reaches Slack. text is escaped. */
int slack_link(
    struct buf *b, const char *url, const char *text, const char *api);

/* slack_escape: append s with Slack's three control characters (& < >)
 * escaped, so text from GitLab cannot forge links or mentions */
int slack_escape(struct buf *b, const char *s);

#endif
