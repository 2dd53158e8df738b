/*
 * Key paths.  The numbers are formatted here once so that no caller
 * builds a path by hand.
 */
#include <errno.h>
#include <stdio.h>

#include "keypath.h"

#define KEYPATH_INDEX_MAX 0x7fffffffu

/* Writes prefix followed by index i, hardened, into out. */
static int
keypath_format(const char *prefix, uint32_t i, char *out, size_t outlen)
{
	int n;

	if (i > KEYPATH_INDEX_MAX)
		return -EINVAL;

	n = snprintf(out, outlen, "%s/%u'", prefix, (unsigned)i);
	return n >= 0 && (size_t)n < outlen ? 0 : -ENOSPC;
}

int
keypath_device(uint32_t n, char *out, size_t outlen)
{
	return keypath_format("m/74'/0'/0'", n, out, outlen);
}

int
keypath_encryption(uint32_t version, char *out, size_t outlen)
{
	if (version < KEYPATH_VERSION_MIN)
		return -EINVAL;
	return keypath_format(
	    "m/74'/2'/0'", version - KEYPATH_VERSION_MIN, out, outlen);
}
