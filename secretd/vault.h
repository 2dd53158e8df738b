/*
 * The vault: the one seed alknet-secretd holds, and everything done with
 * it.  Locked, it holds nothing; unlocked, it holds the 64-byte BIP39
 * seed in a secret buffer.  Every key is derived from the seed for the
 * call that needs it and wiped before the call returns, so nothing but
 * the seed is kept and locking has only the seed to wipe.
 *
 * Paths are SLIP-0010 paths as slip10.h reads them.  Every function
 * that needs the seed fails with -ENOKEY while the vault is locked.
 * The caller has called sodium_init().
 */
#ifndef ALKNET_VAULT_H
#define ALKNET_VAULT_H

#include <stddef.h>
#include <stdint.h>

#include "secret.h"
#include "slip10.h"

#define VAULT_SIG_LEN 64 /* an Ed25519 signature */

struct vault;

/* A locked vault.  Returns 0 and *out (free with vault_free), -ENOMEM. */
int vault_new(struct vault **out);

/* Wipes and frees v; accepts NULL. */
void vault_free(struct vault *v);

/* Whether v holds a seed. */
int vault_unlocked(const struct vault *v);

/*
 * Unlocks v with the seed of mnemonic and passphrase (NULL or "" for
 * none).  Returns 0, -EALREADY when v is unlocked already, or an error
 * of bip39_to_seed (the mnemonic is checked against the list and its
 * checksum, so a mistyped phrase never gives other keys).
 */
int vault_unlock(struct vault *v, const char *mnemonic, const char *passphrase);

/*
 * Makes a mnemonic of nwords words from the operating system's random
 * source and unlocks v with it and passphrase.  Returns 0 and *mnemonic
 * (the caller frees it with secret_free), -EALREADY, -EINVAL for a word
 * count BIP39 does not have, or an error of vault_unlock.
 */
int vault_generate(struct vault *v, size_t nwords, const char *passphrase,
    struct secret **mnemonic);

/* Wipes the seed; a locked vault stays as it is. */
void vault_lock(struct vault *v);

/*
 * The Ed25519 public key at path.  Returns 0, -ENOKEY, or an error of
 * slip10_parse_path (-EINVAL, -E2BIG).
 */
int vault_public(
    struct vault *v, const char *path, unsigned char pk[SLIP10_PUB_LEN]);

/*
 * The Ed25519 signature of len bytes at data by the key at path.
 * Returns 0 or an error of vault_public; -ENOMEM.
 */
int vault_sign(struct vault *v, const char *path, const unsigned char *data,
    size_t len, unsigned char sig[VAULT_SIG_LEN]);

/*
 * Encrypts len bytes of UTF-8 text under key version: 0 and *out as
 * envelope_encrypt, -ENOKEY, or an error of envelope_encrypt.
 */
int vault_encrypt(struct vault *v, uint32_t version, const char *text,
    size_t len, char **out);

/*
 * Decrypts blob: 0 and *out as envelope_decrypt, -ENOKEY, or -EBADMSG
 * for every blob that does not decrypt; -ENOMEM.
 */
int vault_decrypt(struct vault *v, const char *blob, struct secret **out);

/* Re-encrypts blob under to_version: as envelope_rotate, or -ENOKEY. */
int vault_rotate(
    struct vault *v, const char *blob, uint32_t to_version, char **out);

/*
 * The SSH host key (KEYPATH_SSH_HOST) as an OpenSSH private key file:
 * 0 and *out (free with secret_free), -ENOKEY, -ENOMEM.
 */
int vault_hostkey(struct vault *v, struct secret **out);

#endif
