/*
 * Encrypted data, in the JSON form shared with storage and the older
 * TypeScript service:
 *
 *	{"key_version":2,"salt":"<b64>","iv":"<b64>","data":"<b64>"}
 *
 * AES-256-GCM with the key of the blob's version (the private key at
 * keypath_encryption(version) below the seed), a fresh 12-byte IV for
 * every call, no associated data; data is the ciphertext then the
 * 16-byte tag.  salt is 32 random bytes that version 2 and later do not
 * use.  Base64 is the standard alphabet with padding.  The plaintext is
 * UTF-8.
 *
 * Every way a blob can fail to decrypt (not JSON, other or missing
 * members, bad base64, wrong lengths, a version with no key, a tag that
 * does not match, a plaintext that is not UTF-8) is the one error
 * -EBADMSG, so that a failure tells nothing about the key or text.
 *
 * The caller has called sodium_init().
 */
#ifndef ALKNET_ENVELOPE_H
#define ALKNET_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "secret.h"

#define ENVELOPE_KEY_LEN  32
#define ENVELOPE_IV_LEN   12
#define ENVELOPE_SALT_LEN 32
#define ENVELOPE_TAG_LEN  16
#define ENVELOPE_TEXT_MAX (64u << 20) /* plaintext bytes per blob */

/*
 * AES-256-GCM encryption of len bytes at in under key and iv, with no
 * associated data: writes len bytes of ciphertext then the tag to out
 * (len + ENVELOPE_TAG_LEN bytes).  Returns 0, -EFBIG past
 * ENVELOPE_TEXT_MAX, or -ENOMEM.
 */
int envelope_seal(const unsigned char key[ENVELOPE_KEY_LEN],
    const unsigned char iv[ENVELOPE_IV_LEN], const unsigned char *in,
    size_t len, unsigned char *out);

/*
 * The inverse of envelope_seal: len bytes at in are ciphertext then tag,
 * and len - ENVELOPE_TAG_LEN bytes of plaintext go to out.  Returns 0,
 * -EBADMSG when len is short or the tag does not match (out is then
 * wiped), or -ENOMEM.
 */
int envelope_open(const unsigned char key[ENVELOPE_KEY_LEN],
    const unsigned char iv[ENVELOPE_IV_LEN], const unsigned char *in,
    size_t len, unsigned char *out);

/*
 * Encrypts len bytes of UTF-8 text with the key of version below seed
 * (seedlen bytes).  Returns 0 and *out, the JSON text (the caller frees
 * it with free), or -EINVAL for a version without a key or a seed of
 * the wrong size, -EILSEQ for text that is not UTF-8, -EFBIG past
 * ENVELOPE_TEXT_MAX, -ENOMEM.
 */
int envelope_encrypt(const unsigned char *seed, size_t seedlen,
    uint32_t version, const char *text, size_t len, char **out);

/*
 * Decrypts blob (NUL-terminated JSON) with the key of its key_version.
 * Returns 0 and *out, the text as a secret (secret_len bytes, then a
 * NUL; the caller frees it with secret_free), or -EBADMSG for any blob
 * that does not decrypt, -EINVAL for a seed of the wrong size, -ENOMEM.
 * The version found goes to *version when version is not NULL.
 */
int envelope_decrypt(const unsigned char *seed, size_t seedlen,
    const char *blob, struct secret **out, uint32_t *version);

/*
 * Decrypts blob and encrypts its text again with the key of to_version.
 * Returns 0 and *out as envelope_encrypt, -EINVAL for a to_version
 * without a key, or an error of envelope_decrypt.
 */
int envelope_rotate(const unsigned char *seed, size_t seedlen, const char *blob,
    uint32_t to_version, char **out);

#endif
