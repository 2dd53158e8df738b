/*
 * OpenSSH user certificates (PROTOCOL.certkeys): parsing the blob a
 * client presents and deciding whether a trusted CA vouches for it.
 *
 * libssh only checks that the client holds the certified key; what the
 * certificate says is ours to check.  Only Ed25519 certified keys
 * (ssh-ed25519-cert-v01@openssh.com) are read.  CA keys may be
 * ssh-ed25519, RSA (signatures rsa-sha2-256 and rsa-sha2-512; SHA-1
 * "ssh-rsa" signatures are refused like current OpenSSH refuses them) or
 * ECDSA on nistp256, nistp384 and nistp521.
 *
 * Critical options: force-command is tolerated (alknet runs no
 * commands), source-address is enforced, verify-required is refused
 * because alknet cannot tell whether a security key asserted user
 * verification, and any other critical option is refused.  Extensions
 * are ignored except permit-port-forwarding, which a caller may demand.
 *
 * A parsed certificate is immutable.  Strings taken from it (key id,
 * principals, force-command) are the client's text: escape and cap them
 * before logging.
 */
#ifndef ALKNET_SSHCERT_H
#define ALKNET_SSHCERT_H

#include <stddef.h>
#include <stdint.h>

#define SSHCERT_USER 1
#define SSHCERT_HOST 2

/* Bounds of what sshcert_parse accepts. */
#define SSHCERT_BLOB_MAX       65536
#define SSHCERT_PRINCIPALS_MAX 256
#define SSHCERT_OPTIONS_MAX    64 /* critical options, and extensions */

/* Room for "SHA256:" and 43 characters of base64, with the NUL. */
#define SSHCERT_FP_LEN 51

struct sshcert;

/* What the session asks a certificate to cover. */
struct sshcert_want {
	const char *user;      /* the SSH user name asked for */
	const char *client_ip; /* numeric IPv4 or IPv6; NULL when unknown */
	uint64_t    now;       /* unix seconds */
	/* Set when the CA's line carries permit-port-forwarding. */
	int need_port_forwarding;
};

/*
 * Parses the certificate blob of len bytes (the whole wire encoding of
 * the key, as a client sends it).  The parse is strict: every
 * field present, nothing after the signature, no NUL inside text fields,
 * no critical option or extension named twice.  Nothing is verified
 * here; see sshcert_check.  Returns 0 and a new certificate in *out
 * (free with sshcert_free); -ENOTSUP for another certificate or key
 * type, -E2BIG past the bounds above, -EINVAL for a malformed blob,
 * -ENOMEM; on failure *out is untouched and err, when not NULL, holds a
 * fixed reason.
 */
int sshcert_parse(const unsigned char *blob, size_t len, struct sshcert **out,
    char *err, size_t errlen);

/*
 * The same for the base64 text of the blob, which is what libssh 0.10
 * gives out (ssh_pki_export_pubkey_base64); it has no call that exports
 * the blob itself.  Returns as sshcert_parse, and -EINVAL for base64
 * that does not decode.
 */
int sshcert_parse_base64(
    const char *b64, struct sshcert **out, char *err, size_t errlen);

/* Frees c; accepts NULL. */
void sshcert_free(struct sshcert *c);

/* SSHCERT_USER, SSHCERT_HOST or another number the CA wrote. */
uint32_t sshcert_type(const struct sshcert *c);

/* The key id, never NULL; lives as long as c. */
const char *sshcert_key_id(const struct sshcert *c);

uint64_t sshcert_serial(const struct sshcert *c);

/* Number of principals, and principal i (0 <= i < count). */
size_t      sshcert_principal_count(const struct sshcert *c);
const char *sshcert_principal(const struct sshcert *c, size_t i);

/* The validity window: valid_after <= now < valid_before. */
uint64_t sshcert_valid_after(const struct sshcert *c);
uint64_t sshcert_valid_before(const struct sshcert *c);

/* The force-command critical option, or NULL when there is none. */
const char *sshcert_force_command(const struct sshcert *c);

/* 1 when the certificate carries the extension called name, else 0. */
int sshcert_has_extension(const struct sshcert *c, const char *name);

/*
 * The blob of the certified key as a plain key ("ssh-ed25519" and its
 * 32 bytes), and the blob of the CA key as the certificate carries it.
 * Both set *len and live as long as c.
 */
const unsigned char *sshcert_key_blob(const struct sshcert *c, size_t *len);
const unsigned char *sshcert_ca_blob(const struct sshcert *c, size_t *len);

/*
 * The OpenSSH fingerprint ("SHA256:" and unpadded base64 of the SHA-256
 * of the blob) of the certified plain key, which is what ssh-keygen -lf
 * prints for the user's key, or of the CA key.  Return 0, or -EINVAL
 * when buf (SSHCERT_FP_LEN is enough) is too small.
 */
int sshcert_key_fingerprint(const struct sshcert *c, char *buf, size_t len);
int sshcert_ca_fingerprint(const struct sshcert *c, char *buf, size_t len);

/*
 * Decides whether the CA whose key blob is ca_blob vouches for c as the
 * user w->user from w->client_ip at w->now.  The CA key must be the
 * certificate's signature key byte for byte and its signature must
 * verify; the certificate must be a user certificate, inside its
 * validity window, list w->user among at least one principal (an empty
 * list is refused, as OpenSSH refuses it), satisfy its critical options,
 * and carry permit-port-forwarding when w->need_port_forwarding is set.
 *
 * Returns 0 when accepted, -EPERM when refused, -EINVAL for missing
 * arguments, -ENOMEM.  When reason is not NULL it gets a fixed phrase
 * (never text from the certificate): "untrusted ca", "unsupported signature
 * algorithm", "bad signature", "host certificate", "not a user
 * certificate", "not yet valid", "expired", "no principals", "principal
 * not listed", "bad source address list", "source address not allowed",
 * "verify required not supported", "unknown critical option", "port
 * forwarding not permitted"; "invalid argument" with -EINVAL, "out of
 * memory" with -ENOMEM; NULL when accepted.
 */
int sshcert_check(const struct sshcert *c, const unsigned char *ca_blob,
    size_t ca_len, const struct sshcert_want *w, const char **reason);

#endif
