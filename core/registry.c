/*
 * The operation registry.
 *
 * Operations sit in an array sorted by name: lookups are a binary
 * search, /services/list comes out sorted for free, and the array's
 * size is the configured bound.  An operation is reference-counted so
 * that replacing or removing it, or freeing the registry, leaves the
 * calls that are running on it intact; the registry itself is counted
 * by its owner and by every call, for the same reason.
 *
 * A call goes: refused or handed to its handler; answered (a
 * subscription: any number of values, then its end), which puts it on
 * the ready queue; delivered by registry_deliver.  It is freed when
 * both sides are done with it: its handler has answered (or been told
 * of an abort) and its caller has been told the last answer.  Calls
 * whose last answer is still open sit on a live list, where an abort
 * finds them by their caller's origin and request id.
 * An observer is told when it is taken and when it ends.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "schema.h"

#define REGISTRY_OPS_LIMIT   (1u << 20)
#define REGISTRY_CALLS_LIMIT (1u << 20)
#define REGISTRY_ERR_MAX     200 /* bytes of a schema's own error */

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

static const char *const registry_kind_names[REGISTRY_NKINDS] = {
    [REGISTRY_QUERY] = "query",
    [REGISTRY_MUTATION] = "mutation",
    [REGISTRY_SUBSCRIPTION] = "subscription",
};

/* Discovery specs, as JSON so that they read like what peers receive. */
static const char registry_list_input[] =
    "{\"type\": [\"object\", \"null\"], \"properties\": {},"
    " \"additionalProperties\": false}";
static const char registry_list_output[] =
    "{\"type\": \"object\", \"required\": [\"operations\"],"
    " \"properties\": {\"operations\": {\"type\": \"array\", \"items\":"
    " {\"type\": \"object\", \"required\": [\"name\", \"namespace\","
    " \"op_type\"], \"properties\": {\"name\": {\"type\": \"string\"},"
    " \"namespace\": {\"type\": \"string\"},"
    " \"op_type\": {\"enum\": [\"query\", \"mutation\","
    " \"subscription\"]}}}}}}";
static const char registry_schema_input[] =
    "{\"type\": \"object\", \"required\": [\"name\"],"
    " \"properties\": {\"name\": {\"type\": \"string\", \"minLength\": 1}},"
    " \"additionalProperties\": false}";
static const char registry_schema_output[] =
    "{\"type\": \"object\", \"required\": [\"name\", \"namespace\","
    " \"op_type\", \"input_schema\", \"output_schema\"],"
    " \"properties\": {\"name\": {\"type\": \"string\"},"
    " \"namespace\": {\"type\": \"string\"},"
    " \"op_type\": {\"enum\": [\"query\", \"mutation\", \"subscription\"]},"
    " \"input_schema\": {\"type\": [\"object\", \"boolean\"]},"
    " \"output_schema\": {\"type\": [\"object\", \"boolean\"]}},"
    " \"additionalProperties\": false}";

static int  registry_refuse(char *err, size_t errlen, int rc, const char *fmt,
     ...) __attribute__((format(printf, 4, 5)));
static void registry_call_vfail(struct registry_call *c, enum reply_code code,
    int retryable, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

/* Cuts a trailing partial UTF-8 sequence left by a shortened message:
 * the message travels in JSON, which must be valid UTF-8. */
static void
registry_utf8_trim(char *s)
{
	size_t n = strlen(s), start = n, need;

	while (start > 0 && ((unsigned char)s[start - 1] & 0xc0) == 0x80)
		start--;
	if (start == 0 || ((unsigned char)s[start - 1] & 0x80) == 0)
		return;

	start--;
	need = ((unsigned char)s[start] & 0xe0) == 0xc0 ? 2
	    : ((unsigned char)s[start] & 0xf0) == 0xe0  ? 3
	                                                : 4;
	if (n - start < need)
		s[start] = '\0';
}

static int
registry_refuse(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return rc;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	registry_utf8_trim(err);
	return rc;
}

/* Names */

static int
registry_segment_ok(const char *seg, size_t len)
{
	size_t i;

	if (len == 0 || (len == 1 && seg[0] == '.') ||
	    (len == 2 && seg[0] == '.' && seg[1] == '.'))
		return 0;
	for (i = 0; i < len; i++) {
		if (seg[i] < 0x21 || seg[i] > 0x7e)
			return 0;
	}
	return 1;
}

/*
 * The stored form of name, "/a/b", into buf.  Returns NULL, or why the
 * name is refused.  Names become paths under ops/ in the filesystem,
 * hence the refusal of empty, "." and ".." segments.
 */
static const char *
registry_canon(const char *name, char *buf)
{
	const char *seg, *slash;
	size_t      len;

	while (*name == '/')
		name++;
	if ((len = strlen(name)) == 0)
		return "empty name";
	if (len + 1 > REGISTRY_NAME_MAX)
		return "name too long";

	for (seg = name; seg != NULL; seg = slash != NULL ? slash + 1 : NULL) {
		slash = strchr(seg, '/');
		len = slash != NULL ? (size_t)(slash - seg) : strlen(seg);
		if (!registry_segment_ok(seg, len))
			return "bad segment in name";
	}

	buf[0] = '/';
	strcpy(buf + 1, name);
	return NULL;
}

int
registry_namespace(const char *name, char *buf, size_t len)
{
	const char *seg, *p, *end;
	size_t      nseg = 1;

	if (name == NULL || buf == NULL || len == 0)
		return -EINVAL;

	while (*name == '/')
		name++;
	for (p = name; *p != '\0'; p++)
		nseg += *p == '/';

	seg = "";
	if (nseg >= 3)
		seg = strchr(name, '/') + 1;
	else if (nseg == 2)
		seg = name;
	if ((end = strchr(seg, '/')) == NULL)
		end = seg + strlen(seg);

	if ((size_t)(end - seg) >= len)
		return -ENAMETOOLONG;
	memcpy(buf, seg, (size_t)(end - seg));
	buf[end - seg] = '\0';
	return 0;
}

const char *
registry_kind_name(enum registry_kind kind)
{
	if ((unsigned)kind >= REGISTRY_NKINDS)
		return NULL;
	return registry_kind_names[kind];
}

int
registry_local_id(const char *user, char *buf, size_t len)
{
	const char *p;

	if (user == NULL || *user == '\0' || buf == NULL)
		return -EINVAL;
	for (p = user; *p != '\0'; p++) {
		if (*p < 0x21 || *p > 0x7e || *p == ':' || *p == '/')
			return -EINVAL;
	}
	if ((size_t)snprintf(buf, len, "local:%s", user) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* Access */

static int
registry_strv_has(const char *const *v, const char *s)
{
	for (; v != NULL && *v != NULL; v++) {
		if (strcmp(*v, s) == 0)
			return 1;
	}
	return 0;
}

static int
registry_has_resource(
    const struct registry_identity *id, const char *type, const char *action)
{
	const struct registry_resource *res;

	for (res = id->resources; res != NULL && res->type != NULL; res++) {
		if (strcmp(res->type, type) != 0)
			continue;
		return action == NULL ||
		    registry_strv_has(res->actions, action);
	}
	return 0;
}

int
registry_allows(
    const struct registry_access *access, const struct registry_identity *id)
{
	const char *const *s;

	if (id == NULL)
		return 0;
	if (id->id != NULL && strcmp(id->id, REGISTRY_LOCAL_ROOT) == 0)
		return 1;
	if (access == NULL)
		return 1;

	for (s = access->scopes; s != NULL && *s != NULL; s++) {
		if (!registry_strv_has(id->scopes, *s))
			return 0;
	}
	if (access->scopes_any != NULL) {
		for (s = access->scopes_any; *s != NULL; s++) {
			if (registry_strv_has(id->scopes, *s))
				break;
		}
		if (*s == NULL)
			return 0;
	}
	if (access->resource_type != NULL &&
	    !registry_has_resource(
	        id, access->resource_type, access->resource_action))
		return 0;
	return 1;
}

/* Entries in a scope list, or -1 when one is empty or there are too
 * many; NULL counts as 0. */
static int
registry_strv_count(const char *const *v)
{
	int n = 0;

	for (; v != NULL && *v != NULL; v++) {
		if (**v == '\0' || ++n > REGISTRY_SCOPES_MAX)
			return -1;
	}
	return n;
}

static int
registry_access_check(
    const struct registry_spec *spec, char *err, size_t errlen)
{
	const struct registry_access *a = &spec->access;
	int                           nall = registry_strv_count(a->scopes);
	int                           nany = registry_strv_count(a->scopes_any);
	int                           rules;

	if (nall < 0 || nany < 0)
		return registry_refuse(err, errlen, -EINVAL,
		    "access: empty scope or more than %d", REGISTRY_SCOPES_MAX);
	if (a->scopes_any != NULL && nany == 0)
		return registry_refuse(
		    err, errlen, -EINVAL, "access: empty scopes_any");
	if (a->resource_action != NULL && a->resource_type == NULL)
		return registry_refuse(err, errlen, -EINVAL,
		    "access: resource_action without resource_type");
	if (a->resource_type != NULL && *a->resource_type == '\0')
		return registry_refuse(
		    err, errlen, -EINVAL, "access: empty resource_type");

	rules = nall > 0 || a->scopes_any != NULL || a->resource_type != NULL;
	if (spec->is_public && rules)
		return registry_refuse(
		    err, errlen, -EINVAL, "access: public with access rules");
	if (!spec->is_public && !rules)
		return registry_refuse(err, errlen, -EINVAL,
		    "access: neither public nor any access rule");
	return 0;
}

/* A scope list and its strings in one allocation, freed with free(). */
static int
registry_strv_copy(const char *const *src, const char ***out)
{
	size_t n, i, bytes = 0;
	char **v, *p;

	*out = NULL;
	if (src == NULL)
		return 0;
	for (n = 0; src[n] != NULL; n++)
		bytes += strlen(src[n]) + 1;

	if ((v = malloc((n + 1) * sizeof *v + bytes)) == NULL)
		return -ENOMEM;
	p = (char *)(v + n + 1);
	for (i = 0; i < n; i++) {
		v[i] = strcpy(p, src[i]);
		p += strlen(src[i]) + 1;
	}
	v[n] = NULL;
	*out = (const char **)v;
	return 0;
}

/* Operations */

static void
registry_op_unref(struct registry_op *op)
{
	if (op == NULL || --op->refs > 0)
		return;
	schema_free(op->input);
	schema_free(op->output);
	free(op->scopes);
	free(op->scopes_any);
	free(op->resource_type);
	free(op->resource_action);
	free(op);
}

static int
registry_op_schema(json_t *doc, const char *which, struct schema **out,
    char *err, size_t errlen)
{
	char why[REGISTRY_ERR_MAX];
	int  rc;

	*out = NULL;
	if (doc == NULL)
		return 0;
	if ((rc = schema_new(doc, out, why, sizeof why)) == -ENOMEM)
		return rc;
	if (rc < 0)
		return registry_refuse(err, errlen, rc, "%s %s", which, why);
	return 0;
}

static char *
registry_strdup(const char *s, int *rc)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*rc = -ENOMEM;
	return d;
}

static int
registry_op_access(struct registry_op *op, const struct registry_spec *spec)
{
	const struct registry_access *a = &spec->access;
	int                           rc = 0;

	op->is_public = spec->is_public != 0;
	if (registry_strv_copy(a->scopes, &op->scopes) < 0 ||
	    registry_strv_copy(a->scopes_any, &op->scopes_any) < 0)
		return -ENOMEM;
	op->resource_type = registry_strdup(a->resource_type, &rc);
	op->resource_action = registry_strdup(a->resource_action, &rc);
	return rc;
}

/* A new operation from spec with one reference, or a negative errno
 * with the reason in err. */
static int
registry_op_new(const struct registry_spec *spec, struct registry_op **out,
    char *err, size_t errlen)
{
	struct registry_op *op;
	const char         *why;
	int                 rc;

	*out = NULL;
	if ((op = calloc(1, sizeof *op)) == NULL)
		return -ENOMEM;
	op->refs = 1;

	rc = -EINVAL;
	why = spec->name == NULL ? "missing"
	                         : registry_canon(spec->name, op->name);
	if (why != NULL) {
		registry_refuse(err, errlen, rc, "name: %s", why);
		goto fail;
	}
	registry_namespace(op->name, op->ns, sizeof op->ns);
	if ((unsigned)spec->kind >= REGISTRY_NKINDS) {
		registry_refuse(err, errlen, rc, "kind: out of range");
		goto fail;
	}
	op->kind = spec->kind;

	if ((rc = registry_access_check(spec, err, errlen)) < 0 ||
	    (rc = registry_op_schema(
	         spec->input, "input", &op->input, err, errlen)) < 0 ||
	    (rc = registry_op_schema(
	         spec->output, "output", &op->output, err, errlen)) < 0 ||
	    (rc = registry_op_access(op, spec)) < 0)
		goto fail;

	*out = op;
	return 0;

fail:
	registry_op_unref(op);
	return rc;
}

/* The index of the operation named canon (the stored form), or where it
 * would go; *found says which. */
static size_t
registry_search(const struct registry *r, const char *canon, int *found)
{
	size_t lo = 0, hi = r->nops, mid;
	int    cmp;

	*found = 0;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((cmp = strcmp(r->ops[mid]->name, canon)) == 0) {
			*found = 1;
			return mid;
		}
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct registry_op *
registry_lookup(const struct registry *r, const char *name)
{
	char   canon[REGISTRY_NAME_MAX + 1];
	size_t i;
	int    found;

	if (r == NULL || name == NULL || registry_canon(name, canon) != NULL)
		return NULL;
	i = registry_search(r, canon, &found);
	return found ? r->ops[i] : NULL;
}

static int
registry_insert(struct registry *r, struct registry_op *op)
{
	size_t i;
	int    found;

	i = registry_search(r, op->name, &found);
	if (found) {
		registry_op_unref(r->ops[i]);
		r->ops[i] = op;
		return 0;
	}
	if (r->nops >= r->max_ops)
		return -ENOSPC;

	memmove(&r->ops[i + 1], &r->ops[i], (r->nops - i) * sizeof *r->ops);
	r->ops[i] = op;
	r->nops++;
	return 0;
}

int
registry_register(struct registry *r, const struct registry_spec *spec,
    registry_handler_cb handler, void *arg, char *err, size_t errlen)
{
	struct registry_op *op;
	int                 rc;

	if (r == NULL || spec == NULL || handler == NULL)
		return registry_refuse(
		    err, errlen, -EINVAL, "no registry, spec or handler");

	if ((rc = registry_op_new(spec, &op, err, errlen)) < 0)
		return rc;
	op->handler = handler;
	op->arg = arg;

	if ((rc = registry_insert(r, op)) < 0) {
		registry_op_unref(op);
		return registry_refuse(
		    err, errlen, rc, "more than %zu operations", r->max_ops);
	}
	return 0;
}

int
registry_unregister(struct registry *r, const char *name)
{
	struct registry_op *op = registry_lookup(r, name);
	size_t              i;
	int                 found;

	if (op == NULL)
		return -ENOENT;

	i = registry_search(r, op->name, &found);
	memmove(&r->ops[i], &r->ops[i + 1], (r->nops - i - 1) * sizeof *r->ops);
	r->nops--;
	registry_op_unref(op);
	return 0;
}

size_t
registry_count(const struct registry *r)
{
	return r != NULL ? r->nops : 0;
}

int
registry_has(const struct registry *r, const char *name)
{
	return registry_lookup(r, name) != NULL;
}

/* Describing */

static json_t *
registry_strv_json(const char *const *v)
{
	json_t *a;

	if ((a = json_array()) == NULL)
		return NULL;
	for (; v != NULL && *v != NULL; v++) {
		if (json_array_append_new(a, json_string(*v)) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *
registry_access_json(const struct registry_op *op)
{
	json_t *any = NULL;

	if (op->scopes_any != NULL &&
	    (any = registry_strv_json(op->scopes_any)) == NULL)
		return NULL;

	/* "o" hands its reference over even when packing fails. */
	return json_pack("{s:b, s:o, s:o?, s:s?, s:s?}", "public",
	    op->is_public, "scopes", registry_strv_json(op->scopes),
	    "scopes_any", any, "resource_type", op->resource_type,
	    "resource_action", op->resource_action);
}

static json_t *
registry_schema_doc(const struct schema *s)
{
	return s != NULL ? schema_json(s) : json_true();
}

json_t *
registry_describe(const struct registry *r, const char *name)
{
	const struct registry_op *op = registry_lookup(r, name);

	if (op == NULL)
		return NULL;
	return json_pack("{s:s, s:s, s:s, s:O, s:O, s:o}", "name", op->name,
	    "namespace", op->ns, "op_type", registry_kind_name(op->kind),
	    "input_schema", registry_schema_doc(op->input), "output_schema",
	    registry_schema_doc(op->output), "access",
	    registry_access_json(op));
}

json_t *
registry_list(const struct registry *r)
{
	json_t *ops, *o;
	size_t  i;

	if (r == NULL || (ops = json_array()) == NULL)
		return NULL;

	for (i = 0; i < r->nops; i++) {
		o = json_pack("{s:s, s:s, s:s}", "name", r->ops[i]->name,
		    "namespace", r->ops[i]->ns, "op_type",
		    registry_kind_name(r->ops[i]->kind));
		if (json_array_append_new(ops, o) < 0) {
			json_decref(ops);
			return NULL;
		}
	}
	return json_pack("{s:o}", "operations", ops);
}

/* Calls */

static void
registry_unref(struct registry *r)
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
	registry_op_unref(c->op);
	free(c->id);
	free(c->parent);
	free(c->rec);
	free(c);
	r->calls--;
	registry_unref(r);
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
	registry_utf8_trim(c->msg);

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
static void
registry_not_found(struct registry_call *c, const char *name)
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
	struct registry_op *op = registry_lookup(c->r, name);
	const char         *why;
	char                bad[REGISTRY_MSG_MAX];

	if (op == NULL) {
		registry_not_found(c, name);
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

int
registry_abort(struct registry *r, const void *origin, const char *request_id)
{
	struct registry_call *c;

	if (r == NULL || request_id == NULL)
		return -EINVAL;
	for (c = r->live; c != NULL; c = c->live_next) {
		if (c->up == NULL && c->ctx.origin == origin &&
		    strcmp(c->id, request_id) == 0) {
			registry_call_abort(c);
			return 0;
		}
	}
	return -ENOENT;
}

size_t
registry_abort_origin(struct registry *r, const void *origin)
{
	struct registry_call *c;
	size_t                n = 0;

	if (r == NULL || origin == NULL)
		return 0;
	for (c = r->live; c != NULL;) {
		if (c->up == NULL && c->ctx.origin == origin) {
			registry_call_abort(c);
			n++;
			c = r->live;
		} else {
			c = c->live_next;
		}
	}
	return n;
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

/* Discovery */

static void
registry_list_handler(struct registry_call *call, json_t *input, void *arg)
{
	json_t *list = registry_list(arg);

	if (list == NULL) {
		registry_call_fail(call, REPLY_INTERNAL, 0, "out of memory");
		return;
	}
	registry_call_ok(call, list);
	json_decref(list);
}

static void
registry_schema_handler(struct registry_call *call, json_t *input, void *arg)
{
	const char *name = json_string_value(json_object_get(input, "name"));
	json_t     *desc;

	if (!registry_has(arg, name)) {
		registry_not_found(call, name);
		return;
	}
	if ((desc = registry_describe(arg, name)) == NULL) {
		registry_call_fail(call, REPLY_INTERNAL, 0, "out of memory");
		return;
	}
	json_object_del(desc, "access");
	registry_call_ok(call, desc);
	json_decref(desc);
}

static int
registry_add_builtin(struct registry *r, const char *name, const char *input,
    const char *output, registry_handler_cb handler)
{
	struct registry_spec spec = {name, REGISTRY_QUERY, NULL, NULL, {0}, 1};
	int                  rc = -ENOMEM;

	spec.input = json_loads(input, 0, NULL);
	spec.output = json_loads(output, 0, NULL);
	if (spec.input != NULL && spec.output != NULL)
		rc = registry_register(r, &spec, handler, r, NULL, 0);
	json_decref(spec.input);
	json_decref(spec.output);
	return rc;
}

int
registry_new(size_t max_ops, size_t max_calls, struct registry **out)
{
	struct registry *r;
	int              rc;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (max_ops < 2 || max_ops > REGISTRY_OPS_LIMIT || max_calls == 0 ||
	    max_calls > REGISTRY_CALLS_LIMIT)
		return -EINVAL;

	if ((r = calloc(1, sizeof *r)) == NULL)
		return -ENOMEM;
	if ((r->ops = calloc(max_ops, sizeof *r->ops)) == NULL) {
		free(r);
		return -ENOMEM;
	}
	r->refs = 1;
	r->max_ops = max_ops;
	r->max_calls = max_calls;
	r->ready_tail = &r->ready;

	if ((rc = registry_add_builtin(r, "/services/list", registry_list_input,
	         registry_list_output, registry_list_handler)) < 0 ||
	    (rc = registry_add_builtin(r, "/services/schema",
	         registry_schema_input, registry_schema_output,
	         registry_schema_handler)) < 0) {
		registry_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

void
registry_free(struct registry *r)
{
	struct registry_call *c, *next;
	size_t                i;

	if (r == NULL)
		return;
	r->closed = 1;
	r->observer = NULL;

	/* Handlers that would go on working for nobody are told so. */
	for (c = r->live; c != NULL; c = next) {
		next = c->live_next;
		if (c->up == NULL) {
			registry_call_abort(c);
			next = r->live;
		}
	}

	for (i = 0; i < r->nops; i++)
		registry_op_unref(r->ops[i]);
	r->nops = 0;

	for (c = r->ready; c != NULL; c = next) {
		next = c->next;
		c->queued = 0;
		c->told = 1;
		registry_call_release(c);
	}
	r->ready = NULL;
	r->ready_tail = &r->ready;
	r->nready = 0;
	registry_unref(r);
}
