/*
 * OpenSSH certificates, read field by field through a reader that never
 * moves past the end of its buffer.  Text fields are copied, with a NUL,
 * into an arena behind the copy of the blob: every copied string had at
 * least a four-byte length in front of it, so the arena never needs more
 * bytes than the blob has.  The CA signature is checked on demand in
 * sshcert_check, after the CA key matched, through a table of signature
 * algorithms.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <sodium.h>

#include "sshcert.h"

#define SSHCERT_CERT_TYPE "ssh-ed25519-cert-v01@openssh.com"
#define SSHCERT_KEY_LEN   (4 + 11 + 4 + 32) /* the plain key blob */

#define SSHCERT_RSA_MIN_BITS 1024 /* as OpenSSH */
#define SSHCERT_RSA_MAX_LEN  2048 /* bytes: 16384 bits */
#define SSHCERT_EC_MAX_FIELD 66   /* bytes of a nistp521 coordinate */

struct sshcert_opt {
	const char *name;
	const char *value; /* the string inside the data; NULL if none */
};

struct sshcert {
	unsigned char       *mem; /* the blob, then the arena */
	size_t               len;
	size_t               signed_len; /* bytes the signature covers */
	unsigned char        key[SSHCERT_KEY_LEN];
	uint64_t             serial;
	uint32_t             type;
	const char          *key_id;
	uint64_t             valid_after;
	uint64_t             valid_before;
	const unsigned char *ca;
	size_t               ca_len;
	const unsigned char *sig;
	size_t               sig_len;
	const char          *principals[SSHCERT_PRINCIPALS_MAX];
	size_t               nprincipals;
	struct sshcert_opt   crit[SSHCERT_OPTIONS_MAX];
	size_t               ncrit;
	struct sshcert_opt   ext[SSHCERT_OPTIONS_MAX];
	size_t               next;
};

/* What the readers of one blob share. */
struct sshcert_ps {
	char       *arena;
	size_t      arena_left;
	const char *why; /* the first failure's reason */
};

struct sshcert_rd {
	const unsigned char *p;
	size_t               left;
	struct sshcert_ps   *ps;
};

static int
sshcert_bad(struct sshcert_rd *r, int rc, const char *why)
{
	if (r->ps->why == NULL)
		r->ps->why = why;
	return rc;
}

static int
sshcert_get(struct sshcert_rd *r, const unsigned char **p, size_t len)
{
	if (r->left < len)
		return sshcert_bad(r, -EINVAL, "truncated");
	*p = r->p;
	r->p += len;
	r->left -= len;
	return 0;
}

static int
sshcert_u32(struct sshcert_rd *r, uint32_t *v)
{
	const unsigned char *p;
	int                  i;

	if (sshcert_get(r, &p, 4) != 0)
		return -EINVAL;
	for (*v = 0, i = 0; i < 4; i++)
		*v = *v << 8 | p[i];
	return 0;
}

static int
sshcert_u64(struct sshcert_rd *r, uint64_t *v)
{
	const unsigned char *p;
	int                  i;

	if (sshcert_get(r, &p, 8) != 0)
		return -EINVAL;
	for (*v = 0, i = 0; i < 8; i++)
		*v = *v << 8 | p[i];
	return 0;
}

/* A string: its length, then that many bytes. */
static int
sshcert_string(struct sshcert_rd *r, const unsigned char **p, size_t *len)
{
	uint32_t n;

	if (sshcert_u32(r, &n) != 0 || sshcert_get(r, p, n) != 0)
		return -EINVAL;
	*len = n;
	return 0;
}

/* A string whose contents are read by a reader of their own. */
static int
sshcert_sub(struct sshcert_rd *r, struct sshcert_rd *sub)
{
	sub->ps = r->ps;
	return sshcert_string(r, &sub->p, &sub->left);
}

static int
sshcert_done(struct sshcert_rd *r)
{
	return r->left == 0 ? 0 : sshcert_bad(r, -EINVAL, "trailing bytes");
}

/* A string equal to want. */
static int
sshcert_expect(struct sshcert_rd *r, const char *want)
{
	const unsigned char *p;
	size_t               len;

	if (sshcert_string(r, &p, &len) != 0)
		return -EINVAL;
	if (len != strlen(want) || memcmp(p, want, len) != 0)
		return sshcert_bad(r, -EINVAL, "unexpected name");
	return 0;
}

/* A text string without NULs, copied into the arena. */
static int
sshcert_text(struct sshcert_rd *r, const char **out)
{
	const unsigned char *p;
	size_t               len;
	char                *s;

	if (sshcert_string(r, &p, &len) != 0)
		return -EINVAL;
	if (memchr(p, '\0', len) != NULL)
		return sshcert_bad(r, -EINVAL, "NUL in text field");

	/* Cannot happen (see the top of the file); kept as a guard. */
	if (len >= r->ps->arena_left)
		return sshcert_bad(r, -EINVAL, "arena exhausted");
	s = r->ps->arena;
	memcpy(s, p, len);
	s[len] = '\0';
	r->ps->arena += len + 1;
	r->ps->arena_left -= len + 1;
	*out = s;
	return 0;
}

/*
 * An mpint that must be positive and minimally encoded; *p and *len get
 * its magnitude without the sign byte.
 */
static int
sshcert_mpint(struct sshcert_rd *r, const unsigned char **p, size_t *len)
{
	if (sshcert_string(r, p, len) != 0)
		return -EINVAL;
	if (*len == 0 || ((*p)[0] & 0x80) != 0)
		return sshcert_bad(r, -EINVAL, "bad mpint");
	if ((*p)[0] == 0) {
		if (*len == 1 || ((*p)[1] & 0x80) == 0)
			return sshcert_bad(r, -EINVAL, "bad mpint");
		(*p)++;
		(*len)--;
	}
	return 0;
}

/* The certified key: type, nonce and the Ed25519 public key. */
static int
sshcert_parse_key(struct sshcert *c, struct sshcert_rd *r)
{
	const unsigned char *p;
	size_t               len;

	if (sshcert_string(r, &p, &len) != 0)
		return -EINVAL;
	if (len != strlen(SSHCERT_CERT_TYPE) ||
	    memcmp(p, SSHCERT_CERT_TYPE, len) != 0)
		return sshcert_bad(r, -ENOTSUP, "unsupported certificate type");

	if (sshcert_string(r, &p, &len) != 0 || /* nonce */
	    sshcert_string(r, &p, &len) != 0)
		return -EINVAL;
	if (len != crypto_sign_PUBLICKEYBYTES)
		return sshcert_bad(r, -EINVAL, "bad ed25519 key length");

	/* The plain key blob, which the fingerprint is taken over. */
	memcpy(c->key, "\0\0\0\x0bssh-ed25519\0\0\0\x20", 19);
	memcpy(c->key + 19, p, len);
	return 0;
}

static int
sshcert_parse_principals(struct sshcert *c, struct sshcert_rd *r)
{
	struct sshcert_rd sub;

	if (sshcert_sub(r, &sub) != 0)
		return -EINVAL;
	while (sub.left > 0) {
		if (c->nprincipals == SSHCERT_PRINCIPALS_MAX)
			return sshcert_bad(r, -E2BIG, "too many principals");
		if (sshcert_text(&sub, &c->principals[c->nprincipals]) != 0)
			return -EINVAL;
		c->nprincipals++;
	}
	return 0;
}

/*
 * The data of option o: a string holding one string for the critical
 * options whose value we use, anything (left unread) for the others.
 */
static int
sshcert_parse_value(struct sshcert_opt *o, struct sshcert_rd *r, int crit)
{
	struct sshcert_rd data;

	if (sshcert_sub(r, &data) != 0)
		return -EINVAL;
	if (!crit ||
	    (strcmp(o->name, "force-command") != 0 &&
	        strcmp(o->name, "source-address") != 0))
		return 0;
	if (sshcert_text(&data, &o->value) != 0)
		return -EINVAL;
	return sshcert_done(&data);
}

/* Critical options (crit set) or extensions: (name, data) pairs. */
static int
sshcert_parse_opts(
    struct sshcert_opt *opts, size_t *n, struct sshcert_rd *r, int crit)
{
	struct sshcert_rd sub;
	size_t            i;

	if (sshcert_sub(r, &sub) != 0)
		return -EINVAL;
	while (sub.left > 0) {
		if (*n == SSHCERT_OPTIONS_MAX)
			return sshcert_bad(r, -E2BIG, "too many options");
		if (sshcert_text(&sub, &opts[*n].name) != 0 ||
		    sshcert_parse_value(&opts[*n], &sub, crit) != 0)
			return -EINVAL;

		/* Named twice, an option would be ambiguous. */
		for (i = 0; i < *n; i++) {
			if (strcmp(opts[i].name, opts[*n].name) == 0)
				return sshcert_bad(
				    r, -EINVAL, "option repeated");
		}
		(*n)++;
	}
	return 0;
}

/* The fields after the key, up to the signature key. */
static int
sshcert_parse_fields(struct sshcert *c, struct sshcert_rd *r)
{
	const unsigned char *p;
	size_t               len;
	int                  rc;

	if (sshcert_u64(r, &c->serial) != 0 || sshcert_u32(r, &c->type) != 0 ||
	    sshcert_text(r, &c->key_id) != 0)
		return -EINVAL;
	if ((rc = sshcert_parse_principals(c, r)) != 0)
		return rc;
	if (sshcert_u64(r, &c->valid_after) != 0 ||
	    sshcert_u64(r, &c->valid_before) != 0)
		return -EINVAL;
	if ((rc = sshcert_parse_opts(c->crit, &c->ncrit, r, 1)) != 0 ||
	    (rc = sshcert_parse_opts(c->ext, &c->next, r, 0)) != 0)
		return rc;

	/* Reserved: unused, and ignored as the format says. */
	return sshcert_string(r, &p, &len);
}

static int
sshcert_parse_blob(struct sshcert *c, struct sshcert_rd *r)
{
	int rc;

	if ((rc = sshcert_parse_key(c, r)) != 0 ||
	    (rc = sshcert_parse_fields(c, r)) != 0)
		return rc;
	if (sshcert_string(r, &c->ca, &c->ca_len) != 0)
		return -EINVAL;
	c->signed_len = c->len - r->left;
	if (sshcert_string(r, &c->sig, &c->sig_len) != 0)
		return -EINVAL;
	return sshcert_done(r);
}

static int
sshcert_fail(char *err, size_t errlen, int rc, const char *why)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", why);
	return rc;
}

int
sshcert_parse(const unsigned char *blob, size_t len, struct sshcert **out,
    char *err, size_t errlen)
{
	struct sshcert_ps ps = {NULL, 0, NULL};
	struct sshcert_rd r;
	struct sshcert   *c;
	int               rc;

	if (blob == NULL || out == NULL)
		return sshcert_fail(err, errlen, -EINVAL, "invalid argument");
	if (len > SSHCERT_BLOB_MAX)
		return sshcert_fail(err, errlen, -E2BIG, "certificate too big");

	if ((c = calloc(1, sizeof *c)) == NULL ||
	    (c->mem = malloc(2 * len + 1)) == NULL) {
		free(c);
		return sshcert_fail(err, errlen, -ENOMEM, "out of memory");
	}
	memcpy(c->mem, blob, len);
	c->len = len;
	ps.arena = (char *)c->mem + len;
	ps.arena_left = len + 1;

	r.p = c->mem;
	r.left = len;
	r.ps = &ps;
	if ((rc = sshcert_parse_blob(c, &r)) != 0) {
		sshcert_free(c);
		return sshcert_fail(
		    err, errlen, rc, ps.why != NULL ? ps.why : "malformed");
	}
	*out = c;
	return 0;
}

int
sshcert_parse_base64(
    const char *b64, struct sshcert **out, char *err, size_t errlen)
{
	unsigned char *blob;
	size_t         b64len, len;
	int            rc;

	if (b64 == NULL)
		return sshcert_fail(err, errlen, -EINVAL, "invalid argument");
	b64len = strlen(b64);
	if (b64len / 4 * 3 > SSHCERT_BLOB_MAX + 2)
		return sshcert_fail(err, errlen, -E2BIG, "certificate too big");

	if ((blob = malloc(b64len / 4 * 3 + 1)) == NULL)
		return sshcert_fail(err, errlen, -ENOMEM, "out of memory");
	if (sodium_base642bin(blob, b64len / 4 * 3 + 1, b64, b64len, NULL, &len,
	        NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
		rc = sshcert_fail(err, errlen, -EINVAL, "bad base64");
	else
		rc = sshcert_parse(blob, len, out, err, errlen);
	free(blob);
	return rc;
}

void
sshcert_free(struct sshcert *c)
{
	if (c == NULL)
		return;
	free(c->mem);
	free(c);
}

uint32_t
sshcert_type(const struct sshcert *c)
{
	return c->type;
}

const char *
sshcert_key_id(const struct sshcert *c)
{
	return c->key_id;
}

uint64_t
sshcert_serial(const struct sshcert *c)
{
	return c->serial;
}

size_t
sshcert_principal_count(const struct sshcert *c)
{
	return c->nprincipals;
}

const char *
sshcert_principal(const struct sshcert *c, size_t i)
{
	return i < c->nprincipals ? c->principals[i] : NULL;
}

uint64_t
sshcert_valid_after(const struct sshcert *c)
{
	return c->valid_after;
}

uint64_t
sshcert_valid_before(const struct sshcert *c)
{
	return c->valid_before;
}

static const struct sshcert_opt *
sshcert_find_opt(const struct sshcert_opt *opts, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(opts[i].name, name) == 0)
			return &opts[i];
	}
	return NULL;
}

const char *
sshcert_force_command(const struct sshcert *c)
{
	const struct sshcert_opt *o;

	o = sshcert_find_opt(c->crit, c->ncrit, "force-command");
	return o != NULL ? o->value : NULL;
}

int
sshcert_has_extension(const struct sshcert *c, const char *name)
{
	return name != NULL && sshcert_find_opt(c->ext, c->next, name) != NULL;
}

const unsigned char *
sshcert_key_blob(const struct sshcert *c, size_t *len)
{
	*len = sizeof c->key;
	return c->key;
}

const unsigned char *
sshcert_ca_blob(const struct sshcert *c, size_t *len)
{
	*len = c->ca_len;
	return c->ca;
}

static int
sshcert_fingerprint(
    const unsigned char *blob, size_t bloblen, char *buf, size_t len)
{
	unsigned char digest[crypto_hash_sha256_BYTES];
	char          b64[64];

	if (buf == NULL || len < SSHCERT_FP_LEN)
		return -EINVAL;
	crypto_hash_sha256(digest, blob, bloblen);
	sodium_bin2base64(b64, sizeof b64, digest, sizeof digest,
	    sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	snprintf(buf, len, "SHA256:%s", b64);
	return 0;
}

int
sshcert_key_fingerprint(const struct sshcert *c, char *buf, size_t len)
{
	if (c == NULL)
		return -EINVAL;
	return sshcert_fingerprint(c->key, sizeof c->key, buf, len);
}

int
sshcert_ca_fingerprint(const struct sshcert *c, char *buf, size_t len)
{
	if (c == NULL)
		return -EINVAL;
	return sshcert_fingerprint(c->ca, c->ca_len, buf, len);
}

/*
 * Signatures.  Each verifier gets the CA key's fields after its type
 * name, the raw signature and the signed bytes, and returns 0 when the
 * signature is good, -EBADMSG when it is not (or the key or signature is
 * malformed), -ENOMEM.
 */
struct sshcert_msg {
	const unsigned char *p;
	size_t               len;
};

struct sshcert_alg;

typedef int (*sshcert_verify_cb)(const struct sshcert_alg *,
    struct sshcert_rd *, const unsigned char *, size_t,
    const struct sshcert_msg *);

struct sshcert_alg {
	const char       *sig; /* signature algorithm */
	const char       *key; /* the CA key type it needs */
	sshcert_verify_cb verify;
	const char       *md;    /* OpenSSL digest name */
	const char       *curve; /* ECDSA: the curve's SSH name */
	const char       *group; /* ECDSA: the OpenSSL group */
	size_t            field; /* ECDSA: bytes of a coordinate */
};

static int
sshcert_verify_ed25519(const struct sshcert_alg *alg, struct sshcert_rd *key,
    const unsigned char *sig, size_t siglen, const struct sshcert_msg *m)
{
	const unsigned char *pk;
	size_t               pklen;

	if (sshcert_string(key, &pk, &pklen) != 0 || sshcert_done(key) != 0 ||
	    pklen != crypto_sign_PUBLICKEYBYTES || siglen != crypto_sign_BYTES)
		return -EBADMSG;
	if (crypto_sign_verify_detached(sig, m->p, m->len, pk) != 0)
		return -EBADMSG;
	return 0;
}

/* Verifies a DER or raw signature with pkey; frees pkey. */
static int
sshcert_evp_verify(EVP_PKEY *pkey, const char *md, const unsigned char *sig,
    size_t siglen, const struct sshcert_msg *m)
{
	EVP_MD_CTX *mctx;
	int         rc = -EBADMSG;

	if ((mctx = EVP_MD_CTX_new()) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if (EVP_DigestVerifyInit_ex(mctx, NULL, md, NULL, NULL, pkey, NULL) ==
	        1 &&
	    EVP_DigestVerify(mctx, sig, siglen, m->p, m->len) == 1)
		rc = 0;
out:
	/* Leave nothing in the error queue for the next OpenSSL user. */
	ERR_clear_error();
	EVP_MD_CTX_free(mctx);
	EVP_PKEY_free(pkey);
	return rc;
}

/* A public key from OpenSSL parameters; NULL on failure. */
static EVP_PKEY *
sshcert_pkey(const char *type, OSSL_PARAM *params)
{
	EVP_PKEY_CTX *ctx;
	EVP_PKEY     *pkey = NULL;

	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL)) == NULL)
		return NULL;
	if (EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return pkey;
}

static EVP_PKEY *
sshcert_rsa_pkey(
    const unsigned char *e, size_t elen, const unsigned char *n, size_t nlen)
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM     *params = NULL;
	BIGNUM         *bn_e = NULL, *bn_n = NULL;
	EVP_PKEY       *pkey = NULL;

	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    (bn_e = BN_bin2bn(e, (int)elen, NULL)) == NULL ||
	    (bn_n = BN_bin2bn(n, (int)nlen, NULL)) == NULL)
		goto out;
	if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto out;
	pkey = sshcert_pkey("RSA", params);
out:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_e);
	BN_free(bn_n);
	return pkey;
}

static int
sshcert_verify_rsa(const struct sshcert_alg *alg, struct sshcert_rd *key,
    const unsigned char *sig, size_t siglen, const struct sshcert_msg *m)
{
	const unsigned char *e, *n;
	unsigned char        padded[SSHCERT_RSA_MAX_LEN];
	size_t               elen, nlen;
	EVP_PKEY            *pkey;

	if (sshcert_mpint(key, &e, &elen) != 0 ||
	    sshcert_mpint(key, &n, &nlen) != 0 || sshcert_done(key) != 0)
		return -EBADMSG;
	if (nlen > SSHCERT_RSA_MAX_LEN || nlen < SSHCERT_RSA_MIN_BITS / 8 ||
	    elen > nlen || siglen > nlen)
		return -EBADMSG;

	/* A signature may come shorter than the modulus; OpenSSH pads it. */
	memset(padded, 0, nlen - siglen);
	memcpy(padded + nlen - siglen, sig, siglen);

	if ((pkey = sshcert_rsa_pkey(e, elen, n, nlen)) == NULL)
		return -EBADMSG;
	if (EVP_PKEY_get_bits(pkey) < SSHCERT_RSA_MIN_BITS) {
		EVP_PKEY_free(pkey);
		return -EBADMSG;
	}
	return sshcert_evp_verify(pkey, alg->md, padded, nlen, m);
}

/* An EC public key, checked to be a point of the curve. */
static EVP_PKEY *
sshcert_ec_pkey(const char *group, const unsigned char *q, size_t qlen)
{
	OSSL_PARAM    params[3];
	EVP_PKEY     *pkey;
	EVP_PKEY_CTX *ctx;
	int           ok;

	params[0] = OSSL_PARAM_construct_utf8_string(
	    OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(
	    OSSL_PKEY_PARAM_PUB_KEY, (void *)q, qlen);
	params[2] = OSSL_PARAM_construct_end();
	if ((pkey = sshcert_pkey("EC", params)) == NULL)
		return NULL;

	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	ok = ctx != NULL && EVP_PKEY_public_check(ctx) == 1;
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	if (!ok) {
		EVP_PKEY_free(pkey);
		return NULL;
	}
	return pkey;
}

/* The SSH form of an ECDSA signature (two mpints) as DER. */
static int
sshcert_ecdsa_der(const struct sshcert_alg *alg, const unsigned char *sig,
    size_t siglen, unsigned char **der, int *derlen)
{
	struct sshcert_ps    ps = {NULL, 0, NULL};
	struct sshcert_rd    r = {sig, siglen, &ps};
	const unsigned char *rp, *sp;
	size_t               rlen, slen;
	ECDSA_SIG           *es;
	BIGNUM              *bn_r, *bn_s;

	if (sshcert_mpint(&r, &rp, &rlen) != 0 ||
	    sshcert_mpint(&r, &sp, &slen) != 0 || sshcert_done(&r) != 0 ||
	    rlen > alg->field || slen > alg->field)
		return -EBADMSG;

	if ((es = ECDSA_SIG_new()) == NULL)
		return -ENOMEM;
	bn_r = BN_bin2bn(rp, (int)rlen, NULL);
	bn_s = BN_bin2bn(sp, (int)slen, NULL);
	if (bn_r == NULL || bn_s == NULL ||
	    ECDSA_SIG_set0(es, bn_r, bn_s) != 1) {
		BN_free(bn_r);
		BN_free(bn_s);
		ECDSA_SIG_free(es);
		return -ENOMEM;
	}
	*der = NULL;
	*derlen = i2d_ECDSA_SIG(es, der);
	ECDSA_SIG_free(es);
	return *derlen > 0 ? 0 : -ENOMEM;
}

static int
sshcert_verify_ecdsa(const struct sshcert_alg *alg, struct sshcert_rd *key,
    const unsigned char *sig, size_t siglen, const struct sshcert_msg *m)
{
	const unsigned char *q;
	unsigned char       *der = NULL;
	size_t               qlen;
	EVP_PKEY            *pkey;
	int                  derlen, rc;

	/* Only uncompressed points, as OpenSSH writes them. */
	if (sshcert_expect(key, alg->curve) != 0 ||
	    sshcert_string(key, &q, &qlen) != 0 || sshcert_done(key) != 0 ||
	    qlen != 1 + 2 * alg->field || q[0] != 0x04)
		return -EBADMSG;
	if ((rc = sshcert_ecdsa_der(alg, sig, siglen, &der, &derlen)) != 0)
		return rc;

	if ((pkey = sshcert_ec_pkey(alg->group, q, qlen)) == NULL)
		rc = -EBADMSG;
	else
		rc = sshcert_evp_verify(pkey, alg->md, der, (size_t)derlen, m);
	OPENSSL_free(der);
	return rc;
}

/* No "ssh-rsa": SHA-1 signatures are refused. */
static const struct sshcert_alg sshcert_algs[] = {
    {"ssh-ed25519", "ssh-ed25519", sshcert_verify_ed25519, NULL, NULL, NULL, 0},
    {"rsa-sha2-256", "ssh-rsa", sshcert_verify_rsa, "SHA256", NULL, NULL, 0},
    {"rsa-sha2-512", "ssh-rsa", sshcert_verify_rsa, "SHA512", NULL, NULL, 0},
    {"ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256", sshcert_verify_ecdsa,
        "SHA256", "nistp256", "P-256", 32},
    {"ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384", sshcert_verify_ecdsa,
        "SHA384", "nistp384", "P-384", 48},
    {"ecdsa-sha2-nistp521", "ecdsa-sha2-nistp521", sshcert_verify_ecdsa,
        "SHA512", "nistp521", "P-521", SSHCERT_EC_MAX_FIELD},
};

static const struct sshcert_alg *
sshcert_find_alg(const unsigned char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof sshcert_algs / sizeof *sshcert_algs; i++) {
		if (strlen(sshcert_algs[i].sig) == len &&
		    memcmp(sshcert_algs[i].sig, name, len) == 0)
			return &sshcert_algs[i];
	}
	return NULL;
}

/*
 * Checks the CA signature.  Returns 0, -ENOTSUP for a signature
 * algorithm not in the table, -EBADMSG for a signature that does not
 * verify or a key of another type than the algorithm needs, -ENOMEM.
 */
static int
sshcert_verify(const struct sshcert *c)
{
	struct sshcert_ps         ps = {NULL, 0, NULL};
	struct sshcert_rd         sig = {c->sig, c->sig_len, &ps};
	struct sshcert_rd         key = {c->ca, c->ca_len, &ps};
	struct sshcert_msg        m = {c->mem, c->signed_len};
	const struct sshcert_alg *alg;
	const unsigned char      *name, *raw;
	size_t                    nlen, rawlen;

	if (sshcert_string(&sig, &name, &nlen) != 0 ||
	    sshcert_string(&sig, &raw, &rawlen) != 0 || sshcert_done(&sig) != 0)
		return -EBADMSG;
	if ((alg = sshcert_find_alg(name, nlen)) == NULL)
		return -ENOTSUP;
	if (sshcert_expect(&key, alg->key) != 0)
		return -EBADMSG;
	return alg->verify(alg, &key, raw, rawlen, &m);
}

/* An address of either family; IPv4 in the first four bytes. */
struct sshcert_addr {
	int           family;
	unsigned char a[16];
};

static int
sshcert_addr(const char *s, struct sshcert_addr *addr)
{
	if (inet_pton(AF_INET, s, addr->a) == 1)
		addr->family = AF_INET;
	else if (inet_pton(AF_INET6, s, addr->a) == 1)
		addr->family = AF_INET6;
	else
		return -EINVAL;
	return 0;
}

/* The client's address; an IPv4-mapped IPv6 address counts as IPv4. */
static int
sshcert_client_addr(const char *ip, struct sshcert_addr *addr)
{
	static const unsigned char mapped[12] = {
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	char buf[INET6_ADDRSTRLEN];

	/* A zone ("%eth0") plays no part in the address. */
	if (ip == NULL || strcspn(ip, "%") >= sizeof buf)
		return -EINVAL;
	snprintf(buf, sizeof buf, "%.*s", (int)strcspn(ip, "%"), ip);
	if (sshcert_addr(buf, addr) != 0)
		return -EINVAL;
	if (addr->family == AF_INET6 && memcmp(addr->a, mapped, 12) == 0) {
		memmove(addr->a, addr->a + 12, 4);
		addr->family = AF_INET;
	}
	return 0;
}

/* Whether the first bits bits of a and b agree. */
static int
sshcert_prefix_equal(
    const unsigned char *a, const unsigned char *b, unsigned bits)
{
	unsigned char mask;

	if (memcmp(a, b, bits / 8) != 0)
		return 0;
	if (bits % 8 == 0)
		return 1;
	mask = (unsigned char)(0xff << (8 - bits % 8));
	return (a[bits / 8] & mask) == (b[bits / 8] & mask);
}

/* Whether the bits of a from bits up to max are all zero. */
static int
sshcert_host_zero(const unsigned char *a, unsigned bits, unsigned max)
{
	unsigned i;

	for (i = bits; i < max; i++) {
		if ((a[i / 8] & (0x80 >> (i % 8))) != 0)
			return 0;
	}
	return 1;
}

/*
 * One "addr" or "addr/len" entry of len bytes at s.  As OpenSSH, a
 * network with bits set past its length is malformed.  Returns 1 when
 * client is inside, 0 when not, -EINVAL when the entry is malformed.
 */
static int
sshcert_cidr_match(const char *s, size_t len, const struct sshcert_addr *client)
{
	struct sshcert_addr net;
	char                buf[INET6_ADDRSTRLEN + 4], *slash, *end;
	unsigned long       bits, max;

	if (len == 0 || len >= sizeof buf)
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if ((slash = strchr(buf, '/')) != NULL)
		*slash = '\0';
	if (sshcert_addr(buf, &net) != 0)
		return -EINVAL;

	max = net.family == AF_INET ? 32 : 128;
	bits = max;
	if (slash != NULL) {
		if (slash[1] < '0' || slash[1] > '9' || strlen(slash + 1) > 3)
			return -EINVAL;
		bits = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || bits > max)
			return -EINVAL;
	}

	if (!sshcert_host_zero(net.a, (unsigned)bits, (unsigned)max))
		return -EINVAL;
	return client->family == net.family &&
	    sshcert_prefix_equal(net.a, client->a, (unsigned)bits);
}

/*
 * The source-address list: every entry must parse and one must hold
 * the client.  Returns 1 when one does, 0 when none does (or the
 * client's address is unknown), -EINVAL for a malformed list.
 */
static int
sshcert_source_match(const char *list, const char *client_ip)
{
	struct sshcert_addr client;
	size_t              len;
	int                 found = 0, rc;

	if (sshcert_client_addr(client_ip, &client) != 0)
		client.family = AF_UNSPEC;
	for (;;) {
		len = strcspn(list, ",");
		if ((rc = sshcert_cidr_match(list, len, &client)) < 0)
			return -EINVAL;
		found |= rc;
		if (list[len] == '\0')
			return found;
		list += len + 1;
	}
}

static int
sshcert_refuse(const char **reason, const char *why)
{
	if (reason != NULL)
		*reason = why;
	return -EPERM;
}

static int
sshcert_opt_tolerate(const struct sshcert_opt *o, const struct sshcert_want *w,
    const char **reason)
{
	return 0;
}

static int
sshcert_opt_source(const struct sshcert_opt *o, const struct sshcert_want *w,
    const char **reason)
{
	int rc = sshcert_source_match(o->value, w->client_ip);

	if (rc < 0)
		return sshcert_refuse(reason, "bad source address list");
	if (rc == 0)
		return sshcert_refuse(reason, "source address not allowed");
	return 0;
}

/* The client's security key would have to prove user verification. */
static int
sshcert_opt_verify(const struct sshcert_opt *o, const struct sshcert_want *w,
    const char **reason)
{
	return sshcert_refuse(reason, "verify required not supported");
}

/* force-command is tolerated because alknet runs no commands at all. */
static const struct {
	const char *name;
	int (*check)(const struct sshcert_opt *, const struct sshcert_want *,
	    const char **);
} sshcert_crit_checks[] = {
    {"force-command", sshcert_opt_tolerate},
    {"source-address", sshcert_opt_source},
    {"verify-required", sshcert_opt_verify},
};

static int
sshcert_check_crit(
    const struct sshcert *c, const struct sshcert_want *w, const char **reason)
{
	const size_t n =
	    sizeof sshcert_crit_checks / sizeof *sshcert_crit_checks;
	size_t i, j;
	int    rc;

	for (i = 0; i < c->ncrit; i++) {
		for (j = 0; j < n; j++) {
			if (strcmp(c->crit[i].name,
			        sshcert_crit_checks[j].name) == 0)
				break;
		}
		if (j == n)
			return sshcert_refuse(
			    reason, "unknown critical option");
		rc = sshcert_crit_checks[j].check(&c->crit[i], w, reason);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int
sshcert_listed(const struct sshcert *c, const char *user)
{
	size_t i;

	for (i = 0; i < c->nprincipals; i++) {
		if (strcmp(c->principals[i], user) == 0)
			return 1;
	}
	return 0;
}

/* Everything after the signature: what the signed fields allow. */
static int
sshcert_check_fields(
    const struct sshcert *c, const struct sshcert_want *w, const char **reason)
{
	int rc;

	if (c->type == SSHCERT_HOST)
		return sshcert_refuse(reason, "host certificate");
	if (c->type != SSHCERT_USER)
		return sshcert_refuse(reason, "not a user certificate");
	if (w->now < c->valid_after)
		return sshcert_refuse(reason, "not yet valid");
	if (w->now >= c->valid_before)
		return sshcert_refuse(reason, "expired");
	if (c->nprincipals == 0)
		return sshcert_refuse(reason, "no principals");
	if (!sshcert_listed(c, w->user))
		return sshcert_refuse(reason, "principal not listed");
	if ((rc = sshcert_check_crit(c, w, reason)) != 0)
		return rc;
	if (w->need_port_forwarding &&
	    !sshcert_has_extension(c, "permit-port-forwarding"))
		return sshcert_refuse(reason, "port forwarding not permitted");
	return 0;
}

int
sshcert_check(const struct sshcert *c, const unsigned char *ca_blob,
    size_t ca_len, const struct sshcert_want *w, const char **reason)
{
	int rc;

	if (reason != NULL)
		*reason = NULL;
	if (c == NULL || ca_blob == NULL || w == NULL || w->user == NULL) {
		sshcert_refuse(reason, "invalid argument");
		return -EINVAL;
	}

	if (ca_len != c->ca_len || memcmp(ca_blob, c->ca, ca_len) != 0)
		return sshcert_refuse(reason, "untrusted ca");
	rc = sshcert_verify(c);
	if (rc == -ENOMEM) {
		sshcert_refuse(reason, "out of memory");
		return -ENOMEM;
	}
	if (rc == -ENOTSUP)
		return sshcert_refuse(
		    reason, "unsupported signature algorithm");
	if (rc != 0)
		return sshcert_refuse(reason, "bad signature");
	return sshcert_check_fields(c, w, reason);
}
