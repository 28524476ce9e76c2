/* url: which URLs a token may be sent to, and escaping for URL paths */
#ifndef RELAY_URL_H
#define RELAY_URL_H

/* url_allowed: https anywhere; plain http only to loopback; no
 * credentials in the URL */
int url_allowed(const char *url);
/* url_same_origin: same scheme, host and port */
int url_same_origin(const char *a, const char *b);
/* url_escape: percent-encode everything but RFC 3986 unreserved; caller frees */
char *url_escape(const char *s);

/* url_api_check: an API root: url_allowed, and no white space, control
 * character, query or fragment (they would end up in every request path) */
int url_api_check(const char *url);
/* url_header_safe: a value sent in an HTTP header (a token): visible
 * ASCII or UTF-8 only, no space, CR, LF or other control character */
int url_header_safe(const char *value);

/* url_is_own: an http(s) URL on api's origin (scheme, host, port) that
 * holds nothing that ends or splits a link in Slack or markdown (space,
 * control characters, | < > ( ) [ ] " \ `): safe to link */
int url_is_own(const char *url, const char *api);

#endif
