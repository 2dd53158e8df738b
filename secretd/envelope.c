/*
 * Envelopes.  A blob is checked whole (members, base64, lengths) before
 * any key is derived, and every failure past the seed check collapses
 * into -EBADMSG.  The key lives on the stack only while in use.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <unistr.h>

#include "envelope.h"
#include "keypath.h"
#include "slip10.h"

#define ENVELOPE_B64 sodium_base64_VARIANT_ORIGINAL

/* A blob's members, decoded. */
struct envelope_blob {
	uint32_t       version;
	unsigned char  salt[ENVELOPE_SALT_LEN];
	unsigned char  iv[ENVELOPE_IV_LEN];
	unsigned char *data; /* ciphertext then tag */
	size_t         len;
};

/* Sets ctx up for AES-256-GCM with a 12-byte IV; enc as for EVP. */
static int
envelope_cipher(EVP_CIPHER_CTX *ctx, const unsigned char *key,
    const unsigned char *iv, int enc)
{
	const EVP_CIPHER *aes = EVP_aes_256_gcm();
	int               ivlen = ENVELOPE_IV_LEN;

	if (EVP_CipherInit_ex(ctx, aes, NULL, NULL, NULL, enc) != 1)
		return -ENOMEM;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, ivlen, NULL) != 1)
		return -ENOMEM;
	if (EVP_CipherInit_ex(ctx, NULL, NULL, key, iv, enc) != 1)
		return -ENOMEM;
	return 0;
}

int
envelope_seal(const unsigned char key[ENVELOPE_KEY_LEN],
    const unsigned char iv[ENVELOPE_IV_LEN], const unsigned char *in,
    size_t len, unsigned char *out)
{
	EVP_CIPHER_CTX *ctx;
	int             n, rc;

	if (len > ENVELOPE_TEXT_MAX)
		return -EFBIG;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		return -ENOMEM;

	if ((rc = envelope_cipher(ctx, key, iv, 1)) != 0)
		goto out;

	/* GCM is a stream mode: update writes all len bytes, final none. */
	rc = -ENOMEM;
	if (len > 0 && EVP_EncryptUpdate(ctx, out, &n, in, (int)len) != 1)
		goto out;
	if (EVP_EncryptFinal_ex(ctx, out + len, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(
	        ctx, EVP_CTRL_GCM_GET_TAG, ENVELOPE_TAG_LEN, out + len) != 1)
		goto out;
	rc = 0;

out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int
envelope_open(const unsigned char key[ENVELOPE_KEY_LEN],
    const unsigned char iv[ENVELOPE_IV_LEN], const unsigned char *in,
    size_t len, unsigned char *out)
{
	EVP_CIPHER_CTX *ctx;
	unsigned char   tag[ENVELOPE_TAG_LEN];
	size_t          clen = len - ENVELOPE_TAG_LEN;
	int             n, ok, rc;

	if (len < ENVELOPE_TAG_LEN || clen > ENVELOPE_TEXT_MAX)
		return -EBADMSG;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		return -ENOMEM;

	if ((rc = envelope_cipher(ctx, key, iv, 0)) != 0)
		goto out;

	/* The control call wants a writable tag. */
	memcpy(tag, in + clen, sizeof tag);
	ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, sizeof tag, tag);
	if (ok != 1) {
		rc = -ENOMEM;
		goto out;
	}

	/* out holds unchecked plaintext until final; wiped if it fails. */
	rc = -EBADMSG;
	if (clen > 0 && EVP_DecryptUpdate(ctx, out, &n, in, (int)clen) != 1)
		goto out;
	if (EVP_DecryptFinal_ex(ctx, out + clen, &n) != 1)
		goto out;
	rc = 0;

out:
	if (rc != 0)
		sodium_memzero(out, clen);
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

/* The key of version below seed: the private key at its path. */
static int
envelope_key(const unsigned char *seed, size_t seedlen, uint32_t version,
    unsigned char key[ENVELOPE_KEY_LEN])
{
	char               path[KEYPATH_MAX];
	struct slip10_node node;
	int                rc;

	if ((rc = keypath_encryption(version, path, sizeof path)) != 0)
		return rc;
	if ((rc = slip10_derive(seed, seedlen, path, &node)) == 0)
		memcpy(key, node.key, ENVELOPE_KEY_LEN);
	sodium_memzero(&node, sizeof node);
	return rc;
}

/* len bytes at bin in standard padded base64; NULL when out of memory. */
static char *
envelope_b64(const unsigned char *bin, size_t len)
{
	size_t n = sodium_base64_ENCODED_LEN(len, ENVELOPE_B64);
	char  *s;

	if ((s = malloc(n)) != NULL)
		sodium_bin2base64(s, n, bin, len, ENVELOPE_B64);
	return s;
}

/* Writes the JSON text of b into *out (malloc'ed). */
static int
envelope_format(const struct envelope_blob *b, char **out)
{
	char   *salt, *iv, *data;
	json_t *root = NULL;
	int     rc = -ENOMEM;

	salt = envelope_b64(b->salt, sizeof b->salt);
	iv = envelope_b64(b->iv, sizeof b->iv);
	data = envelope_b64(b->data, b->len);
	if (salt == NULL || iv == NULL || data == NULL)
		goto out;

	root = json_pack("{s:I, s:s, s:s, s:s}", "key_version",
	    (json_int_t)b->version, "salt", salt, "iv", iv, "data", data);
	if (root != NULL && (*out = json_dumps(root, JSON_COMPACT)) != NULL)
		rc = 0;

out:
	json_decref(root);
	free(salt);
	free(iv);
	free(data);
	return rc;
}

int
envelope_encrypt(const unsigned char *seed, size_t seedlen, uint32_t version,
    const char *text, size_t len, char **out)
{
	struct envelope_blob b = {.version = version};
	unsigned char        key[ENVELOPE_KEY_LEN];
	int                  rc;

	if (len > ENVELOPE_TEXT_MAX)
		return -EFBIG;
	if (u8_check((const uint8_t *)text, len) != NULL)
		return -EILSEQ;
	if ((rc = envelope_key(seed, seedlen, version, key)) != 0)
		return rc;

	b.len = len + ENVELOPE_TAG_LEN;
	if ((b.data = malloc(b.len)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}

	/* A fresh IV every time: GCM under one key must never repeat one. */
	randombytes_buf(b.iv, sizeof b.iv);
	randombytes_buf(b.salt, sizeof b.salt);
	if ((rc = envelope_seal(
	         key, b.iv, (const unsigned char *)text, len, b.data)) == 0)
		rc = envelope_format(&b, out);

out:
	sodium_memzero(key, sizeof key);
	free(b.data);
	return rc;
}

/* Decodes exactly len bytes of base64 (s, slen) into buf, or fails. */
static int
envelope_unb64(const char *s, size_t slen, unsigned char *buf, size_t len)
{
	const char *end;
	size_t      got;

	if (sodium_base642bin(
	        buf, len, s, slen, NULL, &got, &end, ENVELOPE_B64) != 0 ||
	    end != s + slen || got != len)
		return -EBADMSG;
	return 0;
}

/* Reads blob's members into b; b->data is malloc'ed. */
static int
envelope_parse(const char *blob, struct envelope_blob *b)
{
	json_t     *root;
	json_int_t  version;
	const char *salt, *iv, *data;
	size_t      slen, ilen, dlen;
	int         rc = -EBADMSG;

	if ((root = json_loads(blob, JSON_REJECT_DUPLICATES, NULL)) == NULL)
		return -EBADMSG;
	if (json_unpack_ex(root, NULL, JSON_STRICT, "{s:I, s:s%, s:s%, s:s%}",
	        "key_version", &version, "salt", &salt, &slen, "iv", &iv, &ilen,
	        "data", &data, &dlen) != 0 ||
	    version < KEYPATH_VERSION_MIN || version > KEYPATH_VERSION_MAX)
		goto out;
	b->version = (uint32_t)version;

	if (envelope_unb64(salt, slen, b->salt, sizeof b->salt) != 0 ||
	    envelope_unb64(iv, ilen, b->iv, sizeof b->iv) != 0)
		goto out;

	/* Base64 never decodes to more bytes than it has characters. */
	if (dlen > (ENVELOPE_TEXT_MAX + ENVELOPE_TAG_LEN) / 3 * 4 + 4) {
		goto out;
	} else if ((b->data = malloc(dlen + 1)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if (sodium_base642bin(b->data, dlen + 1, data, dlen, NULL, &b->len,
	        NULL, ENVELOPE_B64) != 0 ||
	    b->len < ENVELOPE_TAG_LEN)
		goto out;
	rc = 0;

out:
	json_decref(root);
	return rc;
}

int
envelope_decrypt(const unsigned char *seed, size_t seedlen, const char *blob,
    struct secret **out, uint32_t *version)
{
	struct envelope_blob b = {0};
	struct secret       *text = NULL;
	unsigned char        key[ENVELOPE_KEY_LEN];
	int                  rc;

	if (seedlen < SLIP10_SEED_MIN || seedlen > SLIP10_SEED_MAX)
		return -EINVAL;

	if ((rc = envelope_parse(blob, &b)) != 0 ||
	    (rc = envelope_key(seed, seedlen, b.version, key)) != 0 ||
	    (rc = secret_new(b.len - ENVELOPE_TAG_LEN, &text)) != 0)
		goto out;
	rc = envelope_open(key, b.iv, b.data, b.len, secret_data(text));
	if (rc != 0)
		goto out;

	/* Genuine but not text: not a blob of ours either. */
	if (u8_check(secret_data(text), secret_len(text)) != NULL) {
		rc = -EBADMSG;
		goto out;
	}

	if (version != NULL)
		*version = b.version;
	*out = text;
	text = NULL;

out:
	sodium_memzero(key, sizeof key);
	free(b.data);
	secret_free(text);
	return rc;
}

int
envelope_rotate(const unsigned char *seed, size_t seedlen, const char *blob,
    uint32_t to_version, char **out)
{
	struct secret *text;
	int            rc;

	if (to_version < KEYPATH_VERSION_MIN ||
	    to_version > KEYPATH_VERSION_MAX)
		return -EINVAL;
	if ((rc = envelope_decrypt(seed, seedlen, blob, &text, NULL)) != 0)
		return rc;

	rc = envelope_encrypt(seed, seedlen, to_version,
	    (const char *)secret_data(text), secret_len(text), out);
	secret_free(text);
	return rc;
}
