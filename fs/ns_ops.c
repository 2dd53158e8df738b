/*
 * The namespace and the registry.  ops/ follows the names of the
 * operations registered now, a directory per segment: ops/sessions/close/
 * holds spec and call.  Its directories are numbered by their paths like
 * other named objects, and are looked up in the registry every time, so
 * operations may come and go.  Every write of the tree is an operation:
 * which one is told here, and the FUSE adapter calls it.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ns.h"
#include "ns_ctl.h"
#include "ns_files.h"
#include "ops.h"
#include "registry.h"

enum { NS_OP_DIR, NS_OP_SPEC, NS_OP_CALL };

/* The path of object obj ("" for ops/ itself), or NULL. */
static const char *
ns_ops_path(struct ns *ns, uint64_t obj)
{
	return obj == 0 ? "" : ns__names_get(&ns->ops, obj);
}

/*
 * The segment of name right below path (into seg, NS_NAME_MAX bytes),
 * when name is path or below it.  Returns 1 for below, 0 for path
 * itself, -1 for neither.
 */
static int
ns_ops_below(const char *name, const char *path, char *seg)
{
	size_t plen = strlen(path), slen;

	if (strncmp(name, path, plen) != 0)
		return -1;
	if (name[plen] == '\0')
		return 0;
	if (name[plen] != '/')
		return -1;
	name += plen + 1;
	slen = strcspn(name, "/");
	if (slen >= NS_NAME_MAX)
		return -1;
	memcpy(seg, name, slen);
	seg[slen] = '\0';
	return 1;
}

/*
 * Walks the operations registered now: whether path is one (*is_op),
 * and calls add for each segment below it, when add is not NULL.
 * Returns 0 when path is an operation or has some below it, else
 * -ENOENT, or what add returned.
 */
static int
ns_ops_walk(struct ns *ns, const char *path, int *is_op,
    int (*add)(struct ns *, const char *, const char *, void *), void *arg)
{
	struct registry *r = ops_registry();
	json_t          *list, *op;
	char             seg[NS_NAME_MAX];
	size_t           i;
	int              rc = -ENOENT, where;

	*is_op = 0;
	if (r == NULL)
		return path[0] == '\0' ? 0 : -ENOENT;
	if ((list = registry_list(r)) == NULL)
		return -ENOMEM;
	json_array_foreach(json_object_get(list, "operations"), i, op)
	{
		where = ns_ops_below(
		    json_string_value(json_object_get(op, "name")), path, seg);
		if (where < 0)
			continue;
		if (rc == -ENOENT)
			rc = 0;
		if (where == 0)
			*is_op = 1;
		else if (add != NULL && (rc = add(ns, path, seg, arg)) != 0)
			break;
	}
	json_decref(list);
	return path[0] == '\0' && rc == -ENOENT ? 0 : rc;
}

int
ns__ops_dir(uint64_t ino, uint64_t *obj)
{
	unsigned cls, field;

	ns_ino_split(ino, &cls, obj, &field);
	if (cls == NS_TOP && *obj == NS_T_OPS && field == 0) {
		*obj = 0;
		return 1;
	}
	return cls == NS_OP && field == NS_OP_DIR;
}

/* The object number of path + "/" + seg. */
static int
ns_ops_child(struct ns *ns, const char *path, const char *seg, uint64_t *obj)
{
	char child[REGISTRY_NAME_MAX + 1];

	if ((size_t)snprintf(child, sizeof child, "%s/%s", path, seg) >=
	    sizeof child)
		return -ENOENT;
	return ns__names_obj(&ns->ops, child, obj);
}

int
ns__ops_lookup(
    struct ns *ns, uint64_t obj, const char *name, struct ns_attr *attr)
{
	const char *path = ns_ops_path(ns, obj);
	uint64_t    child;
	int         is_op, rc;

	if (path == NULL ||
	    (rc = ns_ops_walk(ns, path, &is_op, NULL, NULL)) != 0)
		return -ENOENT;

	/* An operation's own files come before a deeper one's segment of
	 * the same name. */
	if (is_op && strcmp(name, "spec") == 0)
		return ns_getattr(ns, ns_ino(NS_OP, obj, NS_OP_SPEC), attr);
	if (is_op && strcmp(name, "call") == 0)
		return ns_getattr(ns, ns_ino(NS_OP, obj, NS_OP_CALL), attr);

	if ((rc = ns_ops_child(ns, path, name, &child)) != 0)
		return rc;
	return ns_getattr(ns, ns_ino(NS_OP, child, NS_OP_DIR), attr);
}

/* Adds the directory of seg below path once. */
static int
ns_ops_add(struct ns *ns, const char *path, const char *seg, void *arg)
{
	struct ns_dirlist *dl = arg;
	uint64_t           child;
	size_t             i;

	for (i = 2; i < dl->n; i++) {
		if (strcmp(dl->v[i].name, seg) == 0)
			return 0;
	}
	if (ns_ops_child(ns, path, seg, &child) != 0)
		return 0;
	return ns__dirlist_add(
	    dl, seg, ns_ino(NS_OP, child, NS_OP_DIR), S_IFDIR);
}

/* The files of an operation's directory, when its path is one. */
static int
ns_ops_files(uint64_t obj, int is_op, struct ns_dirlist *dl)
{
	int rc;

	if (!is_op)
		return 0;
	rc = ns__dirlist_add(
	    dl, "spec", ns_ino(NS_OP, obj, NS_OP_SPEC), S_IFREG);
	if (rc == 0)
		rc = ns__dirlist_add(
		    dl, "call", ns_ino(NS_OP, obj, NS_OP_CALL), S_IFREG);
	return rc;
}

/* The directory above the one of path. */
static uint64_t
ns_ops_parent(struct ns *ns, const char *path)
{
	const char *slash = strrchr(path, '/');
	char        up[REGISTRY_NAME_MAX + 1];

	if (slash == NULL || slash == path ||
	    (size_t)(slash - path) >= sizeof up)
		return ns_ino(NS_TOP, NS_T_OPS, 0);
	memcpy(up, path, (size_t)(slash - path));
	up[slash - path] = '\0';
	return ns_ino(NS_OP, ns__names_number(&ns->ops, up), NS_OP_DIR);
}

int
ns__ops_readdir(struct ns *ns, uint64_t obj, struct ns_dirent **ents, size_t *n)
{
	struct ns_dirlist dl = {NULL, 0, 0};
	const char       *path = ns_ops_path(ns, obj);
	uint64_t          self, parent;
	int               is_op, rc;

	if (path == NULL)
		return -ENOENT;
	self = ns_ino(NS_TOP, NS_T_OPS, 0);
	parent = ns_ino(NS_TOP, NS_T_ROOT, 0);
	if (obj != 0) {
		self = ns_ino(NS_OP, obj, NS_OP_DIR);
		parent = ns_ops_parent(ns, path);
	}

	if ((rc = ns__dirlist_add(&dl, ".", self, S_IFDIR)) != 0 ||
	    (rc = ns__dirlist_add(&dl, "..", parent, S_IFDIR)) != 0 ||
	    (rc = ns_ops_walk(ns, path, &is_op, ns_ops_add, &dl)) != 0 ||
	    (rc = ns_ops_files(obj, is_op, &dl)) != 0) {
		free(dl.v);
		return rc;
	}
	*ents = dl.v;
	*n = dl.n;
	return 0;
}

int
ns__ops_fill(struct ns *ns, uint64_t obj, struct ns_rec *r)
{
	const char *path = ns_ops_path(ns, obj);
	int         is_op;

	if (path == NULL || obj == 0)
		return -ENOENT;
	return ns_ops_walk(ns, path, &is_op, NULL, NULL);
}

int
ns__ops_gen_spec(struct ns *ns, uint64_t obj, char **buf, size_t *len)
{
	const char *path = ns_ops_path(ns, obj);
	json_t     *spec;
	char       *text;

	if (path == NULL || ops_registry() == NULL ||
	    (spec = registry_describe(ops_registry(), path)) == NULL)
		return -ENOENT;
	text = json_dumps(spec, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(spec);
	if (text == NULL || asprintf(buf, "%s\n", text) < 0) {
		free(text);
		return -ENOMEM;
	}
	free(text);
	*len = strlen(*buf);
	return 0;
}

int
ns_call_name(struct ns *ns, uint64_t ino, char *buf, size_t len)
{
	const char *path;
	unsigned    cls, field;
	uint64_t    obj;

	ns_ino_split(ino, &cls, &obj, &field);
	if (cls != NS_OP || field != NS_OP_CALL ||
	    (path = ns_ops_path(ns, obj)) == NULL || obj == 0)
		return -ENOENT;
	if ((size_t)snprintf(buf, len, "%s", path) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* The name of a named object, or the decimal id of a session or
 * channel (into buf); NULL when there is none. */
static const char *
ns_op_self(struct ns *ns, unsigned cls, uint64_t obj, char *buf, size_t len)
{
	switch (cls) {
	case NS_LISTENER:
		return ns__names_get(&ns->listeners, obj);
	case NS_IDENTITY:
		return ns__names_get(&ns->identities, obj);
	case NS_UPSTREAM:
		return ns__names_get(&ns->upstreams, obj);
	case NS_FORWARD:
		return ns__names_get(&ns->forwards, obj);
	case NS_SESSION:
	case NS_CHANNEL:
		snprintf(buf, len, "%llu", (unsigned long long)obj);
		return buf;
	default:
		return NULL;
	}
}

/* The whole value written to a value file: the set of acl/ it
 * replaces, or a field of its object. */
static int
ns_op_value(struct ns *ns, const struct ns_entry *e, unsigned cls, uint64_t obj,
    const char *data, size_t len, struct ns_op *op)
{
	const char *self = NULL;
	char        id[24];
	json_t     *text;
	int         rc;

	if ((rc = ns__value_len(data, &len)) != 0)
		return rc;
	if (ns__classes[cls].single && (rc = ns__exists(ns, cls, obj)) != 0)
		return rc;
	if (!ns__classes[cls].single &&
	    (self = ns_op_self(ns, cls, obj, id, sizeof id)) == NULL)
		return -ENOENT;
	if ((text = json_stringn_nocheck(data, len)) == NULL)
		return -ENOMEM;

	snprintf(op->name, sizeof op->name, "%s", e->op);
	if (self == NULL)
		op->input = json_pack("{s:o}", e->opfield, text);
	else
		op->input = json_pack("{s:s,s:s,s:o}", "name", self, "field",
		    e->name, e->opfield, text);
	return op->input != NULL ? 1 : -ENOMEM;
}

/* A command written to a ctl file, on the object it belongs to. */
static int
ns_op_ctl(struct ns *ns, unsigned cls, uint64_t obj, const char *data,
    size_t len, struct ns_op *op, char *msg, size_t msglen)
{
	enum ns_ctl_target target = NS_CTL_NODE;
	struct ns_cmd     *cmd;
	const char        *self = NULL;
	char               id[24];
	int                rc;

	if ((cmd = malloc(sizeof *cmd)) == NULL)
		return -ENOMEM;
	if ((rc = ns_ctl_parse(data, len, cmd, msg, msglen)) != 0)
		goto out;

	if (cls != NS_TOP) {
		target = ns__classes[cls].target;
		self = ns_op_self(ns, cls, obj, id, sizeof id);
		if (self == NULL || ns__classes[cls].object(ns, obj) == NULL) {
			snprintf(msg, msglen, "it is gone");
			rc = -ENOENT;
			goto out;
		}
	}
	rc = ns_ctl_op(target, self, cmd, op, msg, msglen);

out:
	free(cmd);
	return rc == 0 ? 1 : rc;
}

int
ns_op_of(struct ns *ns, uint64_t ino, const char *data, size_t len,
    struct ns_op *op, char *msg, size_t msglen)
{
	const struct ns_entry *e;
	unsigned               cls;
	uint64_t               obj;

	op->input = NULL;
	op->shows = NULL;
	op->absent = NULL;
	msg[0] = '\0';
	if ((e = ns__entry(ino, &cls, &obj)) == NULL)
		return -ENOENT;
	if (e->kind == NS_CTL)
		return ns_op_ctl(ns, cls, obj, data, len, op, msg, msglen);
	if (e->kind == NS_VALUE && e->op != NULL)
		return ns_op_value(ns, e, cls, obj, data, len, op);
	return -EACCES;
}

void
ns_op_done(struct ns *ns, uint64_t ino, const char *msg)
{
	const struct ns_entry *e;
	unsigned               cls;
	uint64_t               obj;
	char                  *keep;

	if ((e = ns__entry(ino, &cls, &obj)) == NULL ||
	    (keep = ns__op_error(ns, e)) == NULL)
		return;
	snprintf(keep, NS_MSG_MAX, "%s", msg != NULL ? msg : "");
}
