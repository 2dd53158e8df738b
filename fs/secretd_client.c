/*
 * The client side of alknet-secretd.  Blocking I/O: a call is one frame
 * out and one frame back, and the command line has nothing else to do
 * meanwhile.
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "frame.h"
#include "secretd_client.h"

struct secretd_client {
	int      fd;
	unsigned next_id; /* ids of calls made, "1", "2", ... */
};

int
secretd_client_set_timeout(struct secretd_client *c, unsigned seconds)
{
	struct timeval tv = {(time_t)seconds, 0};

	if (seconds == 0)
		return -EINVAL;
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
	    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0)
		return -errno;
	return 0;
}

int
secretd_client_open(const char *path, struct secretd_client **out)
{
	struct sockaddr_un     sun = {.sun_family = AF_UNIX};
	struct secretd_client *c;
	int                    rc;

	if (strlen(path) >= sizeof sun.sun_path)
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, path, strlen(path));
	if ((c = calloc(1, sizeof *c)) == NULL)
		return -ENOMEM;

	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    secretd_client_set_timeout(c, SECRETD_CLIENT_TIMEOUT) != 0 ||
	    connect(c->fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
		rc = -errno;
		secretd_client_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

void
secretd_client_close(struct secretd_client *c)
{
	if (c == NULL)
		return;
	if (c->fd != -1)
		close(c->fd);
	free(c);
}

static int
client_errno(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
}

static int
client_write(struct secretd_client *c, const unsigned char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return errno == EPIPE ? -EPIPE : client_errno();
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
client_read(struct secretd_client *c, unsigned char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = recv(c->fd, p, len, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return errno == ECONNRESET ? -EPIPE : client_errno();
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Frees a buffer that may hold a secret, wiped first. */
static void
client_wipe_free(void *p, size_t len)
{
	if (p == NULL)
		return;
	sodium_memzero(p, len);
	free(p);
}

static int
client_send(
    struct secretd_client *c, const char *id, const char *op, json_t *input)
{
	json_t *payload;
	void   *buf = NULL;
	size_t  len;
	int     rc;

	payload = json_pack("{s:s,s:O?}", "operationId", op, "input", input);
	if (payload == NULL)
		return -ENOMEM;
	rc = frame_encode_alloc(FRAME_REQUESTED, id, payload, &buf, &len);
	json_decref(payload);
	if (rc != 0)
		return rc;

	rc = client_write(c, buf, len);
	client_wipe_free(buf, len);
	return rc;
}

/* The next frame from the daemon. */
static int
client_receive(struct secretd_client *c, struct frame *f)
{
	unsigned char  head[FRAME_HEADER], *buf = NULL;
	size_t         n, size;
	enum frame_err why;
	int            rc;

	if ((rc = client_read(c, head, sizeof head)) != 0)
		return rc;
	n = (size_t)head[0] << 24 | (size_t)head[1] << 16 |
	    (size_t)head[2] << 8 | head[3];
	if (n == 0 || n > FRAME_MAX_DEFAULT)
		return -EPROTO;
	if ((buf = malloc(FRAME_HEADER + n)) == NULL)
		return -ENOMEM;

	memcpy(buf, head, sizeof head);
	if ((rc = client_read(c, buf + FRAME_HEADER, n)) == 0 &&
	    (rc = frame_decode(buf, FRAME_HEADER + n, 0, f, &size, &why)) != 0)
		rc = rc == -ENOMEM ? rc : -EPROTO;
	client_wipe_free(buf, FRAME_HEADER + n);
	return rc;
}

/*
 * What answer f gives to call id.  An error with the id "" answers
 * whatever was asked: it is how the daemon refuses a connection.
 */
static int
client_answer(const struct frame *f, const char *id, json_t **output,
    enum reply_code *code, char *msg, size_t msglen)
{
	struct reply_error e;

	if (f->type == FRAME_ERROR &&
	    (strcmp(f->id, id) == 0 || *f->id == '\0')) {
		if (reply_error_parse(f->payload, &e) != 0)
			return -EPROTO;
		*code = e.code;
		snprintf(msg, msglen, "%s", e.message);
		return -EREMOTEIO;
	}
	if (f->type != FRAME_RESPONDED || strcmp(f->id, id) != 0 ||
	    json_object_get(f->payload, "output") == NULL)
		return -EPROTO;
	*output = json_incref(json_object_get(f->payload, "output"));
	return 0;
}

int
secretd_client_call(struct secretd_client *c, const char *op, json_t *input,
    json_t **output, enum reply_code *code, char *msg, size_t msglen)
{
	struct frame f = {0};
	char         id[16];
	int          rc;

	snprintf(id, sizeof id, "%u", ++c->next_id);
	if ((rc = client_send(c, id, op, input)) != 0 && rc != -EPIPE)
		return rc;

	/* A refused peer may find the socket closed as it writes: the
	 * refusal is still there to read. */
	if ((rc = client_receive(c, &f)) != 0)
		return rc;
	rc = client_answer(&f, id, output, code, msg, msglen);
	frame_release(&f);
	return rc;
}

int
secretd_client_read_line(int fd, char *buf, size_t len)
{
	size_t  n = 0;
	ssize_t got;
	char    ch;

	for (;;) {
		got = read(fd, &ch, 1);
		if (got == -1) {
			sodium_memzero(buf, len);
			return -errno;
		}
		if (got == 0 && n == 0)
			return -ENODATA;
		if (got == 0 || ch == '\n')
			break;
		if (n + 1 >= len) {
			sodium_memzero(buf, len);
			return -E2BIG;
		}
		buf[n++] = ch;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return (int)n;
}

static int
client_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' ||
	    ch == '\v' || ch == '\f';
}

size_t
secretd_client_mnemonic(char *text)
{
	char  *r = text, *w = text;
	size_t words = 0;

	for (;;) {
		while (client_blank(*r))
			r++;
		if (*r == '\0')
			break;
		if (words++ > 0)
			*w++ = ' ';
		for (; *r != '\0' && !client_blank(*r); r++)
			*w++ = *r >= 'A' && *r <= 'Z' ? *r - 'A' + 'a' : *r;
	}

	/* What the words moved away from is wiped, not left behind. */
	sodium_memzero(w, (size_t)(r - w));
	*w = '\0';
	return words;
}
