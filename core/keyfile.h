/*
 * Private key files: OpenSSH format, Ed25519, unencrypted.
 */
#ifndef ALKNET_KEYFILE_H
#define ALKNET_KEYFILE_H

#include <stddef.h>
#include <libssh/libssh.h>

/*
 * Reads the Ed25519 private key at path.  what names the key in errors
 * ("host key", "identity").  A PEM file, an encrypted or damaged key, or
 * another key type is refused with a reason naming the path.  Returns 0
 * and *out (the caller frees it with ssh_key_free), or a negative errno.
 */
int keyfile_load(
    const char *path, const char *what, ssh_key *out, char *err, size_t errlen);

#endif
