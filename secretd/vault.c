/*
 * The vault.  Derived nodes live in secret buffers, never on the stack,
 * so that no copy of a private key outlives the call in unlocked memory.
 */
#include <errno.h>
#include <stdlib.h>

#include <sodium.h>

#include "bip39.h"
#include "envelope.h"
#include "keypath.h"
#include "sshkey.h"
#include "vault.h"

struct vault {
	struct secret *seed; /* NULL while locked */
};

int
vault_new(struct vault **out)
{
	struct vault *v;

	if ((v = calloc(1, sizeof *v)) == NULL)
		return -ENOMEM;
	*out = v;
	return 0;
}

void
vault_free(struct vault *v)
{
	if (v == NULL)
		return;
	vault_lock(v);
	free(v);
}

int
vault_unlocked(const struct vault *v)
{
	return v->seed != NULL;
}

int
vault_unlock(struct vault *v, const char *mnemonic, const char *passphrase)
{
	struct secret *seed = NULL;
	int            rc;

	if (v->seed != NULL)
		return -EALREADY;
	if ((rc = secret_new(BIP39_SEED_LEN, &seed)) != 0)
		return rc;

	rc = bip39_to_seed(mnemonic, passphrase, secret_data(seed));
	if (rc != 0) {
		secret_free(seed);
		return rc;
	}
	v->seed = seed;
	return 0;
}

int
vault_generate(struct vault *v, size_t nwords, const char *passphrase,
    struct secret **mnemonic)
{
	struct secret *words = NULL;
	int            rc;

	if (v->seed != NULL)
		return -EALREADY;
	if ((rc = secret_new(BIP39_MNEMONIC_MAX, &words)) != 0)
		return rc;

	rc = bip39_generate(
	    nwords, (char *)secret_data(words), secret_len(words));
	if (rc == 0)
		rc = vault_unlock(
		    v, (const char *)secret_data(words), passphrase);
	if (rc != 0) {
		secret_free(words);
		return rc;
	}
	*mnemonic = words;
	return 0;
}

void
vault_lock(struct vault *v)
{
	secret_free(v->seed);
	v->seed = NULL;
}

/* The node at path, in a secret buffer the caller frees. */
static int
vault_node(struct vault *v, const char *path, struct secret **out)
{
	struct secret *node = NULL;
	int            rc;

	if (v->seed == NULL)
		return -ENOKEY;
	if ((rc = secret_new(sizeof(struct slip10_node), &node)) != 0)
		return rc;

	rc = slip10_derive(secret_data(v->seed), secret_len(v->seed), path,
	    (struct slip10_node *)secret_data(node));
	if (rc != 0) {
		secret_free(node);
		return rc;
	}
	*out = node;
	return 0;
}

/* A node is bytes only, so a secret buffer of any alignment holds one. */
static const struct slip10_node *
vault_node_of(const struct secret *s)
{
	return (const struct slip10_node *)secret_data(s);
}

int
vault_public(
    struct vault *v, const char *path, unsigned char pk[SLIP10_PUB_LEN])
{
	struct secret *node = NULL;
	int            rc;

	if ((rc = vault_node(v, path, &node)) != 0)
		return rc;

	slip10_public(vault_node_of(node), pk);
	secret_free(node);
	return 0;
}

int
vault_sign(struct vault *v, const char *path, const unsigned char *data,
    size_t len, unsigned char sig[VAULT_SIG_LEN])
{
	struct secret *node = NULL, *sk = NULL;
	unsigned char  pk[crypto_sign_PUBLICKEYBYTES];
	int            rc;

	if ((rc = vault_node(v, path, &node)) != 0)
		return rc;
	if ((rc = secret_new(crypto_sign_SECRETKEYBYTES, &sk)) != 0)
		goto out;

	crypto_sign_seed_keypair(pk, secret_data(sk), vault_node_of(node)->key);
	crypto_sign_detached(sig, NULL, data, len, secret_data(sk));

out:
	secret_free(sk);
	secret_free(node);
	return rc;
}

int
vault_encrypt(
    struct vault *v, uint32_t version, const char *text, size_t len, char **out)
{
	if (v->seed == NULL)
		return -ENOKEY;
	return envelope_encrypt(
	    secret_data(v->seed), secret_len(v->seed), version, text, len, out);
}

int
vault_decrypt(struct vault *v, const char *blob, struct secret **out)
{
	if (v->seed == NULL)
		return -ENOKEY;
	return envelope_decrypt(
	    secret_data(v->seed), secret_len(v->seed), blob, out, NULL);
}

int
vault_rotate(struct vault *v, const char *blob, uint32_t to_version, char **out)
{
	if (v->seed == NULL)
		return -ENOKEY;
	return envelope_rotate(
	    secret_data(v->seed), secret_len(v->seed), blob, to_version, out);
}

int
vault_hostkey(struct vault *v, struct secret **out)
{
	struct secret *node = NULL;
	int            rc;

	if ((rc = vault_node(v, KEYPATH_SSH_HOST, &node)) != 0)
		return rc;

	rc = sshkey_private_pem(vault_node_of(node), NULL, out);
	secret_free(node);
	return rc;
}
