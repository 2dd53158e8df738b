/*
 * Tokens: a short proof that the holder of an Ed25519 key spoke recently,
 * for callers that cannot run SSH (HTTP, browsers).
 *
 *	token = base64url, unpadded, of  key_id[32] | ts[8] | sig[64]
 *
 * key_id is the SHA-256 of the raw 32-byte Ed25519 public key (not of the
 * SSH key blob), ts the unix time in seconds, big-endian, and sig the
 * Ed25519 signature over key_id | ts.  That is 104 bytes, 139 characters.
 * A token is good while |now - ts| <= max age; a token may be replayed
 * inside its window.  Tokens are bearer secrets: never log one.
 *
 * The caller has called sodium_init().
 */
#ifndef ALKNET_TOKEN_H
#define ALKNET_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define TOKEN_KEY_ID_LEN 32
#define TOKEN_BYTES      104 /* decoded */
#define TOKEN_LEN        139 /* characters, the NUL not counted */
#define TOKEN_MAX_AGE    300 /* seconds either side of now */

/* What a lookup found: the key to check the signature with. */
struct token_key {
	unsigned char pk[32]; /* raw Ed25519 public key */
	size_t        index;  /* the caller's number for it, handed back */
};

/*
 * Looks up the key whose key id is id.  Returns 0 and fills *key, or
 * -ENOENT when no key has that id.  The caller of token_verify supplies
 * it; arg is passed through.
 */
typedef int (*token_lookup_cb)(
    void *arg, const unsigned char id[TOKEN_KEY_ID_LEN], struct token_key *key);

/* The key id of the raw Ed25519 public key pk: its SHA-256. */
void token_key_id(
    const unsigned char pk[32], unsigned char id[TOKEN_KEY_ID_LEN]);

/*
 * Writes the token for time now, signed with sk (libsodium's 64-byte
 * Ed25519 secret key, seed then public key), into out as a NUL-terminated
 * string.  Returns 0, or -ENOSPC when outlen < TOKEN_LEN + 1.
 */
int token_mint(
    const unsigned char sk[64], uint64_t now, char *out, size_t outlen);

/*
 * Checks token (NUL-terminated) against the keys lookup knows, at time
 * now, allowing max_age seconds either way.  The checks run in this
 * order, and the first that fails decides:
 *
 *	-EINVAL     not exactly TOKEN_LEN characters of the unpadded
 *	            base64url alphabet in canonical form
 *	-ENOENT     lookup knows no key with the token's key id
 *	-EPERM      the signature does not verify with that key
 *	-ETIMEDOUT  genuine, but ts is more than max_age from now
 *
 * Any other error lookup returns is passed on.  On success returns 0
 * and, when out is not NULL, the matched key in *out; the token's time
 * goes to *ts when ts is not NULL.
 */
int token_verify(const char *token, uint64_t now, unsigned max_age,
    token_lookup_cb lookup, void *arg, struct token_key *out, uint64_t *ts);

#endif
