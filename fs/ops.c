/*
 * The node's operations.  Each is a spec (name, kind, schemas, access)
 * and a handler in one table; the table is the list of what a peer with
 * the right scopes can do over the control channel.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "acceptor.h"
#include "authkeys.h"
#include "callconn.h"
#include "channel.h"
#include "connlimit.h"
#include "grants.h"
#include "hostport.h"
#include "log.h"
#include "node.h"
#include "ops.h"
#include "ops_ctl.h"
#include "ops_events.h"
#include "penalty.h"
#include "peers.h"
#include "persist.h"
#include "policy.h"
#include "registry.h"
#include "session.h"
#include "sshd.h"

#define OPS_MAX       256
#define OPS_CALLS     16384
#define OPS_RAW_MAX   8 /* raw-framing listeners */
#define OPS_SCOPE_BUF 512

static struct {
	uv_loop_t       *loop;
	struct registry *r;
	struct sshd     *sshd;
	struct storage  *st;
	struct acceptor *raw[OPS_RAW_MAX];
	size_t           nraw;
	char             scope_text[OPS_SCOPE_BUF];
	const char      *scopes[CALLCONN_SCOPES + 1];
	struct grants   *grants; /* acl/operations; NULL: none */
} ops;

const char *const ops_scopes_read[] = {OPS_SCOPE_READ, NULL};
const char *const ops_scopes_admin[] = {OPS_SCOPE_ADMIN, NULL};

/* Answers call with out, a new reference, which is dropped after. */
static void
ops_ok(struct registry_call *call, json_t *out)
{
	registry_call_ok(call, out);
	json_decref(out);
}

static void
ops_node_info(struct registry_call *call, json_t *input, void *arg)
{
	struct node_info ni;

	node_info(&ni);
	ops_ok(call,
	    json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:s}", "id", ni.id, "name",
	        ni.name, "roles", ni.roles, "version", ni.version, "pid",
	        (json_int_t)ni.pid, "started", (json_int_t)ni.started, "mount",
	        ni.mount));
}

static json_t *
ops_session_json(const struct session_info *si)
{
	return json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I}", "id",
	    (json_int_t)si->id, "direction", si->direction, "peer", si->peer,
	    "identity", si->identity, "user", si->user, "transport",
	    si->transport, "state", si->state, "started",
	    (json_int_t)si->started, "channels", (json_int_t)si->channels,
	    "bytes_in", (json_int_t)si->bytes_in, "bytes_out",
	    (json_int_t)si->bytes_out);
}

static void
ops_sessions_list(struct registry_call *call, json_t *input, void *arg)
{
	struct session_info si;
	struct session     *s = NULL;
	json_t             *list = json_array();

	while (list != NULL && (s = session_next(s)) != NULL) {
		session_info(s, &si);
		json_array_append_new(list, ops_session_json(&si));
	}
	if (list == NULL) {
		registry_call_fail(call, REPLY_INTERNAL, 1, "out of memory");
		return;
	}
	ops_ok(call, json_pack("{s:o}", "sessions", list));
}

static void
ops_sessions_close(struct registry_call *call, json_t *input, void *arg)
{
	json_int_t      id = json_integer_value(json_object_get(input, "id"));
	struct session *s;

	if ((s = session_find((uint64_t)id)) == NULL) {
		registry_call_fail(
		    call, REPLY_NOT_FOUND, 0, "no session %lld", (long long)id);
		return;
	}
	session_close(s, "closed by operator");
	ops_ok(call, json_object());
}

/* Which rule set an operation of acl/ works on: its table entry says. */
static enum sshd_rules
ops_rules_of(const void *arg)
{
	return strcmp(arg, "listen") == 0 ? SSHD_LISTEN : SSHD_FORWARDING;
}

static void
ops_rules_get(struct registry_call *call, json_t *input, void *arg)
{
	const struct policy *p = sshd_rules(ops.sshd, ops_rules_of(arg));
	char                *text;

	text = p != NULL ? policy_format(p) : strdup("default deny");
	if (text == NULL) {
		registry_call_fail(call, REPLY_INTERNAL, 1, "out of memory");
		return;
	}
	/* The set as the file shows it, without the file's last newline. */
	if (text[0] != '\0' && text[strlen(text) - 1] == '\n')
		text[strlen(text) - 1] = '\0';
	ops_ok(call, json_pack("{s:s}", "rules", text));
	free(text);
}

static void
ops_rules_set(struct registry_call *call, json_t *input, void *arg)
{
	const char *text = json_string_value(json_object_get(input, "rules"));
	char        err[512] = "";
	int         rc;

	rc = persist_set_rules(
	    ops.st, ops.sshd, ops_rules_of(arg), text, err, sizeof err);
	if (rc == -EINVAL)
		registry_call_fail(call, REPLY_INVALID_INPUT, 0, "%s", err);
	else if (rc != 0)
		registry_call_fail(call, REPLY_INTERNAL, 1, "%s", err);
	else
		ops_ok(call, json_object());
}

static void
ops_grants_get(struct registry_call *call, json_t *input, void *arg)
{
	char *text;

	if ((text = grants_format(ops.grants)) == NULL) {
		registry_call_fail(call, REPLY_INTERNAL, 1, "out of memory");
		return;
	}
	if (text[0] != '\0')
		text[strlen(text) - 1] = '\0';
	ops_ok(call, json_pack("{s:s}", "rules", text));
	free(text);
}

static void
ops_grants_set(struct registry_call *call, json_t *input, void *arg)
{
	const char *text = json_string_value(json_object_get(input, "rules"));
	struct grants *g = NULL;
	char           err[512] = "";
	int            rc;

	rc = persist_set_grants(ops.st, text, &g, err, sizeof err);
	if (rc == -EINVAL)
		registry_call_fail(call, REPLY_INVALID_INPUT, 0, "%s", err);
	else if (rc != 0)
		registry_call_fail(call, REPLY_INTERNAL, 1, "%s", err);
	else {
		grants_free(ops.grants);
		ops.grants = g;
		ops_ok(call, json_object());
	}
}

/* The input of the operations that replace a rule set. */
#define OPS_RULES_INPUT                                                        \
	"{\"type\":\"object\",\"required\":[\"rules\"],"                       \
	"\"additionalProperties\":false,"                                      \
	"\"properties\":{\"rules\":{\"type\":\"string\"}}}"

struct ops_def {
	const char         *name;
	enum registry_kind  kind;
	const char         *input;
	const char         *output;
	const char *const  *scopes;
	int                 needs_sshd;
	registry_handler_cb fn;
	void               *arg;
};

static const struct ops_def ops_defs[] = {
    {"/node/info", REGISTRY_QUERY, OPS_NO_INPUT,
        "{\"type\":\"object\",\"required\":[\"id\",\"name\"]}", ops_scopes_read,
        0, ops_node_info, NULL},
    {"/sessions/list", REGISTRY_QUERY, OPS_NO_INPUT,
        "{\"type\":\"object\",\"required\":[\"sessions\"]}", ops_scopes_read, 0,
        ops_sessions_list, NULL},
    {"/sessions/close", REGISTRY_MUTATION,
        "{\"type\":\"object\",\"required\":[\"id\"],"
        "\"additionalProperties\":false,"
        "\"properties\":{\"id\":{\"type\":\"integer\",\"minimum\":1}}}",
        NULL, ops_scopes_admin, 0, ops_sessions_close, NULL},
    /* The rules name destinations: root's alone to read in acl/. */
    {"/acl/forwarding/get", REGISTRY_QUERY, OPS_NO_INPUT, NULL,
        ops_scopes_admin, 1, ops_rules_get, "forwarding"},
    {"/acl/forwarding/set", REGISTRY_MUTATION, OPS_RULES_INPUT, NULL,
        ops_scopes_admin, 1, ops_rules_set, "forwarding"},
    {"/acl/listen/get", REGISTRY_QUERY, OPS_NO_INPUT, NULL, ops_scopes_admin, 1,
        ops_rules_get, "listen"},
    {"/acl/listen/set", REGISTRY_MUTATION, OPS_RULES_INPUT, NULL,
        ops_scopes_admin, 1, ops_rules_set, "listen"},
    {"/acl/operations/get", REGISTRY_QUERY, OPS_NO_INPUT, NULL,
        ops_scopes_admin, 0, ops_grants_get, NULL},
    {"/acl/operations/set", REGISTRY_MUTATION, OPS_RULES_INPUT, NULL,
        ops_scopes_admin, 0, ops_grants_set, NULL},
};

static int
ops_register(const struct ops_def *d, char *err, size_t errlen)
{
	struct registry_spec_text t = {
	    d->name, d->kind, d->input, d->output, d->scopes, 0};

	return registry_register_text(ops.r, &t, d->fn, d->arg, err, errlen);
}

/* A control channel: the peer is who its session logged in as. */
static int
ops_control(void *arg, uv_loop_t *loop, int fd, struct session *s)
{
	struct registry_identity who;
	struct session_info      si;
	struct callconn         *cc;
	const char              *scopes[CALLCONN_SCOPES + 1];
	int                      rc;

	/* What acl/operations grants is added when the channel opens:
	 * an open channel keeps the scopes it began with. */
	session_info(s, &si);
	grants_scopes(
	    ops.grants, si.identity, si.scopes, scopes, CALLCONN_SCOPES + 1);
	who.id = si.identity;
	who.scopes = scopes;
	who.resources = NULL;
	if ((rc = callconn_new(fd, &who, peers_closed, NULL, &cc)) == 0)
		callconn_set_session(cc, si.id);
	return rc;
}

/* A raw-framing connection, as the node's limits count it. */
struct ops_raw {
	struct in6_addr addr;
	char            ip[256]; /* as hostport gives it */
	int             addr_ok;
	int             counted;  /* in sshd's per-address count */
	int             answered; /* its first frame was judged */
};

/*
 * The source of a raw connection that ended without proving who it is
 * owes a penalty of kind, as an SSH connection's does.
 */
static void
ops_raw_penalize(struct ops_raw *r, enum penalty_kind kind)
{
	struct penalty *p;

	if (r->addr_ok && ops.sshd != NULL &&
	    (p = sshd_penalty(ops.sshd)) != NULL)
		penalty_charge(p, &r->addr, r->ip, kind, uv_now(ops.loop));
}

/*
 * A raw peer's token, checked against the server's Ed25519 keys; the
 * identity is the key's, with its scopes and those acl/operations
 * grants it.  A token that speaks for nobody costs its source a
 * penalty.
 */
static int
ops_token(void *arg, const char *token, struct registry_identity *who)
{
	struct ops_raw     *r = arg;
	struct authkey_info info;
	const char         *base[CALLCONN_SCOPES + 1];
	char               *p, *save = NULL;
	size_t              n = 0;
	int                 idx;

	r->answered = 1;
	if (ops.sshd == NULL ||
	    (idx = sshd_token_identity(ops.sshd, token, (uint64_t)time(NULL))) <
	        0) {
		ops_raw_penalize(r, PENALTY_AUTHFAIL);
		return -EACCES;
	}
	authkeys_get(sshd_authkeys(ops.sshd), (size_t)idx, &info);

	snprintf(ops.scope_text, sizeof ops.scope_text, "%s", info.scopes);
	for (p = strtok_r(ops.scope_text, ",", &save);
	     p != NULL && n < CALLCONN_SCOPES; p = strtok_r(NULL, ",", &save))
		base[n++] = p;
	base[n] = NULL;
	grants_scopes(
	    ops.grants, info.id, base, ops.scopes, CALLCONN_SCOPES + 1);
	who->id = info.id;
	who->scopes = ops.scopes;
	who->resources = NULL;
	return 0;
}

static void
ops_raw_closed(struct callconn *cc, void *arg)
{
	struct ops_raw *r = arg;

	peers_closed(cc, NULL);
	if (!r->answered)
		ops_raw_penalize(r, PENALTY_NOAUTH);
	if (r->counted && ops.sshd != NULL)
		connlimit_remove(sshd_connlimit(ops.sshd), &r->addr);
	free(r);
}

/*
 * Whether a raw connection from r may start, or why not, by the limits
 * of the SSH server: a penalized source, then the connections one
 * address may hold, which raw and SSH connections share.
 */
static const char *
ops_raw_admit(struct ops_raw *r)
{
	const struct sshd_limits *l;
	struct penalty           *p;
	struct connlimit         *c;

	if (ops.sshd == NULL || !r->addr_ok)
		return NULL;
	l = sshd_limits(ops.sshd);
	p = sshd_penalty(ops.sshd);
	c = sshd_connlimit(ops.sshd);
	if (p != NULL && penalty_refused(p, &r->addr, uv_now(ops.loop)))
		return "penalty";
	if (l->max_connections_per_ip != 0 &&
	    connlimit_count(c, &r->addr) >= l->max_connections_per_ip)
		return "too-many-per-ip";
	if (connlimit_add(c, &r->addr, 0) != 0)
		return "too-many-sessions";
	r->counted = 1;
	return NULL;
}

static void
ops_raw_accept(void *arg, int fd, const struct sockaddr *peer)
{
	struct callconn *cc;
	struct ops_raw  *r;
	struct hostport  hp;
	const char      *why;
	int              one = 1;

	if ((r = calloc(1, sizeof *r)) == NULL) {
		close(fd);
		return;
	}
	if (hostport_from_sockaddr(peer, &hp) == 0) {
		snprintf(r->ip, sizeof r->ip, "%s", hp.host);
		r->addr_ok = penalty_addr_parse(hp.host, &r->addr) == 0;
	}
	if ((why = ops_raw_admit(r)) != NULL) {
		log_info("connection rejected remote_addr=%s transport=raw "
		         "reason=%s",
		    r->ip, why);
		free(r);
		close(fd);
		return;
	}

	/* Answers are gathered per turn of the loop already; Nagle would
	 * hold the next batch back for the peer's delayed ACK. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (callconn_new_token(fd, ops_token, r, ops_raw_closed, r, &cc) != 0) {
		if (r->counted)
			connlimit_remove(sshd_connlimit(ops.sshd), &r->addr);
		free(r);
	}
}

int
ops_listen_raw(const char *spec, char *err, size_t errlen)
{
	struct hostport hp;
	const char     *why = "";
	char            uri[300];
	int             fd, rc;

	if (ops.nraw == OPS_RAW_MAX) {
		snprintf(err, errlen, "at most %d raw listeners", OPS_RAW_MAX);
		return -ENOSPC;
	}
	if ((rc = hostport_parse(spec, 1, &hp, err, errlen)) != 0)
		return rc;
	if ((rc = acceptor_listen(&hp, 0, &fd, &why)) != 0) {
		snprintf(err, errlen, "%s", why);
		return rc;
	}
	hostport_sockname(fd, &hp);
	if ((rc = acceptor_start(ops.loop, fd, "raw", ops_raw_accept, NULL,
	         &ops.raw[ops.nraw])) != 0) {
		close(fd);
		snprintf(err, errlen, "%s", strerror(-rc));
		return rc;
	}
	ops.nraw++;
	hostport_format(&hp, uri, sizeof uri);
	log_info("raw listener added uri=tcp://%s", uri);
	return 0;
}

int
ops_start(uv_loop_t *loop, struct sshd *sshd, struct storage *st, char *err,
    size_t errlen)
{
	size_t i;
	int    rc;

	ops.loop = loop;
	ops.sshd = sshd;
	ops.st = st;
	if ((rc = persist_load_grants(st, &ops.grants, err, errlen)) != 0)
		return rc;
	if ((rc = registry_new(OPS_MAX, OPS_CALLS, &ops.r)) != 0) {
		snprintf(err, errlen, "cannot make the registry");
		goto fail;
	}
	for (i = 0; i < sizeof ops_defs / sizeof ops_defs[0]; i++) {
		if (ops_defs[i].needs_sshd && sshd == NULL)
			continue;
		if ((rc = ops_register(&ops_defs[i], err, errlen)) != 0)
			goto fail;
	}
	if ((rc = ops_ctl_start(ops.r, loop, sshd, st, err, errlen)) != 0 ||
	    (rc = ops_events_register(ops.r, err, errlen)) != 0)
		goto fail;
	if ((rc = callconn_start(loop, ops.r)) != 0) {
		snprintf(err, errlen, "cannot serve calls");
		goto fail;
	}
	if ((rc = peers_start(loop, ops.r)) != 0) {
		snprintf(err, errlen, "cannot serve workers");
		goto fail;
	}
	channel_set_control(ops_control, NULL);
	return 0;

fail:
	ops_ctl_stop();
	registry_free(ops.r);
	ops.r = NULL;
	grants_free(ops.grants);
	ops.grants = NULL;
	return rc;
}

void
ops_stop(void)
{
	if (ops.r == NULL)
		return;
	channel_set_control(NULL, NULL);
	while (ops.nraw > 0)
		acceptor_stop(ops.raw[--ops.nraw]);
	peers_stop();
	callconn_stop();
	ops_ctl_stop();
	registry_free(ops.r);
	ops.r = NULL;
	grants_free(ops.grants);
	ops.grants = NULL;
}

struct registry *
ops_registry(void)
{
	return ops.r;
}

const struct grants *
ops_grants(void)
{
	return ops.grants;
}
