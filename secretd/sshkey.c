/*
 * OpenSSH key forms, written from the wire format of RFC 4253 (uint32
 * lengths, big-endian) and OpenSSH's PROTOCOL.key:
 *
 *	"openssh-key-v1" NUL
 *	string ciphername "none", string kdfname "none", string kdfoptions ""
 *	uint32 1, string public key blob
 *	string private section:
 *		uint32 check, uint32 check (equal)
 *		string "ssh-ed25519", string pk, string seed | pk,
 *		string comment
 *		padding 1, 2, 3, ... to a multiple of 8
 *
 * The file is small and of bounded size, so it is built in one fixed
 * buffer that is wiped afterwards.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "sshkey.h"

#define SSHKEY_TYPE     "ssh-ed25519"
#define SSHKEY_BLOB_LEN (4 + 11 + 4 + 32)
#define SSHKEY_MAGIC    "openssh-key-v1"
#define SSHKEY_BEGIN    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
#define SSHKEY_END      "-----END OPENSSH PRIVATE KEY-----\n"
#define SSHKEY_WRAP     70  /* base64 characters a line, as OpenSSH */
#define SSHKEY_FILE_MAX 512 /* binary file with the longest comment */

/* A bounded write buffer; a write past cap sets over and is dropped. */
struct sshkey_buf {
	unsigned char *p;
	size_t         len, cap;
	int            over;
};

static void
sshkey_put(struct sshkey_buf *b, const void *data, size_t n)
{
	if (b->over || n > b->cap - b->len) {
		b->over = 1;
		return;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

static void
sshkey_put_u32(struct sshkey_buf *b, uint32_t v)
{
	unsigned char be[4];

	be[0] = (unsigned char)(v >> 24);
	be[1] = (unsigned char)(v >> 16);
	be[2] = (unsigned char)(v >> 8);
	be[3] = (unsigned char)v;

	sshkey_put(b, be, sizeof be);
}

static void
sshkey_put_string(struct sshkey_buf *b, const void *data, size_t n)
{
	sshkey_put_u32(b, (uint32_t)n);
	sshkey_put(b, data, n);
}

/* Whether comment is acceptable; NULL counts as none. */
static int
sshkey_comment_ok(const char *comment)
{
	const unsigned char *p;

	if (comment == NULL)
		return 1;
	if (strnlen(comment, SSHKEY_COMMENT_MAX + 1) > SSHKEY_COMMENT_MAX)
		return 0;
	for (p = (const unsigned char *)comment; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

/* The public key blob: string "ssh-ed25519", string pk. */
static void
sshkey_blob(
    const unsigned char pk[SLIP10_PUB_LEN], unsigned char blob[SSHKEY_BLOB_LEN])
{
	struct sshkey_buf b = {blob, 0, SSHKEY_BLOB_LEN, 0};

	sshkey_put_string(&b, SSHKEY_TYPE, strlen(SSHKEY_TYPE));
	sshkey_put_string(&b, pk, SLIP10_PUB_LEN);
}

int
sshkey_public_line(const unsigned char pk[SLIP10_PUB_LEN], const char *comment,
    char *out, size_t outlen)
{
	unsigned char blob[SSHKEY_BLOB_LEN];
	char          b64[sodium_base64_ENCODED_LEN(
	             SSHKEY_BLOB_LEN, sodium_base64_VARIANT_ORIGINAL)];
	int           n;

	if (!sshkey_comment_ok(comment))
		return -EINVAL;

	sshkey_blob(pk, blob);
	sodium_bin2base64(
	    b64, sizeof b64, blob, sizeof blob, sodium_base64_VARIANT_ORIGINAL);

	if (comment != NULL && *comment != '\0')
		n = snprintf(out, outlen, SSHKEY_TYPE " %s %s", b64, comment);
	else
		n = snprintf(out, outlen, SSHKEY_TYPE " %s", b64);
	return n >= 0 && (size_t)n < outlen ? 0 : -ENOSPC;
}

int
sshkey_fingerprint(
    const unsigned char pk[SLIP10_PUB_LEN], char *out, size_t outlen)
{
	unsigned char blob[SSHKEY_BLOB_LEN], hash[crypto_hash_sha256_BYTES];
	char          b64[sodium_base64_ENCODED_LEN(
	             sizeof hash, sodium_base64_VARIANT_ORIGINAL_NO_PADDING)];
	int           n;

	sshkey_blob(pk, blob);
	crypto_hash_sha256(hash, blob, sizeof blob);
	sodium_bin2base64(b64, sizeof b64, hash, sizeof hash,
	    sodium_base64_VARIANT_ORIGINAL_NO_PADDING);

	n = snprintf(out, outlen, "SHA256:%s", b64);
	return n >= 0 && (size_t)n < outlen ? 0 : -ENOSPC;
}

/* Appends the private section of pk and sk (seed | pk) to b. */
static void
sshkey_private_section(struct sshkey_buf *b, const unsigned char *pk,
    const unsigned char *sk, const char *comment)
{
	unsigned char     sec[SSHKEY_FILE_MAX];
	struct sshkey_buf s = {sec, 0, sizeof sec, 0};
	uint32_t          check = randombytes_random();
	unsigned char     pad = 1;

	sshkey_put_u32(&s, check);
	sshkey_put_u32(&s, check);
	sshkey_put_string(&s, SSHKEY_TYPE, strlen(SSHKEY_TYPE));
	sshkey_put_string(&s, pk, SLIP10_PUB_LEN);
	sshkey_put_string(&s, sk, crypto_sign_SECRETKEYBYTES);
	sshkey_put_string(&s, comment, strlen(comment));

	/* Unencrypted keys still pad to the 8-byte "none" cipher block. */
	while (s.len % 8 != 0 && !s.over) {
		sshkey_put(&s, &pad, 1);
		pad++;
	}

	if (s.over)
		b->over = 1;
	else
		sshkey_put_string(b, sec, s.len);
	sodium_memzero(sec, sizeof sec);
}

/* Puts the PEM armour around the n bytes at bin into a new secret. */
static int
sshkey_armour(const unsigned char *bin, size_t n, struct secret **out)
{
	struct secret *b64 = NULL;
	size_t         len, i, chunk, at;
	char          *p;
	int            rc;

	len = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	if ((rc = secret_new(len, &b64)) != 0)
		return rc;
	sodium_bin2base64((char *)secret_data(b64), len, bin, n,
	    sodium_base64_VARIANT_ORIGINAL);
	len--; /* the NUL */

	/* Header, the base64 in lines of SSHKEY_WRAP, footer. */
	at = strlen(SSHKEY_BEGIN) + len +
	    (len + SSHKEY_WRAP - 1) / SSHKEY_WRAP + strlen(SSHKEY_END);
	if ((rc = secret_new(at, out)) != 0)
		goto out;

	p = (char *)secret_data(*out);
	memcpy(p, SSHKEY_BEGIN, strlen(SSHKEY_BEGIN));
	p += strlen(SSHKEY_BEGIN);
	for (i = 0; i < len; i += chunk) {
		chunk = len - i < SSHKEY_WRAP ? len - i : SSHKEY_WRAP;
		memcpy(p, secret_data(b64) + i, chunk);
		p += chunk;
		*p++ = '\n';
	}
	memcpy(p, SSHKEY_END, strlen(SSHKEY_END));

out:
	secret_free(b64);
	return rc;
}

int
sshkey_private_pem(
    const struct slip10_node *node, const char *comment, struct secret **out)
{
	unsigned char     file[SSHKEY_FILE_MAX], blob[SSHKEY_BLOB_LEN];
	unsigned char     pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char     sk[crypto_sign_SECRETKEYBYTES];
	struct sshkey_buf b = {file, 0, sizeof file, 0};
	int               rc;

	if (!sshkey_comment_ok(comment))
		return -EINVAL;

	crypto_sign_seed_keypair(pk, sk, node->key);
	sshkey_blob(pk, blob);

	sshkey_put(&b, SSHKEY_MAGIC, sizeof SSHKEY_MAGIC); /* with its NUL */
	sshkey_put_string(&b, "none", 4);
	sshkey_put_string(&b, "none", 4);
	sshkey_put_string(&b, "", 0);
	sshkey_put_u32(&b, 1);
	sshkey_put_string(&b, blob, sizeof blob);
	sshkey_private_section(&b, pk, sk, comment != NULL ? comment : "");

	/* The comment is bounded, so the buffer is always big enough. */
	rc = b.over ? -ENOMEM : sshkey_armour(file, b.len, out);

	sodium_memzero(sk, sizeof sk);
	sodium_memzero(file, sizeof file);
	return rc;
}
