/*
 * What each directory of the namespace lists and what each file holds:
 * for every class of object (listener, session, channel, identity,
 * upstream, forward) how a name resolves, how the directory is listed,
 * how one object fills its record, and the table of its files, with
 * the operations that writes, mkdir and rmdir call; and the rules of
 * acl/.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "authkeys.h"
#include "channel.h"
#include "events.h"
#include "forward.h"
#include "grants.h"
#include "identities.h"
#include "keys.h"
#include "listener.h"
#include "node.h"
#include "ns.h"
#include "ns_ctl.h"
#include "ns_files.h"
#include "ops.h"
#include "ops_ctl.h"
#include "penalty.h"
#include "persist.h"
#include "policy.h"
#include "session.h"
#include "sshd.h"
#include "stats.h"
#include "peers.h"
#include "upstream.h"

static int
ns_fill_node(struct ns *ns, uint64_t obj, struct ns_rec *r)
{
	struct node_info ni;

	node_info(&ni);
	ns__rec_str(r, "id", ni.id);
	ns__rec_str(r, "name", ni.name);
	ns__rec_str(r, "roles", ni.roles);
	ns__rec_str(r, "version", ni.version);
	ns__rec_u64(r, "pid", (uint64_t)ni.pid);
	ns__rec_time(r, "started", ni.started);
	ns__rec_str(r, "mount", ni.mount);
	return 0;
}

static int
ns_fill_stats(struct ns *ns, uint64_t obj, struct ns_rec *r)
{
	unsigned fds = 0, limit = 0;

	/* Unknown descriptor counts read as 0 rather than failing. */
	stats_fds(&fds, &limit);
	ns__rec_u64(r, "sessions", stats.sessions);
	ns__rec_u64(r, "sessions_total", stats.sessions_total);
	ns__rec_u64(r, "channels", stats.channels);
	ns__rec_u64(r, "channels_total", stats.channels_total);
	ns__rec_u64(r, "channels_denied", stats.channels_denied);
	ns__rec_u64(r, "bytes_in", stats.bytes_in);
	ns__rec_u64(r, "bytes_out", stats.bytes_out);
	ns__rec_u64(r, "auth_accepted", stats.auth_accepted);
	ns__rec_u64(r, "auth_rejected", stats.auth_rejected);
	ns__rec_u64(r, "connections_rejected", stats.connections_rejected);
	ns__rec_u64(r, "fds", fds);
	ns__rec_u64(r, "fd_limit", limit);
	ns__rec_u64(r, "events_emitted", events_emitted());
	ns__rec_u64(r, "events_dropped", events_dropped());
	return 0;
}

static void *
ns_listener(struct ns *ns, uint64_t obj)
{
	const char *name = ns__names_get(&ns->listeners, obj);

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
	ns__rec_str(r, "uri", li.uri);
	ns__rec_str(r, "transport", li.transport);
	ns__rec_str(r, "state", li.state);
	ns__rec_u64(r, "accepted", li.accepted);
	ns__rec_u64(r, "rejected", li.rejected);
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
	ns__rec_str(r, "direction", si.direction);
	ns__rec_str(r, "peer", si.peer);
	ns__rec_str(r, "identity", si.identity);
	ns__rec_str(r, "user", si.user);
	ns__rec_str(r, "transport", si.transport);
	ns__rec_str(r, "state", si.state);
	ns__rec_time(r, "started", si.started);
	ns__rec_u64(r, "channels", si.channels);
	ns__rec_u64(r, "bytes_in", si.bytes_in);
	ns__rec_u64(r, "bytes_out", si.bytes_out);
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
	ns__rec_u64(r, "session", ci.session);
	ns__rec_str(r, "kind", ci.kind);
	ns__rec_str(r, "identity", ci.identity);
	ns__rec_str(r, "state", ci.state);
	ns__rec_time(r, "opened", ci.opened);
	ns__rec_u64(r, "bytes_in", ci.bytes_in);
	ns__rec_u64(r, "bytes_out", ci.bytes_out);
	ns__rec_str(r, "target", ci.target);
	return 0;
}

static const struct authkeys *
ns_authkeys(struct ns *ns)
{
	return ns->sshd != NULL ? sshd_authkeys(ns->sshd) : NULL;
}

/* The ctl of an identity acts on its name: the object it stands for. */
static void *
ns_identity(struct ns *ns, uint64_t obj)
{
	const char            *name = ns__names_get(&ns->identities, obj);
	struct identities_info ii;

	if (name == NULL ||
	    identities_get(ops_ctl_identities(), name, &ii) != 0)
		return NULL;
	return (void *)name;
}

static int
ns_fill_identity(struct ns *ns, uint64_t obj, struct ns_rec *r)
{
	const char            *name = ns__names_get(&ns->identities, obj);
	struct identities_info ii;

	if (name == NULL ||
	    identities_get(ops_ctl_identities(), name, &ii) != 0)
		return -ENOENT;
	ns__rec_str(r, "id", ii.id);
	ns__rec_str(r, "key", ii.key);
	ns__rec_str(r, "kind", ii.kind);
	ns__rec_str(r, "scopes", ii.scopes);
	ns__rec_str(r, "source", ii.source);
	ns__rec_str(r, "error", ii.error);
	return 0;
}

static void *
ns_upstream(struct ns *ns, uint64_t obj)
{
	const char *name = ns__names_get(&ns->upstreams, obj);

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
	ns__rec_str(r, "uri", ui.uri);
	ns__rec_str(r, "identity", ui.identity);
	ns__rec_str(r, "hostkey", ui.hostkey);
	ns__rec_str(r, "state", ui.state);
	ns__rec_time(r, "since", ui.since);
	ns__rec_u64(r, "reconnects", ui.reconnects);
	ns__rec_int(r, "rtt_ms", ui.rtt_ms);
	ns__rec_u64(r, "session", ui.session);
	return 0;
}

static void *
ns_peer(struct ns *ns, uint64_t obj)
{
	const char       *node = ns__names_get(&ns->peers, obj);
	struct peers_info pi;

	return node != NULL && peers_get(node, &pi) == 0 ? (void *)node : NULL;
}

static int
ns_fill_peer(struct ns *ns, uint64_t obj, struct ns_rec *r)
{
	struct peers_info pi;

	if (peers_get(ns__names_get(&ns->peers, obj), &pi) != 0)
		return -ENOENT;
	ns__rec_str(r, "id", pi.identity);
	ns__rec_u64(r, "session", pi.session);
	ns__rec_time(r, "since", pi.since);
	ns__rec_u64(r, "operations", pi.noperations);
	return 0;
}

static int
ns_resolve_peer(struct ns *ns, const char *name, uint64_t *obj)
{
	struct peers_info pi;

	if (peers_get(name, &pi) != 0)
		return -ENOENT;
	return ns__names_obj(&ns->peers, name, obj);
}

static int ns_gen_close(FILE *, char **);

/* The operations a worker registered, by their names on it, one a
 * line. */
static int
ns_gen_peer_ops(struct ns *ns, uint64_t obj, char **buf, size_t *len)
{
	const char *node = ns__names_get(&ns->peers, obj), *op;
	FILE       *f;
	size_t      i;

	if (node == NULL || ns_peer(ns, obj) == NULL)
		return -ENOENT;
	if ((f = open_memstream(buf, len)) == NULL)
		return -ENOMEM;
	for (i = 0; (op = peers_operation(node, i)) != NULL; i++)
		fprintf(f, "%s\n", op);
	return ns_gen_close(f, buf);
}

static void *
ns_forward(struct ns *ns, uint64_t obj)
{
	const char *name = ns__names_get(&ns->forwards, obj);

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
	ns__rec_str(r, "kind", fi.kind);
	ns__rec_str(r, "listen", fi.listen);
	ns__rec_str(r, "target", fi.target);
	ns__rec_str(r, "via", fi.via);
	ns__rec_str(r, "state", fi.state);
	ns__rec_u64(r, "connections", fi.connections);
	ns__rec_u64(r, "connections_total", fi.connections_total);
	ns__rec_str(r, "error", fi.error);
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
ns_gen_rules(struct ns *ns, enum sshd_rules which, char **buf, size_t *len)
{
	const struct policy *p;
	char                *text;
	int                  rc;

	if (ns->sshd == NULL)
		return -ENOENT;

	/* A server that was never given rules allows nothing. */
	if ((p = sshd_rules(ns->sshd, which)) == NULL)
		return ns_gen_text("default deny", buf, len);
	if ((text = policy_format(p)) == NULL)
		return -ENOMEM;
	rc = ns_gen_text(text, buf, len);
	free(text);
	return rc;
}

static int
ns_gen_rules_error(
    struct ns *ns, enum sshd_rules which, char **buf, size_t *len)
{
	if (ns->sshd == NULL)
		return -ENOENT;
	return ns_gen_text(ns->rules_error[which], buf, len);
}

static int
ns_gen_forwarding(struct ns *ns, uint64_t obj, char **buf, size_t *len)
{
	return ns_gen_rules(ns, SSHD_FORWARDING, buf, len);
}

static int
ns_gen_forwarding_error(struct ns *ns, uint64_t obj, char **buf, size_t *len)
{
	return ns_gen_rules_error(ns, SSHD_FORWARDING, buf, len);
}

/* The operation ACL, which only /acl/operations/set changes. */
static int
ns_gen_operations(struct ns *ns, uint64_t obj, char **buf, size_t *len)
{
	if ((*buf = grants_format(ops_grants())) == NULL)
		return -ENOMEM;
	*len = strlen(*buf);
	return 0;
}

static int
ns_gen_operations_error(struct ns *ns, uint64_t obj, char **buf, size_t *len)
{
	return ns_gen_text(ns->grants_error, buf, len);
}

static int
ns_gen_listen(struct ns *ns, uint64_t obj, char **buf, size_t *len)
{
	return ns_gen_rules(ns, SSHD_LISTEN, buf, len);
}

static int
ns_gen_listen_error(struct ns *ns, uint64_t obj, char **buf, size_t *len)
{
	return ns_gen_rules_error(ns, SSHD_LISTEN, buf, len);
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
	return ns__names_obj(&ns->listeners, name, obj);
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
	struct identities_info ii;

	if (identities_get(ops_ctl_identities(), name, &ii) != 0)
		return -ENOENT;
	return ns__names_obj(&ns->identities, name, obj);
}

static int
ns_resolve_upstream(struct ns *ns, const char *name, uint64_t *obj)
{
	if (upstream_find(name) == NULL)
		return -ENOENT;
	return ns__names_obj(&ns->upstreams, name, obj);
}

static int
ns_resolve_forward(struct ns *ns, const char *name, uint64_t *obj)
{
	if (forward_find(name) == NULL)
		return -ENOENT;
	return ns__names_obj(&ns->forwards, name, obj);
}

/* Adds the directory of a named object of class cls. */
static int
ns_dirlist_named(struct ns_dirlist *dl, struct ns_names *names, unsigned cls,
    const char *name)
{
	uint64_t obj;

	/* XXX: names past NS_NAMES_MAX in one run are not listed. */
	if ((obj = ns__names_number(names, name)) == 0)
		return 0;
	return ns__dirlist_add(dl, name, ns_ino(cls, obj, 0), S_IFDIR);
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
		rc = ns__dirlist_add(
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
		rc = ns__dirlist_add(
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
	const char            *name;
	size_t                 i;
	int                    rc;

	for (i = 0; ak != NULL && i < authkeys_count(ak); i++) {
		authkeys_get(ak, i, &ai);
		rc =
		    ns_dirlist_named(dl, &ns->identities, NS_IDENTITY, ai.name);
		if (rc != 0)
			return rc;
	}
	for (i = 0;
	     (name = identities_pending(ops_ctl_identities(), i)) != NULL;
	     i++) {
		rc = ns_dirlist_named(dl, &ns->identities, NS_IDENTITY, name);
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
ns_list_peers(struct ns *ns, struct ns_dirlist *dl)
{
	const char *node;
	size_t      i;
	int         rc;

	for (i = 0; (node = peers_node(i)) != NULL; i++) {
		if ((rc = ns_dirlist_named(dl, &ns->peers, NS_PEER, node)) != 0)
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

/* A memory stream's text as a file's content. */
static int
ns_gen_close(FILE *f, char **buf)
{
	if (fclose(f) == 0)
		return 0;
	free(*buf);
	*buf = NULL;
	return -ENOMEM;
}

/* The sources refused now: "ADDRESS/PREFIX seconds_left reason" lines. */
static int
ns_gen_penalties(struct ns *ns, uint64_t obj, char **buf, size_t *len)
{
	struct penalty_info *v = NULL;
	struct penalty      *p = NULL;
	size_t               n = 0, i;
	FILE                *f;
	int                  rc;

	if (ns->sshd != NULL)
		p = sshd_penalty(ns->sshd);
	if (p != NULL && (rc = penalty_list(p, uv_now(ns->loop), &v, &n)) != 0)
		return rc;
	if ((f = open_memstream(buf, len)) == NULL) {
		free(v);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		fprintf(f, "%s %u %s\n", v[i].source, v[i].secs_left,
		    penalty_kind_name(v[i].kind));
	free(v);
	return ns_gen_close(f, buf);
}

/* The SSH server's limits and penalty settings, "key value" lines. */
static int
ns_gen_limits(struct ns *ns, uint64_t obj, char **buf, size_t *len)
{
	if (ns->sshd == NULL)
		return -ENOENT;
	if ((*buf = persist_format_limits(ns->sshd)) == NULL)
		return -ENOMEM;
	*len = strlen(*buf);
	return 0;
}

static int
ns_gen_limits_error(struct ns *ns, uint64_t obj, char **buf, size_t *len)
{
	if (ns->sshd == NULL)
		return -ENOENT;
	return ns_gen_text(ns->limits_error, buf, len);
}

char *
ns__op_error(struct ns *ns, const struct ns_entry *e)
{
	if (e->gen == ns_gen_forwarding)
		return ns->rules_error[SSHD_FORWARDING];
	if (e->gen == ns_gen_listen)
		return ns->rules_error[SSHD_LISTEN];
	if (e->gen == ns_gen_operations)
		return ns->grants_error;
	if (e->gen == ns_gen_limits)
		return ns->limits_error;
	return NULL;
}

/* keys/: the secret daemon's state and the public keys in use. */
static int
ns_fill_keys(struct ns *ns, uint64_t obj, struct ns_rec *r)
{
	const struct keys_public *id = keys_identity();
	struct sshd              *s = ns->sshd;

	ns__rec_str(r, "status", keys_state_name(keys_state()));
	ns__rec_str(r, "host_key", keys_host_from_seed() ? "seed" : "file");
	ns__rec_str(r, "identity.pub", id->line);
	ns__rec_str(r, "identity.pub.fp", id->fp);
	ns__rec_str(r, "host.pub", s != NULL ? sshd_host_public(s) : "");
	ns__rec_str(
	    r, "host.pub.fp", s != NULL ? sshd_host_fingerprint(s) : "");
	return 0;
}

/* The files of keys/devices: object 2n is n.pub, 2n + 1 n.pub.fp. */
static const struct keys_public *
ns_device_key(uint64_t obj)
{
	if (obj >> 1 > KEYS_DEVICES_MAX)
		return NULL;
	return keys_device((unsigned)(obj >> 1));
}

static int
ns_fill_device_key(struct ns *ns, uint64_t obj, struct ns_rec *r)
{
	return ns_device_key(obj) != NULL ? 0 : -ENOENT;
}

/* A single value, empty while the daemon is locked: a lone newline. */
static int
ns_gen_device_key(struct ns *ns, uint64_t obj, char **buf, size_t *len)
{
	const struct keys_public *pub;
	int                       n;

	if ((pub = ns_device_key(obj)) == NULL)
		return -ENOENT;
	n = asprintf(buf, "%s\n", obj & 1 ? pub->fp : pub->line);
	if (n < 0)
		return -ENOMEM;
	*len = (size_t)n;
	return 0;
}

static int
ns_resolve_device_key(struct ns *ns, const char *name, uint64_t *obj)
{
	unsigned long n;
	char         *end;

	if (name[0] < '1' || name[0] > '9')
		return -ENOENT;
	n = strtoul(name, &end, 10);
	if (n > keys_devices())
		return -ENOENT;
	if (strcmp(end, ".pub") == 0)
		*obj = (uint64_t)n << 1;
	else if (strcmp(end, ".pub.fp") == 0)
		*obj = (uint64_t)n << 1 | 1;
	else
		return -ENOENT;
	return 0;
}

static int
ns_list_device_keys(struct ns *ns, struct ns_dirlist *dl)
{
	char     name[32];
	uint64_t obj;
	unsigned n;
	int      rc = 0;

	for (n = 1; n <= keys_devices() && rc == 0; n++) {
		obj = (uint64_t)n << 1;
		snprintf(name, sizeof name, "%u.pub", n);
		rc = ns__dirlist_add(
		    dl, name, ns_ino(NS_DEVICE_KEY, obj, 0), S_IFREG);
		snprintf(name, sizeof name, "%u.pub.fp", n);
		if (rc == 0)
			rc = ns__dirlist_add(dl, name,
			    ns_ino(NS_DEVICE_KEY, obj | 1, 0), S_IFREG);
	}
	return rc;
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

const struct ns_entry ns__top[NS_NTOP] = {
    [NS_T_ROOT] = NS_TOPFILE("", NS_DIR, 0555),
    [NS_T_NODE] = NS_TOPVALUE("node", NS_FMT_LINES, ns_fill_node),
    [NS_T_NODE_JSON] = NS_TOPVALUE("node.json", NS_FMT_JSON, ns_fill_node),
    [NS_T_STATS] = NS_TOPVALUE("stats", NS_FMT_LINES, ns_fill_stats),
    [NS_T_STATS_JSON] = NS_TOPVALUE("stats.json", NS_FMT_JSON, ns_fill_stats),
    /* Anyone may write a command: the operation ACL decides. */
    [NS_T_CTL] = NS_TOPFILE("ctl", NS_CTL, 0666),
    [NS_T_EVENTS] = NS_TOPFILE("events", NS_STREAM, 0444),
    [NS_T_EVENTS_LOG] = NS_TOPFILE("events.log", NS_LOG, 0444),
    [NS_T_LISTENERS] = NS_TOPDIR("listeners", NS_LISTENER),
    [NS_T_SESSIONS] = NS_TOPDIR("sessions", NS_SESSION),
    [NS_T_CHANNELS] = NS_TOPDIR("channels", NS_CHANNEL),
    /* mkdir and rmdir make and remove identities, and forwards below:
     * anyone may ask, the operation ACL decides. */
    [NS_T_IDENTITIES] = {.name = "identities",
        .kind = NS_DIR,
        .perm = 0777,
        .child = NS_IDENTITY},
    [NS_T_UPSTREAMS] = NS_TOPDIR("upstreams", NS_UPSTREAM),
    [NS_T_FORWARDS] = {.name = "forwards",
        .kind = NS_DIR,
        .perm = 0777,
        .child = NS_FORWARD},
    [NS_T_ACL] = NS_TOPDIR("acl", NS_ACL),
    [NS_T_PENALTIES] = {.name = "penalties",
        .kind = NS_VALUE,
        .perm = 0444,
        .gen = ns_gen_penalties},
    [NS_T_KEYS] = NS_TOPDIR("keys", NS_KEYS),
    [NS_T_OPS] = NS_TOPDIR("ops", NS_OP),
    [NS_T_FLOWGRAPH] = NS_TOPDIR("flowgraph", NS_FLOWGRAPH),
    [NS_T_PEERS] = NS_TOPDIR("peers", NS_PEER),
};

#define NS_FIELD(n)                                                            \
	{                                                                      \
		.name = n, .kind = NS_VALUE, .perm = 0444, .fmt = NS_FMT_VALUE \
	}
#define NS_OBJDIR                                                              \
	{                                                                      \
		.name = "", .kind = NS_DIR, .perm = 0555                       \
	}
/* Anyone may write a command: the operation it is, "close" on a
 * session's is /sessions/close, is let through or not by the operation
 * ACL. */
#define NS_OBJCTL                                                              \
	{                                                                      \
		.name = "ctl", .kind = NS_CTL, .perm = 0666                    \
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

/* Public keys and scopes are for anyone to read; writing them is
 * /identities/set, which the operation ACL lets through or not. */
#define NS_IDSETTABLE(n)                                                       \
	{                                                                      \
		.name = n, .kind = NS_VALUE, .perm = 0666,                     \
		.fmt = NS_FMT_VALUE, .op = "/identities/set",                  \
		.opfield = "value"                                             \
	}

static const struct ns_entry ns_identity_files[] = {
    NS_OBJDIR,
    NS_FIELD("id"),
    NS_IDSETTABLE("key"),
    NS_IDSETTABLE("kind"),
    NS_IDSETTABLE("scopes"),
    NS_FIELD("source"),
    NS_FIELD("error"),
    NS_OBJCTL,
};

static const struct ns_entry ns_peer_files[] = {
    NS_OBJDIR,
    NS_FIELD("id"),
    NS_FIELD("session"),
    NS_FIELD("since"),
    {.name = "operations",
        .kind = NS_VALUE,
        .perm = 0444,
        .gen = ns_gen_peer_ops},
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
		.op = "/forwards/set", .opfield = "value",                     \
		.root_only = (p) == 0600                                       \
	}

static const struct ns_entry ns_forward_files[] = {
    NS_OBJDIR,
    NS_SETTABLE("kind", 0666),
    NS_SETTABLE("listen", 0666),
    /* Destinations are for local:root only. */
    NS_SETTABLE("target", 0600),
    NS_SETTABLE("via", 0666),
    NS_FIELD("state"),
    NS_FIELD("connections"),
    NS_FIELD("connections_total"),
    NS_FIELD("error"),
    NS_OBJCTL,
};

/* Rules are root's to read and to change. */
static const struct ns_entry ns_acl_files[] = {
    NS_OBJDIR,
    {.name = "forwarding",
        .kind = NS_VALUE,
        .perm = 0600,
        .gen = ns_gen_forwarding,
        .root_only = 1,
        .op = "/acl/forwarding/set",
        .opfield = "rules"},
    {.name = "forwarding.error",
        .kind = NS_VALUE,
        .perm = 0400,
        .gen = ns_gen_forwarding_error,
        .root_only = 1},
    {.name = "listen",
        .kind = NS_VALUE,
        .perm = 0600,
        .gen = ns_gen_listen,
        .root_only = 1,
        .op = "/acl/listen/set",
        .opfield = "rules"},
    {.name = "listen.error",
        .kind = NS_VALUE,
        .perm = 0400,
        .gen = ns_gen_listen_error,
        .root_only = 1},
    /* Limits name no peer and no target: anyone may read them, and
     * the operation ACL says who may change them. */
    {.name = "limits",
        .kind = NS_VALUE,
        .perm = 0666,
        .gen = ns_gen_limits,
        .op = "/acl/limits/set",
        .opfield = "limits"},
    {.name = "limits.error",
        .kind = NS_VALUE,
        .perm = 0444,
        .gen = ns_gen_limits_error},
    /* Who holds which scopes: root's, as the rules are. */
    {.name = "operations",
        .kind = NS_VALUE,
        .perm = 0600,
        .gen = ns_gen_operations,
        .root_only = 1,
        .op = "/acl/operations/set",
        .opfield = "rules"},
    {.name = "operations.error",
        .kind = NS_VALUE,
        .perm = 0400,
        .gen = ns_gen_operations_error,
        .root_only = 1},
};

/* A directory of ops/ holds its operation's spec and call, if the path
 * is one, and the directories below it. */
static const struct ns_entry ns_op_files[] = {
    NS_OBJDIR,
    {.name = "spec", .kind = NS_VALUE, .perm = 0444, .gen = ns__ops_gen_spec},
    /* Anyone may call: the operation ACL decides. */
    {.name = "call", .kind = NS_CALL, .perm = 0666},
};

/* Public halves only: a private key is never a file. */
static const struct ns_entry ns_keys_files[] = {
    NS_OBJDIR,
    NS_FIELD("status"),
    NS_FIELD("host_key"),
    NS_FIELD("identity.pub"),
    NS_FIELD("identity.pub.fp"),
    NS_FIELD("host.pub"),
    NS_FIELD("host.pub.fp"),
    {.name = "devices", .kind = NS_DIR, .perm = 0555, .child = NS_DEVICE_KEY},
};

/* Each object of keys/devices is one file. */
static const struct ns_entry ns_device_key_files[] = {
    {.name = "", .kind = NS_VALUE, .perm = 0444, .gen = ns_gen_device_key},
};

/* The graphs as wholes, and a directory per call recorded. */
#define NS_FLOWGEN(n, fn)                                                      \
	{                                                                      \
		.name = n, .kind = NS_VALUE, .perm = 0444, .gen = fn           \
	}

enum { NS_FLOWGRAPH_DIR_CALLS = 5 }; /* the field of calls/ */

static const struct ns_entry ns_flowgraph_files[] = {
    NS_OBJDIR,
    NS_FLOWGEN("calls.json", ns__flowgraph_gen_calls_json),
    NS_FLOWGEN("calls.dot", ns__flowgraph_gen_calls_dot),
    NS_FLOWGEN("ops.json", ns__flowgraph_gen_ops_json),
    NS_FLOWGEN("ops.dot", ns__flowgraph_gen_ops_dot),
    [NS_FLOWGRAPH_DIR_CALLS] = {.name = "calls",
        .kind = NS_DIR,
        .perm = 0555,
        .child = NS_FLOWCALL},
};

static const struct ns_entry ns_flowcall_files[] = {
    NS_OBJDIR,
    NS_FIELD("id"),
    NS_FIELD("op"),
    NS_FIELD("status"),
    NS_FIELD("parent"),
    NS_FLOWGEN("children", ns__flowcall_gen_children),
    NS_FLOWGEN("lineage", ns__flowcall_gen_lineage),
    NS_FIELD("identity"),
    NS_FIELD("error"),
    NS_FIELD("started"),
    NS_FIELD("ended"),
    NS_FIELD("duration_ms"),
    NS_FLOWGEN("call.json", ns__flowcall_gen_json),
};

#define NS_FILES(t) t, sizeof t / sizeof t[0]

const struct ns_classdef ns__classes[NS_NCLASSES] = {
    [NS_LISTENER] = {NS_T_LISTENERS, NS_FILES(ns_listener_files),
        ns_fill_listener, ns_resolve_listener, ns_list_listeners, ns_listener,
        NS_CTL_LISTENER},
    [NS_SESSION] = {NS_T_SESSIONS, NS_FILES(ns_session_files), ns_fill_session,
        ns_resolve_session, ns_list_sessions, ns_session, NS_CTL_SESSION},
    [NS_CHANNEL] = {NS_T_CHANNELS, NS_FILES(ns_channel_files), ns_fill_channel,
        ns_resolve_channel, ns_list_channels, ns_channel, NS_CTL_CHANNEL},
    [NS_IDENTITY] = {NS_T_IDENTITIES, NS_FILES(ns_identity_files),
        ns_fill_identity, ns_resolve_identity, ns_list_identities, ns_identity,
        NS_CTL_IDENTITY, "/identities/create", "/identities/remove"},
    [NS_UPSTREAM] = {NS_T_UPSTREAMS, NS_FILES(ns_upstream_files),
        ns_fill_upstream, ns_resolve_upstream, ns_list_upstreams, ns_upstream,
        NS_CTL_UPSTREAM},
    [NS_FORWARD] = {NS_T_FORWARDS, NS_FILES(ns_forward_files), ns_fill_forward,
        ns_resolve_forward, ns_list_forwards, ns_forward, NS_CTL_FORWARD,
        "/forwards/create", "/forwards/remove"},
    [NS_ACL] = {NS_T_ACL, NS_FILES(ns_acl_files), ns_fill_acl, NULL, NULL, NULL,
        NS_CTL_NODE, NULL, NULL, 1},
    [NS_KEYS] = {NS_T_KEYS, NS_FILES(ns_keys_files), ns_fill_keys, NULL, NULL,
        NULL, NS_CTL_NODE, NULL, NULL, 1},
    [NS_DEVICE_KEY] = {NS_T_KEYS, NS_FILES(ns_device_key_files),
        ns_fill_device_key, ns_resolve_device_key, ns_list_device_keys, NULL,
        NS_CTL_NODE},
    [NS_OP] = {NS_T_OPS, NS_FILES(ns_op_files), ns__ops_fill, NULL, NULL, NULL,
        NS_CTL_NODE},
    [NS_FLOWGRAPH] = {NS_T_FLOWGRAPH, NS_FILES(ns_flowgraph_files),
        ns__flowgraph_fill, NULL, NULL, NULL, NS_CTL_NODE, NULL, NULL, 1},
    [NS_FLOWCALL] = {NS_T_FLOWGRAPH, NS_FILES(ns_flowcall_files),
        ns__flowcall_fill, ns__flowcall_resolve, ns__flowcall_list, NULL,
        NS_CTL_NODE, NULL, NULL, 0, NS_FLOWGRAPH_DIR_CALLS},
    [NS_PEER] = {NS_T_PEERS, NS_FILES(ns_peer_files), ns_fill_peer,
        ns_resolve_peer, ns_list_peers, ns_peer, NS_CTL_NODE},
};
