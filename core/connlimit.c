/*
 * Connection counts per address: a fixed array of entries, chained from
 * buckets of a hash keyed with random bytes (peers choose their
 * addresses), and a free list.  An address leaves the table when its last
 * connection closes, so the table holds no more addresses than there are
 * open connections.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "connlimit.h"

#define CONNLIMIT_NONE UINT32_MAX
#define CONNLIMIT_MAX  (1 << 20)

struct connlimit_entry {
	struct in6_addr addr;
	unsigned        count;
	uint32_t        next; /* hash chain, or the free list */
};

struct connlimit {
	struct connlimit_entry *v;
	size_t                  max;
	size_t                  n;
	uint32_t                free;
	uint32_t               *bucket;
	uint32_t                nbuckets; /* a power of two */
	unsigned char           key[crypto_shorthash_KEYBYTES];
};

int
connlimit_new(size_t max_addrs, struct connlimit **out)
{
	struct connlimit *c;
	uint32_t          i, nb = 16;

	if (max_addrs == 0 || max_addrs > CONNLIMIT_MAX)
		return -EINVAL;
	if ((c = calloc(1, sizeof *c)) == NULL)
		return -ENOMEM;
	while (nb < max_addrs)
		nb *= 2;
	c->max = max_addrs;
	c->nbuckets = nb;
	c->v = calloc(max_addrs, sizeof *c->v);
	c->bucket = malloc(nb * sizeof *c->bucket);
	if (c->v == NULL || c->bucket == NULL) {
		connlimit_free(c);
		return -ENOMEM;
	}

	memset(c->bucket, 0xff, nb * sizeof *c->bucket);
	for (i = 0; i < max_addrs; i++)
		c->v[i].next = i + 1 < max_addrs ? i + 1 : CONNLIMIT_NONE;
	c->free = 0;
	randombytes_buf(c->key, sizeof c->key);
	*out = c;
	return 0;
}

void
connlimit_free(struct connlimit *c)
{
	if (c == NULL)
		return;
	free(c->v);
	free(c->bucket);
	free(c);
}

static uint32_t *
connlimit_bucket(const struct connlimit *c, const struct in6_addr *a)
{
	unsigned char h[crypto_shorthash_BYTES];
	uint32_t      v;

	crypto_shorthash(h, a->s6_addr, sizeof a->s6_addr, c->key);
	memcpy(&v, h, sizeof v);
	return &c->bucket[v & (c->nbuckets - 1)];
}

/* The link that points at a's entry, or at CONNLIMIT_NONE. */
static uint32_t *
connlimit_link(const struct connlimit *c, const struct in6_addr *a)
{
	uint32_t *link = connlimit_bucket(c, a);

	while (*link != CONNLIMIT_NONE &&
	    memcmp(&c->v[*link].addr, a, sizeof *a) != 0)
		link = &c->v[*link].next;
	return link;
}

int
connlimit_add(struct connlimit *c, const struct in6_addr *a, unsigned limit)
{
	uint32_t *link = connlimit_link(c, a);
	uint32_t  i = *link;

	if (i != CONNLIMIT_NONE) {
		if (limit != 0 && c->v[i].count >= limit)
			return -EBUSY;
		c->v[i].count++;
		return 0;
	}
	if ((i = c->free) == CONNLIMIT_NONE)
		return -ENOSPC;

	c->free = c->v[i].next;
	c->v[i].addr = *a;
	c->v[i].count = 1;
	c->v[i].next = CONNLIMIT_NONE;
	*link = i;
	c->n++;
	return 0;
}

void
connlimit_remove(struct connlimit *c, const struct in6_addr *a)
{
	uint32_t *link = connlimit_link(c, a);
	uint32_t  i = *link;

	if (i == CONNLIMIT_NONE || --c->v[i].count > 0)
		return;
	*link = c->v[i].next;
	c->v[i].next = c->free;
	c->free = i;
	c->n--;
}

unsigned
connlimit_count(const struct connlimit *c, const struct in6_addr *a)
{
	uint32_t i = *connlimit_link(c, a);

	return i != CONNLIMIT_NONE ? c->v[i].count : 0;
}

size_t
connlimit_addrs(const struct connlimit *c)
{
	return c->n;
}
