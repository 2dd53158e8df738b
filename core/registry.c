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
 * Calls, from dispatch to their last answer, are registry_call.c's.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry_int.h"

#define REGISTRY_OPS_LIMIT   (1u << 20)
#define REGISTRY_CALLS_LIMIT (1u << 20)

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

static int registry_refuse(char *err, size_t errlen, int rc, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

/* Cuts a trailing partial UTF-8 sequence left by a shortened message:
 * the message travels in JSON, which must be valid UTF-8. */
void
registry__utf8_trim(char *s)
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
	registry__utf8_trim(err);
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

void
registry__op_unref(struct registry_op *op)
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
	registry__op_unref(op);
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

struct registry_op *
registry__lookup(const struct registry *r, const char *name)
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
		registry__op_unref(r->ops[i]);
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
		registry__op_unref(op);
		return registry_refuse(
		    err, errlen, rc, "more than %zu operations", r->max_ops);
	}
	return 0;
}

/* The schema of text into *out (NULL text: none).  Returns 0 or
 * -EINVAL with the reason in err. */
static int
registry_text_schema(
    const char *text, const char *which, json_t **out, char *err, size_t errlen)
{
	json_error_t jerr;

	*out = NULL;
	if (text == NULL)
		return 0;
	if ((*out = json_loads(text, 0, &jerr)) == NULL)
		return registry_refuse(err, errlen, -EINVAL,
		    "%s schema is not JSON: %s", which, jerr.text);
	return 0;
}

int
registry_register_text(struct registry *r, const struct registry_spec_text *t,
    registry_handler_cb handler, void *arg, char *err, size_t errlen)
{
	struct registry_spec spec;
	int                  rc;

	memset(&spec, 0, sizeof spec);
	spec.name = t->name;
	spec.kind = t->kind;
	spec.access.scopes = t->scopes;
	spec.is_public = t->is_public;
	if ((rc = registry_text_schema(
	         t->input, "input", &spec.input, err, errlen)) == 0 &&
	    (rc = registry_text_schema(
	         t->output, "output", &spec.output, err, errlen)) == 0)
		rc = registry_register(r, &spec, handler, arg, err, errlen);
	json_decref(spec.input);
	json_decref(spec.output);
	return rc;
}

int
registry_unregister(struct registry *r, const char *name)
{
	struct registry_op *op = registry__lookup(r, name);
	size_t              i;
	int                 found;

	if (op == NULL)
		return -ENOENT;

	i = registry_search(r, op->name, &found);
	memmove(&r->ops[i], &r->ops[i + 1], (r->nops - i - 1) * sizeof *r->ops);
	r->nops--;
	registry__op_unref(op);
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
	return registry__lookup(r, name) != NULL;
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
	const struct registry_op *op = registry__lookup(r, name);

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
		registry__not_found(call, name);
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
	struct registry_spec_text t = {
	    name, REGISTRY_QUERY, input, output, NULL, 1};

	return registry_register_text(r, &t, handler, r, NULL, 0);
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
	size_t i;

	if (r == NULL)
		return;
	r->closed = 1;
	r->observer = NULL;

	registry__calls_close(r);

	for (i = 0; i < r->nops; i++)
		registry__op_unref(r->ops[i]);
	r->nops = 0;

	registry__unref(r);
}
