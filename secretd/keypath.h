/*
 * Where alknet's keys sit in the SLIP-0010 tree, all under coin type 74'
 * (not allocated in SLIP-0044):
 *
 *	identity                m/74'/0'/0'/0'
 *	device n                m/74'/0'/0'/n'   (n = 0 is the identity)
 *	SSH host key            m/74'/0'/1'/0'
 *	encryption, version v   m/74'/2'/0'/(v-2)'   (v >= 2)
 */
#ifndef ALKNET_KEYPATH_H
#define ALKNET_KEYPATH_H

#include <stddef.h>
#include <stdint.h>

#define KEYPATH_IDENTITY "m/74'/0'/0'/0'"
#define KEYPATH_SSH_HOST "m/74'/0'/1'/0'"
#define KEYPATH_MAX      32 /* any path here, with the NUL */

/* The first encryption key version; lower ones are not derived here. */
#define KEYPATH_VERSION_MIN 2
#define KEYPATH_VERSION_MAX (0x7fffffffu + KEYPATH_VERSION_MIN)

/*
 * Writes the path of device n (0 to 2^31 - 1) into out.  Returns 0,
 * -EINVAL for a larger n, or -ENOSPC when outlen is short.
 */
int keypath_device(uint32_t n, char *out, size_t outlen);

/*
 * Writes the path of encryption key version (KEYPATH_VERSION_MIN to
 * KEYPATH_VERSION_MAX) into out.  Returns 0, -EINVAL for another
 * version, or -ENOSPC when outlen is short.
 */
int keypath_encryption(uint32_t version, char *out, size_t outlen);

#endif
