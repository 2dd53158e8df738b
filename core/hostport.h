/*
 * Parsing of "HOST:PORT" and "[V6]:PORT" endpoints and tcp:// URIs.
 */
#ifndef ALKNET_HOSTPORT_H
#define ALKNET_HOSTPORT_H

#include <stddef.h>
#include <stdint.h>

struct hostport {
	char     host[256]; /* without brackets */
	uint16_t port;
};

/*
 * Parses "host:port", "[v6addr]:port" or "tcp://" followed by either.
 * The port is 1-65535 unless allow_zero is set, in which case 0 is
 * accepted too.  Returns 0, or -EINVAL with a reason in err.
 */
int hostport_parse(const char *s, int allow_zero, struct hostport *hp,
    char *err, size_t errlen);

/* Formats hp back as "host:port" or "[v6]:port" into buf. */
void hostport_format(const struct hostport *hp, char *buf, size_t len);

#endif
