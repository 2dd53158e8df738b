/*
 * Authorized keys: the identities a head lets in, read from an OpenSSH
 * authorized_keys file.
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
	const char *kind;    /* "key" or "cert-authority" */
	const char *scopes;  /* comma separated, "relay:connect" */
	const char *source;  /* "file" */
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
 * NULL), named afresh as one set.  Returns 0 and the set in *out, -E2BIG
 * past the bound of entries, or -ENOMEM.  a and b stay as they are.
 */
int authkeys_merge(
    const struct authkeys *a, const struct authkeys *b, struct authkeys **out);

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
 * comment does not matter), or -1.  Certificate-authority lines never
 * match here.
 */
int authkeys_find(const struct authkeys *ak, const ssh_key key);

/*
 * The index of the certificate authority whose key blob (SSH wire form,
 * as a certificate's signature key field holds it) is blob, or -1.
 * Plain user keys never match here.
 */
int authkeys_find_ca(
    const struct authkeys *ak, const unsigned char *blob, size_t len);

/* The index of the entry called name, or -1. */
int authkeys_find_name(const struct authkeys *ak, const char *name);

/*
 * The OpenSSH fingerprint of key ("SHA256:" and unpadded base64 of the
 * SHA-256 of the key blob) into buf.  Returns 0 or -EINVAL.
 */
int authkeys_fingerprint(const ssh_key key, char *buf, size_t len);

#endif
