/*
 * The FUSE mount: serves the namespace (ns.h) through libfuse's low-level
 * API on the daemon's loop.  There are no threads: the /dev/fuse
 * descriptor is watched by the loop, requests are answered there, and a
 * read of events that must wait is answered later from the loop.
 */
#ifndef ALKNET_MOUNT_H
#define ALKNET_MOUNT_H

#include <stddef.h>
#include <uv.h>

struct mount;
struct sshd;

/*
 * Mounts the namespace at dir (creating dir 0755 if missing; a stale FUSE
 * mount left there by a crashed daemon, on which stat fails with ENOTCONN,
 * is detached first with umount2(MNT_DETACH)) and serves it on loop.
 * sshd gives access to its identities and rules; what writes change,
 * the node's operations (ops.h) change.  Returns 0 and *out, or a
 * negative errno with a reason in err.
 */
int mount_start(uv_loop_t *loop, struct sshd *sshd, const char *dir,
    struct mount **out, char *err, size_t errlen);

/*
 * Ends blocked readers with EOF, unmounts, frees; accepts NULL.  The
 * memory goes once the loop has run the handles' close callbacks.
 */
void mount_stop(struct mount *m);

#endif
