/* annotate: GitLab's artifacts:reports:annotations, the links a job shows
 * on its page (the MR, the pipelines, the suspect compare, the outcome) */
#ifndef RELAY_ANNOTATE_H
#define RELAY_ANNOTATE_H

#include <stddef.h>

struct buf;
struct dotenv;
struct job;

struct annotate_link {
	const char *label;
	const char *url; /* NULL or "": left out */
};

/* annotate_json: append to b the report of stage ("watch"): one section
 * "relay-<stage>" holding an external link for every URL in the dotenv
 * report d (MR_URL, GREEN_PIPELINE_URL, PIPELINE_URL, SUSPECT_RANGE; d may
 * be NULL), labelled with the values around it (MR_ACTION, OUTCOME,
 * TRIAGE, NOTIFIED ...), then the n extra links. Only http(s) URLs are
 * linked. */
int annotate_json(struct buf *b, const struct dotenv *d, const char *stage,
    const struct annotate_link *extra, size_t n);
/* annotate_write: annotate_json written to path (temporary file and
 * rename). The hook: job_finish calls it after the dotenv report when
 * RELAY_ANNOTATIONS names a file. */
int annotate_write(const char *path, const struct dotenv *d, const char *stage,
    const struct annotate_link *extra, size_t n);

/* annotate_job: the hook of job_finish, after the dotenv report: when
 * RELAY_ANNOTATIONS names a file, write there the report of j's stage from
 * its dotenv values. A failure is a warning: the job's result stands. */
void annotate_job(struct job *j);

#endif
