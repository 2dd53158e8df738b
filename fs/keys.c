/*
 * The node's keys from alknet-secretd.  At start one blocking exchange
 * (nothing else runs yet) takes the host key; from then on a timer polls
 * the daemon over a non-blocking uv_pipe, one connection a poll, so that
 * a slow or absent daemon never holds up the loop.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "events.h"
#include "frame.h"
#include "keys.h"
#include "log.h"
#include "reply.h"
#include "secretd_client.h"
#include "sshd.h"

/* Key n of the node: 0 is the identity, n > 0 device n. */
#define KEYS_PATH_FMT      "m/74'/0'/0'/%u'"
#define KEYS_FRAME_MAX     65536 /* an answer to status or public */
#define KEYS_NEXT          (-1)  /* an answer wants the next call */
#define KEYS_ABANDONED     (-2)  /* a poll ends without a finding */
#define KEYS_FIRST_TIMEOUT 5     /* seconds for each call at start */

/* One poll: a connection, and the calls made on it one at a time. */
struct keys_poll {
	uv_pipe_t             pipe;
	uv_connect_t          connect;
	uv_write_t            write;
	struct frame_decoder *dec;
	void                 *out;   /* the request being written */
	unsigned              calls; /* made so far; the id of the last */
	int                   ended;
	struct keys_public    pub[1 + KEYS_DEVICES_MAX];
};

static struct {
	uv_loop_t         *loop;
	char              *path; /* NULL: no daemon to ask */
	uv_timer_t         timer;
	int                timing;
	struct keys_poll  *poll; /* in progress, or NULL */
	enum keys_state    state;
	int                host_from_seed;
	unsigned           ndevices;
	struct keys_public pub[1 + KEYS_DEVICES_MAX];
} keys;

/* jansson's memory holds the host key on its way: wiped when freed. */
static void
keys_wipe_free(void *p)
{
	if (p == NULL)
		return;
	sodium_memzero(p, malloc_usable_size(p));
	free(p);
}

/* The input of a public call for key n. */
static json_t *
keys_input(unsigned n)
{
	char path[32];

	snprintf(path, sizeof path, KEYS_PATH_FMT, n);
	return json_pack("{s:s}", "path", path);
}

/* Takes the output of a public call: an OpenSSH line, a fingerprint. */
static int
keys_take_public(json_t *output, struct keys_public *pub)
{
	const char *line = NULL, *fp = NULL;

	if (json_unpack(
	        output, "{s:s,s:s}", "key", &line, "fingerprint", &fp) != 0 ||
	    strncmp(line, "ssh-ed25519 ", 12) != 0 ||
	    strncmp(fp, "SHA256:", 7) != 0 ||
	    strlen(line) >= sizeof pub->line || strlen(fp) >= sizeof pub->fp ||
	    strpbrk(line, "\n\r") != NULL || strpbrk(fp, " \n\r") != NULL)
		return -EPROTO;
	snprintf(pub->line, sizeof pub->line, "%s", line);
	snprintf(pub->fp, sizeof pub->fp, "%s", fp);
	return 0;
}

/* The state an answer to status names. */
static int
keys_take_state(json_t *output, enum keys_state *state)
{
	const char *s = NULL;

	if (json_unpack(output, "{s:s}", "state", &s) != 0)
		return -EPROTO;
	if (strcmp(s, "unlocked") == 0)
		*state = KEYS_UNLOCKED;
	else if (strcmp(s, "locked") == 0)
		*state = KEYS_LOCKED;
	else
		return -EPROTO;
	return 0;
}

/* Puts in what a poll or the start found; a change is announced. */
static void
keys_set(enum keys_state state, const struct keys_public *pub)
{
	char type[32];

	if (state == KEYS_UNLOCKED)
		memcpy(keys.pub, pub, sizeof keys.pub);
	else
		memset(keys.pub, 0, sizeof keys.pub);
	if (state == keys.state)
		return;

	keys.state = state;
	log_info("keys state=%s", keys_state_name(state));
	snprintf(type, sizeof type, "keys.%s", keys_state_name(state));
	events_emit(type, NULL);
}

/* The blocking exchange at start. */

static int
keys_call(
    struct secretd_client *c, const char *op, json_t *input, json_t **output)
{
	enum reply_code code;
	char            msg[256];
	int             rc;

	rc = secretd_client_call(c, op, input, output, &code, msg, sizeof msg);
	if (rc == -EREMOTEIO && code == REPLY_LOCKED)
		return -EACCES;
	return rc;
}

/* The public keys of an unlocked daemon, into pub. */
static int
keys_first_public(struct secretd_client *c, struct keys_public *pub)
{
	json_t  *input, *output = NULL;
	unsigned n;
	int      rc = 0;

	for (n = 0; n <= keys.ndevices && rc == 0; n++) {
		if ((input = keys_input(n)) == NULL)
			return -ENOMEM;
		rc = keys_call(c, "public", input, &output);
		json_decref(input);
		if (rc == 0)
			rc = keys_take_public(output, &pub[n]);
		json_decref(output);
		output = NULL;
	}
	return rc;
}

/*
 * The host key of the seed into sshd.  The answer holds it as text:
 * every byte jansson allocates meanwhile is wiped when freed, and the
 * answer is freed before this returns.
 * XXX: the copies libssh makes while it parses the key are its own to
 * wipe.
 */
static int
keys_first_host_key(
    struct secretd_client *c, struct sshd *sshd, char *err, size_t errlen)
{
	json_t     *output = NULL;
	const char *pem = NULL;
	int         rc;

	json_set_alloc_funcs(malloc, keys_wipe_free);
	rc = keys_call(c, "hostkey", NULL, &output);
	if (rc == 0 && json_unpack(output, "{s:s}", "private_key", &pem) != 0)
		rc = -EPROTO;
	if (rc == 0 && (rc = sshd_use_host_key(sshd, pem, err, errlen)) == 0)
		keys.host_from_seed = 1;
	json_decref(output);
	json_set_alloc_funcs(malloc, free);
	return rc;
}

/*
 * Asks the daemon at start.  Only a host key that sshd refuses is an
 * error: a daemon that is away, locked or locks meanwhile leaves the
 * file's key in use.
 */
static int
keys_first(struct sshd *sshd, char *err, size_t errlen)
{
	struct secretd_client *c = NULL;
	struct keys_public     pub[1 + KEYS_DEVICES_MAX];
	enum keys_state        state = KEYS_UNAVAILABLE;
	json_t                *output = NULL;
	int                    rc = 0;

	/* A daemon that takes the connection and never answers holds the
	 * start up no longer than KEYS_FIRST_TIMEOUT; the polls on the loop
	 * find it later if it comes back. */
	memset(pub, 0, sizeof pub);
	if (secretd_client_open(keys.path, &c) != 0 ||
	    secretd_client_set_timeout(c, KEYS_FIRST_TIMEOUT) != 0)
		goto out;
	if (keys_call(c, "status", NULL, &output) != 0 ||
	    keys_take_state(output, &state) != 0) {
		state = KEYS_UNAVAILABLE;
		goto out;
	}
	if (state != KEYS_UNLOCKED)
		goto out;

	rc = keys_first_host_key(c, sshd, err, errlen);
	if (rc == -EINVAL || rc == -ENOMEM)
		goto out;
	if (rc == 0 && keys_first_public(c, pub) == 0)
		goto out;
	state = rc == -EACCES ? KEYS_LOCKED : KEYS_UNAVAILABLE;
	rc = 0;

out:
	json_decref(output);
	secretd_client_close(c);
	keys.state = state;
	keys_set(state, pub);
	return rc;
}

/* The polls, on the loop. */

static void
keys_poll_closed(uv_handle_t *h)
{
	struct keys_poll *p = h->data;

	frame_decoder_free(p->dec);
	free(p->out);
	free(p);
}

/* Ends p with what it found, if it was not abandoned. */
static void
keys_poll_end(struct keys_poll *p, int state)
{
	if (p->ended)
		return;
	p->ended = 1;
	if (keys.poll == p)
		keys.poll = NULL;
	if (state != KEYS_ABANDONED)
		keys_set((enum keys_state)state, p->pub);
	uv_close((uv_handle_t *)&p->pipe, keys_poll_closed);
}

static void
keys_poll_written(uv_write_t *req, int status)
{
	struct keys_poll *p = req->data;

	free(p->out);
	p->out = NULL;
	if (status < 0)
		keys_poll_end(p, KEYS_UNAVAILABLE);
}

/* Makes call number p->calls + 1: status first, then public keys. */
static int
keys_poll_send(struct keys_poll *p)
{
	json_t  *input = NULL, *payload;
	char     id[16];
	size_t   len;
	uv_buf_t buf;
	int      rc;

	if (p->calls > 0 && (input = keys_input(p->calls - 1)) == NULL)
		return -ENOMEM;
	payload = json_pack("{s:s,s:o?}", "operationId",
	    p->calls == 0 ? "status" : "public", "input", input);
	if (payload == NULL)
		return -ENOMEM;
	snprintf(id, sizeof id, "%u", ++p->calls);
	rc = frame_encode_alloc(FRAME_REQUESTED, id, payload, &p->out, &len);
	json_decref(payload);
	if (rc != 0)
		return rc;

	buf = uv_buf_init(p->out, (unsigned)len);
	p->write.data = p;
	return uv_write(
	    &p->write, (uv_stream_t *)&p->pipe, &buf, 1, keys_poll_written);
}

/*
 * What the answer f to the last call means: KEYS_NEXT, or the state the
 * poll ends in.
 */
static int
keys_poll_answer(struct keys_poll *p, const struct frame *f)
{
	struct reply_error e;
	enum keys_state    state;
	char               id[16];
	json_t            *out;

	snprintf(id, sizeof id, "%u", p->calls);
	if (strcmp(f->id, id) != 0)
		return KEYS_UNAVAILABLE;
	if (f->type == FRAME_ERROR && reply_error_parse(f->payload, &e) == 0)
		return e.code == REPLY_LOCKED ? KEYS_LOCKED : KEYS_UNAVAILABLE;
	if (f->type != FRAME_RESPONDED ||
	    (out = json_object_get(f->payload, "output")) == NULL)
		return KEYS_UNAVAILABLE;

	if (p->calls == 1) {
		if (keys_take_state(out, &state) != 0)
			return KEYS_UNAVAILABLE;
		return state == KEYS_UNLOCKED ? KEYS_NEXT : (int)state;
	}
	if (keys_take_public(out, &p->pub[p->calls - 2]) != 0)
		return KEYS_UNAVAILABLE;
	return p->calls - 1 > keys.ndevices ? KEYS_UNLOCKED : KEYS_NEXT;
}

static void
keys_poll_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	static char space[4096];

	/* One read at a time on the loop: the bytes are fed at once. */
	*buf = uv_buf_init(space, sizeof space);
}

static void
keys_poll_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct keys_poll *p = s->data;
	struct frame      f;
	size_t            off = 0, used;
	int               rc;

	if (nread < 0) {
		keys_poll_end(p, KEYS_UNAVAILABLE);
		return;
	}
	while (!p->ended && off < (size_t)nread) {
		rc = frame_decoder_feed(
		    p->dec, buf->base + off, (size_t)nread - off, &used, &f);
		off += used;
		if (rc < 0)
			keys_poll_end(p, KEYS_UNAVAILABLE);
		if (rc != 1)
			continue;
		rc = keys_poll_answer(p, &f);
		frame_release(&f);
		if (rc == KEYS_NEXT && keys_poll_send(p) != 0)
			rc = KEYS_UNAVAILABLE;
		if (rc != KEYS_NEXT)
			keys_poll_end(p, rc);
	}
}

static void
keys_poll_connected(uv_connect_t *req, int status)
{
	struct keys_poll *p = req->data;

	if (p->ended)
		return;
	if (status < 0 ||
	    uv_read_start((uv_stream_t *)&p->pipe, keys_poll_alloc,
	        keys_poll_read) != 0 ||
	    keys_poll_send(p) != 0)
		keys_poll_end(p, KEYS_UNAVAILABLE);
}

static int
keys_poll_start(void)
{
	struct keys_poll *p;

	if ((p = calloc(1, sizeof *p)) == NULL)
		return -ENOMEM;
	if (frame_decoder_new(KEYS_FRAME_MAX, &p->dec) != 0 ||
	    uv_pipe_init(keys.loop, &p->pipe, 0) != 0) {
		frame_decoder_free(p->dec);
		free(p);
		return -ENOMEM;
	}
	p->pipe.data = p->connect.data = p;
	uv_pipe_connect(&p->connect, &p->pipe, keys.path, keys_poll_connected);
	keys.poll = p;
	return 0;
}

static void
keys_tick(uv_timer_t *t)
{
	/* A daemon that has not answered within a period counts as away. */
	if (keys.poll != NULL)
		keys_poll_end(keys.poll, KEYS_UNAVAILABLE);

	/* XXX: out of memory, this poll is skipped; the next may do. */
	keys_poll_start();
}

int
keys_start(uv_loop_t *loop, const char *path, unsigned ndevices,
    struct sshd *sshd, char *err, size_t errlen)
{
	int rc;

	keys.loop = loop;
	keys.ndevices =
	    ndevices < KEYS_DEVICES_MAX ? ndevices : KEYS_DEVICES_MAX;
	keys.state = KEYS_UNAVAILABLE;
	if (path == NULL)
		return 0;
	if ((keys.path = strdup(path)) == NULL)
		return -ENOMEM;
	if ((rc = keys_first(sshd, err, errlen)) != 0)
		return rc;

	uv_timer_init(loop, &keys.timer);
	uv_timer_start(&keys.timer, keys_tick, KEYS_POLL_MS, KEYS_POLL_MS);
	keys.timing = 1;
	return 0;
}

void
keys_stop(void)
{
	if (keys.poll != NULL)
		keys_poll_end(keys.poll, KEYS_ABANDONED);
	if (keys.timing)
		uv_close((uv_handle_t *)&keys.timer, NULL);
	keys.timing = 0;
	free(keys.path);
	keys.path = NULL;
}

enum keys_state
keys_state(void)
{
	return keys.state;
}

const char *
keys_state_name(enum keys_state state)
{
	static const char *names[] = {
	    [KEYS_UNAVAILABLE] = "unavailable",
	    [KEYS_LOCKED] = "locked",
	    [KEYS_UNLOCKED] = "unlocked",
	};

	return names[state];
}

int
keys_host_from_seed(void)
{
	return keys.host_from_seed;
}

const struct keys_public *
keys_identity(void)
{
	return &keys.pub[0];
}

unsigned
keys_devices(void)
{
	return keys.ndevices;
}

const struct keys_public *
keys_device(unsigned n)
{
	if (n == 0 || n > keys.ndevices)
		return NULL;
	return &keys.pub[n];
}
