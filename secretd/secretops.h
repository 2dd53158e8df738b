/*
 * The operations of alknet-secretd, as the call protocol names them:
 * status, unlock, generate, lock, public, sign, encrypt, decrypt,
 * rotate and hostkey (docs/secretd.md gives their inputs and outputs).
 *
 * Inputs are checked strictly: an object with only the members the
 * operation reads, each of its type, so that a misspelt "passphrase"
 * is refused rather than unlocking other keys.  Error messages name the
 * operation or member at fault and never quote a value: no word of a
 * mnemonic, passphrase, plaintext or key ever appears in one.
 */
#ifndef ALKNET_SECRETOPS_H
#define ALKNET_SECRETOPS_H

#include <jansson.h>

#include "reply.h"
#include "vault.h"

#define SECRETOPS_NAME_MAX 64 /* longest operation or member name quoted */

struct secretops_result {
	json_t            *output; /* the answer, a new reference */
	struct reply_error err;    /* the failure; message in msg or static */
	char               msg[160];
};

/*
 * Runs operation name (a leading "/" is ignored) with input (borrowed;
 * NULL or JSON null reads as no members) on v.  Returns 0 with
 * r->output set, or a negative errno with r->err filled:
 *
 *	-ENOENT   no such operation          NOT_FOUND
 *	-ENOKEY   v is locked                LOCKED
 *	-EINVAL   the input is refused       INVALID_INPUT
 *	-ENOMEM   and other failures         INTERNAL
 */
int secretops_call(struct vault *v, const char *name, json_t *input,
    struct secretops_result *r);

#endif
