/*
 * Rule sets: matching, first match wins, principals and transports,
 * refused text with its line number, bounds and the canonical form.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy.h"

/* Fingerprints have 43 characters after "SHA256:". */
#define FP_ABC       "SHA256:abcabcabcabcabcabcabcabcabcabcabcabcabcabca"
#define FP_ABC_UPPER "SHA256:ABCabcabcabcabcabcabcabcabcabcabcabcabcabca"

static const char *admin_scopes[] = {"relay:connect", "admin", NULL};
static const char *user_scopes[] = {"relay:connect", NULL};

/* Subjects the cases refer to by index. */
enum { ABC_TCP, ADMIN_TCP, USER_TCP, USER_TLS, USER_TLS_SNI, NOBODY };

static const struct policy_subject subjects[] = {
    [ABC_TCP] = {FP_ABC, NULL, "tcp"},
    [ADMIN_TCP] = {"SHA256:adm", admin_scopes, "tcp"},
    [USER_TCP] = {"SHA256:usr", user_scopes, "tcp"},
    [USER_TLS] = {"SHA256:usr", user_scopes, "tls"},
    [USER_TLS_SNI] = {"SHA256:usr", user_scopes, "tls:sni.example"},
    [NOBODY] = {NULL, NULL, NULL},
};

struct decision {
	const char *text;
	int         default_allow;
	const char *host;
	unsigned    port;
	int         subject;
	int         want;
};

static const struct decision decisions[] = {
    /* Default deny with one allow rule. */
    {"allow localhost:*", 0, "localhost", 5432, USER_TCP, 1},
    {"allow localhost:*", 0, "127.0.0.2", 80, USER_TCP, 0},
    {"default deny\nallow localhost:*", 1, "localhost", 5432, USER_TCP, 1},
    {"default deny\nallow localhost:*", 1, "127.0.0.2", 80, USER_TCP, 0},

    /* Default allow with one deny rule. */
    {"default allow\ndeny blocked.example.com", 0, "blocked.example.com", 443,
        USER_TCP, 0},
    {"default allow\ndeny blocked.example.com", 0, "other.example.com", 443,
        USER_TCP, 1},
    {"default allow\ndeny blocked.example.com", 0, "10.0.0.1", 22, USER_TCP, 1},
    {"deny blocked.example.com", 1, "blocked.example.com", 1, USER_TCP, 0},

    /* First match wins, in both directions. */
    {"allow *\ndeny x.example.com", 0, "x.example.com", 80, USER_TCP, 1},
    {"deny x.example.com\nallow *", 0, "x.example.com", 80, USER_TCP, 0},
    {"deny x.example.com\nallow *", 0, "y.example.com", 80, USER_TCP, 1},

    /* One '*' as prefix*suffix, case-sensitive. */
    {"allow *.example.com", 0, "a.example.com", 80, USER_TCP, 1},
    {"allow *.example.com", 0, "a.b.example.com", 80, USER_TCP, 1},
    {"allow *.example.com", 0, "example.com", 80, USER_TCP, 0},
    {"allow *.example.com", 0, ".example.com", 80, USER_TCP, 1},
    {"allow *.example.com", 0, "xsub.example.com.org", 80, USER_TCP, 0},
    {"allow *.example.com", 0, "a.EXAMPLE.com", 80, USER_TCP, 0},
    {"allow db-*", 0, "db-primary", 5432, USER_TCP, 1},
    {"allow db-*", 0, "db-", 5432, USER_TCP, 1},
    {"allow db-*", 0, "web-primary", 5432, USER_TCP, 0},
    {"allow db-*", 0, "DB-primary", 5432, USER_TCP, 0},
    {"allow db", 0, "db", 1, USER_TCP, 1},
    {"allow db", 0, "db2", 1, USER_TCP, 0},
    {"allow db", 0, "d", 1, USER_TCP, 0},
    {"allow a*a", 0, "a", 1, USER_TCP, 0},
    {"allow a*a", 0, "aa", 1, USER_TCP, 1},
    {"allow a*a", 0, "aba", 1, USER_TCP, 1},
    {"allow 127.0.0.*", 0, "127.0.0.9", 1, USER_TCP, 1},

    /* CIDRs match literal addresses only. */
    {"allow 10.0.0.0/8", 0, "10.255.255.255", 80, USER_TCP, 1},
    {"allow 10.0.0.0/8", 0, "10.0.0.0", 80, USER_TCP, 1},
    {"allow 10.0.0.0/8", 0, "11.0.0.0", 80, USER_TCP, 0},
    {"allow 10.0.0.0/8", 0, "9.255.255.255", 80, USER_TCP, 0},
    {"allow 10.0.0.0/8", 0, "192.168.1.1", 80, USER_TCP, 0},
    {"allow 10.0.0.0/8", 0, "not-an-ip", 80, USER_TCP, 0},
    {"allow 10.0.0.0/8", 0, "10.example.com", 80, USER_TCP, 0},
    {"allow 10.0.0.0/8", 0, "fd00::1", 80, USER_TCP, 0},
    {"allow 192.168.4.0/22", 0, "192.168.7.255", 1, USER_TCP, 1},
    {"allow 192.168.4.0/22", 0, "192.168.8.0", 1, USER_TCP, 0},
    {"allow 192.168.4.0/22", 0, "192.168.3.255", 1, USER_TCP, 0},
    {"allow 0.0.0.0/0", 0, "203.0.113.7", 1, USER_TCP, 1},
    {"allow 0.0.0.0/0", 0, "localhost", 1, USER_TCP, 0},
    {"allow 0.0.0.0/0", 0, "::1", 1, USER_TCP, 0},
    {"allow fd00::/8", 0, "fd00::1", 443, USER_TCP, 1},
    {"allow fd00::/8", 0, "fdff:ffff::1", 443, USER_TCP, 1},
    {"allow fd00::/8", 0, "fe00::1", 443, USER_TCP, 0},
    {"allow fd00::/8", 0, "10.0.0.1", 443, USER_TCP, 0},
    {"allow fd00::/8", 0, "fd00.example", 443, USER_TCP, 0},
    {"allow 2001:db8::/33", 0, "2001:db8:7fff::1", 1, USER_TCP, 1},
    {"allow 2001:db8::/33", 0, "2001:db8:8000::1", 1, USER_TCP, 0},

    /* A literal address without a length is that address. */
    {"allow 127.0.0.1", 0, "127.0.0.1", 22, USER_TCP, 1},
    {"allow 127.0.0.1", 0, "127.0.0.2", 22, USER_TCP, 0},
    {"allow ::1", 0, "::1", 22, USER_TCP, 1},
    {"allow ::1", 0, "0:0:0:0:0:0:0:1", 22, USER_TCP, 1},
    {"allow ::1", 0, "::2", 22, USER_TCP, 0},
    {"allow [::1]:22", 0, "::1", 22, USER_TCP, 1},
    {"allow [::1]:22", 0, "::1", 23, USER_TCP, 0},
    {"allow [fd00::/8]:443", 0, "fd12::3", 443, USER_TCP, 1},
    {"allow [fd00::/8]:443", 0, "fd12::3", 80, USER_TCP, 0},
    {"allow [fd00::/8]", 0, "fd12::3", 80, USER_TCP, 1},
    {"allow [fd00::/8]:*", 0, "fd12::3", 80, USER_TCP, 1},

    /* Other spellings of an address are that address. */
    {"deny 10.0.0.0/8\nallow *", 0, "::ffff:10.1.2.3", 80, USER_TCP, 0},
    {"deny 10.0.0.0/8\nallow *", 0, "10.1", 80, USER_TCP, 0},
    {"deny 10.0.0.0/8\nallow *", 0, "0x0a000001", 80, USER_TCP, 0},
    {"deny 10.0.0.0/8\nallow *", 0, "167772161", 80, USER_TCP, 0},
    {"deny fe80::/10\nallow *", 0, "fe80::1%eth0", 80, USER_TCP, 0},
    {"deny blocked.example.com\nallow *", 0, "blocked.example.com.", 80,
        USER_TCP, 0},
    {"allow 10.0.0.1", 0, "10.0.0.1.", 80, USER_TCP, 0},

    /* Ports: inclusive ranges, single ports, any port. */
    {"allow localhost:8080-8090", 0, "localhost", 8080, USER_TCP, 1},
    {"allow localhost:8080-8090", 0, "localhost", 8085, USER_TCP, 1},
    {"allow localhost:8080-8090", 0, "localhost", 8090, USER_TCP, 1},
    {"allow localhost:8080-8090", 0, "localhost", 8079, USER_TCP, 0},
    {"allow localhost:8080-8090", 0, "localhost", 8091, USER_TCP, 0},
    {"allow localhost:8080-8090", 0, "otherhost", 8085, USER_TCP, 0},
    {"allow *:22", 0, "anything.example", 22, USER_TCP, 1},
    {"allow *:22", 0, "10.9.8.7", 22, USER_TCP, 1},
    {"allow *:22", 0, "::1", 22, USER_TCP, 1},
    {"allow *:22", 0, "anything.example", 23, USER_TCP, 0},
    {"allow *:22", 0, "anything.example", 21, USER_TCP, 0},
    {"allow 10.0.0.0/8:80", 0, "10.1.2.3", 80, USER_TCP, 1},
    {"allow 10.0.0.0/8:80", 0, "10.1.2.3", 81, USER_TCP, 0},
    {"allow 10.0.0.0/8:80", 0, "11.1.2.3", 80, USER_TCP, 0},
    {"allow h:1-65535", 0, "h", 65535, USER_TCP, 1},
    {"allow h:1-65535", 0, "h", 0, USER_TCP, 0},
    {"allow h", 0, "h", 0, USER_TCP, 1},
    {"allow h:*", 0, "h", 0, USER_TCP, 1},
    {"allow *", 1, "h", 65536, USER_TCP, 0},
    {"", 1, "h", 70000, USER_TCP, 0},

    /* Principals: the id, a scope, or anyone. */
    {"allow * principals=" FP_ABC, 0, "h", 1, ABC_TCP, 1},
    {"allow * principals=" FP_ABC, 0, "h", 1, USER_TCP, 0},
    {"allow * principals=" FP_ABC, 0, "h", 1, ADMIN_TCP, 0},
    {"allow * principals=" FP_ABC_UPPER, 0, "h", 1, ABC_TCP, 0},
    {"allow * principals=admin", 0, "h", 1, ADMIN_TCP, 1},
    {"allow * principals=admin", 0, "h", 1, USER_TCP, 0},
    {"allow * principals=admin", 0, "h", 1, ABC_TCP, 0},
    {"allow * principals=admin", 0, "h", 1, NOBODY, 0},
    {"allow * principals=*", 0, "h", 1, ABC_TCP, 1},
    {"allow * principals=*", 0, "h", 1, USER_TCP, 1},
    {"allow * principals=*", 0, "h", 1, NOBODY, 1},
    {"allow * principals=x,admin", 0, "h", 1, ADMIN_TCP, 1},
    {"allow * principals=x," FP_ABC, 0, "h", 1, ABC_TCP, 1},
    {"allow * principals=relay:connect", 0, "h", 1, USER_TLS, 1},
    {"allow * principals=adm", 0, "h", 1, ADMIN_TCP, 0},
    {"deny * principals=admin\nallow *", 0, "h", 1, ADMIN_TCP, 0},
    {"deny * principals=admin\nallow *", 0, "h", 1, USER_TCP, 1},

    /* Transports: the kind only. */
    {"allow * transports=tls", 0, "h", 1, USER_TLS, 1},
    {"allow * transports=tls", 0, "h", 1, USER_TCP, 0},
    {"allow * transports=tls", 0, "h", 1, NOBODY, 0},
    {"allow * transports=tls", 0, "h", 1, USER_TLS_SNI, 1},
    {"allow * transports=tcp", 0, "h", 1, USER_TLS_SNI, 0},
    {"allow * transports=tcp,tls", 0, "h", 1, USER_TCP, 1},
    {"allow * transports=TLS", 0, "h", 1, USER_TLS, 1},
    {"allow * transports=*", 0, "h", 1, NOBODY, 1},
    {"deny * transports=tcp\nallow *", 0, "h", 1, USER_TLS, 1},
    {"deny * transports=tcp\nallow *", 0, "h", 1, USER_TCP, 0},
    {"allow * principals=admin transports=tls", 0, "h", 1, ADMIN_TCP, 0},
    {"allow * transports=tcp principals=admin", 0, "h", 1, ADMIN_TCP, 1},

    /* Case of actions and keys; comments; blank lines. */
    {"ALLOW h", 0, "h", 1, USER_TCP, 1},
    {"Allow h", 0, "h", 1, USER_TCP, 1},
    {"DENY h\nallow *", 0, "h", 1, USER_TCP, 0},
    {"DEFAULT ALLOW", 0, "h", 1, USER_TCP, 1},
    {"allow * PRINCIPALS=admin", 0, "h", 1, USER_TCP, 0},
    {"# allow h\n\n   \n\t# deny\n", 0, "h", 1, USER_TCP, 0},
    {"# allow h\n\n   \n\t# deny\n", 1, "h", 1, USER_TCP, 1},
    {"  allow\th  \r\n#\n", 0, "h", 1, USER_TCP, 1},
    {"deny h\n#allow *\n", 1, "x", 1, USER_TCP, 1},
    {"default deny\n", 1, "x", 1, USER_TCP, 0},
    {"allow x\ndefault allow\ndeny y\n", 0, "y", 1, USER_TCP, 0},
    {"allow x\ndefault allow\ndeny y\n", 0, "z", 1, USER_TCP, 1},
};

struct refusal {
	const char *text;
	unsigned    line;
	const char *reason; /* text the message must contain */
};

static const struct refusal refusals[] = {
    {"maybe h", 1, "unknown action maybe"},
    {"allow h\n\n# c\nmaybe h", 4, "unknown action maybe"},
    {"allows h", 1, "unknown action"},
    {"allow", 1, "missing target"},
    {"deny   \n", 1, "missing target"},
    {"allow principals=a", 1, "missing target"},
    {":", 1, "unknown action"},
    {"allow :80", 1, "empty host"},
    {"allow :", 1, "empty host"},
    {"allow host:", 1, "missing port"},
    {"allow host:0", 1, "port 0"},
    {"allow host:00", 1, "port 0"},
    {"allow host:70000", 1, "above 65535"},
    {"allow host:65536", 1, "above 65535"},
    {"allow host:99999999999999999999", 1, "above 65535"},
    {"allow host:9-3", 1, "reversed"},
    {"allow host:10-9", 1, "reversed"},
    {"allow host:0-3", 1, "port 0"},
    {"allow host:3-", 1, "missing port"},
    {"allow host:-3", 1, "missing port"},
    {"allow host:1-2-3", 1, "not a number"},
    {"allow host:x", 1, "not a number"},
    {"allow host:+1", 1, "not a number"},
    {"allow host:**", 1, "not a number"},
    {"allow a**b", 1, "more than one '*'"},
    {"allow *.*", 1, "more than one '*'"},
    {"allow **", 1, "more than one '*'"},
    {"allow a*b*c:80", 1, "more than one '*'"},
    {"allow h@x", 1, "invalid character"},
    {"allow h/x", 1, "not an address"},
    {"allow example.com.", 1, "ends with '.'"},
    {"allow 256.1.1.1", 1, "not an IPv4 address"},
    {"allow 1.2.3:80", 1, "not an IPv4 address"},
    {"allow 1.2.3.4.5", 1, "not an IPv4 address"},
    {"allow * principals=SHA256:xyz", 1, "invalid principals entry"},
    {"allow * principals=SHA256:" FP_ABC, 1, "invalid principals entry"},
    {"allow 10.0.0.0/33", 1, "above 32"},
    {"allow 10.0.0.0/", 1, "prefix length"},
    {"allow 10.0.0.0/x", 1, "prefix length"},
    {"allow 10.0.0.0/-1", 1, "prefix length"},
    {"allow 10.0.0.0/8/8", 1, "prefix length"},
    {"allow 10.1.0.0/8", 1, "bits set"},
    {"allow 10.0.0.1/31", 1, "bits set"},
    {"allow 300.0.0.0/8", 1, "not an address"},
    {"allow fd00::/129", 1, "above 128"},
    {"allow fd01::/8", 1, "bits set"},
    {"allow fd00::/8:443", 1, "only in brackets"},
    {"allow a:b:c", 1, "not an IPv6 address"},
    {"allow [10.0.0.0/8]:80", 1, "not an IPv6 address"},
    {"allow [host]:80", 1, "not an IPv6 address"},
    {"allow []:80", 1, "empty host"},
    {"allow [::1", 1, "unbalanced"},
    {"allow [[::1]:22", 1, "unbalanced"},
    {"allow ::1]:22", 1, "unbalanced"},
    {"allow h]:22", 1, "unbalanced"},
    {"allow [::1]22", 1, "expected ':'"},
    {"allow [::1]:", 1, "missing port"},
    {"allow [::1]:0", 1, "port 0"},
    {"allow * principals=", 1, "empty principals"},
    {"allow * principals=a,", 1, "empty entry"},
    {"allow * principals=,a", 1, "empty entry"},
    {"allow * principals=a,,b", 1, "empty entry"},
    {"allow * transports=", 1, "empty transports"},
    {"allow * transports=udp", 1, "invalid transports entry udp"},
    {"allow * transports=tcp,tsl", 1, "invalid transports entry tsl"},
    {"allow * principals=a principals=b", 1, "duplicated option principals"},
    {"allow * transports=tcp TRANSPORTS=tls", 1, "duplicated option"},
    {"allow * users=a", 1, "unknown option users"},
    {"allow * =a", 1, "unknown option"},
    {"allow * junk", 1, "unexpected junk"},
    {"allow * principals=a junk", 1, "unexpected junk"},
    {"allow h:80 # comment", 1, "unexpected #"},
    {"allow * a b c d e f g h i j k l m n o p", 1, "too many words"},
    {"default", 1, "default needs"},
    {"default maybe", 1, "unknown default maybe"},
    {"default allow now", 1, "unexpected now"},
    {"default allow\ndefault deny", 2, "duplicated default"},
    {"allow h\nallow x y", 2, "unexpected y"},
    {"allow * principals=a\x01"
     "b",
        1, "invalid principals entry a?b"},
    {"allow * principals=\x7f", 1, "invalid principals entry"},
};

static struct policy *
parse_ok(const char *text, int default_allow)
{
	struct policy *p = NULL;
	char           err[256] = "";
	int            rc;

	rc = policy_parse(text, default_allow, &p, err, sizeof err);
	if (rc != 0)
		print_error("\"%s\": %d %s\n", text, rc, err);
	assert_int_equal(rc, 0);
	assert_non_null(p);
	return p;
}

static void
test_decisions(void **state)
{
	const struct decision *d;
	struct policy         *p;
	size_t                 i;
	int                    got;

	for (i = 0; i < sizeof decisions / sizeof *decisions; i++) {
		d = &decisions[i];
		p = parse_ok(d->text, d->default_allow);
		got = policy_allows(p, d->host, d->port, &subjects[d->subject]);
		if (got != d->want)
			print_error("\"%s\" (default %d): %s port %u subject "
			            "%d gave %d\n",
			    d->text, d->default_allow, d->host, d->port,
			    d->subject, got);
		assert_int_equal(got, d->want);
		policy_free(p);
	}
}

/*
 * The canonical text parses again, decides every case the same, and is
 * its own canonical text.
 */
static void
test_round_trip(void **state)
{
	const struct decision *d;
	struct policy         *p, *q;
	char                  *text, *again;
	size_t                 i;

	for (i = 0; i < sizeof decisions / sizeof *decisions; i++) {
		d = &decisions[i];
		p = parse_ok(d->text, d->default_allow);
		text = policy_format(p);
		assert_non_null(text);
		assert_non_null(strstr(text, "default "));
		assert_true(
		    strcmp(text + strlen(text) - strlen("default deny\n"),
		        "default deny\n") == 0 ||
		    strcmp(text + strlen(text) - strlen("default allow\n"),
		        "default allow\n") == 0);

		/* The opposite default proves the line is read back. */
		q = parse_ok(text, !d->default_allow);
		assert_int_equal(policy_count(q), policy_count(p));
		assert_int_equal(
		    policy_allows(q, d->host, d->port, &subjects[d->subject]),
		    d->want);
		again = policy_format(q);
		assert_non_null(again);
		assert_string_equal(again, text);

		free(again);
		free(text);
		policy_free(q);
		policy_free(p);
	}
}

struct canonical {
	const char *in;
	const char *out;
};

static const struct canonical canonicals[] = {
    {"", "default deny\n"},
    {"ALLOW  *:*\n", "allow *\ndefault deny\n"},
    {"deny h:*", "deny h\ndefault deny\n"},
    {"allow h:0080-00090", "allow h:80-90\ndefault deny\n"},
    {"allow h:22-22", "allow h:22\ndefault deny\n"},
    {"allow h:1-65535", "allow h:1-65535\ndefault deny\n"},
    {"allow 10.0.0.1/32", "allow 10.0.0.1\ndefault deny\n"},
    {"allow 10.0.0.0/08:80", "allow 10.0.0.0/8:80\ndefault deny\n"},
    {"allow 0:0::1", "allow ::1\ndefault deny\n"},
    {"allow [0:0::1]:22", "allow [::1]:22\ndefault deny\n"},
    {"allow [fd00::/8]:*", "allow fd00::/8\ndefault deny\n"},
    {"allow [fd00::/8]", "allow fd00::/8\ndefault deny\n"},
    {"allow fd00::/8", "allow fd00::/8\ndefault deny\n"},
    {"allow [fd00::/8]:1-2", "allow [fd00::/8]:1-2\ndefault deny\n"},
    {"# c\n\ndefault allow\nDENY *.x transports=TLS,tcp PRINCIPALS=a,b",
        "deny *.x principals=a,b transports=tls,tcp\ndefault allow\n"},
    {"allow * transports=*", "allow * transports=*\ndefault deny\n"},
};

static void
test_canonical(void **state)
{
	struct policy *p;
	char          *text;
	size_t         i;

	for (i = 0; i < sizeof canonicals / sizeof *canonicals; i++) {
		p = parse_ok(canonicals[i].in, 0);
		text = policy_format(p);
		assert_non_null(text);
		assert_string_equal(text, canonicals[i].out);
		free(text);
		policy_free(p);
	}
}

/* Checks that text is refused with "line N: ..." and *out untouched. */
static void
assert_refused(const char *text, unsigned line, const char *reason)
{
	struct policy *sentinel = (struct policy *)&sentinel;
	struct policy *p = sentinel;
	char           err[256] = "", prefix[32];
	int            rc;

	rc = policy_parse(text, 1, &p, err, sizeof err);
	snprintf(prefix, sizeof prefix, "line %u: ", line);
	if (rc != -EINVAL || strncmp(err, prefix, strlen(prefix)) != 0 ||
	    strstr(err, reason) == NULL)
		print_error("\"%.60s\": rc %d, \"%s\"\n", text, rc, err);
	assert_int_equal(rc, -EINVAL);
	assert_int_equal(strncmp(err, prefix, strlen(prefix)), 0);
	assert_non_null(strstr(err, reason));
	assert_ptr_equal(p, sentinel);
}

static void
test_refused(void **state)
{
	size_t i;

	for (i = 0; i < sizeof refusals / sizeof *refusals; i++)
		assert_refused(
		    refusals[i].text, refusals[i].line, refusals[i].reason);
}

/* Input echoed in a message is capped and printable. */
static void
test_message_quoting(void **state)
{
	struct policy *p = NULL;
	char           text[300], err[512];
	size_t         i;

	memset(text, 'm', sizeof text);
	memcpy(text, "zz\x01", 3);
	text[sizeof text - 1] = '\0';
	assert_int_equal(policy_parse(text, 0, &p, err, sizeof err), -EINVAL);
	assert_null(p);
	assert_true(strlen(err) < 100);
	assert_non_null(strstr(err, "zz?m"));
	assert_non_null(strstr(err, "..."));
	for (i = 0; err[i] != '\0'; i++)
		assert_true(err[i] >= ' ' && err[i] < 0x7f);
}

/* Builds n lines of rule (each with a newline) in a new string. */
static char *
repeat(const char *rule, size_t n)
{
	size_t len = strlen(rule), i;
	char  *s = malloc(n * (len + 1) + 1);

	assert_non_null(s);
	for (i = 0; i < n; i++) {
		memcpy(s + i * (len + 1), rule, len);
		s[i * (len + 1) + len] = '\n';
	}
	s[n * (len + 1)] = '\0';
	return s;
}

static void
test_rule_bound(void **state)
{
	struct policy *p;
	char          *text;

	text = repeat("deny h", 4096);
	p = parse_ok(text, 1);
	assert_int_equal(policy_count(p), 4096);
	assert_int_equal(policy_allows(p, "h", 1, &subjects[USER_TCP]), 0);
	assert_int_equal(policy_allows(p, "g", 1, &subjects[USER_TCP]), 1);
	policy_free(p);
	free(text);

	text = repeat("deny h", 4097);
	assert_refused(text, 4097, "more than 4096 rules");
	free(text);
}

static void
test_line_bound(void **state)
{
	struct policy *p;
	char          *text;
	size_t         len;

	/* A rule line of exactly 4096 bytes, then one byte more. */
	text = malloc(8 + 4097 + 1);
	assert_non_null(text);
	strcpy(text, "deny * principals=");
	len = strlen(text);
	memset(text + len, 'a', 4096 - len);
	text[4096] = '\0';
	p = parse_ok(text, 1);
	assert_int_equal(policy_count(p), 1);
	policy_free(p);

	strcpy(text + 4096, "a");
	assert_refused(text, 1, "longer than 4096");

	/* The bound holds for comments too, and on a later line. */
	memcpy(text, "allow h\n", 8);
	memset(text + 8, '#', 4097);
	text[8 + 4097] = '\0';
	assert_refused(text, 2, "longer than 4096");
	free(text);
}

static void
test_text_bound(void **state)
{
	const size_t   max = 1024 * 1024;
	struct policy *p;
	char          *text, line[1024];

	/* Comment lines of 1024 bytes (with the newline) up to 1 MiB. */
	memset(line, '#', sizeof line - 1);
	line[sizeof line - 1] = '\0';
	text = repeat(line, 1024);
	assert_int_equal(strlen(text), max);
	p = parse_ok(text, 0);
	assert_int_equal(policy_count(p), 0);
	policy_free(p);
	free(text);

	text = malloc(max + 2);
	assert_non_null(text);
	memset(text, '\n', max + 1);
	text[max + 1] = '\0';
	assert_refused(text, max + 1, "longer than 1048576");
	free(text);
}

/* Lists and host patterns have bounds of their own. */
static void
test_entry_bounds(void **state)
{
	struct policy *p;
	char           text[1200];
	size_t         i, len;

	/* 256 principals are fine, 257 are not. */
	len = (size_t)snprintf(text, sizeof text, "allow * principals=p");
	for (i = 1; i < 256; i++)
		len += (size_t)snprintf(text + len, sizeof text - len, ",p");
	p = parse_ok(text, 0);
	policy_free(p);
	snprintf(text + len, sizeof text - len, ",p");
	assert_refused(text, 1, "more than 256 principals");

	/* A host pattern of 255 bytes is fine, 256 are not. */
	len = (size_t)snprintf(text, sizeof text, "allow *");
	memset(text + len, 'h', 254);
	text[len + 254] = '\0';
	p = parse_ok(text, 0);
	assert_int_equal(
	    policy_allows(p, text + len, 1, &subjects[USER_TCP]), 1);
	policy_free(p);
	strcat(text, "h");
	assert_refused(text, 1, "longer than 255");
}

static void
test_nulls(void **state)
{
	struct policy *p = NULL;
	char           err[64];

	policy_free(NULL);
	assert_int_equal(policy_count(NULL), 0);
	assert_null(policy_format(NULL));
	assert_int_equal(policy_allows(NULL, "h", 1, &subjects[USER_TCP]), 0);

	assert_int_equal(policy_parse(NULL, 0, &p, err, sizeof err), -EINVAL);
	assert_null(p);
	assert_int_equal(policy_parse("allow *", 0, NULL, NULL, 0), -EINVAL);

	/* No error buffer is needed. */
	assert_int_equal(policy_parse("maybe", 0, &p, NULL, 0), -EINVAL);
	assert_null(p);
	assert_int_equal(policy_parse("maybe", 0, &p, err, 0), -EINVAL);
	assert_null(p);

	/* A NULL host or subject is answered, not followed. */
	p = parse_ok("allow * principals=*", 0);
	assert_int_equal(policy_allows(p, NULL, 1, &subjects[USER_TCP]), 0);
	assert_int_equal(policy_allows(p, "h", 1, NULL), 1);
	policy_free(p);
	p = parse_ok("allow * principals=admin", 1);
	assert_int_equal(policy_allows(p, "h", 1, NULL), 1);
	policy_free(p);
	p = parse_ok("deny * transports=tcp", 1);
	assert_int_equal(policy_allows(p, "h", 1, NULL), 1);
	policy_free(p);
}

/* An error message names the line even when the buffer is small. */
static void
test_small_err(void **state)
{
	struct policy *p = NULL;
	char           err[8];

	assert_int_equal(
	    policy_parse("\nmaybe", 0, &p, err, sizeof err), -EINVAL);
	assert_string_equal(err, "line 2:");
	assert_null(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decisions),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_canonical),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_message_quoting),
	    cmocka_unit_test(test_rule_bound),
	    cmocka_unit_test(test_line_bound),
	    cmocka_unit_test(test_text_bound),
	    cmocka_unit_test(test_entry_bounds),
	    cmocka_unit_test(test_nulls),
	    cmocka_unit_test(test_small_err),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
