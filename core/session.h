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
	uint64_t           id;
	const char        *direction;     /* "in" */
	const char        *peer;          /* "ip:port" of the peer */
	const char        *identity;      /* fingerprint, "" before auth */
	const char        *identity_name; /* identities/<name>, "" if none */
	const char *const *scopes;        /* as it logged in, NULL-terminated */
	const char        *user;          /* SSH user name (escaped), "" */
	const char        *transport;     /* "tcp" */
	const char        *state;         /* handshake|auth|open|closing */
	int64_t            started;       /* unix time, milliseconds */
	unsigned           channels;
	uint64_t           bytes_in;
	uint64_t           bytes_out;
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

/*
 * What an outgoing session tells its owner (an upstream).  Every hook is
 * called from the loop, outside libssh.
 */
struct session_hooks {
	/* Authenticated: channels may be opened now. */
	void (*up)(void *arg, struct session *s);
	/* Gone (s is freed soon); reason says why, for the log. */
	void (*down)(void *arg, struct session *s, const char *reason);
	/* The local target for a forwarded-tcpip channel the head opens
	 * for bind:port: 0, or -ENOENT when nothing was asked for there. */
	int (*forwarded)(void *arg, const char *bind, unsigned port, char *host,
	    size_t hostlen, unsigned *hport, const void **owner);
	/* After each round of work on the session. */
	void (*settled)(void *arg, struct session *s);
};

/*
 * Starts an outgoing session on fd, a connected non-blocking socket that
 * the session owns from here on.  peer is "host:port" for display.  key
 * (kept by the caller for the session's life) authenticates as user;
 * hostkey_pin, if not NULL, must equal the head's host key fingerprint.
 * Returns 0 and *out, or a negative errno (fd closed then).
 */
int session__connect(uv_loop_t *loop, int fd, const char *peer,
    const char *user, ssh_key key, const char *hostkey_pin,
    const struct session_hooks *hooks, void *arg, struct session **out);

/* Detaches the hooks: the owner no longer hears of s. */
void session__forget_hooks(struct session *s);

/* Updates what the loop watches after a libssh call outside a settle. */
void session__kick(struct session *s);

/* Settles s from the loop soon, outside the caller. */
void session__soon(struct session *s);

/*
 * What libssh writes for s from here to the end of this round is held
 * back and leaves in one segment when the round settles: the peer is
 * woken once, and only as this side is done with the round (it would
 * otherwise often wait for this side's CPU, or take it).  Without it
 * packets leave one by one as they are made.
 */
void session__batch(struct session *s);

/* Bytes libssh has read from s's socket so far: while this stays the
 * same, no answer from the peer can have come in. */
uint64_t session__received(const struct session *s);

struct channel_set *session__channels(struct session *s);
struct sshd        *session__sshd(const struct session *s);
int                 session__fd(const struct session *s);

ssh_session session__ssh(const struct session *s);
uint64_t    session__id(const struct session *s);
const char *session__identity(const struct session *s);

/* 0 when s logged in with a certificate that does not permit port
 * forwarding: it may open no channel and no remote forward. */
int session__may_forward(const struct session *s);

/* Who s is for a rule set: its identity, the scopes that identity had
 * when it logged in, and its transport.  Valid as long as s. */
struct policy_subject;
void session__subject(const struct session *s, struct policy_subject *subject);
uv_loop_t *session__loop(const struct session *s);

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
