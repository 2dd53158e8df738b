/*
 * SLIP-0010 key derivation for Ed25519: from a seed (a BIP39 seed, or
 * any 16 to 64 bytes) down a path of hardened indices to a private key
 * and chain code.
 *
 *	master  I = HMAC-SHA512(key "ed25519 seed", seed)
 *	child   I = HMAC-SHA512(key chain, 0x00 | key | ser32(i + 2^31))
 *
 * with the private key the left half of I and the chain code the right.
 * Ed25519 has hardened children only.  A path is "m" followed by any
 * number of "/" i "'" (or "/" i "h"), i a decimal number below 2^31
 * without leading zeros: "m/74'/0'/0'/0'".
 *
 * Nodes are secret: keep them in sodium_malloc'ed memory or wipe them
 * with sodium_memzero when done.  The caller has called sodium_init().
 */
#ifndef ALKNET_SLIP10_H
#define ALKNET_SLIP10_H

#include <stddef.h>
#include <stdint.h>

#define SLIP10_KEY_LEN   32
#define SLIP10_PUB_LEN   32
#define SLIP10_SEED_MIN  16
#define SLIP10_SEED_MAX  64
#define SLIP10_MAX_DEPTH 16
#define SLIP10_INDEX_MAX 0x7fffffffu /* highest index before hardening */
#define SLIP10_PATH_MAX  (2 + SLIP10_MAX_DEPTH * 12) /* with the NUL */

/* One point of the tree. */
struct slip10_node {
	unsigned char key[SLIP10_KEY_LEN];   /* private key: an Ed25519 seed */
	unsigned char chain[SLIP10_KEY_LEN]; /* chain code */
};

/*
 * Reads path into its indices (as written, before hardening) and their
 * number.  Returns 0, -EINVAL for anything but the form above (no "m",
 * an empty, non-decimal or unhardened component, an index above
 * SLIP10_INDEX_MAX), or -E2BIG past SLIP10_MAX_DEPTH components.
 */
int slip10_parse_path(
    const char *path, uint32_t index[SLIP10_MAX_DEPTH], size_t *depth);

/*
 * The master node of seed (len bytes, SLIP10_SEED_MIN to
 * SLIP10_SEED_MAX).  Returns 0 or -EINVAL for another length.
 */
int slip10_master(
    const unsigned char *seed, size_t len, struct slip10_node *out);

/*
 * The hardened child index (0 to SLIP10_INDEX_MAX; the 2^31 is added
 * here) of parent.  out may be parent.  Returns 0 or -EINVAL.
 */
int slip10_child(
    const struct slip10_node *parent, uint32_t index, struct slip10_node *out);

/*
 * Puts into node the node at path below the master node of seed.
 * Returns 0 or an error of slip10_master or slip10_parse_path; node is
 * wiped on failure.
 */
int slip10_derive(const unsigned char *seed, size_t len, const char *path,
    struct slip10_node *node);

/* The Ed25519 public key of node's private key. */
void slip10_public(const struct slip10_node *node, unsigned char pk[32]);

#endif
