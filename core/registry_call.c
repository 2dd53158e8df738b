/*
 * The registry's calls.  A call goes: refused or handed to its handler;
 * answered (a subscription: any number of values, then its end), which
 * puts it on the ready queue; delivered by registry_deliver.  It is
 * freed when both sides are done with it: its handler has answered (or
 * been told of an abort) and its caller has been told the last answer.
 * Calls whose last answer is still open sit on a live list, where an
 * abort finds them by their caller's origin and request id.  An
 * observer is told when a call is taken and when it ends.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry_int.h"

static void registry_call_vfail(struct registry_call *c, enum reply_code code,
    int retryable, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

void
registry__unref(struct registry *r)
{
	if (--r->refs > 0)
		return;
	free(r->ops);
	free(r);
}

static void
registry_live_remove(struct registry_call *c)
{
	if (!c->live)
		return;
	if (c->live_prev != NULL)
		c->live_prev->live_next = c->live_next;
	else
		c->r->live = c->live_next;
	if (c->live_next != NULL)
		c->live_next->live_prev = c->live_prev;
	c->live = 0;
	c->live_prev = c->live_next = NULL;
}

/*
 * Frees c once nobody holds it: its handler has let it go (answered it
 * or been told of the abort) and is not running, and its caller has
 * been told its last answer or is never to be.
 */
static void
registry_call_release(struct registry_call *c)
{
	struct registry *r = c->r;

	if (c->owned || c->running || c->telling || c->queued || !c->told)
		return;
	registry_live_remove(c);
	json_decref(c->input);
	json_decref(c->output);
	json_decref(c->values);
	registry__op_unref(c->op);
	free(c->id);
	free(c->parent);
	free(c->rec);
	free(c);
	r->calls--;
	registry__unref(r);
}

/* Writes s to dst (NULL: only measures) with the bytes a call id does
 * not take as %XX.  Returns the length. */
static size_t
registry_escape(char *dst, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char     ch;
	size_t            n = 0;

	for (; *s != '\0'; s++) {
		ch = (unsigned char)*s;
		if (ch > ' ' && ch <= '~' && strchr("%./:", ch) == NULL) {
			if (dst != NULL)
				dst[n] = (char)ch;
			n++;
			continue;
		}
		if (dst != NULL) {
			dst[n] = '%';
			dst[n + 1] = hex[ch >> 4];
			dst[n + 2] = hex[ch & 0xf];
		}
		n += 3;
	}
	return n;
}

/* The call id of request id from origin (NULL: none) into dst (NULL:
 * only measures).  Returns its size, NUL included. */
static size_t
registry_call_id_of(char *dst, const char *origin, const char *id)
{
	size_t n = 0;

	if (origin != NULL) {
		n = strlen(origin) + 1;
		if (dst != NULL)
			snprintf(dst, n + 1, "%s:", origin);
	}
	n += registry_escape(dst != NULL ? dst + n : NULL, id);
	if (dst != NULL)
		dst[n] = '\0';
	return n + 1;
}

/* Copies s (may be NULL) to *p, moving *p past it; returns the copy. */
static const char *
registry_put(char **p, const char *s, const char *origin, int as_id)
{
	char *at = *p;

	if (s == NULL)
		return NULL;
	if (as_id)
		*p += registry_call_id_of(at, origin, s);
	else
		*p = stpcpy(at, s) + 1;
	return at;
}

/*
 * What observers are told of c: its call id and its parent's, made from
 * the request's (a nested call's are made already), the name asked for
 * and who asked.  Returns 0 or -ENOMEM.
 */
static int
registry_call_record(struct registry_call *c, const char *name)
{
	const char *origin = c->ctx.origin_name;
	const char *who = c->ctx.identity != NULL ? c->ctx.identity->id : NULL;
	int         as_id = c->depth == 0;
	size_t      size = 0;
	char       *p;

	size += registry_call_id_of(NULL, origin, c->id);
	if (c->parent != NULL)
		size += registry_call_id_of(NULL, origin, c->parent);
	size += name != NULL ? strlen(name) + 1 : 0;
	size += who != NULL ? strlen(who) + 1 : 0;
	if ((p = c->rec = malloc(size)) == NULL)
		return -ENOMEM;

	c->call_id = registry_put(&p, c->id, origin, as_id);
	c->call_parent = registry_put(&p, c->parent, origin, as_id);
	c->name = registry_put(&p, name, NULL, 0);
	c->who = registry_put(&p, who, NULL, 0);
	return 0;
}

/* Tells the observer of ev on c.  A call ends once: a second end (an
 * abort, then the answer its handler still gives) is not told. */
static void
registry_observe(struct registry_call *c, enum registry_event ev)
{
	struct registry         *r = c->r;
	struct registry_observed o;

	if (ev != REGISTRY_REQUESTED) {
		if (c->ended)
			return;
		c->ended = 1;
	}
	if (r->observer == NULL)
		return;

	o.event = ev;
	o.call_id = c->call_id;
	o.parent_id = c->call_parent;
	o.op = c->name;
	o.identity = c->who;
	o.code = ev == REGISTRY_ERROR ? c->err.code : REPLY_NCODES;
	r->observer(&o, r->observer_arg);
}

static int
registry_call_new(struct registry *r, const struct registry_ctx *ctx,
    json_t *input, int depth, struct registry_call **out)
{
	struct registry_call *c;
	const char *id = ctx->request_id != NULL ? ctx->request_id : "";

	if ((c = calloc(1, sizeof *c)) == NULL)
		return -ENOMEM;
	c->id = strdup(id);
	c->parent = ctx->parent_id != NULL ? strdup(ctx->parent_id) : NULL;
	c->values = json_array();
	if (c->id == NULL || c->values == NULL ||
	    (ctx->parent_id != NULL && c->parent == NULL)) {
		free(c->id);
		free(c->parent);
		json_decref(c->values);
		free(c);
		return -ENOMEM;
	}

	c->r = r;
	c->ctx = *ctx;
	c->ctx.request_id = c->id;
	c->ctx.parent_id = c->parent;
	c->depth = depth;
	c->input = json_incref(input != NULL ? input : json_null());

	c->live = 1;
	c->live_next = r->live;
	if (r->live != NULL)
		r->live->live_prev = c;
	r->live = c;
	r->refs++;
	r->calls++;
	*out = c;
	return 0;
}

/* Puts c on the ready queue for registry_deliver, once.  An answer
 * given while the handler runs waits until it returns, so that nothing,
 * not even a registry_deliver inside the handler, tells the caller from
 * inside registry_dispatch.  Once the registry is freed nobody is left
 * to tell: the caller is never told. */
static void
registry_call_queue(struct registry_call *c)
{
	struct registry *r = c->r;

	if (c->running) {
		c->deferred = 1;
		return;
	}
	if (c->queued)
		return;
	if (r->closed) {
		c->told = 1;
		return;
	}
	c->queued = 1;
	c->next = NULL;
	*r->ready_tail = c;
	r->ready_tail = &c->next;
	if (++r->nready == 1 && r->wakeup != NULL)
		r->wakeup(r->wakeup_arg);
}

/* The last answer of c is decided: no abort can reach it any more. */
static void
registry_call_finish(struct registry_call *c)
{
	c->finished = 1;
	registry_live_remove(c);
	registry_call_queue(c);
}

static void
registry_call_vfail(struct registry_call *c, enum reply_code code,
    int retryable, const char *fmt, va_list ap)
{
	if (c->finished) {
		/* Aborted before the handler answered: its answer goes
		 * nowhere, and the handler lets go of the call. */
		c->owned = 0;
		registry_call_release(c);
		return;
	}
	if (reply_code_name(code) == NULL)
		code = REPLY_INTERNAL;
	vsnprintf(c->msg, sizeof c->msg, fmt, ap);
	registry__utf8_trim(c->msg);

	c->failed = 1;
	c->err.code = code;
	c->err.message = c->msg;
	c->err.retryable = retryable != 0;
	c->err.details = NULL;
	registry_observe(
	    c, code == REPLY_ABORTED ? REGISTRY_ABORTED : REGISTRY_ERROR);
	c->owned = 0;
	registry_call_finish(c);
	registry_call_release(c);
}

void
registry_call_fail(struct registry_call *c, enum reply_code code, int retryable,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	registry_call_vfail(c, code, retryable, fmt, ap);
	va_end(ap);
}

void
registry_call_fail_errno(struct registry_call *c, int errnum,
    enum reply_code code, const char *fmt, ...)
{
	va_list ap;

	if (!c->finished)
		c->errnum = errnum;
	va_start(ap, fmt);
	registry_call_vfail(c, code, reply_code_retryable(code), fmt, ap);
	va_end(ap);
}

/* output (never NULL) when it matches the spec's output schema; else
 * answers c INTERNAL and returns -1. */
static int
registry_check_output(struct registry_call *c, json_t *output)
{
	char why[REGISTRY_ERR_MAX];

	if (c->op == NULL || c->op->output == NULL ||
	    schema_validate(c->op->output, output, "output", why, sizeof why) >=
	        0)
		return 0;
	registry_call_fail(c, REPLY_INTERNAL, 0, "%s", why);
	return -1;
}

void
registry_call_ok(struct registry_call *c, json_t *output)
{
	if (output == NULL)
		output = json_null();
	if (c->finished) {
		c->owned = 0;
		registry_call_release(c);
		return;
	}
	if (registry_check_output(c, output) < 0)
		return;

	if (c->op != NULL && c->op->kind == REGISTRY_SUBSCRIPTION) {
		registry_call_emit(c, output);
		registry_call_complete(c);
		return;
	}
	c->output = json_incref(output);
	registry_observe(c, REGISTRY_RESPONDED);
	c->owned = 0;
	registry_call_finish(c);
	registry_call_release(c);
}

int
registry_call_emit(struct registry_call *c, json_t *value)
{
	if (value == NULL)
		value = json_null();
	if (c->finished)
		return -ECANCELED;
	if (c->op == NULL || c->op->kind != REGISTRY_SUBSCRIPTION)
		return -EINVAL;
	if (registry_check_output(c, value) < 0)
		return -EINVAL;
	if (json_array_append(c->values, value) != 0)
		return -ENOMEM;
	registry_call_queue(c);
	return 0;
}

void
registry_call_complete(struct registry_call *c)
{
	c->owned = 0;
	if (!c->finished) {
		registry_observe(c, REGISTRY_COMPLETED);
		c->completed = 1;
		registry_call_finish(c);
	}
	registry_call_release(c);
}

void
registry_call_on_abort(struct registry_call *c, registry_abort_cb cb, void *arg)
{
	c->abort_cb = cb;
	c->abort_arg = arg;
}

const struct registry_ctx *
registry_call_ctx(const struct registry_call *c)
{
	return &c->ctx;
}

const char *
registry_call_id(const struct registry_call *c)
{
	return c->call_id;
}

/* Answers NOT_FOUND, quoting name with bytes outside printable ASCII
 * (which no registered name holds) as '?', so that the message is valid
 * text whatever a caller sent. */
void
registry__not_found(struct registry_call *c, const char *name)
{
	char   quoted[REGISTRY_MSG_MAX];
	size_t i;

	for (i = 0; name[i] != '\0' && i + 1 < sizeof quoted; i++)
		quoted[i] = name[i] >= 0x20 && name[i] <= 0x7e ? name[i] : '?';
	quoted[i] = '\0';
	registry_call_fail(
	    c, REPLY_NOT_FOUND, 0, "operation not found: %s", quoted);
}

/* Why op refuses a caller, or NULL when it may run. */
static const char *
registry_refusal(const struct registry_op *op, const struct registry_ctx *ctx)
{
	struct registry_access a;

	if (ctx->trusted || op->is_public)
		return NULL;
	if (ctx->identity == NULL)
		return "authentication required";

	a.scopes = op->scopes;
	a.scopes_any = op->scopes_any;
	a.resource_type = op->resource_type;
	a.resource_action = op->resource_action;
	return registry_allows(&a, ctx->identity) ? NULL : "access denied";
}

/* Refuses c or hands it to its handler: unknown names first, then the
 * rules, and only then the input, so that a caller who may not call an
 * operation learns nothing of its schema. */
static void
registry_route(struct registry_call *c, const char *name)
{
	struct registry_op *op = registry__lookup(c->r, name);
	const char         *why;
	char                bad[REGISTRY_MSG_MAX];

	if (op == NULL) {
		registry__not_found(c, name);
		return;
	}
	if ((why = registry_refusal(op, &c->ctx)) != NULL) {
		registry_call_fail(c, REPLY_FORBIDDEN, 0, "%s", why);
		return;
	}
	if (op->input != NULL &&
	    schema_validate(op->input, c->input, "input", bad, sizeof bad) <
	        0) {
		registry_call_fail(c, REPLY_INVALID_INPUT, 0, "%s", bad);
		return;
	}

	op->refs++;
	c->op = op;
	c->owned = 1;
	c->running = 1;
	op->handler(c, c->input, op->arg);
	c->running = 0;
	if (c->deferred) {
		c->deferred = 0;
		registry_call_queue(c);
	}

	/* The identity and origin's name belong to the transport and need
	 * not outlive this call of the handler; the call may. */
	c->ctx.identity = NULL;
	c->ctx.origin_name = NULL;
	registry_call_release(c);
}

static int
registry_start(struct registry *r, const struct registry_ctx *ctx,
    const char *name, json_t *input, struct registry_call *up,
    registry_done_cb done, void *arg)
{
	struct registry_call *c;
	int                   rc;

	if (r->closed)
		return -ESHUTDOWN;
	if (r->calls >= r->max_calls)
		return -ENOSPC;
	rc = registry_call_new(
	    r, ctx, input, up != NULL ? up->depth + 1 : 0, &c);
	if (rc < 0)
		return rc;
	c->up = up;
	if ((rc = registry_call_record(c, name)) < 0) {
		/* Nobody holds it yet: it goes at once. */
		c->told = 1;
		registry_call_release(c);
		return rc;
	}
	c->done = done;
	c->arg = arg;
	registry_observe(c, REGISTRY_REQUESTED);

	if (name == NULL)
		registry_call_fail(
		    c, REPLY_INVALID_INPUT, 0, "operationId: expected string");
	else
		registry_route(c, name);
	return 0;
}

int
registry_dispatch(struct registry *r, const struct registry_ctx *ctx,
    const char *name, json_t *input, registry_done_cb done, void *arg)
{
	if (r == NULL || ctx == NULL || name == NULL || done == NULL)
		return -EINVAL;
	return registry_start(r, ctx, name, input, NULL, done, arg);
}

int
registry_dispatch_request(struct registry *r,
    const struct registry_identity *identity, void *origin,
    const char *origin_name, const char *id, json_t *payload,
    registry_done_cb done, void *arg)
{
	json_t *op = json_object_get(payload, "operationId");
	json_t *parent = json_object_get(payload, "parentRequestId");
	struct registry_ctx ctx = {identity, 0, id, NULL, origin, origin_name};

	if (r == NULL || done == NULL)
		return -EINVAL;
	if (json_is_string(parent))
		ctx.parent_id = json_string_value(parent);

	return registry_start(r, &ctx,
	    json_is_string(op) ? json_string_value(op) : NULL,
	    json_object_get(payload, "input"), NULL, done, arg);
}

int
registry_call_invoke(struct registry_call *call, const char *ns, const char *op,
    json_t *input, registry_done_cb done, void *arg)
{
	char                name[REGISTRY_NAME_MAX + 1];
	char               *id;
	struct registry_ctx ctx = {NULL, 1, NULL, NULL, NULL, NULL};
	int                 n, rc;

	if (call == NULL || ns == NULL || op == NULL || done == NULL)
		return -EINVAL;
	if (call->depth >= REGISTRY_DEPTH_MAX)
		return -ELOOP;

	n = snprintf(name, sizeof name, "/%s/%s", ns, op);
	if (n < 0 || (size_t)n >= sizeof name)
		return -ENAMETOOLONG;
	if (asprintf(&id, "%s.%u", call->call_id, ++call->nested) < 0)
		return -ENOMEM;

	ctx.request_id = id;
	ctx.parent_id = call->call_id;
	rc = registry_start(call->r, &ctx, name, input, call, done, arg);
	free(id);
	return rc;
}

/*
 * Ends c, which is live, as ABORTED.  The calls it made through the env
 * go first; when c's handler is told (it has an abort callback), their
 * answers would reach a handler that is gone, so nobody is told them.
 */
static void
registry_call_abort(struct registry_call *c)
{
	struct registry_call *x, *next;
	int                   quiet = c->abort_cb != NULL;

	for (x = c->r->live; x != NULL; x = next) {
		next = x->live_next;
		if (x->up != c)
			continue;
		if (quiet)
			x->done = NULL;
		registry_call_abort(x);
		/* The list changed under us: start over. */
		next = c->r->live;
	}

	json_array_clear(c->values);
	registry_observe(c, REGISTRY_ABORTED);
	c->failed = 1;
	c->err.code = REPLY_ABORTED;
	c->err.message = "aborted";
	c->err.retryable = 0;
	c->err.details = NULL;
	registry_call_finish(c);

	if (c->abort_cb != NULL && c->owned) {
		c->owned = 0;
		c->abort_cb(c, c->abort_arg);
	}
	registry_call_release(c);
}

/* origin's own open call under request_id, or NULL. */
static struct registry_call *
registry_find_open(
    const struct registry *r, const void *origin, const char *request_id)
{
	struct registry_call *c;

	for (c = r->live; c != NULL; c = c->live_next) {
		if (c->up == NULL && c->ctx.origin == origin &&
		    strcmp(c->id, request_id) == 0)
			return c;
	}
	return NULL;
}

int
registry_open(
    const struct registry *r, const void *origin, const char *request_id)
{
	return r != NULL && request_id != NULL &&
	    registry_find_open(r, origin, request_id) != NULL;
}

int
registry_abort(struct registry *r, const void *origin, const char *request_id)
{
	struct registry_call *c;

	if (r == NULL || request_id == NULL)
		return -EINVAL;
	if ((c = registry_find_open(r, origin, request_id)) == NULL)
		return -ENOENT;
	registry_call_abort(c);
	return 0;
}

/* Aborts origin's open calls, or only its subscriptions. */
static size_t
registry_abort_of(struct registry *r, const void *origin, int subs)
{
	struct registry_call *c;
	size_t                n = 0;

	if (r == NULL || origin == NULL)
		return 0;
	for (c = r->live; c != NULL;) {
		if (c->up == NULL && c->ctx.origin == origin &&
		    (!subs ||
		        (c->op != NULL &&
		            c->op->kind == REGISTRY_SUBSCRIPTION))) {
			registry_call_abort(c);
			n++;
			c = r->live;
		} else {
			c = c->live_next;
		}
	}
	return n;
}

size_t
registry_abort_origin(struct registry *r, const void *origin)
{
	return registry_abort_of(r, origin, 0);
}

size_t
registry_abort_subscriptions(struct registry *r, const void *origin)
{
	return registry_abort_of(r, origin, 1);
}

/* Tells c's caller what waits for it: values, then the last answer. */
static void
registry_tell(struct registry_call *c)
{
	struct registry_result res = {c->id, NULL, NULL, 0, 0};
	json_t                *v;

	res.more = 1;
	while (json_array_size(c->values) > 0) {
		v = json_incref(json_array_get(c->values, 0));
		json_array_remove(c->values, 0);
		res.output = v;
		if (c->done != NULL)
			c->done(&res, c->arg);
		json_decref(v);
	}
	if (!c->finished || c->told)
		return;

	c->told = 1;
	res.more = 0;
	res.output = c->failed || c->completed ? NULL : c->output;
	res.error = c->failed ? &c->err : NULL;
	res.errnum = c->failed ? c->errnum : 0;
	if (c->done != NULL)
		c->done(&res, c->arg);
}

size_t
registry_deliver(struct registry *r)
{
	struct registry_call *c, *next;
	size_t                n = 0;

	if (r == NULL)
		return 0;
	c = r->ready;
	r->ready = NULL;
	r->ready_tail = &r->ready;
	r->nready = 0;

	for (; c != NULL; c = next, n++) {
		next = c->next;
		c->queued = 0;
		/* A done callback may queue c again (an abort of a
		 * subscription, say); that waits for the next run. */
		c->telling = 1;
		registry_tell(c);
		c->telling = 0;
		registry_call_release(c);
	}
	return n;
}

size_t
registry_ready(const struct registry *r)
{
	return r != NULL ? r->nready : 0;
}

void
registry_set_wakeup(struct registry *r, registry_wakeup_cb cb, void *arg)
{
	if (r == NULL)
		return;
	r->wakeup = cb;
	r->wakeup_arg = arg;
}

void
registry_set_observer(struct registry *r, registry_observer_cb cb, void *arg)
{
	if (r == NULL)
		return;
	r->observer = cb;
	r->observer_arg = arg;
}

void
registry__calls_close(struct registry *r)
{
	struct registry_call *c, *next;

	/* Handlers that would go on working for nobody are told so. */
	for (c = r->live; c != NULL; c = next) {
		next = c->live_next;
		if (c->up == NULL) {
			registry_call_abort(c);
			next = r->live;
		}
	}

	for (c = r->ready; c != NULL; c = next) {
		next = c->next;
		c->queued = 0;
		c->told = 1;
		registry_call_release(c);
	}
	r->ready = NULL;
	r->ready_tail = &r->ready;
	r->nready = 0;
}
