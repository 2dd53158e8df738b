/*
 * Tokens: the fixed layout against a vector computed elsewhere, the time
 * window at its edges, forged and foreign tokens, and the strict text
 * form.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "token.h"

#define NOW ((uint64_t)1700000000)

/*
 * RFC 8032's first Ed25519 test key.  The key id and the token for NOW
 * were computed with Python (hashlib and the cryptography package).
 */
static const char seed_hex[] =
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
static const char pk_hex[] =
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
static const char key_id_hex[] =
    "21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9";
static const char token_at_now[] =
    "If4x36FUomFia_hUBG_SJxt77UtqvkWqWId-9H-XIbkAAAAAZVPxAPbuDu4Lm_ALooOwuJf0"
    "NICQHAbPjN3j6H5IRilsBeiN2ylrfSyluqbf08uqN78l3Kv26pKIMTNhfODX9x7mAQI";

/* The authorized keys of a test: A and B are known, C is a stranger. */
enum { KEY_A, KEY_B, KEY_C, NKEYS };

struct keys {
	unsigned char pk[NKEYS][32];
	unsigned char sk[NKEYS][64];
	size_t        known; /* the first this many are authorized */
	int           fail;  /* when not 0, the lookup returns it */
	int           wrong; /* answer with the next key instead */
};

static int
lookup(
    void *arg, const unsigned char id[TOKEN_KEY_ID_LEN], struct token_key *key)
{
	struct keys  *k = arg;
	unsigned char kid[TOKEN_KEY_ID_LEN];
	size_t        i;

	if (k->fail != 0)
		return k->fail;
	for (i = 0; i < k->known; i++) {
		token_key_id(k->pk[i], kid);
		if (memcmp(kid, id, sizeof kid) != 0)
			continue;
		i = k->wrong ? (i + 1) % NKEYS : i;
		memcpy(key->pk, k->pk[i], 32);
		key->index = i;
		return 0;
	}
	return -ENOENT;
}

static void
hex(const char *s, unsigned char *out, size_t len)
{
	size_t n = 0;

	assert_int_equal(
	    sodium_hex2bin(out, len, s, strlen(s), NULL, &n, NULL), 0);
	assert_int_equal(n, len);
}

static int
setup(void **state)
{
	static struct keys k;
	unsigned char      seed[32];
	int                i;

	if (sodium_init() < 0)
		return -1;
	memset(&k, 0, sizeof k);
	hex(seed_hex, seed, sizeof seed);
	crypto_sign_seed_keypair(k.pk[KEY_A], k.sk[KEY_A], seed);
	for (i = KEY_B; i < NKEYS; i++)
		crypto_sign_keypair(k.pk[i], k.sk[i]);
	k.known = KEY_C;
	*state = &k;
	return 0;
}

/* Encodes raw (of len bytes) as unpadded base64url. */
static void
encode(const unsigned char *raw, size_t len, char *out, size_t outlen)
{
	sodium_bin2base64(
	    out, outlen, raw, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static void
decode(const char *tok, unsigned char raw[TOKEN_BYTES])
{
	size_t n = 0;

	assert_int_equal(
	    sodium_base642bin(raw, TOKEN_BYTES, tok, strlen(tok), NULL, &n,
	        NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
	    0);
	assert_int_equal(n, TOKEN_BYTES);
}

static int
verify(struct keys *k, const char *tok, uint64_t now)
{
	return token_verify(tok, now, TOKEN_MAX_AGE, lookup, k, NULL, NULL);
}

static void
mint(struct keys *k, int which, uint64_t ts, char tok[TOKEN_LEN + 1])
{
	assert_int_equal(token_mint(k->sk[which], ts, tok, TOKEN_LEN + 1), 0);
	assert_int_equal(strlen(tok), TOKEN_LEN);
}

static void
test_key_id_is_sha256_of_raw_key(void **state)
{
	struct keys  *k = *state;
	unsigned char want[32], got[32], direct[32];

	hex(key_id_hex, want, sizeof want);
	token_key_id(k->pk[KEY_A], got);
	assert_memory_equal(got, want, 32);

	hex(pk_hex, got, sizeof got);
	assert_memory_equal(k->pk[KEY_A], got, 32);

	/* Not the SSH blob: a plain SHA-256 of the 32 bytes, for any key. */
	crypto_hash_sha256(direct, k->pk[KEY_B], 32);
	token_key_id(k->pk[KEY_B], got);
	assert_memory_equal(got, direct, 32);
}

static void
test_mint_matches_vector(void **state)
{
	struct keys *k = *state;
	char         tok[TOKEN_LEN + 1];
	char         small[TOKEN_LEN];

	mint(k, KEY_A, NOW, tok);
	assert_string_equal(tok, token_at_now);
	assert_int_equal(
	    token_mint(k->sk[KEY_A], NOW, small, sizeof small), -ENOSPC);
}

static void
test_fresh_token_accepted(void **state)
{
	struct keys     *k = *state;
	struct token_key key;
	uint64_t         ts = 0;

	memset(&key, 0, sizeof key);
	assert_int_equal(token_verify(token_at_now, NOW, TOKEN_MAX_AGE, lookup,
	                     k, &key, &ts),
	    0);
	assert_int_equal(key.index, KEY_A);
	assert_memory_equal(key.pk, k->pk[KEY_A], 32);
	assert_int_equal(ts, NOW);
}

static void
test_window(void **state)
{
	static const struct {
		int64_t delta; /* now - ts */
		int     want;
	} cases[] = {
	    {0, 0},
	    {299, 0},
	    {-299, 0},
	    {300, 0},
	    {-300, 0},
	    {301, -ETIMEDOUT},
	    {-301, -ETIMEDOUT},
	    {86400, -ETIMEDOUT},
	};
	struct keys *k = *state;
	char         tok[TOKEN_LEN + 1];
	size_t       i;

	mint(k, KEY_B, NOW, tok);
	for (i = 0; i < sizeof cases / sizeof *cases; i++) {
		print_message("now - ts = %lld\n", (long long)cases[i].delta);
		assert_int_equal(verify(k, tok, NOW + (uint64_t)cases[i].delta),
		    cases[i].want);
	}
}

static void
test_window_at_the_ends_of_time(void **state)
{
	struct keys *k = *state;
	char         tok[TOKEN_LEN + 1];

	mint(k, KEY_A, UINT64_MAX, tok);
	assert_int_equal(verify(k, tok, 0), -ETIMEDOUT);
	assert_int_equal(verify(k, tok, UINT64_MAX - 300), 0);
	assert_int_equal(verify(k, tok, UINT64_MAX - 301), -ETIMEDOUT);

	mint(k, KEY_A, 0, tok);
	assert_int_equal(verify(k, tok, UINT64_MAX), -ETIMEDOUT);
	assert_int_equal(verify(k, tok, 300), 0);
}

/* Flips one bit of the decoded token and encodes it again. */
static void
flip(const char *tok, size_t bit, char out[TOKEN_LEN + 1])
{
	unsigned char raw[TOKEN_BYTES];

	decode(tok, raw);
	raw[bit / 8] ^= (unsigned char)(1u << (bit % 8));
	encode(raw, sizeof raw, out, TOKEN_LEN + 1);
}

static void
test_flipped_bits_rejected(void **state)
{
	struct keys *k = *state;
	char         bad[TOKEN_LEN + 1];
	size_t       bit;

	/* Every bit of the signature. */
	for (bit = (TOKEN_KEY_ID_LEN + 8) * 8; bit < TOKEN_BYTES * 8; bit++) {
		flip(token_at_now, bit, bad);
		assert_int_equal(verify(k, bad, NOW), -EPERM);
	}

	/* The time is signed too: a token cannot be moved in time. */
	flip(token_at_now, TOKEN_KEY_ID_LEN * 8 + 63, bad);
	assert_int_equal(verify(k, bad, NOW), -EPERM);
	flip(token_at_now, TOKEN_KEY_ID_LEN * 8, bad);
	assert_int_equal(verify(k, bad, NOW), -EPERM);

	/* A changed key id names no key. */
	flip(token_at_now, 0, bad);
	assert_int_equal(verify(k, bad, NOW), -ENOENT);
}

static void
test_other_keys_id_rejected(void **state)
{
	struct keys  *k = *state;
	unsigned char raw[TOKEN_BYTES];
	char          tok[TOKEN_LEN + 1];

	/* B's key id and the time, signed by A: B's key refuses it. */
	token_key_id(k->pk[KEY_B], raw);
	memcpy(raw + TOKEN_KEY_ID_LEN, "\0\0\0\0\x65\x53\xf1\x00", 8);
	crypto_sign_detached(raw + TOKEN_KEY_ID_LEN + 8, NULL, raw,
	    TOKEN_KEY_ID_LEN + 8, k->sk[KEY_A]);
	encode(raw, sizeof raw, tok, sizeof tok);
	assert_int_equal(verify(k, tok, NOW), -EPERM);

	/* The same, signed by B, is good: only the signer differed. */
	crypto_sign_detached(raw + TOKEN_KEY_ID_LEN + 8, NULL, raw,
	    TOKEN_KEY_ID_LEN + 8, k->sk[KEY_B]);
	encode(raw, sizeof raw, tok, sizeof tok);
	assert_int_equal(verify(k, tok, NOW), 0);

	/* A well-made token of a key that is not authorized. */
	mint(k, KEY_C, NOW, tok);
	assert_int_equal(verify(k, tok, NOW), -ENOENT);
}

static void
test_lookup_answers(void **state)
{
	struct keys *k = *state;

	/* A lookup error is passed on, a positive answer means not found. */
	k->fail = -EIO;
	assert_int_equal(verify(k, token_at_now, NOW), -EIO);
	k->fail = 1;
	assert_int_equal(verify(k, token_at_now, NOW), -ENOENT);
	k->fail = 0;

	/* A key whose id is not the token's is not taken for it. */
	k->wrong = 1;
	assert_int_equal(verify(k, token_at_now, NOW), -ENOENT);
	k->wrong = 0;
	assert_int_equal(verify(k, token_at_now, NOW), 0);
}

static void
test_text_form(void **state)
{
	struct keys  *k = *state;
	unsigned char raw[TOKEN_BYTES + 1];
	char          buf[2 * TOKEN_LEN];
	const char   *bad[] = {"", "A", "AAAA", "not a token", NULL};
	size_t        i;

	/* The unpadded form is exactly 139 characters and is accepted. */
	assert_int_equal(strlen(token_at_now), 139);
	assert_int_equal(verify(k, token_at_now, NOW), 0);

	for (i = 0; bad[i] != NULL; i++)
		assert_int_equal(verify(k, bad[i], NOW), -EINVAL);

	/* Padded, or with anything after it. */
	snprintf(buf, sizeof buf, "%s=", token_at_now);
	assert_int_equal(verify(k, buf, NOW), -EINVAL);
	snprintf(buf, sizeof buf, "%s\n", token_at_now);
	assert_int_equal(verify(k, buf, NOW), -EINVAL);
	snprintf(buf, sizeof buf, " %s", token_at_now);
	assert_int_equal(verify(k, buf, NOW), -EINVAL);

	/* One character short. */
	snprintf(buf, sizeof buf, "%.138s", token_at_now);
	assert_int_equal(verify(k, buf, NOW), -EINVAL);

	/* 103 and 105 bytes, properly encoded. */
	decode(token_at_now, raw);
	encode(raw, TOKEN_BYTES - 1, buf, sizeof buf);
	assert_int_equal(verify(k, buf, NOW), -EINVAL);
	raw[TOKEN_BYTES] = 0;
	encode(raw, TOKEN_BYTES + 1, buf, sizeof buf);
	assert_int_equal(verify(k, buf, NOW), -EINVAL);

	/* The same bytes in standard base64, padded. */
	sodium_bin2base64(
	    buf, sizeof buf, raw, TOKEN_BYTES, sodium_base64_VARIANT_ORIGINAL);
	assert_int_equal(strlen(buf), 140);
	assert_int_equal(verify(k, buf, NOW), -EINVAL);
}

/* Each character outside the alphabet, put in the middle of a token. */
static void
test_alphabet(void **state)
{
	struct keys *k = *state;
	const char  *bad = "+/=. \t!%*~\"";
	char         buf[TOKEN_LEN + 1];
	size_t       i;

	for (i = 0; bad[i] != '\0'; i++) {
		memcpy(buf, token_at_now, sizeof buf);
		buf[70] = bad[i];
		assert_int_equal(verify(k, buf, NOW), -EINVAL);
	}

	/* A high byte, and a NUL cutting the token short. */
	memcpy(buf, token_at_now, sizeof buf);
	buf[70] = (char)0xc3;
	assert_int_equal(verify(k, buf, NOW), -EINVAL);
	buf[70] = '\0';
	assert_int_equal(verify(k, buf, NOW), -EINVAL);
}

/*
 * The last character carries four bits and two that must be zero; a
 * different last character with the same four bits is another text for
 * the same bytes and is refused.
 */
static void
test_one_text_per_token(void **state)
{
	struct keys *k = *state;
	char         buf[TOKEN_LEN + 1];
	const char  *alpha =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_";
	const char *last;
	size_t      v, i;

	memcpy(buf, token_at_now, sizeof buf);
	last = strchr(alpha, buf[TOKEN_LEN - 1]);
	assert_non_null(last);
	v = (size_t)(last - alpha);
	assert_int_equal(v & 3, 0);
	for (i = 1; i < 4; i++) {
		buf[TOKEN_LEN - 1] = alpha[v | i];
		assert_int_equal(verify(k, buf, NOW), -EINVAL);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_key_id_is_sha256_of_raw_key),
	    cmocka_unit_test(test_mint_matches_vector),
	    cmocka_unit_test(test_fresh_token_accepted),
	    cmocka_unit_test(test_window),
	    cmocka_unit_test(test_window_at_the_ends_of_time),
	    cmocka_unit_test(test_flipped_bits_rejected),
	    cmocka_unit_test(test_other_keys_id_rejected),
	    cmocka_unit_test(test_lookup_answers),
	    cmocka_unit_test(test_text_form),
	    cmocka_unit_test(test_alphabet),
	    cmocka_unit_test(test_one_text_per_token),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
