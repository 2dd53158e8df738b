/*
 * /events/subscribe: the event bus as a subscription, so that a peer
 * (or a head, through its workers' routes) watches a node as `tail -f
 * events` does on the mount.  Each value is one event object.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "events.h"
#include "ops.h"
#include "ops_events.h"
#include "registry.h"

#define OPS_EVENTS_BUF      (64 * 1024) /* more than one line's 16 KiB */
#define OPS_EVENTS_PREFIXES 16

#define OPS_EVENTS_INPUT                                                       \
	"{\"type\":[\"object\",\"null\"],\"additionalProperties\":false,"      \
	"\"properties\":{\"types\":{\"type\":\"array\",\"maxItems\":16,"       \
	"\"items\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":64}}}}"
#define OPS_EVENTS_OUTPUT                                                      \
	"{\"type\":\"object\",\"required\":[\"seq\",\"ts\",\"type\"]}"

/* One subscriber: a registry call fed from a cursor of the bus. */
struct ops_events {
	struct registry_call *call;
	struct events_sub    *sub;
	json_t               *types; /* prefixes; NULL: every event */
	char                 *buf;
};

static void
ops_events_free(struct ops_events *oe)
{
	events_unsubscribe(oe->sub);
	json_decref(oe->types);
	free(oe->buf);
	free(oe);
}

/* Whether an event of type passes the prefixes the caller gave. */
static int
ops_events_wanted(const struct ops_events *oe, const char *type)
{
	json_t *p;
	size_t  i;

	if (oe->types == NULL)
		return 1;
	json_array_foreach(oe->types, i, p)
	{
		if (strncmp(
		        type, json_string_value(p), json_string_length(p)) == 0)
			return 1;
	}
	return 0;
}

/* Passes each whole line of buf (len bytes) on as a value. */
static int
ops_events_lines(struct ops_events *oe, char *buf, size_t len)
{
	char   *line = buf, *nl;
	json_t *ev;
	int     rc = 0;

	while (
	    rc == 0 && (nl = memchr(line, '\n', len - (line - buf))) != NULL) {
		ev = json_loadb(line, (size_t)(nl - line), 0, NULL);
		line = nl + 1;
		if (ev == NULL)
			continue;
		if (ops_events_wanted(
		        oe, json_string_value(json_object_get(ev, "type"))))
			rc = registry_call_emit(oe->call, ev);
		json_decref(ev);
	}
	return rc;
}

static void
ops_events_ready(struct events_sub *sub, void *arg)
{
	struct ops_events *oe = arg;
	ssize_t            n;
	int                rc = 0;

	while (rc == 0 && (n = events_read(sub, oe->buf, OPS_EVENTS_BUF)) > 0)
		rc = ops_events_lines(oe, oe->buf, (size_t)n);
	if (rc == 0 && n == -EAGAIN)
		return;

	/* The bus closed (the node is stopping), or the call could not
	 * take a value: -EINVAL means it was answered INTERNAL already. */
	if (rc == 0 && n == 0)
		registry_call_complete(oe->call);
	else if (rc != -EINVAL)
		registry_call_fail(
		    oe->call, REPLY_INTERNAL, 1, "cannot pass events on");
	ops_events_free(oe);
}

static void
ops_events_abort(struct registry_call *call, void *arg)
{
	ops_events_free(arg);
}

static void
ops_events_subscribe(struct registry_call *call, json_t *input, void *arg)
{
	struct ops_events *oe;
	json_t            *types = json_object_get(input, "types");

	if ((oe = calloc(1, sizeof *oe)) == NULL ||
	    (oe->buf = malloc(OPS_EVENTS_BUF)) == NULL) {
		free(oe);
		registry_call_fail(call, REPLY_INTERNAL, 1, "out of memory");
		return;
	}
	oe->call = call;
	oe->types = json_incref(types);
	if ((oe->sub = events_subscribe(ops_events_ready, oe)) == NULL) {
		ops_events_free(oe);
		registry_call_fail(call, REPLY_INTERNAL, 1, "out of memory");
		return;
	}
	registry_call_on_abort(call, ops_events_abort, oe);
}

int
ops_events_register(struct registry *r, char *err, size_t errlen)
{
	struct registry_spec_text t = {"/events/subscribe",
	    REGISTRY_SUBSCRIPTION, OPS_EVENTS_INPUT, OPS_EVENTS_OUTPUT,
	    ops_scopes_read, 0};

	return registry_register_text(
	    r, &t, ops_events_subscribe, NULL, err, errlen);
}
