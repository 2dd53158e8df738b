/*
 * The actions of the namespace as operations: one registry handler for
 * all of them, which runs an action and answers with its output or with
 * its errno (as a hint for the filesystem) and message; the registration
 * of the tables; and the node-wide actions: reload, shutdown, tokens and
 * the limits of acl/limits.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authkeys.h"
#include "identities.h"
#include "node.h"
#include "ops.h"
#include "ops_ctl.h"
#include "persist.h"
#include "sshd.h"

#define OPS_CTL_MSG_MAX 512

static struct ops_ctl_env ops_ctl_env;

int
ops_ctl_admin(const struct ops_ctl_env *env)
{
	struct registry_access a = {ops_scopes_admin, NULL, NULL, NULL};

	return env->who != NULL && registry_allows(&a, env->who);
}

const char *
ops_ctl_str(json_t *input, const char *key)
{
	return json_string_value(json_object_get(input, key));
}

int
ops_ctl_append(json_t **list, json_t *item)
{
	if (item == NULL || json_array_append_new(*list, item) != 0) {
		json_decref(*list);
		*list = NULL;
		return -ENOMEM;
	}
	return 0;
}

int
ops_ctl_wrap(const char *key, json_t *list, json_t **out)
{
	if (list == NULL)
		return -ENOMEM;
	*out = json_pack("{s:o}", key, list);
	return *out != NULL ? 0 : -ENOMEM;
}

enum reply_code
ops_ctl_code(int rc)
{
	switch (-rc) {
	case ENOENT:
		return REPLY_NOT_FOUND;
	case EACCES:
	case EPERM:
		return REPLY_FORBIDDEN;
	case ETIMEDOUT:
		return REPLY_TIMEOUT;
	case EINVAL:
	case EEXIST:
	case EBUSY:
	case ENOTSUP:
	case EFBIG:
	case ENAMETOOLONG:
		return REPLY_INVALID_INPUT;
	default:
		return REPLY_INTERNAL;
	}
}

/* Runs the action of the table entry arg. */
static void
ops_ctl_handler(struct registry_call *call, json_t *input, void *arg)
{
	const struct ops_ctl_def *d = arg;
	struct ops_ctl_env        env = ops_ctl_env;
	json_t                   *out = NULL;
	char                      msg[OPS_CTL_MSG_MAX] = "";
	int                       rc;

	env.who = registry_call_ctx(call)->identity;
	rc = d->run(&env, input, &out, msg, sizeof msg);
	if (rc < 0) {
		registry_call_fail_errno(call, -rc, ops_ctl_code(rc), "%s",
		    msg[0] != '\0' ? msg : strerror(-rc));
		json_decref(out);
		return;
	}
	if (out == NULL && (out = json_object()) == NULL) {
		registry_call_fail(call, REPLY_INTERNAL, 1, "out of memory");
		return;
	}
	registry_call_ok(call, out);
	json_decref(out);
}

static int
ops_ctl_register_one(
    struct registry *r, const struct ops_ctl_def *d, char *err, size_t errlen)
{
	struct registry_spec_text t = {d->name, d->kind, d->input, d->output,
	    d->kind == REGISTRY_QUERY ? ops_scopes_read : ops_scopes_admin, 0};

	return registry_register_text(
	    r, &t, ops_ctl_handler, (void *)d, err, errlen);
}

static int
ops_ctl_register(struct registry *r, const struct ops_ctl_def *defs, size_t n,
    char *err, size_t errlen)
{
	unsigned have = 0;
	size_t   i;
	int      rc;

	if (ops_ctl_env.sshd != NULL)
		have |= OPS_CTL_SSHD;
	if (ops_ctl_env.ids != NULL)
		have |= OPS_CTL_IDS;
	for (i = 0; i < n; i++) {
		if ((defs[i].needs & have) != defs[i].needs)
			continue;
		if ((rc = ops_ctl_register_one(r, &defs[i], err, errlen)) != 0)
			return rc;
	}
	return 0;
}

int
ops_ctl_start(struct registry *r, uv_loop_t *loop, struct sshd *sshd,
    struct storage *st, char *err, size_t errlen)
{
	int rc;

	ops_ctl_env.loop = loop;
	ops_ctl_env.sshd = sshd;
	ops_ctl_env.st = st;
	ops_ctl_env.ids = NULL;
	if (sshd != NULL && identities_new(sshd, st, &ops_ctl_env.ids) != 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}

	if ((rc = ops_ctl_register(
	         r, ops_ctl_defs, ops_ctl_ndefs, err, errlen)) != 0 ||
	    (rc = ops_ctl_register(
	         r, ops_links_defs, ops_links_ndefs, err, errlen)) != 0 ||
	    (rc = ops_ctl_register(
	         r, ops_forwards_defs, ops_forwards_ndefs, err, errlen)) != 0 ||
	    (rc = ops_ctl_register(r, ops_identities_defs, ops_identities_ndefs,
	         err, errlen)) != 0) {
		ops_ctl_stop();
		return rc;
	}
	return 0;
}

void
ops_ctl_stop(void)
{
	identities_free(ops_ctl_env.ids);
	memset(&ops_ctl_env, 0, sizeof ops_ctl_env);
}

struct identities *
ops_ctl_identities(void)
{
	return ops_ctl_env.ids;
}

static int
ops_ctl_reload(const struct ops_ctl_env *env, json_t *input, json_t **out,
    char *msg, size_t msglen)
{
	int rc;

	if ((rc = sshd_reload(env->sshd, msg, msglen)) != 0)
		return rc;
	*out = json_pack("{s:I}", "identities",
	    (json_int_t)authkeys_count(sshd_authkeys(env->sshd)));
	return *out != NULL ? 0 : -ENOMEM;
}

static int
ops_ctl_shutdown(const struct ops_ctl_env *env, json_t *input, json_t **out,
    char *msg, size_t msglen)
{
	/* node_stop() defers: the call is answered before anything stops. */
	node_stop();
	return 0;
}

/*
 * Whom a token speaks for, as a peer presenting it would be known.  The
 * token is a bearer secret: it is neither kept nor logged.
 */
static int
ops_ctl_token(const struct ops_ctl_env *env, json_t *input, json_t **out,
    char *msg, size_t msglen)
{
	struct authkey_info info;
	const char         *why = NULL;
	int                 rc;

	rc = sshd_token_identity(
	    env->sshd, ops_ctl_str(input, "token"), (uint64_t)time(NULL));
	switch (rc) {
	case -EINVAL:
		why = "not a token";
		break;
	case -ENOENT:
		why = "no identity holds its key";
		break;
	case -EPERM:
		why = "bad signature";
		break;
	case -ETIMEDOUT:
		why = "out of its time window";
		break;
	}
	if (why != NULL) {
		snprintf(msg, msglen, "%s", why);
		return rc == -EINVAL ? -EINVAL : -EACCES;
	}
	if (rc < 0)
		return rc;

	authkeys_get(sshd_authkeys(env->sshd), (size_t)rc, &info);
	*out = json_pack("{s:s,s:s,s:s}", "identity", info.id, "name",
	    info.name, "scopes", info.scopes);
	return *out != NULL ? 0 : -ENOMEM;
}

static int
ops_ctl_limits_get(const struct ops_ctl_env *env, json_t *input, json_t **out,
    char *msg, size_t msglen)
{
	char *text;

	if ((text = persist_format_limits(env->sshd)) == NULL)
		return -ENOMEM;

	/* The text as the file shows it, without the file's last newline. */
	if (text[0] != '\0' && text[strlen(text) - 1] == '\n')
		text[strlen(text) - 1] = '\0';
	*out = json_pack("{s:s}", "limits", text);
	free(text);
	return *out != NULL ? 0 : -ENOMEM;
}

/* Keys not named keep their values; a bad line changes nothing. */
static int
ops_ctl_limits_set(const struct ops_ctl_env *env, json_t *input, json_t **out,
    char *msg, size_t msglen)
{
	return persist_set_limits(
	    env->st, env->sshd, ops_ctl_str(input, "limits"), msg, msglen);
}

#define OPS_CTL_LIMITS                                                         \
	"{\"type\":\"object\",\"required\":[\"limits\"],"                      \
	"\"additionalProperties\":false,"                                      \
	"\"properties\":{\"limits\":{\"type\":\"string\"}}}"

const struct ops_ctl_def ops_ctl_defs[] = {
    {"/node/reload", REGISTRY_MUTATION, OPS_NO_INPUT,
        "{\"type\":\"object\",\"required\":[\"identities\"],"
        "\"properties\":{\"identities\":{\"type\":\"integer\"}}}",
        OPS_CTL_SSHD, ops_ctl_reload},
    {"/node/shutdown", REGISTRY_MUTATION, OPS_NO_INPUT, NULL, 0,
        ops_ctl_shutdown},
    {"/auth/token", REGISTRY_QUERY,
        "{\"type\":\"object\",\"required\":[\"token\"],"
        "\"additionalProperties\":false,"
        "\"properties\":{\"token\":{\"type\":\"string\"}}}",
        "{\"type\":\"object\",\"required\":[\"identity\",\"name\","
        "\"scopes\"],\"properties\":{\"identity\":{\"type\":\"string\"},"
        "\"name\":{\"type\":\"string\"},\"scopes\":{\"type\":\"string\"}}}",
        OPS_CTL_SSHD, ops_ctl_token},
    {"/acl/limits/get", REGISTRY_QUERY, OPS_NO_INPUT, OPS_CTL_LIMITS,
        OPS_CTL_SSHD, ops_ctl_limits_get},
    {"/acl/limits/set", REGISTRY_MUTATION, OPS_CTL_LIMITS, NULL, OPS_CTL_SSHD,
        ops_ctl_limits_set},
};

const size_t ops_ctl_ndefs = sizeof ops_ctl_defs / sizeof ops_ctl_defs[0];
