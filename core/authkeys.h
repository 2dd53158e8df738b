/*
 * Authorized keys: the identities a head lets in, read from an OpenSSH
 * authorized_keys file or stored by name at run time.
 *
 * A set is immutable once loaded; reload builds a new set and swaps it, so
 * a lookup always sees one consistent set.  Sessions that authenticated
 * keep their own copy of the identity strings they need.
 */
#ifndef ALKNET_AUTHKEYS_H
#define ALKNET_AUTHKEYS_H

#include <stddef.h>
#include <libssh/libssh.h>

struct authkeys;

struct authkey_info {
	const char *name;    /* directory name: safe, unique in the set */
	const char *id;      /* fingerprint, "SHA256:..." */
	const char *line;    /* "type base64 comment" as found */
	const char *type;    /* "ssh-ed25519", ... */
	const char *comment; /* "" when there is none */
	const char *kind;    /* "key", "cert-authority" or "token-key" */
	const char *scopes;  /* comma separated; "relay:connect" from a file */
	const char *source;  /* "file" or "store" */
	const void *blob;    /* the key in SSH wire form */
	size_t      blob_len;
	int         port_forwarding; /* permit-port-forwarding on a CA */
};

/*
 * Reads path.  Blank lines, '#' comments and lines that do not parse are
 * skipped (their count goes to *skipped when skipped is not NULL); lines
 * may start with an options field.  Returns 0 and a new set in *out, or
 * -errno when the file cannot be read, with a reason naming the path in
 * err.
 */
int authkeys_load(const char *path, struct authkeys **out, unsigned *skipped,
    char *err, size_t errlen);

/*
 * Reads a file of certificate authorities: like authkeys_load, but every
 * key line is a CA, with or without "cert-authority" (a bare ca.pub from
 * ssh-keygen will do).  Options that restrict, such as from= or
 * principals=, still keep a line out.
 */
int authkeys_load_cas(const char *path, struct authkeys **out,
    unsigned *skipped, char *err, size_t errlen);

/*
 * A new set holding the entries of a, then those of b (either may be
 * NULL), named afresh as one set: stored entries keep their names, and
 * a file's entry whose comment is a stored name is called key<N>.
 * Returns 0 and the set in *out, -E2BIG past the bound of entries, or
 * -ENOMEM.  a and b stay as they are.  Stored names must differ.
 */
int authkeys_merge(
    const struct authkeys *a, const struct authkeys *b, struct authkeys **out);

/* What an identity stored at run time is made of. */
struct authkey_spec {
	const char *name;    /* its name in any set it joins */
	const char *kind;    /* "key", "cert-authority" or "token-key" */
	const char *keyline; /* "type base64 [comment]" */
	const char *scopes;  /* comma separated; NULL or "" for none */
};

/*
 * A new set holding the one stored identity spec.  The name is 1 to 64
 * of the characters of a safe comment and not key<N> (those belong to
 * keys of the file); scopes are words of letters, digits and ":._*-"
 * joined by commas, at most 255 bytes.  Returns 0 and the set in *out,
 * -EINVAL with a reason in err (naming no key material), or -ENOMEM.
 */
int authkeys_stored(const struct authkey_spec *spec, struct authkeys **out,
    char *err, size_t errlen);

/*
 * Whether name may name a stored identity: 1 to 64 letters, digits, '.',
 * '_', '@' and '-', not "." or "..", and not key<N>.
 */
int authkeys_name_valid(const char *name);

/* Whether scopes are words of letters, digits and ":._*-" joined by
 * single commas, at most 255 bytes ("" is no scope). */
int authkeys_scopes_valid(const char *scopes);

/*
 * A new set holding the entries of ak but the one called name.  Returns
 * 0 and the set in *out, -ENOENT, or -ENOMEM.
 */
int authkeys_drop(
    const struct authkeys *ak, const char *name, struct authkeys **out);

/* An empty set, for a head that lets nobody in yet. */
struct authkeys *authkeys_empty(void);

/* Frees the set; accepts NULL. */
void authkeys_free(struct authkeys *ak);

/* Number of entries. */
size_t authkeys_count(const struct authkeys *ak);

/* Entry i (0 <= i < count) into *info; the strings live as long as ak. */
void authkeys_get(
    const struct authkeys *ak, size_t i, struct authkey_info *info);

/*
 * The index of the plain user key equal to key (type and key bytes; the
 * comment does not matter), or -1.  Certificate authorities and token
 * keys never match here.
 */
int authkeys_find(const struct authkeys *ak, const ssh_key key);

/*
 * The index of the certificate authority whose key blob (SSH wire form,
 * as a certificate's signature key field holds it) is blob, or -1.
 * Plain user keys never match here.
 */
int authkeys_find_ca(
    const struct authkeys *ak, const unsigned char *blob, size_t len);

/*
 * The index of the entry, of any kind, whose key blob is blob, or -1.
 */
int authkeys_find_key(
    const struct authkeys *ak, const unsigned char *blob, size_t len);

/* The index of the entry called name, or -1. */
int authkeys_find_name(const struct authkeys *ak, const char *name);

/*
 * The OpenSSH fingerprint of key ("SHA256:" and unpadded base64 of the
 * SHA-256 of the key blob) into buf.  Returns 0 or -EINVAL.
 */
int authkeys_fingerprint(const ssh_key key, char *buf, size_t len);

#endif
