/*
 * SSH sessions: one per accepted connection, from key exchange through
 * authentication to its channels.
 */
#ifndef ALKNET_SESSION_H
#define ALKNET_SESSION_H

#include <stddef.h>
#include <stdint.h>

struct session;

struct session_info {
	uint64_t	 id;
	const char	*direction;	/* "in" */
	const char	*peer;		/* "ip:port" of the peer */
	const char	*identity;	/* fingerprint, "" before auth */
	const char	*identity_name;	/* identities/<name>, "" if none */
	const char	*user;		/* SSH user name (escaped), "" */
	const char	*transport;	/* "tcp" */
	const char	*state;		/* handshake|auth|open|closing */
	int64_t		 started;	/* unix time, milliseconds */
	unsigned	 channels;
	uint64_t	 bytes_in;
	uint64_t	 bytes_out;
};

struct session *session_find(uint64_t id);

/* Iteration in id order: first with NULL, NULL at the end. */
struct session *session_next(const struct session *prev);

void	session_info(const struct session *s, struct session_info *info);

/*
 * Sends an SSH disconnect and closes the session and its channels; the
 * session disappears from lookups at once.  Returns 0.
 */
int	session_close(struct session *s, const char *reason);

/* Closes every session (shutdown). */
void	session_close_all(const char *reason);

size_t	session_count(void);

#endif
