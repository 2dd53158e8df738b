/*
 * Listeners: bound sockets that accept connections and hand each one to the
 * SSH server.
 */
#ifndef ALKNET_LISTENER_H
#define ALKNET_LISTENER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct listener;
struct sshd;

struct listener_info {
	const char *name;
	const char *uri;       /* "tcp://127.0.0.1:2222", bound port */
	const char *transport; /* "tcp" */
	const char *state;     /* "listening" */
	uint64_t    accepted;
	uint64_t    rejected;
};

/*
 * Binds uri ("tcp://HOST:PORT" or "HOST:PORT"; port 0 picks a free one)
 * and starts accepting into sshd.  name may be NULL for "tcpN".  Returns 0
 * and stores the listener in *out (may be NULL), or a negative errno with
 * a reason in err: -EINVAL for a bad uri or name, -EEXIST for a name in
 * use, or the bind/listen error.
 */
int listener_add(uv_loop_t *loop, struct sshd *sshd, const char *uri,
    const char *name, struct listener **out, char *err, size_t errlen);

/* Stops accepting and frees the listener; open sessions stay. */
void listener_remove(struct listener *l);

/* Removes every listener. */
void listener_remove_all(void);

struct listener *listener_find(const char *name);

/* Iteration in creation order: first with NULL, NULL at the end. */
struct listener *listener_next(const struct listener *prev);

void listener_info(const struct listener *l, struct listener_info *info);

/* Number of listeners. */
size_t listener_count(void);

#endif
