/*
 * Channels: direct-tcpip channels of a session spliced to their targets.
 */
#ifndef ALKNET_CHANNEL_H
#define ALKNET_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

struct channel;

struct channel_info {
	uint64_t	 id;
	uint64_t	 session;	/* session id */
	const char	*kind;		/* "direct-tcpip" */
	const char	*identity;	/* fingerprint of the session */
	const char	*state;		/* connecting|open|closing */
	int64_t		 opened;	/* unix time, milliseconds */
	uint64_t	 bytes_in;	/* peer to target */
	uint64_t	 bytes_out;	/* target to peer */
	const char	*target;	/* "host:port"; shown to local:root only */
};

struct channel *channel_find(uint64_t id);

/* Iteration in id order: first with NULL, NULL at the end. */
struct channel *channel_next(const struct channel *prev);

void	channel_info(const struct channel *c, struct channel_info *info);

/*
 * Closes the channel: the peer sees the channel close, the target socket
 * is closed.  It disappears from lookups at once.  Returns 0.
 */
int	channel_close(struct channel *c);

size_t	channel_count(void);

#endif
