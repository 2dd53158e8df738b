/*
 * This node: who it is and how it stops.
 */
#ifndef ALKNET_NODE_H
#define ALKNET_NODE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct node_info {
	const char *id; /* host key fingerprint */
	const char *name;
	const char *roles; /* "head", "worker", "head,worker", "" */
	const char *version;
	long        pid;
	int64_t     started; /* unix time, milliseconds */
	const char *mount;   /* mount point or "" */
};

typedef void (*node_stop_cb)(void *arg);

/* Records the node's identity; strings are copied. */
void node_init(
    uv_loop_t *loop, const char *id, const char *name, const char *mount);

void node_info(struct node_info *info);

/*
 * Registers the function that stops the daemon gracefully (called from
 * the loop, after the current request has been answered).
 */
void node_on_stop(node_stop_cb cb, void *arg);

/* Asks for a graceful stop; safe to call from a request handler. */
void node_stop(void);

/* Milliseconds since the epoch, wall clock. */
int64_t node_now_ms(void);

/* Formats unix milliseconds as "2026-12-03T15:35:24.123Z". */
void node_format_time(int64_t ms, char *buf, size_t len);

void node_free(void);

#endif
