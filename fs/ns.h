/*
 * The namespace tree at /run/alknet, independent of FUSE: which names
 * exist, their inode numbers and attributes, what their files hold and
 * which operation each write stands for.  Everything runs on the loop
 * thread.
 *
 * An inode number says what a file is: bits 56-63 hold the class, bits
 * 48-55 the field (0 for an object's directory, n for its n-th file) and
 * bits 0-47 the object.  The top-level entries are class NS_TOP with the
 * entry as object, so the root is inode 1.  Sessions and channels use
 * their ids, which are never reused; listeners, identities, upstreams and
 * forwards have names, and a name keeps the number it was first given for
 * the whole run.  So an inode number never stands for two different
 * things.  The files of acl/ are the fields of the one object of class
 * NS_ACL, object 1; that class has no directory of its own.  keys/ is
 * made the same way, and its directory devices/ lists the objects of
 * NS_DEVICE_KEY, which are files: field 0 of such an object is a value
 * file rather than a directory.  The directories of ops/ are the objects
 * of NS_OP, numbered by their paths ("/sessions/close") like names;
 * fields 1 and 2 are an operation's spec and call.  flowgraph/ is made
 * as keys/, and its directory calls/ lists the objects of NS_FLOWCALL,
 * one per call recorded, numbered by the call's number in the graph.
 */
#ifndef ALKNET_NS_H
#define ALKNET_NS_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#define NS_OBJ_MAX   ((UINT64_C(1) << 48) - 1)
#define NS_FIELD_MAX 255
#define NS_NAME_MAX  128   /* longest directory entry name, with NUL */
#define NS_WRITE_MAX 65536 /* the longest value a value file takes */

struct ns;
struct registry;
struct sshd;

enum ns_class {
	NS_TOP,
	NS_LISTENER,
	NS_SESSION,
	NS_CHANNEL,
	NS_IDENTITY,
	NS_UPSTREAM,
	NS_FORWARD,
	NS_ACL,
	NS_KEYS,       /* keys/, one object as acl/ */
	NS_DEVICE_KEY, /* the files of keys/devices/ */
	NS_OP,         /* a directory of ops/, by its path */
	NS_PEER,       /* peers/<node>/: a worker registered here */
	NS_FLOWGRAPH,  /* flowgraph/, one object as acl/ */
	NS_FLOWCALL,   /* a directory of flowgraph/calls/, by its number */
	NS_NCLASSES
};

enum ns_kind {
	NS_DIR,
	NS_VALUE,  /* generated at open, frozen for the handle */
	NS_CTL,    /* one command per write, reply on read */
	NS_STREAM, /* events: blocking reads of whole lines */
	NS_LOG,    /* events.log: a growing offset space */
	NS_CALL,   /* ops/.../call: one call per open */
};

struct ns_attr {
	uint64_t     ino;
	enum ns_kind kind;
	mode_t       mode; /* type and permission bits */
	uint64_t     size;
	int          fixed;    /* the name never changes meaning */
	int          writable; /* a value file that takes writes */
};

struct ns_dirent {
	char     name[NS_NAME_MAX];
	uint64_t ino;
	mode_t   mode;
};

/* The inode of (cls, obj, field), or 0 when out of range. */
uint64_t ns_ino(unsigned cls, uint64_t obj, unsigned field);

/* The parts of ino; *cls is NS_NCLASSES or more for a foreign number. */
void ns_ino_split(uint64_t ino, unsigned *cls, uint64_t *obj, unsigned *field);

/*
 * A tree over core's objects and the run-time identities of the node's
 * operations (ops_ctl.h).  sshd may be NULL (no identities, no acl
 * files).  Returns 0 and *out, or -ENOMEM.
 */
int ns_new(uv_loop_t *loop, struct sshd *sshd, struct ns **out);

/* Frees the tree; accepts NULL. */
void ns_free(struct ns *ns);

/*
 * Looks name up in directory parent.  Returns 0 and *attr, -ENOENT, or
 * -ENOTDIR when parent is not a directory.
 */
int ns_lookup(
    struct ns *ns, uint64_t parent, const char *name, struct ns_attr *attr);

/*
 * The attributes of ino; a value file's size is that of a content
 * generated now.  Returns 0 or -ENOENT (the object has gone).
 */
int ns_getattr(struct ns *ns, uint64_t ino, struct ns_attr *attr);

/*
 * The entries of directory ino, "." and ".." first, into a new array in
 * *ents (free it with free()).  Returns 0, -ENOENT, -ENOTDIR or -ENOMEM.
 */
int ns_readdir(struct ns *ns, uint64_t ino, struct ns_dirent **ents, size_t *n);

/*
 * Generates the content of value file ino for a reader with uid into a
 * new buffer in *buf (free it with free()).  Returns 0, -ENOENT, -EACCES
 * (a root-only file), -EINVAL (not a value file) or -ENOMEM.
 */
int ns_read(struct ns *ns, uint64_t ino, uid_t uid, char **buf, size_t *len);

/* An operation of the registry that a write stands for. */
struct ns_op {
	char               name[64];
	json_t            *input;  /* a new reference */
	const char *const *shows;  /* output members a ctl answer shows */
	const char        *absent; /* why, where the node has not got it */
};

/*
 * The operation that writing the len bytes at data to ino stands for.
 * On a control file, the command (ns_ctl_op): "unforward db" on ctl is
 * /forwards/remove {"name":"db"}, "close" on sessions/7/ctl
 * /sessions/close {"id":7}.  On a writable value file, the whole value
 * with one trailing newline dropped: /acl/NAME/set {"rules"} for the
 * rule sets, /acl/limits/set {"limits"}, and /forwards/set or
 * /identities/set {"name", "field", "value"} for an object's field.
 * Returns 1 and *op, or a negative errno with the reason in msg (may
 * be ""): -EINVAL for a command that does not parse or a value holding
 * a NUL, -EFBIG for a value over NS_WRITE_MAX, -ENOENT when the object
 * has gone ("it is gone"), -EACCES for a file that takes no writes, or
 * -ENOMEM.  op->absent says why a node that has not registered the
 * operation cannot do it; the caller answers -ENOTSUP with it.
 */
int ns_op_of(struct ns *ns, uint64_t ino, const char *data, size_t len,
    struct ns_op *op, char *msg, size_t msglen);

/*
 * Keeps why the operation written to ino failed (msg) for a read of its
 * .error file; NULL clears it.
 */
void ns_op_done(struct ns *ns, uint64_t ino, const char *msg);

/*
 * The name of the operation whose call file is ino into buf (len
 * bytes).  Returns 0, -ENOENT or -ENAMETOOLONG.
 */
int ns_call_name(struct ns *ns, uint64_t ino, char *buf, size_t len);

/*
 * Records the calls of r, for flowgraph/, from now until
 * ns_flowgraph_stop, which must come before r is freed.  Until then
 * flowgraph/ is empty.  Returns 0, -EBUSY when recording already, or
 * what callgraph_new returns.
 */
int ns_flowgraph_start(struct registry *r);

/* Stops recording and forgets the calls; accepts no start. */
void ns_flowgraph_stop(void);

/*
 * The operation that mkdir (make != 0) or rmdir of name in parent
 * stands for: /forwards/create or /forwards/remove {"name"} in
 * forwards/, /identities/create or /identities/remove in identities/.
 * Returns 1 and *op, -EPERM for another parent, -ENOTDIR, -ENOENT or
 * -ENOMEM.
 */
int ns_dir_op(struct ns *ns, uint64_t parent, const char *name, int make,
    struct ns_op *op);

#endif
