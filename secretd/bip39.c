/*
 * BIP39.  Words are found by a scan of the whole list that takes the same
 * time whatever the word, because the words are the secret.  The bits of
 * a mnemonic are laid out as entropy then checksum, 11 bits a word, most
 * significant bit first.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>
#include <uninorm.h>
#include <unistr.h>

#include "bip39.h"
#include "secret.h"

#define BIP39_WORD_MAX  8 /* letters in the longest English word */
#define BIP39_MAX_WORDS 24
#define BIP39_ROUNDS    2048
#define BIP39_SALT      "mnemonic"

/* Generated at build time from bip39_english.txt; NUL-padded to 9. */
extern const char bip39__english[BIP39_WORDS][BIP39_WORD_MAX + 1];

const char *
bip39_word(unsigned i)
{
	return i < BIP39_WORDS ? bip39__english[i] : NULL;
}

/* The index of the len letters at word, or -ENOENT; see bip39_word_index. */
static int
bip39_lookup(const char *word, size_t len)
{
	char     pad[BIP39_WORD_MAX + 1] = {0};
	unsigned i, j, eq, found = 0, index = 0;

	if (len == 0 || len > BIP39_WORD_MAX)
		return -ENOENT;
	memcpy(pad, word, len);

	/* Every entry is compared in full; a match is kept by masking. */
	for (i = 0; i < BIP39_WORDS; i++) {
		unsigned diff = 0;

		for (j = 0; j < sizeof pad; j++)
			diff |= (unsigned char)(pad[j] ^ bip39__english[i][j]);
		eq = ((diff - 1) >> 8) & 1;
		index |= i & (0u - eq);
		found |= eq;
	}

	sodium_memzero(pad, sizeof pad);
	return found ? (int)index : -ENOENT;
}

int
bip39_word_index(const char *word)
{
	return bip39_lookup(word, strnlen(word, BIP39_WORD_MAX + 1));
}

/* Entropy bytes for nwords words, or 0 when no mnemonic has that many. */
static size_t
bip39_entropy_len(size_t nwords)
{
	if (nwords < 12 || nwords > BIP39_MAX_WORDS || nwords % 3 != 0)
		return 0;
	return nwords * 4 / 3;
}

/* The 11 bits of buf starting at bit pos. */
static unsigned
bip39_get11(const unsigned char *buf, size_t pos)
{
	unsigned v = 0, k;

	for (k = 0; k < 11; k++, pos++)
		v = v << 1 | ((buf[pos / 8] >> (7 - pos % 8)) & 1);
	return v;
}

/* Stores the 11 bits of v into buf (zeroed) from bit pos on. */
static void
bip39_put11(unsigned char *buf, size_t pos, unsigned v)
{
	int k;

	for (k = 10; k >= 0; k--, pos++)
		buf[pos / 8] |= ((v >> k) & 1) << (7 - pos % 8);
}

int
bip39_from_entropy(
    const unsigned char *ent, size_t len, char *out, size_t outlen)
{
	unsigned char bits[BIP39_ENTROPY_MAX + 1], hash[32];
	size_t        nwords = len * 3 / 4, i, at = 0, wlen;
	const char   *w;

	if (len == 0 || bip39_entropy_len(nwords) != len)
		return -EINVAL;

	/* The checksum is at most 8 bits: one byte past the entropy. */
	crypto_hash_sha256(hash, ent, len);
	memcpy(bits, ent, len);
	bits[len] = hash[0];

	/* XXX: the copying takes time that depends on the words' lengths. */
	for (i = 0; i < nwords; i++) {
		w = bip39__english[bip39_get11(bits, i * 11)];
		wlen = strlen(w);
		if (at + wlen + 1 > outlen) {
			sodium_memzero(out, outlen);
			break;
		}
		memcpy(out + at, w, wlen);
		at += wlen;
		out[at++] = i + 1 < nwords ? ' ' : '\0';
	}

	sodium_memzero(bits, sizeof bits);
	sodium_memzero(hash, sizeof hash);
	return i == nwords ? 0 : -ENOSPC;
}

/*
 * Splits mnemonic into the list indices of its words.  Returns the
 * number of words or -EINVAL for a form other than single spaces between
 * 12 to 24 words, then -ENOENT for a word off the list.
 */
static int
bip39_split(const char *mnemonic, unsigned index[BIP39_MAX_WORDS])
{
	const char *p = mnemonic, *sp;
	size_t      n = 0, len;
	int         rc = 0, got;

	for (;;) {
		sp = strchrnul(p, ' ');
		len = (size_t)(sp - p);
		if (len == 0 || n == BIP39_MAX_WORDS)
			return -EINVAL;

		/* The form is judged before any word, so keep going. */
		if ((got = bip39_lookup(p, len)) < 0)
			rc = got;
		else
			index[n] = (unsigned)got;
		n++;

		if (*sp == '\0')
			break;
		p = sp + 1;
	}

	if (bip39_entropy_len(n) == 0)
		return -EINVAL;
	return rc < 0 ? rc : (int)n;
}

int
bip39_to_entropy(
    const char *mnemonic, unsigned char ent[BIP39_ENTROPY_MAX], size_t *len)
{
	unsigned      index[BIP39_MAX_WORDS];
	unsigned char bits[BIP39_ENTROPY_MAX + 1] = {0}, hash[32];
	size_t        elen, cs, i;
	int           n, rc = 0;

	if ((n = bip39_split(mnemonic, index)) < 0) {
		rc = n;
		goto out;
	}

	for (i = 0; i < (size_t)n; i++)
		bip39_put11(bits, i * 11, index[i]);
	elen = bip39_entropy_len((size_t)n);
	cs = elen / 4; /* checksum bits: ENT / 32 */

	crypto_hash_sha256(hash, bits, elen);
	if ((hash[0] ^ bits[elen]) >> (8 - cs) != 0) {
		rc = -EBADMSG;
		goto out;
	}
	memcpy(ent, bits, elen);
	*len = elen;

out:
	if (rc != 0)
		sodium_memzero(ent, BIP39_ENTROPY_MAX);
	sodium_memzero(index, sizeof index);
	sodium_memzero(bits, sizeof bits);
	sodium_memzero(hash, sizeof hash);
	return rc;
}

int
bip39_check(const char *mnemonic)
{
	unsigned char ent[BIP39_ENTROPY_MAX];
	size_t        len;
	int           rc;

	rc = bip39_to_entropy(mnemonic, ent, &len);
	sodium_memzero(ent, sizeof ent);
	return rc;
}

int
bip39_generate(size_t nwords, char *out, size_t outlen)
{
	unsigned char ent[BIP39_ENTROPY_MAX];
	size_t        len;
	int           rc;

	if ((len = bip39_entropy_len(nwords)) == 0)
		return -EINVAL;

	randombytes_buf(ent, len);
	rc = bip39_from_entropy(ent, len, out, outlen);
	sodium_memzero(ent, sizeof ent);
	return rc;
}

/*
 * Puts prefix then the NFKD form of s into a new secret *out.  Returns
 * 0, -EILSEQ when s is not UTF-8, or -ENOMEM.
 */
static int
bip39_nfkd(const char *prefix, const char *s, struct secret **out)
{
	size_t   plen = strlen(prefix), slen = strlen(s), nlen = 0;
	uint8_t *norm = NULL;
	int      rc;

	if (u8_check((const uint8_t *)s, slen) != NULL)
		return -EILSEQ;

	/*
	 * XXX: libunistring's own working buffers are freed unwiped; only
	 * the result is in our hands.
	 */
	if (slen > 0 &&
	    (norm = u8_normalize(
	         UNINORM_NFKD, (const uint8_t *)s, slen, NULL, &nlen)) == NULL)
		return -ENOMEM;

	if ((rc = secret_new(plen + nlen, out)) == 0) {
		memcpy(secret_data(*out), prefix, plen);
		if (nlen > 0)
			memcpy(secret_data(*out) + plen, norm, nlen);
	}

	if (norm != NULL) {
		sodium_memzero(norm, nlen);
		free(norm);
	}
	return rc;
}

int
bip39_to_seed(const char *mnemonic, const char *passphrase,
    unsigned char seed[BIP39_SEED_LEN])
{
	struct secret *pass = NULL, *salt = NULL;
	int            rc;

	if ((rc = bip39_check(mnemonic)) != 0)
		goto out;
	if ((rc = bip39_nfkd("", mnemonic, &pass)) != 0 ||
	    (rc = bip39_nfkd(
	         BIP39_SALT, passphrase ? passphrase : "", &salt)) != 0)
		goto out;

	if (PKCS5_PBKDF2_HMAC((const char *)secret_data(pass),
	        (int)secret_len(pass), secret_data(salt), (int)secret_len(salt),
	        BIP39_ROUNDS, EVP_sha512(), BIP39_SEED_LEN, seed) != 1)
		rc = -ENOMEM;

out:
	if (rc != 0)
		sodium_memzero(seed, BIP39_SEED_LEN);
	secret_free(pass);
	secret_free(salt);
	return rc;
}

const char *
bip39_strerror(int rc)
{
	switch (rc) {
	case 0:
		return "success";
	case -EINVAL:
		return "a BIP39 mnemonic is 12, 15, 18, 21 or 24 words "
		       "separated by single spaces";
	case -ENOENT:
		return "a word is not in the BIP39 English list";
	case -EBADMSG:
		return "the BIP39 checksum does not match";
	case -EILSEQ:
		return "the passphrase is not valid UTF-8";
	case -ENOSPC:
		return "the output buffer is too small";
	case -ENOMEM:
		return "out of memory";
	default:
		return "BIP39 error";
	}
}
