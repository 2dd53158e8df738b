/*
 * Log lines on stderr: "<prog>: <message> key=value ...".
 *
 * The authentication and connection lines are a stable interface (fail2ban
 * filters match them); see docs/logging.md.  Nothing that names a channel
 * destination, payload, token or key material is ever passed here.
 */
#ifndef ALKNET_LOG_H
#define ALKNET_LOG_H

#include <stddef.h>

/* Sets the program name put in front of every line ("alknetd"). */
void log_init(const char *prog);

/* Writes one line: prog, ": ", the formatted message, newline. */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Copies at most 64 characters of a peer-supplied string into dst (of size
 * len) so it is safe inside a log line: printable ASCII other than space,
 * '"', '\\' and '=' is kept, everything else becomes \xHH; a cut string
 * ends in "...".  An empty or NULL string becomes "-".  Returns dst.
 */
char *log_escape(char *dst, size_t len, const char *src);

#endif
