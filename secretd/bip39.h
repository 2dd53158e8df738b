/*
 * BIP39 mnemonics with the English word list: 12, 15, 18, 21 or 24 words
 * carry 128 to 256 bits of entropy and a checksum of ENT/32 bits (the
 * first bits of the entropy's SHA-256).  The seed is
 *
 *	PBKDF2-HMAC-SHA512(NFKD(mnemonic), "mnemonic" NFKD(passphrase),
 *	    2048 rounds) -> 64 bytes
 *
 * A mnemonic is read in its one written form: lowercase list words
 * separated by single spaces, nothing before the first or after the last.
 * Errors never quote the words, which are the secret.
 *
 * The caller has called sodium_init().
 */
#ifndef ALKNET_BIP39_H
#define ALKNET_BIP39_H

#include <stddef.h>

#define BIP39_WORDS        2048
#define BIP39_SEED_LEN     64
#define BIP39_ENTROPY_MAX  32  /* bytes, for 24 words */
#define BIP39_MNEMONIC_MAX 216 /* 24 words of up to 8 letters, spaces, NUL */

/*
 * Word i (0 to 2047) of the English list, or NULL when i is out of
 * range.
 */
const char *bip39_word(unsigned i);

/*
 * The position of word (NUL-terminated) in the English list, or -ENOENT
 * when it is not a list word.  The time taken does not depend on which
 * word it is.
 */
int bip39_word_index(const char *word);

/*
 * Writes the mnemonic of len bytes of entropy (16, 20, 24, 28 or 32)
 * into out as a NUL-terminated string.  Returns 0, -EINVAL for another
 * len, or -ENOSPC when outlen is too small (BIP39_MNEMONIC_MAX always
 * suffices).
 */
int bip39_from_entropy(
    const unsigned char *ent, size_t len, char *out, size_t outlen);

/*
 * Reads mnemonic back into its entropy: *len bytes (16 to 32) into ent,
 * which holds BIP39_ENTROPY_MAX bytes.  Returns 0 or the first of these
 * problems found:
 *
 *	-EINVAL   not 12, 15, 18, 21 or 24 words in the written form
 *	-ENOENT   a word is not on the English list
 *	-EBADMSG  every word is on the list but the checksum is wrong
 *
 * ent is wiped on failure.
 */
int bip39_to_entropy(
    const char *mnemonic, unsigned char ent[BIP39_ENTROPY_MAX], size_t *len);

/* Whether mnemonic is valid: 0 or an error of bip39_to_entropy. */
int bip39_check(const char *mnemonic);

/*
 * Writes a fresh mnemonic of nwords words (12, 15, 18, 21 or 24), its
 * entropy from the operating system's random source, into out.  Returns
 * 0, -EINVAL for another count, or -ENOSPC as bip39_from_entropy.
 */
int bip39_generate(size_t nwords, char *out, size_t outlen);

/*
 * Computes the seed of mnemonic and passphrase (both NUL-terminated
 * UTF-8; passphrase may be NULL for none) into seed.  The mnemonic must
 * be valid, so that a mistyped phrase is refused rather than silently
 * giving other keys: the errors of bip39_to_entropy, and -EILSEQ for a
 * passphrase that is not UTF-8, -ENOMEM.  seed is wiped on failure.
 */
int bip39_to_seed(const char *mnemonic, const char *passphrase,
    unsigned char seed[BIP39_SEED_LEN]);

/*
 * A fixed message for an error of this module, naming the problem and
 * never the input: for -ENOENT "a word is not in the BIP39 English
 * list", for -EBADMSG "the BIP39 checksum does not match", and so on.
 */
const char *bip39_strerror(int rc);

#endif
