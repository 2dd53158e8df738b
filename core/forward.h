/*
 * Forwards: local (-L), remote (-R) and SOCKS5 (-D) through an upstream.
 *
 * A forward is created down; its fields may be set while it is down;
 * bringing it up binds its listener (local, socks) or asks the head to
 * listen (remote).  A local or SOCKS connection while the upstream is
 * down is refused at once; the listener stays bound.
 */
#ifndef ALKNET_FORWARD_H
#define ALKNET_FORWARD_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct forward;

enum forward_kind {
	FORWARD_LOCAL,
	FORWARD_REMOTE,
	FORWARD_SOCKS,
};

struct forward_info {
	const char *name;
	const char *kind;        /* local|remote|socks */
	const char *listen;      /* "127.0.0.1:15432", "[::1]:1080", "" unset */
	const char *target;      /* "db:5432", "" for socks or unset */
	const char *via;         /* upstream name, "" for the default */
	const char *state;       /* down|up|waiting (remote, upstream down) */
	uint64_t    connections; /* open now */
	uint64_t    connections_total;
	const char *error; /* why the last "up" failed, "" */
};

/* Creates a forward that is down.  name must be a safe file name. */
int forward_new(uv_loop_t *loop, const char *name, enum forward_kind kind,
    struct forward **out, char *err, size_t errlen);

/*
 * Sets "kind" (local|remote|socks), "listen" ([bind:]port, IPv6 bind in
 * brackets; bind defaults to 127.0.0.1), "target" (host:port) or "via"
 * (an upstream name, "" for the default) while the forward is down:
 * -EBUSY when up, -EINVAL for a bad value or field.
 */
int forward_set(struct forward *f, const char *field, const char *value,
    char *err, size_t errlen);

/* Brings it up; -EINVAL if a field is missing, or the bind error. */
int  forward_up(struct forward *f, char *err, size_t errlen);
void forward_down(struct forward *f);

/* Takes it down and frees it.  Accepts NULL. */
void forward_remove(struct forward *f);
void forward_remove_all(void);

/*
 * Parses a -L/-R spec "[bind:]port:host:hostport" (bind may be
 * "[v6]") or a -D spec "[bind:]port" into listen and target text as
 * forward_set takes them.  Returns 0 or -EINVAL with a reason.
 */
int forward_parse_spec(enum forward_kind kind, const char *spec, char *listen,
    size_t llen, char *target, size_t tlen, char *err, size_t errlen);

struct forward *forward_find(const char *name);
struct forward *forward_next(const struct forward *prev);
void   forward_info(const struct forward *f, struct forward_info *info);
size_t forward_count(void);

/*
 * Inside core only.
 */
struct session;

/* The session of the forward's upstream while it is up, else NULL. */
struct session *forward__session(const struct forward *f);

/* Counts a connection accepted by f (connections_total). */
void forward__accepted(struct forward *f);

#endif
