/* annotate: GitLab's artifacts:reports:annotations (the job page's links).
 * The format, from GitLab's app/validators/json_schemas/
 * ci_job_annotation_data.json and ci_job_external_link_data.json:
 * {"<section>": [{"external_link": {"label": "...", "url": "..."}}, ...]},
 * at most 1000 items a section, a section name at most 255 bytes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "annotate.h"
#include "buf.h"
#include "dotenv.h"
#include "err.h"
#include "job.h"
#include "json.h"
#include "log.h"

#define LABEL_MAX 200

static int
is_web_url(const char *u)
{
	return u &&
	    (strncmp(u, "https://", 8) == 0 || strncmp(u, "http://", 7) == 0);
}

static const char *
dflt(const char *v, const char *alt)
{
	return v ? v : alt;
}

/* link: one external link labelled l (then emptied for the next one) */
static void
add_link(struct jw *w, struct buf *l, const char *url)
{
	char label[LABEL_MAX + 1];

	/* labels stay short: a long job list is cut, not the link */
	snprintf(label, sizeof(label), "%s", l->data ? l->data : "");
	l->len = 0;
	if (l->data)
		l->data[0] = '\0';
	if (!is_web_url(url))
		return;
	jw_obj(w);
	jw_key(w, "external_link");
	jw_obj(w);
	jw_kstr(w, "label", label);
	jw_kstr(w, "url", url);
	jw_end(w);
	jw_end(w);
}

static const char *
get(const struct dotenv *d, const char *key)
{
	const char *v = d ? dotenv_get(d, key) : NULL;

	return v && *v ? v : NULL;
}

int
annotate_json(struct buf *b, const struct dotenv *d, const char *stage,
    const struct annotate_link *extra, size_t n)
{
	struct jw w;
	struct buf l;
	char section[64];
	size_t i;

	snprintf(section, sizeof(section), "relay-%s", stage);
	buf_init(&l, 0);
	jw_init(&w, b);
	jw_obj(&w);
	jw_key(&w, section);
	jw_arr(&w);
	if (get(d, "MR_URL")) {
		buf_printf(&l, "bump MR !%s", dflt(get(d, "MR_IID"), "?"));
		if (get(d, "MR_ACTION"))
			buf_printf(&l, ": %s", get(d, "MR_ACTION"));
		add_link(&w, &l, get(d, "MR_URL"));
	}
	if (get(d, "GREEN_PIPELINE_URL")) {
		buf_printf(&l, "green pipeline %s of %.12s",
		    dflt(get(d, "GREEN_PIPELINE_ID"), ""),
		    dflt(get(d, "GREEN_SHA"), ""));
		add_link(&w, &l, get(d, "GREEN_PIPELINE_URL"));
	}
	if (get(d, "PIPELINE_URL")) {
		const char *t = get(d, "TRIAGE"), *nt = get(d, "NOTIFIED");

		buf_printf(
		    &l, "MR pipeline %s", dflt(get(d, "PIPELINE_ID"), ""));
		if (get(d, "OUTCOME"))
			buf_printf(&l, ": %s", get(d, "OUTCOME"));
		if (t && strcmp(t, "none") != 0)
			buf_printf(&l, ", %s", t);
		if (nt && strcmp(nt, "true") == 0)
			buf_puts(&l, ", reported to Slack");
		if (get(d, "FAILED_JOBS"))
			buf_printf(&l, " (failed: %s)", get(d, "FAILED_JOBS"));
		add_link(&w, &l, get(d, "PIPELINE_URL"));
	}
	if (get(d, "SUSPECT_RANGE")) {
		buf_puts(&l, "suspect changes (compare)");
		add_link(&w, &l, get(d, "SUSPECT_RANGE"));
	}
	for (i = 0; i < n; i++) {
		buf_puts(&l, dflt(extra[i].label, dflt(extra[i].url, "")));
		add_link(&w, &l, extra[i].url);
	}
	jw_end(&w);
	jw_end(&w);
	buf_free(&l);
	return jw_finish(&w);
}

int
annotate_write(const char *path, const struct dotenv *d, const char *stage,
    const struct annotate_link *extra, size_t n)
{
	struct buf b, tmp;
	FILE *f = NULL;
	int rc;

	buf_init(&b, 0);
	buf_init(&tmp, 0);
	rc = annotate_json(&b, d, stage, extra, n);
	if (rc == 0)
		rc = buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid());
	if (rc == 0 && !(f = fopen(tmp.data, "w")))
		rc = err_set(
		    E_FAIL, "cannot create %s: %s", tmp.data, strerror(errno));
	if (rc == 0 &&
	    (fwrite(b.data, 1, b.len, f) != b.len || fputc('\n', f) == EOF))
		rc = err_set(E_FAIL, "cannot write %s", tmp.data);
	if (f && fclose(f) != 0 && rc == 0)
		rc = err_set(E_FAIL, "cannot write %s", tmp.data);
	if (rc == 0 && rename(tmp.data, path) < 0)
		rc = err_set(E_FAIL, "cannot rename %s to %s: %s", tmp.data,
		    path, strerror(errno));
	if (rc < 0 && tmp.data)
		unlink(tmp.data);
	buf_free(&b);
	buf_free(&tmp);
	return rc;
}

void
annotate_job(struct job *j)
{
	/* what the links are built from: the stage's outputs, else the same
	 * values it was handed (notify links the pipeline it reported) */
	static const char *keys[] = { "MR_IID", "MR_URL", "MR_ACTION",
		"GREEN_SHA", "GREEN_PIPELINE_ID", "GREEN_PIPELINE_URL",
		"PIPELINE_ID", "PIPELINE_URL", "OUTCOME", "TRIAGE", "NOTIFIED",
		"FAILED_JOBS", "SUSPECT_RANGE" };
	const char *path = job_var(j, "RELAY_ANNOTATIONS");
	struct dotenv *view = NULL;
	size_t i;
	int rc;

	if (!path)
		return;
	rc = dotenv_new(&view);
	for (i = 0; rc == 0 && i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = j->out ? dotenv_get(j->out, keys[i]) : NULL;

		if (!v || !*v)
			v = job_var(j, keys[i]);
		if (v && *v)
			rc = dotenv_set(view, keys[i], v);
	}
	if (rc == 0)
		rc = annotate_write(path, view, j->name, NULL, 0);
	if (rc < 0)
		log_warn("no job page links: %s", err_msg());
	dotenv_free(view);
}
