/* slack: incoming-webhook poster */
#ifndef RELAY_SLACK_H
#define RELAY_SLACK_H

struct buf;
struct http;

/* slack_post: POST {"text": text} to webhook. 429 is retried by http (honouring
 * Retry-After); other failures are not retried here, so a message is never
 * sent twice by one run. Returns 0, E_TEMP (5xx, network), E_PERM (Slack
 * refused: invalid_payload, no_service, channel_is_archived...). The
 * webhook URL is a secret: it never appears in messages. */
int slack_post(struct http *h, const char *webhook, const char *text);

/* slack_escape: append s with Slack's three control characters (& < >)
 * escaped, so text from GitLab cannot forge links or mentions */
int slack_escape(struct buf *b, const char *s);

#endif
