/*
 * What the registry's two files share: the operation, registry and call
 * records, and the few functions one file calls in the other.
 * registry.c keeps operations, access rules and discovery;
 * registry_call.c keeps calls, from dispatch to their last answer.
 */
#ifndef ALKNET_REGISTRY_INT_H
#define ALKNET_REGISTRY_INT_H

#include <stdarg.h>

#include "registry.h"
#include "schema.h"

#define REGISTRY_ERR_MAX 200 /* bytes of a schema's own error */

struct registry_op {
	int                 refs;
	char                name[REGISTRY_NAME_MAX + 1];
	char                ns[REGISTRY_NAME_MAX + 1];
	enum registry_kind  kind;
	struct schema      *input;  /* NULL: anything */
	struct schema      *output; /* NULL: anything */
	int                 is_public;
	const char        **scopes;     /* NULL-terminated, strings inline */
	const char        **scopes_any; /* NULL: no such rule */
	char               *resource_type;
	char               *resource_action;
	registry_handler_cb handler;
	void               *arg;
};

struct registry {
	int                    refs; /* the owner's, plus one per call */
	int                    closed;
	struct registry_op   **ops;
	size_t                 nops;
	size_t                 max_ops;
	size_t                 calls;
	size_t                 max_calls;
	struct registry_call  *live; /* calls whose last answer is open */
	struct registry_call  *ready;
	struct registry_call **ready_tail;
	size_t                 nready;
	registry_wakeup_cb     wakeup;
	void                  *wakeup_arg;
	registry_observer_cb   observer;
	void                  *observer_arg;
};

struct registry_call {
	struct registry      *r;
	struct registry_op   *op; /* NULL while refused before a handler */
	struct registry_call *up; /* the call that made this one, or NULL */
	struct registry_ctx   ctx;
	char                 *id;
	char                 *parent;
	int                   depth;
	registry_done_cb      done; /* NULL: nobody is told */
	void                 *arg;
	registry_abort_cb     abort_cb;
	void                 *abort_arg;

	/* Who still holds the call; it is freed when nobody does. */
	int owned;    /* its handler, until it answers or is told */
	int running;  /* its handler is running now */
	int telling;  /* registry_deliver is telling its caller */
	int queued;   /* on the ready queue */
	int deferred; /* to be queued when its handler returns */
	int told;     /* its caller was told the last answer */

	int                finished; /* the last answer is decided */
	int                failed;
	int                errnum;    /* for a local caller; 0: none */
	int                completed; /* a subscription's end */
	json_t            *input;
	json_t            *output;
	json_t            *values; /* a subscription's, not yet told */
	struct reply_error err;
	char               msg[REGISTRY_MSG_MAX];

	int                   live; /* on the live list */
	struct registry_call *live_prev, *live_next;
	struct registry_call *next; /* on the ready queue */

	/* What observers are told, the strings in one allocation, rec. */
	char       *rec;
	const char *call_id;
	const char *call_parent; /* NULL: none */
	const char *name;        /* NULL: none asked for */
	const char *who;         /* NULL: nobody */
	unsigned    nested;      /* calls it made through the env */
	int         ended;       /* its end was told */
};

/* registry.c */
struct registry_op *registry__lookup(
    const struct registry *r, const char *name);
void registry__op_unref(struct registry_op *op);
void registry__utf8_trim(char *s);

/* registry_call.c */
void registry__unref(struct registry *r);
void registry__not_found(struct registry_call *c, const char *name);

/* Aborts the calls open in r, which is closing, and lets go of the
 * answers nobody will be told. */
void registry__calls_close(struct registry *r);

#endif
