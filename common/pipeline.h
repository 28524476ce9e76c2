/* pipeline: what a pipeline's status means to relay, and which of its jobs
 * failed, child and downstream pipelines included */
#ifndef RELAY_PIPELINE_H
#define RELAY_PIPELINE_H

struct buf;
struct gitlab;

/* pipeline_outcome: GitLab's pipeline status folded into relay's outcome:
 * "success", "failed", "canceled" (also skipped) or "running" (created,
 * waiting_for_resource, preparing, pending, running, scheduled, manual);
 * NULL for an unknown status */
const char *pipeline_outcome(const char *status);

/* pipeline_failed_jobs: append to out, as a joblist (joblist.h: names
 * encoded, comma-separated), the failed jobs of pipeline id in project
 * path proj ("/projects/x") that are not allowed to fail. A failed bridge's downstream pipeline is
 * followed (child or multi-project, up to depth 3) and its failed jobs are
 * named "bridge/job"; a failed bridge without a downstream pipeline is
 * named alone. Names repeat only once; every page is read (up to 5000
 * failed jobs per pipeline). */
int pipeline_failed_jobs(
    struct buf *out, struct gitlab *g, const char *proj, long long id);

#endif
