/* url: which URLs a token may be sent to (shared by the HTTP and git
 * transports), and escaping for URL paths */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "url.h"

/* host_of: copy the host part of url (no brackets, no port) */
static int
host_of(char *out, size_t n, const char *url, const char **rest)
{
	const char *p = strstr(url, "://"), *end;
	size_t len;

	if (!p)
		return -1;
	p += 3;
	end = p + strcspn(p, "/?#");
	if (memchr(p, '@', (size_t)(end - p)))
		return -1; /* credentials in URLs are refused */
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(end - p));

		if (!rb)
			return -1;
		len = (size_t)(rb - p - 1);
		p++;
	} else {
		len = strcspn(p, ":/?#");
	}
	if (len == 0 || len >= n)
		return -1;
	memcpy(out, p, len);
	out[len] = '\0';
	if (rest)
		*rest = end;
	return 0;
}

int
url_allowed(const char *url)
{
	char host[256];

	if (host_of(host, sizeof(host), url, NULL) < 0)
		return err_set(E_USAGE, "not a valid http(s) URL");
	if (strncasecmp(url, "https://", 8) == 0)
		return 0;
	if (strncasecmp(url, "http://", 7) != 0)
		return err_set(E_USAGE, "only http and https URLs are allowed");
	if (strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0)
		return 0;
	{
		/* a real IPv4 literal in 127/8, not "127.0.0.1.evil.com" */
		struct in_addr a;

		if (inet_pton(AF_INET, host, &a) == 1 &&
		    (ntohl(a.s_addr) >> 24) == 127)
			return 0;
	}
	return err_set(
	    E_USAGE, "plain http is allowed only to loopback; use https");
}

int
url_same_origin(const char *a, const char *b)
{
	const char *ra, *rb;
	char ha[256], hb[256];

	if (host_of(ha, sizeof(ha), a, &ra) < 0 ||
	    host_of(hb, sizeof(hb), b, &rb) < 0)
		return 0;
	return ra - a == rb - b && strncasecmp(a, b, (size_t)(ra - a)) == 0;
}

char *
url_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s), i, j = 0;
	char *o;

	if (n > (SIZE_MAX - 1) / 3)
		return NULL;
	o = malloc(n * 3 + 1);
	if (!o)
		return NULL;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (isalnum(c) || c == '-' || c == '_' || c == '.' ||
		    c == '~') {
			o[j++] = (char)c;
		} else {
			o[j++] = '%';
			o[j++] = hex[c >> 4];
			o[j++] = hex[c & 15];
		}
	}
	o[j] = '\0';
	return o;
}

int
url_api_check(const char *url)
{
	const unsigned char *p;

	for (p = (const unsigned char *)url; p && *p; p++) {
		if (*p <= 0x20 || *p == 0x7f)
			return err_set(
			    E_USAGE, "a space or control character in the URL");
		if (*p == '?' || *p == '#')
			return err_set(E_USAGE,
			    "a query or fragment in the API root (%c...)", *p);
	}
	return url_allowed(url);
}

int
url_header_safe(const char *value)
{
	const unsigned char *p;

	if (!value || !*value)
		return err_set(E_USAGE, "empty");
	for (p = (const unsigned char *)value; *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return err_set(E_USAGE,
			    "holds a space or control character (a CR/LF would add headers)");
	return 0;
}

int
url_is_own(const char *url, const char *api)
{
	const unsigned char *p;

	if (!url || !api)
		return 0;
	if (strncasecmp(url, "https://", 8) != 0 &&
	    strncasecmp(url, "http://", 7) != 0)
		return 0;
	for (p = (const unsigned char *)url; *p; p++)
		if (*p <= 0x20 || *p == 0x7f || *p == '|' || *p == '<' ||
		    *p == '>' || *p == '(' || *p == ')' || *p == '[' ||
		    *p == ']' || *p == '"' || *p == '\\' || *p == '`')
			return 0;
	return url_same_origin(url, api);
}
