/*
 * The namespace tree.  Every file is an entry of a table: the top level
 * has one, and each class of object (listener, session, channel,
 * identity, upstream, forward) has one for the files of its directory.
 * A class fills a record of key/value pairs for one object; value files
 * render a field of it, or all of it as "key value" lines or as JSON.
 * Files whose content is not a record (the rules of acl/) have their own
 * generator, and writable value files a setter.
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
#include "forward.h"
#include "listener.h"
#include "node.h"
#include "ns.h"
#include "ns_ctl.h"
#include "policy.h"
#include "session.h"
#include "sshd.h"
#include "stats.h"
#include "upstream.h"

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
	struct ns_names upstreams;
	struct ns_names forwards;
	char            listen_error[NS_MSG_MAX]; /* acl/listen.error */
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
typedef int (*ns_set_fn)(
    struct ns *, uint64_t, const struct ns_entry *, const char *);

struct ns_entry {
	const char  *name;
	enum ns_kind kind;
	mode_t       perm;
	enum ns_fmt  fmt;
	ns_fill_fn   fill;  /* top-level value files */
	ns_gen_fn    gen;   /* content that is not a record */
	ns_set_fn    set;   /* writable value files */
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
	int (*make)(struct ns *, const char *);   /* mkdir in top */
	int (*unmake)(struct ns *, const char *); /* rmdir in top */
	int single; /* one object, 1, whose files are top's entries */
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

/* The number of an existing object's name, or -ENOENT when full. */
static int
ns_names_obj(struct ns_names *names, const char *name, uint64_t *obj)
{
	return (*obj = ns_names_number(names, name)) != 0 ? 0 : -ENOENT;
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
	ns_names_free(&ns->upstreams);
	ns_names_free(&ns->forwards);
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
ns_rec_int(struct ns_rec *r, const char *key, int64_t value)
{
	ns_rec_add(r, key, 1, "%lld", (long long)value);
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

static void *
ns_upstream(struct ns *ns, uint64_t obj)
{
	const char *name = ns_names_get(&ns->upstreams, obj);

	return name != NULL ? upstream_find(name) : NULL;
}

static int
ns_fill_upstream(struct ns *ns, uint64_t obj, struct ns_rec *r)
{
	struct upstream     *u;
	struct upstream_info ui;

	if ((u = ns_upstream(ns, obj)) == NULL)
		return -ENOENT;
	upstream_info(u, &ui);
	ns_rec_str(r, "uri", ui.uri);
	ns_rec_str(r, "identity", ui.identity);
	ns_rec_str(r, "hostkey", ui.hostkey);
	ns_rec_str(r, "state", ui.state);
	ns_rec_time(r, "since", ui.since);
	ns_rec_u64(r, "reconnects", ui.reconnects);
	ns_rec_int(r, "rtt_ms", ui.rtt_ms);
	ns_rec_u64(r, "session", ui.session);
	return 0;
}

static void *
ns_forward(struct ns *ns, uint64_t obj)
{
	const char *name = ns_names_get(&ns->forwards, obj);

	return name != NULL ? forward_find(name) : NULL;
}

static int
ns_fill_forward(struct ns *ns, uint64_t obj, struct ns_rec *r)
{
	struct forward     *f;
	struct forward_info fi;

	if ((f = ns_forward(ns, obj)) == NULL)
		return -ENOENT;
	forward_info(f, &fi);
	ns_rec_str(r, "kind", fi.kind);
	ns_rec_str(r, "listen", fi.listen);
	ns_rec_str(r, "target", fi.target);
	ns_rec_str(r, "via", fi.via);
	ns_rec_str(r, "state", fi.state);
	ns_rec_u64(r, "connections", fi.connections);
	ns_rec_u64(r, "connections_total", fi.connections_total);
	ns_rec_str(r, "error", fi.error);
	return 0;
}

static int
ns_set_forward(
    struct ns *ns, uint64_t obj, const struct ns_entry *e, const char *value)
{
	struct forward *f;
	char            err[NS_MSG_MAX];

	if ((f = ns_forward(ns, obj)) == NULL)
		return -ENOENT;

	/* A value file has no answer to read: the errno is all that
	 * the writer learns. */
	return forward_set(f, e->name, value, err, sizeof err);
}

static int
ns_make_forward(struct ns *ns, const char *name)
{
	struct forward *f = NULL;
	char            err[NS_MSG_MAX];

	if (!ns_ctl_name_ok(name))
		return -EINVAL;
	if (forward_find(name) != NULL)
		return -EEXIST;

	/* The name gets its number first, so that what is made can
	 * always be looked up. */
	if (ns_names_number(&ns->forwards, name) == 0)
		return -ENOSPC;
	return forward_new(ns->loop, name, FORWARD_LOCAL, &f, err, sizeof err);
}

static int
ns_unmake_forward(struct ns *ns, const char *name)
{
	struct forward *f;

	if ((f = forward_find(name)) == NULL)
		return -ENOENT;
	forward_remove(f);
	return 0;
}

/* The files of acl/ exist where there is an SSH server to hold rules. */
static int
ns_fill_acl(struct ns *ns, uint64_t obj, struct ns_rec *r)
{
	return ns->sshd != NULL ? 0 : -ENOENT;
}

/* text as a file's content: as it is, with a newline added if missing. */
static int
ns_gen_text(const char *text, char **buf, size_t *len)
{
	size_t n = strlen(text);
	int    nl = n > 0 && text[n - 1] != '\n';

	if ((*buf = malloc(n + (size_t)nl + 1)) == NULL)
		return -ENOMEM;
	memcpy(*buf, text, n);
	if (nl)
		(*buf)[n++] = '\n';
	(*buf)[n] = '\0';
	*len = n;
	return 0;
}

static int
ns_gen_listen(struct ns *ns, uint64_t obj, char **buf, size_t *len)
{
	const struct policy *p;
	char                *text;
	int                  rc;

	if (ns->sshd == NULL)
		return -ENOENT;

	/* A server that was never given rules allows nothing. */
	if ((p = sshd_listen_policy(ns->sshd)) == NULL)
		return ns_gen_text("default deny", buf, len);
	if ((text = policy_format(p)) == NULL)
		return -ENOMEM;
	rc = ns_gen_text(text, buf, len);
	free(text);
	return rc;
}

static int
ns_gen_listen_error(struct ns *ns, uint64_t obj, char **buf, size_t *len)
{
	if (ns->sshd == NULL)
		return -ENOENT;
	return ns_gen_text(ns->listen_error, buf, len);
}

/* A new rule set replaces the old one whole, or nothing changes. */
static int
ns_set_listen(
    struct ns *ns, uint64_t obj, const struct ns_entry *e, const char *text)
{
	struct policy *p = NULL;
	char           err[NS_MSG_MAX] = "";
	int            rc;

	if (ns->sshd == NULL)
		return -ENOENT;
	if ((rc = policy_parse(text, 0, &p, err, sizeof err)) != 0) {
		snprintf(ns->listen_error, sizeof ns->listen_error, "%s",
		    err[0] != '\0' ? err : strerror(-rc));
		return rc;
	}
	sshd_set_listen_policy(ns->sshd, p);
	ns->listen_error[0] = '\0';
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
	return ns_names_obj(&ns->listeners, name, obj);
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
	return ns_names_obj(&ns->identities, name, obj);
}

static int
ns_resolve_upstream(struct ns *ns, const char *name, uint64_t *obj)
{
	if (upstream_find(name) == NULL)
		return -ENOENT;
	return ns_names_obj(&ns->upstreams, name, obj);
}

static int
ns_resolve_forward(struct ns *ns, const char *name, uint64_t *obj)
{
	if (forward_find(name) == NULL)
		return -ENOENT;
	return ns_names_obj(&ns->forwards, name, obj);
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

/* Adds the directory of a named object of class cls. */
static int
ns_dirlist_named(struct ns_dirlist *dl, struct ns_names *names, unsigned cls,
    const char *name)
{
	uint64_t obj;

	/* XXX: names past NS_NAMES_MAX in one run are not listed. */
	if ((obj = ns_names_number(names, name)) == 0)
		return 0;
	return ns_dirlist_add(dl, name, ns_ino(cls, obj, 0), S_IFDIR);
}

static int
ns_list_listeners(struct ns *ns, struct ns_dirlist *dl)
{
	struct listener     *l = NULL;
	struct listener_info li;
	int                  rc;

	while ((l = listener_next(l)) != NULL) {
		listener_info(l, &li);
		rc = ns_dirlist_named(dl, &ns->listeners, NS_LISTENER, li.name);
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
	size_t                 i;
	int                    rc;

	for (i = 0; ak != NULL && i < authkeys_count(ak); i++) {
		authkeys_get(ak, i, &ai);
		rc =
		    ns_dirlist_named(dl, &ns->identities, NS_IDENTITY, ai.name);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int
ns_list_upstreams(struct ns *ns, struct ns_dirlist *dl)
{
	struct upstream     *u = NULL;
	struct upstream_info ui;
	int                  rc;

	while ((u = upstream_next(u)) != NULL) {
		upstream_info(u, &ui);
		rc = ns_dirlist_named(dl, &ns->upstreams, NS_UPSTREAM, ui.name);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int
ns_list_forwards(struct ns *ns, struct ns_dirlist *dl)
{
	struct forward     *f = NULL;
	struct forward_info fi;
	int                 rc;

	while ((f = forward_next(f)) != NULL) {
		forward_info(f, &fi);
		rc = ns_dirlist_named(dl, &ns->forwards, NS_FORWARD, fi.name);
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
    [NS_T_UPSTREAMS] = NS_TOPDIR("upstreams", NS_UPSTREAM),
    /* mkdir and rmdir make and remove forwards. */
    [NS_T_FORWARDS] = {.name = "forwards",
        .kind = NS_DIR,
        .perm = 0755,
        .child = NS_FORWARD},
    [NS_T_ACL] = NS_TOPDIR("acl", NS_ACL),
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

static const struct ns_entry ns_upstream_files[] = {
    NS_OBJDIR,
    NS_FIELD("uri"),
    NS_FIELD("identity"),
    NS_FIELD("hostkey"),
    NS_FIELD("state"),
    NS_FIELD("since"),
    NS_FIELD("reconnects"),
    NS_FIELD("rtt_ms"),
    NS_FIELD("session"),
    NS_OBJCTL,
};

#define NS_SETTABLE(n, p)                                                      \
	{                                                                      \
		.name = n, .kind = NS_VALUE, .perm = p, .fmt = NS_FMT_VALUE,   \
		.set = ns_set_forward, .root_only = (p) == 0600                \
	}

static const struct ns_entry ns_forward_files[] = {
    NS_OBJDIR,
    NS_SETTABLE("kind", 0644),
    NS_SETTABLE("listen", 0644),
    /* Destinations are for local:root only. */
    NS_SETTABLE("target", 0600),
    NS_SETTABLE("via", 0644),
    NS_FIELD("state"),
    NS_FIELD("connections"),
    NS_FIELD("connections_total"),
    NS_FIELD("error"),
    NS_OBJCTL,
};

/* Rules are root's to read and to change. */
static const struct ns_entry ns_acl_files[] = {
    NS_OBJDIR,
    {.name = "listen",
        .kind = NS_VALUE,
        .perm = 0600,
        .gen = ns_gen_listen,
        .set = ns_set_listen,
        .root_only = 1},
    {.name = "listen.error",
        .kind = NS_VALUE,
        .perm = 0400,
        .gen = ns_gen_listen_error,
        .root_only = 1},
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
    [NS_UPSTREAM] = {NS_T_UPSTREAMS, NS_FILES(ns_upstream_files),
        ns_fill_upstream, ns_resolve_upstream, ns_list_upstreams, ns_upstream,
        NS_CTL_UPSTREAM},
    [NS_FORWARD] = {NS_T_FORWARDS, NS_FILES(ns_forward_files), ns_fill_forward,
        ns_resolve_forward, ns_list_forwards, ns_forward, NS_CTL_FORWARD,
        ns_make_forward, ns_unmake_forward},
    [NS_ACL] = {NS_T_ACL, NS_FILES(ns_acl_files), ns_fill_acl, NULL, NULL, NULL,
        NS_CTL_NODE, NULL, NULL, 1},
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
	if (ns_classes[cls].single && (obj != 1 || field == 0))
		return NULL;
	return &ns_classes[cls].files[field];
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
	attr->writable = e->set != NULL;
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
	if (cls == NS_TOP && ns_classes[e->child].single)
		return ns_lookup_file(ns, e->child, 1, name, attr);
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
	if (cls == NS_TOP && !ns_classes[e->child].single)
		return ns_classes[e->child].list(ns, dl);
	if (cls == NS_TOP) {
		cls = e->child;
		obj = 1;
		if (ns_exists(ns, cls, obj) != 0)
			return 0;
	}

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

int
ns_write(struct ns *ns, uint64_t ino, const char *data, size_t len)
{
	const struct ns_entry *e;
	unsigned               cls, field;
	uint64_t               obj;
	char                  *value;
	int                    rc;

	ns_ino_split(ino, &cls, &obj, &field);
	if ((e = ns_entry(cls, obj, field)) == NULL)
		return -ENOENT;
	if (e->set == NULL)
		return -EACCES;
	if (len > 0 && data[len - 1] == '\n')
		len--;
	if (len > NS_WRITE_MAX)
		return -EFBIG;
	if (memchr(data, '\0', len) != NULL)
		return -EINVAL;

	if ((value = strndup(data, len)) == NULL)
		return -ENOMEM;
	rc = e->set(ns, obj, e, value);
	free(value);
	return rc;
}

/* The class whose objects are the entries of top-level directory ino. */
static int
ns_top_class(uint64_t ino, const struct ns_classdef **c)
{
	const struct ns_entry *e;
	unsigned               cls, field;
	uint64_t               obj;

	ns_ino_split(ino, &cls, &obj, &field);
	if ((e = ns_entry(cls, obj, field)) == NULL)
		return -ENOENT;
	if (e->kind != NS_DIR)
		return -ENOTDIR;
	if (cls != NS_TOP || obj == NS_T_ROOT)
		return -EPERM;
	*c = &ns_classes[e->child];
	return 0;
}

int
ns_mkdir(struct ns *ns, uint64_t parent, const char *name, struct ns_attr *attr)
{
	const struct ns_classdef *c;
	int                       rc;

	if ((rc = ns_top_class(parent, &c)) != 0)
		return rc;
	if (c->make == NULL)
		return -EPERM;
	if ((rc = c->make(ns, name)) != 0)
		return rc;
	return ns_lookup(ns, parent, name, attr);
}

int
ns_rmdir(struct ns *ns, uint64_t parent, const char *name)
{
	const struct ns_classdef *c;
	int                       rc;

	if ((rc = ns_top_class(parent, &c)) != 0)
		return rc;
	if (c->unmake == NULL)
		return -EPERM;
	return c->unmake(ns, name);
}
