/*
 * The operations of alknet-secretd on a vault: how inputs are read and
 * refused, which code each refusal carries, what is allowed while
 * locked, and that no message quotes a secret.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "secretops.h"
#include "vault.h"

#define ABOUT                                                                  \
	"abandon abandon abandon abandon abandon abandon abandon abandon "     \
	"abandon abandon abandon about"

/*
 * The public key at m/74'/0'/0'/0' below the seed of ABOUT and
 * "TREZOR", computed with Python's hashlib and hmac and the cryptography
 * package, not with this code.
 */
static const char identity_line[] =
    "ssh-ed25519 "
    "AAAAC3NzaC1lZDI1NTE5AAAAIFHV7fdflahFf0h3gDz3v3L9r+YLXaMZD5Gj2eX5x9lq";

static int
setup(void **state)
{
	struct vault *v = NULL;

	if (vault_new(&v) != 0)
		return -1;
	*state = v;
	return 0;
}

static int
teardown(void **state)
{
	vault_free(*state);
	return 0;
}

/* Runs op with input given as JSON text; returns the errno. */
static int
call(struct vault *v, const char *op, const char *input,
    struct secretops_result *r)
{
	json_t *in =
	    input != NULL ? json_loads(input, JSON_DECODE_ANY, NULL) : NULL;
	int rc;

	if (input != NULL)
		assert_non_null(in);
	rc = secretops_call(v, op, in, r);
	json_decref(in);
	return rc;
}

/* Expects op to fail with code and message. */
static void
refused(struct vault *v, const char *op, const char *input,
    enum reply_code code, const char *message)
{
	struct secretops_result r;

	assert_true(call(v, op, input, &r) < 0);
	assert_null(r.output);
	assert_int_equal(r.err.code, code);
	assert_string_equal(r.err.message, message);
	assert_false(r.err.retryable);
}

/* The string member name of op's output. */
static void
answer(struct vault *v, const char *op, const char *input, const char *name,
    char *buf, size_t len)
{
	struct secretops_result r;
	const char             *s;

	assert_int_equal(call(v, op, input, &r), 0);
	s = json_string_value(json_object_get(r.output, name));
	assert_non_null(s);
	assert_true(strlen(s) < len);
	strcpy(buf, s);
	json_decref(r.output);
}

static void
unlock(struct vault *v)
{
	char state[16];

	answer(v, "unlock",
	    "{\"mnemonic\":\"" ABOUT "\",\"passphrase\":\"TREZOR\"}", "state",
	    state, sizeof state);
	assert_string_equal(state, "unlocked");
}

static void
test_locked(void **state)
{
	static const char *ops[][2] = {
	    {"public", "{\"path\":\"m/0'\"}"},
	    {"sign", "{\"path\":\"m/0'\",\"data\":\"\"}"},
	    {"encrypt", "{\"plaintext\":\"x\"}"},
	    {"decrypt", "{\"envelope\":{}}"},
	    {"rotate", "{\"envelope\":{},\"to\":3}"},
	    {"hostkey", NULL},
	};
	struct vault *v = *state;
	char          s[16];
	size_t        i;

	answer(v, "status", NULL, "state", s, sizeof s);
	assert_string_equal(s, "locked");
	for (i = 0; i < sizeof ops / sizeof ops[0]; i++)
		refused(v, ops[i][0], ops[i][1], REPLY_LOCKED,
		    "locked: unlock first");
	answer(v, "lock", "{}", "state", s, sizeof s);
	assert_string_equal(s, "locked");
}

static void
test_unknown_operation(void **state)
{
	struct secretops_result r;

	refused(*state, "nosuch", NULL, REPLY_NOT_FOUND,
	    "unknown operation nosuch");
	refused(*state, "", NULL, REPLY_NOT_FOUND, "unknown operation");

	/* A name that is not plain is not quoted. */
	refused(*state, "x\"y", NULL, REPLY_NOT_FOUND, "unknown operation");
	assert_int_equal(call(*state, "/status", NULL, &r), 0);
	json_decref(r.output);
}

static void
test_input_shape(void **state)
{
	struct vault *v = *state;

	refused(
	    v, "unlock", "[1]", REPLY_INVALID_INPUT, "input must be an object");
	refused(v, "unlock", "\"" ABOUT "\"", REPLY_INVALID_INPUT,
	    "input must be an object");
	refused(v, "unlock", "{}", REPLY_INVALID_INPUT, "missing mnemonic");
	refused(v, "unlock", NULL, REPLY_INVALID_INPUT, "missing mnemonic");
	refused(v, "unlock", "{\"mnemonic\":[\"abandon\"]}",
	    REPLY_INVALID_INPUT, "mnemonic must be a string");
	refused(v, "unlock", "{\"mnemonic\":\"" ABOUT "\",\"passphrase\":1}",
	    REPLY_INVALID_INPUT, "passphrase must be a string");

	/* A misspelt passphrase would unlock other keys: refused. */
	refused(v, "unlock", "{\"mnemonic\":\"" ABOUT "\",\"passphase\":\"x\"}",
	    REPLY_INVALID_INPUT, "unexpected member passphase");
	refused(v, "unlock",
	    "{\"mnemonic\":\"" ABOUT "\",\"Pass Phrase\":\"\"}",
	    REPLY_INVALID_INPUT, "unexpected member in input");
	refused(v, "status", "{\"x\":1}", REPLY_INVALID_INPUT,
	    "unexpected member x");
	assert_false(vault_unlocked(v));
}

static void
test_bad_mnemonics_quote_nothing(void **state)
{
	static const char *bad[] = {
	    "{\"mnemonic\":\"abandon abandon abandon abandon abandon abandon "
	    "abandon abandon abandon abandon abandon abandon\"}",
	    "{\"mnemonic\":\"abandon abandon abandon abandon abandon abandon "
	    "abandon abandon abandon abandon abandon zzzz\"}",
	    "{\"mnemonic\":\"abandon  abandon abandon abandon abandon abandon "
	    "abandon abandon abandon abandon abandon about\"}",
	};
	struct secretops_result r;
	size_t                  i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(call(*state, "unlock", bad[i], &r), -EINVAL);
		assert_int_equal(r.err.code, REPLY_INVALID_INPUT);
		assert_null(strstr(r.err.message, "abandon"));
		assert_null(strstr(r.err.message, "zzzz"));
	}
	assert_false(vault_unlocked(*state));
}

static void
test_unlock_twice_and_generate(void **state)
{
	struct vault *v = *state;
	char          words[256], s[16];

	unlock(v);
	refused(v, "unlock", "{\"mnemonic\":\"" ABOUT "\"}",
	    REPLY_INVALID_INPUT, "already unlocked; lock first");
	refused(v, "generate", "{}", REPLY_INVALID_INPUT,
	    "already unlocked; lock first");
	answer(v, "lock", NULL, "state", s, sizeof s);
	assert_false(vault_unlocked(v));

	refused(v, "generate", "{\"words\":13}", REPLY_INVALID_INPUT,
	    "words must be 12, 15, 18, 21 or 24");
	refused(v, "generate", "{\"words\":\"12\"}", REPLY_INVALID_INPUT,
	    "words must be an integer");
	assert_false(vault_unlocked(v));
	answer(
	    v, "generate", "{\"words\":15}", "mnemonic", words, sizeof words);
	assert_true(vault_unlocked(v));
	assert_int_equal(
	    strspn(words, "abcdefghijklmnopqrstuvwxyz "), strlen(words));
	assert_non_null(strchr(words, ' '));
}

static void
test_paths(void **state)
{
	static const char *bad[] = {
	    "74'/0'",
	    "m/74",
	    "m/74'/0",
	    "M/1'",
	    "m/1'/",
	    "m/01'",
	    "m/x'",
	    "m/2147483648'",
	    "",
	};
	struct vault *v = *state;
	char          in[128], key[128], fp[64];
	size_t        i;

	unlock(v);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(in, sizeof in, "{\"path\":\"%s\"}", bad[i]);
		refused(v, "public", in, REPLY_INVALID_INPUT,
		    "path must be m/ then hardened indices, as "
		    "m/74'/0'/0'/0'");
	}
	refused(v, "public",
	    "{\"path\":\"m/1'/1'/1'/1'/1'/1'/1'/1'/1'/1'/1'/1'/1'/1'/1'/1'/"
	    "1'\"}",
	    REPLY_INVALID_INPUT, "path is deeper than 16 levels");

	answer(v, "public", "{\"path\":\"m/74'/0'/0'/0'\"}", "key", key,
	    sizeof key);
	assert_string_equal(key, identity_line);
	answer(v, "public", "{\"path\":\"m/74h/0h/0h/0h\"}", "key", key,
	    sizeof key);
	assert_string_equal(key, identity_line);
	answer(v, "public", "{\"path\":\"m/74'/0'/0'/0'\"}", "fingerprint", fp,
	    sizeof fp);
	assert_int_equal(strncmp(fp, "SHA256:", 7), 0);
	assert_int_equal(strlen(fp), 7 + 43);
}

static void
test_sign_input(void **state)
{
	struct vault *v = *state;
	char          sig[128];

	unlock(v);
	refused(v, "sign", "{\"path\":\"m/0'\"}", REPLY_INVALID_INPUT,
	    "missing data");
	refused(v, "sign", "{\"path\":\"m/0'\",\"data\":\"aGk\"}",
	    REPLY_INVALID_INPUT, "data must be standard base64");
	refused(v, "sign", "{\"path\":\"m/0'\",\"data\":\"a-_=\"}",
	    REPLY_INVALID_INPUT, "data must be standard base64");
	answer(v, "sign", "{\"path\":\"m/0'\",\"data\":\"aGk=\"}", "signature",
	    sig, sizeof sig);
	assert_int_equal(strlen(sig), 88); /* 64 bytes */
}

static void
test_envelopes(void **state)
{
	struct vault           *v = *state;
	struct secretops_result r;
	json_t                 *in;
	char                    text[64];

	unlock(v);
	refused(v, "encrypt", "{\"plaintext\":\"x\",\"key_version\":1}",
	    REPLY_INVALID_INPUT, "key_version must be from 2 to 2147483649");
	refused(v, "encrypt",
	    "{\"plaintext\":\"x\",\"key_version\":2147483650}",
	    REPLY_INVALID_INPUT, "key_version must be from 2 to 2147483649");
	refused(v, "decrypt", "{\"envelope\":\"{}\"}", REPLY_INVALID_INPUT,
	    "envelope must be an object");
	refused(v, "decrypt", "{\"envelope\":{\"key_version\":2}}",
	    REPLY_INVALID_INPUT, "the envelope does not decrypt");

	assert_int_equal(
	    call(v, "encrypt", "{\"plaintext\":\"h\\u00e9\"}", &r), 0);
	in = json_pack("{s:o}", "envelope", r.output);
	assert_int_equal(secretops_call(v, "decrypt", in, &r), 0);
	assert_string_equal(
	    json_string_value(json_object_get(r.output, "plaintext")),
	    "h\xc3\xa9");
	json_decref(r.output);

	json_object_set_new(in, "to", json_integer(7));
	assert_int_equal(secretops_call(v, "rotate", in, &r), 0);
	assert_int_equal(
	    json_integer_value(json_object_get(r.output, "key_version")), 7);
	json_object_set_new(in, "envelope", r.output);
	json_object_del(in, "to");
	assert_int_equal(secretops_call(v, "decrypt", in, &r), 0);
	snprintf(text, sizeof text, "%s",
	    json_string_value(json_object_get(r.output, "plaintext")));
	assert_string_equal(text, "h\xc3\xa9");
	json_decref(r.output);
	json_decref(in);
}

static void
test_hostkey(void **state)
{
	struct vault *v = *state;
	char          pem[1024];

	unlock(v);
	answer(v, "hostkey", "{}", "private_key", pem, sizeof pem);
	assert_int_equal(
	    strncmp(pem, "-----BEGIN OPENSSH PRIVATE KEY-----\n", 36), 0);
	refused(v, "hostkey", "{\"path\":\"m/0'\"}", REPLY_INVALID_INPUT,
	    "unexpected member path");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_locked, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_unknown_operation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_input_shape, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_bad_mnemonics_quote_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_unlock_twice_and_generate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_paths, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sign_input, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_envelopes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostkey, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
