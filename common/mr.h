/* mr: one merge request as the stages after open-mr see it */
#ifndef RELAY_MR_H
#define RELAY_MR_H

#include <stddef.h>

struct gitlab;
struct json;

struct mr_pipeline {
	long long id; /* 0: none */
	char sha[41]; /* the commit it ran on (a merge commit for merged
	               * results and merge trains) */
	char ref[256]; /* refs/merge-requests/<iid>/head|merge|train, or a
	                * branch */
	char status[32];
	char web_url[512];
};

struct mr {
	long long iid;
	char *path; /* "/projects/<target>/merge_requests/<iid>" */
	char state[16]; /* opened, closed, locked, merged */
	char sha[41]; /* head of the source branch */
	char merge_sha[41]; /* merge commit, once merged */
	const char *web_url; /* borrowed from doc */
	const char *title;
	const char *source_branch;
	const char *target_branch;
	long long author_id;
	int auto_merge; /* merge_when_pipeline_succeeds */
	long long created_ts;
	long long merged_ts; /* 0 unless merged */
	struct mr_pipeline head; /* head_pipeline as GitLab reports it */
	struct json *doc;
};

/* mr_read: GET the MR iid of project path proj ("/projects/x"); m starts
 * zeroed ({0}). A previous
 * read into m is freed first, so polling loops can call it again. */
int mr_read(struct mr *m, struct gitlab *g, const char *proj, long long iid);
/* mr_adopt: m from an answer already in hand (the POST that created the
 * MR answers with it), as mr_read would read it; m takes doc */
int mr_adopt(struct mr *m, struct json *doc, const char *proj);
void mr_free(struct mr *m);
int mr_has_label(const struct mr *m, const char *label);
/* mr_pipeline_for_head: the newest pipeline of the MR for its current head
 * SHA (head_pipeline when it is one, else the MR's pipeline list); 1
 * found, 0 none yet, < 0 error. A pipeline is the head's own when it ran
 * on the head itself (detached or branch pipeline), or when it ran on
 * refs/merge-requests/<iid>/merge or /train on a merge commit whose
 * second parent is the head (merged results, merge train: GitLab's REST
 * pipeline shows only sha and ref, so one GET of the commit tells) */
int mr_pipeline_for_head(
    struct mr_pipeline *out, struct mr *m, struct gitlab *g);
/* mr_pipeline_is_own: 1 when p is a pipeline of m's current head (as
 * above), 0 when it is another's, < 0 error */
int mr_pipeline_is_own(
    const struct mr_pipeline *p, const struct mr *m, struct gitlab *g);
/* mr_project_url: the web page of the MR's project, then suffix */
void mr_project_url(
    char *out, size_t n, const struct mr *m, const char *suffix);
/* mr_pipeline_url: the web page of pipeline id of the MR's project */
void mr_pipeline_url(char *out, size_t n, const struct mr *m, long long id);
/* mr_labels: PUT add_labels / remove_labels (comma lists, either NULL) */
int mr_labels(
    struct gitlab *g, const struct mr *m, const char *add, const char *remove);

#endif
