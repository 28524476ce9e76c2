/* unit tests: record markers and the winner among racing claims */
#include <string.h>

#include "record.h"
#include "tap.h"

#define P "<!-- relay:notified pipeline=12 "

int
main(void)
{
	struct record_note n[4];
	char run[17];

	/* states */
	OK(record_state("x\n\n" P "slack=sent -->", P, run) == RECORD_DONE);
	STREQ(run, "");
	OK(record_state(P "slack=none -->", P, NULL) == RECORD_DONE);
	OK(record_state(P "slack=pending run=00ff00ff00ff00ff -->", P, run) ==
	    RECORD_PENDING);
	STREQ(run, "00ff00ff00ff00ff");
	OK(record_state(P "slack=retry -->", P, run) == RECORD_RETRY);
	/* triage markers carry no slack field: written once, done */
	OK(record_state("<!-- relay:retried pipeline=12 jobs=a,b -->",
	       "<!-- relay:retried pipeline=12 ", NULL) == RECORD_DONE);
	/* another key, another pipeline, an unclosed comment */
	OK(record_state(P "slack=sent -->", "<!-- relay:notified pipeline=1 ",
	       NULL) == RECORD_NONE);
	OK(record_state("<!-- relay:notified pipeline=123 slack=sent -->", P,
	       NULL) == RECORD_NONE);
	OK(record_state(P "slack=sent", P, NULL) == RECORD_NONE);
	OK(record_state(NULL, P, NULL) == RECORD_NONE);
	OK(record_state("", "", NULL) == RECORD_NONE);
	/* fields after the comment do not count; an overlong nonce is cut */
	OK(record_state(P "slack=sent --> slack=pending", P, NULL) ==
	    RECORD_DONE);
	OK(record_state(P "slack=pending run=0123456789abcdef0 -->", P, run) ==
	    RECORD_PENDING);
	STREQ(run, "");

	/* the oldest live claim wins */
	memset(n, 0, sizeof(n));
	n[0] = (struct record_note){ 12, 1000, 1000, RECORD_PENDING, "b" };
	n[1] = (struct record_note){ 11, 999, 999, RECORD_PENDING, "a" };
	OK(record_winner(n, 2, 1000) == 1);
	/* a claim older than the lease is a killed run's: not live */
	n[1].updated = 1000 - RECORD_LEASE_S - 1;
	OK(record_winner(n, 2, 1000) == 0);
	/* a released claim never wins */
	n[1].updated = 999;
	n[1].state = RECORD_RETRY;
	OK(record_winner(n, 2, 1000) == 0);
	/* a done record wins over any claim */
	n[2] = (struct record_note){ 13, 500, 500, RECORD_DONE, "" };
	OK(record_winner(n, 3, 1000) == 2);
	OK(record_winner(n, 0, 1000) == -1);
	/* a claim whose POST timed out, withdrawn by its run's void note */
	OK(record_state(P "slack=void run=00000000deadbeef -->", P, run) ==
	    RECORD_VOID);
	n[0] = (struct record_note){ 20, 1000, 1000, RECORD_PENDING, "dead" };
	n[1] = (struct record_note){ 21, 1000, 1000, RECORD_PENDING, "mine" };
	n[2] = (struct record_note){ 22, 1000, 1000, RECORD_VOID, "dead" };
	OK(record_winner(n, 2, 1000) == 0);
	OK(record_winner(n, 3, 1000) == 1);
	return tap_done();
}
