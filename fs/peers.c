/*
 * Heads and workers: registering a worker's operations with its heads,
 * and relaying calls to them.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "callconn.h"
#include "channel.h"
#include "log.h"
#include "name.h"
#include "node.h"
#include "ops.h"
#include "peers.h"
#include "registry.h"
#include "session.h"
#include "upstream.h"

#define PEERS_DIALS_MAX 64 /* sessions to heads registered on at once */

struct peer;

/* One operation of a worker, as the head serves it. */
struct route {
	struct peer       *peer;
	char               name[REGISTRY_NAME_MAX + 1];   /* on the head */
	char               target[REGISTRY_NAME_MAX + 1]; /* on the worker */
	enum registry_kind kind;
};

struct peer {
	char             node[64];
	char             identity[160];
	uint64_t         session;
	int64_t          since;
	struct callconn *cc;
	size_t           n;
	struct route    *routes[PEERS_OPS_MAX];
};

static struct {
	uv_loop_t       *loop;
	struct registry *r;
	struct peer     *peers[PEERS_MAX];
	size_t           n;
	uv_timer_t       dial;
	uint64_t         dialed[PEERS_DIALS_MAX]; /* session ids */
	size_t           ndialed;
	int              started;
} pz;

static const char *const peers_worker[] = {"relay:connect", NULL};
/* A head's calls reach a worker that chose to dial it. */
static const char *const peers_head_scopes[] = {
    OPS_SCOPE_READ, OPS_SCOPE_ADMIN, NULL};

/*
 * The head's side.
 */

/* A call relayed to a worker, while either side may still end it. */
struct relay {
	struct registry_call *call; /* NULL once its caller gave up */
	struct callconn      *cc;
	char                  id[CALLCONN_ID_MAX]; /* on cc */
};

/* What the worker answers, passed on under the caller's id. */
static void
peers_answer(const struct pending_event *ev, void *arg)
{
	struct relay         *rl = arg;
	struct registry_call *call = rl->call;

	if (call != NULL) {
		switch (ev->what) {
		case PENDING_VALUE:
			if (ev->last)
				registry_call_ok(call, ev->value);
			else
				registry_call_emit(call, ev->value);
			break;
		case PENDING_END:
			registry_call_complete(call);
			break;
		case PENDING_ERROR:
			registry_call_fail(call, ev->err.code,
			    ev->err.retryable, "%s",
			    ev->err.message != NULL ? ev->err.message : "");
			break;
		default:
			registry_call_fail(call, REPLY_ABORTED, 0, "aborted");
			break;
		}
	}
	if (ev->last)
		free(rl);
}

/* The caller gave up: so does the worker. */
static void
peers_give_up(struct registry_call *call, void *arg)
{
	struct relay *rl = arg;

	rl->call = NULL;
	callconn_abort(rl->cc, rl->id);
}

/*
 * A call of "/<node><name>": the worker answers it under our id.  It is
 * told our call id as the parent: unique here, it cannot be mistaken
 * for a call we made to the worker.
 */
static void
peers_route(struct registry_call *call, json_t *input, void *arg)
{
	struct route *rt = arg;
	struct relay *rl;

	if ((rl = calloc(1, sizeof *rl)) == NULL) {
		registry_call_fail(call, REPLY_INTERNAL, 1, "out of memory");
		return;
	}
	rl->call = call;
	rl->cc = rt->peer->cc;
	if (callconn_call(rl->cc, rt->target, input, registry_call_id(call),
	        rt->kind == REGISTRY_SUBSCRIPTION ? PENDING_SUBSCRIBE
	                                          : PENDING_CALL,
	        peers_answer, rl, rl->id) != 0) {
		free(rl);
		registry_call_fail(
		    call, REPLY_INTERNAL, 1, "connection closed");
		return;
	}
	registry_call_on_abort(call, peers_give_up, rl);
}

static void
peers_forget(struct peer *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		registry_unregister(pz.r, p->routes[i]->name);
		free(p->routes[i]);
	}
	for (i = 0; i < pz.n && pz.peers[i] != p; i++)
		;
	if (i < pz.n)
		pz.peers[i] = pz.peers[--pz.n];
	log_info("peer removed node=%s", p->node);
	free(p);
}

static struct peer *
peers_find(const char *node)
{
	size_t i;

	for (i = 0; i < pz.n; i++) {
		if (strcmp(pz.peers[i]->node, node) == 0)
			return pz.peers[i];
	}
	return NULL;
}

void
peers_closed(struct callconn *cc, void *arg)
{
	size_t i = 0;

	while (i < pz.n) {
		if (pz.peers[i]->cc == cc)
			peers_forget(pz.peers[i]);
		else
			i++;
	}
}

/* A node's name may not be the first segment of the head's own ops. */
static int
peers_taken(const char *node)
{
	json_t     *list = registry_list(pz.r), *op;
	const char *name;
	size_t      i, len = strlen(node);
	int         taken = 0;

	json_array_foreach(json_object_get(list, "operations"), i, op)
	{
		name = json_string_value(json_object_get(op, "name"));
		if (name != NULL && strncmp(name + 1, node, len) == 0 &&
		    name[len + 1] == '/' && peers_find(node) == NULL)
			taken = 1;
	}
	json_decref(list);
	return taken || strcmp(node, "head") == 0;
}

static int
peers_route_add(struct peer *p, const char *name, const char *kind)
{
	struct registry_spec spec;
	struct route        *rt;
	char                 err[128];
	size_t               i;

	for (i = 0; name != NULL && i < p->n; i++) {
		if (strcmp(p->routes[i]->target, name) == 0)
			return -EEXIST;
	}
	if (p->n == PEERS_OPS_MAX || name == NULL || name[0] != '/' ||
	    (rt = calloc(1, sizeof *rt)) == NULL)
		return -EINVAL;
	rt->peer = p;
	snprintf(rt->target, sizeof rt->target, "%s", name);
	if (snprintf(rt->name, sizeof rt->name, "/%s%s", p->node, name) >=
	    (int)sizeof rt->name) {
		free(rt);
		return -ENAMETOOLONG;
	}

	memset(&spec, 0, sizeof spec);
	spec.name = rt->name;
	spec.kind = REGISTRY_MUTATION;
	if (kind != NULL && strcmp(kind, "query") == 0)
		spec.kind = REGISTRY_QUERY;
	else if (kind != NULL && strcmp(kind, "subscription") == 0)
		spec.kind = REGISTRY_SUBSCRIPTION;
	rt->kind = spec.kind;
	spec.access.scopes =
	    spec.kind == REGISTRY_QUERY ? ops_scopes_read : ops_scopes_admin;
	if (registry_register(pz.r, &spec, peers_route, rt, err, sizeof err) !=
	    0) {
		free(rt);
		return -EINVAL;
	}
	p->routes[p->n++] = rt;
	return 0;
}

static void
peers_register(struct registry_call *call, json_t *input, void *arg)
{
	const struct registry_ctx *ctx = registry_call_ctx(call);
	const char  *node = json_string_value(json_object_get(input, "node"));
	struct peer *p;
	json_t      *op, *out;
	size_t       i;

	if (ctx->origin == NULL || !name_valid(node) || peers_taken(node) ||
	    pz.n == PEERS_MAX) {
		registry_call_fail(call, REPLY_INVALID_INPUT, 0,
		    "cannot register node %.63s", node != NULL ? node : "");
		return;
	}
	/* A worker may register again (its upstream came back); another
	 * identity may not take its name, and the calls sent to it. */
	if ((p = peers_find(node)) != NULL &&
	    (callconn_who(ctx->origin) == NULL ||
	        strcmp(p->identity, callconn_who(ctx->origin)) != 0)) {
		registry_call_fail(call, REPLY_FORBIDDEN, 0,
		    "node %s is registered by another identity", p->node);
		return;
	}
	if (p != NULL)
		peers_forget(p);
	if ((p = calloc(1, sizeof *p)) == NULL) {
		registry_call_fail(call, REPLY_INTERNAL, 1, "out of memory");
		return;
	}
	snprintf(p->node, sizeof p->node, "%s", node);
	snprintf(p->identity, sizeof p->identity, "%s",
	    callconn_who(ctx->origin) != NULL ? callconn_who(ctx->origin) : "");
	p->session = callconn_session(ctx->origin);
	p->since = node_now_ms();
	p->cc = ctx->origin;
	pz.peers[pz.n++] = p;

	json_array_foreach(json_object_get(input, "operations"), i, op)
	    peers_route_add(p, json_string_value(json_object_get(op, "name")),
	        json_string_value(json_object_get(op, "op_type")));

	log_info("peer registered node=%s operations=%zu", p->node, p->n);
	out = json_pack(
	    "{s:s,s:I}", "node", p->node, "registered", (json_int_t)p->n);
	registry_call_ok(call, out);
	json_decref(out);
}

#define PEERS_REGISTER_INPUT                                                   \
	"{\"type\":\"object\",\"required\":[\"node\",\"operations\"],"         \
	"\"properties\":{\"node\":{\"type\":\"string\",\"minLength\":1,"       \
	"\"maxLength\":63},\"operations\":{\"type\":\"array\",\"maxItems\":"   \
	"128,\"items\":{\"type\":\"object\",\"required\":[\"name\"],"          \
	"\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":192},"    \
	"\"op_type\":{\"enum\":[\"query\",\"mutation\","                       \
	"\"subscription\"]}}}}}}"

/*
 * The worker's side.
 */

static void
peers_registered(const struct pending_event *ev, void *arg)
{
	char *up = arg;

	if (ev->what == PENDING_VALUE)
		log_info("upstream registered name=%s operations=%lld", up,
		    (long long)json_integer_value(
		        json_object_get(ev->value, "registered")));
	else
		log_info("upstream not registered name=%s reason=\"%s\"", up,
		    ev->what == PENDING_ERROR && ev->err.message != NULL
		        ? ev->err.message
		        : "aborted");
	free(up);
}

/* What this node offers its heads: every operation but discovery. */
static json_t *
peers_offer(void)
{
	json_t          *list = registry_list(pz.r), *ops = json_array(), *op;
	struct node_info ni;
	const char      *name;
	size_t           i;

	json_array_foreach(json_object_get(list, "operations"), i, op)
	{
		name = json_string_value(json_object_get(op, "name"));
		if (name != NULL && strncmp(name, "/head/", 6) != 0)
			json_array_append(ops, op);
	}
	json_decref(list);
	node_info(&ni);
	return json_pack("{s:s,s:o}", "node", ni.name, "operations", ops);
}

static void
peers_tcp_free(uv_handle_t *h)
{
	free(h);
}

/* Opens a control channel on s and registers there. */
static int
peers_dial(struct session *s, const char *upname)
{
	struct channel_spec      spec = {0};
	struct registry_identity head;
	struct session_info      si;
	struct callconn         *cc;
	uv_tcp_t                *tcp;
	json_t                  *offer;
	char                    *name;
	int                      sv[2], rc;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	        sv) == -1)
		return -errno;
	if ((tcp = malloc(sizeof *tcp)) == NULL) {
		close(sv[0]);
		close(sv[1]);
		return -ENOMEM;
	}
	uv_tcp_init(pz.loop, tcp);
	spec.kind = "control";
	spec.host = "alknet-control";
	spec.orig_host = "127.0.0.1";
	if (uv_tcp_open(tcp, sv[0]) != 0 ||
	    (rc = channel_connect(s, tcp, &spec)) != 0) {
		uv_close((uv_handle_t *)tcp, peers_tcp_free);
		close(sv[1]);
		return -EIO;
	}

	session_info(s, &si);
	head.id = si.identity;
	head.scopes = peers_head_scopes;
	head.resources = NULL;
	if ((rc = callconn_new(sv[1], &head, NULL, NULL, &cc)) != 0)
		return rc;
	offer = peers_offer();
	name = strdup(upname);
	if (offer == NULL || name == NULL ||
	    callconn_call(cc, "/head/services/register", offer, NULL,
	        PENDING_CALL, peers_registered, name, NULL) != 0)
		free(name);
	json_decref(offer);
	return 0;
}

static int
peers_dialed(uint64_t id)
{
	size_t i;

	for (i = 0; i < pz.ndialed; i++) {
		if (pz.dialed[i] == id)
			return 1;
	}
	return 0;
}

/* Registers on every session to a head not registered on yet. */
static void
peers_on_dial(uv_timer_t *t)
{
	struct upstream_info ui;
	struct upstream     *u = NULL;
	struct session      *s;
	uint64_t             now[PEERS_DIALS_MAX];
	size_t               n = 0;

	while ((u = upstream_next(u)) != NULL && n < PEERS_DIALS_MAX) {
		if ((s = upstream_session(u)) == NULL)
			continue;
		upstream_info(u, &ui);
		if (peers_dialed(ui.session) || peers_dial(s, ui.name) == 0)
			now[n++] = ui.session;
	}
	memcpy(pz.dialed, now, n * sizeof now[0]);
	pz.ndialed = n;
}

/* Dialling waits for the next turn: the session is still settling. */
static void
peers_watch(void *arg, struct upstream *u, int up)
{
	if (up)
		uv_timer_start(&pz.dial, peers_on_dial, 0, 0);
}

int
peers_start(uv_loop_t *loop, struct registry *r)
{
	struct registry_spec_text t = {"/head/services/register",
	    REGISTRY_MUTATION, PEERS_REGISTER_INPUT, NULL, peers_worker, 0};
	int                       rc;

	pz.loop = loop;
	pz.r = r;
	if ((rc = registry_register_text(
	         r, &t, peers_register, NULL, NULL, 0)) != 0)
		return rc;

	uv_timer_init(loop, &pz.dial);
	upstream_set_watch(peers_watch, NULL);
	pz.started = 1;
	return 0;
}

void
peers_stop(void)
{
	if (!pz.started)
		return;
	upstream_set_watch(NULL, NULL);
	while (pz.n > 0)
		peers_forget(pz.peers[0]);
	uv_close((uv_handle_t *)&pz.dial, NULL);
	pz.started = 0;
}

size_t
peers_count(void)
{
	return pz.n;
}

const char *
peers_node(size_t i)
{
	return i < pz.n ? pz.peers[i]->node : NULL;
}

int
peers_get(const char *node, struct peers_info *pi)
{
	struct peer *p;

	if (node == NULL || (p = peers_find(node)) == NULL)
		return -ENOENT;
	pi->node = p->node;
	pi->identity = p->identity;
	pi->session = p->session;
	pi->since = p->since;
	pi->noperations = p->n;
	return 0;
}

const char *
peers_operation(const char *node, size_t i)
{
	struct peer *p;

	if (node == NULL || (p = peers_find(node)) == NULL || i >= p->n)
		return NULL;
	return p->routes[i]->target;
}
