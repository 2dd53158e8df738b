/*
 * Channels spliced to TCP connections.
 *
 * Two ways in.  A channel the peer opens (direct-tcpip on a head,
 * forwarded-tcpip on a worker) is confirmed only once its target has
 * connected; every address the target resolves to is tried in turn.  A
 * channel this node opens for a local connection (SOCKS, local forwards,
 * a head's remote-forward listeners) waits for the peer's confirmation;
 * then the connection's owner is told, and data flows.
 *
 * Each direction has its own back-pressure: data from the peer that the
 * TCP side cannot take yet stays in libssh's channel buffer (which stops
 * the window from growing) and is drained when the write queue has room;
 * data from the TCP side that the peer's window refuses is kept, and the
 * socket is not read again until it has gone out.  End of file is carried
 * each way as a half-close.
 *
 * libssh calls the channel callbacks from inside its own calls, so they
 * only record what happened; the work that may free something runs in
 * channel__settle.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netdb.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libssh/callbacks.h>
#include <libssh/server.h>
#include <uv.h>

#include "channel.h"
#include "events.h"
#include "hostport.h"
#include "log.h"
#include "node.h"
#include "policy.h"
#include "session.h"
#include "sshd.h"
#include "stats.h"

#define CHANNEL_MAX         65536
#define CHANNEL_PER_SESSION 4096
#define CHANNEL_WQ_HIGH     (512 * 1024)
#define CHANNEL_WQ_LOW      (128 * 1024)
#define CHANNEL_READ_SIZE   (64 * 1024)
/* The biggest window libssh offers at open: a read asking for more
 * makes it enlarge the window at once (channel_open_window). */
#define CHANNEL_LIBSSH_WINDOW 64000
#define CHANNEL_EARLY_MAX     (64 * 1024)
/*
 * More unread data than any window libssh grants: the peer ignores it.
 * libssh widens the window to 1.28 MB once it is down to half that, so
 * a peer that keeps to it leaves at most 1.92 MB unread.
 */
#define CHANNEL_PEER_MAX (4 * 1024 * 1024)
/* What all channels together may hold for slow targets: in libssh and
 * queued to their sockets. */
#define CHANNEL_BACKLOG_MAX (256 * 1024 * 1024)

enum channel_state {
	CHANNEL_CONNECTING, /* resolving and connecting the target */
	CHANNEL_OPENING,    /* waiting for the peer to confirm ours */
	CHANNEL_OPEN,
	CHANNEL_CLOSED,
};

static const char *channel_state_names[] = {
    "connecting",
    "opening",
    "open",
    "closed",
};

struct channel {
	TAILQ_ENTRY(channel) sentry; /* the session's set */
	TAILQ_ENTRY(channel) gentry; /* all channels, id order */
	uint64_t            id;
	uint64_t            session_id;
	struct session     *session; /* NULL once closed */
	struct channel_set *set;
	uv_loop_t          *loop;
	int                 refs;
	enum channel_state  state;
	int                 finish; /* close at the next settle */

	ssh_message                         msg; /* open request, unanswered */
	ssh_channel                         ch;
	struct ssh_channel_callbacks_struct cb;

	uv_getaddrinfo_t gai;
	int              gai_pending;
	struct addrinfo *ai_list;
	struct addrinfo *ai_next;
	uv_tcp_t        *tcp; /* the target or local connection */
	uv_connect_t     conn;
	uv_shutdown_t    shut;

	size_t   wq;          /* bytes queued to the TCP side */
	size_t   held;        /* bytes libssh holds for us, unread */
	int      ssh_stalled; /* data left in libssh */
	uint64_t taken_at;    /* loop time the target last took data */
	int      peer_eof;
	int      peer_closed;
	int      target_shut;
	int      target_eof;
	int      eof_sent;
	int      window_open; /* the full window was granted */
	char    *pend;        /* TCP data the window held */
	size_t   pend_off;
	size_t   pend_len;

	uint64_t bytes_in;
	uint64_t bytes_out;
	int64_t  opened;
	char     kind[24];
	char     identity[128];
	char     host[256];
	unsigned port;
	char     target[300];

	/* Channels this node opens for a local connection. */
	int             reverse;
	char            orig_host[256];
	unsigned        orig_port;
	char           *early;
	size_t          earlylen;
	const void     *owner;
	channel_open_cb open_cb;
	void           *open_arg;
	int             open_err;
	int             open_ready; /* confirmed, not yet told */
	uint64_t        asked_at;   /* session__received when last asked */
};

struct channel_write {
	uv_write_t      req;
	struct channel *c;
	size_t          len;
	char            data[];
};

static TAILQ_HEAD(, channel) channels = TAILQ_HEAD_INITIALIZER(channels);
static channel_control_cb control_cb;
static void              *control_arg;
static size_t             nchannels;
static uint64_t           next_id;
static char               read_buf[CHANNEL_READ_SIZE];
static size_t             held_total; /* the sum of every channel's held */
static size_t             wq_total;   /* and of every channel's wq */

static void channel_try_next(struct channel *);
static void channel_drain_ssh(struct channel *);
static void channel_settle_session(struct channel *);
static void channel_set_held(struct channel *, size_t);

_Static_assert(CHANNEL_READ_SIZE > CHANNEL_LIBSSH_WINDOW,
    "a read of read_buf must ask for more than libssh's first window");

static void
channel_unref(struct channel *c)
{
	if (--c->refs > 0)
		return;
	if (c->ai_list != NULL)
		uv_freeaddrinfo(c->ai_list);
	free(c->pend);
	free(c->early);
	free(c);
}

/* A closed connection handle: the channel may go now. */
static void
channel_on_tcp_closed(uv_handle_t *h)
{
	struct channel *c = h->data;

	free(h);
	channel_unref(c);
}

/* A failed connect attempt's handle is gone: try the next address. */
static void
channel_on_attempt_closed(uv_handle_t *h)
{
	struct channel *c = h->data;

	free(h);
	if (!c->finish && c->session != NULL) {
		channel_try_next(c);
		channel_settle_session(c);
	}
	channel_unref(c);
}

static void
channel_close_tcp(struct channel *c)
{
	if (c->tcp == NULL)
		return;
	uv_close((uv_handle_t *)c->tcp, channel_on_tcp_closed);
	c->tcp = NULL;
}

static void
channel_on_flushed(uv_shutdown_t *req, int status)
{
	uv_close((uv_handle_t *)req->handle, channel_on_tcp_closed);
}

/* Closes the connection after what is queued on it went out. */
static void
channel_flush_tcp(struct channel *c)
{
	if (c->tcp == NULL)
		return;
	if (uv_shutdown(&c->shut, (uv_stream_t *)c->tcp, channel_on_flushed) !=
	    0)
		uv_close((uv_handle_t *)c->tcp, channel_on_tcp_closed);
	c->tcp = NULL;
}

static void
channel_emit(struct channel *c, const char *type, json_t *extra)
{
	json_t *o = json_pack("{s:I,s:I,s:s}", "channel", (json_int_t)c->id,
	    "session", (json_int_t)c->session_id, "kind", c->kind);

	if (extra != NULL) {
		json_object_update(o, extra);
		json_decref(extra);
	}
	events_emit(type, o);
}

/* Runs the deferred work for c's session; c's session may be gone. */
static void
channel_settle_session(struct channel *c)
{
	if (c->session != NULL)
		session__settle(c->session);
}

/*
 * TCP side.
 */

static void
channel_on_written(uv_write_t *req, int status)
{
	struct channel_write *w = (struct channel_write *)req;
	struct channel       *c = w->c;

	c->wq -= w->len;
	wq_total -= w->len;
	c->taken_at = uv_now(c->loop);
	free(w);
	if (status == UV_ECANCELED || c->state != CHANNEL_OPEN)
		return;
	if (status < 0)
		c->finish = 1;
	else if (c->ssh_stalled && c->wq < CHANNEL_WQ_LOW)
		channel_drain_ssh(c);
	channel_settle_session(c);
}

static int
channel_to_target(struct channel *c, const char *data, size_t len)
{
	struct channel_write *w;
	uv_buf_t              buf = uv_buf_init((char *)data, (unsigned)len);
	int                   n = 0;

	c->bytes_in += len;
	stats.bytes_in += len;
	session__count(c->session, len, 0);

	/* Most writes complete at once; copy only what does not. */
	if (c->wq == 0 &&
	    (n = uv_try_write((uv_stream_t *)c->tcp, &buf, 1)) < 0 &&
	    n != UV_EAGAIN)
		return n;
	if (n < 0)
		n = 0;
	if (n > 0)
		c->taken_at = uv_now(c->loop);
	if ((size_t)n == len)
		return 0;

	if ((w = malloc(sizeof *w + len - (size_t)n)) == NULL)
		return UV_ENOMEM;
	w->c = c;
	w->len = len - (size_t)n;
	memcpy(w->data, data + n, w->len);
	buf = uv_buf_init(w->data, (unsigned)w->len);
	if ((n = uv_write(&w->req, (uv_stream_t *)c->tcp, &buf, 1,
	         channel_on_written)) != 0) {
		free(w);
		return n;
	}
	c->wq += w->len;
	wq_total += w->len;
	return 0;
}

static void
channel_shut_target(struct channel *c)
{
	if (c->target_shut || c->tcp == NULL)
		return;
	c->target_shut = 1;
	/* Runs after the queued writes; the other end then sees EOF. */
	if (uv_shutdown(&c->shut, (uv_stream_t *)c->tcp, NULL) != 0)
		c->finish = 1;
}

static void
channel_send_eof(struct channel *c)
{
	if (c->eof_sent)
		return;
	c->eof_sent = 1;
	session__batch(c->session);
	/* SSH_AGAIN only says the packet is still queued for the socket. */
	if (ssh_channel_send_eof(c->ch) == SSH_ERROR)
		c->finish = 1;
}

static void
channel_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	/* One buffer serves every read: each is consumed before the next. */
	*buf = uv_buf_init(read_buf, sizeof read_buf);
}

static void channel_on_read(uv_stream_t *, ssize_t, const uv_buf_t *);

static int
channel_peer_busy(const struct channel *c)
{
	return (ssh_get_poll_flags(session__ssh(c->session)) &
	           SSH_WRITE_PENDING) != 0;
}

/*
 * libssh opens a channel with a window of 32 000 or 64 000 bytes and
 * enlarges it when the first data arrives, in a packet of its own that
 * costs both sides a round.  A read asking for more than that enlarges
 * it at once, so that the adjustment leaves with a packet this side
 * sends anyway (the caller batches them).
 */
static void
channel_open_window(struct channel *c)
{
	int n;

	if (c->window_open)
		return;
	c->window_open = 1;
	/* Data held back for a busy target has enlarged it already. */
	if (c->held > 0 || c->ssh_stalled)
		return;
	n = ssh_channel_read_timeout(c->ch, read_buf, sizeof read_buf, 0, 0);
	if (n <= 0)
		return;

	/* Arrived meanwhile, more than the target's queue took. */
	channel_set_held(c, c->held > (size_t)n ? c->held - (size_t)n : 0);
	if (channel_to_target(c, read_buf, (size_t)n) != 0)
		c->finish = 1;
}

/* Keeps what the peer's window refused in pend, and stops reading. */
static int
channel_keep(struct channel *c, const char *data, size_t len)
{
	if ((c->pend = malloc(len)) == NULL)
		return -1;
	memcpy(c->pend, data, len);
	c->pend_off = 0;
	c->pend_len = len;
	uv_read_stop((uv_stream_t *)c->tcp);
	return 0;
}

/* Sends data to the peer; what its window refuses waits in pend. */
static void
channel_to_peer(struct channel *c, const char *data, size_t len)
{
	int n = 0;

	c->bytes_out += len;
	stats.bytes_out += len;
	session__count(c->session, 0, len);

	session__batch(c->session);

	/* While libssh still has output queued for the socket, nothing more
	 * is handed to it: its buffer would grow without bound if the peer
	 * stopped reading. */
	if (!channel_peer_busy(c) &&
	    (n = ssh_channel_write(c->ch, data, (uint32_t)len)) < 0) {
		c->finish = 1;
		return;
	}
	if ((size_t)n < len &&
	    channel_keep(c, data + n, len - (size_t)n) != 0) {
		c->finish = 1;
		return;
	}

	/* Only now: the read it makes may fill read_buf, where data was. */
	channel_open_window(c);
}

static void
channel_on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct channel *c = st->data;

	if (nread == 0 || c->state != CHANNEL_OPEN)
		return;
	if (nread == UV_EOF) {
		c->target_eof = 1;
		uv_read_stop(st);
		channel_send_eof(c);
	} else if (nread < 0) {
		c->finish = 1;
	} else {
		channel_to_peer(c, buf->base, (size_t)nread);
	}
	channel_settle_session(c);
}

/* Sends what the peer's window held back, once it has room again. */
static void
channel_flush_pending(struct channel *c)
{
	int n;

	if (ssh_channel_window_size(c->ch) == 0 || channel_peer_busy(c))
		return;
	session__batch(c->session);
	n = ssh_channel_write(c->ch, c->pend + c->pend_off,
	    (uint32_t)(c->pend_len - c->pend_off));
	if (n < 0) {
		c->finish = 1;
		return;
	}
	c->pend_off += (size_t)n;
	if (c->pend_off < c->pend_len)
		return;

	free(c->pend);
	c->pend = NULL;
	if (c->target_eof)
		channel_send_eof(c);
	else if (uv_read_start((uv_stream_t *)c->tcp, channel_alloc,
	             channel_on_read) != 0)
		c->finish = 1;
}

/*
 * Peer side: libssh callbacks.  They record and pass data on, nothing
 * more.
 */

/*
 * Past CHANNEL_BACKLOG_MAX held for targets by all channels together,
 * the channels whose targets have taken nothing for longest are closed
 * until the rest holds less.  A target that keeps up takes data every
 * moment: such a channel is not chosen while a stalled one holds any.
 * What a closed channel queued is freed as its socket closes, soon.
 */
static void
channel_shed(void)
{
	struct channel *c, *oldest;
	size_t          total = held_total + wq_total;

	while (total > CHANNEL_BACKLOG_MAX) {
		oldest = NULL;
		TAILQ_FOREACH(c, &channels, gentry)
		{
			if (!c->finish && c->held + c->wq > 0 &&
			    (oldest == NULL || c->taken_at < oldest->taken_at))
				oldest = c;
		}
		if (oldest == NULL)
			return;
		log_info("channel closed channel=%llu session=%llu "
		         "reason=\"node backlog\" backlog=%zu",
		    (unsigned long long)oldest->id,
		    (unsigned long long)oldest->session_id,
		    oldest->held + oldest->wq);
		total -= oldest->held + oldest->wq;
		oldest->finish = 1;
		channel_set_held(oldest, 0);
		if (oldest->session != NULL)
			session__soon(oldest->session);
	}
}

/* Keeps held_total, the node-wide bound on data left in libssh. */
static void
channel_set_held(struct channel *c, size_t held)
{
	held_total = held_total - c->held + held;
	c->held = held;
}

static int
channel_on_data(ssh_session ssh, ssh_channel ch, void *data, uint32_t len,
    int is_stderr, void *arg)
{
	struct channel *c = arg;
	size_t          room, n;

	if (c->state == CHANNEL_OPENING && !c->finish) {
		/* Came with the confirmation, before the connection is
		 * ours to write: libssh keeps it until channel_catch_up. */
		channel_set_held(c, len);
		c->ssh_stalled = 1;
		channel_shed();
		return 0;
	}
	if (c->state != CHANNEL_OPEN || c->finish || c->target_shut)
		return (int)len;

	/* len is all that libssh holds for the channel, old and new. */
	if (len > CHANNEL_PEER_MAX) {
		log_info("channel closed channel=%llu session=%llu "
		         "reason=\"peer ignores the window\" held=%u",
		    (unsigned long long)c->id,
		    (unsigned long long)c->session_id, len);
		c->finish = 1;
		channel_set_held(c, 0);
		return (int)len;
	}

	room = c->wq < CHANNEL_WQ_HIGH ? CHANNEL_WQ_HIGH - c->wq : 0;
	n = len < room ? len : room;
	if (n < len)
		c->ssh_stalled = 1;
	if (n > 0 && channel_to_target(c, data, n) != 0) {
		c->finish = 1;
		channel_set_held(c, 0);
		return (int)len;
	}
	channel_set_held(c, len - n);
	channel_shed();
	return c->finish ? (int)len : (int)n;
}

static void
channel_on_eof(ssh_session ssh, ssh_channel ch, void *arg)
{
	struct channel *c = arg;

	c->peer_eof = 1;
	if (c->state == CHANNEL_OPEN && !c->ssh_stalled)
		channel_shut_target(c);
}

static void
channel_on_close(ssh_session ssh, ssh_channel ch, void *arg)
{
	struct channel *c = arg;

	/* What the peer sent before closing still goes to the TCP side:
	 * libssh keeps unread data readable after a close. */
	c->peer_closed = 1;
	c->peer_eof = 1;
	if (c->state == CHANNEL_OPEN && c->tcp != NULL && !c->ssh_stalled)
		uv_read_stop((uv_stream_t *)c->tcp);
}

/*
 * Moves data libssh kept for us while the TCP side was busy: all it held
 * at once.  Every read lets libssh 0.10 widen the peer's window back to
 * its full 1.28 MB, whatever it still holds; reading a little each time
 * the target took some would let a fast peer and a slow target grow that
 * store without end.  Emptied at once, libssh holds no more than its own
 * window allows (CHANNEL_PEER_MAX), and the TCP queue that much on top
 * of its low mark.  The batch keeps the window's widening from leaving
 * before the reads are done.
 */
static void
channel_drain_ssh(struct channel *c)
{
	size_t   left = c->held;
	uint32_t want;
	int      n;

	session__batch(c->session);
	while (left > 0 && !c->finish) {
		want =
		    left < sizeof read_buf ? (uint32_t)left : sizeof read_buf;
		n = ssh_channel_read_nonblocking(c->ch, read_buf, want, 0);
		if (n == SSH_EOF || n == 0) {
			channel_set_held(c, 0);
			break;
		}
		if (n < 0 || channel_to_target(c, read_buf, (size_t)n) != 0) {
			c->finish = 1;
			break;
		}
		left -= (size_t)n < left ? (size_t)n : left;
		channel_set_held(
		    c, c->held > (size_t)n ? c->held - (size_t)n : 0);
	}

	/* What arrived meanwhile waits for the next drain, if the target
	 * could not take it at once. */
	c->ssh_stalled = c->held > 0;
	if (c->peer_eof && !c->ssh_stalled)
		channel_shut_target(c);
}

/* From here on libssh tells c what the peer sends on its channel. */
static void
channel_listen(struct channel *c)
{
	ssh_callbacks_init(&c->cb);
	c->cb.userdata = c;
	c->cb.channel_data_function = channel_on_data;
	c->cb.channel_eof_function = channel_on_eof;
	c->cb.channel_close_function = channel_on_close;
	ssh_set_channel_callbacks(c->ch, &c->cb);
}

/*
 * Both ways in end here: the channel is open, data may flow.
 */
static void
channel_established(struct channel *c)
{
	c->state = CHANNEL_OPEN;
	c->taken_at = uv_now(c->loop);
	if (uv_read_start(
	        (uv_stream_t *)c->tcp, channel_alloc, channel_on_read) != 0)
		c->finish = 1;

	stats.channels++;
	stats.channels_total++;
	channel_emit(
	    c, "channel.opened", json_pack("{s:s}", "identity", c->identity));
}

/*
 * Channels the peer opens: connect the target, then confirm.
 */

static void
channel_confirm(struct channel *c)
{
	session__batch(c->session);
	c->ch = ssh_message_channel_request_open_reply_accept(c->msg);
	ssh_message_free(c->msg);
	c->msg = NULL;
	if (c->ch == NULL) {
		c->finish = 1;
		return;
	}
	/* Small replies go out at once; accepted connections are set so
	 * by whoever accepted them. */
	uv_tcp_nodelay(c->tcp, 1);
	channel_listen(c);
	channel_established(c);
	channel_open_window(c);
}

static void
channel_on_connect(uv_connect_t *req, int status)
{
	struct channel *c = req->handle->data;

	if (status == UV_ECANCELED || c->finish || c->session == NULL)
		return;
	if (status < 0) {
		/* The close callback goes on to the next address. */
		uv_close((uv_handle_t *)c->tcp, channel_on_attempt_closed);
		c->tcp = NULL;
		return;
	}
	channel_confirm(c);
	channel_settle_session(c);
}

/*
 * The unspecified address (0.0.0.0, "0", ::) reaches this host's own
 * services while no rule names it as such: it is never dialled.
 */
static int
channel_unspecified(const struct addrinfo *ai)
{
	const struct sockaddr_in  *v4;
	const struct sockaddr_in6 *v6;

	if (ai->ai_family == AF_INET) {
		v4 = (const struct sockaddr_in *)ai->ai_addr;
		return v4->sin_addr.s_addr == htonl(INADDR_ANY);
	}
	v6 = (const struct sockaddr_in6 *)ai->ai_addr;
	return IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr) ||
	    (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr) &&
	        v6->sin6_addr.s6_addr32[3] == htonl(INADDR_ANY));
}

static void
channel_try_next(struct channel *c)
{
	struct addrinfo *ai;

	while ((ai = c->ai_next) != NULL) {
		c->ai_next = ai->ai_next;
		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    channel_unspecified(ai))
			continue;
		if ((c->tcp = malloc(sizeof *c->tcp)) == NULL)
			break;
		uv_tcp_init(c->loop, c->tcp);
		c->tcp->data = c;
		c->refs++;
		if (uv_tcp_connect(
		        &c->conn, c->tcp, ai->ai_addr, channel_on_connect) == 0)
			return;
		uv_close((uv_handle_t *)c->tcp, channel_on_attempt_closed);
		c->tcp = NULL;
		return;
	}
	c->finish = 1;
}

static void
channel_on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct channel *c = req->data;

	c->gai_pending = 0;
	if (status < 0 || c->finish || c->session == NULL) {
		if (res != NULL)
			uv_freeaddrinfo(res);
		if (status != UV_ECANCELED)
			c->finish = 1;
	} else {
		c->ai_list = c->ai_next = res;
		channel_try_next(c);
	}
	channel_settle_session(c);
	channel_unref(c);
}

static void
channel_resolve(struct channel *c)
{
	struct addrinfo hints;
	char            port[8];

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof port, "%u", c->port);

	/* An address needs no lookup, and no trip through the pool. */
	hints.ai_flags |= AI_NUMERICHOST;
	if (getaddrinfo(c->host, port, &hints, &c->ai_list) == 0) {
		c->ai_next = c->ai_list;
		channel_try_next(c);
		return;
	}

	hints.ai_flags &= ~AI_NUMERICHOST;
	c->gai.data = c;
	c->gai_pending = 1;
	c->refs++;
	if (uv_getaddrinfo(c->loop, &c->gai, channel_on_resolved, c->host, port,
	        &hints) != 0) {
		c->gai_pending = 0;
		c->refs--;
		c->finish = 1;
	}
}

static void
channel_format_target(struct channel *c)
{
	if (strchr(c->host, ':') != NULL)
		snprintf(
		    c->target, sizeof c->target, "[%s]:%u", c->host, c->port);
	else
		snprintf(
		    c->target, sizeof c->target, "%s:%u", c->host, c->port);
}

/* A new channel of s, in the registry, holding its link reference. */
static struct channel *
channel_new(struct session *s, struct channel_set *set, const char *kind,
    const char *host, unsigned port)
{
	struct channel *c;

	if (nchannels >= CHANNEL_MAX ||
	    channel__set_count(set) >= CHANNEL_PER_SESSION ||
	    strlen(host) >= sizeof c->host)
		return NULL;
	if ((c = calloc(1, sizeof *c)) == NULL)
		return NULL;

	c->id = ++next_id;
	c->session = s;
	c->session_id = session__id(s);
	c->set = set;
	c->loop = session__loop(s);
	c->taken_at = uv_now(c->loop);
	c->refs = 1;
	c->opened = node_now_ms();
	snprintf(c->kind, sizeof c->kind, "%s", kind);
	snprintf(c->identity, sizeof c->identity, "%s", session__identity(s));
	snprintf(c->host, sizeof c->host, "%s", host);
	c->port = port;
	channel_format_target(c);

	TAILQ_INSERT_TAIL(set, c, sentry);
	TAILQ_INSERT_TAIL(&channels, c, gentry);
	nchannels++;
	return c;
}

/*
 * The forwarding rules decide before anything is dialled.  A refusal is
 * logged without the target: destinations are never logged.
 */
static int
channel_allowed(struct session *s, const char *host, unsigned port)
{
	const struct policy  *p;
	struct policy_subject subject;

	p = sshd_rules(session__sshd(s), SSHD_FORWARDING);
	session__subject(s, &subject);
	if (p != NULL && session__may_forward(s) &&
	    policy_allows(p, host, port, &subject))
		return 1;

	stats.channels_denied++;
	log_info("channel denied session=%llu identity=%s",
	    (unsigned long long)session__id(s), subject.id);
	return 0;
}

void
channel_set_control(channel_control_cb cb, void *arg)
{
	control_cb = cb;
	control_arg = arg;
}

/*
 * The control channel's far end is a socket pair, so that everything a
 * channel does for a TCP target (back-pressure, half-close, counting)
 * serves it too.
 */
static int
channel_open_control(
    struct session *s, struct channel_set *set, ssh_message msg)
{
	struct channel *c;
	int             sv[2];

	if (control_cb == NULL)
		return -EPERM;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	        sv) == -1)
		return -errno;
	if ((c = channel_new(s, set, "control", "alknet-control", 0)) == NULL) {
		close(sv[0]);
		close(sv[1]);
		return -ENOSPC;
	}
	c->state = CHANNEL_CONNECTING;
	c->msg = msg;

	if ((c->tcp = malloc(sizeof *c->tcp)) == NULL) {
		close(sv[0]);
		close(sv[1]);
		c->finish = 1;
		return 0;
	}
	uv_tcp_init(c->loop, c->tcp);
	c->tcp->data = c;
	c->refs++;
	if (uv_tcp_open(c->tcp, sv[0]) != 0) {
		close(sv[0]);
		close(sv[1]);
		c->finish = 1;
		return 0;
	}
	if (control_cb(control_arg, c->loop, sv[1], s) != 0) {
		c->finish = 1;
		return 0;
	}
	channel_confirm(c);
	return 0;
}

int
channel__open(struct session *s, struct channel_set *set, ssh_message msg,
    const char *kind, const char *host, unsigned port, const void *owner)
{
	struct channel *c;
	int             p;

	if (host == NULL) {
		host = ssh_message_channel_request_open_destination(msg);
		p = ssh_message_channel_request_open_destination_port(msg);
		if (host != NULL && strcmp(host, "alknet-control") == 0 &&
		    p == 0)
			return channel_open_control(s, set, msg);
		/* alknet-* names the node's own services; never dialled. */
		if (host == NULL || strncmp(host, "alknet-", 7) == 0 ||
		    p <= 0 || p > 65535)
			return -EPERM;
		port = (unsigned)p;
		if (!channel_allowed(s, host, port))
			return -EACCES;
	}
	if ((c = channel_new(s, set, kind, host, port)) == NULL)
		return -ENOSPC;
	c->state = CHANNEL_CONNECTING;
	c->msg = msg;
	c->owner = owner;
	channel_resolve(c);
	return 0;
}

/*
 * Channels this node opens for a local connection.
 */

/*
 * What the peer sent right behind its confirmation (a target that speaks
 * first, and may be gone already) waited in libssh, after the client's
 * answer: it goes on now.
 */
static void
channel_catch_up(struct channel *c)
{
	if (c->finish)
		return;
	if (c->ssh_stalled)
		channel_drain_ssh(c);
	else if (c->peer_eof)
		channel_shut_target(c);
}

/* Sends the open request, or follows it; SSH_OK once confirmed. */
static int
channel_open_request(struct channel *c)
{
	if (c->reverse)
		return ssh_channel_open_reverse_forward(c->ch, c->host,
		    (int)c->port, c->orig_host, (int)c->orig_port);
	return ssh_channel_open_forward(
	    c->ch, c->host, (int)c->port, c->orig_host, (int)c->orig_port);
}

static void
channel_open_step(struct channel *c)
{
	int rc = SSH_OK;

	if (!c->open_ready) {
		/* Asking again before anything was read would only poll. */
		if (session__received(c->session) == c->asked_at)
			return;
		rc = channel_open_request(c);
		c->asked_at = session__received(c->session);
	}
	if (rc == SSH_AGAIN)
		return;
	if (rc != SSH_OK) {
		c->open_err = -ECONNREFUSED;
		c->finish = 1;
		return;
	}

	/* The client waits for its answer: that goes first. */
	if (c->open_cb != NULL)
		c->open_cb(c->open_arg, 0);
	c->open_cb = NULL;
	channel_established(c);
	if (c->early != NULL && !c->finish)
		channel_to_peer(c, c->early, c->earlylen);
	free(c->early);
	c->early = NULL;
	channel_catch_up(c);
}

/* Who the local connection came from, as the open request tells it. */
static void
channel_set_origin(
    struct channel *c, uv_tcp_t *tcp, const struct channel_spec *spec)
{
	struct hostport peer = {.host = "127.0.0.1"};
	uv_os_fd_t      fd;

	if (spec->orig_host != NULL) {
		snprintf(peer.host, sizeof peer.host, "%s", spec->orig_host);
		peer.port = (uint16_t)spec->orig_port;
	} else if (uv_fileno((const uv_handle_t *)tcp, &fd) == 0) {
		/* A client whose address cannot be had shows as 127.0.0.1:0. */
		hostport_peername(fd, &peer);
	}
	snprintf(c->orig_host, sizeof c->orig_host, "%s", peer.host);
	c->orig_port = peer.port;
}

int
channel_connect(
    struct session *s, uv_tcp_t *tcp, const struct channel_spec *spec)
{
	struct channel *c;

	if (s == NULL)
		return -ENOTCONN;
	if (spec->earlylen > CHANNEL_EARLY_MAX)
		return -EINVAL;
	c = channel_new(
	    s, session__channels(s), spec->kind, spec->host, spec->port);
	if (c == NULL)
		return -ENOSPC;
	if ((c->ch = ssh_channel_new(session__ssh(s))) == NULL ||
	    (spec->earlylen > 0 &&
	        (c->early = malloc(spec->earlylen)) == NULL)) {
		c->finish = 1;
		return -ENOMEM;
	}
	/* Before the request goes out: data may come with the answer. */
	channel_listen(c);

	c->state = CHANNEL_OPENING;
	c->reverse = spec->reverse;
	channel_set_origin(c, tcp, spec);
	if (spec->earlylen > 0)
		memcpy(c->early, spec->early, spec->earlylen);
	c->earlylen = spec->earlylen;
	c->owner = spec->owner;
	c->open_cb = spec->cb;
	c->open_arg = spec->arg;
	c->tcp = tcp;
	tcp->data = c;
	c->refs++;

	/* The request goes out now.  Even an answer that is already there
	 * is handled from the loop, never inside this call. */
	switch (channel_open_request(c)) {
	case SSH_AGAIN:
		break;
	case SSH_OK:
		c->open_ready = 1;
		break;
	default:
		c->open_err = -ECONNREFUSED;
		c->finish = 1;
		break;
	}
	c->asked_at = session__received(s);
	session__soon(s);
	return 0;
}

/*
 * Closing.
 */

static void
channel_finish(struct channel *c)
{
	int was_open = c->state == CHANNEL_OPEN;

	c->state = CHANNEL_CLOSED;
	channel_set_held(c, 0);
	if (c->msg != NULL) {
		/* The peer sees the open fail.  XXX: libssh can only say
		 * "administratively prohibited", not "connect failed". */
		ssh_message_reply_default(c->msg);
		ssh_message_free(c->msg);
		c->msg = NULL;
	}
	if (c->ch != NULL) {
		ssh_remove_channel_callbacks(c->ch, &c->cb);
		if (was_open && c->session != NULL)
			session__batch(c->session);
		if (was_open)
			ssh_channel_close(c->ch);
		ssh_channel_free(c->ch);
		c->ch = NULL;
	}

	TAILQ_REMOVE(c->set, c, sentry);
	TAILQ_REMOVE(&channels, c, gentry);
	nchannels--;
	if (was_open) {
		stats.channels--;
		channel_emit(c, "channel.closed",
		    json_pack("{s:I,s:I}", "bytes_in", (json_int_t)c->bytes_in,
		        "bytes_out", (json_int_t)c->bytes_out));
	}

	if (c->open_cb != NULL) {
		/* The owner answers its client, which then gets EOF. */
		c->open_cb(
		    c->open_arg, c->open_err != 0 ? c->open_err : -ENOTCONN);
		c->open_cb = NULL;
		channel_flush_tcp(c);
	} else {
		channel_close_tcp(c);
	}
	if (c->gai_pending)
		uv_cancel((uv_req_t *)&c->gai);
	c->session = NULL;
	channel_unref(c);
}

static int
channel_done(const struct channel *c)
{
	/* Both halves ended and everything delivered. */
	return c->state == CHANNEL_OPEN && c->peer_eof && c->eof_sent &&
	    c->target_shut && c->wq == 0 && !c->ssh_stalled && c->pend == NULL;
}

static int
channel_closable(const struct channel *c)
{
	return c->finish || channel_done(c) ||
	    (c->peer_closed && c->wq == 0 && !c->ssh_stalled);
}

/*
 * Whether c has work that the next pass would do.  A libssh call made
 * for one channel reads packets for all of them, so a channel already
 * passed over may have been confirmed or closed meanwhile, with nothing
 * left on the socket to wake the loop for it.
 */
static int
channel_unsettled(const struct channel *c)
{
	if (channel_closable(c))
		return 1;
	if (c->state == CHANNEL_OPENING)
		return c->open_ready || ssh_channel_is_open(c->ch);
	return c->pend != NULL && ssh_channel_window_size(c->ch) > 0 &&
	    !channel_peer_busy(c);
}

void
channel__settle(struct channel_set *set)
{
	struct channel *c, *next;

	for (c = TAILQ_FIRST(set); c != NULL; c = next) {
		next = TAILQ_NEXT(c, sentry);
		if (!c->finish && c->state == CHANNEL_OPENING)
			channel_open_step(c);
		if (!c->finish && c->pend != NULL)
			channel_flush_pending(c);
		if (channel_closable(c))
			channel_finish(c);
	}

	TAILQ_FOREACH(c, set, sentry)
	{
		if (channel_unsettled(c)) {
			session__soon(c->session);
			break;
		}
	}
}

void
channel__close_all(struct channel_set *set)
{
	while (!TAILQ_EMPTY(set))
		channel_finish(TAILQ_FIRST(set));
}

unsigned
channel__set_count(const struct channel_set *set)
{
	const struct channel *c;
	unsigned              n = 0;

	TAILQ_FOREACH(c, set, sentry)
	n++;
	return n;
}

unsigned
channel_count_owner(const void *owner)
{
	const struct channel *c;
	unsigned              n = 0;

	TAILQ_FOREACH(c, &channels, gentry)
	{
		if (owner != NULL && c->owner == owner)
			n++;
	}
	return n;
}

void
channel_forget_owner(const void *owner)
{
	struct channel *c;

	TAILQ_FOREACH(c, &channels, gentry)
	{
		if (c->owner == owner)
			c->owner = NULL;
	}
}

int
channel_end(struct channel *c)
{
	struct session *s = c->session;

	c->finish = 1;
	if (s != NULL)
		session__settle(s);
	return 0;
}

struct channel *
channel_find(uint64_t id)
{
	struct channel *c;

	TAILQ_FOREACH(c, &channels, gentry)
	{
		if (c->id == id)
			return c;
		if (c->id > id)
			break;
	}
	return NULL;
}

struct channel *
channel_next(const struct channel *prev)
{
	if (prev == NULL)
		return TAILQ_FIRST(&channels);
	return TAILQ_NEXT(prev, gentry);
}

void
channel_info(const struct channel *c, struct channel_info *info)
{
	info->id = c->id;
	info->session = c->session_id;
	info->kind = c->kind;
	info->identity = c->identity;
	info->state = channel_state_names[c->state];
	info->opened = c->opened;
	info->bytes_in = c->bytes_in;
	info->bytes_out = c->bytes_out;
	info->target = c->target;
}

size_t
channel_count(void)
{
	return nchannels;
}
