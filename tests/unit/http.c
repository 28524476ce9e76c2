/* unit tests: http's parsers (transfers are tested end to end) */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "http.h"
#include "url.h"
#include "tap.h"

static char *
next(const char *link)
{
	char *out = NULL;

	if (http_link_next(&out, link) < 0)
		return strdup("ERROR");
	return out;
}

int
main(void)
{
	char *s;
	long v;

	s = next("<https://g/api/v4/p?page=2&per_page=20>; rel=\"next\", "
		 "<https://g/api/v4/p?page=1>; rel=\"first\", "
		 "<https://g/api/v4/p?page=9>; rel=\"last\"");
	STREQ(s, "https://g/api/v4/p?page=2&per_page=20");
	free(s);
	s = next("<https://g/p?page=1>; rel=\"prev\", <https://g/p?page=3>; "
		 "rel=\"next\"");
	STREQ(s, "https://g/p?page=3");
	free(s);
	s = next("<https://g/p?cursor=abc>; rel=\"first next\"");
	STREQ(s, "https://g/p?cursor=abc");
	free(s);
	s = next("<https://g/p?page=1>; rel=next");
	STREQ(s, "https://g/p?page=1");
	free(s);
	s = next("<https://g/p?page=1>; rel=\"first\", <https://g/p?page=9>; "
		 "rel=\"last\"");
	OK(s == NULL);
	s = next("<https://g/p?page=1>; rel=\"nextish\"");
	OK(s == NULL);
	s = next("");
	OK(s == NULL);
	s = next("<unterminated; rel=\"next\"");
	STREQ(s, "ERROR");
	free(s);
	s = next("<>; rel=\"next\"");
	STREQ(s, "ERROR");
	free(s);
	s = next("garbage without brackets rel=next");
	OK(s == NULL);
	/* found by make fuzz: a target is a URI-reference, no '<' or space */
	s = next("<<https://g/p?page=2>; rel=\"next\"");
	STREQ(s, "ERROR");
	free(s);
	s = next("<https://g/p page=2>; rel=\"next\"");
	STREQ(s, "ERROR");
	free(s);

	/* Date: GitLab's clock (RFC 9110 IMF-fixdate) */
	{
		long long t = 0;

		OK(http_date(&t, "Wed, 21 Oct 2015 07:28:00 GMT") == 0 &&
		    t == 1445412480LL);
		OK(http_date(&t, "Fri, 27 Nov 2026 15:20:00 GMT") == 0 &&
		    t == 1795792800LL);
		OK(http_date(&t, "Wed, 21 Oct 2015 07:28:00 CET") < 0);
		OK(http_date(&t, "yesterday") < 0);
		OK(http_date(&t, "Wed, 32 Oct 2015 07:28:00 GMT") < 0);
	}
	OK(http_retry_after(&v, "120", 0) == 0 && v == 120);
	OK(http_retry_after(&v, " 7 ", 0) == 0 && v == 7);
	OK(http_retry_after(&v, "0", 0) == 0 && v == 0);
	OK(http_retry_after(&v, "Wed, 21 Oct 2015 07:28:00 GMT", 1445412470) ==
		0 &&
	    v == 10);
	OK(http_retry_after(&v, "Wed, 21 Oct 2015 07:28:00 GMT", 1445412490) ==
		0 &&
	    v == 0);
	OK(http_retry_after(&v, "-5", 0) == E_PARSE);
	OK(http_retry_after(&v, "12abc", 0) == E_PARSE);
	OK(http_retry_after(&v, "99999999999", 0) == E_PARSE);
	OK(http_retry_after(&v, "Wed, 21 Foo 2015 07:28:00 GMT", 0) == E_PARSE);
	OK(http_retry_after(&v, "Wed, 21 Oct 2015 07:28:00 PST", 0) == E_PARSE);
	OK(http_retry_after(&v, "soon", 0) == E_PARSE);
	OK(http_retry_after(&v, "", 0) == E_PARSE);

	OK(url_allowed("https://gitlab.com/api/v4") == 0);
	OK(url_allowed("http://127.0.0.1:8080/api/v4") == 0);
	OK(url_allowed("http://127.9.9.9/x") == 0);
	OK(url_allowed("http://localhost:3000/api/v4") == 0);
	OK(url_allowed("http://[::1]:3000/api/v4") == 0);
	OK(url_allowed("http://gitlab.com/api/v4") == E_USAGE);
	OK(url_allowed("http://127.0.0.1.evil.com/") == E_USAGE);
	OK(url_allowed("http://127.1/") == E_USAGE);
	OK(url_allowed("http://localhost.evil.com/") == E_USAGE);
	OK(url_allowed("http://user:pw@127.0.0.1/") == E_USAGE);
	OK(url_allowed("ftp://127.0.0.1/") == E_USAGE);
	OK(url_allowed("file:///etc/passwd") == E_USAGE);
	OK(url_allowed("not a url") == E_USAGE);

	OK(url_same_origin(
	    "https://g.com/api/v4/x?page=2", "https://g.com/api/v4"));
	OK(!url_same_origin(
	    "https://evil.com/api/v4/x", "https://g.com/api/v4"));
	OK(!url_same_origin("http://g.com/api/v4/x", "https://g.com/api/v4"));
	OK(!url_same_origin(
	    "https://g.com:444/api/v4/x", "https://g.com/api/v4"));
	return tap_done();
}
