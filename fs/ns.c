/*
 * The namespace tree's machinery.  Every file is an entry of a table
 * (ns_files.c): the top level has one, and each class of object has one
 * for the files of its directory.  A class fills a record of key/value
 * pairs for one object; value files render a field of it, or all of it
 * as "key value" lines or as JSON.  Files whose content is not a record
 * have their own generator, and writable value files a setter.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "events.h"
#include "identities.h"
#include "node.h"
#include "ns.h"
#include "ns_ctl.h"
#include "ns_files.h"

#define NS_NAMES_MAX 65536 /* names one class may use in a run */
#define NS_DIR_MAX   65536 /* entries one directory lists */

uint64_t
ns_ino(unsigned cls, uint64_t obj, unsigned field)
{
	if (cls >= NS_NCLASSES || obj > NS_OBJ_MAX || field > NS_FIELD_MAX)
		return 0;
	if (cls == NS_TOP && (obj == 0 || field != 0))
		return 0;
	return (uint64_t)cls << 56 | (uint64_t)field << 48 | obj;
}

void
ns_ino_split(uint64_t ino, unsigned *cls, uint64_t *obj, unsigned *field)
{
	*cls = (unsigned)(ino >> 56);
	*field = (unsigned)(ino >> 48) & NS_FIELD_MAX;
	*obj = ino & NS_OBJ_MAX;
}

uint64_t
ns__names_number(struct ns_names *names, const char *name)
{
	char **v;
	size_t i, cap;

	for (i = 0; i < names->n; i++) {
		if (strcmp(names->v[i], name) == 0)
			return i + 1;
	}
	if (names->n == NS_NAMES_MAX)
		return 0;

	if (names->n == names->cap) {
		cap = names->cap > 0 ? names->cap * 2 : 16;
		if ((v = reallocarray(names->v, cap, sizeof *v)) == NULL)
			return 0;
		names->v = v;
		names->cap = cap;
	}
	if ((names->v[names->n] = strdup(name)) == NULL)
		return 0;
	return ++names->n;
}

int
ns__names_obj(struct ns_names *names, const char *name, uint64_t *obj)
{
	return (*obj = ns__names_number(names, name)) != 0 ? 0 : -ENOENT;
}

const char *
ns__names_get(const struct ns_names *names, uint64_t number)
{
	if (number == 0 || number > names->n)
		return NULL;
	return names->v[number - 1];
}

static void
ns_names_free(struct ns_names *names)
{
	size_t i;

	for (i = 0; i < names->n; i++)
		free(names->v[i]);
	free(names->v);
}

int
ns_new(uv_loop_t *loop, struct sshd *sshd, struct ns **out)
{
	struct ns *ns;

	if ((ns = calloc(1, sizeof *ns)) == NULL)
		return -ENOMEM;
	ns->loop = loop;
	ns->sshd = sshd;
	*out = ns;
	return 0;
}

void
ns_free(struct ns *ns)
{
	if (ns == NULL)
		return;
	ns_names_free(&ns->listeners);
	ns_names_free(&ns->identities);
	ns_names_free(&ns->upstreams);
	ns_names_free(&ns->forwards);
	ns_names_free(&ns->ops);
	ns_names_free(&ns->peers);
	free(ns);
}

static void __attribute__((format(printf, 4, 5)))
ns_rec_add(struct ns_rec *r, const char *key, int num, const char *fmt, ...)
{
	va_list ap;
	size_t  room = sizeof r->text - r->used;
	int     len;

	if (r->n == NS_REC_FIELDS || room == 0)
		return;
	va_start(ap, fmt);
	len = vsnprintf(r->text + r->used, room, fmt, ap);
	va_end(ap);

	/* XXX: a value longer than what is left of the record is cut. */
	if (len < 0)
		len = 0;
	if ((size_t)len >= room)
		len = (int)room - 1;
	r->text[r->used + (size_t)len] = '\0';
	r->f[r->n].key = key;
	r->f[r->n].off = r->used;
	r->f[r->n].num = num;
	r->n++;
	r->used += (size_t)len + 1;
}

void
ns__rec_str(struct ns_rec *r, const char *key, const char *value)
{
	ns_rec_add(r, key, 0, "%s", value != NULL ? value : "");
}

void
ns__rec_u64(struct ns_rec *r, const char *key, uint64_t value)
{
	ns_rec_add(r, key, 1, "%llu", (unsigned long long)value);
}

void
ns__rec_int(struct ns_rec *r, const char *key, int64_t value)
{
	ns_rec_add(r, key, 1, "%lld", (long long)value);
}

void
ns__rec_time(struct ns_rec *r, const char *key, int64_t ms)
{
	char buf[40];

	node_format_time(ms, buf, sizeof buf);
	ns__rec_str(r, key, buf);
}

static const char *
ns_rec_get(const struct ns_rec *r, const char *key)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		if (strcmp(r->f[i].key, key) == 0)
			return r->text + r->f[i].off;
	}
	return NULL;
}

int
ns__dirlist_add(
    struct ns_dirlist *dl, const char *name, uint64_t ino, mode_t mode)
{
	struct ns_dirent *v;
	size_t            cap;

	/* XXX: past NS_DIR_MAX entries a directory lists no more. */
	if (ino == 0 || dl->n == NS_DIR_MAX + 2 ||
	    strlen(name) >= NS_NAME_MAX || strchr(name, '/') != NULL)
		return 0;
	if (dl->n == dl->cap) {
		cap = dl->cap > 0 ? dl->cap * 2 : 16;
		if ((v = reallocarray(dl->v, cap, sizeof *v)) == NULL)
			return -ENOMEM;
		dl->v = v;
		dl->cap = cap;
	}
	snprintf(dl->v[dl->n].name, NS_NAME_MAX, "%s", name);
	dl->v[dl->n].ino = ino;
	dl->v[dl->n].mode = mode;
	dl->n++;
	return 0;
}

static const struct ns_entry *
ns_entry(unsigned cls, uint64_t obj, unsigned field)
{
	if (cls == NS_TOP) {
		if (field != 0 || obj == NS_T_NONE || obj >= NS_NTOP)
			return NULL;
		return &ns__top[obj];
	}
	if (cls >= NS_NCLASSES || field >= ns__classes[cls].nfiles)
		return NULL;
	if (ns__classes[cls].single && (obj != 1 || field == 0))
		return NULL;
	return &ns__classes[cls].files[field];
}

/* The entry of ino, with the class, object and field it names. */
static const struct ns_entry *
ns_entry_of(uint64_t ino, unsigned *cls, uint64_t *obj, unsigned *field)
{
	ns_ino_split(ino, cls, obj, field);
	return ns_entry(*cls, *obj, *field);
}

static int
ns_render_json(const struct ns_rec *r, FILE *f)
{
	json_t     *o, *v;
	const char *t;
	char       *text;
	size_t      i;

	if ((o = json_object()) == NULL)
		return -ENOMEM;
	for (i = 0; i < r->n; i++) {
		t = r->text + r->f[i].off;
		if (r->f[i].num && t[0] == '-')
			v = json_integer((json_int_t)strtoll(t, NULL, 10));
		else if (r->f[i].num)
			v = json_integer((json_int_t)strtoull(t, NULL, 10));
		else if ((v = json_string(t)) == NULL)
			v = json_null();
		json_object_set_new(o, r->f[i].key, v);
	}

	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (text == NULL)
		return -ENOMEM;
	fprintf(f, "%s\n", text);
	free(text);
	return 0;
}

/* Writes the record as e says, into a new buffer. */
static int
ns_render(
    const struct ns_rec *r, const struct ns_entry *e, char **buf, size_t *len)
{
	const char *v;
	FILE       *f;
	size_t      i;
	int         rc = 0;

	if ((f = open_memstream(buf, len)) == NULL)
		return -ENOMEM;
	switch (e->fmt) {
	case NS_FMT_VALUE:
		if ((v = ns_rec_get(r, e->name)) != NULL)
			fprintf(f, "%s\n", v);
		break;
	case NS_FMT_LINES:
		for (i = 0; i < r->n; i++)
			fprintf(
			    f, "%s %s\n", r->f[i].key, r->text + r->f[i].off);
		break;
	case NS_FMT_JSON:
		rc = ns_render_json(r, f);
		break;
	default:
		rc = -EINVAL;
		break;
	}

	if (fclose(f) != 0 && rc == 0)
		rc = -ENOMEM;
	if (rc != 0) {
		free(*buf);
		*buf = NULL;
	}
	return rc;
}

static int
ns_generate(struct ns *ns, unsigned cls, uint64_t obj, const struct ns_entry *e,
    char **buf, size_t *len)
{
	struct ns_rec *r;
	ns_fill_fn     fill;
	int            rc;

	if (e->kind == NS_VALUE && e->gen != NULL)
		return e->gen(ns, obj, buf, len);
	fill = cls == NS_TOP ? e->fill : ns__classes[cls].fill;
	if (e->kind != NS_VALUE || fill == NULL)
		return -EINVAL;
	if ((r = calloc(1, sizeof *r)) == NULL)
		return -ENOMEM;

	if ((rc = fill(ns, obj, r)) == 0)
		rc = ns_render(r, e, buf, len);
	free(r);
	return rc;
}

const struct ns_entry *
ns__entry(uint64_t ino, unsigned *cls, uint64_t *obj)
{
	unsigned field;

	return ns_entry_of(ino, cls, obj, &field);
}

int
ns__exists(struct ns *ns, unsigned cls, uint64_t obj)
{
	struct ns_rec *r;
	int            rc;

	if (cls == NS_TOP)
		return 0;
	if ((r = calloc(1, sizeof *r)) == NULL)
		return -ENOMEM;
	rc = ns__classes[cls].fill(ns, obj, r);
	free(r);
	return rc;
}

int
ns_getattr(struct ns *ns, uint64_t ino, struct ns_attr *attr)
{
	const struct ns_entry *e;
	unsigned               cls, field;
	uint64_t               obj;
	char                  *buf = NULL;
	size_t                 len = 0;
	int                    rc;

	if ((e = ns_entry_of(ino, &cls, &obj, &field)) == NULL)
		return -ENOENT;

	memset(attr, 0, sizeof *attr);
	if (e->kind == NS_VALUE && !e->root_only) {
		if ((rc = ns_generate(ns, cls, obj, e, &buf, &len)) != 0)
			return rc;
		free(buf);
		attr->size = len;
	} else if ((rc = ns__exists(ns, cls, obj)) != 0)
		return rc;

	if (e->kind == NS_LOG)
		attr->size = events_log_size();
	attr->ino = ino;
	attr->kind = e->kind;
	attr->mode = (e->kind == NS_DIR ? S_IFDIR : S_IFREG) | e->perm;
	attr->fixed = cls == NS_TOP;
	attr->writable = e->op != NULL;
	return 0;
}

static int
ns_lookup_top(struct ns *ns, const char *name, struct ns_attr *attr)
{
	unsigned i;

	for (i = NS_T_ROOT + 1; i < NS_NTOP; i++) {
		if (strcmp(ns__top[i].name, name) == 0)
			return ns_getattr(ns, ns_ino(NS_TOP, i, 0), attr);
	}
	return -ENOENT;
}

static int
ns_lookup_file(struct ns *ns, unsigned cls, uint64_t obj, const char *name,
    struct ns_attr *attr)
{
	const struct ns_classdef *c = &ns__classes[cls];
	unsigned                  i;

	for (i = 1; i < c->nfiles; i++) {
		if (strcmp(c->files[i].name, name) == 0)
			return ns_getattr(ns, ns_ino(cls, obj, i), attr);
	}
	return -ENOENT;
}

int
ns_lookup(
    struct ns *ns, uint64_t parent, const char *name, struct ns_attr *attr)
{
	const struct ns_entry *e;
	unsigned               cls, field;
	uint64_t               obj, child;
	int                    rc;

	if (ns__ops_dir(parent, &obj))
		return ns__ops_lookup(ns, obj, name, attr);
	ns_ino_split(parent, &cls, &obj, &field);
	if ((e = ns_entry(cls, obj, field)) == NULL)
		return -ENOENT;
	if (e->kind != NS_DIR)
		return -ENOTDIR;

	if (cls == NS_TOP && obj == NS_T_ROOT)
		return ns_lookup_top(ns, name, attr);
	if (cls == NS_TOP && ns__classes[e->child].single)
		return ns_lookup_file(ns, e->child, 1, name, attr);

	/* Objects are listed at the top, and in keys/devices. */
	if (cls == NS_TOP || e->child != NS_TOP) {
		rc = ns__classes[e->child].resolve(ns, name, &child);
		if (rc != 0)
			return rc;
		return ns_getattr(ns, ns_ino(e->child, child, 0), attr);
	}
	return ns_lookup_file(ns, cls, obj, name, attr);
}

static uint64_t
ns_parent(unsigned cls, uint64_t obj)
{
	const struct ns_classdef *c = &ns__classes[cls];

	if (cls == NS_TOP)
		return ns_ino(NS_TOP, NS_T_ROOT, 0);
	if (c->sub != 0)
		return ns_ino(ns__top[c->top].child, 1, c->sub);
	return ns_ino(NS_TOP, c->top, 0);
}

static int
ns_list(struct ns *ns, unsigned cls, uint64_t obj, const struct ns_entry *e,
    struct ns_dirlist *dl)
{
	const struct ns_classdef *c;
	unsigned                  i;
	int                       rc = 0;

	if (cls == NS_TOP && obj == NS_T_ROOT) {
		for (i = NS_T_ROOT + 1; i < NS_NTOP && rc == 0; i++)
			rc = ns__dirlist_add(dl, ns__top[i].name,
			    ns_ino(NS_TOP, i, 0),
			    ns__top[i].kind == NS_DIR ? S_IFDIR : S_IFREG);
		return rc;
	}
	if ((cls == NS_TOP || e->child != NS_TOP) &&
	    !ns__classes[e->child].single)
		return ns__classes[e->child].list(ns, dl);
	if (cls == NS_TOP) {
		cls = e->child;
		obj = 1;
		if (ns__exists(ns, cls, obj) != 0)
			return 0;
	}

	c = &ns__classes[cls];
	for (i = 1; i < c->nfiles && rc == 0; i++)
		rc = ns__dirlist_add(dl, c->files[i].name, ns_ino(cls, obj, i),
		    c->files[i].kind == NS_DIR ? S_IFDIR : S_IFREG);
	return rc;
}

int
ns_readdir(struct ns *ns, uint64_t ino, struct ns_dirent **ents, size_t *n)
{
	struct ns_dirlist      dl = {NULL, 0, 0};
	const struct ns_entry *e;
	unsigned               cls, field;
	uint64_t               obj;
	int                    rc;

	if (ns__ops_dir(ino, &obj))
		return ns__ops_readdir(ns, obj, ents, n);
	if ((e = ns_entry_of(ino, &cls, &obj, &field)) == NULL)
		return -ENOENT;
	if (e->kind != NS_DIR)
		return -ENOTDIR;
	if ((rc = ns__exists(ns, cls, obj)) != 0)
		return rc;

	if ((rc = ns__dirlist_add(&dl, ".", ino, S_IFDIR)) != 0 ||
	    (rc = ns__dirlist_add(&dl, "..", ns_parent(cls, obj), S_IFDIR)) !=
	        0 ||
	    (rc = ns_list(ns, cls, obj, e, &dl)) != 0) {
		free(dl.v);
		return rc;
	}
	*ents = dl.v;
	*n = dl.n;
	return 0;
}

int
ns_read(struct ns *ns, uint64_t ino, uid_t uid, char **buf, size_t *len)
{
	const struct ns_entry *e;
	unsigned               cls, field;
	uint64_t               obj;

	if ((e = ns_entry_of(ino, &cls, &obj, &field)) == NULL)
		return -ENOENT;
	if (e->kind != NS_VALUE)
		return -EINVAL;
	if (e->root_only && uid != 0)
		return -EACCES;
	return ns_generate(ns, cls, obj, e, buf, len);
}

int
ns__value_len(const char *data, size_t *len)
{
	if (*len > 0 && data[*len - 1] == '\n')
		(*len)--;
	if (*len > NS_WRITE_MAX)
		return -EFBIG;
	if (memchr(data, '\0', *len) != NULL)
		return -EINVAL;
	return 0;
}

/* The class whose objects are the entries of top-level directory ino. */
static int
ns_top_class(uint64_t ino, const struct ns_classdef **c)
{
	const struct ns_entry *e;
	unsigned               cls, field;
	uint64_t               obj;

	if ((e = ns_entry_of(ino, &cls, &obj, &field)) == NULL)
		return -ENOENT;
	if (e->kind != NS_DIR)
		return -ENOTDIR;
	if (cls != NS_TOP || obj == NS_T_ROOT)
		return -EPERM;
	*c = &ns__classes[e->child];
	return 0;
}

int
ns_dir_op(struct ns *ns, uint64_t parent, const char *name, int make,
    struct ns_op *op)
{
	const struct ns_classdef *c;
	const char               *what;
	int                       rc;

	op->input = NULL;
	if ((rc = ns_top_class(parent, &c)) != 0)
		return rc;
	if ((what = make ? c->make : c->unmake) == NULL)
		return -EPERM;

	snprintf(op->name, sizeof op->name, "%s", what);
	op->shows = NULL;
	op->absent = NULL;
	op->input = json_pack("{s:s}", "name", name);
	return op->input != NULL ? 1 : -ENOMEM;
}
