/* log: stderr logging with a prefix, levels, sections and secret masking */
#ifndef RELAY_LOG_H
#define RELAY_LOG_H

enum { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* log_init: prog is the prefix ("relay-find-green"); color when NO_COLOR is
 * unset and stderr is a terminal or GitLab's job log (decided by main). */
void log_init(const char *prog, int level, int color);
/* log_secret: mask every later occurrence of s in log lines; the copy is
 * wiped by log_forget_secrets. Strings shorter than 4 bytes are ignored. */
void log_secret(const char *s);
void log_forget_secrets(void);
/* log_mask: copy of line with all registered secrets replaced; caller frees */
char *log_mask(const char *line);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* GitLab collapsible sections: name is [a-z0-9_-], header is free text */
void log_section_start(const char *name, const char *header, int collapsed);
void log_section_end(const char *name);
/* log_end: close the collapsed section holding the current run of debug
 * lines, if any (also run at exit once debug logging was on) */
void log_end(void);

#endif
