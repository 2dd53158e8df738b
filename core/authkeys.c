/*
 * OpenSSH authorized_keys files.
 *
 * A line is "[options] type base64 [comment]".  Each key is checked by
 * decoding it with libssh and encoding it again: the result must be the
 * text found, so a line whose type word disagrees with its blob, or whose
 * base64 carries junk, is refused like OpenSSH refuses it; this also
 * makes the base64 text canonical, so keys compare as strings.  Lookups
 * go through an index ordered by the first bytes of the key's SHA-256,
 * which the fingerprint needs anyway.
 *
 * Certificate authorities come from "cert-authority" lines, or from a
 * file of CA keys where every key line is one.  A CA line may carry
 * "permit-port-forwarding", which alknet adds to OpenSSH's options: the
 * certificates the CA signs must then carry that extension.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "authkeys.h"

#define AUTHKEYS_MAX        100000 /* keys in one set */
#define AUTHKEYS_LINE_MAX   16384  /* longer lines are skipped */
#define AUTHKEYS_NAME_MAX   64     /* longer comments are not names */
#define AUTHKEYS_SCOPES_MAX 255    /* a session keeps as much */
#define AUTHKEYS_NAME_CHARS                                                    \
	"abcdefghijklmnopqrstuvwxyz"                                           \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-"
#define AUTHKEYS_SPACE " \t"
#define AUTHKEYS_SCOPE_CHARS                                                   \
	"abcdefghijklmnopqrstuvwxyz"                                           \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:._*-"
#define AUTHKEYS_FILE_SCOPES "relay:connect"

enum authkeys_kind { AUTHKEYS_KEY, AUTHKEYS_CA, AUTHKEYS_TOKEN };

static const char *const authkeys_kinds[] = {
    [AUTHKEYS_KEY] = "key",
    [AUTHKEYS_CA] = "cert-authority",
    [AUTHKEYS_TOKEN] = "token-key",
};

struct authkey {
	char        name[AUTHKEYS_NAME_MAX + 1];
	char       *mem; /* one block holding the strings */
	size_t      memlen;
	const char *id;
	const char *line;
	const char *type;
	const char *comment;
	const char *scopes;
	const char *b64;  /* the key blob as the line has it */
	const char *blob; /* and decoded */
	size_t      blob_len;
	uint64_t    order;  /* first 8 bytes of the SHA-256 */
	int         kind;   /* enum authkeys_kind */
	int         pfwd;   /* permit-port-forwarding */
	int         stored; /* named by whoever stored it, not the file */
};

struct authkeys {
	struct authkey *keys;
	size_t          n;
	size_t          cap;
	size_t         *byorder; /* indices by (order, index) */
	size_t         *byname;  /* indices by name */
};

/* What the parse of one line found; pointers into the line. */
struct authkeys_line {
	const char *type;
	const char *b64;
	const char *comment;
	int         ca;
	int         pfwd;
	int         unenforced; /* carries a restriction not honoured */
};

/*
 * The options OpenSSH knows, whether each takes a quoted value, and
 * whether alknet cannot honour it yet.  A line with an unknown option is
 * skipped, as OpenSSH skips it.  So is a line with a restriction alknet
 * does not enforce: a key must never get more than its line grants.
 * XXX: from=, permitopen=, expiry-time= and friends are refused, not
 * enforced.
 */
static const struct {
	const char *name;
	int         value;
	int         unenforced;
} authkeys_options[] = {
    {"agent-forwarding", 0, 0},
    {"cert-authority", 0, 0},
    {"command", 1, 0},
    {"environment", 1, 0},
    {"expiry-time", 1, 1},
    {"from", 1, 1},
    {"no-agent-forwarding", 0, 0},
    {"no-port-forwarding", 0, 1},
    {"no-pty", 0, 0},
    {"no-touch-required", 0, 0},
    {"no-user-rc", 0, 0},
    {"no-x11-forwarding", 0, 0},
    {"permit-port-forwarding", 0, 0},
    {"permitlisten", 1, 1},
    {"permitopen", 1, 1},
    {"port-forwarding", 0, 0},
    {"principals", 1, 1},
    {"pty", 0, 0},
    {"restrict", 0, 1},
    {"tunnel", 1, 0},
    {"user-rc", 0, 0},
    {"verify-required", 0, 1},
    {"x11-forwarding", 0, 0},
};

static int
authkeys_fail(char *err, size_t errlen, int rc, const char *path)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
	return rc;
}

/* A plain (not certificate) key type that libssh can read. */
static enum ssh_keytypes_e
authkeys_plain_type(const char *name)
{
	enum ssh_keytypes_e type = ssh_key_type_from_name(name);

	/* libssh also takes short aliases ("rsa") that OpenSSH does not. */
	if (type == SSH_KEYTYPE_UNKNOWN ||
	    strcmp(name, ssh_key_type_to_char(type)) != 0)
		return SSH_KEYTYPE_UNKNOWN;

	switch (type) {
	case SSH_KEYTYPE_RSA:
	case SSH_KEYTYPE_ECDSA_P256:
	case SSH_KEYTYPE_ECDSA_P384:
	case SSH_KEYTYPE_ECDSA_P521:
	case SSH_KEYTYPE_ED25519:
	case SSH_KEYTYPE_SK_ECDSA:
	case SSH_KEYTYPE_SK_ED25519:
		return type;
	default:
		return SSH_KEYTYPE_UNKNOWN;
	}
}

/* Whether the word of len bytes at p names a plain key type. */
static int
authkeys_is_type(const char *p, size_t len)
{
	char word[64];

	if (len >= sizeof word)
		return 0;
	memcpy(word, p, len);
	word[len] = '\0';
	return authkeys_plain_type(word) != SSH_KEYTYPE_UNKNOWN;
}

/*
 * Checks the option at p and returns what follows it, or NULL.  A value
 * is a double-quoted string in which a backslash escapes a quote.
 */
static char *
authkeys_option(char *p, struct authkeys_line *l)
{
	const size_t nopts = sizeof authkeys_options / sizeof *authkeys_options;
	size_t       i, len;

	len = strspn(p,
	    "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-");
	for (i = 0; i < nopts; i++) {
		if (strlen(authkeys_options[i].name) == len &&
		    strncasecmp(p, authkeys_options[i].name, len) == 0)
			break;
	}
	if (len == 0 || i == nopts)
		return NULL;
	if (strcmp(authkeys_options[i].name, "cert-authority") == 0)
		l->ca = 1;
	if (strcmp(authkeys_options[i].name, "permit-port-forwarding") == 0)
		l->pfwd = 1;
	if (authkeys_options[i].unenforced)
		l->unenforced = 1;
	p += len;
	if (!authkeys_options[i].value)
		return p;

	if (p[0] != '=' || p[1] != '"')
		return NULL;
	for (p += 2; *p != '"'; p++) {
		if (*p == '\0')
			return NULL;
		if (p[0] == '\\' && p[1] == '"')
			p++;
	}
	return p + 1;
}

/* Checks the options field at p; returns what follows it, or NULL. */
static char *
authkeys_options_field(char *p, struct authkeys_line *l)
{
	for (;;) {
		if ((p = authkeys_option(p, l)) == NULL)
			return NULL;
		if (*p != ',')
			break;
		p++;
	}
	if (*p == '\0' || strchr(AUTHKEYS_SPACE, *p) == NULL)
		return NULL;
	return p + strspn(p, AUTHKEYS_SPACE);
}

/* Cuts the word at p with a NUL; returns the rest after blanks. */
static char *
authkeys_word(char *p)
{
	p += strcspn(p, AUTHKEYS_SPACE);
	if (*p == '\0')
		return p;
	*p++ = '\0';
	return p + strspn(p, AUTHKEYS_SPACE);
}

/*
 * Splits a line, already without its newline and trailing blanks; with
 * all_ca set, the key is a CA whatever its options say.  Returns 1 for
 * a key, 0 for a blank or comment line, -EINVAL otherwise.
 */
static int
authkeys_split(char *p, struct authkeys_line *l, int all_ca)
{
	memset(l, 0, sizeof *l);
	l->ca = all_ca;
	p += strspn(p, AUTHKEYS_SPACE);
	if (*p == '\0' || *p == '#')
		return 0;

	/* The options field is there when the first word is no key type. */
	if (!authkeys_is_type(p, strcspn(p, AUTHKEYS_SPACE)) &&
	    (p = authkeys_options_field(p, l)) == NULL)
		return -EINVAL;
	if (l->unenforced)
		return -EINVAL;

	/* It asks something of certificates; a plain key has none. */
	if (l->pfwd && !l->ca)
		return -EINVAL;

	l->type = p;
	p = authkeys_word(p);
	l->b64 = p;
	l->comment = authkeys_word(p);
	if (*l->b64 == '\0' ||
	    authkeys_plain_type(l->type) == SSH_KEYTYPE_UNKNOWN)
		return -EINVAL;
	return 1;
}

/* The SHA-256 of the key blob, as the fingerprint uses it. */
static int
authkeys_digest(const ssh_key key, unsigned char out[32])
{
	unsigned char *hash = NULL;
	size_t         hlen = 0;

	if (ssh_get_publickey_hash(
	        key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) != 0)
		return -EINVAL;
	if (hlen != 32) {
		ssh_clean_pubkey_hash(&hash);
		return -EINVAL;
	}
	memcpy(out, hash, 32);
	ssh_clean_pubkey_hash(&hash);
	return 0;
}

static uint64_t
authkeys_order(const unsigned char digest[32])
{
	uint64_t v = 0;
	int      i;

	for (i = 0; i < 8; i++)
		v = v << 8 | digest[i];
	return v;
}

int
authkeys_fingerprint(const ssh_key key, char *buf, size_t len)
{
	unsigned char digest[32];
	char         *fp;
	int           n;

	if (key == NULL || authkeys_digest(key, digest) != 0)
		return -EINVAL;
	fp = ssh_get_fingerprint_hash(
	    SSH_PUBLICKEY_HASH_SHA256, digest, sizeof digest);
	if (fp == NULL)
		return -EINVAL;
	n = snprintf(buf, len, "%s", fp);
	ssh_string_free_char(fp);
	return n < 0 || (size_t)n >= len ? -EINVAL : 0;
}

static const char *
authkeys_put(char **m, const char *s)
{
	size_t len = strlen(s) + 1;
	char  *p = memcpy(*m, s, len);

	*m += len;
	return p;
}

/* The key blob into room bytes at m; libssh 0.10 exports no blobs. */
static int
authkeys_decode(struct authkey *k, char *m, size_t room)
{
	if (sodium_base642bin((unsigned char *)m, room, k->b64, strlen(k->b64),
	        NULL, &k->blob_len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
		return -EINVAL;
	k->blob = m;
	return 0;
}

/* Fills k from the parsed line, its decoded key and its scopes. */
static int
authkeys_fill(struct authkey *k, const struct authkeys_line *l,
    const ssh_key key, const char *scopes)
{
	unsigned char digest[32];
	char          fp[128], *m;
	size_t        len, b64len = strlen(l->b64);

	if (authkeys_fingerprint(key, fp, sizeof fp) != 0 ||
	    authkeys_digest(key, digest) != 0)
		return -EINVAL;

	/* The line, then copies of its parts, the fingerprint, the blob. */
	len = strlen(l->type) + b64len + strlen(l->comment);
	k->memlen = 2 * len + strlen(fp) + strlen(scopes) + 9 + b64len / 4 * 3;
	if ((m = malloc(k->memlen)) == NULL)
		return -ENOMEM;
	k->mem = m;
	k->line = m;
	m += sprintf(m, "%s %s", l->type, l->b64);
	if (*l->comment != '\0')
		m += sprintf(m, " %s", l->comment);
	m++;
	k->type = authkeys_put(&m, l->type);
	k->b64 = authkeys_put(&m, l->b64);
	k->comment = authkeys_put(&m, l->comment);
	k->id = authkeys_put(&m, fp);
	k->scopes = authkeys_put(&m, scopes);
	if (authkeys_decode(k, m, b64len / 4 * 3) != 0) {
		free(k->mem);
		k->mem = NULL;
		return -EINVAL;
	}
	k->order = authkeys_order(digest);
	k->kind = l->ca ? AUTHKEYS_CA : AUTHKEYS_KEY;
	k->pfwd = l->pfwd;
	return 0;
}

/*
 * Decodes the key of l into k.  Returns 0, -EINVAL for a key that does
 * not parse, or -ENOMEM.
 */
static int
authkeys_key(
    struct authkey *k, const struct authkeys_line *l, const char *scopes)
{
	enum ssh_keytypes_e type = authkeys_plain_type(l->type);
	ssh_key             key = NULL;
	char               *b64 = NULL;
	int                 rc = -EINVAL;

	if (ssh_pki_import_pubkey_base64(l->b64, type, &key) != 0)
		goto out;

	/* libssh trusts the type given; the blob must agree with it. */
	if (ssh_key_type(key) != type ||
	    ssh_pki_export_pubkey_base64(key, &b64) != 0 ||
	    strcmp(b64, l->b64) != 0)
		goto out;
	rc = authkeys_fill(k, l, key, scopes);
out:
	ssh_string_free_char(b64);
	ssh_key_free(key);
	return rc;
}

static int
authkeys_grow(struct authkeys *ak)
{
	struct authkey *keys;
	size_t          cap;

	if (ak->n < ak->cap)
		return 0;
	cap = ak->cap == 0 ? 16 : ak->cap * 2;
	if (cap > AUTHKEYS_MAX)
		cap = AUTHKEYS_MAX;
	keys = reallocarray(ak->keys, cap, sizeof *keys);
	if (keys == NULL)
		return -ENOMEM;
	ak->keys = keys;
	ak->cap = cap;
	return 0;
}

/*
 * Adds the key on one line.  Returns 1 when added, 0 for a line with
 * nothing to add, -EINVAL for a line to skip, -ENOMEM.
 */
static int
authkeys_add_line(struct authkeys *ak, char *buf, int all_ca)
{
	struct authkeys_line l;
	struct authkey       k;
	int                  rc;

	if ((rc = authkeys_split(buf, &l, all_ca)) <= 0)
		return rc;
	if (ak->n == AUTHKEYS_MAX)
		return -EINVAL;

	memset(&k, 0, sizeof k);
	if ((rc = authkeys_key(&k, &l, AUTHKEYS_FILE_SCOPES)) != 0)
		return rc;
	if ((rc = authkeys_grow(ak)) != 0) {
		free(k.mem);
		return rc;
	}
	ak->keys[ak->n++] = k;
	return 1;
}

/* Drops the newline and trailing blanks (including a CR). */
static void
authkeys_chomp(char *buf)
{
	size_t len = strlen(buf);

	while (len > 0 && strchr(" \t\r\n", buf[len - 1]) != NULL)
		buf[--len] = '\0';
}

/* Reads the rest of an overlong line. */
static void
authkeys_discard(FILE *f)
{
	int c;

	while ((c = getc(f)) != EOF && c != '\n')
		;
}

static int
authkeys_read(FILE *f, struct authkeys *ak, unsigned *skipped, int all_ca)
{
	char  *buf;
	size_t len;
	int    rc = 0;

	if ((buf = malloc(AUTHKEYS_LINE_MAX + 1)) == NULL)
		return -ENOMEM;
	while (fgets(buf, AUTHKEYS_LINE_MAX + 1, f) != NULL) {
		len = strlen(buf);
		if (len == AUTHKEYS_LINE_MAX && buf[len - 1] != '\n' &&
		    !feof(f)) {
			authkeys_discard(f);
			(*skipped)++;
			continue;
		}
		authkeys_chomp(buf);
		rc = authkeys_add_line(ak, buf, all_ca);
		if (rc == -ENOMEM)
			break;
		if (rc == -EINVAL)
			(*skipped)++;
		rc = 0;
	}
	if (rc == 0 && ferror(f))
		rc = errno != 0 ? -errno : -EIO;
	free(buf);
	return rc;
}

int
authkeys_name_valid(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > AUTHKEYS_NAME_MAX ||
	    strspn(s, AUTHKEYS_NAME_CHARS) != len || strcmp(s, ".") == 0 ||
	    strcmp(s, "..") == 0)
		return 0;

	/* "key<N>" belongs to the generated names. */
	if (strncmp(s, "key", 3) == 0 && len > 3 &&
	    strspn(s + 3, "0123456789") == len - 3)
		return 0;
	return 1;
}

static int
authkeys_cmp_name(const void *a, const void *b, void *arg)
{
	const struct authkey *k = arg;

	return strcmp(k[*(const size_t *)a].name, k[*(const size_t *)b].name);
}

static int
authkeys_cmp_order(const void *a, const void *b, void *arg)
{
	const struct authkey *k = arg;
	size_t                i = *(const size_t *)a, j = *(const size_t *)b;

	if (k[i].order != k[j].order)
		return k[i].order < k[j].order ? -1 : 1;
	return i < j ? -1 : i > j;
}

static void
authkeys_sort(struct authkeys *ak, size_t *idx,
    int (*cmp)(const void *, const void *, void *))
{
	size_t i;

	for (i = 0; i < ak->n; i++)
		idx[i] = i;
	qsort_r(idx, ak->n, sizeof *idx, cmp, ak->keys);
}

/*
 * A stored entry keeps the name it was stored under.  A comment becomes
 * the name when it is safe and no other entry has the same comment or
 * that name; every other entry is "key<N>".  Generated names cannot
 * collide with comments or stored names because such are never names.
 */
static void
authkeys_name(struct authkeys *ak)
{
	size_t i, j, k, *idx = ak->byname;

	for (i = 0; i < ak->n; i++) {
		if (ak->keys[i].stored)
			continue;
		if (authkeys_name_valid(ak->keys[i].comment))
			strcpy(ak->keys[i].name, ak->keys[i].comment);
		else
			ak->keys[i].name[0] = '\0';
	}

	authkeys_sort(ak, idx, authkeys_cmp_name);
	for (i = 0; i < ak->n; i = j) {
		for (j = i + 1; j < ak->n &&
		     strcmp(ak->keys[idx[i]].name, ak->keys[idx[j]].name) == 0;
		     j++)
			;
		for (k = i; j > i + 1 && k < j; k++) {
			if (!ak->keys[idx[k]].stored)
				ak->keys[idx[k]].name[0] = '\0';
		}
	}

	for (i = 0; i < ak->n; i++) {
		if (ak->keys[i].name[0] == '\0')
			snprintf(ak->keys[i].name, sizeof ak->keys[i].name,
			    "key%zu", i + 1);
	}
	authkeys_sort(ak, idx, authkeys_cmp_name);
}

static int
authkeys_index(struct authkeys *ak)
{
	size_t n = ak->n > 0 ? ak->n : 1;

	ak->byname = calloc(n, sizeof *ak->byname);
	ak->byorder = calloc(n, sizeof *ak->byorder);
	if (ak->byname == NULL || ak->byorder == NULL)
		return -ENOMEM;
	authkeys_name(ak);
	authkeys_sort(ak, ak->byorder, authkeys_cmp_order);
	return 0;
}

struct authkeys *
authkeys_empty(void)
{
	struct authkeys *ak;

	if ((ak = calloc(1, sizeof *ak)) == NULL)
		return NULL;
	if (authkeys_index(ak) != 0) {
		authkeys_free(ak);
		return NULL;
	}
	return ak;
}

static int
authkeys_load_file(const char *path, int all_ca, struct authkeys **out,
    unsigned *skipped, char *err, size_t errlen)
{
	struct authkeys *ak = NULL;
	FILE            *f = NULL;
	unsigned         nskipped = 0;
	int              rc = -ENOMEM;

	if ((f = fopen(path, "re")) == NULL) {
		rc = -errno;
		goto out;
	}
	if ((ak = calloc(1, sizeof *ak)) == NULL)
		goto out;
	errno = 0;
	if ((rc = authkeys_read(f, ak, &nskipped, all_ca)) != 0)
		goto out;
	if ((rc = authkeys_index(ak)) != 0)
		goto out;

	if (skipped != NULL)
		*skipped = nskipped;
	*out = ak;
	ak = NULL;
out:
	if (f != NULL)
		fclose(f);
	authkeys_free(ak);
	if (rc != 0)
		authkeys_fail(err, errlen, rc, path);
	return rc;
}

int
authkeys_load(const char *path, struct authkeys **out, unsigned *skipped,
    char *err, size_t errlen)
{
	return authkeys_load_file(path, 0, out, skipped, err, errlen);
}

int
authkeys_load_cas(const char *path, struct authkeys **out, unsigned *skipped,
    char *err, size_t errlen)
{
	return authkeys_load_file(path, 1, out, skipped, err, errlen);
}

/* Copies entry k into *to, strings and blob in a block of their own. */
static int
authkeys_copy(struct authkey *to, const struct authkey *k)
{
	char *m;

	if ((m = malloc(k->memlen)) == NULL)
		return -ENOMEM;
	memcpy(m, k->mem, k->memlen);
	*to = *k;
	to->mem = m;
	to->id = m + (k->id - k->mem);
	to->line = m + (k->line - k->mem);
	to->type = m + (k->type - k->mem);
	to->comment = m + (k->comment - k->mem);
	to->scopes = m + (k->scopes - k->mem);
	to->b64 = m + (k->b64 - k->mem);
	to->blob = m + (k->blob - k->mem);
	return 0;
}

static int
authkeys_copy_all(struct authkeys *to, const struct authkeys *from)
{
	size_t i;
	int    rc;

	for (i = 0; i < from->n; i++) {
		if ((rc = authkeys_copy(&to->keys[to->n], &from->keys[i])) != 0)
			return rc;
		to->n++;
	}
	return 0;
}

int
authkeys_merge(
    const struct authkeys *a, const struct authkeys *b, struct authkeys **out)
{
	struct authkeys *ak;
	size_t           n = authkeys_count(a) + authkeys_count(b);
	int              rc = 0;

	if (n > AUTHKEYS_MAX)
		return -E2BIG;
	if ((ak = calloc(1, sizeof *ak)) == NULL)
		return -ENOMEM;
	ak->cap = n;
	if ((ak->keys = calloc(n > 0 ? n : 1, sizeof *ak->keys)) == NULL) {
		free(ak);
		return -ENOMEM;
	}

	if ((a != NULL && (rc = authkeys_copy_all(ak, a)) != 0) ||
	    (b != NULL && (rc = authkeys_copy_all(ak, b)) != 0) ||
	    (rc = authkeys_index(ak)) != 0) {
		authkeys_free(ak);
		return rc;
	}
	*out = ak;
	return 0;
}

int
authkeys_drop(
    const struct authkeys *ak, const char *name, struct authkeys **out)
{
	struct authkeys *to;
	size_t           i;
	int              drop = authkeys_find_name(ak, name), rc = 0;

	if (drop < 0)
		return -ENOENT;
	if ((to = calloc(1, sizeof *to)) == NULL)
		return -ENOMEM;
	to->cap = ak->n;
	if ((to->keys = calloc(ak->n, sizeof *to->keys)) == NULL) {
		free(to);
		return -ENOMEM;
	}

	for (i = 0; i < ak->n && rc == 0; i++) {
		if (i == (size_t)drop)
			continue;
		if ((rc = authkeys_copy(&to->keys[to->n], &ak->keys[i])) == 0)
			to->n++;
	}
	if (rc != 0 || (rc = authkeys_index(to)) != 0) {
		authkeys_free(to);
		return rc;
	}
	*out = to;
	return 0;
}

static int
authkeys_reason(char *err, size_t errlen, const char *why)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", why);
	return -EINVAL;
}

static int
authkeys_kind_of(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof authkeys_kinds / sizeof *authkeys_kinds; i++) {
		if (name != NULL && strcmp(name, authkeys_kinds[i]) == 0)
			return (int)i;
	}
	return -1;
}

int
authkeys_scopes_valid(const char *s)
{
	size_t len = strlen(s), i;

	if (len > AUTHKEYS_SCOPES_MAX ||
	    strspn(s, AUTHKEYS_SCOPE_CHARS ",") != len)
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] == ',' && (i == 0 || i == len - 1 || s[i + 1] == ','))
			return 0;
	}
	return 1;
}

/* A stored line is shown and stored as it is: nothing may hide in it. */
static int
authkeys_one_line(const char *s)
{
	for (; *s != '\0'; s++) {
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			return 0;
	}
	return 1;
}

/* Checks what a spec holds but its key line. */
static int
authkeys_spec_ok(const struct authkey_spec *spec, char *err, size_t errlen)
{
	const char *type;

	if (spec->name == NULL || !authkeys_name_valid(spec->name))
		return authkeys_reason(err, errlen,
		    "bad name: 1 to 64 letters, digits, '.', '_', '@' and "
		    "'-', not key<N>");
	if (authkeys_kind_of(spec->kind) < 0)
		return authkeys_reason(
		    err, errlen, "kind is key, cert-authority or token-key");
	if (spec->scopes != NULL && !authkeys_scopes_valid(spec->scopes))
		return authkeys_reason(err, errlen,
		    "scopes are words of letters, digits and ':._*-' "
		    "separated by commas, 255 bytes at most");
	if (spec->keyline == NULL ||
	    strnlen(spec->keyline, AUTHKEYS_LINE_MAX + 1) > AUTHKEYS_LINE_MAX)
		return authkeys_reason(err, errlen, "key line too long");
	if (!authkeys_one_line(spec->keyline))
		return authkeys_reason(err, errlen,
		    "a key is one line without control characters");
	/* Tokens are Ed25519 signatures: another key could never sign
	 * one. */
	type = spec->keyline + strspn(spec->keyline, AUTHKEYS_SPACE);
	if (authkeys_kind_of(spec->kind) == AUTHKEYS_TOKEN &&
	    (strcspn(type, AUTHKEYS_SPACE) != 11 ||
	        strncmp(type, "ssh-ed25519", 11) != 0))
		return authkeys_reason(
		    err, errlen, "a token key must be an ssh-ed25519 key");
	return 0;
}

/* Parses "type base64 [comment]" in buf, which it cuts into words. */
static int
authkeys_spec_line(
    char *buf, struct authkeys_line *l, int kind, char *err, size_t errlen)
{
	authkeys_chomp(buf);
	buf += strspn(buf, AUTHKEYS_SPACE);
	if (!authkeys_is_type(buf, strcspn(buf, AUTHKEYS_SPACE)))
		return authkeys_reason(err, errlen,
		    "not a public key line: \"type base64 [comment]\" with "
		    "a known key type");
	if (authkeys_split(buf, l, kind == AUTHKEYS_CA) != 1)
		return authkeys_reason(
		    err, errlen, "no key after the key type");
	return 0;
}

/* One stored entry from spec into a new set of its own. */
static int
authkeys_stored_set(const struct authkey_spec *spec, struct authkeys_line *l,
    struct authkeys *ak, char *err, size_t errlen)
{
	struct authkey *k;
	int             rc;

	if ((ak->keys = calloc(1, sizeof *ak->keys)) == NULL)
		return -ENOMEM;
	ak->cap = 1;
	k = &ak->keys[0];
	rc = authkeys_key(k, l, spec->scopes != NULL ? spec->scopes : "");
	if (rc == -EINVAL)
		return authkeys_reason(
		    err, errlen, "the key does not decode as its type says");
	if (rc != 0)
		return rc;
	ak->n = 1;
	k->kind = authkeys_kind_of(spec->kind);
	k->stored = 1;
	snprintf(k->name, sizeof k->name, "%s", spec->name);
	return authkeys_index(ak);
}

int
authkeys_stored(const struct authkey_spec *spec, struct authkeys **out,
    char *err, size_t errlen)
{
	struct authkeys_line l;
	struct authkeys     *ak = NULL;
	char                *buf = NULL;
	int                  rc;

	if ((rc = authkeys_spec_ok(spec, err, errlen)) != 0)
		return rc;
	if ((buf = strdup(spec->keyline)) == NULL ||
	    (ak = calloc(1, sizeof *ak)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}

	rc = authkeys_spec_line(
	    buf, &l, authkeys_kind_of(spec->kind), err, errlen);
	if (rc == 0)
		rc = authkeys_stored_set(spec, &l, ak, err, errlen);
	if (rc == 0) {
		*out = ak;
		ak = NULL;
	}
out:
	authkeys_free(ak);
	free(buf);
	return rc;
}

void
authkeys_free(struct authkeys *ak)
{
	size_t i;

	if (ak == NULL)
		return;
	for (i = 0; i < ak->n; i++)
		free(ak->keys[i].mem);
	free(ak->keys);
	free(ak->byname);
	free(ak->byorder);
	free(ak);
}

size_t
authkeys_count(const struct authkeys *ak)
{
	return ak != NULL ? ak->n : 0;
}

void
authkeys_get(const struct authkeys *ak, size_t i, struct authkey_info *info)
{
	const struct authkey *k = &ak->keys[i];

	info->name = k->name;
	info->id = k->id;
	info->line = k->line;
	info->type = k->type;
	info->comment = k->comment;
	info->kind = authkeys_kinds[k->kind];
	info->scopes = k->scopes;
	info->source = k->stored ? "store" : "file";
	info->blob = k->blob;
	info->blob_len = k->blob_len;
	info->port_forwarding = k->pfwd;
}

/* The first position in byorder whose key is not below order. */
static size_t
authkeys_lower(const struct authkeys *ak, uint64_t order)
{
	size_t lo = 0, hi = ak->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (ak->keys[ak->byorder[mid]].order < order)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int
authkeys_find(const struct authkeys *ak, const ssh_key key)
{
	const struct authkey *k;
	unsigned char         digest[32];
	char                 *b64 = NULL;
	uint64_t              order;
	size_t                i;
	int                   found = -1;

	if (ak == NULL || key == NULL || authkeys_digest(key, digest) != 0 ||
	    ssh_pki_export_pubkey_base64(key, &b64) != 0)
		goto out;

	/* Equal orders sit together, lowest index first. */
	order = authkeys_order(digest);
	for (i = authkeys_lower(ak, order); i < ak->n; i++) {
		k = &ak->keys[ak->byorder[i]];
		if (k->order != order)
			break;
		if (k->kind == AUTHKEYS_KEY && strcmp(k->b64, b64) == 0) {
			found = (int)ak->byorder[i];
			break;
		}
	}
out:
	ssh_string_free_char(b64);
	return found;
}

int
authkeys_find_name(const struct authkeys *ak, const char *name)
{
	size_t lo = 0, hi, mid;
	int    c;

	if (ak == NULL || name == NULL)
		return -1;
	hi = ak->n;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(name, ak->keys[ak->byname[mid]].name);
		if (c == 0)
			return (int)ak->byname[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/* The entry whose key is blob, of the kind given or (-1) any kind. */
static int
authkeys_find_blob(
    const struct authkeys *ak, const unsigned char *blob, size_t len, int kind)
{
	const struct authkey *k;
	unsigned char         digest[crypto_hash_sha256_BYTES];
	uint64_t              order;
	size_t                i;

	if (ak == NULL || blob == NULL)
		return -1;

	/* The order is the fingerprint's digest, so of the blob too. */
	crypto_hash_sha256(digest, blob, len);
	order = authkeys_order(digest);
	for (i = authkeys_lower(ak, order); i < ak->n; i++) {
		k = &ak->keys[ak->byorder[i]];
		if (k->order != order)
			break;
		if ((kind < 0 || k->kind == kind) && k->blob_len == len &&
		    memcmp(k->blob, blob, len) == 0)
			return (int)ak->byorder[i];
	}
	return -1;
}

int
authkeys_find_ca(
    const struct authkeys *ak, const unsigned char *blob, size_t len)
{
	return authkeys_find_blob(ak, blob, len, AUTHKEYS_CA);
}

int
authkeys_find_key(
    const struct authkeys *ak, const unsigned char *blob, size_t len)
{
	return authkeys_find_blob(ak, blob, len, -1);
}
