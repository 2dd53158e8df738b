/*
 * SSH sessions: one per accepted connection, from key exchange through
 * authentication to its channels.
 */
#ifndef ALKNET_SESSION_H
#define ALKNET_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <libssh/libssh.h>
#include <uv.h>

struct session;

struct session_info {
	uint64_t    id;
	const char *direction;     /* "in" */
	const char *peer;          /* "ip:port" of the peer */
	const char *identity;      /* fingerprint, "" before auth */
	const char *identity_name; /* identities/<name>, "" if none */
	const char *user;          /* SSH user name (escaped), "" */
	const char *transport;     /* "tcp" */
	const char *state;         /* handshake|auth|open|closing */
	int64_t     started;       /* unix time, milliseconds */
	unsigned    channels;
	uint64_t    bytes_in;
	uint64_t    bytes_out;
};

struct session *session_find(uint64_t id);

/* Iteration in id order: first with NULL, NULL at the end. */
struct session *session_next(const struct session *prev);

void session_info(const struct session *s, struct session_info *info);

/*
 * Sends an SSH disconnect and closes the session and its channels; the
 * session disappears from lookups at once.  Returns 0.
 */
int session_close(struct session *s, const char *reason);

/* Closes every session (shutdown). */
void session_close_all(const char *reason);

size_t session_count(void);

/*
 * Inside core only.
 */
struct sshd;

/* Starts a session on an accepted libssh session.  Returns 0 or a
 * negative errno (ssh is freed then). */
int session__start(uv_loop_t *loop, struct sshd *sshd, ssh_session ssh,
    const char *peer_ip, const char *peer, const char *transport);

ssh_session session__ssh(const struct session *s);
uint64_t    session__id(const struct session *s);
const char *session__identity(const struct session *s);
uv_loop_t  *session__loop(const struct session *s);

/* Adds channel traffic to the session's counters. */
void session__count(struct session *s, uint64_t in, uint64_t out);

/*
 * Called at the end of every loop callback that used libssh on behalf of
 * s outside of the session's own poll handler: handles what libssh
 * queued, frees what was closed, and updates the poll interest.  s may be
 * freed on return.
 */
void session__settle(struct session *s);

#endif
