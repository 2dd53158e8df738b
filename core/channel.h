/*
 * Channels: direct-tcpip channels of a session spliced to their targets.
 */
#ifndef ALKNET_CHANNEL_H
#define ALKNET_CHANNEL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <libssh/libssh.h>
#include <uv.h>

struct channel;

struct channel_info {
	uint64_t    id;
	uint64_t    session;   /* session id */
	const char *kind;      /* "direct-tcpip" */
	const char *identity;  /* fingerprint of the session */
	const char *state;     /* connecting|open|closing */
	int64_t     opened;    /* unix time, milliseconds */
	uint64_t    bytes_in;  /* peer to target */
	uint64_t    bytes_out; /* target to peer */
	const char *target;    /* "host:port"; shown to local:root only */
};

struct channel *channel_find(uint64_t id);

/* Iteration in id order: first with NULL, NULL at the end. */
struct channel *channel_next(const struct channel *prev);

void channel_info(const struct channel *c, struct channel_info *info);

/*
 * Closes the channel: the peer sees the channel close, the target socket
 * is closed.  It disappears from lookups at once.  Returns 0.
 */
int channel_end(struct channel *c);

size_t channel_count(void);

/*
 * The node's own services, behind direct-tcpip to "alknet-control" port
 * 0.  For each such channel cb gets one end of a connected stream socket
 * pair (non-blocking, close-on-exec, its own to close even on failure)
 * and the session it came on; the channel carries the other end's bytes.
 * cb returns 0, or a negative errno to refuse the channel.  Without a
 * handler such channels are refused; no other alknet-* host is ever
 * dialled.
 */
struct session;
typedef int (*channel_control_cb)(
    void *arg, uv_loop_t *loop, int fd, struct session *s);
void channel_set_control(channel_control_cb cb, void *arg);

/*
 * Opening a channel for a local connection: a SOCKS or local-forward
 * client on a worker (direct-tcpip to the target), or a connection to a
 * remote-forward listener on a head (forwarded-tcpip, reverse set, host
 * and port naming the address that was connected).
 */
struct session;

typedef void (*channel_open_cb)(void *arg, int status);

struct channel_spec {
	const char     *kind; /* "socks", "local", "forwarded-tcpip" */
	const char     *host;
	unsigned        port;
	const char     *orig_host; /* the local client; NULL: ask tcp */
	unsigned        orig_port;
	int             reverse;
	const void     *early; /* bytes already read from tcp, sent first */
	size_t          earlylen;
	const void     *owner; /* counted by channel_count_owner, or NULL */
	channel_open_cb cb;    /* may be NULL */
	void           *arg;
};

/*
 * Opens a channel on s for the accepted connection tcp (a heap uv_tcp_t
 * whose data field the channel takes over).  Returns 0, and from then on
 * the channel owns tcp (closes and frees it) and calls spec->cb once from
 * the loop with 0 or a negative errno (-ECONNREFUSED the peer refused,
 * -ENOTCONN the session ended first, -ENOMEM).  On success data flows
 * after cb returns, so cb may queue a reply on tcp first (uv_write); on
 * failure what cb queued is flushed before tcp is closed.  Returns a
 * negative errno (tcp still the caller's, cb never called) when s is NULL
 * (-ENOTCONN) or a bound is reached (-ENOSPC).
 */
int channel_connect(
    struct session *s, uv_tcp_t *tcp, const struct channel_spec *spec);

/* Open channels whose spec named owner; forgetting an owner clears it
 * from its channels. */
unsigned channel_count_owner(const void *owner);
void     channel_forget_owner(const void *owner);

/*
 * Inside core only: a session's channels.
 */
struct session;
TAILQ_HEAD(channel_set, channel);

/*
 * Handles a channel open request of the peer (msg is owned from here on):
 * the target is resolved and connected, then the channel confirmed; any
 * failure answers with an open failure.  host NULL takes the target from
 * msg (direct-tcpip); else host:port is the target (forwarded-tcpip, the
 * local end of a remote forward; owner as in channel_spec).  Returns 0, or a negative errno when
 * msg was not taken (-EPERM for an alknet-* host, -ENOSPC at a bound).
 */
int channel__open(struct session *s, struct channel_set *set, ssh_message msg,
    const char *kind, const char *host, unsigned port, const void *owner);

/* After libssh ran for the session: retries writes the peer's window
 * held back, and frees channels that finished. */
void channel__settle(struct channel_set *set);

/* Number of channels in the set. */
unsigned channel__set_count(const struct channel_set *set);

/* Closes every channel of the set (the session is going away). */
void channel__close_all(struct channel_set *set);

#endif
