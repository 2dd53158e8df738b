/*
 * Certificate parsing and checking against certificates that the real
 * ssh-keygen signs for each run, with Ed25519, RSA and ECDSA CAs.
 */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <sodium.h>

#include "sshcert.h"

enum { CA_ED, CA_RSA, CA_P256, CA_P384, CA_P521, CA_OTHER, NCA };

static const char *const ca_args[NCA] = {
    [CA_ED] = "-t ed25519",
    [CA_RSA] = "-t rsa -b 2048",
    [CA_P256] = "-t ecdsa -b 256",
    [CA_P384] = "-t ecdsa -b 384",
    [CA_P521] = "-t ecdsa -b 521",
    [CA_OTHER] = "-t ed25519",
};

struct blob {
	unsigned char *p;
	size_t         len;
};

struct fixture {
	char        dir[256];
	struct blob ca[NCA];
	struct blob user;
};

/*
 * One certificate and one check: the CA that signs, the arguments
 * ssh-keygen -s gets besides -s and -I, what the session asks, the CA
 * the check trusts, and the reason expected (NULL: accepted).
 */
struct ccase {
	const char *name;
	int         ca;
	const char *args;
	const char *user;
	const char *ip;
	int         need_pf;
	int         trust;
	const char *reason;
};

#define SRC "-n alice -O source-address=192.0.2.0/24,2001:db8::/32"

static const struct ccase cases[] = {
    {"ed_ok", CA_ED, "-n alice -V -5m:+1h", "alice", "192.0.2.1", 0, CA_ED,
        NULL},
    {"ed_two", CA_ED, "-n bob,alice", "alice", "192.0.2.1", 0, CA_ED, NULL},
    {"ed_other", CA_ED, "-n bob,alice", "carol", "192.0.2.1", 0, CA_ED,
        "principal not listed"},
    {"ed_prefix", CA_ED, "-n alice", "alic", NULL, 0, CA_ED,
        "principal not listed"},
    {"ed_longer", CA_ED, "-n alice", "alice2", NULL, 0, CA_ED,
        "principal not listed"},
    {"rsa512", CA_RSA, "-n alice", "alice", NULL, 0, CA_RSA, NULL},
    {"rsa256", CA_RSA, "-t rsa-sha2-256 -n alice", "alice", NULL, 0, CA_RSA,
        NULL},
    {"rsa_sha1", CA_RSA, "-t ssh-rsa -n alice", "alice", NULL, 0, CA_RSA,
        "unsupported signature algorithm"},
    {"p256", CA_P256, "-n alice", "alice", NULL, 0, CA_P256, NULL},
    {"p384", CA_P384, "-n alice", "alice", NULL, 0, CA_P384, NULL},
    {"p521", CA_P521, "-n alice", "alice", NULL, 0, CA_P521, NULL},
    {"host", CA_ED, "-h -n alice", "alice", NULL, 0, CA_ED, "host certificate"},
    {"future", CA_ED, "-n alice -V +1d:+2d", "alice", NULL, 0, CA_ED,
        "not yet valid"},
    {"past", CA_ED, "-n alice -V -2d:-1d", "alice", NULL, 0, CA_ED, "expired"},
    {"noprinc", CA_ED, "", "alice", NULL, 0, CA_ED, "no principals"},
    {"untrusted", CA_ED, "-n alice", "alice", NULL, 0, CA_OTHER,
        "untrusted ca"},
    {"untrusted_rsa", CA_RSA, "-n alice", "alice", NULL, 0, CA_ED,
        "untrusted ca"},
    {"untrusted_ec", CA_P256, "-n alice", "alice", NULL, 0, CA_P384,
        "untrusted ca"},
    {"src_v4", CA_ED, SRC, "alice", "192.0.2.77", 0, CA_ED, NULL},
    {"src_v4_out", CA_ED, SRC, "alice", "198.51.100.1", 0, CA_ED,
        "source address not allowed"},
    {"src_v4_near", CA_ED, SRC, "alice", "192.0.3.1", 0, CA_ED,
        "source address not allowed"},
    {"src_v6", CA_ED, SRC, "alice", "2001:db8:1::5", 0, CA_ED, NULL},
    {"src_v6_out", CA_ED, SRC, "alice", "2001:db9::1", 0, CA_ED,
        "source address not allowed"},
    {"src_mapped", CA_ED, SRC, "alice", "::ffff:192.0.2.9", 0, CA_ED, NULL},
    {"src_noip", CA_ED, SRC, "alice", NULL, 0, CA_ED,
        "source address not allowed"},
    {"src_badip", CA_ED, SRC, "alice", "not-an-ip", 0, CA_ED,
        "source address not allowed"},
    {"src_host", CA_ED, "-n alice -O source-address=203.0.113.7", "alice",
        "203.0.113.7", 0, CA_ED, NULL},
    {"src_host_out", CA_ED, "-n alice -O source-address=203.0.113.7", "alice",
        "203.0.113.8", 0, CA_ED, "source address not allowed"},
    {"src_mask", CA_ED, "-n alice -O source-address=10.64.0.0/10", "alice",
        "10.127.255.255", 0, CA_ED, NULL},
    {"src_mask_out", CA_ED, "-n alice -O source-address=10.64.0.0/10", "alice",
        "10.128.0.0", 0, CA_ED, "source address not allowed"},
    {"src_zone", CA_ED, "-n alice -O source-address=fe80::/10", "alice",
        "fe80::1%eth0", 0, CA_ED, NULL},
    {"src_junk", CA_ED, "-n alice -O critical:source-address=192.0.2.0/24,junk",
        "alice", "192.0.2.1", 0, CA_ED, "bad source address list"},
    {"src_hostbits", CA_ED, "-n alice -O critical:source-address=192.0.2.1/24",
        "alice", "192.0.2.1", 0, CA_ED, "bad source address list"},
    {"src_longmask", CA_ED, "-n alice -O critical:source-address=10.0.0.0/33",
        "alice", "10.0.0.1", 0, CA_ED, "bad source address list"},
    {"src_empty_entry", CA_ED,
        "-n alice -O critical:source-address=192.0.2.0/24,", "alice",
        "192.0.2.1", 0, CA_ED, "bad source address list"},
    {"force", CA_ED, "-n alice -O force-command=/bin/true", "alice", NULL, 0,
        CA_ED, NULL},
    {"crit_foo", CA_ED, "-n alice -O critical:foo=bar", "alice", NULL, 0, CA_ED,
        "unknown critical option"},
    {"verify_req", CA_ED, "-n alice -O verify-required", "alice", NULL, 0,
        CA_ED, "verify required not supported"},
    {"nopf_need", CA_ED, "-n alice -O no-port-forwarding", "alice", NULL, 1,
        CA_ED, "port forwarding not permitted"},
    {"nopf", CA_ED, "-n alice -O no-port-forwarding", "alice", NULL, 0, CA_ED,
        NULL},
    {"pf_need", CA_ED, "-n alice", "alice", NULL, 1, CA_ED, NULL},
    {"clear_need", CA_ED, "-n alice -O clear", "alice", NULL, 1, CA_ED,
        "port forwarding not permitted"},
    {"clear_pf_need", CA_ED, "-n alice -O clear -O permit-port-forwarding",
        "alice", NULL, 1, CA_ED, NULL},
};

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

/* Runs a shell command in the fixture's directory; it must succeed. */
static void
run(const struct fixture *fx, const char *fmt, ...)
{
	char    cmd[2048], log[512];
	va_list ap;
	int     n, rc;

	n = snprintf(cmd, sizeof cmd, "cd '%s' && ( ", fx->dir);
	va_start(ap, fmt);
	n += vsnprintf(cmd + n, sizeof cmd - n, fmt, ap);
	va_end(ap);
	n += snprintf(cmd + n, sizeof cmd - n, " ) >log 2>&1");
	assert_true(n < (int)sizeof cmd);

	if ((rc = system(cmd)) != 0) {
		snprintf(log, sizeof log, "cat '%s/log' >&2", fx->dir);
		print_error("command failed (%d): %s\n", rc, cmd);
		assert_int_equal(system(log), 0);
	}
	assert_int_equal(rc, 0);
}

/* The base64 of an OpenSSH public key or certificate file. */
static const char *
read_b64(const struct fixture *fx, const char *name)
{
	static char line[16384];
	char        path[512], *b64;
	FILE       *f;

	snprintf(path, sizeof path, "%s/%s", fx->dir, name);
	assert_non_null(f = fopen(path, "r"));
	assert_non_null(fgets(line, sizeof line, f));
	fclose(f);

	/* "type base64 comment" */
	assert_non_null(b64 = strchr(line, ' '));
	b64++;
	b64[strcspn(b64, " \n")] = '\0';
	return b64;
}

/* The blob of the key in an OpenSSH public key or certificate file. */
static struct blob
read_blob(const struct fixture *fx, const char *name)
{
	const char *b64 = read_b64(fx, name), *end;
	struct blob b;
	size_t      max;

	max = strlen(b64);
	assert_non_null(b.p = malloc(max));
	assert_int_equal(sodium_base642bin(b.p, max, b64, strlen(b64), NULL,
	                     &b.len, &end, sodium_base64_VARIANT_ORIGINAL),
	    0);
	assert_int_equal(*end, '\0');
	return b;
}

/* Signs a copy of user.pub called name.pub; returns the certificate. */
static struct blob
sign(const struct fixture *fx, const char *name, int ca, const char *args)
{
	char cert[300];

	run(fx,
	    "cp user.pub '%s.pub' && ssh-keygen -q -s ca%d -I '%s' %s '%s.pub'",
	    name, ca, name, args, name);
	snprintf(cert, sizeof cert, "%s-cert.pub", name);
	return read_blob(fx, cert);
}

static struct sshcert *
parse_ok(const struct blob *b)
{
	struct sshcert *c = NULL;
	char            err[128] = "";
	int             rc;

	rc = sshcert_parse(b->p, b->len, &c, err, sizeof err);
	if (rc != 0)
		print_error("parse: %s\n", err);
	assert_int_equal(rc, 0);
	assert_non_null(c);
	return c;
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof *fx);
	const char     *tmp = getenv("TMPDIR");
	char            name[32];
	int             i;

	assert_non_null(fx);
	assert_true(sodium_init() >= 0);
	snprintf(fx->dir, sizeof fx->dir, "%s/alknet-sshcert-XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	assert_non_null(mkdtemp(fx->dir));
	*state = fx;

	for (i = 0; i < NCA; i++) {
		run(fx, "ssh-keygen -q %s -N '' -C ca%d -f ca%d", ca_args[i], i,
		    i);
		snprintf(name, sizeof name, "ca%d.pub", i);
		fx->ca[i] = read_blob(fx, name);
	}
	run(fx, "ssh-keygen -q -t ed25519 -N '' -C alice@laptop -f user");
	fx->user = read_blob(fx, "user.pub");
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;
	int             i;

	if (fx == NULL)
		return 0;
	nftw(fx->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	for (i = 0; i < NCA; i++)
		free(fx->ca[i].p);
	free(fx->user.p);
	free(fx);
	return 0;
}

static int
check(const struct fixture *fx, const struct sshcert *c, int trust,
    const struct sshcert_want *w, const char **reason)
{
	return sshcert_check(c, fx->ca[trust].p, fx->ca[trust].len, w, reason);
}

static void
test_cases(void **state)
{
	struct fixture     *fx = *state;
	struct sshcert     *c;
	struct blob         b;
	struct sshcert_want w;
	const char         *reason;
	size_t              i;
	int                 rc;

	for (i = 0; i < sizeof cases / sizeof *cases; i++) {
		const struct ccase *t = &cases[i];

		b = sign(fx, t->name, t->ca, t->args);
		c = parse_ok(&b);
		w.user = t->user;
		w.client_ip = t->ip;
		w.now = (uint64_t)time(NULL);
		w.need_port_forwarding = t->need_pf;
		reason = "unset";
		rc = check(fx, c, t->trust, &w, &reason);
		if (t->reason == NULL && rc != 0)
			print_error("%s: refused: %s\n", t->name, reason);
		if (t->reason != NULL && rc == 0)
			print_error("%s: accepted\n", t->name);
		assert_int_equal(rc, t->reason == NULL ? 0 : -EPERM);
		if (t->reason == NULL)
			assert_null(reason);
		else
			assert_string_equal(reason, t->reason);
		sshcert_free(c);
		free(b.p);
	}
}

static void
want_at(struct sshcert_want *w, uint64_t now)
{
	w->user = "alice";
	w->client_ip = "192.0.2.1";
	w->now = now;
	w->need_port_forwarding = 0;
}

/* ssh-keygen's fingerprint of the key in the fixture's file name. */
static void
keygen_fingerprint(const struct fixture *fx, const char *name, char *fp)
{
	char  cmd[512], out[1024], *tok;
	FILE *p;

	snprintf(
	    cmd, sizeof cmd, "ssh-keygen -E sha256 -lf '%s/%s'", fx->dir, name);
	assert_non_null(p = popen(cmd, "r"));
	assert_non_null(fgets(out, sizeof out, p));
	assert_int_equal(pclose(p), 0);

	/* "256 SHA256:... comment (ED25519)" */
	strtok(out, " ");
	assert_non_null(tok = strtok(NULL, " "));
	assert_true(strlen(tok) < SSHCERT_FP_LEN);
	strcpy(fp, tok);
}

static void
test_fields(void **state)
{
	struct fixture      *fx = *state;
	struct blob          b;
	struct sshcert      *c;
	const unsigned char *p;
	char                 want[SSHCERT_FP_LEN], got[SSHCERT_FP_LEN];
	size_t               len;

	b = sign(fx, "fields", CA_P384,
	    "-z 4242 -n alice,bob -V 20200101Z:20400101Z "
	    "-O force-command=/usr/bin/id");
	c = parse_ok(&b);
	assert_int_equal(sshcert_type(c), SSHCERT_USER);
	assert_string_equal(sshcert_key_id(c), "fields");
	assert_int_equal(sshcert_serial(c), 4242);
	assert_int_equal(sshcert_principal_count(c), 2);
	assert_string_equal(sshcert_principal(c, 0), "alice");
	assert_string_equal(sshcert_principal(c, 1), "bob");
	assert_null(sshcert_principal(c, 2));
	assert_int_equal(sshcert_valid_after(c), 1577836800);
	assert_int_equal(sshcert_valid_before(c), 2208988800);
	assert_string_equal(sshcert_force_command(c), "/usr/bin/id");
	assert_int_equal(sshcert_has_extension(c, "permit-pty"), 1);
	assert_int_equal(sshcert_has_extension(c, "permit-port-forwarding"), 1);
	assert_int_equal(sshcert_has_extension(c, "permit-pt"), 0);
	assert_int_equal(sshcert_has_extension(c, NULL), 0);

	/* The certified key and the CA, byte for byte. */
	p = sshcert_key_blob(c, &len);
	assert_int_equal(len, fx->user.len);
	assert_memory_equal(p, fx->user.p, len);
	p = sshcert_ca_blob(c, &len);
	assert_int_equal(len, fx->ca[CA_P384].len);
	assert_memory_equal(p, fx->ca[CA_P384].p, len);

	/* Fingerprints as ssh-keygen prints them. */
	keygen_fingerprint(fx, "user.pub", want);
	assert_int_equal(sshcert_key_fingerprint(c, got, sizeof got), 0);
	assert_string_equal(got, want);
	keygen_fingerprint(fx, "ca3.pub", want);
	assert_int_equal(sshcert_ca_fingerprint(c, got, sizeof got), 0);
	assert_string_equal(got, want);
	assert_int_equal(sshcert_key_fingerprint(c, got, 50), -EINVAL);
	assert_int_equal(sshcert_key_fingerprint(NULL, got, 60), -EINVAL);

	sshcert_free(c);
	free(b.p);
}

/* The text libssh hands out parses to the same certificate. */
static void
test_base64(void **state)
{
	struct fixture *fx = *state;
	struct sshcert *c = NULL;
	struct blob     b = sign(fx, "b64", CA_RSA, "-z 99 -n alice");
	char            err[128], text[] = "AAAA!!!!";

	free(b.p);
	assert_int_equal(sshcert_parse_base64(
	                     read_b64(fx, "b64-cert.pub"), &c, err, sizeof err),
	    0);
	assert_int_equal(sshcert_serial(c), 99);
	assert_string_equal(sshcert_principal(c, 0), "alice");
	sshcert_free(c);

	c = NULL;
	assert_int_equal(
	    sshcert_parse_base64(text, &c, err, sizeof err), -EINVAL);
	assert_string_equal(err, "bad base64");
	assert_null(c);
	assert_int_equal(
	    sshcert_parse_base64(read_b64(fx, "user.pub"), &c, err, sizeof err),
	    -ENOTSUP);
	assert_null(c);
	assert_int_equal(sshcert_parse_base64(NULL, &c, NULL, 0), -EINVAL);
}

/* valid_after <= now < valid_before, to the second. */
static void
test_window(void **state)
{
	struct fixture     *fx = *state;
	struct sshcert_want w;
	struct sshcert     *c;
	struct blob         b;
	const char         *reason;

	b = sign(fx, "window", CA_ED, "-n alice -V 20200101Z:20400101Z");
	c = parse_ok(&b);
	want_at(&w, 1577836800);
	assert_int_equal(check(fx, c, CA_ED, &w, &reason), 0);
	want_at(&w, 1577836799);
	assert_int_equal(check(fx, c, CA_ED, &w, &reason), -EPERM);
	assert_string_equal(reason, "not yet valid");
	want_at(&w, 2208988799);
	assert_int_equal(check(fx, c, CA_ED, &w, &reason), 0);
	want_at(&w, 2208988800);
	assert_int_equal(check(fx, c, CA_ED, &w, &reason), -EPERM);
	assert_string_equal(reason, "expired");
	sshcert_free(c);
	free(b.p);

	b = sign(fx, "forever", CA_ED, "-n alice -V always:forever");
	c = parse_ok(&b);
	assert_int_equal(sshcert_valid_after(c), 0);
	assert_int_equal(sshcert_valid_before(c), UINT64_MAX);
	want_at(&w, 0);
	assert_int_equal(check(fx, c, CA_ED, &w, &reason), 0);
	want_at(&w, UINT64_MAX - 1);
	assert_int_equal(check(fx, c, CA_ED, &w, &reason), 0);
	sshcert_free(c);
	free(b.p);
}

/* Flips one byte at off and checks the certificate is not accepted. */
static void
expect_refused(const struct fixture *fx, struct blob *b, size_t off, int ca,
    const char *want)
{
	struct sshcert_want w;
	struct sshcert     *c = NULL;
	const char         *reason = NULL;
	int                 rc;

	b->p[off] ^= 0x01;
	want_at(&w, (uint64_t)time(NULL));
	rc = sshcert_parse(b->p, b->len, &c, NULL, 0);
	if (rc == 0) {
		rc = check(fx, c, ca, &w, &reason);
		if (rc == 0)
			print_error("accepted with byte %zu flipped\n", off);
		assert_int_equal(rc, -EPERM);
		if (want != NULL)
			assert_string_equal(reason, want);
		sshcert_free(c);
	} else {
		assert_null(c);
		assert_null(want);
	}
	b->p[off] ^= 0x01;
}

#define SERIAL_END (4 + 32 + 4 + 32 + 4 + 32 + 7)

static void
test_bad_signature(void **state)
{
	struct fixture *fx = *state;
	struct blob     b;
	char            name[32];
	int             ca;

	for (ca = CA_ED; ca <= CA_P521; ca++) {
		snprintf(name, sizeof name, "sig%d", ca);
		b = sign(fx, name, ca, "-n alice -z 7");
		expect_refused(fx, &b, b.len - 1, ca, "bad signature");

		/* The serial's last byte, after type name, nonce and key. */
		assert_int_equal(b.p[SERIAL_END], 7);
		expect_refused(fx, &b, SERIAL_END, ca, "bad signature");
		free(b.p);
	}
}

/* No single flipped bit anywhere gets a certificate accepted. */
static void
test_every_byte(void **state)
{
	struct fixture *fx = *state;
	struct blob     b = sign(fx, "flip", CA_ED, "-n alice");
	size_t          i;

	for (i = 0; i < b.len; i++)
		expect_refused(fx, &b, i, CA_ED, NULL);
	free(b.p);
}

static void
expect_truncated(const struct blob *b)
{
	struct sshcert *c = NULL;
	unsigned char  *copy;
	char            err[128];
	size_t          len;

	/* Each prefix in a buffer of its own size, so ASan sees overreads. */
	for (len = 0; len < b->len; len++) {
		assert_non_null(copy = malloc(len > 0 ? len : 1));
		memcpy(copy, b->p, len);
		err[0] = '\0';
		assert_true(sshcert_parse(copy, len, &c, err, sizeof err) < 0);
		assert_null(c);
		assert_true(strlen(err) > 0);
		free(copy);
	}

	/* One byte too many. */
	assert_non_null(copy = malloc(b->len + 1));
	memcpy(copy, b->p, b->len);
	copy[b->len] = 0;
	assert_int_equal(
	    sshcert_parse(copy, b->len + 1, &c, err, sizeof err), -EINVAL);
	assert_null(c);
	assert_string_equal(err, "trailing bytes");
	free(copy);
}

static void
test_truncated(void **state)
{
	struct fixture *fx = *state;
	struct blob     b;

	b = sign(fx, "trunc_ed", CA_ED,
	    "-n alice,bob -O source-address=10.0.0.0/8 -O force-command=x");
	expect_truncated(&b);
	free(b.p);
	b = sign(fx, "trunc_rsa", CA_RSA, "-n alice");
	expect_truncated(&b);
	free(b.p);
}

static void
expect_unsupported(const struct blob *b)
{
	struct sshcert *c = NULL;
	char            err[128] = "";

	assert_int_equal(
	    sshcert_parse(b->p, b->len, &c, err, sizeof err), -ENOTSUP);
	assert_null(c);
	assert_string_equal(err, "unsupported certificate type");
}

static void
test_unsupported(void **state)
{
	struct fixture *fx = *state;
	struct blob     b;

	run(fx,
	    "ssh-keygen -q -t rsa -b 2048 -N '' -f rsauser && "
	    "ssh-keygen -q -s ca0 -I r -n alice rsauser.pub");
	b = read_blob(fx, "rsauser-cert.pub");
	expect_unsupported(&b);
	free(b.p);

	run(fx,
	    "ssh-keygen -q -t ecdsa -N '' -f ecuser && "
	    "ssh-keygen -q -s ca0 -I e -n alice ecuser.pub");
	b = read_blob(fx, "ecuser-cert.pub");
	expect_unsupported(&b);
	free(b.p);

	/* A plain key is no certificate. */
	expect_unsupported(&fx->user);
}

/* A little writer for blobs ssh-keygen will not make. */
struct wbuf {
	unsigned char p[SSHCERT_BLOB_MAX + 64];
	size_t        len;
};

static void
put_u32(struct wbuf *w, uint32_t v)
{
	int i;

	for (i = 3; i >= 0; i--)
		w->p[w->len++] = (unsigned char)(v >> (8 * i));
}

static void
put_u64(struct wbuf *w, uint64_t v)
{
	put_u32(w, (uint32_t)(v >> 32));
	put_u32(w, (uint32_t)v);
}

static void
put_mem(struct wbuf *w, const void *p, size_t len)
{
	put_u32(w, (uint32_t)len);
	memcpy(w->p + w->len, p, len);
	w->len += len;
}

static void
put_str(struct wbuf *w, const char *s)
{
	put_mem(w, s, strlen(s));
}

/* Puts a string built in sub. */
static void
put_sub(struct wbuf *w, const struct wbuf *sub)
{
	put_mem(w, sub->p, sub->len);
}

/*
 * A certificate with a key of pklen bytes, the given key id (of idlen
 * bytes), principals and critical options, and a signature that is not
 * one.
 */
static void
craft_key(struct wbuf *w, size_t pklen, const char *id, size_t idlen,
    const struct wbuf *princ, const struct wbuf *crit)
{
	unsigned char zero[32] = {0};
	struct wbuf  *sig = calloc(1, sizeof *sig);

	assert_non_null(sig);
	w->len = 0;
	put_str(w, "ssh-ed25519-cert-v01@openssh.com");
	put_mem(w, zero, 16);
	put_mem(w, zero, pklen);
	put_u64(w, 1);
	put_u32(w, SSHCERT_USER);
	put_mem(w, id, idlen);
	put_sub(w, princ);
	put_u64(w, 0);
	put_u64(w, UINT64_MAX);
	put_sub(w, crit);
	put_u32(w, 0); /* extensions */
	put_u32(w, 0); /* reserved */
	put_u32(w, 0); /* signature key */
	put_str(sig, "ssh-ed25519");
	put_mem(sig, zero, 32);
	put_sub(w, sig);
	free(sig);
}

static void
craft(struct wbuf *w, const char *id, size_t idlen, const struct wbuf *princ,
    const struct wbuf *crit)
{
	craft_key(w, 32, id, idlen, princ, crit);
}

static int
craft_parse(const struct wbuf *w, char *err, size_t errlen)
{
	struct sshcert *c = NULL;
	int             rc;

	rc = sshcert_parse(w->p, w->len, &c, err, errlen);
	if (rc != 0)
		assert_null(c);
	sshcert_free(c);
	return rc;
}

static void
test_crafted(void **state)
{
	struct wbuf *w = calloc(1, sizeof *w), *princ = calloc(1, sizeof *w);
	struct wbuf *crit = calloc(1, sizeof *w), *data = calloc(1, sizeof *w);
	char         err[128];
	int          i;

	assert_true(w != NULL && princ != NULL && crit != NULL && data != NULL);
	put_str(princ, "alice");
	craft(w, "id", 2, princ, crit);
	assert_int_equal(craft_parse(w, err, sizeof err), 0);

	/* An Ed25519 key of another size. */
	craft_key(w, 31, "id", 2, princ, crit);
	assert_int_equal(craft_parse(w, err, sizeof err), -EINVAL);
	assert_string_equal(err, "bad ed25519 key length");

	/* A NUL inside a text field. */
	craft(w, "i\0d", 3, princ, crit);
	assert_int_equal(craft_parse(w, err, sizeof err), -EINVAL);
	assert_string_equal(err, "NUL in text field");

	/* The same critical option twice. */
	put_str(data, "10.0.0.0/8");
	put_str(crit, "source-address");
	put_sub(crit, data);
	craft(w, "id", 2, princ, crit);
	assert_int_equal(craft_parse(w, err, sizeof err), 0);
	put_str(crit, "source-address");
	put_sub(crit, data);
	craft(w, "id", 2, princ, crit);
	assert_int_equal(craft_parse(w, err, sizeof err), -EINVAL);
	assert_string_equal(err, "option repeated");

	/* A value with bytes after its string. */
	crit->len = 0;
	data->p[data->len++] = 'x';
	put_str(crit, "force-command");
	put_sub(crit, data);
	craft(w, "id", 2, princ, crit);
	assert_int_equal(craft_parse(w, err, sizeof err), -EINVAL);
	assert_string_equal(err, "trailing bytes");

	/* The principal bound. */
	crit->len = 0;
	for (i = 1; i < SSHCERT_PRINCIPALS_MAX; i++)
		put_str(princ, "p");
	craft(w, "id", 2, princ, crit);
	assert_int_equal(craft_parse(w, err, sizeof err), 0);
	put_str(princ, "p");
	craft(w, "id", 2, princ, crit);
	assert_int_equal(craft_parse(w, err, sizeof err), -E2BIG);
	assert_string_equal(err, "too many principals");

	/* The option bound. */
	princ->len = 0;
	put_str(princ, "alice");
	for (i = 0; i < SSHCERT_OPTIONS_MAX; i++) {
		snprintf(err, sizeof err, "opt%03d", i);
		put_str(crit, err);
		put_u32(crit, 0);
	}
	craft(w, "id", 2, princ, crit);
	assert_int_equal(craft_parse(w, err, sizeof err), 0);
	put_str(crit, "zzz");
	put_u32(crit, 0);
	craft(w, "id", 2, princ, crit);
	assert_int_equal(craft_parse(w, err, sizeof err), -E2BIG);
	assert_string_equal(err, "too many options");

	/* The size bound. */
	w->len = SSHCERT_BLOB_MAX + 1;
	assert_int_equal(craft_parse(w, err, sizeof err), -E2BIG);

	free(w);
	free(princ);
	free(crit);
	free(data);
}

static void
test_args(void **state)
{
	struct fixture     *fx = *state;
	struct sshcert_want w;
	struct sshcert     *c = NULL;
	struct blob         b = sign(fx, "args", CA_ED, "-n alice");
	const char         *reason;

	assert_int_equal(sshcert_parse(NULL, 3, &c, NULL, 0), -EINVAL);
	assert_null(c);
	sshcert_free(NULL);

	c = parse_ok(&b);
	want_at(&w, (uint64_t)time(NULL));
	assert_int_equal(check(fx, c, CA_ED, &w, NULL), 0);
	assert_int_equal(
	    sshcert_check(NULL, fx->ca[0].p, fx->ca[0].len, &w, &reason),
	    -EINVAL);
	assert_string_equal(reason, "invalid argument");
	assert_int_equal(sshcert_check(c, NULL, 0, &w, &reason), -EINVAL);
	assert_int_equal(
	    sshcert_check(c, fx->ca[0].p, fx->ca[0].len, NULL, &reason),
	    -EINVAL);
	w.user = NULL;
	assert_int_equal(check(fx, c, CA_ED, &w, &reason), -EINVAL);
	assert_string_equal(reason, "invalid argument");

	/* A CA blob that is a prefix of the right one. */
	want_at(&w, (uint64_t)time(NULL));
	assert_int_equal(
	    sshcert_check(c, fx->ca[0].p, fx->ca[0].len - 1, &w, &reason),
	    -EPERM);
	assert_string_equal(reason, "untrusted ca");
	sshcert_free(c);
	free(b.p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_fields),
	    cmocka_unit_test(test_base64),
	    cmocka_unit_test(test_window),
	    cmocka_unit_test(test_bad_signature),
	    cmocka_unit_test(test_every_byte),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_unsupported),
	    cmocka_unit_test(test_crafted),
	    cmocka_unit_test(test_args),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
