/*
 * OpenSSL, and libssh through it, take their random bytes from libsodium.
 * libsodium is given a counting generator in front of its own, so that
 * the tests see where each request went.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <libssh/libssh.h>
#include <openssl/rand.h>
#include <sodium.h>

#include "rand.h"

static size_t counted_bytes;

static const char *
counting_name(void)
{
	return "counting";
}

static uint32_t
counting_random(void)
{
	counted_bytes += sizeof(uint32_t);
	return randombytes_sysrandom_implementation.random();
}

static void
counting_stir(void)
{
	randombytes_sysrandom_implementation.stir();
}

static void
counting_buf(void *const buf, const size_t size)
{
	counted_bytes += size;
	randombytes_sysrandom_implementation.buf(buf, size);
}

static int
counting_close(void)
{
	return randombytes_sysrandom_implementation.close();
}

static randombytes_implementation counting = {
    .implementation_name = counting_name,
    .random = counting_random,
    .stir = counting_stir,
    .uniform = NULL,
    .buf = counting_buf,
    .close = counting_close,
};

static int
setup(void **state)
{
	(void)state;
	if (randombytes_set_implementation(&counting) != 0 ||
	    sodium_init() < 0 || rand_use_sodium() != 0 || ssh_init() != 0)
		return -1;
	return 0;
}

static void
test_openssl_draws_from_libsodium(void **state)
{
	unsigned char a[32], b[32], zero[32] = {0};
	size_t        before = counted_bytes;

	(void)state;
	assert_int_equal(RAND_bytes(a, sizeof a), 1);
	assert_int_equal(RAND_priv_bytes(b, sizeof b), 1);
	assert_int_equal(counted_bytes - before, sizeof a + sizeof b);
	assert_memory_not_equal(a, b, sizeof a);
	assert_memory_not_equal(a, zero, sizeof a);
	assert_int_equal(RAND_status(), 1);
}

/* A key libssh makes draws from libsodium, and two keys differ. */
static void
test_libssh_keys_draw_from_libsodium(void **state)
{
	ssh_key k1 = NULL, k2 = NULL;
	size_t  before = counted_bytes;

	(void)state;
	assert_int_equal(ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &k1), SSH_OK);
	assert_int_equal(ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &k2), SSH_OK);
	assert_true(counted_bytes - before >= 64);
	assert_int_not_equal(ssh_key_cmp(k1, k2, SSH_KEY_CMP_PUBLIC), 0);
	ssh_key_free(k1);
	ssh_key_free(k2);
}

static void
test_zero_and_negative_requests(void **state)
{
	unsigned char b[1] = {0x5a};

	(void)state;
	assert_int_equal(RAND_bytes(b, 0), 1);
	assert_int_equal(b[0], 0x5a);
	assert_int_not_equal(RAND_bytes(b, -1), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_openssl_draws_from_libsodium),
	    cmocka_unit_test(test_libssh_keys_draw_from_libsodium),
	    cmocka_unit_test(test_zero_and_negative_requests),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
