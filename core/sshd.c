/*
 * The SSH server: host key, authorized keys and the hand-over of accepted
 * sockets to sessions.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libssh/server.h>
#include <sodium.h>

#include "authkeys.h"
#include "connlimit.h"
#include "keyfile.h"
#include "penalty.h"
#include "policy.h"
#include "session.h"
#include "sshd.h"
#include "token.h"

/* One per open session at most: sessions are bounded by the same. */
#define SSHD_ADDRS_MAX     4096
#define SSHD_AUTH_ATTEMPTS 10

struct sshd {
	uv_loop_t         *loop;
	ssh_bind           bind;
	char              *authkeys_path;
	char              *ca_path;  /* NULL: CAs only from authkeys_path */
	struct authkeys   *authkeys; /* file and stored merged: in force */
	struct authkeys   *file;     /* the file's keys and CAs */
	struct authkeys   *stored;   /* NULL: none stored at run time */
	char               host_fp[128];
	char               host_pub[256]; /* "ssh-ed25519 AAAA..." */
	struct sshd_limits limits;
	struct penalty    *penalty;   /* NULL: no penalties */
	struct connlimit  *connlimit; /* open connections per address */
	struct policy     *rules[SSHD_NRULES]; /* NULL: nothing allowed */
};

static int
sshd_write_new_key(const char *path, char *err, size_t errlen)
{
	ssh_key key = NULL;
	char   *b64 = NULL;
	int     fd = -1, rc = -ENOMEM;
	size_t  len;

	if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK ||
	    ssh_pki_export_privkey_base64(key, NULL, NULL, NULL, &b64) !=
	        SSH_OK) {
		snprintf(err, errlen, "cannot generate a host key");
		goto out;
	}

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1) {
		rc = -errno;
		snprintf(err, errlen, "cannot create host key %s: %s", path,
		    strerror(errno));
		goto out;
	}
	len = strlen(b64);
	if (write(fd, b64, len) != (ssize_t)len || fsync(fd) == -1) {
		rc = -errno;
		snprintf(err, errlen, "cannot write host key %s: %s", path,
		    strerror(errno));
		unlink(path);
		goto out;
	}
	rc = 0;

out:
	if (fd != -1)
		close(fd);
	if (b64 != NULL) {
		explicit_bzero(b64, strlen(b64));
		ssh_string_free_char(b64);
	}
	ssh_key_free(key);
	return rc;
}

int
sshd_load_host_key(const char *path, int *created, char *err, size_t errlen)
{
	struct stat st;
	ssh_key     key = NULL;
	int         rc;

	*created = 0;
	if (stat(path, &st) == -1 && errno == ENOENT) {
		if ((rc = sshd_write_new_key(path, err, errlen)) != 0)
			return rc;
		*created = 1;
	}
	if ((rc = keyfile_load(path, "host key", &key, err, errlen)) != 0)
		return rc;
	ssh_key_free(key);
	return 0;
}

/* Keeps what clients see of the host key key: its line, its fingerprint. */
static void
sshd_note_host_key(struct sshd *sshd, ssh_key key)
{
	char *b64 = NULL;
	char  fp[128];

	if (authkeys_fingerprint(key, fp, sizeof fp) == 0)
		snprintf(sshd->host_fp, sizeof sshd->host_fp, "%s", fp);
	sshd->host_pub[0] = '\0';
	if (ssh_pki_export_pubkey_base64(key, &b64) == SSH_OK)
		snprintf(sshd->host_pub, sizeof sshd->host_pub, "%s %s",
		    ssh_key_type_to_char(ssh_key_type(key)), b64);
	ssh_string_free_char(b64);
}

static int
sshd_make_bind(
    struct sshd *sshd, const char *host_key, char *err, size_t errlen)
{
	ssh_key key = NULL;
	int     rc, off = 0;

	if ((rc = keyfile_load(host_key, "host key", &key, err, errlen)) != 0)
		return rc;
	sshd_note_host_key(sshd, key);

	if ((sshd->bind = ssh_bind_new()) == NULL) {
		ssh_key_free(key);
		return -ENOMEM;
	}
	/* No system-wide libssh server configuration applies to alknetd. */
	ssh_bind_options_set(sshd->bind, SSH_BIND_OPTIONS_PROCESS_CONFIG, &off);
	/* The bind owns the key from here on. */
	if (ssh_bind_options_set(
	        sshd->bind, SSH_BIND_OPTIONS_IMPORT_KEY, key) != SSH_OK) {
		snprintf(err, errlen, "host key %s: %s", host_key,
		    ssh_get_error(sshd->bind));
		ssh_key_free(key);
		return -EINVAL;
	}
	return 0;
}

int
sshd_use_host_key(struct sshd *sshd, const char *pem, char *err, size_t errlen)
{
	ssh_key key = NULL;

	if (ssh_pki_import_privkey_base64(pem, NULL, NULL, NULL, &key) !=
	        SSH_OK ||
	    ssh_key_type(key) != SSH_KEYTYPE_ED25519) {
		snprintf(err, errlen, "the host key is not Ed25519");
		ssh_key_free(key);
		return -EINVAL;
	}

	/* The bind takes the key and frees the one it replaces. */
	if (ssh_bind_options_set(
	        sshd->bind, SSH_BIND_OPTIONS_IMPORT_KEY, key) != SSH_OK) {
		snprintf(
		    err, errlen, "host key: %s", ssh_get_error(sshd->bind));
		ssh_key_free(key);
		return -EINVAL;
	}
	sshd_note_host_key(sshd, key);
	return 0;
}

/* OpenSSH's defaults: penalties on, 10 failures, no per-address limit. */
static int
sshd_limits_init(struct sshd *sshd)
{
	struct penalty_conf c;
	int                 rc;

	sshd->limits.max_auth_attempts = SSHD_AUTH_ATTEMPTS;
	penalty_conf_default(&c);
	if ((rc = penalty_new(&c, &sshd->penalty)) != 0)
		return rc;
	return connlimit_new(SSHD_ADDRS_MAX, &sshd->connlimit);
}

int
sshd_new(uv_loop_t *loop, const char *host_key, const char *authkeys_path,
    struct sshd **out, char *err, size_t errlen)
{
	struct sshd *sshd;
	int          rc;

	if ((sshd = calloc(1, sizeof *sshd)) == NULL)
		return -ENOMEM;
	sshd->loop = loop;
	if ((sshd->authkeys_path = strdup(authkeys_path)) == NULL ||
	    (rc = sshd_limits_init(sshd)) != 0) {
		rc = -ENOMEM;
		goto fail;
	}
	if ((rc = sshd_reload(sshd, err, errlen)) != 0)
		goto fail;
	if ((rc = sshd_make_bind(sshd, host_key, err, errlen)) != 0)
		goto fail;
	*out = sshd;
	return 0;

fail:
	sshd_free(sshd);
	return rc;
}

void
sshd_free(struct sshd *sshd)
{
	if (sshd == NULL)
		return;
	if (sshd->bind != NULL)
		ssh_bind_free(sshd->bind);
	authkeys_free(sshd->authkeys);
	authkeys_free(sshd->file);
	authkeys_free(sshd->stored);
	penalty_free(sshd->penalty);
	connlimit_free(sshd->connlimit);
	for (int i = 0; i < SSHD_NRULES; i++)
		policy_free(sshd->rules[i]);
	free(sshd->authkeys_path);
	free(sshd->ca_path);
	free(sshd);
}

int
sshd_accept(struct sshd *sshd, int fd, const char *peer_ip, const char *peer,
    const char *transport)
{
	ssh_session ssh;
	int         rc;

	if ((ssh = ssh_new()) == NULL) {
		close(fd);
		return -ENOMEM;
	}
	if (ssh_bind_accept_fd(sshd->bind, ssh, fd) != SSH_OK) {
		/* libssh took the socket only if the session holds it. */
		if (ssh_get_fd(ssh) != fd)
			close(fd);
		ssh_free(ssh);
		return -EIO;
	}
	rc = session__start(sshd->loop, sshd, ssh, peer_ip, peer, transport);
	return rc;
}

/* The authorized keys, and the CAs of the CA file after them. */
static int
sshd_load_keys(
    struct sshd *sshd, struct authkeys **out, char *err, size_t errlen)
{
	struct authkeys *keys = NULL, *cas = NULL;
	int              rc;

	rc = authkeys_load(sshd->authkeys_path, &keys, NULL, err, errlen);
	if (rc != 0 || sshd->ca_path == NULL) {
		*out = keys;
		return rc;
	}
	rc = authkeys_load_cas(sshd->ca_path, &cas, NULL, err, errlen);
	if (rc == 0 && (rc = authkeys_merge(keys, cas, out)) != 0)
		snprintf(err, errlen, "%s", strerror(-rc));
	authkeys_free(keys);
	authkeys_free(cas);
	return rc;
}

/*
 * Puts file and stored in force, merged, taking both; on failure nothing
 * changes and the caller keeps them.
 */
static int
sshd_use(struct sshd *sshd, struct authkeys *file, struct authkeys *stored)
{
	struct authkeys *ak;
	int              rc;

	if ((rc = authkeys_merge(file, stored, &ak)) != 0)
		return rc;
	if (file != sshd->file)
		authkeys_free(sshd->file);
	if (stored != sshd->stored)
		authkeys_free(sshd->stored);
	authkeys_free(sshd->authkeys);
	sshd->file = file;
	sshd->stored = stored;
	sshd->authkeys = ak;
	return 0;
}

int
sshd_reload(struct sshd *sshd, char *err, size_t errlen)
{
	struct authkeys *ak;
	int              rc;

	if ((rc = sshd_load_keys(sshd, &ak, err, errlen)) != 0)
		return rc;
	if ((rc = sshd_use(sshd, ak, sshd->stored)) != 0) {
		authkeys_free(ak);
		snprintf(err, errlen, "%s", strerror(-rc));
	}
	return rc;
}

int
sshd_merge_stored(const struct sshd *sshd, const struct authkeys *stored,
    struct authkeys **out)
{
	return authkeys_merge(sshd->file, stored, out);
}

void
sshd_put_stored(
    struct sshd *sshd, struct authkeys *stored, struct authkeys *merged)
{
	if (stored != sshd->stored)
		authkeys_free(sshd->stored);
	authkeys_free(sshd->authkeys);
	sshd->stored = stored;
	sshd->authkeys = merged;
}

const struct authkeys *
sshd_stored(const struct sshd *sshd)
{
	return sshd->stored;
}

int
sshd_set_cert_authorities(
    struct sshd *sshd, const char *path, char *err, size_t errlen)
{
	char *old = sshd->ca_path;
	int   rc;

	if ((sshd->ca_path = strdup(path)) == NULL) {
		sshd->ca_path = old;
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if ((rc = sshd_reload(sshd, err, errlen)) != 0) {
		free(sshd->ca_path);
		sshd->ca_path = old;
		return rc;
	}
	free(old);
	return 0;
}

const struct authkeys *
sshd_authkeys(const struct sshd *sshd)
{
	return sshd->authkeys;
}

/* An Ed25519 key blob: string "ssh-ed25519", string of 32 bytes. */
#define SSHD_ED25519_BLOB 51

/* Tokens speak for Ed25519 user keys and token keys, never for CAs. */
static int
sshd_token_lookup(
    void *arg, const unsigned char id[TOKEN_KEY_ID_LEN], struct token_key *key)
{
	const struct authkeys *ak = arg;
	struct authkey_info    info;
	unsigned char          kid[TOKEN_KEY_ID_LEN];
	const unsigned char   *pk;
	size_t                 i;

	for (i = 0; i < authkeys_count(ak); i++) {
		authkeys_get(ak, i, &info);
		if (strcmp(info.type, "ssh-ed25519") != 0 ||
		    strcmp(info.kind, "cert-authority") == 0 ||
		    info.blob_len != SSHD_ED25519_BLOB)
			continue;
		pk = (const unsigned char *)info.blob + SSHD_ED25519_BLOB - 32;
		token_key_id(pk, kid);
		if (sodium_memcmp(kid, id, sizeof kid) != 0)
			continue;
		memcpy(key->pk, pk, sizeof key->pk);
		key->index = i;
		return 0;
	}
	return -ENOENT;
}

int
sshd_token_identity(const struct sshd *sshd, const char *token, uint64_t now)
{
	struct token_key key;
	int              rc;

	rc = token_verify(token, now, TOKEN_MAX_AGE, sshd_token_lookup,
	    sshd->authkeys, &key, NULL);
	return rc != 0 ? rc : (int)key.index;
}

const char *
sshd_host_fingerprint(const struct sshd *sshd)
{
	return sshd->host_fp;
}

const char *
sshd_host_public(const struct sshd *sshd)
{
	return sshd->host_pub;
}

const struct policy *
sshd_rules(const struct sshd *sshd, enum sshd_rules which)
{
	return sshd->rules[which];
}

void
sshd_set_rules(struct sshd *sshd, enum sshd_rules which, struct policy *p)
{
	policy_free(sshd->rules[which]);
	sshd->rules[which] = p;
}

void
sshd_set_limits(
    struct sshd *sshd, const struct sshd_limits *l, struct penalty *p)
{
	sshd->limits = *l;
	if (p != sshd->penalty)
		penalty_free(sshd->penalty);
	sshd->penalty = p;
}

const struct sshd_limits *
sshd_limits(const struct sshd *sshd)
{
	return &sshd->limits;
}

struct penalty *
sshd_penalty(const struct sshd *sshd)
{
	return sshd->penalty;
}

struct connlimit *
sshd_connlimit(const struct sshd *sshd)
{
	return sshd->connlimit;
}
