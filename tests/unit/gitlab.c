/* unit tests: gitlab's error lines and paths */
#include <stdlib.h>
#include <string.h>

#include "gitlab.h"
#include "http.h"
#include "tap.h"

static char *
line(const char *body)
{
	return http_error_line(body, strlen(body));
}

int
main(void)
{
	char *s;

	s = line("{\"message\":\"404 Project Not Found\"}");
	STREQ(s, "404 Project Not Found");
	free(s);
	s = line("{\"message\":[\"Another open merge request already "
		 "exists for this source branch: !12\"]}");
	STREQ(s,
	    "Another open merge request already exists for this "
	    "source branch: !12");
	free(s);
	s = line("{\"message\":{\"base\":[\"a\",\"b\"],\"title\":[\"can't be "
		 "blank\"]}}");
	STREQ(s, "base a, b; title can't be blank");
	free(s);
	s = line("{\"error\":\"title is missing\"}");
	STREQ(s, "title is missing");
	free(s);
	s = line("{\"error\":\"insufficient_scope\",\"error_description\":"
		 "\"The request requires higher privileges.\"}");
	STREQ(s, "The request requires higher privileges.");
	free(s);
	s = line("<html>\n<body>502\tBad   Gateway</body>\n</html>");
	STREQ(s, "<html> <body>502 Bad Gateway</body> </html>");
	free(s);
	s = line("{\"message\":\"evil\\u001b[31m\\nsecond line\"}");
	STREQ(s, "evil[31m second line");
	free(s);
	s = line("");
	STREQ(s, "");
	free(s);
	s = line("{\"unrelated\":1}");
	STREQ(s, "");
	free(s);
	s = http_error_line("{\"message\":\"truncated", 21);
	STREQ(s, "{\"message\":\"truncated");
	free(s);

	s = gitlab_project_path("gitlab-org/security/gitaly");
	STREQ(s, "/projects/gitlab-org%2Fsecurity%2Fgitaly");
	free(s);
	s = gitlab_project_path("278964");
	STREQ(s, "/projects/278964");
	free(s);
	s = gitlab_project_path("a/../b?x=1#y");
	STREQ(s, "/projects/a%2F..%2Fb%3Fx%3D1%23y");
	free(s);
	return tap_done();
}
