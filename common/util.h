/* util: small string helpers shared by jobs and modules */
#ifndef RELAY_UTIL_H
#define RELAY_UTIL_H

#include <stddef.h>

/* secure_zero: wipe memory the compiler may not optimise away (secrets) */
void secure_zero(void *p, size_t n);
/* str_dup: strdup that returns NULL only on allocation failure */
char *str_dup(const char *s);
char *str_ndup(const char *s, size_t n);
/* str_printf: a new string, printf-style (a request path); NULL only on
 * allocation failure or a bad format; caller frees */
char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* str_trim: strip ASCII whitespace in place, return s */
char *str_trim(char *s);
int str_has_prefix(const char *s, const char *prefix);
/* is_sha: 40 lowercase or uppercase hex digits exactly */
int is_sha(const char *s);
/* parse_long: whole decimal number within [min, max]; 0 or E_USAGE */
int parse_long(long *out, const char *s, long min, long max);
/* parse_bool: true/false/1/0/yes/no (case-insensitive); 0 or E_USAGE */
int parse_bool(int *out, const char *s);
/* now_ms: monotonic milliseconds */
long long now_ms(void);
/* sleep_ms: sleep, restarting after signals */
void sleep_ms(long ms);
/* list_next: the next entry of a comma-separated list, trimmed of spaces,
 * empty ones skipped: 1 with *item (not terminated) and *len set and *p
 * past it, 0 at the end. The one walker of every comma list. */
int list_next(const char **p, const char **item, size_t *len);
/* list_has: item is one of the comma-separated entries of list (entries
 * trimmed of spaces); 0 when list or item is NULL or empty */
int list_has(const char *list, const char *item);
/* sha_lower: the lowercase copy of a SHA checked by is_sha */
void sha_lower(char out[41], const char *sha);
/* iso8601_parse: "2026-11-25T10:00:00.000Z" (or with +hh:mm) to UTC seconds */
int iso8601_parse(long long *out, const char *s);

#endif
