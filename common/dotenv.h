/* dotenv: GitLab dotenv artifact reports, read and written atomically */
#ifndef RELAY_DOTENV_H
#define RELAY_DOTENV_H

#include <stddef.h>

/* GitLab's limits for artifacts:reports:dotenv: 5120 bytes per file
 * (every plan), and a variable count that depends on the plan and instance
 * (20 on the smallest GitLab.com plans, 50 free, 150 default); we keep to
 * the lowest so a report is accepted everywhere. */
#define DOTENV_MAX_BYTES 5120
#define DOTENV_MAX_VARS 20

struct dotenv;

int dotenv_new(struct dotenv **out);
void dotenv_free(struct dotenv *d);
/* dotenv_set: add or replace. Keys are [A-Z0-9_] not starting with a digit;
 * values hold no newline, CR or NUL and no leading/trailing blanks (GitLab
 * strips them). E_USAGE on a bad key or value, E_NOMEM past the limits. */
int dotenv_set(struct dotenv *d, const char *key, const char *value);
const char *dotenv_get(const struct dotenv *d, const char *key);
size_t dotenv_count(const struct dotenv *d);
/* dotenv_write: write to path through a temporary file and rename, so a
 * reader never sees half a report */
int dotenv_write(const struct dotenv *d, const char *path);
/* dotenv_parse: read a report as GitLab does (KEY=value lines, key and
 * value trimmed, no comments or blank lines, no quoting); E_INPUT with the
 * line number on anything GitLab would reject */
int dotenv_parse(struct dotenv **out, const char *text, size_t len);
int dotenv_read(struct dotenv **out, const char *path);

#endif
