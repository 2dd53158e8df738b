/*
 * Inside the namespace only: the types that ns.c (the tree's machinery)
 * and ns_files.c (what each directory lists and each file holds) share.
 */
#ifndef ALKNET_NS_FILES_H
#define ALKNET_NS_FILES_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "ns.h"
#include "ns_ctl.h"
#include "sshd.h"

#define NS_REC_FIELDS 16
#define NS_REC_TEXT   16384
#define NS_MSG_MAX    1024

struct ns_names {
	char **v;
	size_t n;
	size_t cap;
};

struct ns {
	uv_loop_t      *loop;
	struct sshd    *sshd;
	struct ns_names listeners;
	struct ns_names identities;
	struct ns_names upstreams;
	struct ns_names forwards;
	struct ns_names ops; /* paths of ops/ directories */
	struct ns_names peers;
	char rules_error[SSHD_NRULES][NS_MSG_MAX]; /* acl/NAME.error */
	char limits_error[NS_MSG_MAX];             /* acl/limits.error */
	char grants_error[NS_MSG_MAX];             /* acl/operations.error */
};

enum ns_fmt {
	NS_FMT_NONE,
	NS_FMT_VALUE, /* one field and a newline */
	NS_FMT_LINES, /* "key value" lines */
	NS_FMT_JSON,  /* one JSON object */
};

/* One object's fields as text; numbers are marked for JSON. */
struct ns_rec {
	size_t n;
	struct {
		const char *key;
		size_t      off;
		int         num;
	} f[NS_REC_FIELDS];
	size_t used;
	char   text[NS_REC_TEXT];
};

struct ns_entry;

typedef int (*ns_fill_fn)(struct ns *, uint64_t, struct ns_rec *);
typedef int (*ns_gen_fn)(struct ns *, uint64_t, char **, size_t *);

struct ns_entry {
	const char  *name;
	enum ns_kind kind;
	mode_t       perm;
	enum ns_fmt  fmt;
	ns_fill_fn   fill;  /* top-level value files */
	ns_gen_fn    gen;   /* content that is not a record */
	unsigned     child; /* top-level directories: their class */
	int          root_only;
	const char  *op;      /* what a write of a value file calls */
	const char  *opfield; /* the member holding the value; an
	                       * object's field is {name, field, value} */
};

struct ns_dirlist {
	struct ns_dirent *v;
	size_t            n;
	size_t            cap;
};

struct ns_classdef {
	unsigned               top;   /* the directory listing the class */
	const struct ns_entry *files; /* [0] is an object's directory */
	size_t                 nfiles;
	ns_fill_fn             fill;
	int (*resolve)(struct ns *, const char *, uint64_t *);
	int (*list)(struct ns *, struct ns_dirlist *);
	void *(*object)(struct ns *, uint64_t);
	enum ns_ctl_target target;
	const char        *make;   /* what mkdir in top calls, {"name"} */
	const char        *unmake; /* and rmdir */
	int single; /* one object, 1, whose files are top's entries */
	/* The field of top's object that is the directory listing the
	 * class, when that is not top itself. */
	unsigned sub;
};

enum {
	NS_T_NONE,
	NS_T_ROOT,
	NS_T_NODE,
	NS_T_NODE_JSON,
	NS_T_STATS,
	NS_T_STATS_JSON,
	NS_T_CTL,
	NS_T_EVENTS,
	NS_T_EVENTS_LOG,
	NS_T_LISTENERS,
	NS_T_SESSIONS,
	NS_T_CHANNELS,
	NS_T_IDENTITIES,
	NS_T_UPSTREAMS,
	NS_T_FORWARDS,
	NS_T_ACL,
	NS_T_PENALTIES,
	NS_T_KEYS,
	NS_T_OPS,
	NS_T_FLOWGRAPH,
	NS_T_PEERS,
	NS_NTOP
};

/* A name's object number, given now if the name is new; 0 when full. */
uint64_t ns__names_number(struct ns_names *names, const char *name);

/* The same as 0 and *obj, or -ENOENT when full. */
int ns__names_obj(struct ns_names *names, const char *name, uint64_t *obj);

/* The name of object number, or NULL. */
const char *ns__names_get(const struct ns_names *names, uint64_t number);

/* Adds a field to a record; a value longer than the room left is cut. */
/*
 * The length of a value written to a value file: one trailing newline
 * dropped.  Returns 0, -EFBIG past NS_WRITE_MAX, or -EINVAL for a NUL.
 */
int ns__value_len(const char *data, size_t *len);

void ns__rec_str(struct ns_rec *r, const char *key, const char *value);
void ns__rec_u64(struct ns_rec *r, const char *key, uint64_t value);
void ns__rec_int(struct ns_rec *r, const char *key, int64_t value);
void ns__rec_time(struct ns_rec *r, const char *key, int64_t ms);

/*
 * Adds an entry to a listing.  Entries past the bound, with inode 0, or
 * whose name is not a path component are left out.  Returns 0 or -ENOMEM.
 */
int ns__dirlist_add(
    struct ns_dirlist *dl, const char *name, uint64_t ino, mode_t mode);

/* 0 when the object behind a class inode exists, else -ENOENT (or
 * -ENOMEM); the top level always does. */
int ns__exists(struct ns *ns, unsigned cls, uint64_t obj);

/* The entry of ino with its class and object; NULL for none. */
const struct ns_entry *ns__entry(uint64_t ino, unsigned *cls, uint64_t *obj);

/* Where the failure of a write of rule-set file e is kept; NULL for
 * another file. */
char *ns__op_error(struct ns *ns, const struct ns_entry *e);

/* ops/ (ns_ops.c): whether ino is its directory or one below, with
 * the path's object (0 for ops/ itself). */
int ns__ops_dir(uint64_t ino, uint64_t *obj);
int ns__ops_lookup(
    struct ns *ns, uint64_t obj, const char *name, struct ns_attr *attr);
int ns__ops_readdir(
    struct ns *ns, uint64_t obj, struct ns_dirent **ents, size_t *n);
int ns__ops_fill(struct ns *ns, uint64_t obj, struct ns_rec *r);
int ns__ops_gen_spec(struct ns *ns, uint64_t obj, char **buf, size_t *len);

/* flowgraph/ (ns_flowgraph.c): whether it records, its files, and the
 * directories of calls/. */
int ns__flowgraph_fill(struct ns *ns, uint64_t obj, struct ns_rec *r);
int ns__flowgraph_gen_calls_json(
    struct ns *ns, uint64_t obj, char **buf, size_t *len);
int ns__flowgraph_gen_calls_dot(
    struct ns *ns, uint64_t obj, char **buf, size_t *len);
int ns__flowgraph_gen_ops_json(
    struct ns *ns, uint64_t obj, char **buf, size_t *len);
int ns__flowgraph_gen_ops_dot(
    struct ns *ns, uint64_t obj, char **buf, size_t *len);
int ns__flowcall_resolve(struct ns *ns, const char *name, uint64_t *obj);
int ns__flowcall_list(struct ns *ns, struct ns_dirlist *dl);
int ns__flowcall_fill(struct ns *ns, uint64_t obj, struct ns_rec *r);
int ns__flowcall_gen_children(
    struct ns *ns, uint64_t obj, char **buf, size_t *len);
int ns__flowcall_gen_lineage(
    struct ns *ns, uint64_t obj, char **buf, size_t *len);
int ns__flowcall_gen_json(struct ns *ns, uint64_t obj, char **buf, size_t *len);

/* The top level, indexed by NS_T_*, and the classes of objects. */
extern const struct ns_entry    ns__top[NS_NTOP];
extern const struct ns_classdef ns__classes[NS_NCLASSES];

#endif
