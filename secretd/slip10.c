/*
 * SLIP-0010, Ed25519 only.  Every intermediate (HMAC state and output,
 * the parent's key in the message) is wiped before returning.
 */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "slip10.h"

#define SLIP10_CURVE    "ed25519 seed"
#define SLIP10_HARDENED 0x80000000u

/* out = HMAC-SHA512(key, msg), split into private key and chain code. */
static void
slip10_hmac(const unsigned char *key, size_t keylen, const unsigned char *msg,
    size_t msglen, struct slip10_node *out)
{
	crypto_auth_hmacsha512_state st;
	unsigned char                i[crypto_auth_hmacsha512_BYTES];

	crypto_auth_hmacsha512_init(&st, key, keylen);
	crypto_auth_hmacsha512_update(&st, msg, msglen);
	crypto_auth_hmacsha512_final(&st, i);

	memcpy(out->key, i, SLIP10_KEY_LEN);
	memcpy(out->chain, i + SLIP10_KEY_LEN, SLIP10_KEY_LEN);
	sodium_memzero(&st, sizeof st);
	sodium_memzero(i, sizeof i);
}

int
slip10_master(const unsigned char *seed, size_t len, struct slip10_node *out)
{
	if (len < SLIP10_SEED_MIN || len > SLIP10_SEED_MAX)
		return -EINVAL;

	slip10_hmac((const unsigned char *)SLIP10_CURVE,
	    sizeof SLIP10_CURVE - 1, seed, len, out);
	return 0;
}

int
slip10_child(
    const struct slip10_node *parent, uint32_t index, struct slip10_node *out)
{
	unsigned char      msg[1 + SLIP10_KEY_LEN + 4];
	unsigned char      chain[SLIP10_KEY_LEN];
	struct slip10_node child;
	uint32_t           i = index + SLIP10_HARDENED;

	if (index > SLIP10_INDEX_MAX)
		return -EINVAL;

	msg[0] = 0x00;
	memcpy(msg + 1, parent->key, SLIP10_KEY_LEN);
	msg[33] = (unsigned char)(i >> 24);
	msg[34] = (unsigned char)(i >> 16);
	msg[35] = (unsigned char)(i >> 8);
	msg[36] = (unsigned char)i;

	/* Copied first, so that out may be parent. */
	memcpy(chain, parent->chain, sizeof chain);
	slip10_hmac(chain, sizeof chain, msg, sizeof msg, &child);
	*out = child;

	sodium_memzero(msg, sizeof msg);
	sodium_memzero(chain, sizeof chain);
	sodium_memzero(&child, sizeof child);
	return 0;
}

/* Reads one index and its hardened mark at *pp, moving *pp past them. */
static int
slip10_parse_index(const char **pp, uint32_t *out)
{
	const char *p = *pp;
	uint32_t    v = 0;
	size_t      digits = 0;

	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		/* One path, one text: "00'" is not another way to say "0'". */
		if (digits == 1 && v == 0)
			return -EINVAL;
		if (v > (SLIP10_INDEX_MAX - (uint32_t)(*p - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (uint32_t)(*p - '0');
	}

	if (digits == 0 || (*p != '\'' && *p != 'h'))
		return -EINVAL;
	*out = v;
	*pp = p + 1;
	return 0;
}

int
slip10_parse_path(
    const char *path, uint32_t index[SLIP10_MAX_DEPTH], size_t *depth)
{
	const char *p = path;
	size_t      n = 0;
	int         rc;

	if (*p++ != 'm')
		return -EINVAL;

	while (*p != '\0') {
		if (*p++ != '/')
			return -EINVAL;
		if (n == SLIP10_MAX_DEPTH)
			return -E2BIG;
		if ((rc = slip10_parse_index(&p, &index[n])) != 0)
			return rc;
		n++;
	}

	*depth = n;
	return 0;
}

int
slip10_derive(const unsigned char *seed, size_t len, const char *path,
    struct slip10_node *node)
{
	uint32_t index[SLIP10_MAX_DEPTH];
	size_t   depth, i;
	int      rc;

	if ((rc = slip10_parse_path(path, index, &depth)) == 0)
		rc = slip10_master(seed, len, node);

	for (i = 0; rc == 0 && i < depth; i++)
		rc = slip10_child(node, index[i], node);

	if (rc != 0)
		sodium_memzero(node, sizeof *node);
	return rc;
}

void
slip10_public(const struct slip10_node *node, unsigned char pk[32])
{
	unsigned char sk[crypto_sign_SECRETKEYBYTES];

	crypto_sign_seed_keypair(pk, sk, node->key);
	sodium_memzero(sk, sizeof sk);
}
