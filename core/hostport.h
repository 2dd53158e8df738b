/*
 * Parsing of "HOST:PORT" and "[V6]:PORT" endpoints and tcp:// URIs, and
 * the endpoints of sockets.
 */
#ifndef ALKNET_HOSTPORT_H
#define ALKNET_HOSTPORT_H

#include <stddef.h>
#include <stdint.h>

struct sockaddr;

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

/*
 * Fills hp with the numeric address (IPv6 without brackets or zone) and
 * the port of sa.  Returns 0, or -EAFNOSUPPORT for a family other than
 * AF_INET and AF_INET6, hp untouched.
 */
int hostport_from_sockaddr(const struct sockaddr *sa, struct hostport *hp);

/*
 * hostport_peername fills hp with the address of socket fd's peer,
 * hostport_sockname with fd's own.  Both return 0 or a negative errno
 * and leave hp untouched on failure.
 */
int hostport_peername(int fd, struct hostport *hp);
int hostport_sockname(int fd, struct hostport *hp);

#endif
