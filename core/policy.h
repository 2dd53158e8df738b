/*
 * Rules: who may reach which targets, and which ports a peer may ask
 * this head to open for remote forwards.
 *
 * A rule set is ordered; the first rule whose target, principal and
 * transport all match decides, else the default.  Text form, one rule a
 * line (blank lines and '#' comments allowed):
 *
 *	allow|deny TARGET [principals=a,b] [transports=tcp,tls]
 *	default allow|deny
 *
 *	TARGET := '*' | (HOSTPATTERN | CIDR) [':' ('*' | PORT | PORT-PORT)]
 *
 * Actions are case-insensitive.  Port ranges are inclusive; a missing
 * port means any port.  A host pattern holds at most one '*' and is
 * case-sensitive; "*.example.com" does not match "example.com".  A CIDR
 * (IPv4 or IPv6, with "/len") matches literal IP targets only.  A
 * principal matches an identity id ("SHA256:...") or one of its scopes;
 * "*" matches everyone.  A set is immutable once parsed.
 */
#ifndef ALKNET_POLICY_H
#define ALKNET_POLICY_H

#include <stddef.h>

struct policy;

struct policy_subject {
	const char        *id;        /* "SHA256:..." */
	const char *const *scopes;    /* NULL-terminated, may be NULL */
	const char        *transport; /* "tcp", "tls", ... */
};

/*
 * Parses text (NUL-terminated).  default_allow is the default when the
 * text has no "default" line.  Returns 0 and a new set in *out, or
 * -EINVAL with "line N: reason" in err; nothing is created on error.
 */
int policy_parse(const char *text, int default_allow, struct policy **out,
    char *err, size_t errlen);

void policy_free(struct policy *p);

/* 1 when subject may reach host:port, else 0.  host is a name or a
 * literal IPv4/IPv6 address without brackets. */
int policy_allows(const struct policy *p, const char *host, unsigned port,
    const struct policy_subject *subject);

/* The set in canonical text, one rule a line, "default ..." last.  The
 * caller frees the string. */
char *policy_format(const struct policy *p);

/* Number of rules, the default not counted. */
size_t policy_count(const struct policy *p);

#endif
