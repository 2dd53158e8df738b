/*
 * The operation registry: every action of the node, whoever asks for it
 * (the filesystem, the SSH control channel, raw framing), is a named
 * operation here, described by a spec and carried out by a handler.
 *
 * Names are paths of one or more segments, "/sessions/close"; a name is
 * stored with one leading '/', and one given with none or several
 * ("sessions/close") means the same operation.  The namespace of a name
 * is its second segment when it has three or more ("/head/agent/chat":
 * agent), its first when it has two ("/auth/verify": auth), else "".
 *
 * Access: a spec marked public may be called by anyone, also without an
 * identity.  Any other spec needs an identity ("authentication
 * required" without one), which must hold every scope of scopes, at
 * least one of scopes_any when that is set, and, when resource_type is
 * set, an entry for that type in its resources holding resource_action
 * (any action when that is NULL).  A spec must be either public or name
 * a rule, and not both, so that an open operation is never the result of
 * a forgotten field.  local:root passes every rule; calls made by
 * handlers through registry_call_invoke are trusted and skip the rules.
 *
 * Dispatch never calls back from inside itself: a handler runs from
 * registry_dispatch and answers then or later, and every answer,
 * including the refusals (NOT_FOUND, FORBIDDEN, INVALID_INPUT), waits
 * in a queue for the caller's loop to run registry_deliver.  The
 * registry tells the loop through the wakeup callback when the queue
 * stops being empty.
 *
 * Every call has a call id, unique on the node, that names it to
 * observers (registry_set_observer) and to handlers (registry_call_id),
 * and that a peer's request id, which is only unique on its connection,
 * cannot be:
 *
 *	- a call from a connection is "<origin name>:<request id>", with
 *	  the origin name the transport gives ("conn3:7");
 *	- a call from no connection (the filesystem's "fs-12") is its
 *	  request id;
 *	- a call made through the env is "<parent's call id>.<n>", n
 *	  counting the calls its parent made so, from 1 ("conn3:7.1",
 *	  "fs-12.2.1").
 *
 * In the first two, bytes of the request id outside printable ASCII,
 * space, '%', '.', '/' and ':' are written %XX (hex, upper case), so
 * that two different calls never share an id, no id holds '/', and '.'
 * only ever marks nesting.  A parent named by a request
 * (parentRequestId, or ctx.parent_id) is read the same way, as a call
 * of the same origin.
 *
 * Two discovery operations are always there, public and read-only:
 * /services/list {} -> {"operations":[{name, namespace, op_type}]},
 * sorted by name, op_type one of "query", "mutation", "subscription";
 * /services/schema {"name"} -> {name, namespace, op_type, input_schema,
 * output_schema}, NOT_FOUND for a name not registered.
 */
#ifndef ALKNET_REGISTRY_H
#define ALKNET_REGISTRY_H

#include <stddef.h>

#include <jansson.h>

#include "reply.h"

#define REGISTRY_NAME_MAX   255 /* bytes of a name, '/' included */
#define REGISTRY_SCOPES_MAX 64  /* entries of scopes or scopes_any */
#define REGISTRY_DEPTH_MAX  16  /* calls nested through the env */
#define REGISTRY_MSG_MAX    256 /* bytes of an error message, NUL included */
#define REGISTRY_LOCAL_ROOT "local:root"

enum registry_kind {
	REGISTRY_QUERY,
	REGISTRY_MUTATION,
	REGISTRY_SUBSCRIPTION,
	REGISTRY_NKINDS
};

/* Actions an identity may take on a type of resource. */
struct registry_resource {
	const char        *type;
	const char *const *actions; /* NULL-terminated, may be NULL */
};

/*
 * Who calls: "SHA256:..." for a key, or "local:<user>" for a local user
 * of the filesystem.  Only the filesystem adapter may make local ids;
 * remote ids are fingerprints, which never begin with "local:".
 */
struct registry_identity {
	const char                     *id;
	const char *const              *scopes;    /* NULL-terminated */
	const struct registry_resource *resources; /* ends at a NULL type */
};

/* The rules of a spec; NULL means the rule is not there. */
struct registry_access {
	const char *const *scopes;     /* all of these, NULL-terminated */
	const char *const *scopes_any; /* one of these; not empty if set */
	const char        *resource_type;
	const char        *resource_action;
};

/* What registry_register reads; everything is copied. */
struct registry_spec {
	const char            *name;
	enum registry_kind     kind;
	json_t                *input;  /* schema; NULL: anything */
	json_t                *output; /* schema; NULL: anything */
	struct registry_access access;
	int                    is_public; /* anyone, without an identity too */
};

/*
 * Who asks, as the transport knows it.  trusted skips the access rules:
 * transports pass 0; registry_call_invoke sets it for nested calls.
 */
struct registry_ctx {
	const struct registry_identity *identity; /* NULL: none */
	int                             trusted;
	const char                     *request_id; /* NULL reads as "" */
	const char                     *parent_id;  /* NULL: none */
	void *origin; /* the transport's connection; NULL: none */
	/* origin's name, unique on the node for the node's life and
	 * holding no ':'; NULL: none */
	const char *origin_name;
};

/*
 * An answer; every pointer lives until the done callback returns.  A
 * call is told one: output on success, else error.  A subscription is
 * told each value with more set, then one last answer: error, or
 * neither output nor error for its end (call.completed).
 */
struct registry_result {
	const char               *request_id;
	json_t                   *output; /* a value; NULL at the end */
	const struct reply_error *error;  /* NULL on success */
	int                       more;   /* 1: more answers follow */
	int errnum; /* a failure's errno for a local caller, 0: none */
};

struct registry;
struct registry_call;

/*
 * A handler: input (never NULL, JSON null when none was given) is
 * borrowed until the call is answered.  It answers call exactly once,
 * with registry_call_ok or registry_call_fail, before returning or
 * later; the call is gone after that.
 */
/*
 * What an observer is told.  A call is REGISTRY_REQUESTED once taken,
 * refusals included (they are then answered REGISTRY_ERROR), and then
 * ends once: REGISTRY_RESPONDED (its answer), REGISTRY_COMPLETED (a
 * subscription ended), REGISTRY_ERROR or REGISTRY_ABORTED (given up, or
 * answered with the code ABORTED).  A call that registry_dispatch
 * refuses to take (-ENOSPC, -ENOMEM) is not told.
 */
enum registry_event {
	REGISTRY_REQUESTED,
	REGISTRY_RESPONDED,
	REGISTRY_COMPLETED,
	REGISTRY_ERROR,
	REGISTRY_ABORTED,
	REGISTRY_NEVENTS
};

/* One event of one call; the strings live until the observer returns. */
struct registry_observed {
	enum registry_event event;
	const char         *call_id;   /* unique on the node, as above */
	const char         *parent_id; /* the parent's call id; NULL: none */
	const char         *op;        /* the name asked for; NULL: none */
	const char         *identity;  /* who asked; NULL: nobody, or env */
	enum reply_code     code; /* of REGISTRY_ERROR, else REPLY_NCODES */
};

typedef void (*registry_handler_cb)(
    struct registry_call *call, json_t *input, void *arg);
typedef void (*registry_done_cb)(const struct registry_result *res, void *arg);
typedef void (*registry_wakeup_cb)(void *arg);
typedef void (*registry_abort_cb)(struct registry_call *call, void *arg);
typedef void (*registry_observer_cb)(
    const struct registry_observed *ev, void *arg);

/*
 * A registry for at most max_ops operations, the two discovery ones
 * included, and at most max_calls calls at once (running or answered
 * and not yet delivered).  Returns 0 and *out (free with
 * registry_free), -EINVAL for max_ops under 2 or a max_calls of 0, or
 * -ENOMEM.
 */
int registry_new(size_t max_ops, size_t max_calls, struct registry **out);

/*
 * Frees r; accepts NULL.  Open calls are aborted first, as
 * registry_abort does, and answers not yet delivered are dropped, all
 * without telling their callers; calls whose handlers still hold them
 * keep what they need and are dropped when answered.  Must not be called from a
 * handler or a done callback.
 */
void registry_free(struct registry *r);

/* cb(arg) runs when the queue of answers stops being empty; it should
 * arrange for registry_deliver to run, not run it.  NULL: nobody. */
void registry_set_wakeup(struct registry *r, registry_wakeup_cb cb, void *arg);

/*
 * cb(ev, arg) is told every event of every call, as it happens (inside
 * registry_dispatch and the answering functions), so it must not call
 * into r.  registry_free forgets it.  NULL: nobody.
 */
void registry_set_observer(
    struct registry *r, registry_observer_cb cb, void *arg);

/*
 * Registers spec with handler (called with arg), replacing an operation
 * of the same name; calls already running finish with what they began
 * with.  Returns 0, or -EINVAL with the reason in err (may be NULL) for
 * a bad name (empty segments, "." or "..", bytes outside printable
 * ASCII, over REGISTRY_NAME_MAX), a kind out of range, a schema outside
 * the subset of schema.h, access rules that are both public and rules
 * or neither, an empty scopes_any or a scope list over
 * REGISTRY_SCOPES_MAX; -ENOSPC when r holds max_ops operations and the
 * name is new; -ELOOP for a schema nested too deeply; or -ENOMEM.
 */
int registry_register(struct registry *r, const struct registry_spec *spec,
    registry_handler_cb handler, void *arg, char *err, size_t errlen);

/*
 * A spec as tables write it: schemas as JSON text (NULL: anything) and
 * one rule, scopes (NULL with is_public set).
 */
struct registry_spec_text {
	const char        *name;
	enum registry_kind kind;
	const char        *input;
	const char        *output;
	const char *const *scopes;
	int                is_public;
};

/*
 * registry_register for t.  Returns as registry_register, or -EINVAL
 * with the reason in err when a schema's text is not JSON.
 */
int registry_register_text(struct registry *r,
    const struct registry_spec_text *t, registry_handler_cb handler, void *arg,
    char *err, size_t errlen);

/* Removes the operation name.  Returns 0 or -ENOENT. */
int registry_unregister(struct registry *r, const char *name);

/* Operations registered, the discovery ones included. */
size_t registry_count(const struct registry *r);

/* 1 when name is registered, else 0. */
int registry_has(const struct registry *r, const char *name);

/* The answer of /services/list, a new reference; NULL on ENOMEM. */
json_t *registry_list(const struct registry *r);

/*
 * The whole spec of name as a new reference: the answer of
 * /services/schema plus "access": {"public", "scopes", "scopes_any"
 * (null when unset), "resource_type", "resource_action" (null when
 * unset)}.  NULL when name is not registered or on ENOMEM.
 */
json_t *registry_describe(const struct registry *r, const char *name);

/*
 * Calls name with input (borrowed; NULL is JSON null) as ctx asks.
 * Returns 0 when the call was taken: done(arg) will be told its answer
 * exactly once, from registry_deliver, refusals included.  Returns
 * -EINVAL for a NULL r, ctx, name or done; -ENOSPC when max_calls calls
 * are out; or -ENOMEM.  On failure nobody is called.
 */
int registry_dispatch(struct registry *r, const struct registry_ctx *ctx,
    const char *name, json_t *input, registry_done_cb done, void *arg);

/*
 * registry_dispatch for a call.requested frame's id and payload
 * {"operationId", "input"?, "parentRequestId"?} from a peer that is
 * identity (NULL: none), never trusted, on connection origin named
 * origin_name (see struct registry_ctx).  A missing input is JSON null.
 * A payload without a string operationId is answered INVALID_INPUT.
 * Returns as registry_dispatch.
 */
int registry_dispatch_request(struct registry *r,
    const struct registry_identity *identity, void *origin,
    const char *origin_name, const char *id, json_t *payload,
    registry_done_cb done, void *arg);

/*
 * Tells the answers queued when it starts to their done callbacks, in
 * the order they came, and frees their calls; answers queued meanwhile
 * wait for the next run (and wake the loop again).  Returns how many
 * were told.  A done callback may dispatch; it must not free r.
 */
size_t registry_deliver(struct registry *r);

/* Answers waiting for registry_deliver. */
size_t registry_ready(const struct registry *r);

/*
 * Who asked for call, for its handler.  The identity is readable while
 * the handler runs; after it returns the context's identity is NULL,
 * so a handler that answers later copies what it needs first.
 */
const struct registry_ctx *registry_call_ctx(const struct registry_call *call);

/* call's call id, unique on the node (see above). */
const char *registry_call_id(const struct registry_call *call);

/*
 * Answers call with output (borrowed; NULL is JSON null).  An output
 * that does not match the spec's output schema is answered as INTERNAL
 * with the schema's message instead, so a caller never receives what
 * the spec does not promise.  For a subscription: one value, then its
 * end.
 */
void registry_call_ok(struct registry_call *call, json_t *output);

/*
 * Answers call with an error, which ends a subscription too; the
 * message is cut to REGISTRY_MSG_MAX bytes, between characters.
 */
void registry_call_fail(struct registry_call *call, enum reply_code code,
    int retryable, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * One value of a subscription (borrowed; NULL is JSON null), checked
 * against the output schema as registry_call_ok does.  Returns 0;
 * -EINVAL when call is not a subscription or the value fails the schema
 * (the call is then answered INTERNAL); -ECANCELED once the caller gave
 * up; or -ENOMEM.  The call stays the handler's until it ends it with
 * registry_call_complete or registry_call_fail.
 */
int registry_call_emit(struct registry_call *call, json_t *value);

/* Ends a subscription: its caller is told the end after its values. */
void registry_call_complete(struct registry_call *call);

/*
 * cb(call, arg) runs if the caller gives up on call before its last
 * answer (registry_abort, registry_abort_origin).  call is gone when cb
 * returns: cb stops whatever works for it and never answers it.  A
 * handler without one keeps the call until it answers, and that answer
 * goes nowhere.
 */
void registry_call_on_abort(
    struct registry_call *call, registry_abort_cb cb, void *arg);

/*
 * The caller origin (as its ctx gave it) gives up on its call
 * request_id, a call of its own, not one nested through the env: the
 * handler learns it as registry_call_on_abort says, calls nested under
 * it are aborted too, and done is told ABORTED "aborted" as the last
 * answer.  Returns 0, -EINVAL, or -ENOENT when no such call is open
 * (none, or its last answer is decided already).
 */
int registry_abort(
    struct registry *r, const void *origin, const char *request_id);

/* 1 if origin has a call of its own open under request_id, else 0. */
int registry_open(
    const struct registry *r, const void *origin, const char *request_id);

/* Aborts every open call of origin (a connection that closed), as
 * registry_abort does.  Returns how many. */
size_t registry_abort_origin(struct registry *r, const void *origin);

/* Aborts origin's open subscriptions alone.  Returns how many. */
size_t registry_abort_subscriptions(struct registry *r, const void *origin);

/*
 * registry_call_fail, with errnum (a positive errno) for a caller on
 * this node that speaks errno, such as a write of the filesystem, to
 * answer instead of one derived from code.  It is in the result
 * registry_deliver hands over and never goes on the wire.
 */
void registry_call_fail_errno(struct registry_call *call, int errnum,
    enum reply_code code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * The env of a handler: calls "/ns/op" on call's behalf, trusted, with
 * no identity, and with the next nested call id of call
 * ("<call's call id>.<n>") as request id and call's call id as parent.
 * Returns as registry_dispatch; -ELOOP when calls are already nested
 * REGISTRY_DEPTH_MAX deep; -ENAMETOOLONG for a name over
 * REGISTRY_NAME_MAX; or -ESHUTDOWN once the registry was freed.
 */
int registry_call_invoke(struct registry_call *call, const char *ns,
    const char *op, json_t *input, registry_done_cb done, void *arg);

/* 1 when identity passes access's rules (local:root passes any), else
 * 0; a NULL identity passes none. */
int registry_allows(
    const struct registry_access *access, const struct registry_identity *id);

/*
 * The namespace of name into buf (len bytes), as described above; a
 * name need not be registered.  Returns 0, -EINVAL for NULL arguments,
 * or -ENAMETOOLONG when it does not fit.
 */
int registry_namespace(const char *name, char *buf, size_t len);

/* "query", "mutation" or "subscription"; NULL for a kind out of range. */
const char *registry_kind_name(enum registry_kind kind);

/*
 * "local:<user>" into buf (len bytes).  Returns 0, -EINVAL for an empty
 * user or one holding bytes outside printable ASCII, ':' or '/', or
 * -ENAMETOOLONG.
 */
int registry_local_id(const char *user, char *buf, size_t len);

#endif
