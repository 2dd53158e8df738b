/*
 * Log lines on stderr.  Each line leaves in a single write() so that lines
 * from several processes sharing one stderr (a journal, a test harness)
 * never interleave mid-line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX   4096 /* longer lines are cut */
#define LOG_ESCAPE_MAX 64   /* characters of a peer string kept */
#define LOG_CUT_MARK   "..."

static char log_prog[64] = "alknetd";

void
log_init(const char *prog)
{
	if (prog != NULL && *prog != '\0')
		snprintf(log_prog, sizeof log_prog, "%s", prog);
}

static void
log_write(const char *buf, size_t len)
{
	ssize_t n;

	/* A short write to a pipe is possible; finish the line. */
	while (len > 0) {
		n = write(STDERR_FILENO, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

void
log_info(const char *fmt, ...)
{
	char    buf[LOG_LINE_MAX];
	va_list ap;
	int     n, saved = errno;
	size_t  len;

	n = snprintf(buf, sizeof buf, "%s: ", log_prog);
	len = (size_t)n;

	va_start(ap, fmt);
	n = vsnprintf(buf + len, sizeof buf - len, fmt, ap);
	va_end(ap);
	if (n > 0)
		len += (size_t)n;

	/* Keep room for the newline when the message was cut. */
	if (len > sizeof buf - 1)
		len = sizeof buf - 1;
	buf[len++] = '\n';

	log_write(buf, len);
	errno = saved;
}

static int
log_keep(unsigned char c)
{
	return c > ' ' && c < 0x7f && c != '"' && c != '\\' && c != '=';
}

/* Bytes that c takes once escaped. */
static size_t
log_width(unsigned char c)
{
	return log_keep(c) ? 1 : 4;
}

/* Appends c to dst at *off; the caller has checked that it fits. */
static void
log_put(char *dst, size_t *off, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";

	if (log_keep(c)) {
		dst[(*off)++] = (char)c;
		return;
	}
	dst[(*off)++] = '\\';
	dst[(*off)++] = 'x';
	dst[(*off)++] = hex[c >> 4];
	dst[(*off)++] = hex[c & 0xf];
}

/* Whether the whole of src (at most LOG_ESCAPE_MAX chars) fits in len. */
static int
log_fits(const unsigned char *src, size_t len)
{
	size_t i, need = 1;

	for (i = 0; src[i] != '\0'; i++) {
		if (i == LOG_ESCAPE_MAX)
			return 0;
		need += log_width(src[i]);
	}
	return need <= len;
}

char *
log_escape(char *dst, size_t len, const char *src)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t               i, off = 0, mark = strlen(LOG_CUT_MARK);

	if (len == 0)
		return dst;
	if (s == NULL || *s == '\0') {
		snprintf(dst, len, "-");
		return dst;
	}

	if (log_fits(s, len)) {
		while (*s != '\0')
			log_put(dst, &off, *s++);
		dst[off] = '\0';
		return dst;
	}

	/* Cut: keep what fits in front of the mark. */
	for (i = 0; i < LOG_ESCAPE_MAX && s[i] != '\0'; i++) {
		if (off + log_width(s[i]) + mark + 1 > len)
			break;
		log_put(dst, &off, s[i]);
	}
	if (off + mark + 1 <= len) {
		memcpy(dst + off, LOG_CUT_MARK, mark);
		off += mark;
	}
	dst[off] = '\0';
	return dst;
}
