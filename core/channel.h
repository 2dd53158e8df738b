/*
 * Channels: direct-tcpip channels of a session spliced to their targets.
 */
#ifndef ALKNET_CHANNEL_H
#define ALKNET_CHANNEL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <libssh/libssh.h>

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
 * Inside core only: a session's channels.
 */
struct session;
TAILQ_HEAD(channel_set, channel);

/*
 * Handles a direct-tcpip open request (msg is owned from here on): the
 * target is resolved and connected, then the channel confirmed; any
 * failure answers with an open failure.  Returns 0 or a negative errno.
 */
int channel__open(struct session *s, struct channel_set *set, ssh_message msg);

/* After libssh ran for the session: retries writes the peer's window
 * held back, and frees channels that finished. */
void channel__settle(struct channel_set *set);

/* Number of channels in the set. */
unsigned channel__set_count(const struct channel_set *set);

/* Closes every channel of the set (the session is going away). */
void channel__close_all(struct channel_set *set);

#endif
