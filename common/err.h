/* err: error codes returned by common/ and the one message that explains them */
#ifndef RELAY_ERR_H
#define RELAY_ERR_H

/* Every common/ function returns 0 or one of these; the message is set once,
 * at the lowest level that knows the detail, and read with err_msg(). */
enum {
	E_OK = 0,
	E_FAIL = -1, /* internal error */
	E_NOMEM = -2, /* allocation failed or a size cap was hit */
	E_NOTFOUND = -3, /* remote answered 404, or a thing is absent */
	E_PERM = -4, /* remote refused: 4xx other than 404/409/429 */
	E_CONFLICT = -5, /* remote answered 409 (or 405/406/422 on merges) */
	E_TEMP = -6, /* transient: 429, 5xx, network, timeout, after retries */
	E_PARSE =
	    -7, /* a remote answer could not be parsed (malformed or truncated) */
	E_USAGE = -8, /* a flag or variable value is invalid */
	E_CONFIG = -9, /* required configuration is missing */
	E_INPUT = -10, /* a local file or argument could not be parsed */
};

/* Exit codes of docs/contract.md. */
enum {
	EXIT_DONE = 0,
	EXIT_NO = 1,
	EXIT_USAGE = 64,
	EXIT_SOFTWARE = 70,
	EXIT_UNAVAILABLE = 69,
	EXIT_TEMPFAIL = 75,
	EXIT_CONFIG = 78,
};

/* err_set: set the current message (printf format); returns code so callers
 * can write `return err_set(E_TEMP, "...")`. */
int err_set(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* err_prefix: prepend context ("cannot read pipeline 12: ") to the message */
int err_prefix(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *err_msg(void);
void err_clear(void);
/* err_exit: the docs/contract.md exit code for an error code */
int err_exit(int code);

#endif
