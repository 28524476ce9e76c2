/* tap: a tiny test harness printing "ok N - name" / "not ok N - name" */
#ifndef RELAY_TAP_H
#define RELAY_TAP_H

void tap_ok(int cond, const char *file, int line, const char *expr);
void tap_streq(const char *got, const char *want, const char *file, int line,
    const char *expr);
int tap_done(void);

#define OK(c) tap_ok(!!(c), __FILE__, __LINE__, #c)
#define STREQ(got, want) tap_streq((got), (want), __FILE__, __LINE__, #got)

#endif
