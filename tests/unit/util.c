/* unit tests: util */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "tap.h"
#include "url.h"
#include "util.h"

int
main(void)
{
	char s[64];
	char *e;
	long v;
	int b;
	long long t;

	OK(list_has("rspec 1/2, qa/smoke ,lint", "qa/smoke"));
	OK(list_has("rspec 1/2,qa/smoke,lint", "rspec 1/2"));
	OK(list_has("lint", "lint"));
	OK(!list_has("lint2,xlint", "lint"));
	OK(!list_has("", "lint"));
	OK(!list_has(NULL, "lint"));
	OK(!list_has("a,,b", ""));
	OK(list_has(",,a,", "a"));
	{
		const char *p = " a , ,b c,, d", *it;
		size_t n;
		char sha[41];

		OK(list_next(&p, &it, &n) && n == 1 &&
		    strncmp(it, "a", 1) == 0);
		OK(list_next(&p, &it, &n) && n == 3 &&
		    strncmp(it, "b c", 3) == 0);
		OK(list_next(&p, &it, &n) && n == 1 &&
		    strncmp(it, "d", 1) == 0);
		OK(!list_next(&p, &it, &n) && *p == '\0');
		p = " , ,";
		OK(!list_next(&p, &it, &n));
		sha_lower(sha, "0123456789ABCDEF0123456789abcdefABCDEF01");
		STREQ(sha, "0123456789abcdef0123456789abcdefabcdef01");
	}
	OK(is_sha("0123456789abcdef0123456789ABCDEF01234567"));
	OK(!is_sha("0123456789abcdef0123456789abcdef0123456"));
	OK(!is_sha("0123456789abcdef0123456789abcdef012345678"));
	OK(!is_sha("0123456789abcdef0123456789abcdef0123456g"));
	OK(!is_sha(""));
	strcpy(s, "  \t abc def \n\n");
	STREQ(str_trim(s), "abc def");
	strcpy(s, "   ");
	STREQ(str_trim(s), "");
	e = str_printf("%s/pipelines/%lld/jobs?%sper_page=100", "/projects/x",
	    12LL, "include_retried=true&");
	STREQ(e,
	    "/projects/x/pipelines/12/jobs?include_retried=true&per_page=100");
	free(e);
	e = str_printf("%s", "");
	STREQ(e, "");
	free(e);
	e = url_escape("gitlab-org/security/gitaly");
	STREQ(e, "gitlab-org%2Fsecurity%2Fgitaly");
	free(e);
	e = url_escape("a b&c=d?e#f~._-");
	STREQ(e, "a%20b%26c%3Dd%3Fe%23f~._-");
	free(e);
	e = url_escape("\xc3\xa9");
	STREQ(e, "%C3%A9");
	free(e);
	OK(parse_long(&v, "42", 1, 100) == 0 && v == 42);
	OK(parse_long(&v, "0", 1, 100) == E_USAGE);
	OK(parse_long(&v, "101", 1, 100) == E_USAGE);
	OK(parse_long(&v, "4x", 1, 100) == E_USAGE);
	OK(parse_long(&v, " 4", 1, 100) == E_USAGE);
	OK(parse_long(&v, "", 1, 100) == E_USAGE);
	OK(parse_long(&v, "99999999999999999999999", 1, 100) == E_USAGE);
	OK(parse_bool(&b, "TRUE") == 0 && b == 1);
	OK(parse_bool(&b, "no") == 0 && b == 0);
	OK(parse_bool(&b, "maybe") == E_USAGE);
	OK(iso8601_parse(&t, "1970-01-01T00:00:00Z") == 0 && t == 0);
	OK(iso8601_parse(&t, "2026-11-25T10:20:30.123Z") == 0 &&
	    t == 1795602030LL);
	OK(iso8601_parse(&t, "2026-11-25T12:20:30.000+02:00") == 0 &&
	    t == 1795602030LL);
	OK(iso8601_parse(&t, "2026-11-25") == E_PARSE);
	OK(iso8601_parse(&t, "2026-13-25T10:20:30Z") == E_PARSE);
	OK(iso8601_parse(&t, "2026-11-25T10:20:30") == E_PARSE);
	OK(iso8601_parse(&t, "2026-11-25T10:20:30Zjunk") == E_PARSE);
	OK(iso8601_parse(&t, "garbage-in-garbage-out") == E_PARSE);
	return tap_done();
}
