/*
 * Forwards as operations: made whole and brought up in one call, or made
 * empty and down (mkdir), their fields set one at a time while down,
 * brought up and down, removed, and listed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "forward.h"
#include "name.h"
#include "ops.h"
#include "ops_ctl.h"

#define OPS_FORWARDS_NAME_MAX 64

static const char *const ops_forwards_kinds[] = {
    [FORWARD_LOCAL] = "local",
    [FORWARD_REMOTE] = "remote",
    [FORWARD_SOCKS] = "socks",
};

/* The forward input names; msg says so when there is none. */
static struct forward *
ops_forwards_find(json_t *input, char *msg, size_t msglen)
{
	const char     *name = ops_ctl_str(input, "name");
	struct forward *f;

	if ((f = forward_find(name)) == NULL)
		snprintf(msg, msglen, "no forward named %.64s", name);
	return f;
}

/* The first of KIND0, KIND1, ... that names no forward. */
static void
ops_forwards_free_name(const char *kind, char *buf, size_t len)
{
	size_t i, n = forward_count();

	/* n forwards use at most n names: one of n + 1 is free. */
	for (i = 0; i <= n; i++) {
		snprintf(buf, len, "%s%zu", kind, i);
		if (forward_find(buf) == NULL)
			return;
	}
}

/* A new forward that is down, of kind, named name. */
static int
ops_forwards_new(const struct ops_ctl_env *env, const char *name,
    enum forward_kind kind, struct forward **f, char *msg, size_t msglen)
{
	if (!name_valid(name)) {
		snprintf(msg, msglen,
		    "bad forward name: use letters, digits, '.', '_' and "
		    "'-'");
		return -EINVAL;
	}
	if (forward_find(name) != NULL) {
		snprintf(msg, msglen, "forward %s exists", name);
		return -EEXIST;
	}
	return forward_new(env->loop, name, kind, f, msg, msglen);
}

static enum forward_kind
ops_forwards_kind(const char *text)
{
	enum forward_kind k = FORWARD_LOCAL;

	/* The schema let one of the names through. */
	while (k < FORWARD_SOCKS && strcmp(ops_forwards_kinds[k], text) != 0)
		k++;
	return k;
}

/* Sets the fields input gives, in the order a forward checks them. */
static int
ops_forwards_fill(struct forward *f, json_t *input, char *msg, size_t msglen)
{
	static const char *const fields[] = {"listen", "target", "via"};
	const char              *v;
	size_t                   i;
	int                      rc;

	for (i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		if ((v = ops_ctl_str(input, fields[i])) == NULL)
			continue;
		if ((rc = forward_set(f, fields[i], v, msg, msglen)) != 0)
			return rc;
	}
	return 0;
}

/* Makes, fills and starts a forward; on any failure removes it. */
static int
ops_forwards_add(const struct ops_ctl_env *env, json_t *input, json_t **out,
    char *msg, size_t msglen)
{
	enum forward_kind kind = ops_forwards_kind(ops_ctl_str(input, "kind"));
	const char       *name = ops_ctl_str(input, "name");
	struct forward   *f = NULL;
	char              buf[OPS_FORWARDS_NAME_MAX];
	int               rc;

	if (name == NULL) {
		ops_forwards_free_name(
		    ops_forwards_kinds[kind], buf, sizeof buf);
		name = buf;
	}
	if ((rc = ops_forwards_new(env, name, kind, &f, msg, msglen)) != 0)
		return rc;

	if ((rc = ops_forwards_fill(f, input, msg, msglen)) != 0 ||
	    (rc = forward_up(f, msg, msglen)) != 0) {
		forward_remove(f);
		return rc;
	}
	*out = json_pack("{s:s}", "name", name);
	return *out != NULL ? 0 : -ENOMEM;
}

/* What mkdir forwards/NAME makes: local, down, with nothing set. */
static int
ops_forwards_create(const struct ops_ctl_env *env, json_t *input, json_t **out,
    char *msg, size_t msglen)
{
	struct forward *f = NULL;

	return ops_forwards_new(
	    env, ops_ctl_str(input, "name"), FORWARD_LOCAL, &f, msg, msglen);
}

static int
ops_forwards_remove(const struct ops_ctl_env *env, json_t *input, json_t **out,
    char *msg, size_t msglen)
{
	struct forward *f;

	if ((f = ops_forwards_find(input, msg, msglen)) == NULL)
		return -ENOENT;
	forward_remove(f);
	return 0;
}

static int
ops_forwards_up(const struct ops_ctl_env *env, json_t *input, json_t **out,
    char *msg, size_t msglen)
{
	struct forward *f;

	if ((f = ops_forwards_find(input, msg, msglen)) == NULL)
		return -ENOENT;
	return forward_up(f, msg, msglen);
}

static int
ops_forwards_down(const struct ops_ctl_env *env, json_t *input, json_t **out,
    char *msg, size_t msglen)
{
	struct forward *f;

	if ((f = ops_forwards_find(input, msg, msglen)) == NULL)
		return -ENOENT;
	forward_down(f);
	return 0;
}

static int
ops_forwards_set(const struct ops_ctl_env *env, json_t *input, json_t **out,
    char *msg, size_t msglen)
{
	struct forward *f;

	if ((f = ops_forwards_find(input, msg, msglen)) == NULL)
		return -ENOENT;
	return forward_set(f, ops_ctl_str(input, "field"),
	    ops_ctl_str(input, "value"), msg, msglen);
}

/* Forwards, with their targets for a caller holding node:admin only:
 * destinations are for local:root to read in forwards/<name>/target. */
static int
ops_forwards_list(const struct ops_ctl_env *env, json_t *input, json_t **out,
    char *msg, size_t msglen)
{
	struct forward     *f = NULL;
	struct forward_info fi;
	json_t             *list = json_array(), *o;
	int                 admin = ops_ctl_admin(env);

	while (list != NULL && (f = forward_next(f)) != NULL) {
		forward_info(f, &fi);
		o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:s}", "name",
		    fi.name, "kind", fi.kind, "listen", fi.listen, "via",
		    fi.via, "state", fi.state, "connections",
		    (json_int_t)fi.connections, "connections_total",
		    (json_int_t)fi.connections_total, "error", fi.error);
		if (o != NULL && admin)
			json_object_set_new(
			    o, "target", json_string(fi.target));
		ops_ctl_append(&list, o);
	}
	return ops_ctl_wrap("forwards", list, out);
}

const struct ops_ctl_def ops_forwards_defs[] = {
    {"/forwards/add", REGISTRY_MUTATION,
        "{\"type\":\"object\",\"required\":[\"kind\",\"listen\"],"
        "\"additionalProperties\":false,\"properties\":{"
        "\"kind\":{\"enum\":[\"local\",\"remote\",\"socks\"]},"
        "\"listen\":{\"type\":\"string\"},\"target\":{\"type\":\"string\"},"
        "\"via\":{\"type\":\"string\"},\"name\":" OPS_CTL_TEXT "}}",
        "{\"type\":\"object\",\"required\":[\"name\"]}", 0, ops_forwards_add},
    {"/forwards/create", REGISTRY_MUTATION, OPS_CTL_BY_NAME, NULL, 0,
        ops_forwards_create},
    {"/forwards/remove", REGISTRY_MUTATION, OPS_CTL_BY_NAME, NULL, 0,
        ops_forwards_remove},
    {"/forwards/up", REGISTRY_MUTATION, OPS_CTL_BY_NAME, NULL, 0,
        ops_forwards_up},
    {"/forwards/down", REGISTRY_MUTATION, OPS_CTL_BY_NAME, NULL, 0,
        ops_forwards_down},
    {"/forwards/set", REGISTRY_MUTATION,
        "{\"type\":\"object\",\"required\":[\"name\",\"field\",\"value\"],"
        "\"additionalProperties\":false,\"properties\":{"
        "\"name\":" OPS_CTL_TEXT ","
        "\"field\":{\"enum\":[\"kind\",\"listen\",\"target\",\"via\"]},"
        "\"value\":{\"type\":\"string\"}}}",
        NULL, 0, ops_forwards_set},
    {"/forwards/list", REGISTRY_QUERY, OPS_NO_INPUT, OPS_CTL_LIST("forwards"),
        0, ops_forwards_list},
};

const size_t ops_forwards_ndefs =
    sizeof ops_forwards_defs / sizeof ops_forwards_defs[0];
