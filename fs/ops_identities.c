/*
 * Identities as operations: added whole, or made pending (mkdir) and
 * filled a field at a time, their scopes changed, removed, and listed.
 * The identities module does the work and keeps why a field was refused
 * for the identity's error file; these say it to the caller too.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "authkeys.h"
#include "identities.h"
#include "ops.h"
#include "ops_ctl.h"
#include "sshd.h"

static int
ops_identities_add(const struct ops_ctl_env *env, json_t *input, json_t **out,
    char *msg, size_t msglen)
{
	struct authkey_spec spec;
	const char         *kind = ops_ctl_str(input, "kind");
	const char         *scopes = ops_ctl_str(input, "scopes");
	int                 rc;

	spec.name = ops_ctl_str(input, "name");
	spec.kind = kind != NULL ? kind : "key";
	spec.keyline = ops_ctl_str(input, "key");
	spec.scopes = scopes != NULL ? scopes : "relay:connect";
	if ((rc = identities_add(env->ids, &spec, msg, msglen)) != 0)
		return rc;
	*out = json_pack("{s:s}", "name", spec.name);
	return *out != NULL ? 0 : -ENOMEM;
}

/* What mkdir identities/NAME makes: pending, of kind key with scope
 * relay:connect, until its key is set. */
static int
ops_identities_create(const struct ops_ctl_env *env, json_t *input,
    json_t **out, char *msg, size_t msglen)
{
	return identities_make(env->ids, ops_ctl_str(input, "name"));
}

static int
ops_identities_remove(const struct ops_ctl_env *env, json_t *input,
    json_t **out, char *msg, size_t msglen)
{
	return identities_remove(
	    env->ids, ops_ctl_str(input, "name"), msg, msglen);
}

static int
ops_identities_set(const struct ops_ctl_env *env, json_t *input, json_t **out,
    char *msg, size_t msglen)
{
	struct identities_info ii;
	const char            *name = ops_ctl_str(input, "name");
	int                    rc;

	rc = identities_set(env->ids, name, ops_ctl_str(input, "field"),
	    ops_ctl_str(input, "value"));
	if (rc == -ENOENT)
		snprintf(msg, msglen, "no identity named %.64s", name);
	else if (rc != 0 && identities_get(env->ids, name, &ii) == 0)
		snprintf(msg, msglen, "%s", ii.error);
	return rc;
}

static int
ops_identities_append(
    const struct ops_ctl_env *env, json_t **list, const char *name)
{
	struct identities_info ii;

	if (identities_get(env->ids, name, &ii) != 0)
		return 0;
	return ops_ctl_append(list,
	    json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "name", name, "id", ii.id,
	        "key", ii.key, "kind", ii.kind, "scopes", ii.scopes, "source",
	        ii.source));
}

/* Those of the SSH server's set, then the pending ones, as
 * identities/ lists them. */
static int
ops_identities_list(const struct ops_ctl_env *env, json_t *input, json_t **out,
    char *msg, size_t msglen)
{
	const struct authkeys *ak = sshd_authkeys(env->sshd);
	struct authkey_info    ai;
	const char            *name;
	json_t                *list = json_array();
	size_t                 i;

	for (i = 0; list != NULL && i < authkeys_count(ak); i++) {
		authkeys_get(ak, i, &ai);
		ops_identities_append(env, &list, ai.name);
	}
	for (i = 0;
	     list != NULL && (name = identities_pending(env->ids, i)) != NULL;
	     i++)
		ops_identities_append(env, &list, name);
	return ops_ctl_wrap("identities", list, out);
}

const struct ops_ctl_def ops_identities_defs[] = {
    {"/identities/add", REGISTRY_MUTATION,
        "{\"type\":\"object\",\"required\":[\"name\",\"key\"],"
        "\"additionalProperties\":false,\"properties\":{"
        "\"name\":" OPS_CTL_TEXT ",\"key\":{\"type\":\"string\"},"
        "\"scopes\":{\"type\":\"string\"},"
        "\"kind\":{\"type\":\"string\"}}}",
        "{\"type\":\"object\",\"required\":[\"name\"]}", OPS_CTL_IDS,
        ops_identities_add},
    {"/identities/create", REGISTRY_MUTATION, OPS_CTL_BY_NAME, NULL,
        OPS_CTL_IDS, ops_identities_create},
    {"/identities/remove", REGISTRY_MUTATION, OPS_CTL_BY_NAME, NULL,
        OPS_CTL_IDS, ops_identities_remove},
    {"/identities/set", REGISTRY_MUTATION,
        "{\"type\":\"object\",\"required\":[\"name\",\"field\",\"value\"],"
        "\"additionalProperties\":false,\"properties\":{"
        "\"name\":" OPS_CTL_TEXT ","
        "\"field\":{\"enum\":[\"key\",\"kind\",\"scopes\"]},"
        "\"value\":{\"type\":\"string\"}}}",
        NULL, OPS_CTL_IDS, ops_identities_set},
    {"/identities/list", REGISTRY_QUERY, OPS_NO_INPUT,
        OPS_CTL_LIST("identities"), OPS_CTL_IDS, ops_identities_list},
};

const size_t ops_identities_ndefs =
    sizeof ops_identities_defs / sizeof ops_identities_defs[0];
