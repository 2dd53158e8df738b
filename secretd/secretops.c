/*
 * The operations, as a table of names, the members each reads and a
 * handler.  A handler runs only after its input has passed the table's
 * check, and only while unlocked unless the table says otherwise.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "bip39.h"
#include "envelope.h"
#include "keypath.h"
#include "secretops.h"
#include "sshkey.h"

#define SECRETOPS_MEMBERS_MAX 3
#define SECRETOPS_WORDS_DFLT  24

#define REQUIRED 0x1 /* the member must be there */

struct member {
	const char *name;
	json_type   type; /* JSON_STRING, JSON_INTEGER or JSON_OBJECT */
	int         flags;
};

struct op {
	const char   *name;
	int           locked_ok; /* runs while the vault is locked */
	struct member members[SECRETOPS_MEMBERS_MAX + 1];
	int (*fn)(struct vault *v, json_t *in, struct secretops_result *r);
};

/* Fills r's error and returns rc, so that handlers end in one line. */
static int
secretops_fail(
    struct secretops_result *r, int rc, enum reply_code code, const char *msg)
{
	r->err.code = code;
	r->err.message = msg;
	r->err.retryable = 0;
	r->err.details = NULL;
	return rc;
}

static int
secretops_invalid(struct secretops_result *r, const char *msg)
{
	return secretops_fail(r, -EINVAL, REPLY_INVALID_INPUT, msg);
}

static int
secretops_internal(struct secretops_result *r, int rc)
{
	return secretops_fail(r, rc < 0 ? rc : -EIO, REPLY_INTERNAL,
	    rc == -ENOMEM ? "out of memory" : "internal error");
}

/* Sets the output, or fails with ENOMEM when there is none. */
static int
secretops_output(struct secretops_result *r, json_t *out)
{
	if (out == NULL)
		return secretops_internal(r, -ENOMEM);
	r->output = out;
	return 0;
}

/* Whether name may be quoted in a message: short, [a-z0-9_/-] only. */
static int
secretops_quotable(const char *name)
{
	size_t len = strlen(name);

	return len > 0 && len <= SECRETOPS_NAME_MAX &&
	    strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_/-") == len;
}

/* Names the member an operation does not read, when it can be quoted. */
static int
secretops_unexpected(struct secretops_result *r, const char *name)
{
	if (!secretops_quotable(name))
		return secretops_invalid(r, "unexpected member in input");
	snprintf(r->msg, sizeof r->msg, "unexpected member %s", name);
	return secretops_invalid(r, r->msg);
}

static const char *
secretops_type_name(json_type type)
{
	switch (type) {
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	default:
		return "an object";
	}
}

static const struct member *
secretops_member_find(const struct op *op, const char *name)
{
	const struct member *m;

	for (m = op->members; m->name != NULL; m++) {
		if (strcmp(m->name, name) == 0)
			return m;
	}
	return NULL;
}

/*
 * No member but those of op, each of its type.  Strings hold no NUL:
 * the frame decoder refuses \u0000, so C may read them as text.
 */
static int
secretops_check_names(
    const struct op *op, json_t *in, struct secretops_result *r)
{
	const struct member *m;
	const char          *key;
	json_t              *value;

	json_object_foreach(in, key, value)
	{
		if ((m = secretops_member_find(op, key)) == NULL)
			return secretops_unexpected(r, key);
		if (json_typeof(value) != m->type) {
			snprintf(r->msg, sizeof r->msg, "%s must be %s",
			    m->name, secretops_type_name(m->type));
			return secretops_invalid(r, r->msg);
		}
	}
	return 0;
}

/* The input as op reads it, or an error saying what is wrong. */
static int
secretops_check(const struct op *op, json_t *in, struct secretops_result *r)
{
	const struct member *m;
	int                  rc;

	if (!json_is_object(in))
		return secretops_invalid(r, "input must be an object");
	if ((rc = secretops_check_names(op, in, r)) != 0)
		return rc;
	for (m = op->members; m->name != NULL; m++) {
		if ((m->flags & REQUIRED) &&
		    json_object_get(in, m->name) == NULL) {
			snprintf(r->msg, sizeof r->msg, "missing %s", m->name);
			return secretops_invalid(r, r->msg);
		}
	}
	return 0;
}

/* The string member name of in, or NULL when absent. */
static const char *
secretops_string(json_t *in, const char *name)
{
	return json_string_value(json_object_get(in, name));
}

/* A key version (member name, default dflt) within what has a key. */
static int
secretops_version(json_t *in, const char *name, json_int_t dflt,
    uint32_t *version, struct secretops_result *r)
{
	json_t    *j = json_object_get(in, name);
	json_int_t n = j != NULL ? json_integer_value(j) : dflt;

	if (n < KEYPATH_VERSION_MIN || n > (json_int_t)KEYPATH_VERSION_MAX) {
		snprintf(r->msg, sizeof r->msg, "%s must be from %u to %u",
		    name, KEYPATH_VERSION_MIN, KEYPATH_VERSION_MAX);
		return secretops_invalid(r, r->msg);
	}
	*version = (uint32_t)n;
	return 0;
}

static int
secretops_path_fail(struct secretops_result *r, int rc)
{
	if (rc == -E2BIG)
		return secretops_invalid(r, "path is deeper than 16 levels");
	if (rc == -EINVAL)
		return secretops_invalid(r,
		    "path must be m/ then hardened indices, "
		    "as m/74'/0'/0'/0'");
	return secretops_internal(r, rc);
}

static int
secretops_state(struct vault *v, struct secretops_result *r)
{
	return secretops_output(r,
	    json_pack(
	        "{s:s}", "state", vault_unlocked(v) ? "unlocked" : "locked"));
}

static int
op_status(struct vault *v, json_t *in, struct secretops_result *r)
{
	return secretops_state(v, r);
}

static int
secretops_unlock_fail(struct secretops_result *r, int rc)
{
	if (rc == -EALREADY)
		return secretops_invalid(r, "already unlocked; lock first");
	if (rc == -ENOMEM)
		return secretops_internal(r, rc);

	/* Fixed texts that name the problem, never a word. */
	return secretops_invalid(r, bip39_strerror(rc));
}

static int
op_unlock(struct vault *v, json_t *in, struct secretops_result *r)
{
	int rc;

	rc = vault_unlock(v, secretops_string(in, "mnemonic"),
	    secretops_string(in, "passphrase"));
	if (rc != 0)
		return secretops_unlock_fail(r, rc);
	return secretops_state(v, r);
}

static int
op_generate(struct vault *v, json_t *in, struct secretops_result *r)
{
	struct secret *words = NULL;
	json_t        *j = json_object_get(in, "words");
	json_int_t n = j != NULL ? json_integer_value(j) : SECRETOPS_WORDS_DFLT;
	int        rc;

	if (vault_unlocked(v))
		return secretops_unlock_fail(r, -EALREADY);
	if (n != 12 && n != 15 && n != 18 && n != 21 && n != 24)
		return secretops_invalid(
		    r, "words must be 12, 15, 18, 21 or 24");

	rc = vault_generate(
	    v, (size_t)n, secretops_string(in, "passphrase"), &words);
	if (rc != 0)
		return secretops_unlock_fail(r, rc);
	rc = secretops_output(r,
	    json_pack("{s:s}", "mnemonic", (const char *)secret_data(words)));
	secret_free(words);
	return rc;
}

static int
op_lock(struct vault *v, json_t *in, struct secretops_result *r)
{
	vault_lock(v);
	return secretops_state(v, r);
}

static int
op_public(struct vault *v, json_t *in, struct secretops_result *r)
{
	unsigned char pk[SLIP10_PUB_LEN];
	char          line[SSHKEY_LINE_MAX], fp[SSHKEY_FINGERPRINT_MAX];
	int           rc;

	if ((rc = vault_public(v, secretops_string(in, "path"), pk)) != 0)
		return secretops_path_fail(r, rc);
	if ((rc = sshkey_public_line(pk, NULL, line, sizeof line)) != 0 ||
	    (rc = sshkey_fingerprint(pk, fp, sizeof fp)) != 0)
		return secretops_internal(r, rc);
	return secretops_output(
	    r, json_pack("{s:s,s:s}", "key", line, "fingerprint", fp));
}

/* The bytes of base64 member name: *out malloc'ed, the caller frees. */
static int
secretops_base64(json_t *in, const char *name, unsigned char **out, size_t *len,
    struct secretops_result *r)
{
	json_t        *j = json_object_get(in, name);
	size_t         slen = json_string_length(j), max = slen / 4 * 3 + 1;
	unsigned char *buf;
	const char    *end;

	if ((buf = malloc(max)) == NULL)
		return secretops_internal(r, -ENOMEM);
	if (sodium_base642bin(buf, max, json_string_value(j), slen, NULL, len,
	        &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != json_string_value(j) + slen) {
		free(buf);
		snprintf(
		    r->msg, sizeof r->msg, "%s must be standard base64", name);
		return secretops_invalid(r, r->msg);
	}
	*out = buf;
	return 0;
}

static int
op_sign(struct vault *v, json_t *in, struct secretops_result *r)
{
	unsigned char *data = NULL, sig[VAULT_SIG_LEN];
	char           b64[sodium_base64_ENCODED_LEN(
	              VAULT_SIG_LEN, sodium_base64_VARIANT_ORIGINAL)];
	size_t         len;
	int            rc;

	if ((rc = secretops_base64(in, "data", &data, &len, r)) != 0)
		return rc;
	rc = vault_sign(v, secretops_string(in, "path"), data, len, sig);
	free(data);
	if (rc != 0)
		return secretops_path_fail(r, rc);

	sodium_bin2base64(
	    b64, sizeof b64, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);
	return secretops_output(r, json_pack("{s:s}", "signature", b64));
}

/* An envelope's JSON text as the answer, an object. */
static int
secretops_envelope_output(struct secretops_result *r, char *text)
{
	json_t *out = json_loads(text, 0, NULL);

	free(text);
	return secretops_output(r, out);
}

static int
secretops_envelope_fail(struct secretops_result *r, int rc, const char *version)
{
	if (rc == -EBADMSG)
		return secretops_invalid(r, "the envelope does not decrypt");
	if (rc == -EFBIG)
		return secretops_invalid(r, "plaintext is longer than 64 MiB");
	if (rc == -EILSEQ)
		return secretops_invalid(r, "plaintext is not UTF-8");
	if (rc == -EINVAL) {
		snprintf(r->msg, sizeof r->msg, "no key for that %s", version);
		return secretops_invalid(r, r->msg);
	}
	return secretops_internal(r, rc);
}

static int
op_encrypt(struct vault *v, json_t *in, struct secretops_result *r)
{
	json_t  *text = json_object_get(in, "plaintext");
	char    *out = NULL;
	uint32_t version;
	int      rc;

	if ((rc = secretops_version(
	         in, "key_version", KEYPATH_VERSION_MIN, &version, r)) != 0)
		return rc;
	rc = vault_encrypt(v, version, json_string_value(text),
	    json_string_length(text), &out);
	if (rc != 0)
		return secretops_envelope_fail(r, rc, "key_version");
	return secretops_envelope_output(r, out);
}

/* The envelope member as the JSON text the envelope module reads. */
static int
secretops_envelope_text(json_t *in, char **text, struct secretops_result *r)
{
	if ((*text = json_dumps(
	         json_object_get(in, "envelope"), JSON_COMPACT)) == NULL)
		return secretops_internal(r, -ENOMEM);
	return 0;
}

static int
op_decrypt(struct vault *v, json_t *in, struct secretops_result *r)
{
	struct secret *plain = NULL;
	char          *text = NULL;
	int            rc;

	if ((rc = secretops_envelope_text(in, &text, r)) != 0)
		return rc;
	rc = vault_decrypt(v, text, &plain);
	free(text);
	if (rc != 0)
		return secretops_envelope_fail(r, rc, "key_version");

	rc = secretops_output(r,
	    json_pack("{s:s%}", "plaintext", (const char *)secret_data(plain),
	        secret_len(plain)));
	secret_free(plain);
	return rc;
}

static int
op_rotate(struct vault *v, json_t *in, struct secretops_result *r)
{
	char    *text = NULL, *out = NULL;
	uint32_t to;
	int      rc;

	if ((rc = secretops_version(in, "to", 0, &to, r)) != 0)
		return rc;
	if ((rc = secretops_envelope_text(in, &text, r)) != 0)
		return rc;
	rc = vault_rotate(v, text, to, &out);
	free(text);
	if (rc != 0)
		return secretops_envelope_fail(r, rc, "version to");
	return secretops_envelope_output(r, out);
}

static int
op_hostkey(struct vault *v, json_t *in, struct secretops_result *r)
{
	struct secret *pem = NULL;
	int            rc;

	if ((rc = vault_hostkey(v, &pem)) != 0)
		return secretops_internal(r, rc);
	rc = secretops_output(r,
	    json_pack("{s:s}", "private_key", (const char *)secret_data(pem)));
	secret_free(pem);
	return rc;
}

static const struct op ops[] = {
    {"status", 1, {{NULL}}, op_status},
    {"unlock", 1,
        {{"mnemonic", JSON_STRING, REQUIRED}, {"passphrase", JSON_STRING, 0},
            {NULL}},
        op_unlock},
    {"generate", 1,
        {{"words", JSON_INTEGER, 0}, {"passphrase", JSON_STRING, 0}, {NULL}},
        op_generate},
    {"lock", 1, {{NULL}}, op_lock},
    {"public", 0, {{"path", JSON_STRING, REQUIRED}, {NULL}}, op_public},
    {"sign", 0,
        {{"path", JSON_STRING, REQUIRED}, {"data", JSON_STRING, REQUIRED},
            {NULL}},
        op_sign},
    {"encrypt", 0,
        {{"plaintext", JSON_STRING, REQUIRED}, {"key_version", JSON_INTEGER, 0},
            {NULL}},
        op_encrypt},
    {"decrypt", 0, {{"envelope", JSON_OBJECT, REQUIRED}, {NULL}}, op_decrypt},
    {"rotate", 0,
        {{"envelope", JSON_OBJECT, REQUIRED}, {"to", JSON_INTEGER, REQUIRED},
            {NULL}},
        op_rotate},
    {"hostkey", 0, {{NULL}}, op_hostkey},
};

static const struct op *
secretops_find(const char *name)
{
	size_t i;

	if (*name == '/')
		name++;
	for (i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		if (strcmp(ops[i].name, name) == 0)
			return &ops[i];
	}
	return NULL;
}

static int
secretops_unknown(struct secretops_result *r, const char *name)
{
	const char *msg = "unknown operation";

	if (secretops_quotable(name)) {
		snprintf(r->msg, sizeof r->msg, "unknown operation %s", name);
		msg = r->msg;
	}
	return secretops_fail(r, -ENOENT, REPLY_NOT_FOUND, msg);
}

int
secretops_call(struct vault *v, const char *name, json_t *input,
    struct secretops_result *r)
{
	const struct op *op;
	json_t          *in = input;
	int              rc;

	r->output = NULL;
	if ((op = secretops_find(name)) == NULL)
		return secretops_unknown(r, name);
	if (!op->locked_ok && !vault_unlocked(v))
		return secretops_fail(
		    r, -ENOKEY, REPLY_LOCKED, "locked: unlock first");

	/* No input at all is an empty one. */
	if (in == NULL || json_is_null(in))
		in = json_object();
	else
		json_incref(in);
	if (in == NULL)
		return secretops_internal(r, -ENOMEM);

	if ((rc = secretops_check(op, in, r)) == 0)
		rc = op->fn(v, in, r);
	json_decref(in);
	return rc;
}
