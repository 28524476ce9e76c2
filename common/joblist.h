/* joblist: the FAILED_JOBS encoding, a list of job names that stays one
 * unambiguous dotenv value whatever the names hold.
 *
 * GitLab job names may hold commas, spaces and brackets (parallel:matrix
 * names them "rspec: [ruby-3.3, pg-16]"). An entry is a name as GitLab
 * gives it with '%', ',', '+', '<', '>' and control bytes percent-encoded
 * ("rspec: [ruby-3.3%2C pg-16]"); entries are joined by ','. A job of a
 * downstream pipeline is "<bridge entry>/<job entry>". A last entry
 * "+N more" (a raw '+', which no encoded name holds) says N more jobs
 * failed than the list names. Entries compare byte for byte. */
#ifndef RELAY_JOBLIST_H
#define RELAY_JOBLIST_H

#include <stddef.h>

struct buf;

/* joblist_encode: append name, encoded as one entry's text, to out */
int joblist_encode(struct buf *out, const char *name);
/* joblist_add: append entry (already encoded) to list out unless it is
 * there already */
int joblist_add(struct buf *out, const char *entry);
/* joblist_has: entry is one of list's entries, byte for byte */
int joblist_has(const char *list, const char *entry);
/* joblist_next: the next entry of the list at *p into out (reset first);
 * 1 while there is one, 0 at the end */
int joblist_next(struct buf *out, const char **p);
/* joblist_decode: the name an entry stands for, appended to out */
int joblist_decode(struct buf *out, const char *entry);
/* joblist_truncated: the list ends with "+N more" */
int joblist_truncated(const char *list);
/* joblist_cap: cut list b to at most max bytes at an entry boundary and
 * append ",+N more" (the cut entries plus any "+M more" there was) */
int joblist_cap(struct buf *b, size_t max);
/* joblist_text: the list for people: names decoded (but '<', '>' and
 * control bytes, which could open markup or a hidden marker in a note),
 * "; " between them, "and N more" for the tail */
int joblist_text(struct buf *out, const char *list);

#endif
