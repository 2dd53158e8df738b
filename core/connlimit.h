/*
 * Open connections per peer address, for a limit on how many one address
 * may hold at once (like OpenSSH's PerSourceMaxStartups, but counting
 * every open connection, authenticated or not).
 *
 * Addresses are struct in6_addr, IPv4 in its IPv4-mapped form (see
 * penalty_addr_parse), so an IPv4 peer reached over an IPv6 socket
 * counts as its IPv4 address.  Every IPv6 address counts on its own.
 */
#ifndef ALKNET_CONNLIMIT_H
#define ALKNET_CONNLIMIT_H

#include <netinet/in.h>

#include <stddef.h>

struct connlimit;

/*
 * A table for at most max_addrs addresses at once.  Returns 0 and *out
 * (free with connlimit_free), -EINVAL for a bound of 0 or over 1 << 20,
 * or -ENOMEM.
 */
int connlimit_new(size_t max_addrs, struct connlimit **out);

/* Frees c; accepts NULL. */
void connlimit_free(struct connlimit *c);

/*
 * Counts a new connection from a, unless a holds limit already (0: no
 * limit).  Returns 0, -EBUSY when a is at its limit, or -ENOSPC when
 * max_addrs other addresses hold connections; nothing is counted then.
 */
int connlimit_add(
    struct connlimit *c, const struct in6_addr *a, unsigned limit);

/* A connection from a that connlimit_add counted has closed. */
void connlimit_remove(struct connlimit *c, const struct in6_addr *a);

/* The connections a holds now. */
unsigned connlimit_count(const struct connlimit *c, const struct in6_addr *a);

/* The addresses holding connections now. */
size_t connlimit_addrs(const struct connlimit *c);

#endif
