/*
 * The penalty table.  Sources live in slots of one array that grows up
 * to the table's bound; a hash table over their addresses finds them and
 * a binary heap keeps them in order of expiry, so that expired sources
 * are dropped and, when the table is full, the one that would expire
 * soonest is pushed out, both in O(log n).  The hash is keyed with
 * random bytes: peers choose their addresses, and must not be able to
 * pile them into one chain.
 */
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "log.h"
#include "penalty.h"

#define PENALTY_NONE        UINT32_MAX
#define PENALTY_V6_BITS     64 /* an IPv6 source is its /64 */
#define PENALTY_SECS_MAX    (7 * 24 * 3600)
#define PENALTY_SOURCES_MAX (1 << 20)
#define PENALTY_EXEMPT_MAX  64
#define PENALTY_SPEC_MAX    1024
#define PENALTY_FIRST_SLOTS 64

struct penalty_src {
	struct in6_addr addr;   /* the source: masked */
	uint64_t        expiry; /* ms: now plus what is owed */
	uint32_t        next;   /* hash chain, or the free list */
	uint32_t        pos;    /* index in the heap */
	uint8_t         active; /* owed min once: refused */
	uint8_t         kind;   /* the last kind added */
};

struct penalty_net {
	struct in6_addr addr;
	unsigned        bits;
};

struct penalty {
	struct penalty_conf conf;
	struct penalty_net *exempt;
	size_t              nexempt;
	char               *exempt_text;
	struct penalty_src *src;
	uint32_t           *heap; /* slots, soonest expiry first */
	uint32_t            n;    /* sources held */
	uint32_t            cap;  /* slots allocated */
	uint32_t            used; /* slots ever handed out */
	uint32_t            free; /* first free slot */
	uint32_t           *bucket;
	uint32_t            nbuckets; /* a power of two */
	unsigned char       key[crypto_shorthash_KEYBYTES];
};

static const char *penalty_kind_names[PENALTY_NKINDS] = {
    [PENALTY_AUTHFAIL] = "authfail",
    [PENALTY_NOAUTH] = "noauth",
    [PENALTY_GRACE] = "grace-exceeded",
};

static const unsigned char penalty_v4mapped[12] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

void
penalty_conf_default(struct penalty_conf *c)
{
	memset(c, 0, sizeof *c);
	c->enabled = 1;
	c->secs[PENALTY_AUTHFAIL] = 5;
	c->secs[PENALTY_NOAUTH] = 1;
	c->secs[PENALTY_GRACE] = 10;
	c->max = 600;
	c->min = 15;
	c->max_sources = 65536;
}

const char *
penalty_kind_name(enum penalty_kind kind)
{
	return kind < PENALTY_NKINDS ? penalty_kind_names[kind] : "?";
}

/* "15", "15s", "2m" or "1h" as seconds, at most PENALTY_SECS_MAX. */
static int
penalty_parse_secs(const char *s, unsigned *out)
{
	unsigned long v;
	unsigned      unit = 1;
	char         *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0)
		return -EINVAL;
	if (*end == 'm')
		unit = 60;
	else if (*end == 'h')
		unit = 3600;
	else if (*end != 's' && *end != '\0')
		return -EINVAL;
	if (*end != '\0' && end[1] != '\0')
		return -EINVAL;
	if (v > PENALTY_SECS_MAX / unit)
		return -EINVAL;
	*out = (unsigned)v * unit;
	return 0;
}

static int
penalty_parse_count(const char *s, size_t *out)
{
	unsigned long v;
	char         *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0 || v > PENALTY_SOURCES_MAX)
		return -EINVAL;
	*out = v;
	return 0;
}

/* One "keyword:value" word into c. */
static int
penalty_parse_word(char *word, struct penalty_conf *c, char *err, size_t errlen)
{
	unsigned *secs = NULL;
	char     *value;
	int       k;

	if ((value = strchr(word, ':')) == NULL) {
		snprintf(
		    err, errlen, "\"%.40s\" is not keyword:duration", word);
		return -EINVAL;
	}
	*value++ = '\0';
	for (k = 0; k < PENALTY_NKINDS; k++) {
		if (strcmp(word, penalty_kind_names[k]) == 0)
			secs = &c->secs[k];
	}
	if (strcmp(word, "max") == 0)
		secs = &c->max;
	else if (strcmp(word, "min") == 0)
		secs = &c->min;

	if (strcmp(word, "max-sources") == 0) {
		if (penalty_parse_count(value, &c->max_sources) == 0)
			return 0;
		snprintf(err, errlen, "max-sources must be 1 to %d",
		    PENALTY_SOURCES_MAX);
		return -EINVAL;
	}
	if (secs == NULL) {
		snprintf(err, errlen, "unknown keyword \"%.40s\"", word);
		return -EINVAL;
	}
	if (penalty_parse_secs(value, secs) != 0) {
		snprintf(err, errlen,
		    "bad duration \"%.40s\" for %s (seconds, or with s, m "
		    "or h, at most 7 days)",
		    value, word);
		return -EINVAL;
	}
	return 0;
}

int
penalty_conf_parse(
    const char *spec, struct penalty_conf *c, char *err, size_t errlen)
{
	struct penalty_conf nc;
	char                buf[PENALTY_SPEC_MAX], *word, *save = NULL;
	int                 rc;

	penalty_conf_default(&nc);
	if (strlen(spec) >= sizeof buf) {
		snprintf(err, errlen, "too long");
		return -EINVAL;
	}
	snprintf(buf, sizeof buf, "%s", spec);

	for (word = strtok_r(buf, " \t", &save); word != NULL;
	     word = strtok_r(NULL, " \t", &save)) {
		if (strcmp(word, "no") == 0 || strcmp(word, "yes") == 0) {
			/* Alone, they turn penalties off or on as they
			 * are by default. */
			if (strcmp(spec, word) != 0) {
				snprintf(
				    err, errlen, "\"%s\" stands alone", word);
				return -EINVAL;
			}
			nc.enabled = word[0] == 'y';
		} else if ((rc = penalty_parse_word(word, &nc, err, errlen)) !=
		    0)
			return rc;
	}
	if (nc.max == 0 || nc.min > nc.max) {
		snprintf(
		    err, errlen, "max must be at least 1 s and not below min");
		return -EINVAL;
	}
	*c = nc;
	return 0;
}

int
penalty_addr_parse(const char *text, struct in6_addr *a)
{
	struct in_addr v4;

	if (inet_pton(AF_INET6, text, a) == 1)
		return 0;
	if (inet_pton(AF_INET, text, &v4) != 1)
		return -EINVAL;
	memcpy(a->s6_addr, penalty_v4mapped, sizeof penalty_v4mapped);
	memcpy(a->s6_addr + 12, &v4, 4);
	return 0;
}

int
penalty_addr_v4(const struct in6_addr *a)
{
	return memcmp(a->s6_addr, penalty_v4mapped, sizeof penalty_v4mapped) ==
	    0;
}

/* Whether a lies in the first bits bits of net. */
static int
penalty_in_net(
    const struct in6_addr *a, const struct in6_addr *net, unsigned bits)
{
	unsigned      whole = bits / 8, rest = bits % 8;
	unsigned char mask;

	if (memcmp(a->s6_addr, net->s6_addr, whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (unsigned char)(0xff << (8 - rest));
	return (a->s6_addr[whole] & mask) == (net->s6_addr[whole] & mask);
}

/* Clears every bit of a past the first bits. */
static void
penalty_mask(struct in6_addr *a, unsigned bits)
{
	unsigned i;

	for (i = bits; i < 128; i++)
		a->s6_addr[i / 8] &= (unsigned char)~(0x80 >> (i % 8));
}

/* The source a belongs to: the IPv4 address, or the IPv6 /64. */
static void
penalty_source(const struct in6_addr *a, struct in6_addr *src)
{
	*src = *a;
	if (!penalty_addr_v4(a))
		penalty_mask(src, PENALTY_V6_BITS);
}

int
penalty_new(const struct penalty_conf *c, struct penalty **out)
{
	struct penalty *p;
	uint32_t        nb = 16;

	if (c->max_sources == 0 || c->max_sources > PENALTY_SOURCES_MAX)
		return -EINVAL;
	if ((p = calloc(1, sizeof *p)) == NULL)
		return -ENOMEM;
	p->conf = *c;
	p->free = PENALTY_NONE;
	while (nb < c->max_sources)
		nb *= 2;
	p->nbuckets = nb;
	if ((p->bucket = malloc(nb * sizeof *p->bucket)) == NULL ||
	    (p->exempt_text = strdup("none")) == NULL) {
		penalty_free(p);
		return -ENOMEM;
	}
	memset(p->bucket, 0xff, nb * sizeof *p->bucket);
	randombytes_buf(p->key, sizeof p->key);
	*out = p;
	return 0;
}

void
penalty_free(struct penalty *p)
{
	if (p == NULL)
		return;
	free(p->exempt);
	free(p->exempt_text);
	free(p->src);
	free(p->heap);
	free(p->bucket);
	free(p);
}

const struct penalty_conf *
penalty_conf(const struct penalty *p)
{
	return &p->conf;
}

/* One "addr[/bits]" of an exempt list. */
static int
penalty_parse_net(char *text, struct penalty_net *net)
{
	char         *slash, *end;
	unsigned long bits;
	unsigned      most;

	if ((slash = strchr(text, '/')) != NULL)
		*slash++ = '\0';
	if (penalty_addr_parse(text, &net->addr) != 0)
		return -EINVAL;
	most =
	    penalty_addr_v4(&net->addr) && strchr(text, ':') == NULL ? 32 : 128;
	bits = most;
	if (slash != NULL) {
		if (!isdigit((unsigned char)*slash))
			return -EINVAL;
		bits = strtoul(slash, &end, 10);
		if (*end != '\0' || bits > most)
			return -EINVAL;
	}
	net->bits = (unsigned)bits + (128 - most);
	penalty_mask(&net->addr, net->bits);
	return 0;
}

int
penalty_set_exempt(
    struct penalty *p, const char *list, char *err, size_t errlen)
{
	struct penalty_net nets[PENALTY_EXEMPT_MAX], *v = NULL;
	char               buf[PENALTY_SPEC_MAX], *item, *save = NULL, *text;
	char               shown[64];
	size_t             n = 0;

	if (strlen(list) >= sizeof buf) {
		snprintf(err, errlen, "too long");
		return -EINVAL;
	}
	snprintf(buf, sizeof buf, "%s", strcmp(list, "none") == 0 ? "" : list);
	for (item = strtok_r(buf, ", \t", &save); item != NULL;
	     item = strtok_r(NULL, ", \t", &save)) {
		if (n == PENALTY_EXEMPT_MAX) {
			snprintf(err, errlen, "more than %d networks",
			    PENALTY_EXEMPT_MAX);
			return -EINVAL;
		}
		snprintf(shown, sizeof shown, "%s", item);
		if (penalty_parse_net(item, &nets[n++]) != 0) {
			snprintf(err, errlen,
			    "\"%s\" is not an address or CIDR", shown);
			return -EINVAL;
		}
	}

	text = strdup(n > 0 ? list : "none");
	if (text == NULL || (n > 0 && (v = calloc(n, sizeof *v)) == NULL)) {
		free(text);
		return -ENOMEM;
	}
	if (n > 0)
		memcpy(v, nets, n * sizeof *v);
	free(p->exempt);
	free(p->exempt_text);
	p->exempt = v;
	p->nexempt = n;
	p->exempt_text = text;
	return 0;
}

const char *
penalty_exempt(const struct penalty *p)
{
	return p->exempt_text;
}

static int
penalty_is_exempt(const struct penalty *p, const struct in6_addr *a)
{
	size_t i;

	for (i = 0; i < p->nexempt; i++) {
		if (penalty_in_net(a, &p->exempt[i].addr, p->exempt[i].bits))
			return 1;
	}
	return 0;
}

static uint32_t
penalty_hash(const struct penalty *p, const struct in6_addr *src)
{
	unsigned char h[crypto_shorthash_BYTES];
	uint32_t      v;

	crypto_shorthash(h, src->s6_addr, sizeof src->s6_addr, p->key);
	memcpy(&v, h, sizeof v);
	return v & (p->nbuckets - 1);
}

static uint32_t
penalty_find(const struct penalty *p, const struct in6_addr *src)
{
	uint32_t i;

	for (i = p->bucket[penalty_hash(p, src)]; i != PENALTY_NONE;
	     i = p->src[i].next) {
		if (memcmp(&p->src[i].addr, src, sizeof *src) == 0)
			return i;
	}
	return PENALTY_NONE;
}

static int
penalty_before(const struct penalty *p, uint32_t i, uint32_t j)
{
	return p->src[p->heap[i]].expiry < p->src[p->heap[j]].expiry;
}

static void
penalty_swap(struct penalty *p, uint32_t i, uint32_t j)
{
	uint32_t t = p->heap[i];

	p->heap[i] = p->heap[j];
	p->heap[j] = t;
	p->src[p->heap[i]].pos = i;
	p->src[p->heap[j]].pos = j;
}

static void
penalty_sift_up(struct penalty *p, uint32_t i)
{
	while (i > 0 && penalty_before(p, i, (i - 1) / 2)) {
		penalty_swap(p, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
penalty_sift_down(struct penalty *p, uint32_t i)
{
	uint32_t least, l, r;

	for (;;) {
		least = i;
		l = 2 * i + 1;
		r = l + 1;
		if (l < p->n && penalty_before(p, l, least))
			least = l;
		if (r < p->n && penalty_before(p, r, least))
			least = r;
		if (least == i)
			return;
		penalty_swap(p, i, least);
		i = least;
	}
}

/* Takes slot i out of its chain and the heap, onto the free list. */
static void
penalty_remove(struct penalty *p, uint32_t i)
{
	uint32_t *link = &p->bucket[penalty_hash(p, &p->src[i].addr)];
	uint32_t  pos = p->src[i].pos;

	while (*link != i)
		link = &p->src[*link].next;
	*link = p->src[i].next;

	p->n--;
	if (pos != p->n) {
		p->heap[pos] = p->heap[p->n];
		p->src[p->heap[pos]].pos = pos;
		penalty_sift_down(p, pos);
		penalty_sift_up(p, pos);
	}
	p->src[i].next = p->free;
	p->free = i;
}

static void
penalty_expire(struct penalty *p, uint64_t now)
{
	while (p->n > 0 && p->src[p->heap[0]].expiry <= now)
		penalty_remove(p, p->heap[0]);
}

/* A free slot, the arrays grown if need be; PENALTY_NONE without memory. */
static uint32_t
penalty_slot(struct penalty *p)
{
	struct penalty_src *src;
	uint32_t           *heap, cap, i;

	if ((i = p->free) != PENALTY_NONE) {
		p->free = p->src[i].next;
		return i;
	}
	if (p->used == p->cap) {
		/* One over the bound: a new source is in the table for a
		 * moment before the one that leaves soonest goes. */
		cap = p->cap > 0 ? p->cap * 2 : PENALTY_FIRST_SLOTS;
		if (cap > p->conf.max_sources + 1)
			cap = (uint32_t)p->conf.max_sources + 1;
		if ((src = reallocarray(p->src, cap, sizeof *src)) == NULL)
			return PENALTY_NONE;
		p->src = src;
		if ((heap = reallocarray(p->heap, cap, sizeof *heap)) == NULL)
			return PENALTY_NONE;
		p->heap = heap;
		p->cap = cap;
	}
	return p->used++;
}

static int
penalty_insert(struct penalty *p, const struct in6_addr *src,
    enum penalty_kind kind, uint64_t now, unsigned secs)
{
	uint32_t i, h;

	if ((i = penalty_slot(p)) == PENALTY_NONE)
		return -ENOMEM;

	if (secs > p->conf.max)
		secs = p->conf.max;
	p->src[i].addr = *src;
	p->src[i].expiry = now + (uint64_t)secs * 1000;
	p->src[i].active = secs >= p->conf.min;
	p->src[i].kind = (uint8_t)kind;
	h = penalty_hash(p, src);
	p->src[i].next = p->bucket[h];
	p->bucket[h] = i;
	p->src[i].pos = p->n;
	p->heap[p->n++] = i;
	penalty_sift_up(p, p->src[i].pos);

	/* Past the bound, the source that would leave soonest goes, which
	 * may be the new one. */
	if (p->n > p->conf.max_sources) {
		h = p->heap[0];
		penalty_remove(p, h);
		if (h == i)
			return 0;
	}
	return p->src[i].active;
}

int
penalty_add(struct penalty *p, const struct in6_addr *a, enum penalty_kind kind,
    uint64_t now)
{
	struct penalty_src *s;
	struct in6_addr     src;
	uint64_t            owed;
	uint32_t            i;
	unsigned secs = kind < PENALTY_NKINDS ? p->conf.secs[kind] : 0;

	if (!p->conf.enabled || secs == 0 || penalty_is_exempt(p, a))
		return 0;
	penalty_expire(p, now);
	penalty_source(a, &src);
	if ((i = penalty_find(p, &src)) == PENALTY_NONE)
		return penalty_insert(p, &src, kind, now, secs);

	/* Owed time runs down as it passes; what is added piles up to
	 * max, and from min on the source is refused until it is paid. */
	s = &p->src[i];
	owed = s->expiry - now + (uint64_t)secs * 1000;
	if (owed > (uint64_t)p->conf.max * 1000)
		owed = (uint64_t)p->conf.max * 1000;
	s->expiry = now + owed;
	if (owed >= (uint64_t)p->conf.min * 1000)
		s->active = 1;
	s->kind = (uint8_t)kind;
	penalty_sift_down(p, s->pos);
	return s->active;
}

int
penalty_refused(struct penalty *p, const struct in6_addr *a, uint64_t now)
{
	struct in6_addr src;
	uint32_t        i;

	if (!p->conf.enabled || penalty_is_exempt(p, a))
		return 0;
	penalty_expire(p, now);
	penalty_source(a, &src);
	i = penalty_find(p, &src);
	return i != PENALTY_NONE && p->src[i].active;
}

size_t
penalty_count(struct penalty *p, uint64_t now)
{
	penalty_expire(p, now);
	return p->n;
}

static void
penalty_format(const struct in6_addr *src, char *buf, size_t len)
{
	char text[INET6_ADDRSTRLEN];

	if (penalty_addr_v4(src)) {
		inet_ntop(AF_INET, src->s6_addr + 12, text, sizeof text);
		snprintf(buf, len, "%s/32", text);
	} else {
		inet_ntop(AF_INET6, src, text, sizeof text);
		snprintf(buf, len, "%s/%d", text, PENALTY_V6_BITS);
	}
}

static int
penalty_cmp_slots(const void *a, const void *b, void *arg)
{
	const struct penalty_src *src = arg;
	const struct in6_addr    *x = &src[*(const uint32_t *)a].addr;
	const struct in6_addr    *y = &src[*(const uint32_t *)b].addr;
	int                       xv4 = penalty_addr_v4(x);
	int                       yv4 = penalty_addr_v4(y);

	if (xv4 != yv4)
		return yv4 - xv4;
	return memcmp(x, y, sizeof *x);
}

int
penalty_list(
    struct penalty *p, uint64_t now, struct penalty_info **out, size_t *n)
{
	struct penalty_info *v = NULL;
	uint32_t            *slots = NULL, i, k = 0;
	int                  rc = -ENOMEM;

	*out = NULL;
	*n = 0;
	penalty_expire(p, now);
	if (p->n == 0)
		return 0;
	if ((slots = calloc(p->n, sizeof *slots)) == NULL ||
	    (v = calloc(p->n, sizeof *v)) == NULL)
		goto out;

	for (i = 0; i < p->n; i++) {
		if (p->src[p->heap[i]].active)
			slots[k++] = p->heap[i];
	}
	qsort_r(slots, k, sizeof *slots, penalty_cmp_slots, p->src);
	for (i = 0; i < k; i++) {
		penalty_format(
		    &p->src[slots[i]].addr, v[i].source, sizeof v[i].source);
		v[i].secs_left =
		    (unsigned)((p->src[slots[i]].expiry - now + 999) / 1000);
		v[i].kind = p->src[slots[i]].kind;
	}
	if (k > 0) {
		*out = v;
		*n = k;
		v = NULL;
	}
	rc = 0;

out:
	free(slots);
	free(v);
	return rc;
}

void
penalty_charge(struct penalty *p, const struct in6_addr *a, const char *ip,
    enum penalty_kind kind, uint64_t now)
{
	int was = penalty_refused(p, a, now);

	if (penalty_add(p, a, kind, now) == 1 && !was)
		log_info("penalty enforced remote_addr=%s reason=%s", ip,
		    penalty_kind_name(kind));
}
