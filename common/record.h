/* record: relay's durable records in notes only relay can write, and the
 * one at-most-once protocol built on them: find the record, write it
 * pending, act (post to Slack), mark it done.
 *
 * A record is a note on an MR or issue whose body ends with a hidden
 * marker, "<!-- relay:notified pipeline=12 slack=sent -->". Only notes
 * written by relay's own identity (author.id of GET /user, asked once a
 * run) and not system notes count: anyone who can comment can write the
 * same text. Notes are read newest first; a lookup that reaches its page
 * cap without an answer is E_TEMP, never "not found". */
#ifndef RELAY_RECORD_H
#define RELAY_RECORD_H

#include <stddef.h>

struct gitlab;

#define RECORD_MAX_PAGES 50 /* of 100 notes */
/* a pending record younger than this (by GitLab's clock) may belong to a
 * run still delivering it; older, its run is over (RELAY_DEADLINE_S is
 * kept below it) */
#define RECORD_LEASE_S 900

enum {
	RECORD_NONE, /* not a record for this key */
	RECORD_PENDING, /* slack=pending: a run holds it */
	RECORD_RETRY, /* slack=retry: released after a failed action */
	RECORD_DONE, /* slack=sent or slack=none, or no slack field */
	/* slack=void run=N: the run whose claim N may land late (its POST
	 * timed out) withdrew it */
	RECORD_VOID,
};

/* One trusted note carrying the key's marker. */
struct record_note {
	long long id;
	long long updated; /* UTC seconds, GitLab's clock */
	long long created;
	int state; /* RECORD_* */
	char run[17]; /* run=<nonce> of a pending record, or "" */
};

/* record_state: the state of the marker that starts with prefix (as
 * "<!-- relay:notified pipeline=12 ") in body, RECORD_NONE when absent;
 * run (17 bytes, may be NULL) receives its run nonce. Pure, for tests. */
int record_state(const char *body, const char *prefix, char *run);

/* record_winner: given the trusted notes of one key and the claim just
 * written (mine, created at GitLab time t), the index of the note that
 * wins: a done record if any, else the oldest live pending one (pending,
 * updated within RECORD_LEASE_S before t, and not withdrawn by a void
 * note of its run). -1 if none. Pure, for tests. */
int record_winner(const struct record_note *n, size_t len, long long t);

/* record_self: relay's own user id (GET /user once, then cached in g) */
int record_self(long long *out, struct gitlab *g);

/* One trusted note, lent to a record_each callback for the call only. */
struct record_entry {
	long long id; /* 0 when missing or invalid */
	long long created; /* UTC seconds, GitLab's clock; 0 when invalid */
	long long updated;
	const char *body; /* never NULL */
};

/* record_each: the trusted notes of noteable ("/projects/x/
 * merge_requests/7", ".../issues/3"), newest first, each passed to
 * fn(arg, note): only notes whose author.id is relay's own (record_self)
 * and not system notes, as every record lookup. fn returns 0 for more,
 * 1 when it has its answer (stop), or < 0 to stop with that error.
 * Returns 1 when fn stopped, 0 when every note was read, < 0 on error:
 * reaching RECORD_MAX_PAGES before fn stopped is E_TEMP ("no <what>
 * found in the newest 5000 notes"), never "none". */
int record_each(struct gitlab *g, const char *noteable, const char *what,
    int (*fn)(void *arg, const struct record_entry *note), void *arg);

/* record_find: the newest trusted note of noteable ("/projects/x/
 * merge_requests/7", ".../issues/3") whose body contains prefix. 1 found
 * (*body, if not NULL, gets a copy the caller frees; *id its id), 0 not
 * found, < 0 error (E_TEMP when the page cap is reached). */
int record_find(char **body, long long *id, struct gitlab *g,
    const char *noteable, const char *prefix);

/* One at-most-once action. */
struct record_op {
	const char *noteable;
	/* the marker without state: "relay:notified pipeline=12" */
	const char *marker;
	/* the note's visible text; the marker is appended */
	const char *text;
	/* lines added to the claim only (a quick action GitLab applies when
	 * the note is created), or NULL */
	const char *claim_extra;
	/* the action (a Slack post); NULL: recording is the action */
	int (*act)(void *arg);
	void *arg;
	/* the done state written after act: "sent" (default with act),
	 * "none" (default without: nothing was posted) */
	const char *done_state;
	int dry_run;
};

enum {
	RECORD_DONE_BEFORE = 1, /* a done record exists: nothing done */
	RECORD_BUSY, /* another run's claim won: it delivers */
	RECORD_ACTED, /* this run recorded and acted */
	RECORD_DRY, /* dry run: would act */
};

/* record_once: deliver op at most once across runs. Finds the key's
 * records; if one is done, *result = RECORD_DONE_BEFORE. Otherwise writes
 * its own pending claim (run=<nonce>), re-reads, and acts only if its
 * claim is the oldest live one (racing runs: one wins, the others delete
 * their claim). After the action the claim is marked done and stale or
 * released claims are deleted, so one record is left. An action that
 * fails releases the claim (slack=retry) for the next run; a claim that
 * cannot be marked done is deleted, so the next run acts again (at least
 * once, never lost). A POST whose answer was lost is not sent again: the
 * claim is looked up by its nonce and deleted, or, not found (it may land
 * later), withdrawn by a void note naming its nonce. Returns 0 or < 0. */
int record_once(int *result, struct gitlab *g, const struct record_op *op);

#endif
