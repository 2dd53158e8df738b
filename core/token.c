/*
 * Tokens.  The layout is fixed, so a token is checked by its length and
 * alphabet before anything is decoded, and libsodium's decoder refuses
 * the encodings whose unused low bits are not zero: one token has one
 * text.
 */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "token.h"

#define TOKEN_SIGNED (TOKEN_KEY_ID_LEN + 8) /* key_id | ts */
#define TOKEN_ALPHABET                                                         \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

void
token_key_id(const unsigned char pk[32], unsigned char id[TOKEN_KEY_ID_LEN])
{
	crypto_hash_sha256(id, pk, 32);
}

static void
token_put_u64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static uint64_t
token_get_u64(const unsigned char *p)
{
	uint64_t v = 0;
	int      i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

int
token_mint(const unsigned char sk[64], uint64_t now, char *out, size_t outlen)
{
	unsigned char raw[TOKEN_BYTES];

	if (outlen < TOKEN_LEN + 1)
		return -ENOSPC;

	/* libsodium keeps the public key in the second half of sk. */
	token_key_id(sk + 32, raw);
	token_put_u64(raw + TOKEN_KEY_ID_LEN, now);
	crypto_sign_detached(raw + TOKEN_SIGNED, NULL, raw, TOKEN_SIGNED, sk);

	sodium_bin2base64(out, outlen, raw, sizeof raw,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return 0;
}

/* Decodes token into raw; -EINVAL unless it is exactly one token. */
static int
token_decode(const char *token, unsigned char raw[TOKEN_BYTES])
{
	const char *end;
	size_t      len;

	if (strnlen(token, TOKEN_LEN + 1) != TOKEN_LEN ||
	    strspn(token, TOKEN_ALPHABET) != TOKEN_LEN)
		return -EINVAL;
	if (sodium_base642bin(raw, TOKEN_BYTES, token, TOKEN_LEN, NULL, &len,
	        &end, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    len != TOKEN_BYTES || end != token + TOKEN_LEN)
		return -EINVAL;
	return 0;
}

/* Whether ts lies within max_age seconds of now, either way. */
static int
token_in_window(uint64_t ts, uint64_t now, unsigned max_age)
{
	return ts > now ? ts - now <= max_age : now - ts <= max_age;
}

int
token_verify(const char *token, uint64_t now, unsigned max_age,
    token_lookup_cb lookup, void *arg, struct token_key *out, uint64_t *ts)
{
	unsigned char    raw[TOKEN_BYTES], id[TOKEN_KEY_ID_LEN];
	struct token_key key;
	uint64_t         when;
	int              rc;

	if ((rc = token_decode(token, raw)) != 0)
		return rc;

	memset(&key, 0, sizeof key);
	if ((rc = lookup(arg, raw, &key)) != 0)
		return rc < 0 ? rc : -ENOENT;

	/* A lookup that answers with another key has found nothing. */
	token_key_id(key.pk, id);
	if (sodium_memcmp(id, raw, TOKEN_KEY_ID_LEN) != 0)
		return -ENOENT;

	if (crypto_sign_verify_detached(
	        raw + TOKEN_SIGNED, raw, TOKEN_SIGNED, key.pk) != 0)
		return -EPERM;

	/* Time comes last: a forged token is reported as forged. */
	when = token_get_u64(raw + TOKEN_KEY_ID_LEN);
	if (!token_in_window(when, now, max_age))
		return -ETIMEDOUT;

	if (out != NULL)
		*out = key;
	if (ts != NULL)
		*ts = when;
	return 0;
}
