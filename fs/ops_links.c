/*
 * Listeners, upstreams and channels as operations: what the node
 * listens on, the heads it dials, and the channels it carries.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "channel.h"
#include "listener.h"
#include "ops.h"
#include "ops_ctl.h"
#include "upstream.h"

static int
ops_links_listen(const struct ops_ctl_env *env, json_t *input, json_t **out,
    char *msg, size_t msglen)
{
	struct listener     *l = NULL;
	struct listener_info li;
	int                  rc;

	rc = listener_add(env->loop, env->sshd, ops_ctl_str(input, "uri"),
	    ops_ctl_str(input, "name"), &l, msg, msglen);
	if (rc != 0)
		return rc;
	listener_info(l, &li);
	*out = json_pack("{s:s,s:s}", "name", li.name, "uri", li.uri);
	return *out != NULL ? 0 : -ENOMEM;
}

static int
ops_links_unlisten(const struct ops_ctl_env *env, json_t *input, json_t **out,
    char *msg, size_t msglen)
{
	const char      *name = ops_ctl_str(input, "name");
	struct listener *l;

	if ((l = listener_find(name)) == NULL) {
		snprintf(msg, msglen, "no listener named %.64s", name);
		return -ENOENT;
	}
	listener_remove(l);
	return 0;
}

static int
ops_links_listeners(const struct ops_ctl_env *env, json_t *input, json_t **out,
    char *msg, size_t msglen)
{
	struct listener     *l = NULL;
	struct listener_info li;
	json_t              *list = json_array();

	while (list != NULL && (l = listener_next(l)) != NULL) {
		listener_info(l, &li);
		ops_ctl_append(&list,
		    json_pack("{s:s,s:s,s:s,s:s,s:I,s:I}", "name", li.name,
		        "uri", li.uri, "transport", li.transport, "state",
		        li.state, "accepted", (json_int_t)li.accepted,
		        "rejected", (json_int_t)li.rejected));
	}
	return ops_ctl_wrap("listeners", list, out);
}

/* A key or certificate path, which the daemon resolves from its own
 * directory, not the caller's: only absolute paths are taken. */
static int
ops_links_path(const char *key, const char *path, char *msg, size_t msglen)
{
	if (path == NULL || path[0] == '/')
		return 0;
	snprintf(msg, msglen, "%s must be an absolute path", key);
	return -EINVAL;
}

static int
ops_links_connect(const struct ops_ctl_env *env, json_t *input, json_t **out,
    char *msg, size_t msglen)
{
	struct upstream_opts o;
	struct upstream     *u = NULL;
	struct upstream_info ui;
	int                  rc;

	memset(&o, 0, sizeof o);
	o.uri = ops_ctl_str(input, "uri");
	o.identity = ops_ctl_str(input, "identity");
	o.cert = ops_ctl_str(input, "cert");
	o.hostkey = ops_ctl_str(input, "hostkey");
	o.name = ops_ctl_str(input, "name");
	o.user = ops_ctl_str(input, "user");
	if ((rc = ops_links_path("identity", o.identity, msg, msglen)) != 0 ||
	    (rc = ops_links_path("cert", o.cert, msg, msglen)) != 0)
		return rc;

	if ((rc = upstream_add(env->loop, &o, &u, msg, msglen)) != 0)
		return rc;
	upstream_info(u, &ui);
	*out = json_pack("{s:s}", "name", ui.name);
	return *out != NULL ? 0 : -ENOMEM;
}

static int
ops_links_disconnect(const struct ops_ctl_env *env, json_t *input, json_t **out,
    char *msg, size_t msglen)
{
	const char      *name = ops_ctl_str(input, "name");
	struct upstream *u;

	if ((u = upstream_find(name)) == NULL) {
		snprintf(msg, msglen, "no upstream named %.64s", name);
		return -ENOENT;
	}
	upstream_remove(u);
	return 0;
}

static int
ops_links_upstreams(const struct ops_ctl_env *env, json_t *input, json_t **out,
    char *msg, size_t msglen)
{
	struct upstream     *u = NULL;
	struct upstream_info ui;
	json_t              *list = json_array();

	while (list != NULL && (u = upstream_next(u)) != NULL) {
		upstream_info(u, &ui);
		ops_ctl_append(&list,
		    json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:i,s:I}", "name",
		        ui.name, "uri", ui.uri, "identity", ui.identity,
		        "hostkey", ui.hostkey, "state", ui.state, "since",
		        (json_int_t)ui.since, "reconnects",
		        (json_int_t)ui.reconnects, "rtt_ms", ui.rtt_ms,
		        "session", (json_int_t)ui.session));
	}
	return ops_ctl_wrap("upstreams", list, out);
}

static int
ops_links_close(const struct ops_ctl_env *env, json_t *input, json_t **out,
    char *msg, size_t msglen)
{
	json_int_t      id = json_integer_value(json_object_get(input, "id"));
	struct channel *c;

	if ((c = channel_find((uint64_t)id)) == NULL) {
		snprintf(msg, msglen, "no channel %lld", (long long)id);
		return -ENOENT;
	}
	return channel_end(c);
}

/* Channels, with their targets for a caller holding node:admin only:
 * destinations are for local:root to read in channels/<id>/target. */
static int
ops_links_channels(const struct ops_ctl_env *env, json_t *input, json_t **out,
    char *msg, size_t msglen)
{
	struct channel     *c = NULL;
	struct channel_info ci;
	json_t             *list = json_array(), *o;
	int                 admin = ops_ctl_admin(env);

	while (list != NULL && (c = channel_next(c)) != NULL) {
		channel_info(c, &ci);
		o = json_pack("{s:I,s:I,s:s,s:s,s:s,s:I,s:I,s:I}", "id",
		    (json_int_t)ci.id, "session", (json_int_t)ci.session,
		    "kind", ci.kind, "identity", ci.identity, "state", ci.state,
		    "opened", (json_int_t)ci.opened, "bytes_in",
		    (json_int_t)ci.bytes_in, "bytes_out",
		    (json_int_t)ci.bytes_out);
		if (o != NULL && admin)
			json_object_set_new(
			    o, "target", json_string(ci.target));
		ops_ctl_append(&list, o);
	}
	return ops_ctl_wrap("channels", list, out);
}

const struct ops_ctl_def ops_links_defs[] = {
    {"/listeners/add", REGISTRY_MUTATION,
        "{\"type\":\"object\",\"required\":[\"uri\"],"
        "\"additionalProperties\":false,"
        "\"properties\":{\"uri\":" OPS_CTL_TEXT ","
        "\"name\":" OPS_CTL_TEXT "}}",
        "{\"type\":\"object\",\"required\":[\"name\",\"uri\"]}", OPS_CTL_SSHD,
        ops_links_listen},
    {"/listeners/remove", REGISTRY_MUTATION, OPS_CTL_BY_NAME, NULL, 0,
        ops_links_unlisten},
    {"/listeners/list", REGISTRY_QUERY, OPS_NO_INPUT, OPS_CTL_LIST("listeners"),
        0, ops_links_listeners},
    {"/upstreams/connect", REGISTRY_MUTATION,
        "{\"type\":\"object\",\"required\":[\"uri\",\"identity\"],"
        "\"additionalProperties\":false,"
        "\"properties\":{\"uri\":" OPS_CTL_TEXT ","
        "\"identity\":" OPS_CTL_TEXT ",\"name\":" OPS_CTL_TEXT ","
        "\"hostkey\":" OPS_CTL_TEXT ",\"cert\":" OPS_CTL_TEXT ","
        "\"user\":" OPS_CTL_TEXT "}}",
        "{\"type\":\"object\",\"required\":[\"name\"]}", 0, ops_links_connect},
    {"/upstreams/disconnect", REGISTRY_MUTATION, OPS_CTL_BY_NAME, NULL, 0,
        ops_links_disconnect},
    {"/upstreams/list", REGISTRY_QUERY, OPS_NO_INPUT, OPS_CTL_LIST("upstreams"),
        0, ops_links_upstreams},
    {"/channels/close", REGISTRY_MUTATION,
        "{\"type\":\"object\",\"required\":[\"id\"],"
        "\"additionalProperties\":false,"
        "\"properties\":{\"id\":{\"type\":\"integer\",\"minimum\":1}}}",
        NULL, 0, ops_links_close},
    {"/channels/list", REGISTRY_QUERY, OPS_NO_INPUT, OPS_CTL_LIST("channels"),
        0, ops_links_channels},
};

const size_t ops_links_ndefs = sizeof ops_links_defs / sizeof ops_links_defs[0];
