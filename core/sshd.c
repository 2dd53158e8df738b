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

#include "authkeys.h"
#include "keyfile.h"
#include "policy.h"
#include "session.h"
#include "sshd.h"

struct sshd {
	uv_loop_t       *loop;
	ssh_bind         bind;
	char            *authkeys_path;
	struct authkeys *authkeys;
	char             host_fp[128];
	struct policy   *rules[SSHD_NRULES]; /* NULL: nothing allowed */
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

static int
sshd_make_bind(
    struct sshd *sshd, const char *host_key, char *err, size_t errlen)
{
	ssh_key key = NULL;
	char    fp[128];
	int     rc, off = 0;

	if ((rc = keyfile_load(host_key, "host key", &key, err, errlen)) != 0)
		return rc;
	if (authkeys_fingerprint(key, fp, sizeof fp) == 0)
		snprintf(sshd->host_fp, sizeof sshd->host_fp, "%s", fp);

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
sshd_new(uv_loop_t *loop, const char *host_key, const char *authkeys_path,
    struct sshd **out, char *err, size_t errlen)
{
	struct sshd *sshd;
	int          rc;

	if ((sshd = calloc(1, sizeof *sshd)) == NULL)
		return -ENOMEM;
	sshd->loop = loop;
	if ((sshd->authkeys_path = strdup(authkeys_path)) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = authkeys_load(authkeys_path, &sshd->authkeys, NULL, err, errlen);
	if (rc != 0)
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
	for (int i = 0; i < SSHD_NRULES; i++)
		policy_free(sshd->rules[i]);
	free(sshd->authkeys_path);
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

int
sshd_reload(struct sshd *sshd, char *err, size_t errlen)
{
	struct authkeys *ak;
	int              rc;

	rc = authkeys_load(sshd->authkeys_path, &ak, NULL, err, errlen);
	if (rc != 0)
		return rc;
	authkeys_free(sshd->authkeys);
	sshd->authkeys = ak;
	return 0;
}

const struct authkeys *
sshd_authkeys(const struct sshd *sshd)
{
	return sshd->authkeys;
}

const char *
sshd_host_fingerprint(const struct sshd *sshd)
{
	return sshd->host_fp;
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
