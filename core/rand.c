/*
 * libssh pads every packet it sends with random bytes from OpenSSL.
 * OpenSSL 3's default generator (a CTR-DRBG, its cipher context set up
 * afresh on each call) takes about a microsecond per request; libsodium's
 * randombytes_buf is a getrandom(2) call, the kernel's generator itself,
 * and takes about a quarter of that.  A new connection costs a tunnel
 * some twenty such requests, so OpenSSL is pointed at libsodium.
 *
 * XXX: RAND_METHOD is deprecated in OpenSSL 3; a provider is the lasting
 * way, and much more code.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <openssl/rand.h>
#include <sodium.h>

#include "rand.h"

static int
rand_bytes(unsigned char *buf, int num)
{
	if (num < 0)
		return 0;
	randombytes_buf(buf, (size_t)num);
	return 1;
}

static int
rand_status(void)
{
	return 1;
}

/* libsodium seeds itself from the kernel: there is nothing to add. */
static int
rand_seed(const void *buf, int num)
{
	(void)buf;
	(void)num;
	return 1;
}

static int
rand_add(const void *buf, int num, double entropy)
{
	(void)buf;
	(void)num;
	(void)entropy;
	return 1;
}

static const RAND_METHOD rand_sodium = {
    .seed = rand_seed,
    .bytes = rand_bytes,
    .add = rand_add,
    .pseudorand = rand_bytes,
    .status = rand_status,
};

int
rand_use_sodium(void)
{
	return RAND_set_rand_method(&rand_sodium) == 1 ? 0 : -1;
}
