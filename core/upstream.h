/*
 * Upstreams: the heads this node dials as a worker.  Each keeps one SSH
 * session up, reconnecting with backoff, and carries this node's
 * forwards.
 */
#ifndef ALKNET_UPSTREAM_H
#define ALKNET_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct upstream;
struct session;

struct upstream_info {
	const char *name;
	const char *uri;      /* "tcp://host:port" */
	const char *identity; /* path of the private key */
	const char *hostkey;  /* pinned "SHA256:..." or "" */
	const char *state;    /* connecting|up|backoff */
	int64_t     since;    /* unix ms of the last state change */
	uint64_t    reconnects;
	int         rtt_ms;  /* smoothed TCP round trip, -1 unknown */
	uint64_t    session; /* session id while up, else 0 */
};

struct upstream_opts {
	const char *uri;      /* "tcp://host:port" or "host:port" */
	const char *identity; /* OpenSSH private key file */
	const char *cert;     /* its certificate, NULL for none */
	const char *hostkey;  /* "SHA256:..." pin, NULL for none */
	const char *name;     /* NULL for "upN" */
	const char *user;     /* SSH user, NULL for $USER or "alknet" */
};

/*
 * Told, from the loop, each time an upstream's session comes up (up 1)
 * or goes down (up 0).  One watcher; NULL stops watching.
 */
typedef void (*upstream_watch_cb)(void *arg, struct upstream *u, int up);
void upstream_set_watch(upstream_watch_cb cb, void *arg);

/* The session of u while it is up, else NULL. */
struct session *upstream_session(const struct upstream *u);

/*
 * Adds an upstream and starts connecting.  The key is read now: a
 * missing, PEM or encrypted key is an error.  Returns 0 and *out (may be
 * NULL), or a negative errno with a reason in err (-EINVAL, -EEXIST for a
 * name in use, -ENOENT for a missing key).
 */
int upstream_add(uv_loop_t *loop, const struct upstream_opts *opts,
    struct upstream **out, char *err, size_t errlen);

/* Disconnects and frees; forwards through it go down.  Accepts NULL. */
void upstream_remove(struct upstream *u);
void upstream_remove_all(void);

struct upstream *upstream_find(const char *name);
struct upstream *upstream_next(const struct upstream *prev);
void   upstream_info(const struct upstream *u, struct upstream_info *info);
size_t upstream_count(void);

/* The first upstream, for forwards that name none.  NULL if none. */
struct upstream *upstream_default(void);

/*
 * Inside core only.
 */

/* The session while the upstream is up, else NULL. */
struct session *upstream__session(const struct upstream *u);

/*
 * Remote forwards: asks the head to listen on bind:port (again after
 * every reconnect) and sends what arrives there to host:hport on this
 * machine.  cb reports, from the loop, each change of state (with a
 * reason when down) and each connection that comes through.  Returns 0,
 * -EEXIST when bind:port is already asked for on u.
 */
enum upstream_remote_event {
	UPSTREAM_REMOTE_DOWN,
	UPSTREAM_REMOTE_UP,
	UPSTREAM_REMOTE_CONNECTION,
};
typedef void (*upstream_remote_cb)(
    void *arg, enum upstream_remote_event ev, const char *reason);
int  upstream__remote_add(struct upstream *u, const char *bind, unsigned port,
     const char *host, unsigned hport, upstream_remote_cb cb, void *arg);
void upstream__remote_remove(
    struct upstream *u, const char *bind, unsigned port);

#endif
