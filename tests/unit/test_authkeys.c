/*
 * authorized_keys parsing, names, lookups and fingerprints, with keys made
 * fresh for each run.
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

#include "authkeys.h"
#include "sshcert.h"

#define NED 11 /* Ed25519 keys made for the run */

struct fixture {
	char    dir[256];
	ssh_key ed[NED]; /* private keys */
	ssh_key rsa;
	char   *edb64[NED];
	char   *rsab64;
};

/*
 * The main file, one line per row: a format with one %s for the base64
 * of key (NED means the RSA key, -1 no key), the name the entry must get
 * (NULL when the line must be skipped), its kind and comment.
 */
struct row {
	const char *fmt;
	int         key;
	const char *name;
	const char *kind;
	const char *comment;
};

static const struct row rows[] = {
    {"# a comment line", -1, NULL, NULL, NULL},
    {"", -1, NULL, NULL, NULL},
    {"   \t ", -1, NULL, NULL, NULL},
    {"ssh-ed25519 %s alice@laptop", 0, "alice@laptop", "key", "alice@laptop"},
    {"ssh-rsa %s bob", NED, "bob", "key", "bob"},
    {"no-agent-forwarding,no-pty ssh-ed25519 %s carol", 1, "carol", "key",
        "carol"},
    {"cert-authority,tunnel=\"a b\" ssh-ed25519 %s fleet-ca", 2, "fleet-ca",
        "cert-authority", "fleet-ca"},
    {"garbage line here", -1, NULL, NULL, NULL},
    {"ssh-ed25519 notbase64!! broken", -1, NULL, NULL, NULL},
    {"ssh-ed25519", -1, NULL, NULL, NULL},
    {"ssh-rsa %s type-mismatch", 0, NULL, NULL, NULL},
    {"rsa %s alias", NED, NULL, NULL, NULL},
    {"bogus-option ssh-ed25519 %s x", 0, NULL, NULL, NULL},
    {"from=\"unterminated ssh-ed25519 %s x", 0, NULL, NULL, NULL},
    {"from=10.0.0.1 ssh-ed25519 %s unquoted", 0, NULL, NULL, NULL},
    {"ssh-ed25519-cert-v01@openssh.com %s cert", 0, NULL, NULL, NULL},
    {"ssh-ed25519 %sAAAA trailing-junk", 3, NULL, NULL, NULL},
    {"command=\"echo a, b\\\" c\",No-Pty ssh-ed25519 %s dave", 3, "dave", "key",
        "dave"},
    {"ssh-ed25519 %s dup", 4, "key6", "key", "dup"},
    {"ssh-ed25519 %s dup", 5, "key7", "key", "dup"},
    {"ssh-ed25519 %s has/slash", 6, "key8", "key", "has/slash"},
    {"ssh-ed25519 %s key2", 7, "key9", "key", "key2"},
    {"ssh-ed25519 %s ..", 8, "key10", "key", ".."},
    {"ssh-ed25519 %s\r", 9, "key11", "key", ""},
    {"\tssh-ed25519\t%s   alice again  ", 0, "key12", "key", "alice again"},
    {"ssh-ed25519 %s .", 10, "key13", "key", "."},
    /* Restrictions alknet does not enforce keep the key out. */
    {"from=\"10.0.0.1\",no-pty ssh-ed25519 %s limited", 1, NULL, NULL, NULL},
    {"restrict ssh-ed25519 %s limited", 2, NULL, NULL, NULL},
};

#define NSKIPPED 13 /* malformed rows above, plus the overlong line */
#define NKEYS    13

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void
make_key(enum ssh_keytypes_e type, int bits, ssh_key *key, char **b64)
{
	ssh_key pub = NULL;

	assert_int_equal(ssh_pki_generate(type, bits, key), SSH_OK);
	assert_int_equal(ssh_pki_export_privkey_to_pubkey(*key, &pub), SSH_OK);
	assert_int_equal(ssh_pki_export_pubkey_base64(pub, b64), SSH_OK);
	ssh_key_free(pub);
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof *fx);
	const char     *tmp = getenv("TMPDIR");
	int             i;

	assert_non_null(fx);
	snprintf(fx->dir, sizeof fx->dir, "%s/alknet-authkeys-XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	assert_non_null(mkdtemp(fx->dir));
	*state = fx;

	for (i = 0; i < NED; i++)
		make_key(SSH_KEYTYPE_ED25519, 0, &fx->ed[i], &fx->edb64[i]);
	make_key(SSH_KEYTYPE_RSA, 2048, &fx->rsa, &fx->rsab64);
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
	for (i = 0; i < NED; i++) {
		ssh_key_free(fx->ed[i]);
		ssh_string_free_char(fx->edb64[i]);
	}
	ssh_key_free(fx->rsa);
	ssh_string_free_char(fx->rsab64);
	free(fx);
	return 0;
}

static const char *
b64_of(const struct fixture *fx, int key)
{
	if (key < 0)
		return "";
	return key == NED ? fx->rsab64 : fx->edb64[key];
}

/* The row's text with the base64 in place of "%s", and a newline. */
static int
fill_row(char *out, size_t len, const char *fmt, const char *b64)
{
	const char *at = strstr(fmt, "%s");

	if (at == NULL)
		return snprintf(out, len, "%s\n", fmt);
	return snprintf(
	    out, len, "%.*s%s%s\n", (int)(at - fmt), fmt, b64, at + 2);
}

/* Writes the main file; returns its path in a static buffer. */
static const char *
write_main(const struct fixture *fx)
{
	static char path[300];
	static char text[64 * 1024];
	char       *p = text, *end = text + sizeof text;
	size_t      i;

	for (i = 0; i < sizeof rows / sizeof *rows; i++) {
		p += fill_row(p, end - p, rows[i].fmt, b64_of(fx, rows[i].key));

		/* An overlong line in the middle must not stop the rest. */
		if (i == 8) {
			p += snprintf(p, end - p, "ssh-ed25519 ");
			memset(p, 'A', 20000);
			p += 20000;
			p += snprintf(p, end - p, " long\n");
		}
	}
	assert_true(p < end);

	snprintf(path, sizeof path, "%s/authorized_keys", fx->dir);
	write_file(path, text);
	return path;
}

static struct authkeys *
load_main(const struct fixture *fx)
{
	struct authkeys *ak = NULL;
	unsigned         skipped = 999;
	char             err[512];
	int              rc;

	rc = authkeys_load(write_main(fx), &ak, &skipped, err, sizeof err);
	if (rc != 0)
		print_error("%s\n", err);
	assert_int_equal(rc, 0);
	assert_non_null(ak);
	assert_int_equal(skipped, NSKIPPED);
	return ak;
}

static void
test_parse(void **state)
{
	struct fixture     *fx = *state;
	struct authkeys    *ak = load_main(fx);
	struct authkey_info info;
	char                line[1024];
	size_t              i, n = 0;

	assert_int_equal(authkeys_count(ak), NKEYS);
	for (i = 0; i < sizeof rows / sizeof *rows; i++) {
		if (rows[i].name == NULL)
			continue;
		authkeys_get(ak, n++, &info);
		assert_string_equal(info.name, rows[i].name);
		assert_string_equal(info.kind, rows[i].kind);
		assert_string_equal(info.comment, rows[i].comment);
		assert_string_equal(
		    info.type, rows[i].key == NED ? "ssh-rsa" : "ssh-ed25519");
		snprintf(line, sizeof line, "%s %s%s%s", info.type,
		    b64_of(fx, rows[i].key), *rows[i].comment ? " " : "",
		    rows[i].comment);
		assert_string_equal(info.line, line);
		assert_memory_equal(info.id, "SHA256:", 7);
		assert_int_equal(strlen(info.id), 7 + 43);
		assert_string_equal(info.scopes, "relay:connect");
		assert_string_equal(info.source, "file");
	}
	assert_int_equal(n, NKEYS);
	authkeys_free(ak);
}

static void
test_names(void **state)
{
	struct fixture     *fx = *state;
	struct authkeys    *ak = load_main(fx);
	struct authkey_info a, b;
	size_t              i, j, n = authkeys_count(ak);

	for (i = 0; i < n; i++) {
		authkeys_get(ak, i, &a);
		assert_null(strchr(a.name, '/'));
		assert_true(strlen(a.name) > 0);
		assert_string_not_equal(a.name, ".");
		assert_string_not_equal(a.name, "..");
		assert_int_equal(authkeys_find_name(ak, a.name), (int)i);
		for (j = i + 1; j < n; j++) {
			authkeys_get(ak, j, &b);
			assert_string_not_equal(a.name, b.name);
		}
	}
	assert_int_equal(authkeys_find_name(ak, "dup"), -1);
	assert_int_equal(authkeys_find_name(ak, "key2"), -1);
	assert_int_equal(authkeys_find_name(ak, "nobody"), -1);
	assert_int_equal(authkeys_find_name(ak, ""), -1);
	assert_int_equal(authkeys_find_name(ak, NULL), -1);
	authkeys_free(ak);
}

/* A public key read back from text, as a peer would present it. */
static ssh_key
pub_from(const char *b64, enum ssh_keytypes_e type)
{
	ssh_key key = NULL;

	assert_int_equal(ssh_pki_import_pubkey_base64(b64, type, &key), SSH_OK);
	return key;
}

static void
test_find(void **state)
{
	struct fixture  *fx = *state;
	struct authkeys *ak = load_main(fx);
	ssh_key          other = NULL, pub;

	/* The first entry wins over a later duplicate. */
	pub = pub_from(fx->edb64[0], SSH_KEYTYPE_ED25519);
	assert_int_equal(authkeys_find(ak, pub), 0);
	ssh_key_free(pub);
	assert_int_equal(authkeys_find(ak, fx->ed[0]), 0);

	pub = pub_from(fx->rsab64, SSH_KEYTYPE_RSA);
	assert_int_equal(authkeys_find(ak, pub), 1);
	ssh_key_free(pub);

	assert_int_equal(authkeys_find(ak, fx->ed[1]), 2);
	assert_int_equal(authkeys_find(ak, fx->ed[3]), 4);
	assert_int_equal(authkeys_find(ak, fx->ed[10]), 12);

	/* A certificate authority is never a user key. */
	assert_int_equal(authkeys_find(ak, fx->ed[2]), -1);

	assert_int_equal(ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &other), 0);
	assert_int_equal(authkeys_find(ak, other), -1);
	ssh_key_free(other);
	assert_int_equal(authkeys_find(ak, NULL), -1);
	authkeys_free(ak);
}

/* The comment of a key file plays no part in matching. */
static void
test_find_other_comment(void **state)
{
	struct fixture  *fx = *state;
	struct authkeys *ak = load_main(fx);
	char             path[300], text[1024];
	ssh_key          pub = NULL;

	snprintf(path, sizeof path, "%s/dave.pub", fx->dir);
	snprintf(text, sizeof text, "ssh-ed25519 %s not-dave@elsewhere\n",
	    fx->edb64[3]);
	write_file(path, text);
	assert_int_equal(ssh_pki_import_pubkey_file(path, &pub), SSH_OK);
	assert_int_equal(authkeys_find(ak, pub), 4);
	ssh_key_free(pub);
	authkeys_free(ak);
}

/* What ssh-keygen -lf prints as the fingerprint of the key in path. */
static void
keygen_fingerprint(const char *path, char *fp, size_t len)
{
	char  cmd[512], out[1024], *tok;
	FILE *p;

	snprintf(cmd, sizeof cmd, "ssh-keygen -E sha256 -lf '%s'", path);
	assert_non_null(p = popen(cmd, "r"));
	assert_non_null(fgets(out, sizeof out, p));
	assert_int_equal(pclose(p), 0);

	/* "256 SHA256:... comment (ED25519)" */
	strtok(out, " ");
	assert_non_null(tok = strtok(NULL, " "));
	snprintf(fp, len, "%s", tok);
}

static void
check_fingerprint(
    struct fixture *fx, const char *type, const char *b64, const ssh_key key)
{
	struct authkeys    *ak = NULL;
	struct authkey_info info;
	char                path[300], text[2048], want[128], got[128];

	snprintf(path, sizeof path, "%s/fp.pub", fx->dir);
	snprintf(text, sizeof text, "%s %s fp-test\n", type, b64);
	write_file(path, text);
	keygen_fingerprint(path, want, sizeof want);
	assert_memory_equal(want, "SHA256:", 7);

	assert_int_equal(authkeys_fingerprint(key, got, sizeof got), 0);
	assert_string_equal(got, want);

	assert_int_equal(authkeys_load(path, &ak, NULL, NULL, 0), 0);
	assert_int_equal(authkeys_count(ak), 1);
	authkeys_get(ak, 0, &info);
	assert_string_equal(info.id, want);
	assert_string_equal(info.name, "fp-test");
	authkeys_free(ak);
}

static void
test_fingerprint(void **state)
{
	struct fixture *fx = *state;
	char            small[20];

	check_fingerprint(fx, "ssh-ed25519", fx->edb64[0], fx->ed[0]);
	check_fingerprint(fx, "ssh-rsa", fx->rsab64, fx->rsa);

	assert_int_equal(
	    authkeys_fingerprint(fx->ed[0], small, sizeof small), -EINVAL);
	assert_int_equal(
	    authkeys_fingerprint(NULL, small, sizeof small), -EINVAL);
}

static void
test_missing_file(void **state)
{
	struct fixture  *fx = *state;
	struct authkeys *ak = NULL;
	char             path[300], err[512];

	snprintf(path, sizeof path, "%s/does-not-exist", fx->dir);
	assert_int_equal(
	    authkeys_load(path, &ak, NULL, err, sizeof err), -ENOENT);
	assert_null(ak);
	assert_non_null(strstr(err, path));

	/* A directory cannot be read as a file. */
	assert_int_equal(
	    authkeys_load(fx->dir, &ak, NULL, err, sizeof err), -EISDIR);
	assert_null(ak);
	assert_non_null(strstr(err, fx->dir));
}

static void
test_empty(void **state)
{
	struct fixture  *fx = *state;
	struct authkeys *ak = authkeys_empty();
	char             path[300];
	unsigned         skipped = 7;

	assert_non_null(ak);
	assert_int_equal(authkeys_count(ak), 0);
	assert_int_equal(authkeys_find(ak, fx->ed[0]), -1);
	assert_int_equal(authkeys_find_name(ak, "key1"), -1);
	authkeys_free(ak);
	authkeys_free(NULL);
	assert_int_equal(authkeys_count(NULL), 0);

	/* An empty file is an empty set, not an error. */
	snprintf(path, sizeof path, "%s/empty", fx->dir);
	write_file(path, "");
	assert_int_equal(authkeys_load(path, &ak, &skipped, NULL, 0), 0);
	assert_int_equal(authkeys_count(ak), 0);
	assert_int_equal(skipped, 0);
	authkeys_free(ak);
}

/* The key blob behind base64 text, in a static buffer. */
static const unsigned char *
blob_of(const char *b64, size_t *len)
{
	static unsigned char blob[4096];

	assert_int_equal(sodium_base642bin(blob, sizeof blob, b64, strlen(b64),
	                     NULL, len, NULL, sodium_base64_VARIANT_ORIGINAL),
	    0);
	return blob;
}

/* Writes the CA file of the tests below; returns its path. */
static const char *
write_cas(const struct fixture *fx)
{
	static char path[300];
	char        text[8192];

	snprintf(text, sizeof text,
	    "# certificate authorities\n"
	    "ssh-ed25519 %s ca-one\n"
	    "cert-authority ssh-ed25519 %s carol\n"
	    "permit-port-forwarding ssh-rsa %s ca-three\n"
	    "cert-authority,permit-port-forwarding ssh-ed25519 %s ca-four\n"
	    "from=\"10.0.0.1\" ssh-ed25519 %s limited\n"
	    "garbage\n",
	    fx->edb64[0], fx->edb64[1], fx->rsab64, fx->edb64[4], fx->edb64[3]);
	snprintf(path, sizeof path, "%s/cas", fx->dir);
	write_file(path, text);
	return path;
}

static void
check_ca(
    const struct authkeys *ak, int i, const char *b64, const char *name, int pf)
{
	struct authkey_info  info;
	const unsigned char *blob;
	size_t               len;

	authkeys_get(ak, (size_t)i, &info);
	assert_string_equal(info.kind, "cert-authority");
	assert_string_equal(info.name, name);
	assert_int_equal(info.port_forwarding, pf);
	blob = blob_of(b64, &len);
	assert_int_equal(info.blob_len, len);
	assert_memory_equal(info.blob, blob, len);
	assert_int_equal(authkeys_find_ca(ak, blob, len), i);
}

/* In a CA file every key line is a CA, options or not. */
static void
test_cas(void **state)
{
	struct fixture      *fx = *state;
	struct authkeys     *ak = NULL;
	const unsigned char *blob;
	unsigned             skipped = 0;
	size_t               len;
	char                 err[512];

	assert_int_equal(
	    authkeys_load_cas(write_cas(fx), &ak, &skipped, err, sizeof err),
	    0);
	assert_int_equal(authkeys_count(ak), 4);
	assert_int_equal(skipped, 2);
	check_ca(ak, 0, fx->edb64[0], "ca-one", 0);
	check_ca(ak, 1, fx->edb64[1], "carol", 0);
	check_ca(ak, 2, fx->rsab64, "ca-three", 1);
	check_ca(ak, 3, fx->edb64[4], "ca-four", 1);

	/* A CA is never a user key, and a stranger is no CA. */
	assert_int_equal(authkeys_find(ak, fx->ed[0]), -1);
	blob = blob_of(fx->edb64[3], &len);
	assert_int_equal(authkeys_find_ca(ak, blob, len), -1);
	blob = blob_of(fx->edb64[0], &len);
	assert_int_equal(authkeys_find_ca(ak, blob, len - 1), -1);
	assert_int_equal(authkeys_find_ca(NULL, blob, len), -1);
	assert_int_equal(authkeys_find_ca(ak, NULL, 0), -1);
	authkeys_free(ak);

	ak = NULL;
	assert_int_equal(
	    authkeys_load_cas(fx->dir, &ak, NULL, err, sizeof err), -EISDIR);
	assert_null(ak);
}

/*
 * The same file read as authorized_keys: a bare line is a user key, and
 * permit-port-forwarding without cert-authority keeps a line out.
 */
static void
test_cas_as_keys(void **state)
{
	struct fixture      *fx = *state;
	struct authkeys     *ak = NULL;
	struct authkey_info  info;
	const unsigned char *blob;
	unsigned             skipped = 0;
	size_t               len;

	assert_int_equal(
	    authkeys_load(write_cas(fx), &ak, &skipped, NULL, 0), 0);
	assert_int_equal(authkeys_count(ak), 3);
	assert_int_equal(skipped, 3);
	authkeys_get(ak, 0, &info);
	assert_string_equal(info.kind, "key");
	assert_int_equal(info.port_forwarding, 0);
	assert_int_equal(authkeys_find(ak, fx->ed[0]), 0);
	blob = blob_of(fx->edb64[0], &len);
	assert_int_equal(authkeys_find_ca(ak, blob, len), -1);
	check_ca(ak, 1, fx->edb64[1], "carol", 0);
	check_ca(ak, 2, fx->edb64[4], "ca-four", 1);
	authkeys_free(ak);
}

static void
test_merge(void **state)
{
	struct fixture     *fx = *state;
	struct authkeys    *main = load_main(fx), *cas = NULL, *all = NULL;
	struct authkey_info a, b;
	size_t              i;

	assert_int_equal(
	    authkeys_load_cas(write_cas(fx), &cas, NULL, NULL, 0), 0);
	assert_int_equal(authkeys_merge(main, cas, &all), 0);
	assert_int_equal(authkeys_count(all), NKEYS + 4);

	/* Entries keep their order and contents; only names may change. */
	for (i = 0; i < NKEYS + 4; i++) {
		authkeys_get(all, i, &a);
		authkeys_get(
		    i < NKEYS ? main : cas, i < NKEYS ? i : i - NKEYS, &b);
		assert_string_equal(a.line, b.line);
		assert_string_equal(a.id, b.id);
		assert_string_equal(a.kind, b.kind);
		assert_int_equal(a.port_forwarding, b.port_forwarding);
		assert_int_equal(a.blob_len, b.blob_len);
		assert_memory_equal(a.blob, b.blob, a.blob_len);
		assert_ptr_not_equal(a.blob, b.blob);
		assert_int_equal(authkeys_find_name(all, a.name), (int)i);
	}

	/* "carol" now names two entries, so neither keeps it. */
	assert_int_equal(authkeys_find_name(main, "carol"), 2);
	assert_int_equal(authkeys_find_name(all, "carol"), -1);
	authkeys_get(all, 2, &a);
	assert_string_equal(a.name, "key3");
	authkeys_get(all, NKEYS + 1, &a);
	assert_string_equal(a.name, "key15");

	/* ca-four's key is a plain key of the main file too ("dup"). */
	check_ca(all, NKEYS + 3, fx->edb64[4], "ca-four", 1);
	assert_int_equal(authkeys_find(all, fx->ed[4]), 5);
	check_ca(all, 3, fx->edb64[2], "fleet-ca", 0);
	authkeys_free(all);
	authkeys_free(cas);
	authkeys_free(main);

	assert_int_equal(authkeys_merge(NULL, NULL, &all), 0);
	assert_int_equal(authkeys_count(all), 0);
	authkeys_free(all);
}

/* What the session will do: find the CA of a certificate, then check. */
static void
test_ca_and_cert(void **state)
{
	struct fixture      *fx = *state;
	struct authkeys     *ak = NULL;
	struct authkey_info  info;
	struct sshcert      *c = NULL;
	struct sshcert_want  w = {"alice", "192.0.2.1", 0, 0};
	const unsigned char *blob;
	const char          *reason = NULL;
	char                 cmd[1024], path[300], line[8192];
	size_t               len;
	FILE                *f;
	int                  i;

	snprintf(cmd, sizeof cmd,
	    "cd '%s' && ssh-keygen -q -t ed25519 -N '' -f ca && "
	    "ssh-keygen -q -t ed25519 -N '' -f user && "
	    "ssh-keygen -q -s ca -I id -n alice -O no-port-forwarding user.pub",
	    fx->dir);
	assert_int_equal(system(cmd), 0);

	/* ssh-keygen's ca.pub, as it stands. */
	snprintf(path, sizeof path, "%s/ca.pub", fx->dir);
	assert_int_equal(authkeys_load_cas(path, &ak, NULL, NULL, 0), 0);
	assert_int_equal(authkeys_count(ak), 1);

	snprintf(path, sizeof path, "%s/user-cert.pub", fx->dir);
	assert_non_null(f = fopen(path, "r"));
	assert_non_null(fgets(line, sizeof line, f));
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	*strrchr(line, ' ') = '\0';
	assert_int_equal(
	    sshcert_parse_base64(strchr(line, ' ') + 1, &c, NULL, 0), 0);

	blob = sshcert_ca_blob(c, &len);
	assert_int_equal(i = authkeys_find_ca(ak, blob, len), 0);
	authkeys_get(ak, (size_t)i, &info);
	w.now = (uint64_t)time(NULL);
	w.need_port_forwarding = info.port_forwarding;
	assert_int_equal(
	    sshcert_check(c, info.blob, info.blob_len, &w, &reason), 0);

	/* The same CA with permit-port-forwarding wants the extension. */
	w.need_port_forwarding = 1;
	assert_int_equal(
	    sshcert_check(c, info.blob, info.blob_len, &w, &reason), -EPERM);
	assert_string_equal(reason, "port forwarding not permitted");
	sshcert_free(c);
	authkeys_free(ak);
}

/* Past the bound, further keys are skipped rather than kept. */
static void
test_bound(void **state)
{
	struct fixture     *fx = *state;
	struct authkeys    *ak = NULL, *one, *all = NULL;
	struct authkey_info info;
	unsigned            skipped = 0;
	char                path[300];
	FILE               *f;
	int                 i;

	snprintf(path, sizeof path, "%s/many", fx->dir);
	assert_non_null(f = fopen(path, "w"));
	for (i = 0; i < 100001; i++)
		fprintf(f, "ssh-ed25519 %s same\n", fx->edb64[i % 2]);
	assert_int_equal(fclose(f), 0);

	assert_int_equal(authkeys_load(path, &ak, &skipped, NULL, 0), 0);
	assert_int_equal(authkeys_count(ak), 100000);
	assert_int_equal(skipped, 1);
	authkeys_get(ak, 99999, &info);
	assert_string_equal(info.name, "key100000");
	assert_int_equal(authkeys_find_name(ak, "key100000"), 99999);
	assert_int_equal(authkeys_find(ak, fx->ed[1]), 1);

	/* A merge past the bound is refused whole. */
	one = load_main(fx);
	assert_int_equal(authkeys_merge(ak, one, &all), -E2BIG);
	assert_null(all);
	assert_int_equal(authkeys_merge(ak, NULL, &all), 0);
	assert_int_equal(authkeys_count(all), 100000);
	authkeys_free(all);
	authkeys_free(one);
	authkeys_free(ak);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_find),
	    cmocka_unit_test(test_find_other_comment),
	    cmocka_unit_test(test_fingerprint),
	    cmocka_unit_test(test_missing_file),
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_cas),
	    cmocka_unit_test(test_cas_as_keys),
	    cmocka_unit_test(test_merge),
	    cmocka_unit_test(test_ca_and_cert),
	    cmocka_unit_test(test_bound),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
