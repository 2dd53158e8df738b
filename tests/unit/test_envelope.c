/*
 * Envelopes: AES-256-GCM known answers through the code path envelopes
 * use, blobs made by another implementation, the JSON form, round trips,
 * and the one error for everything that does not decrypt.
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
#include <jansson.h>
#include <sodium.h>

#include "envelope.h"
#include "keypath.h"
#include "secret.h"
#include "slip10.h"

#define B64 sodium_base64_VARIANT_ORIGINAL

/* The BIP39 seed of "abandon" x 11 "about" with passphrase "TREZOR". */
static const char trezor_seed[] =
    "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e5349553"
    "1f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04";

static unsigned char seed[64];

/* UTF-8 text: e acute, o umlaut, a check mark, a CJK character. */
static const char utf8_text[] = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 "
                                "\xe6\xbc\xa2";

/*
 * AES-256-GCM, 96-bit IV, no AAD.  The first three are test cases 13 to
 * 15 of the GCM specification (McGrew and Viega) that NIST publishes,
 * the last two gcmEncryptExtIV256.rsp of NIST's CAVP ([PTlen = 0] and
 * [PTlen = 128], Count = 0).
 */
static const struct kat {
	const char *key, *iv, *pt, *ct, *tag;
} kats[] = {
    {"0000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    {"0000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000", "00000000000000000000000000000000",
        "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
        "cafebabefacedbaddecaf888",
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
        "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
        "b094dac5d93471bdec1a502270e3cc6c"},
    {"b52c505a37d78eda5dd34f20c22540ea1b58963cf8e5bf8ffa85f9f2492505b4",
        "516c33929df5a3284ff463d7", "", "", "bdc1ac884d332457a1d2664f168c76f0"},
    {"31bdadd96698c204aa9ce1448ea94ae1fb4a9a0b3c9d773b51bb1822666b8f22",
        "0d18e06c7c725ac9e362e1ce", "2db5168e932556f8089a0622981d017d",
        "fa4362189661d163fcd6a56d8bf0405a", "d636ac1bbedd5cc3ee727dc2ab4a9489"},
};

/*
 * Blobs written with Python (hashlib, hmac, cryptography's AESGCM) for
 * the keys of versions 2 and 3 below the Trezor seed.
 */
static const char py_blob_v2[] =
    "{\"key_version\":2,"
    "\"salt\":\"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=\","
    "\"iv\":\"AAECAwQFBgcICQoL\","
    "\"data\":\"IUT85Z8vd+tJ5fTz86t7ohK4AdNmaT9qFMkbUS/gCH8Z\"}";
static const char py_text_v2[] = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93";
static const char py_blob_v3[] =
    "{\"key_version\":3,"
    "\"salt\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
    "\"iv\":\"ZGVmZ2hpamtsbW5v\","
    "\"data\":\"JhkdNvbS6G+aNg8YdyPqUxElHXmD8No=\"}";

static size_t
unhex(const char *hex, unsigned char *out, size_t max)
{
	size_t len;

	assert_int_equal(
	    sodium_hex2bin(out, max, hex, strlen(hex), NULL, &len, NULL), 0);
	return len;
}

/* A blob's members, decoded by the test itself. */
struct parts {
	json_int_t    version;
	unsigned char salt[64], iv[64], data[256];
	size_t        saltlen, ivlen, datalen;
	size_t        nkeys;
};

static void
unb64(const char *s, unsigned char *out, size_t max, size_t *len)
{
	assert_int_equal(
	    sodium_base642bin(out, max, s, strlen(s), NULL, len, NULL, B64), 0);
}

static void
split(const char *blob, struct parts *p)
{
	json_t     *root;
	const char *salt, *iv, *data;

	assert_non_null(root = json_loads(blob, 0, NULL));
	assert_int_equal(
	    json_unpack(root, "{s:I, s:s, s:s, s:s}", "key_version",
	        &p->version, "salt", &salt, "iv", &iv, "data", &data),
	    0);
	p->nkeys = json_object_size(root);
	unb64(salt, p->salt, sizeof p->salt, &p->saltlen);
	unb64(iv, p->iv, sizeof p->iv, &p->ivlen);
	unb64(data, p->data, sizeof p->data, &p->datalen);
	json_decref(root);
}

static char *
b64(const unsigned char *bin, size_t len)
{
	size_t n = sodium_base64_ENCODED_LEN(len, B64);
	char  *s;

	assert_non_null(s = malloc(n));
	sodium_bin2base64(s, n, bin, len, B64);
	return s;
}

/* The JSON text of p; the caller frees it. */
static char *
join(const struct parts *p)
{
	char   *salt = b64(p->salt, p->saltlen), *iv = b64(p->iv, p->ivlen);
	char   *data = b64(p->data, p->datalen), *out;
	json_t *root;

	root = json_pack("{s:I, s:s, s:s, s:s}", "key_version", p->version,
	    "salt", salt, "iv", iv, "data", data);
	assert_non_null(root);
	assert_non_null(out = json_dumps(root, JSON_COMPACT));
	json_decref(root);
	free(salt);
	free(iv);
	free(data);
	return out;
}

static void
assert_decrypts(const char *blob, const char *text, size_t len)
{
	struct secret *out = NULL;
	uint32_t       version = 0;

	assert_int_equal(envelope_decrypt(seed, 64, blob, &out, &version), 0);
	assert_int_equal(secret_len(out), len);
	assert_memory_equal(secret_data(out), text, len);
	assert_int_equal(secret_data(out)[len], '\0');
	secret_free(out);
}

static void
assert_refused(const char *blob)
{
	struct secret *out = NULL;

	assert_int_equal(
	    envelope_decrypt(seed, 64, blob, &out, NULL), -EBADMSG);
	assert_null(out);
}

static void
test_gcm_known_answers(void **state)
{
	unsigned char key[32], iv[12], pt[64], want[80], got[80], back[64];
	size_t        i, len, clen;

	for (i = 0; i < sizeof kats / sizeof kats[0]; i++) {
		unhex(kats[i].key, key, sizeof key);
		unhex(kats[i].iv, iv, sizeof iv);
		len = unhex(kats[i].pt, pt, sizeof pt);
		clen = unhex(kats[i].ct, want, sizeof want);
		assert_int_equal(clen, len);
		unhex(kats[i].tag, want + clen, 16);

		assert_int_equal(envelope_seal(key, iv, pt, len, got), 0);
		assert_memory_equal(got, want, len + 16);

		memset(back, 0xaa, sizeof back);
		assert_int_equal(
		    envelope_open(key, iv, want, len + 16, back), 0);
		assert_memory_equal(back, pt, len);
	}
}

static void
test_gcm_open_refuses_any_flip(void **state)
{
	unsigned char     key[32], iv[12], pt[64], sealed[80], back[64];
	size_t            len, bit;
	const struct kat *k = &kats[2];

	unhex(k->key, key, sizeof key);
	unhex(k->iv, iv, sizeof iv);
	len = unhex(k->pt, pt, sizeof pt);
	assert_int_equal(envelope_seal(key, iv, pt, len, sealed), 0);

	for (bit = 0; bit < (len + 16) * 8; bit++) {
		sealed[bit / 8] ^= 1u << bit % 8;
		memset(back, 0xaa, sizeof back);
		assert_int_equal(
		    envelope_open(key, iv, sealed, len + 16, back), -EBADMSG);
		assert_true(sodium_is_zero(back, len));
		sealed[bit / 8] ^= 1u << bit % 8;
	}
	for (bit = 0; bit < 96; bit++) {
		iv[bit / 8] ^= 1u << bit % 8;
		assert_int_equal(
		    envelope_open(key, iv, sealed, len + 16, back), -EBADMSG);
		iv[bit / 8] ^= 1u << bit % 8;
	}
	assert_int_equal(envelope_open(key, iv, sealed, 15, back), -EBADMSG);
	assert_int_equal(envelope_open(key, iv, sealed, len + 16, back), 0);
}

static void
test_decrypts_blobs_made_elsewhere(void **state)
{
	struct secret *out;
	uint32_t       version;

	assert_decrypts(py_blob_v2, py_text_v2, strlen(py_text_v2));
	assert_int_equal(
	    envelope_decrypt(seed, 64, py_blob_v3, &out, &version), 0);
	assert_int_equal(version, 3);
	assert_string_equal((const char *)secret_data(out), "v3 text");
	secret_free(out);
}

static void
test_encrypt_form(void **state)
{
	static const size_t lens[] = {0, 1, 15, 16, 17, 100};
	char               *blob, text[100];
	struct parts        p;
	size_t              i;

	memset(text, 'x', sizeof text);
	for (i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		assert_int_equal(
		    envelope_encrypt(seed, 64, 2, text, lens[i], &blob), 0);
		split(blob, &p);
		assert_int_equal(p.nkeys, 4);
		assert_int_equal(p.version, 2);
		assert_int_equal(p.saltlen, ENVELOPE_SALT_LEN);
		assert_int_equal(p.ivlen, ENVELOPE_IV_LEN);
		assert_int_equal(p.datalen, lens[i] + ENVELOPE_TAG_LEN);
		assert_memory_equal(blob, "{\"key_version\":2,\"salt\":\"", 25);
		free(blob);
	}

	assert_int_equal(envelope_encrypt(seed, 64, 7, "x", 1, &blob), 0);
	split(blob, &p);
	assert_int_equal(p.version, 7);
	free(blob);
}

static void
round_trip(const char *text, size_t len)
{
	char *blob;

	assert_int_equal(envelope_encrypt(seed, 64, 2, text, len, &blob), 0);
	assert_decrypts(blob, text, len);
	free(blob);
}

static void
test_round_trips(void **state)
{
	round_trip("", 0);
	round_trip("hello, world", 12);
	round_trip(utf8_text, strlen(utf8_text));
	round_trip("nul\0inside", 10);
}

static void
test_fresh_iv_and_salt(void **state)
{
	char        *a, *b;
	struct parts pa, pb;

	assert_int_equal(envelope_encrypt(seed, 64, 2, "same", 4, &a), 0);
	assert_int_equal(envelope_encrypt(seed, 64, 2, "same", 4, &b), 0);
	split(a, &pa);
	split(b, &pb);
	assert_memory_not_equal(pa.iv, pb.iv, ENVELOPE_IV_LEN);
	assert_memory_not_equal(pa.salt, pb.salt, ENVELOPE_SALT_LEN);
	assert_memory_not_equal(pa.data, pb.data, pa.datalen);
	free(a);
	free(b);
}

static void
test_any_flipped_bit_refused(void **state)
{
	struct parts p;
	char        *blob;
	size_t       bit;

	assert_int_equal(
	    envelope_encrypt(seed, 64, 2, utf8_text, strlen(utf8_text), &blob),
	    0);
	split(blob, &p);
	free(blob);

	/* Every bit of the IV, the ciphertext and the tag. */
	for (bit = 0; bit < p.ivlen * 8; bit++) {
		p.iv[bit / 8] ^= 1u << bit % 8;
		assert_refused(blob = join(&p));
		free(blob);
		p.iv[bit / 8] ^= 1u << bit % 8;
	}
	for (bit = 0; bit < p.datalen * 8; bit++) {
		p.data[bit / 8] ^= 1u << bit % 8;
		assert_refused(blob = join(&p));
		free(blob);
		p.data[bit / 8] ^= 1u << bit % 8;
	}

	/* The salt is carried but not used from version 2 on. */
	p.salt[0] ^= 1;
	assert_decrypts(blob = join(&p), utf8_text, strlen(utf8_text));
	free(blob);
}

static void
test_wrong_key_refused(void **state)
{
	struct parts p;
	char        *blob;

	/* Relabelled to another version: another key. */
	split(py_blob_v2, &p);
	p.version = 3;
	assert_refused(blob = join(&p));
	free(blob);

	/* Another seed. */
	seed[0] ^= 1;
	assert_refused(py_blob_v2);
	seed[0] ^= 1;
	assert_decrypts(py_blob_v2, py_text_v2, strlen(py_text_v2));
}

/* py_blob_v2 with one member's text (JSON) replaced. */
static char *
with_member(const char *name, const char *json)
{
	json_t *root, *value;
	char   *out;

	assert_non_null(root = json_loads(py_blob_v2, 0, NULL));
	assert_non_null(
	    value = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL));
	assert_int_equal(json_object_set_new(root, name, value), 0);
	assert_non_null(out = json_dumps(root, JSON_COMPACT));
	json_decref(root);
	return out;
}

static void
test_malformed_blobs_refused(void **state)
{
	static const char *const bad[] = {"", "{", "null", "[]", "\"x\"", "{}",
	    "{\"key_version\":2}",
	    /* the right members and one more, or a member twice */
	    "{\"key_version\":2,"
	    "\"salt\":\"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=\","
	    "\"iv\":\"AAECAwQFBgcICQoL\","
	    "\"data\":\"IUT85Z8vd+tJ5fTz86t7ohK4AdNmaT9qFMkbUS/gCH8Z\","
	    "\"x\":1}",
	    "{\"key_version\":2,\"key_version\":2,"
	    "\"salt\":\"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=\","
	    "\"iv\":\"AAECAwQFBgcICQoL\","
	    "\"data\":\"IUT85Z8vd+tJ5fTz86t7ohK4AdNmaT9qFMkbUS/gCH8Z\"}"};
	static const struct {
		const char *name, *json;
	} members[] = {/* versions without a key, or not a number */
	    {"key_version", "0"}, {"key_version", "1"}, {"key_version", "-2"},
	    {"key_version", "2147483650"}, {"key_version", "4294967298"},
	    {"key_version", "2.0"}, {"key_version", "\"2\""},
	    {"key_version", "null"},
	    /* base64 that is not, or not canonical, or of the wrong length */
	    {"iv", "\"AAECAwQFBgcICQo\""}, {"iv", "\"AAECAwQFBgcICQoL=\""},
	    {"iv", "\"AAECAwQFBgcICQoL\\n\""}, {"iv", "\"AAECAwQFBgcICQ==\""},
	    {"iv", "\"AAECAwQFBgcICQoLDA==\""}, {"iv", "\"\""}, {"iv", "12"},
	    {"iv", "\"AAECAwQF-gcICQoL\""},
	    {"iv", "\"AAECAwQFBgcICQoL\\u0000\""},
	    {"salt", "\"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pg==\""},
	    {"salt", "\"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj9A\""},
	    {"salt", "\"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj9=\""},
	    {"data", "\"\""}, {"data", "\"AAECAwQFBgcICQoLDA0ODw==\""},
	    {"data", "\"IUT85Z8vd+tJ5fTz86t7ohK4AdNmaT9qFMkbUS/gCH8\""},
	    {"data", "\"IUT85Z8vd+tJ5fTz86t7ohK4AdNmaT9qFMkbUS/gCH8Z=\""},
	    {"data", "\"IUT85Z8vd-tJ5fTz86t7ohK4AdNmaT9qFMkbUS_gCH8Z\""},
	    {"data", "[]"}};
	char  *blob;
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_refused(bad[i]);

	for (i = 0; i < sizeof members / sizeof members[0]; i++) {
		blob = with_member(members[i].name, members[i].json);
		assert_refused(blob);
		free(blob);
	}
}

static void
test_genuine_non_text_refused(void **state)
{
	unsigned char      sealed[2 + 16], iv[12] = {0};
	struct slip10_node node;
	char               path[KEYPATH_MAX];
	struct parts       p = {.version = 2, .saltlen = 32, .ivlen = 12};
	char              *blob;

	/* A blob sealed with the right key around bytes that are not UTF-8. */
	assert_int_equal(keypath_encryption(2, path, sizeof path), 0);
	assert_int_equal(slip10_derive(seed, 64, path, &node), 0);
	assert_int_equal(envelope_seal(node.key, iv,
	                     (const unsigned char *)"\xc3\x28", 2, sealed),
	    0);
	sodium_memzero(&node, sizeof node);

	memcpy(p.data, sealed, sizeof sealed);
	p.datalen = sizeof sealed;
	assert_refused(blob = join(&p));
	free(blob);
}

static void
test_encrypt_refusals(void **state)
{
	char *blob = NULL;

	assert_int_equal(envelope_encrypt(seed, 64, 0, "x", 1, &blob), -EINVAL);
	assert_int_equal(envelope_encrypt(seed, 64, 1, "x", 1, &blob), -EINVAL);
	assert_int_equal(
	    envelope_encrypt(seed, 64, KEYPATH_VERSION_MAX + 1, "x", 1, &blob),
	    -EINVAL);
	assert_int_equal(
	    envelope_encrypt(seed, 64, 2, "\xff", 1, &blob), -EILSEQ);
	assert_int_equal(
	    envelope_encrypt(seed, 64, 2, "\xc3", 1, &blob), -EILSEQ);
	assert_int_equal(envelope_encrypt(seed, 15, 2, "x", 1, &blob), -EINVAL);
	assert_int_equal(envelope_encrypt(seed, 64, 2, "x",
	                     (size_t)ENVELOPE_TEXT_MAX + 1, &blob),
	    -EFBIG);
	assert_null(blob);

	assert_int_equal(envelope_decrypt(seed, 65, py_blob_v2,
	                     (struct secret **)&blob, NULL),
	    -EINVAL);
}

static void
test_rotate(void **state)
{
	char          *v2, *v3, *again;
	struct parts   p;
	uint32_t       version;
	struct secret *out;

	assert_int_equal(
	    envelope_encrypt(seed, 64, 2, utf8_text, strlen(utf8_text), &v2),
	    0);
	assert_int_equal(envelope_rotate(seed, 64, v2, 3, &v3), 0);
	split(v3, &p);
	assert_int_equal(p.version, 3);
	assert_int_equal(envelope_decrypt(seed, 64, v3, &out, &version), 0);
	assert_int_equal(version, 3);
	assert_string_equal((const char *)secret_data(out), utf8_text);
	secret_free(out);

	/* The new blob is under the new key only. */
	p.version = 2;
	assert_refused(again = join(&p));
	free(again);

	/* And back, and the blob from elsewhere too. */
	assert_int_equal(envelope_rotate(seed, 64, v3, 2, &again), 0);
	assert_decrypts(again, utf8_text, strlen(utf8_text));
	free(again);
	assert_int_equal(envelope_rotate(seed, 64, py_blob_v2, 3, &again), 0);
	assert_decrypts(again, py_text_v2, strlen(py_text_v2));
	free(again);

	assert_int_equal(envelope_rotate(seed, 64, v2, 0, &again), -EINVAL);
	assert_int_equal(envelope_rotate(seed, 64, v2, 1, &again), -EINVAL);
	assert_int_equal(envelope_rotate(seed, 64, "{}", 3, &again), -EBADMSG);
	free(v2);
	free(v3);
}

static int
setup(void **state)
{
	if (sodium_init() < 0)
		return -1;
	unhex(trezor_seed, seed, sizeof seed);
	return 0;
}

static int
teardown(void **state)
{
	sodium_memzero(seed, sizeof seed);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_gcm_known_answers),
	    cmocka_unit_test(test_gcm_open_refuses_any_flip),
	    cmocka_unit_test(test_decrypts_blobs_made_elsewhere),
	    cmocka_unit_test(test_encrypt_form),
	    cmocka_unit_test(test_round_trips),
	    cmocka_unit_test(test_fresh_iv_and_salt),
	    cmocka_unit_test(test_any_flipped_bit_refused),
	    cmocka_unit_test(test_wrong_key_refused),
	    cmocka_unit_test(test_malformed_blobs_refused),
	    cmocka_unit_test(test_genuine_non_text_refused),
	    cmocka_unit_test(test_encrypt_refusals),
	    cmocka_unit_test(test_rotate),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
