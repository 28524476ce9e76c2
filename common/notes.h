/* notes: merge request notes carrying hidden markers, relay's durable
 * record of what it already did ("<!-- relay:stale -->") */
#ifndef RELAY_NOTES_H
#define RELAY_NOTES_H

struct gitlab;

struct json;
/* notes_write: METHOD (POST, PUT) a note with body on noteable
 * ("/projects/x/merge_requests/7", ".../issues/3"): note id, or a new one
 * when id is 0; *out (out may be NULL) is GitLab's answer, as
 * gitlab_call. No message prefix: the caller says what it was doing. */
int notes_write(struct json **out, struct gitlab *g, const char *method,
    const char *noteable, long long id, const char *body);
/* notes_post: add a note; *id_out (may be NULL) receives its id, or 0 when
 * GitLab consumed it whole as quick actions (202) */
int notes_post(
    long long *id_out, struct gitlab *g, const char *mr, const char *body);
int notes_update(
    struct gitlab *g, const char *mr, long long id, const char *body);

struct buf;
/* notes_escape: append s (a job name, a title, a URL from GitLab) as plain
 * text in GitLab markdown: no link, emphasis, code span, HTML, hidden
 * marker, mention (@all), reference or quick action (no new line) can
 * open from it */
int notes_escape(struct buf *b, const char *s);
/* notes_link: [text](url) when url is a plain URL on api's origin
 * (url_is_own), else text alone; text is escaped */
int notes_link(
    struct buf *b, const char *text, const char *url, const char *api);

#endif
