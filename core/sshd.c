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
#include "session.h"
#include "sshd.h"

#define SSHD_KEY_MAX (64 * 1024)

struct sshd {
	uv_loop_t       *loop;
	ssh_bind         bind;
	char            *authkeys_path;
	struct authkeys *authkeys;
	char             host_fp[128];
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

static int
sshd_read_file(const char *path, char **out, char *err, size_t errlen)
{
	char   *buf = NULL;
	ssize_t n;
	size_t  len = 0;
	int     fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		rc = -errno;
		snprintf(err, errlen, "cannot read host key %s: %s", path,
		    strerror(errno));
		return rc;
	}
	if ((buf = malloc(SSHD_KEY_MAX + 1)) == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while (len < SSHD_KEY_MAX &&
	    (n = read(fd, buf + len, SSHD_KEY_MAX - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	*out = buf;
	return 0;
}

/* Says what a file that is not an OpenSSH private key looks like. */
static int
sshd_check_format(const char *path, const char *text, char *err, size_t errlen)
{
	if (strstr(text, "-----BEGIN OPENSSH PRIVATE KEY-----") != NULL)
		return 0;
	if (strstr(text, "-----BEGIN ") != NULL &&
	    strstr(text, "PRIVATE KEY-----") != NULL) {
		snprintf(err, errlen,
		    "host key %s is in PEM format; only "
		    "OpenSSH format private keys are read (ssh-keygen -t "
		    "ed25519 writes one)",
		    path);
		return -EINVAL;
	}
	snprintf(
	    err, errlen, "host key %s is not an OpenSSH private key", path);
	return -EINVAL;
}

static int
sshd_import_key(const char *path, ssh_key *out, char *err, size_t errlen)
{
	char   *text = NULL;
	ssh_key key = NULL;
	int     rc;

	if ((rc = sshd_read_file(path, &text, err, errlen)) != 0)
		return rc;
	if ((rc = sshd_check_format(path, text, err, errlen)) != 0)
		goto out;

	rc = -EINVAL;
	if (ssh_pki_import_privkey_base64(text, NULL, NULL, NULL, &key) !=
	    SSH_OK) {
		snprintf(err, errlen,
		    "cannot read host key %s (damaged, or "
		    "protected by a passphrase)",
		    path);
		goto out;
	}
	if (ssh_key_type(key) != SSH_KEYTYPE_ED25519) {
		snprintf(err, errlen, "host key %s is %s, not Ed25519", path,
		    ssh_key_type_to_char(ssh_key_type(key)));
		goto out;
	}
	*out = key;
	key = NULL;
	rc = 0;

out:
	explicit_bzero(text, strlen(text));
	free(text);
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
	if ((rc = sshd_import_key(path, &key, err, errlen)) != 0)
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

	if ((rc = sshd_import_key(host_key, &key, err, errlen)) != 0)
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
