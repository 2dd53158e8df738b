/*
 * SOCKS5 (RFC 1928), server side, for the worker's SOCKS forwards.
 *
 * The parser is pure: it takes bytes in pieces of any size and says what
 * to send back.  The glue below runs it on an accepted connection and,
 * once a CONNECT request is complete, hands the connection to a channel
 * through the forward's upstream.  Every request gets a complete 10-byte
 * reply; a refused client is answered, then closed once it has read the
 * answer or a short grace has passed.
 *
 * The destination a client asks for is never logged nor put into an
 * event.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "forward.h"
#include "socks.h"

#define SOCKS_VERSION        5
#define SOCKS_METHOD_NONE    0x00
#define SOCKS_METHOD_REFUSED 0xff
#define SOCKS_CMD_CONNECT    1
#define SOCKS_ATYP_IPV4      1
#define SOCKS_ATYP_DOMAIN    3
#define SOCKS_ATYP_IPV6      4
#define SOCKS_REPLY_LEN      10

#define SOCKS_PENDING_MAX  4096        /* handshakes at once */
#define SOCKS_HANDSHAKE_MS (10 * 1000) /* greeting to request */
#define SOCKS_LINGER_MS    (2 * 1000)  /* for a refused client to read */
#define SOCKS_READ_SIZE    (16 * 1024) /* also bounds the early payload */

enum socks_step {
	SOCKS_STEP_GREETING,
	SOCKS_STEP_REQUEST,
	SOCKS_STEP_DONE,
};

/*
 * The parser.
 */

void
socks_parser_init(struct socks_parser *p)
{
	memset(p, 0, sizeof *p);
	p->step = SOCKS_STEP_GREETING;
}

void
socks_reply(uint8_t rep, uint8_t out[10])
{
	memset(out, 0, SOCKS_REPLY_LEN);
	out[0] = SOCKS_VERSION;
	out[1] = rep;
	out[3] = SOCKS_ATYP_IPV4;
}

/* Bytes the message being read needs, as far as its header tells. */
static size_t
socks_need(const struct socks_parser *p)
{
	const uint8_t *b = p->buf;

	if (p->step == SOCKS_STEP_GREETING)
		return p->have < 2 ? 2 : 2 + (size_t)b[1];
	if (p->have < 4)
		return 4;
	switch (b[3]) {
	case SOCKS_ATYP_IPV4:
		return 4 + 4 + 2;
	case SOCKS_ATYP_IPV6:
		return 4 + 16 + 2;
	case SOCKS_ATYP_DOMAIN:
		return p->have < 5 ? 5 : 5 + (size_t)b[4] + 2;
	}
	return 4;
}

static int
socks_refuse(uint8_t rep, uint8_t *out, size_t *outlen)
{
	socks_reply(rep, out + *outlen);
	*outlen += SOCKS_REPLY_LEN;
	return SOCKS_FAIL;
}

static int
socks_greeting(struct socks_parser *p, uint8_t *out, size_t *outlen,
    struct socks_request *req)
{
	size_t i;

	/* Not SOCKS5 at all: there is nothing it would understand. */
	if (p->buf[0] != SOCKS_VERSION)
		return SOCKS_FAIL;
	if (p->have < socks_need(p))
		return SOCKS_MORE;

	out[(*outlen)++] = SOCKS_VERSION;
	for (i = 2; i < p->have; i++) {
		if (p->buf[i] == SOCKS_METHOD_NONE)
			break;
	}
	if (i == p->have) {
		out[(*outlen)++] = SOCKS_METHOD_REFUSED;
		return SOCKS_FAIL;
	}
	out[(*outlen)++] = SOCKS_METHOD_NONE;

	p->step = SOCKS_STEP_REQUEST;
	p->have = 0;
	return SOCKS_MORE;
}

/* Fills req from a complete request; 0 or the reply code refusing it. */
static uint8_t
socks_address(const struct socks_parser *p, struct socks_request *req)
{
	const uint8_t *b = p->buf, *port = b + p->have - 2;
	size_t         len;

	memset(req, 0, sizeof *req);
	req->atyp = b[3];
	req->port = (unsigned)port[0] << 8 | port[1];
	switch (b[3]) {
	case SOCKS_ATYP_IPV4:
		inet_ntop(AF_INET, b + 4, req->host, sizeof req->host);
		break;
	case SOCKS_ATYP_IPV6:
		inet_ntop(AF_INET6, b + 4, req->host, sizeof req->host);
		break;
	default:
		/* An empty name or one with a NUL names nothing that could
		 * be reached, and would be cut short as a C string. */
		len = b[4];
		if (len == 0 || memchr(b + 5, '\0', len) != NULL)
			return SOCKS_REP_FAILURE;
		memcpy(req->host, b + 5, len);
		req->host[len] = '\0';
		break;
	}
	return req->port == 0 ? SOCKS_REP_FAILURE : 0;
}

static int
socks_request(struct socks_parser *p, uint8_t *out, size_t *outlen,
    struct socks_request *req)
{
	const uint8_t *b = p->buf;
	uint8_t        atyp, rep;

	if (b[0] != SOCKS_VERSION)
		return socks_refuse(SOCKS_REP_FAILURE, out, outlen);
	if (p->have < 4)
		return SOCKS_MORE;

	/* An unknown address type leaves no way to find the request's
	 * end, so it is answered at once. */
	atyp = b[3];
	if (atyp != SOCKS_ATYP_IPV4 && atyp != SOCKS_ATYP_IPV6 &&
	    atyp != SOCKS_ATYP_DOMAIN) {
		rep = b[1] != SOCKS_CMD_CONNECT ? SOCKS_REP_COMMAND
		                                : SOCKS_REP_ADDRESS;
		return socks_refuse(rep, out, outlen);
	}
	if (p->have < socks_need(p))
		return SOCKS_MORE;

	if (b[1] != SOCKS_CMD_CONNECT)
		return socks_refuse(SOCKS_REP_COMMAND, out, outlen);
	if ((rep = socks_address(p, req)) != 0)
		return socks_refuse(rep, out, outlen);
	return SOCKS_REQUEST;
}

typedef int (*socks_step_fn)(
    struct socks_parser *, uint8_t *, size_t *, struct socks_request *);

static const socks_step_fn socks_steps[] = {
    [SOCKS_STEP_GREETING] = socks_greeting,
    [SOCKS_STEP_REQUEST] = socks_request,
};

int
socks_parser_feed(struct socks_parser *p, const uint8_t *data, size_t len,
    size_t *used, uint8_t *out, size_t *outlen, struct socks_request *req)
{
	size_t take;
	int    rc;

	*used = 0;
	*outlen = 0;
	if (p->step != SOCKS_STEP_GREETING && p->step != SOCKS_STEP_REQUEST)
		return SOCKS_FAIL;

	/* Take only what the current message needs, so that bytes after
	 * the request stay with the caller. */
	while (*used < len) {
		take = socks_need(p) - p->have;
		if (take > len - *used)
			take = len - *used;
		if (take == 0 || p->have + take > sizeof p->buf)
			return SOCKS_FAIL;
		memcpy(p->buf + p->have, data + *used, take);
		p->have += take;
		*used += take;

		rc = socks_steps[p->step](p, out, outlen, req);
		if (rc != SOCKS_MORE) {
			p->step = SOCKS_STEP_DONE;
			return rc;
		}
	}
	return SOCKS_MORE;
}

/*
 * The glue: one accepted connection from its greeting until a channel
 * takes it, or until it is refused and closed.
 */

enum socks_state {
	SOCKS_HANDSHAKE, /* reading the greeting and the request */
	SOCKS_OPENING,   /* a channel holds the connection, no answer yet */
	SOCKS_LINGER,    /* refused: waiting for the client to go */
};

struct socks_conn {
	TAILQ_ENTRY(socks_conn) entry; /* while the connection is ours */
	struct forward     *f;         /* NULL once forgotten */
	uv_tcp_t           *tcp;       /* ours, until a channel takes it */
	uv_tcp_t           *handed;    /* the channel's, for the answer */
	uv_timer_t          timer;
	uv_shutdown_t       shut;
	enum socks_state    state;
	int                 refs;
	int                 listed;
	int                 shut_done;
	int                 peer_eof;
	struct socks_parser parser;
};

struct socks_write {
	uv_write_t req;
	uint8_t    data[16];
};

static TAILQ_HEAD(, socks_conn) pending = TAILQ_HEAD_INITIALIZER(pending);
static size_t npending;
static char   read_buf[SOCKS_READ_SIZE];

static void socks_alloc(uv_handle_t *, size_t, uv_buf_t *);
static void socks_on_read(uv_stream_t *, ssize_t, const uv_buf_t *);

static void
socks_unref(struct socks_conn *c)
{
	if (--c->refs == 0)
		free(c);
}

static void
socks_on_tcp_closed(uv_handle_t *h)
{
	struct socks_conn *c = h->data;

	free(h);
	socks_unref(c);
}

static void
socks_on_timer_closed(uv_handle_t *h)
{
	socks_unref(h->data);
}

static void
socks_unlist(struct socks_conn *c)
{
	if (!c->listed)
		return;
	TAILQ_REMOVE(&pending, c, entry);
	npending--;
	c->listed = 0;
}

static void
socks_close(struct socks_conn *c)
{
	socks_unlist(c);
	if (c->tcp != NULL) {
		uv_close((uv_handle_t *)c->tcp, socks_on_tcp_closed);
		c->tcp = NULL;
	}
	if (!uv_is_closing((uv_handle_t *)&c->timer))
		uv_close((uv_handle_t *)&c->timer, socks_on_timer_closed);
}

static void
socks_on_written(uv_write_t *req, int status)
{
	/* A failed write shows up as a failed read too; nothing to do. */
	free(req);
}

static int
socks_send(uv_tcp_t *tcp, const uint8_t *data, size_t len)
{
	struct socks_write *w;
	uv_buf_t            buf = uv_buf_init((char *)data, (unsigned)len);
	int                 rc;

	/* A fresh connection takes a few bytes at once; only the rest
	 * needs a request (and the loop's write machinery). */
	if ((rc = uv_try_write((uv_stream_t *)tcp, &buf, 1)) > 0) {
		data += rc;
		len -= (size_t)rc;
	} else if (rc != UV_EAGAIN) {
		return rc;
	}
	if (len == 0)
		return 0;

	if (len > sizeof w->data || (w = malloc(sizeof *w)) == NULL)
		return -ENOMEM;
	memcpy(w->data, data, len);
	buf = uv_buf_init((char *)w->data, (unsigned)len);
	if ((rc = uv_write(
	         &w->req, (uv_stream_t *)tcp, &buf, 1, socks_on_written)) != 0)
		free(w);
	return rc;
}

static void
socks_on_grace_end(uv_timer_t *t)
{
	socks_close(t->data);
}

static void
socks_on_shutdown(uv_shutdown_t *req, int status)
{
	struct socks_conn *c = req->data;

	if (status == UV_ECANCELED)
		return;
	c->shut_done = 1;
	if (c->peer_eof || status < 0)
		socks_close(c);
}

/*
 * Closing at once while the client may still be sending would reset the
 * connection and could destroy the answer before it is read; so the
 * write side is shut after the answer, and what still arrives is read
 * and dropped until the client closes or the grace ends.
 */
static void
socks_linger(struct socks_conn *c)
{
	int rc;

	c->state = SOCKS_LINGER;
	c->shut.data = c;
	rc = uv_read_start((uv_stream_t *)c->tcp, socks_alloc, socks_on_read);
	if ((rc != 0 && rc != UV_EALREADY) ||
	    uv_shutdown(&c->shut, (uv_stream_t *)c->tcp, socks_on_shutdown) !=
	        0) {
		socks_close(c);
		return;
	}
	uv_timer_start(&c->timer, socks_on_grace_end, SOCKS_LINGER_MS, 0);
}

static void
socks_refuse_conn(struct socks_conn *c, uint8_t rep)
{
	uint8_t out[SOCKS_REPLY_LEN];

	socks_reply(rep, out);
	if (socks_send(c->tcp, out, sizeof out) != 0) {
		socks_close(c);
		return;
	}
	socks_linger(c);
}

static void
socks_on_open(void *arg, int status)
{
	struct socks_conn *c = arg;
	uint8_t            out[SOCKS_REPLY_LEN], rep;

	if (status == 0)
		rep = SOCKS_REP_OK;
	else if (status == -ECONNREFUSED)
		rep = SOCKS_REP_REFUSED;
	else
		rep = SOCKS_REP_FAILURE;

	/* Queued before the channel moves data, so the answer comes
	 * first; on failure the channel flushes it, then closes. */
	socks_reply(rep, out);
	socks_send(c->handed, out, sizeof out);
	c->handed = NULL;
	socks_unref(c);
}

static void
socks_open(struct socks_conn *c, const struct socks_request *req,
    const char *early, size_t earlylen)
{
	struct channel_spec spec;
	struct session     *s;

	/* The channel reads from here on, once it is open. */
	uv_read_stop((uv_stream_t *)c->tcp);
	uv_timer_stop(&c->timer);
	s = c->f != NULL ? forward__session(c->f) : NULL;
	if (s == NULL) {
		socks_refuse_conn(c, SOCKS_REP_FAILURE);
		return;
	}

	memset(&spec, 0, sizeof spec);
	spec.kind = "socks";
	spec.host = req->host;
	spec.port = req->port;
	spec.early = early;
	spec.earlylen = earlylen;
	spec.owner = c->f;
	spec.cb = socks_on_open;
	spec.arg = c;

	c->refs++;
	if (channel_connect(s, c->tcp, &spec) != 0) {
		c->refs--;
		socks_refuse_conn(c, SOCKS_REP_FAILURE);
		return;
	}

	/* The channel owns the connection now; c waits for its answer. */
	c->state = SOCKS_OPENING;
	c->handed = c->tcp;
	c->tcp = NULL;
	socks_unref(c);
	socks_close(c);
}

static void
socks_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	/* Each read is consumed before the next: one buffer serves all. */
	*buf = uv_buf_init(read_buf, sizeof read_buf);
}

static void
socks_drop(struct socks_conn *c, ssize_t nread)
{
	if (nread >= 0)
		return;
	c->peer_eof = 1;
	uv_read_stop((uv_stream_t *)c->tcp);
	if (c->shut_done || nread != UV_EOF)
		socks_close(c);
}

static void
socks_on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct socks_conn   *c = st->data;
	struct socks_request req;
	uint8_t              out[16];
	size_t               used, outlen;
	int                  rc;

	if (c->state == SOCKS_LINGER) {
		socks_drop(c, nread);
		return;
	}
	if (nread < 0) {
		socks_close(c);
		return;
	}

	rc = socks_parser_feed(&c->parser, (const uint8_t *)buf->base,
	    (size_t)nread, &used, out, &outlen, &req);
	if (outlen > 0 && socks_send(c->tcp, out, outlen) != 0) {
		socks_close(c);
		return;
	}
	if (rc == SOCKS_FAIL)
		socks_linger(c);
	else if (rc == SOCKS_REQUEST)
		socks_open(c, &req, buf->base + used, (size_t)nread - used);
}

static void
socks_on_timeout(uv_timer_t *t)
{
	struct socks_conn *c = t->data;

	/* A client that chose a method is owed an answer. */
	if (c->parser.step == SOCKS_STEP_REQUEST)
		socks_refuse_conn(c, SOCKS_REP_FAILURE);
	else
		socks_close(c);
}

static void
socks_free_tcp(uv_handle_t *h)
{
	free(h);
}

void
socks_start(uv_loop_t *loop, uv_tcp_t *tcp, struct forward *f)
{
	struct socks_conn *c = NULL;

	if (npending >= SOCKS_PENDING_MAX ||
	    (c = calloc(1, sizeof *c)) == NULL) {
		uv_close((uv_handle_t *)tcp, socks_free_tcp);
		return;
	}
	c->f = f;
	c->tcp = tcp;
	c->refs = 2; /* the connection and the timer */
	tcp->data = c;
	socks_parser_init(&c->parser);
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	TAILQ_INSERT_TAIL(&pending, c, entry);
	npending++;
	c->listed = 1;

	uv_timer_start(&c->timer, socks_on_timeout, SOCKS_HANDSHAKE_MS, 0);
	if (uv_read_start((uv_stream_t *)tcp, socks_alloc, socks_on_read) != 0)
		socks_close(c);
}

void
socks__forget(const struct forward *f)
{
	struct socks_conn *c, *next;
	uint8_t            out[SOCKS_REPLY_LEN];

	/* Handshakes end with their forward: a silent client must not
	 * hold a stopping daemon for the whole handshake timeout.  The
	 * answer is queued before the close, which still delivers it. */
	socks_reply(SOCKS_REP_FAILURE, out);
	for (c = TAILQ_FIRST(&pending); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->f != f)
			continue;
		c->f = NULL;
		if (c->state == SOCKS_HANDSHAKE &&
		    c->parser.step == SOCKS_STEP_REQUEST)
			socks_send(c->tcp, out, sizeof out);
		socks_close(c);
	}
}
