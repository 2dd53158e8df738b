/*
 * Per-source penalties, after OpenSSH's PerSourcePenalties: a connection
 * that ended badly (failed authentication, never tried, ran out of login
 * grace time) adds seconds to its source's penalty; once a source has
 * min seconds outstanding, its new connections are refused until they
 * have run out.  A source is an IPv4 address or an IPv6 /64.
 *
 * Addresses are struct in6_addr throughout, IPv4 in its IPv4-mapped
 * form, so ::ffff:192.0.2.1 and 192.0.2.1 are one source.  Time is
 * whatever monotonic milliseconds the caller passes as now.
 */
#ifndef ALKNET_PENALTY_H
#define ALKNET_PENALTY_H

#include <netinet/in.h>

#include <stddef.h>
#include <stdint.h>

enum penalty_kind {
	PENALTY_AUTHFAIL, /* closed after failed authentication */
	PENALTY_NOAUTH,   /* closed without trying to authenticate */
	PENALTY_GRACE,    /* the login grace time ran out */
	PENALTY_NKINDS
};

struct penalty_conf {
	int      enabled;
	unsigned secs[PENALTY_NKINDS]; /* added per kind; 0: none */
	unsigned max;                  /* most a source can owe */
	unsigned min;                  /* owed from here on: refused */
	size_t   max_sources;          /* table bound */
};

/* OpenSSH 9.8's defaults: authfail:5 noauth:1 grace-exceeded:10 max:600
 * min:15, and 65536 sources. */
void penalty_conf_default(struct penalty_conf *c);

/*
 * Parses spec, "no", "yes" or whitespace-separated "keyword:duration"
 * words (authfail, noauth, grace-exceeded, max, min; a duration is
 * seconds with an optional s, m or h) and "max-sources:N".  Words
 * override the defaults.  Returns 0 and *c, or -EINVAL with the problem
 * in err and *c untouched.
 */
int penalty_conf_parse(
    const char *spec, struct penalty_conf *c, char *err, size_t errlen);

/* The keyword of a kind, as the spec and the penalties file write it. */
const char *penalty_kind_name(enum penalty_kind kind);

/*
 * Reads a numeric IPv4 or IPv6 address (no brackets, no zone) into *a,
 * IPv4 as IPv4-mapped.  Returns 0 or -EINVAL.
 */
int penalty_addr_parse(const char *text, struct in6_addr *a);

/* 1 when a is IPv4 (IPv4-mapped), else 0. */
int penalty_addr_v4(const struct in6_addr *a);

struct penalty;

/*
 * A new empty table with c's settings.  Returns 0 and *out (free with
 * penalty_free), or -EINVAL for a bound of 0 or -ENOMEM.
 */
int penalty_new(const struct penalty_conf *c, struct penalty **out);

/* Frees p; accepts NULL. */
void penalty_free(struct penalty *p);

/* The settings p was made with. */
const struct penalty_conf *penalty_conf(const struct penalty *p);

/*
 * Replaces the exempt list with list: CIDRs ("127.0.0.0/8", "::1/128")
 * or plain addresses, separated by commas; "" or "none" for none.  An
 * exempt source is never penalized nor refused.  Returns 0, or -EINVAL
 * with the problem in err and the old list kept, or -ENOMEM.
 */
int penalty_set_exempt(
    struct penalty *p, const char *list, char *err, size_t errlen);

/* The exempt list as given to penalty_set_exempt, or "none". */
const char *penalty_exempt(const struct penalty *p);

/*
 * Adds the seconds of kind to a's source at now.  In a full table, the
 * source whose penalty ends soonest, possibly the new one, is dropped:
 * a full table never refuses anyone for being full (OpenSSH's
 * permissive overflow).  Returns 1 when the source is refused from now
 * on, 0 when it is not (yet), or -ENOMEM.
 */
int penalty_add(struct penalty *p, const struct in6_addr *a,
    enum penalty_kind kind, uint64_t now);

/* 1 when connections from a are refused at now, else 0. */
int penalty_refused(struct penalty *p, const struct in6_addr *a, uint64_t now);

/*
 * A connection from a (ip: its text, for the log) ended owing kind:
 * penalty_add, and the log line "penalty enforced remote_addr=IP
 * reason=KIND" when that starts refusing the source.
 */
void penalty_charge(struct penalty *p, const struct in6_addr *a, const char *ip,
    enum penalty_kind kind, uint64_t now);

/* Sources in the table at now (those refused and those not yet). */
size_t penalty_count(struct penalty *p, uint64_t now);

struct penalty_info {
	char              source[INET6_ADDRSTRLEN + 4]; /* "192.0.2.1/32" */
	unsigned          secs_left;                    /* rounded up */
	enum penalty_kind kind;                         /* the last one */
};

/*
 * The sources refused at now, in address order (IPv4 first), into a new
 * array in *out (free it with free(); NULL when there are none).
 * Returns 0 or -ENOMEM.
 */
int penalty_list(
    struct penalty *p, uint64_t now, struct penalty_info **out, size_t *n);

#endif
