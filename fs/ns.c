/*
 * The namespace tree.  Every file is an entry of a table: the top level
 * has one, and each class of object (listener, session, channel,
 * identity) has one for the files of its directory.  A class fills a
 * record of key/value pairs for one object; value files render a field
 * of it, or all of it as "key value" lines or as JSON.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "authkeys.h"
#include "channel.h"
#include "events.h"
#include "listener.h"
#include "node.h"
#include "ns.h"
#include "ns_ctl.h"
#include "session.h"
#include "sshd.h"
#include "stats.h"

#define NS_NAMES_MAX  65536 /* names one class may use in a run */
#define NS_DIR_MAX    65536 /* entries one directory lists */
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

typedef int (*ns_fill_fn)(struct ns *, uint64_t, struct ns_rec *);

struct ns_entry {
	const char  *name;
	enum ns_kind kind;
	mode_t       perm;
	enum ns_fmt  fmt;
	ns_fill_fn   fill;  /* top-level value files */
	unsigned     child; /* top-level directories: their class */
	int          root_only;
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
	NS_NTOP
};

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

/* The number of name in names, given now if it is new; 0 when full. */
static uint64_t
ns_names_number(struct ns_names *names, const char *name)
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

static const char *
ns_names_get(const struct ns_names *names, uint64_t number)
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

static void
ns_rec_str(struct ns_rec *r, const char *key, const char *value)
{
	ns_rec_add(r, key, 0, "%s", value != NULL ? value : "");
}

static void
ns_rec_u64(struct ns_rec *r, const char *key, uint64_t value)
{
	ns_rec_add(r, key, 1, "%llu", (unsigned long long)value);
}

static void
ns_rec_time(struct ns_rec *r, const char *key, int64_t ms)
{
	char buf[40];

	node_format_time(ms, buf, sizeof buf);
	ns_rec_str(r, key, buf);
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

static int
ns_fill_node(struct ns *ns, uint64_t obj, struct ns_rec *r)
{
	struct node_info ni;

	node_info(&ni);
	ns_rec_str(r, "id", ni.id);
	ns_rec_str(r, "name", ni.name);
	ns_rec_str(r, "roles", ni.roles);
	ns_rec_str(r, "version", ni.version);
	ns_rec_u64(r, "pid", (uint64_t)ni.pid);
	ns_rec_time(r, "started", ni.started);
	ns_rec_str(r, "mount", ni.mount);
	return 0;
}

static int
ns_fill_stats(struct ns *ns, uint64_t obj, struct ns_rec *r)
{
	unsigned fds = 0, limit = 0;

	/* Unknown descriptor counts read as 0 rather than failing. */
	stats_fds(&fds, &limit);
	ns_rec_u64(r, "sessions", stats.sessions);
	ns_rec_u64(r, "sessions_total", stats.sessions_total);
	ns_rec_u64(r, "channels", stats.channels);
	ns_rec_u64(r, "channels_total", stats.channels_total);
	ns_rec_u64(r, "bytes_in", stats.bytes_in);
	ns_rec_u64(r, "bytes_out", stats.bytes_out);
	ns_rec_u64(r, "auth_accepted", stats.auth_accepted);
	ns_rec_u64(r, "auth_rejected", stats.auth_rejected);
	ns_rec_u64(r, "connections_rejected", stats.connections_rejected);
	ns_rec_u64(r, "fds", fds);
	ns_rec_u64(r, "fd_limit", limit);
	ns_rec_u64(r, "events_emitted", events_emitted());
	ns_rec_u64(r, "events_dropped", events_dropped());
	return 0;
}

static void *
ns_listener(struct ns *ns, uint64_t obj)
{
	const char *name = ns_names_get(&ns->listeners, obj);

	return name != NULL ? listener_find(name) : NULL;
}

static int
ns_fill_listener(struct ns *ns, uint64_t obj, struct ns_rec *r)
{
	struct listener     *l;
	struct listener_info li;

	if ((l = ns_listener(ns, obj)) == NULL)
		return -ENOENT;
	listener_info(l, &li);
	ns_rec_str(r, "uri", li.uri);
	ns_rec_str(r, "transport", li.transport);
	ns_rec_str(r, "state", li.state);
	ns_rec_u64(r, "accepted", li.accepted);
	ns_rec_u64(r, "rejected", li.rejected);
	return 0;
}

static void *
ns_session(struct ns *ns, uint64_t obj)
{
	return session_find(obj);
}

static int
ns_fill_session(struct ns *ns, uint64_t obj, struct ns_rec *r)
{
	struct session     *s;
	struct session_info si;

	if ((s = session_find(obj)) == NULL)
		return -ENOENT;
	session_info(s, &si);
	ns_rec_str(r, "direction", si.direction);
	ns_rec_str(r, "peer", si.peer);
	ns_rec_str(r, "identity", si.identity);
	ns_rec_str(r, "user", si.user);
	ns_rec_str(r, "transport", si.transport);
	ns_rec_str(r, "state", si.state);
	ns_rec_time(r, "started", si.started);
	ns_rec_u64(r, "channels", si.channels);
	ns_rec_u64(r, "bytes_in", si.bytes_in);
	ns_rec_u64(r, "bytes_out", si.bytes_out);
	return 0;
}

static void *
ns_channel(struct ns *ns, uint64_t obj)
{
	return channel_find(obj);
}

static int
ns_fill_channel(struct ns *ns, uint64_t obj, struct ns_rec *r)
{
	struct channel     *c;
	struct channel_info ci;

	if ((c = channel_find(obj)) == NULL)
		return -ENOENT;
	channel_info(c, &ci);
	ns_rec_u64(r, "session", ci.session);
	ns_rec_str(r, "kind", ci.kind);
	ns_rec_str(r, "identity", ci.identity);
	ns_rec_str(r, "state", ci.state);
	ns_rec_time(r, "opened", ci.opened);
	ns_rec_u64(r, "bytes_in", ci.bytes_in);
	ns_rec_u64(r, "bytes_out", ci.bytes_out);
	ns_rec_str(r, "target", ci.target);
	return 0;
}

static const struct authkeys *
ns_authkeys(struct ns *ns)
{
	return ns->sshd != NULL ? sshd_authkeys(ns->sshd) : NULL;
}

static int
ns_fill_identity(struct ns *ns, uint64_t obj, struct ns_rec *r)
{
	const struct authkeys *ak = ns_authkeys(ns);
	const char            *name;
	struct authkey_info    ai;
	int                    i;

	name = ns_names_get(&ns->identities, obj);
	if (ak == NULL || name == NULL ||
	    (i = authkeys_find_name(ak, name)) < 0)
		return -ENOENT;
	authkeys_get(ak, (size_t)i, &ai);
	ns_rec_str(r, "id", ai.id);
	ns_rec_str(r, "key", ai.line);
	ns_rec_str(r, "kind", ai.kind);
	ns_rec_str(r, "scopes", ai.scopes);
	ns_rec_str(r, "source", ai.source);
	return 0;
}

/* A directory name as a session or channel id: plain decimal. */
static int
ns_parse_id(const char *s, uint64_t *id)
{
	uint64_t v = 0;

	if (*s == '\0' || (s[0] == '0' && s[1] != '\0'))
		return -ENOENT;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' ||
		    v > (NS_OBJ_MAX - (uint64_t)(*s - '0')) / 10)
			return -ENOENT;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*id = v;
	return 0;
}

static int
ns_resolve_listener(struct ns *ns, const char *name, uint64_t *obj)
{
	if (listener_find(name) == NULL)
		return -ENOENT;
	return (*obj = ns_names_number(&ns->listeners, name)) != 0 ? 0
	                                                           : -ENOENT;
}

static int
ns_resolve_session(struct ns *ns, const char *name, uint64_t *obj)
{
	if (ns_parse_id(name, obj) != 0 || session_find(*obj) == NULL)
		return -ENOENT;
	return 0;
}

static int
ns_resolve_channel(struct ns *ns, const char *name, uint64_t *obj)
{
	if (ns_parse_id(name, obj) != 0 || channel_find(*obj) == NULL)
		return -ENOENT;
	return 0;
}

static int
ns_resolve_identity(struct ns *ns, const char *name, uint64_t *obj)
{
	const struct authkeys *ak = ns_authkeys(ns);

	if (ak == NULL || authkeys_find_name(ak, name) < 0)
		return -ENOENT;
	return (*obj = ns_names_number(&ns->identities, name)) != 0 ? 0
	                                                            : -ENOENT;
}

static int
ns_dirlist_add(
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

static int
ns_list_listeners(struct ns *ns, struct ns_dirlist *dl)
{
	struct listener     *l = NULL;
	struct listener_info li;
	uint64_t             obj;
	int                  rc;

	while ((l = listener_next(l)) != NULL) {
		listener_info(l, &li);
		/* XXX: names past NS_NAMES_MAX in one run are not listed. */
		if ((obj = ns_names_number(&ns->listeners, li.name)) == 0)
			break;
		rc = ns_dirlist_add(
		    dl, li.name, ns_ino(NS_LISTENER, obj, 0), S_IFDIR);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int
ns_list_sessions(struct ns *ns, struct ns_dirlist *dl)
{
	struct session     *s = NULL;
	struct session_info si;
	char                name[32];
	int                 rc;

	while ((s = session_next(s)) != NULL) {
		session_info(s, &si);
		snprintf(name, sizeof name, "%llu", (unsigned long long)si.id);
		rc = ns_dirlist_add(
		    dl, name, ns_ino(NS_SESSION, si.id, 0), S_IFDIR);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int
ns_list_channels(struct ns *ns, struct ns_dirlist *dl)
{
	struct channel     *c = NULL;
	struct channel_info ci;
	char                name[32];
	int                 rc;

	while ((c = channel_next(c)) != NULL) {
		channel_info(c, &ci);
		snprintf(name, sizeof name, "%llu", (unsigned long long)ci.id);
		rc = ns_dirlist_add(
		    dl, name, ns_ino(NS_CHANNEL, ci.id, 0), S_IFDIR);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int
ns_list_identities(struct ns *ns, struct ns_dirlist *dl)
{
	const struct authkeys *ak = ns_authkeys(ns);
	struct authkey_info    ai;
	uint64_t               obj;
	size_t                 i;
	int                    rc;

	for (i = 0; ak != NULL && i < authkeys_count(ak); i++) {
		authkeys_get(ak, i, &ai);
		if ((obj = ns_names_number(&ns->identities, ai.name)) == 0)
			break;
		rc = ns_dirlist_add(
		    dl, ai.name, ns_ino(NS_IDENTITY, obj, 0), S_IFDIR);
		if (rc != 0)
			return rc;
	}
	return 0;
}

#define NS_TOPFILE(n, k, p)                                                    \
	{                                                                      \
		.name = n, .kind = k, .perm = p                                \
	}
#define NS_TOPDIR(n, c)                                                        \
	{                                                                      \
		.name = n, .kind = NS_DIR, .perm = 0555, .child = c            \
	}
#define NS_TOPVALUE(n, f, fn)                                                  \
	{                                                                      \
		.name = n, .kind = NS_VALUE, .perm = 0444, .fmt = f,           \
		.fill = fn                                                     \
	}

static const struct ns_entry ns_top[NS_NTOP] = {
    [NS_T_ROOT] = NS_TOPFILE("", NS_DIR, 0555),
    [NS_T_NODE] = NS_TOPVALUE("node", NS_FMT_LINES, ns_fill_node),
    [NS_T_NODE_JSON] = NS_TOPVALUE("node.json", NS_FMT_JSON, ns_fill_node),
    [NS_T_STATS] = NS_TOPVALUE("stats", NS_FMT_LINES, ns_fill_stats),
    [NS_T_STATS_JSON] = NS_TOPVALUE("stats.json", NS_FMT_JSON, ns_fill_stats),
    [NS_T_CTL] = NS_TOPFILE("ctl", NS_CTL, 0600),
    [NS_T_EVENTS] = NS_TOPFILE("events", NS_STREAM, 0444),
    [NS_T_EVENTS_LOG] = NS_TOPFILE("events.log", NS_LOG, 0444),
    [NS_T_LISTENERS] = NS_TOPDIR("listeners", NS_LISTENER),
    [NS_T_SESSIONS] = NS_TOPDIR("sessions", NS_SESSION),
    [NS_T_CHANNELS] = NS_TOPDIR("channels", NS_CHANNEL),
    [NS_T_IDENTITIES] = NS_TOPDIR("identities", NS_IDENTITY),
};

#define NS_FIELD(n)                                                            \
	{                                                                      \
		.name = n, .kind = NS_VALUE, .perm = 0444, .fmt = NS_FMT_VALUE \
	}
#define NS_OBJDIR                                                              \
	{                                                                      \
		.name = "", .kind = NS_DIR, .perm = 0555                       \
	}
#define NS_OBJCTL                                                              \
	{                                                                      \
		.name = "ctl", .kind = NS_CTL, .perm = 0600                    \
	}

static const struct ns_entry ns_listener_files[] = {
    NS_OBJDIR,
    NS_FIELD("uri"),
    NS_FIELD("transport"),
    NS_FIELD("state"),
    NS_FIELD("accepted"),
    NS_FIELD("rejected"),
    NS_OBJCTL,
};

static const struct ns_entry ns_session_files[] = {
    NS_OBJDIR,
    NS_FIELD("direction"),
    NS_FIELD("peer"),
    NS_FIELD("identity"),
    NS_FIELD("user"),
    NS_FIELD("transport"),
    NS_FIELD("state"),
    NS_FIELD("started"),
    NS_FIELD("channels"),
    NS_FIELD("bytes_in"),
    NS_FIELD("bytes_out"),
    NS_OBJCTL,
};

static const struct ns_entry ns_channel_files[] = {
    NS_OBJDIR,
    NS_FIELD("session"),
    NS_FIELD("kind"),
    NS_FIELD("identity"),
    NS_FIELD("state"),
    NS_FIELD("opened"),
    NS_FIELD("bytes_in"),
    NS_FIELD("bytes_out"),
    /* Destinations are for local:root only. */
    {.name = "target",
        .kind = NS_VALUE,
        .perm = 0400,
        .fmt = NS_FMT_VALUE,
        .root_only = 1},
    NS_OBJCTL,
};

static const struct ns_entry ns_identity_files[] = {
    NS_OBJDIR,
    NS_FIELD("id"),
    NS_FIELD("key"),
    NS_FIELD("kind"),
    NS_FIELD("scopes"),
    NS_FIELD("source"),
};

#define NS_FILES(t) t, sizeof t / sizeof t[0]

static const struct ns_classdef ns_classes[NS_NCLASSES] = {
    [NS_LISTENER] = {NS_T_LISTENERS, NS_FILES(ns_listener_files),
        ns_fill_listener, ns_resolve_listener, ns_list_listeners, ns_listener,
        NS_CTL_LISTENER},
    [NS_SESSION] = {NS_T_SESSIONS, NS_FILES(ns_session_files), ns_fill_session,
        ns_resolve_session, ns_list_sessions, ns_session, NS_CTL_SESSION},
    [NS_CHANNEL] = {NS_T_CHANNELS, NS_FILES(ns_channel_files), ns_fill_channel,
        ns_resolve_channel, ns_list_channels, ns_channel, NS_CTL_CHANNEL},
    [NS_IDENTITY] = {NS_T_IDENTITIES, NS_FILES(ns_identity_files),
        ns_fill_identity, ns_resolve_identity, ns_list_identities, NULL,
        NS_CTL_NODE},
};

static const struct ns_entry *
ns_entry(unsigned cls, uint64_t obj, unsigned field)
{
	if (cls == NS_TOP) {
		if (field != 0 || obj == NS_T_NONE || obj >= NS_NTOP)
			return NULL;
		return &ns_top[obj];
	}
	if (cls >= NS_NCLASSES || field >= ns_classes[cls].nfiles)
		return NULL;
	return &ns_classes[cls].files[field];
}

static int
ns_render_json(const struct ns_rec *r, FILE *f)
{
	json_t *o, *v;
	char   *text;
	size_t  i;

	if ((o = json_object()) == NULL)
		return -ENOMEM;
	for (i = 0; i < r->n; i++) {
		if (r->f[i].num)
			v = json_integer((json_int_t)strtoull(
			    r->text + r->f[i].off, NULL, 10));
		else if ((v = json_string(r->text + r->f[i].off)) == NULL)
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

	fill = cls == NS_TOP ? e->fill : ns_classes[cls].fill;
	if (e->kind != NS_VALUE || fill == NULL)
		return -EINVAL;
	if ((r = calloc(1, sizeof *r)) == NULL)
		return -ENOMEM;

	if ((rc = fill(ns, obj, r)) == 0)
		rc = ns_render(r, e, buf, len);
	free(r);
	return rc;
}

/* Whether the object behind a class inode still exists. */
static int
ns_exists(struct ns *ns, unsigned cls, uint64_t obj)
{
	struct ns_rec *r;
	int            rc;

	if (cls == NS_TOP)
		return 0;
	if ((r = calloc(1, sizeof *r)) == NULL)
		return -ENOMEM;
	rc = ns_classes[cls].fill(ns, obj, r);
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

	ns_ino_split(ino, &cls, &obj, &field);
	if ((e = ns_entry(cls, obj, field)) == NULL)
		return -ENOENT;

	memset(attr, 0, sizeof *attr);
	if (e->kind == NS_VALUE && !e->root_only) {
		if ((rc = ns_generate(ns, cls, obj, e, &buf, &len)) != 0)
			return rc;
		free(buf);
		attr->size = len;
	} else if ((rc = ns_exists(ns, cls, obj)) != 0)
		return rc;

	if (e->kind == NS_LOG)
		attr->size = events_log_size();
	attr->ino = ino;
	attr->kind = e->kind;
	attr->mode = (e->kind == NS_DIR ? S_IFDIR : S_IFREG) | e->perm;
	attr->fixed = cls == NS_TOP;
	return 0;
}

static int
ns_lookup_top(struct ns *ns, const char *name, struct ns_attr *attr)
{
	unsigned i;

	for (i = NS_T_ROOT + 1; i < NS_NTOP; i++) {
		if (strcmp(ns_top[i].name, name) == 0)
			return ns_getattr(ns, ns_ino(NS_TOP, i, 0), attr);
	}
	return -ENOENT;
}

static int
ns_lookup_file(struct ns *ns, unsigned cls, uint64_t obj, const char *name,
    struct ns_attr *attr)
{
	const struct ns_classdef *c = &ns_classes[cls];
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

	ns_ino_split(parent, &cls, &obj, &field);
	if ((e = ns_entry(cls, obj, field)) == NULL)
		return -ENOENT;
	if (e->kind != NS_DIR)
		return -ENOTDIR;

	if (cls == NS_TOP && obj == NS_T_ROOT)
		return ns_lookup_top(ns, name, attr);
	if (cls == NS_TOP) {
		rc = ns_classes[e->child].resolve(ns, name, &child);
		if (rc != 0)
			return rc;
		return ns_getattr(ns, ns_ino(e->child, child, 0), attr);
	}
	return ns_lookup_file(ns, cls, obj, name, attr);
}

static uint64_t
ns_parent(unsigned cls, uint64_t obj)
{
	if (cls == NS_TOP)
		return ns_ino(NS_TOP, NS_T_ROOT, 0);
	return ns_ino(NS_TOP, ns_classes[cls].top, 0);
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
			rc = ns_dirlist_add(dl, ns_top[i].name,
			    ns_ino(NS_TOP, i, 0),
			    ns_top[i].kind == NS_DIR ? S_IFDIR : S_IFREG);
		return rc;
	}
	if (cls == NS_TOP)
		return ns_classes[e->child].list(ns, dl);

	c = &ns_classes[cls];
	for (i = 1; i < c->nfiles && rc == 0; i++)
		rc = ns_dirlist_add(dl, c->files[i].name, ns_ino(cls, obj, i),
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

	ns_ino_split(ino, &cls, &obj, &field);
	if ((e = ns_entry(cls, obj, field)) == NULL)
		return -ENOENT;
	if (e->kind != NS_DIR)
		return -ENOTDIR;
	if ((rc = ns_exists(ns, cls, obj)) != 0)
		return rc;

	if ((rc = ns_dirlist_add(&dl, ".", ino, S_IFDIR)) != 0 ||
	    (rc = ns_dirlist_add(&dl, "..", ns_parent(cls, obj), S_IFDIR)) !=
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

	ns_ino_split(ino, &cls, &obj, &field);
	if ((e = ns_entry(cls, obj, field)) == NULL)
		return -ENOENT;
	if (e->kind != NS_VALUE)
		return -EINVAL;
	if (e->root_only && uid != 0)
		return -EACCES;
	return ns_generate(ns, cls, obj, e, buf, len);
}

static int
ns_ctl_run(struct ns *ns, unsigned cls, uint64_t obj, const struct ns_cmd *cmd,
    char *msg, size_t msglen)
{
	struct ns_ctl_ctx  ctx = {ns->loop, ns->sshd, NULL};
	enum ns_ctl_target target = NS_CTL_NODE;

	if (cls != NS_TOP) {
		target = ns_classes[cls].target;
		if ((ctx.obj = ns_classes[cls].object(ns, obj)) == NULL) {
			snprintf(msg, msglen, "it is gone");
			return -ENOENT;
		}
	}
	return ns_ctl_exec(target, &ctx, cmd, msg, msglen);
}

int
ns_ctl(struct ns *ns, uint64_t ino, const char *data, size_t len, char *reply,
    size_t replylen)
{
	const struct ns_entry *e;
	struct ns_cmd         *cmd;
	unsigned               cls, field;
	uint64_t               obj;
	char                   msg[NS_MSG_MAX] = "";
	int                    rc;

	ns_ino_split(ino, &cls, &obj, &field);
	if ((e = ns_entry(cls, obj, field)) == NULL)
		return -ENOENT;
	if (e->kind != NS_CTL)
		return -EINVAL;
	if ((cmd = malloc(sizeof *cmd)) == NULL)
		return -ENOMEM;

	rc = ns_ctl_parse(data, len, cmd, msg, sizeof msg);
	if (rc == 0)
		rc = ns_ctl_run(ns, cls, obj, cmd, msg, sizeof msg);
	free(cmd);

	if (rc == 0)
		snprintf(reply, replylen, "ok%s%s\n", msg[0] != '\0' ? " " : "",
		    msg);
	else
		snprintf(reply, replylen, "error: %s\n",
		    msg[0] != '\0' ? msg : strerror(-rc));
	return rc;
}
