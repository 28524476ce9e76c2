/* unit tests: the small pure helpers of mr, pipeline, range and slack */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mr.h"
#include "pipeline.h"
#include "range.h"
#include "slack.h"
#include "tap.h"

int
main(void)
{
	struct mr m;
	struct buf b;
	char out[128];

	STREQ(pipeline_outcome("success"), "success");
	STREQ(pipeline_outcome("failed"), "failed");
	STREQ(pipeline_outcome("canceled"), "canceled");
	STREQ(pipeline_outcome("skipped"), "canceled");
	STREQ(pipeline_outcome("waiting_for_resource"), "running");
	STREQ(pipeline_outcome("manual"), "running");
	STREQ(pipeline_outcome("created"), "running");
	OK(pipeline_outcome("exploded") == NULL);
	OK(pipeline_outcome("") == NULL);
	OK(pipeline_outcome(NULL) == NULL);

	OK(range_mr_ref(out, sizeof(out),
	    "Merge branch 'x' into 'master'\n\nTitle\n\nSee merge request "
	    "gitlab-org/gitaly!7012"));
	STREQ(out, "gitlab-org/gitaly!7012");
	OK(range_mr_ref(out, sizeof(out), "See merge request a/b!1\n\nmore"));
	STREQ(out, "a/b!1");
	OK(!range_mr_ref(out, sizeof(out), "Fix a leak"));
	OK(!range_mr_ref(out, sizeof(out), "See merge request "));
	OK(!range_mr_ref(out, sizeof(out), "See merge request nobang"));
	OK(!range_mr_ref(out, 4, "See merge request a/b!12345"));

	memset(&m, 0, sizeof(m));
	m.web_url = "https://gitlab.example/g/p/-/merge_requests/12";
	mr_pipeline_url(out, sizeof(out), &m, 99);
	STREQ(out, "https://gitlab.example/g/p/-/pipelines/99");
	m.web_url = NULL;
	mr_pipeline_url(out, sizeof(out), &m, 1);
	STREQ(out, "/-/pipelines/1");

	buf_init(&b, 0);
	OK(slack_escape(&b, "<!here> a&b <x|y>") == 0);
	STREQ(b.data, "&lt;!here&gt; a&amp;b &lt;x|y&gt;");
	buf_reset(&b);
	OK(slack_escape(&b, NULL) == 0);
	OK(b.len == 0);
	buf_free(&b);
	return tap_done();
}
