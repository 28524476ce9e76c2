/* unit tests: which merge-commit references are canonical source MRs */
#include <string.h>

#include "tap.h"
#include "trail.h"

#define C "gitlab-org/gitaly"

int
main(void)
{
	char proj[64];
	long long iid = 0;

	OK(trail_ref(proj, sizeof(proj), &iid, "gitlab-org/gitaly!12", C) == 1);
	STREQ(proj, "gitlab-org/gitaly");
	OK(iid == 12);
	OK(trail_ref(proj, sizeof(proj), &iid, "GitLab-Org/Gitaly!7", C) == 1);
	OK(iid == 7);
	/* the security mirror's own MRs, other projects, look-alikes */
	OK(trail_ref(proj, sizeof(proj), &iid, "gitlab-org/security/gitaly!5",
	       C) == 0);
	OK(trail_ref(proj, sizeof(proj), &iid, "gitlab-org/gitaly-x!5", C) ==
	    0);
	OK(trail_ref(proj, sizeof(proj), &iid, "org/gitaly!5", C) == 0);
	/* hostile iids: none, zero-led, signs, too long, trailing text */
	OK(trail_ref(proj, sizeof(proj), &iid, "gitlab-org/gitaly!", C) == 0);
	OK(trail_ref(proj, sizeof(proj), &iid, "gitlab-org/gitaly!012", C) ==
	    0);
	OK(trail_ref(proj, sizeof(proj), &iid, "gitlab-org/gitaly!-1", C) == 0);
	OK(trail_ref(proj, sizeof(proj), &iid, "gitlab-org/gitaly!1234567890",
	       C) == 0);
	OK(trail_ref(
	       proj, sizeof(proj), &iid, "gitlab-org/gitaly!12/../x", C) == 0);
	OK(trail_ref(proj, sizeof(proj), &iid, "gitlab-org/gitaly!1!2", C) ==
	    0);
	OK(trail_ref(proj, sizeof(proj), &iid, NULL, C) == 0);
	OK(trail_ref(proj, sizeof(proj), &iid, "gitlab-org/gitaly!1", "") == 0);
	/* a project path longer than the room given */
	OK(trail_ref(proj, 8, &iid, "gitlab-org/gitaly!1", C) == 0);
	return tap_done();
}
