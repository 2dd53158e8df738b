/*
 * Rule sets for forwarding and listening.
 *
 * Parsing is strict: a rule that does not say exactly what it means is
 * refused with its line number rather than read as something that never
 * (or always) matches.  Decisions take one pass over the rules; the
 * target host is classified once (name or literal address) up front.
 *
 * Target forms, beyond the grammar in policy.h:
 *   - an IPv6 address or CIDR takes a port only inside brackets,
 *     "[::1]:22" or "[fd00::/8]:443"; written bare ("fd00::/8") it means
 *     any port, and "[fd00::/8]" alone is accepted too;
 *   - a literal address without "/len" is that one address, compared as
 *     an address ("::1" also matches "0:0::1");
 *   - a CIDR with bits set beyond its length ("10.1.0.0/8") is refused;
 *   - "*:*" is the same rule as "*".
 * A port above 65535 is never allowed, whatever the rules say.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy.h"

#define POLICY_RULES_MAX 4096
#define POLICY_LINE_MAX  4096
#define POLICY_TEXT_MAX  (1024 * 1024)
#define POLICY_WORDS_MAX 16  /* words on one line */
#define POLICY_LIST_MAX  256 /* entries of principals= or transports= */
#define POLICY_NAME_MAX  255 /* bytes of a host pattern */
#define POLICY_QUOTE_MAX 64  /* bytes of input quoted in a message */
#define POLICY_BLANK     " \t\r"
#define POLICY_NAME_CHARS                                                      \
	"abcdefghijklmnopqrstuvwxyz"                                           \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_*"

enum policy_kind {
	POLICY_ANY,  /* '*' */
	POLICY_NAME, /* host pattern */
	POLICY_NET,  /* address or CIDR */
};

/* Entries as consecutive NUL-terminated strings; n == 0 means all. */
struct policy_list {
	char  *buf;
	size_t n;
};

struct policy_rule {
	int                allow;
	enum policy_kind   kind;
	char              *name; /* POLICY_NAME */
	size_t             star; /* offset of '*' in name, or SIZE_MAX */
	int                family;
	unsigned char      addr[16];
	unsigned           bits;
	unsigned           port_lo; /* 0-65535 is any port */
	unsigned           port_hi;
	struct policy_list principals;
	struct policy_list transports;
};

struct policy {
	int                 default_allow;
	struct policy_rule *rules;
	size_t              n;
	size_t              cap;
};

/* Where parsing stands, and where its error goes. */
struct policy_parser {
	struct policy *p;
	size_t         line;
	int            seen_default;
	char          *err;
	size_t         errlen;
};

/* A target host as policy_allows sees it. */
struct policy_target {
	const char   *name;
	size_t        len;
	int           family; /* 0 when the host is a name */
	unsigned char addr[16];
	unsigned      port;
};

/*
 * Transport kinds a rule may name.  Refusing others catches a typo that
 * would otherwise make a deny rule silently apply to nothing.
 */
static const char *const policy_transports[] = {"tcp", "tls", "quic"};

static int policy_fail(struct policy_parser *ps, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
policy_fail(struct policy_parser *ps, const char *fmt, ...)
{
	char    reason[256];
	va_list ap;

	if (ps->err == NULL || ps->errlen == 0)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	snprintf(ps->err, ps->errlen, "line %zu: %s", ps->line, reason);
	return -EINVAL;
}

/*
 * A printable, capped copy of len bytes of s for an error message: the
 * message may end up on a terminal or in a ctl reply line.
 */
static const char *
policy_quote(const char *s, size_t len, char *buf, size_t buflen)
{
	size_t i, n = 0;

	for (i = 0; i < len && n + 4 < buflen && i < POLICY_QUOTE_MAX; i++)
		buf[n++] = s[i] > ' ' && s[i] < 0x7f ? s[i] : '?';
	if (i < len) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

static void
policy_list_clear(struct policy_list *l)
{
	free(l->buf);
	l->buf = NULL;
	l->n = 0;
}

static void
policy_rule_clear(struct policy_rule *r)
{
	free(r->name);
	r->name = NULL;
	policy_list_clear(&r->principals);
	policy_list_clear(&r->transports);
}

void
policy_free(struct policy *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++)
		policy_rule_clear(&p->rules[i]);
	free(p->rules);
	free(p);
}

size_t
policy_count(const struct policy *p)
{
	return p != NULL ? p->n : 0;
}

/* Digits only, 1-65535. */
static int
policy_port_number(
    struct policy_parser *ps, const char *s, size_t len, unsigned *out)
{
	unsigned long v = 0;
	char          q[POLICY_QUOTE_MAX + 4];
	size_t        i;

	if (len == 0)
		return policy_fail(ps, "missing port");
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return policy_fail(ps, "port %s is not a number",
			    policy_quote(s, len, q, sizeof q));
		/* Stop counting early so a long digit string cannot wrap. */
		if (v <= 65535)
			v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0)
		return policy_fail(ps, "port 0 is not allowed");
	if (v > 65535)
		return policy_fail(ps, "port %s is above 65535",
		    policy_quote(s, len, q, sizeof q));
	*out = (unsigned)v;
	return 0;
}

/* '*', N or N-M (inclusive). */
static int
policy_ports(struct policy_parser *ps, const char *s, struct policy_rule *r)
{
	const char *dash;
	char        q[POLICY_QUOTE_MAX + 4];
	int         rc;

	if (strcmp(s, "*") == 0) {
		r->port_lo = 0;
		r->port_hi = 65535;
		return 0;
	}

	dash = strchr(s, '-');
	if (dash == NULL) {
		rc = policy_port_number(ps, s, strlen(s), &r->port_lo);
		r->port_hi = r->port_lo;
		return rc;
	}
	if ((rc = policy_port_number(ps, s, (size_t)(dash - s), &r->port_lo)))
		return rc;
	if ((rc = policy_port_number(
	         ps, dash + 1, strlen(dash + 1), &r->port_hi)) != 0)
		return rc;
	if (r->port_lo > r->port_hi)
		return policy_fail(ps, "port range %s is reversed",
		    policy_quote(s, strlen(s), q, sizeof q));
	return 0;
}

/* The prefix length after '/': digits, at most the address's bits. */
static int
policy_prefix(
    struct policy_parser *ps, const char *s, unsigned max, unsigned *bits)
{
	unsigned v = 0;
	char     q[POLICY_QUOTE_MAX + 4];
	size_t   i, len = strlen(s);

	if (len == 0 || len > 3 || strspn(s, "0123456789") != len)
		return policy_fail(ps, "invalid prefix length %s",
		    policy_quote(s, len, q, sizeof q));
	for (i = 0; i < len; i++)
		v = v * 10 + (unsigned)(s[i] - '0');
	if (v > max)
		return policy_fail(ps, "prefix length %u is above %u", v, max);
	*bits = v;
	return 0;
}

/* Whether addr has bits set beyond its first bits bits. */
static int
policy_host_bits(const unsigned char *addr, size_t size, unsigned bits)
{
	size_t i;

	for (i = 0; i < size; i++) {
		unsigned keep = bits >= 8 ? 8 : bits;

		if ((addr[i] & (0xff >> keep)) != 0)
			return 1;
		bits -= keep;
	}
	return 0;
}

/*
 * An address or CIDR of len bytes at s.  family is AF_INET6 when only
 * IPv6 fits the syntax, else 0 for either.  Returns 1 when s is not an
 * address at all (the caller may read it as a name), 0 when it is, or an
 * error when it looks like one but is wrong.
 */
static int
policy_net(struct policy_parser *ps, const char *s, size_t len, int family,
    struct policy_rule *r)
{
	char  text[INET6_ADDRSTRLEN + 8], q[POLICY_QUOTE_MAX + 4];
	char *slash;
	int   rc;

	if (len >= sizeof text && family == 0)
		return 1;
	if (len >= sizeof text)
		return policy_fail(ps, "%s is not an IPv6 address or CIDR",
		    policy_quote(s, len, q, sizeof q));
	memcpy(text, s, len);
	text[len] = '\0';
	if ((slash = strchr(text, '/')) != NULL)
		*slash = '\0';

	r->family = AF_INET6;
	if (inet_pton(AF_INET6, text, r->addr) != 1) {
		r->family = AF_INET;
		if (family == AF_INET6 ||
		    inet_pton(AF_INET, text, r->addr) != 1)
			r->family = 0;
	}
	if (r->family == 0 && (family != 0 || slash != NULL))
		return policy_fail(ps, "%s is not an %saddress or CIDR",
		    policy_quote(s, len, q, sizeof q),
		    family == AF_INET6 ? "IPv6 " : "");
	if (r->family == 0)
		return 1;

	r->bits = r->family == AF_INET ? 32 : 128;
	if (slash != NULL &&
	    (rc = policy_prefix(ps, slash + 1, r->bits, &r->bits)) != 0)
		return rc;
	if (policy_host_bits(r->addr, r->family == AF_INET ? 4 : 16, r->bits))
		return policy_fail(ps, "%s has bits set beyond its prefix",
		    policy_quote(s, len, q, sizeof q));
	r->kind = POLICY_NET;
	return 0;
}

/* A host pattern: name characters with at most one '*'. */
static int
policy_name(
    struct policy_parser *ps, const char *s, size_t len, struct policy_rule *r)
{
	const char *star;
	char        q[POLICY_QUOTE_MAX + 4];
	size_t      i;

	policy_quote(s, len, q, sizeof q);
	if (len > POLICY_NAME_MAX)
		return policy_fail(
		    ps, "host pattern longer than %d bytes", POLICY_NAME_MAX);
	for (i = 0; i < len; i++) {
		if (s[i] == '\0' || strchr(POLICY_NAME_CHARS, s[i]) == NULL)
			return policy_fail(
			    ps, "invalid character in host pattern %s", q);
	}
	star = memchr(s, '*', len);
	if (star != NULL && memchr(star + 1, '*', len - (size_t)(star - s) - 1))
		return policy_fail(ps, "more than one '*' in %s", q);
	/* Targets lose a trailing dot before matching; see policy_allows. */
	if (s[len - 1] == '.')
		return policy_fail(ps, "host pattern %s ends with '.'", q);
	/* Digits and dots that are no address are a typo, not a name. */
	for (i = 0; i < len && (isdigit((unsigned char)s[i]) || s[i] == '.');
	     i++)
		;
	if (i == len)
		return policy_fail(ps, "%s is not an IPv4 address", q);

	if ((r->name = strndup(s, len)) == NULL)
		return -ENOMEM;
	r->star = star != NULL ? (size_t)(star - s) : SIZE_MAX;
	r->kind = POLICY_NAME;
	return 0;
}

/* A host without brackets: an IPv4 address or CIDR, else a pattern. */
static int
policy_host(
    struct policy_parser *ps, const char *s, size_t len, struct policy_rule *r)
{
	char q[POLICY_QUOTE_MAX + 4];
	int  rc;

	if (len == 0)
		return policy_fail(ps, "empty host in %s",
		    policy_quote(s, strlen(s), q, sizeof q));
	if ((rc = policy_net(ps, s, len, 0, r)) <= 0)
		return rc;
	return policy_name(ps, s, len, r);
}

/* "[v6]" or "[v6]:PORTS", v6 an IPv6 address or CIDR. */
static int
policy_bracketed(struct policy_parser *ps, const char *s, struct policy_rule *r)
{
	const char *close = strchr(s, ']');
	char        q[POLICY_QUOTE_MAX + 4];
	int         rc;

	policy_quote(s, strlen(s), q, sizeof q);
	if (close == NULL || memchr(s + 1, '[', (size_t)(close - s - 1)))
		return policy_fail(ps, "unbalanced brackets in %s", q);
	if (close == s + 1)
		return policy_fail(ps, "empty host in %s", q);
	if ((rc = policy_net(ps, s + 1, (size_t)(close - s - 1), AF_INET6, r)))
		return rc;

	if (close[1] == '\0')
		return 0;
	if (close[1] != ':')
		return policy_fail(ps, "expected ':' after ']' in %s", q);
	return policy_ports(ps, close + 2, r);
}

/*
 * TARGET.  The host and the port split at the only ':'; more than one
 * ':' outside brackets can only be a bare IPv6 address or CIDR, which
 * then means any port.
 */
static int
policy_target(struct policy_parser *ps, const char *s, struct policy_rule *r)
{
	const char *colon = strchr(s, ':'), *slash;
	int         rc;

	r->port_lo = 0;
	r->port_hi = 65535;
	if (strcmp(s, "*") == 0) {
		r->kind = POLICY_ANY;
		return 0;
	}
	if (s[0] == '[')
		return policy_bracketed(ps, s, r);
	if (strpbrk(s, "[]") != NULL)
		return policy_fail(ps, "unbalanced brackets in target");
	if (colon == NULL)
		return policy_host(ps, s, strlen(s), r);
	if (strchr(colon + 1, ':') != NULL) {
		slash = strchr(s, '/');
		if (slash != NULL && strchr(slash, ':') != NULL)
			return policy_fail(ps,
			    "an IPv6 target takes a port "
			    "only in brackets: [addr/len]:port");
		return policy_net(ps, s, strlen(s), AF_INET6, r);
	}

	if ((rc = policy_host(ps, s, (size_t)(colon - s), r)) != 0)
		return rc;
	if ((rc = policy_ports(ps, colon + 1, r)) != 0)
		return rc;

	/* "*:*" says nothing more than "*". */
	if (r->kind == POLICY_NAME && strcmp(r->name, "*") == 0 &&
	    r->port_lo == 0 && r->port_hi == 65535) {
		free(r->name);
		r->name = NULL;
		r->kind = POLICY_ANY;
	}
	return 0;
}

/*
 * A principal: printable ASCII without blanks or ','.  A fingerprint is
 * checked whole, since a mistyped one would silently match nobody.
 */
static const char *
policy_principal(const char *s, size_t len)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
	                          "qrstuvwxyz0123456789+/";
	size_t            i;

	for (i = 0; i < len; i++) {
		if (s[i] <= ' ' || s[i] >= 0x7f)
			return NULL;
	}
	if (len >= 7 && strncmp(s, "SHA256:", 7) == 0) {
		for (i = 7; i < len && strchr(b64, s[i]) != NULL; i++)
			;
		if (len != 7 + 43 || i != len)
			return NULL;
	}
	return s;
}

/* A transport kind from the table, in its canonical spelling. */
static const char *
policy_transport(const char *s, size_t len)
{
	const size_t n = sizeof policy_transports / sizeof *policy_transports;
	size_t       i;

	if (len == 1 && s[0] == '*')
		return "*";
	for (i = 0; i < n; i++) {
		if (strlen(policy_transports[i]) == len &&
		    strncasecmp(s, policy_transports[i], len) == 0)
			return policy_transports[i];
	}
	return NULL;
}

/* Checks one entry of len bytes; returns the text to keep, or NULL. */
typedef const char *(*policy_entry_cb)(const char *, size_t);

/* Splits a comma list into l, checking each entry with check. */
static int
policy_list(struct policy_parser *ps, const char *key, const char *value,
    policy_entry_cb check, struct policy_list *l)
{
	const char *s, *keep;
	char        q[POLICY_QUOTE_MAX + 4];
	size_t      len, used = 0;

	if (*value == '\0')
		return policy_fail(ps, "empty %s", key);
	if ((l->buf = malloc(strlen(value) + 1)) == NULL)
		return -ENOMEM;

	for (s = value;; s += len + 1) {
		len = strcspn(s, ",");
		if (len == 0)
			return policy_fail(ps, "empty entry in %s", key);
		if ((keep = check(s, len)) == NULL)
			return policy_fail(ps, "invalid %s entry %s", key,
			    policy_quote(s, len, q, sizeof q));
		if (++l->n > POLICY_LIST_MAX)
			return policy_fail(
			    ps, "more than %d %s", POLICY_LIST_MAX, key);
		/* What check keeps has the entry's length. */
		memcpy(l->buf + used, keep, len);
		l->buf[used + len] = '\0';
		used += len + 1;
		if (s[len] == '\0')
			return 0;
	}
}

static int
policy_opt_principals(
    struct policy_parser *ps, const char *value, struct policy_rule *r)
{
	return policy_list(
	    ps, "principals", value, policy_principal, &r->principals);
}

static int
policy_opt_transports(
    struct policy_parser *ps, const char *value, struct policy_rule *r)
{
	return policy_list(
	    ps, "transports", value, policy_transport, &r->transports);
}

static const struct {
	const char *key;
	int (*parse)(
	    struct policy_parser *, const char *, struct policy_rule *);
	size_t seen; /* bit in the duplicate mask */
} policy_options[] = {
    {"principals", policy_opt_principals, 1},
    {"transports", policy_opt_transports, 2},
};

/* One key=value word after the target. */
static int
policy_option(
    struct policy_parser *ps, char *word, struct policy_rule *r, size_t *seen)
{
	const size_t n = sizeof policy_options / sizeof *policy_options;
	char        *eq = strchr(word, '=');
	char         q[POLICY_QUOTE_MAX + 4];
	size_t       i;

	if (eq == NULL)
		return policy_fail(ps, "unexpected %s",
		    policy_quote(word, strlen(word), q, sizeof q));
	*eq = '\0';
	policy_quote(word, strlen(word), q, sizeof q);
	for (i = 0; i < n; i++) {
		if (strcasecmp(word, policy_options[i].key) == 0)
			break;
	}
	if (i == n)
		return policy_fail(ps, "unknown option %s", q);
	if (*seen & policy_options[i].seen)
		return policy_fail(ps, "duplicated option %s", q);
	*seen |= policy_options[i].seen;
	return policy_options[i].parse(ps, eq + 1, r);
}

/* Appends r to the set; the set takes what r holds. */
static int
policy_add(struct policy_parser *ps, struct policy_rule *r)
{
	struct policy      *p = ps->p;
	struct policy_rule *rules;
	size_t              cap;

	if (p->n == POLICY_RULES_MAX)
		return policy_fail(ps, "more than %d rules", POLICY_RULES_MAX);
	if (p->n == p->cap) {
		cap = p->cap == 0 ? 16 : p->cap * 2;
		if ((rules = reallocarray(p->rules, cap, sizeof *rules)) ==
		    NULL)
			return -ENOMEM;
		p->rules = rules;
		p->cap = cap;
	}
	p->rules[p->n++] = *r;
	memset(r, 0, sizeof *r);
	return 0;
}

/* "allow|deny TARGET [key=value ...]" */
static int
policy_line_rule(
    struct policy_parser *ps, int allow, char **words, size_t nwords)
{
	struct policy_rule r;
	size_t             i, seen = 0;
	int                rc;

	memset(&r, 0, sizeof r);
	r.allow = allow;
	r.star = SIZE_MAX;
	if (nwords < 2 || strchr(words[1], '=') != NULL) {
		rc = policy_fail(ps, "missing target");
		goto out;
	}
	if ((rc = policy_target(ps, words[1], &r)) != 0)
		goto out;
	for (i = 2; i < nwords; i++) {
		if ((rc = policy_option(ps, words[i], &r, &seen)) != 0)
			goto out;
	}
	rc = policy_add(ps, &r);

out:
	policy_rule_clear(&r);
	return rc;
}

static int
policy_line_allow(struct policy_parser *ps, char **words, size_t nwords)
{
	return policy_line_rule(ps, 1, words, nwords);
}

static int
policy_line_deny(struct policy_parser *ps, char **words, size_t nwords)
{
	return policy_line_rule(ps, 0, words, nwords);
}

/* "default allow|deny" */
static int
policy_line_default(struct policy_parser *ps, char **words, size_t nwords)
{
	char q[POLICY_QUOTE_MAX + 4];

	if (ps->seen_default)
		return policy_fail(ps, "duplicated default line");
	if (nwords < 2)
		return policy_fail(ps, "default needs allow or deny");
	if (nwords > 2)
		return policy_fail(ps, "unexpected %s",
		    policy_quote(words[2], strlen(words[2]), q, sizeof q));

	if (strcasecmp(words[1], "allow") == 0)
		ps->p->default_allow = 1;
	else if (strcasecmp(words[1], "deny") == 0)
		ps->p->default_allow = 0;
	else
		return policy_fail(ps, "unknown default %s",
		    policy_quote(words[1], strlen(words[1]), q, sizeof q));
	ps->seen_default = 1;
	return 0;
}

static const struct {
	const char *word;
	int (*parse)(struct policy_parser *, char **, size_t);
} policy_lines[] = {
    {"allow", policy_line_allow},
    {"deny", policy_line_deny},
    {"default", policy_line_default},
};

/* Splits line (modified in place) into blank-separated words. */
static int
policy_words(struct policy_parser *ps, char *line, char **words, size_t *n)
{
	char *s = line;

	*n = 0;
	for (;;) {
		s += strspn(s, POLICY_BLANK);
		if (*s == '\0')
			return 0;
		if (*n == POLICY_WORDS_MAX)
			return policy_fail(ps, "too many words");
		words[(*n)++] = s;
		s += strcspn(s, POLICY_BLANK);
		if (*s != '\0')
			*s++ = '\0';
	}
}

/* One line of len bytes at s, without its newline. */
static int
policy_line(struct policy_parser *ps, const char *s, size_t len)
{
	const size_t n = sizeof policy_lines / sizeof *policy_lines;
	char         line[POLICY_LINE_MAX + 1], q[POLICY_QUOTE_MAX + 4];
	char        *words[POLICY_WORDS_MAX], *first;
	size_t       nwords, i;
	int          rc;

	if (len > POLICY_LINE_MAX)
		return policy_fail(
		    ps, "line longer than %d bytes", POLICY_LINE_MAX);
	memcpy(line, s, len);
	line[len] = '\0';
	first = line + strspn(line, POLICY_BLANK);
	if (*first == '\0' || *first == '#')
		return 0;
	if ((rc = policy_words(ps, line, words, &nwords)) != 0)
		return rc;

	for (i = 0; i < n; i++) {
		if (strcasecmp(words[0], policy_lines[i].word) == 0)
			return policy_lines[i].parse(ps, words, nwords);
	}
	return policy_fail(ps, "unknown action %s",
	    policy_quote(words[0], strlen(words[0]), q, sizeof q));
}

/* The line the byte at offset falls on, for the size error. */
static size_t
policy_line_at(const char *text, size_t offset)
{
	size_t i, line = 1;

	for (i = 0; i < offset; i++) {
		if (text[i] == '\n')
			line++;
	}
	return line;
}

int
policy_parse(const char *text, int default_allow, struct policy **out,
    char *err, size_t errlen)
{
	struct policy_parser ps = {NULL, 0, 0, err, errlen};
	const char          *s, *nl;
	int                  rc = -EINVAL;

	if (text == NULL || out == NULL)
		return policy_fail(&ps, "no text");
	if (strnlen(text, POLICY_TEXT_MAX + 1) > POLICY_TEXT_MAX) {
		ps.line = policy_line_at(text, POLICY_TEXT_MAX);
		return policy_fail(
		    &ps, "text longer than %d bytes", POLICY_TEXT_MAX);
	}
	if ((ps.p = calloc(1, sizeof *ps.p)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	ps.p->default_allow = default_allow != 0;

	for (s = text; *s != '\0'; s = nl + 1) {
		ps.line++;
		if ((nl = strchr(s, '\n')) == NULL)
			nl = s + strlen(s);
		if ((rc = policy_line(&ps, s, (size_t)(nl - s))) != 0)
			goto out;
		if (*nl == '\0')
			break;
	}

	*out = ps.p;
	ps.p = NULL;
	rc = 0;

out:
	if (rc == -ENOMEM && err != NULL && errlen > 0)
		snprintf(err, errlen, "line %zu: out of memory", ps.line);
	policy_free(ps.p);
	return rc;
}

/*
 * Whether the target's name matches the pattern of rule r.
 * XXX: case-sensitive as the grammar says, so "deny db" misses "DB",
 * which the resolver treats as the same host.
 */
static int
policy_match_name(const struct policy_rule *r, const struct policy_target *t)
{
	size_t plen, slen;

	if (r->star == SIZE_MAX)
		return strlen(r->name) == t->len &&
		    memcmp(r->name, t->name, t->len) == 0;

	plen = r->star;
	slen = strlen(r->name) - plen - 1;
	return t->len >= plen + slen && memcmp(t->name, r->name, plen) == 0 &&
	    memcmp(t->name + t->len - slen, r->name + plen + 1, slen) == 0;
}

static int
policy_match_net(const struct policy_rule *r, const struct policy_target *t)
{
	unsigned      full = r->bits / 8, rest = r->bits % 8;
	unsigned char mask;

	if (t->family != r->family)
		return 0;
	if (memcmp(t->addr, r->addr, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (unsigned char)(0xff << (8 - rest));
	return (t->addr[full] & mask) == r->addr[full];
}

static int
policy_match_list(const struct policy_list *l, const char *s, size_t len)
{
	const char *e;
	size_t      i;

	if (l->n == 0)
		return 1;
	for (e = l->buf, i = 0; i < l->n; e += strlen(e) + 1, i++) {
		if (strcmp(e, "*") == 0)
			return 1;
		if (s != NULL && strlen(e) == len && memcmp(e, s, len) == 0)
			return 1;
	}
	return 0;
}

static int
policy_match_subject(
    const struct policy_rule *r, const struct policy_subject *sub)
{
	const char *transport = sub != NULL ? sub->transport : NULL;
	size_t      i;

	/* Compare the kind only, should a transport ever carry details. */
	if (!policy_match_list(&r->transports, transport,
	        transport != NULL ? strcspn(transport, ":") : 0))
		return 0;

	if (sub != NULL && sub->id != NULL &&
	    policy_match_list(&r->principals, sub->id, strlen(sub->id)))
		return 1;
	for (i = 0; sub != NULL && sub->scopes != NULL && sub->scopes[i]; i++) {
		if (policy_match_list(
		        &r->principals, sub->scopes[i], strlen(sub->scopes[i])))
			return 1;
	}
	return policy_match_list(&r->principals, NULL, 0);
}

static int
policy_match(const struct policy_rule *r, const struct policy_target *t,
    const struct policy_subject *sub)
{
	if (t->port < r->port_lo || t->port > r->port_hi)
		return 0;
	if (!policy_match_subject(r, sub))
		return 0;

	switch (r->kind) {
	case POLICY_ANY:
		return 1;
	case POLICY_NAME:
		return policy_match_name(r, t);
	case POLICY_NET:
		return policy_match_net(r, t);
	}
	return 0;
}

/*
 * Reads the host as a literal address when it is one.  Besides what
 * inet_pton takes, IPv4 in the older forms inet_aton takes ("10.1",
 * "0x0a000001") counts, because the resolver dials those as addresses;
 * an IPv4-mapped IPv6 address counts as its IPv4 address, and an IPv6
 * zone is ignored, for the same reason.
 */
static void
policy_target_addr(struct policy_target *t)
{
	static const unsigned char v4mapped[12] = {
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	char           text[INET6_ADDRSTRLEN + 1];
	struct in_addr a4;
	size_t         len;

	len = strcspn(t->name, "%");
	if (len >= sizeof text)
		return;
	memcpy(text, t->name, len);
	text[len] = '\0';

	if (inet_pton(AF_INET6, text, t->addr) == 1) {
		t->family = AF_INET6;
		if (memcmp(t->addr, v4mapped, sizeof v4mapped) == 0) {
			memmove(t->addr, t->addr + 12, 4);
			t->family = AF_INET;
		}
		return;
	}
	/* inet_aton stops at a blank, so insist on address characters. */
	if (t->name[len] == '\0' &&
	    strspn(text, "0123456789abcdefABCDEFxX.") == len &&
	    inet_aton(text, &a4) != 0) {
		memcpy(t->addr, &a4, 4);
		t->family = AF_INET;
	}
}

int
policy_allows(const struct policy *p, const char *host, unsigned port,
    const struct policy_subject *subject)
{
	struct policy_target t;
	size_t               i;

	if (p == NULL || host == NULL || port > 65535)
		return 0;

	memset(&t, 0, sizeof t);
	t.name = host;
	t.len = strlen(host);
	t.port = port;
	policy_target_addr(&t);
	/* "name." is the same host as "name" to the resolver. */
	if (t.family == 0 && t.len > 1 && host[t.len - 1] == '.')
		t.len--;

	for (i = 0; i < p->n; i++) {
		if (policy_match(&p->rules[i], &t, subject))
			return p->rules[i].allow;
	}
	return p->default_allow;
}

/* A growing string; once an allocation fails it stays failed. */
struct policy_buf {
	char  *s;
	size_t len;
	size_t cap;
	int    failed;
};

static void
policy_put(struct policy_buf *b, const char *s, size_t len)
{
	char  *n;
	size_t cap;

	if (b->failed)
		return;
	if (b->len + len + 1 > b->cap) {
		cap = b->cap == 0 ? 256 : b->cap;
		while (cap < b->len + len + 1)
			cap *= 2;
		if ((n = realloc(b->s, cap)) == NULL) {
			b->failed = 1;
			return;
		}
		b->s = n;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, len);
	b->len += len;
	b->s[b->len] = '\0';
}

static void
policy_puts(struct policy_buf *b, const char *s)
{
	policy_put(b, s, strlen(s));
}

static int
policy_any_port(const struct policy_rule *r)
{
	return r->port_lo == 0 && r->port_hi == 65535;
}

static void
policy_format_ports(struct policy_buf *b, const struct policy_rule *r)
{
	char text[32];

	if (policy_any_port(r))
		return;
	if (r->port_lo == r->port_hi)
		snprintf(text, sizeof text, ":%u", r->port_lo);
	else
		snprintf(text, sizeof text, ":%u-%u", r->port_lo, r->port_hi);
	policy_puts(b, text);
}

static void
policy_format_net(struct policy_buf *b, const struct policy_rule *r)
{
	char     addr[INET6_ADDRSTRLEN], bits[8];
	unsigned full = r->family == AF_INET ? 32 : 128;
	int      brackets;

	inet_ntop(r->family, r->addr, addr, sizeof addr);
	bits[0] = '\0';
	if (r->bits != full)
		snprintf(bits, sizeof bits, "/%u", r->bits);

	/* Without brackets an IPv6 address cannot carry a port. */
	brackets = r->family == AF_INET6 && !policy_any_port(r);
	if (brackets)
		policy_puts(b, "[");
	policy_puts(b, addr);
	policy_puts(b, bits);
	if (brackets)
		policy_puts(b, "]");
	policy_format_ports(b, r);
}

static void
policy_format_list(
    struct policy_buf *b, const char *key, const struct policy_list *l)
{
	const char *e;
	size_t      i;

	if (l->n == 0)
		return;
	policy_puts(b, " ");
	policy_puts(b, key);
	for (e = l->buf, i = 0; i < l->n; e += strlen(e) + 1, i++) {
		policy_puts(b, i == 0 ? "=" : ",");
		policy_puts(b, e);
	}
}

static void
policy_format_rule(struct policy_buf *b, const struct policy_rule *r)
{
	policy_puts(b, r->allow ? "allow " : "deny ");
	switch (r->kind) {
	case POLICY_ANY:
		policy_puts(b, "*");
		break;
	case POLICY_NAME:
		policy_puts(b, r->name);
		policy_format_ports(b, r);
		break;
	case POLICY_NET:
		policy_format_net(b, r);
		break;
	}
	policy_format_list(b, "principals", &r->principals);
	policy_format_list(b, "transports", &r->transports);
	policy_puts(b, "\n");
}

char *
policy_format(const struct policy *p)
{
	struct policy_buf b = {NULL, 0, 0, 0};
	size_t            i;

	if (p == NULL)
		return NULL;
	for (i = 0; i < p->n; i++)
		policy_format_rule(&b, &p->rules[i]);
	policy_puts(
	    &b, p->default_allow ? "default allow\n" : "default deny\n");

	if (b.failed) {
		free(b.s);
		return NULL;
	}
	return b.s;
}
