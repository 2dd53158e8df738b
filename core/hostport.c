/*
 * Endpoints as operators write them: "host:port", "[v6]:port", optionally
 * behind "tcp://".  Parsing is strict so that a typo is refused with a
 * reason rather than turned into a surprising address.  Socket addresses
 * come out in the same form, so that logs and files show one notation.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "hostport.h"

#define HOSTPORT_SCHEME "tcp://"

static int
hostport_fail(char *err, size_t errlen, const char *reason)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", reason);
	return -EINVAL;
}

/* Letters, digits, '.', '-' and '_': names and IPv4 literals. */
static int
hostport_name_ok(const char *host, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (strchr("abcdefghijklmnopqrstuvwxyz"
		           "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_",
		        host[i]) == NULL)
			return 0;
	}
	return 1;
}

/* An IPv6 literal, optionally with a "%zone" suffix. */
static int
hostport_v6_ok(const char *host)
{
	struct in6_addr a;
	char            addr[INET6_ADDRSTRLEN];
	const char     *zone;
	size_t          len;

	zone = strchr(host, '%');
	len = zone != NULL ? (size_t)(zone - host) : strlen(host);
	if (len >= sizeof addr)
		return 0;
	memcpy(addr, host, len);
	addr[len] = '\0';
	if (inet_pton(AF_INET6, addr, &a) != 1)
		return 0;

	if (zone == NULL)
		return 1;
	zone++;
	return *zone != '\0' && hostport_name_ok(zone, strlen(zone));
}

static int
hostport_port(
    const char *s, int allow_zero, uint16_t *port, char *err, size_t errlen)
{
	unsigned long v = 0;
	const char   *p;

	if (*s == '\0')
		return hostport_fail(err, errlen, "missing port");
	for (p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return hostport_fail(
			    err, errlen, "port is not a number");
		/* Stop counting early so a long digit string cannot wrap. */
		if (v <= 65535)
			v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v > 65535)
		return hostport_fail(err, errlen, "port is above 65535");
	if (v == 0 && !allow_zero)
		return hostport_fail(err, errlen, "port 0 is not allowed");

	*port = (uint16_t)v;
	return 0;
}

/* Splits "[v6]:port"; *hostp and *portp point into s. */
static int
hostport_split_v6(const char *s, const char **hostp, size_t *hostlen,
    const char **portp, char *err, size_t errlen)
{
	const char *close;

	close = strchr(s, ']');
	if (close == NULL || strchr(s + 1, '[') != NULL ||
	    strchr(close + 1, ']') != NULL)
		return hostport_fail(err, errlen, "unbalanced brackets");
	if (close[1] == '\0')
		return hostport_fail(err, errlen, "missing port");
	if (close[1] != ':')
		return hostport_fail(
		    err, errlen, "expected ':' after the closing bracket");

	*hostp = s + 1;
	*hostlen = (size_t)(close - s - 1);
	*portp = close + 2;
	return 0;
}

/* Splits "host:port"; *hostp and *portp point into s. */
static int
hostport_split_name(const char *s, const char **hostp, size_t *hostlen,
    const char **portp, char *err, size_t errlen)
{
	const char *colon;

	if (strpbrk(s, "[]") != NULL)
		return hostport_fail(err, errlen, "unbalanced brackets");
	colon = strchr(s, ':');
	if (colon == NULL)
		return hostport_fail(err, errlen, "missing port");
	if (strchr(colon + 1, ':') != NULL)
		return hostport_fail(
		    err, errlen, "an IPv6 address must be written in brackets");

	*hostp = s;
	*hostlen = (size_t)(colon - s);
	*portp = colon + 1;
	return 0;
}

static const char *
hostport_skip_scheme(const char *s, char *err, size_t errlen)
{
	size_t len = strlen(HOSTPORT_SCHEME);

	if (strncasecmp(s, HOSTPORT_SCHEME, len) == 0)
		return s + len;
	if (strstr(s, "://") != NULL) {
		hostport_fail(err, errlen, "unsupported scheme");
		return NULL;
	}
	return s;
}

int
hostport_parse(const char *s, int allow_zero, struct hostport *hp, char *err,
    size_t errlen)
{
	struct hostport tmp;
	const char     *host, *port;
	size_t          hostlen;
	int             v6, rc;

	if (s == NULL || *s == '\0')
		return hostport_fail(err, errlen, "empty endpoint");
	if ((s = hostport_skip_scheme(s, err, errlen)) == NULL)
		return -EINVAL;
	if (*s == '\0')
		return hostport_fail(err, errlen, "empty endpoint");

	v6 = s[0] == '[';
	if (v6)
		rc = hostport_split_v6(s, &host, &hostlen, &port, err, errlen);
	else
		rc =
		    hostport_split_name(s, &host, &hostlen, &port, err, errlen);
	if (rc != 0)
		return rc;

	if (hostlen == 0)
		return hostport_fail(err, errlen, "empty host");
	if (hostlen >= sizeof tmp.host)
		return hostport_fail(err, errlen, "host longer than 255 bytes");
	if ((rc = hostport_port(port, allow_zero, &tmp.port, err, errlen)) != 0)
		return rc;

	memcpy(tmp.host, host, hostlen);
	tmp.host[hostlen] = '\0';
	if (v6 && !hostport_v6_ok(tmp.host))
		return hostport_fail(err, errlen, "not an IPv6 address");
	if (!v6 && !hostport_name_ok(tmp.host, hostlen))
		return hostport_fail(err, errlen, "invalid character in host");

	*hp = tmp;
	return 0;
}

void
hostport_format(const struct hostport *hp, char *buf, size_t len)
{
	if (strchr(hp->host, ':') != NULL)
		snprintf(buf, len, "[%s]:%u", hp->host, (unsigned)hp->port);
	else
		snprintf(buf, len, "%s:%u", hp->host, (unsigned)hp->port);
}

int
hostport_from_sockaddr(const struct sockaddr *sa, struct hostport *hp)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
	const struct sockaddr_in  *s4 = (const struct sockaddr_in *)sa;

	if (sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &s6->sin6_addr, hp->host, sizeof hp->host);
		hp->port = ntohs(s6->sin6_port);
		return 0;
	}
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &s4->sin_addr, hp->host, sizeof hp->host);
		hp->port = ntohs(s4->sin_port);
		return 0;
	}
	return -EAFNOSUPPORT;
}

static int
hostport_from_fd(int fd, int peer, struct hostport *hp)
{
	struct sockaddr_storage ss;
	socklen_t               len = sizeof ss;
	int                     rc;

	if (peer)
		rc = getpeername(fd, (struct sockaddr *)&ss, &len);
	else
		rc = getsockname(fd, (struct sockaddr *)&ss, &len);
	if (rc == -1)
		return -errno;
	return hostport_from_sockaddr((struct sockaddr *)&ss, hp);
}

int
hostport_peername(int fd, struct hostport *hp)
{
	return hostport_from_fd(fd, 1, hp);
}

int
hostport_sockname(int fd, struct hostport *hp)
{
	return hostport_from_fd(fd, 0, hp);
}
