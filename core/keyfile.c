/*
 * Private key files.  The text is checked before libssh parses it so
 * that a PEM file gets a message saying so, and it is wiped after use.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keyfile.h"

#define KEYFILE_MAX (64 * 1024)

static int
keyfile_read(
    const char *path, const char *what, char **out, char *err, size_t errlen)
{
	char   *buf;
	ssize_t n;
	size_t  len = 0;
	int     fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		rc = -errno;
		snprintf(err, errlen, "cannot read %s %s: %s", what, path,
		    strerror(errno));
		return rc;
	}
	if ((buf = malloc(KEYFILE_MAX + 1)) == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while (len < KEYFILE_MAX &&
	    (n = read(fd, buf + len, KEYFILE_MAX - len)) > 0)
		len += (size_t)n;
	rc = n < 0 ? -errno : 0;
	close(fd);
	buf[len] = '\0';
	if (rc != 0) {
		snprintf(err, errlen, "cannot read %s %s: %s", what, path,
		    strerror(-rc));
		free(buf);
		return rc;
	}
	*out = buf;
	return 0;
}

/* Says what a file that is not an OpenSSH private key looks like. */
static int
keyfile_check_format(const char *path, const char *what, const char *text,
    char *err, size_t errlen)
{
	if (strstr(text, "-----BEGIN OPENSSH PRIVATE KEY-----") != NULL)
		return 0;
	if (strstr(text, "-----BEGIN ") != NULL &&
	    strstr(text, "PRIVATE KEY-----") != NULL) {
		snprintf(err, errlen,
		    "%s %s is in PEM format; only OpenSSH format private "
		    "keys are read (ssh-keygen -t ed25519 writes one)",
		    what, path);
		return -EINVAL;
	}
	snprintf(
	    err, errlen, "%s %s is not an OpenSSH private key", what, path);
	return -EINVAL;
}

int
keyfile_load(
    const char *path, const char *what, ssh_key *out, char *err, size_t errlen)
{
	char   *text = NULL;
	ssh_key key = NULL;
	int     rc;

	if ((rc = keyfile_read(path, what, &text, err, errlen)) != 0)
		return rc;
	if ((rc = keyfile_check_format(path, what, text, err, errlen)) != 0)
		goto out;

	rc = -EINVAL;
	if (ssh_pki_import_privkey_base64(text, NULL, NULL, NULL, &key) !=
	    SSH_OK) {
		snprintf(err, errlen,
		    "cannot read %s %s (damaged, or protected by a "
		    "passphrase)",
		    what, path);
		goto out;
	}
	if (ssh_key_type(key) != SSH_KEYTYPE_ED25519) {
		snprintf(err, errlen, "%s %s is %s, not Ed25519", what, path,
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
