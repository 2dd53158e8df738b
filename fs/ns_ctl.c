/*
 * Control-file commands.  Each target has a table of verbs; a verb names
 * how many arguments it takes and which options it knows, so that the
 * checks that make a shell typo fail with EINVAL live in one place.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "authkeys.h"
#include "channel.h"
#include "listener.h"
#include "node.h"
#include "ns_ctl.h"
#include "session.h"
#include "sshd.h"

#define NS_CTL_KEYS 2

typedef int (*ns_verb_fn)(
    const struct ns_ctl_ctx *, const struct ns_cmd *, char *, size_t);

struct ns_verb {
	const char *verb;
	size_t      nargs;
	const char *keys[NS_CTL_KEYS];
	const char *usage;
	ns_verb_fn  run;
};

static int
ns_ctl_word(struct ns_cmd *cmd, char *w, char *err, size_t errlen)
{
	char  *eq = strchr(w, '=');
	size_t i;

	if (cmd->nargs + cmd->nopts == NS_CTL_WORDS) {
		snprintf(err, errlen, "more than %d words", NS_CTL_WORDS);
		return -EINVAL;
	}
	if (eq == NULL) {
		cmd->args[cmd->nargs++] = w;
		return 0;
	}

	*eq = '\0';
	if (*w == '\0' || eq[1] == '\0') {
		snprintf(err, errlen, "option without a name or value");
		return -EINVAL;
	}
	for (i = 0; i < cmd->nopts; i++) {
		if (strcmp(cmd->keys[i], w) == 0) {
			snprintf(err, errlen, "option %.64s given twice", w);
			return -EINVAL;
		}
	}
	cmd->keys[cmd->nopts] = w;
	cmd->values[cmd->nopts++] = eq + 1;
	return 0;
}

static int
ns_ctl_check(const char *data, size_t len, char *err, size_t errlen)
{
	size_t        i;
	unsigned char c;

	if (len > NS_CTL_LINE_MAX) {
		snprintf(err, errlen, "command longer than %d bytes",
		    NS_CTL_LINE_MAX);
		return -EINVAL;
	}
	for (i = 0; i < len; i++) {
		c = (unsigned char)data[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			snprintf(err, errlen, "control character in command");
			return -EINVAL;
		}
	}
	return 0;
}

int
ns_ctl_parse(
    const char *data, size_t len, struct ns_cmd *cmd, char *err, size_t errlen)
{
	char *w, *save = NULL;
	int   rc;

	cmd->verb = NULL;
	cmd->nargs = cmd->nopts = 0;
	if (len > 0 && data[len - 1] == '\n')
		len--;
	if (len > 0 && data[len - 1] == '\r')
		len--;
	if ((rc = ns_ctl_check(data, len, err, errlen)) != 0)
		return rc;
	memcpy(cmd->line, data, len);
	cmd->line[len] = '\0';

	for (w = strtok_r(cmd->line, " \t", &save); w != NULL;
	     w = strtok_r(NULL, " \t", &save)) {
		if (cmd->verb == NULL)
			cmd->verb = w;
		else if ((rc = ns_ctl_word(cmd, w, err, errlen)) != 0)
			return rc;
	}

	if (cmd->verb == NULL) {
		snprintf(err, errlen, "empty command");
		return -EINVAL;
	}
	if (strchr(cmd->verb, '=') != NULL) {
		snprintf(err, errlen, "a command starts with a verb");
		return -EINVAL;
	}
	return 0;
}

const char *
ns_ctl_option(const struct ns_cmd *cmd, const char *key)
{
	size_t i;

	for (i = 0; i < cmd->nopts; i++) {
		if (strcmp(cmd->keys[i], key) == 0)
			return cmd->values[i];
	}
	return NULL;
}

/* Core's message, or the errno's text when core left none. */
static int
ns_ctl_fail(int rc, const char *why, char *msg, size_t msglen)
{
	if (why[0] == '\0')
		why = strerror(-rc);
	if (why != msg)
		snprintf(msg, msglen, "%s", why);
	return rc;
}

static int
ns_ctl_reload(const struct ns_ctl_ctx *ctx, const struct ns_cmd *cmd, char *msg,
    size_t msglen)
{
	char err[512] = "";
	int  rc;

	if (ctx->sshd == NULL) {
		snprintf(msg, msglen, "this node runs no SSH server");
		return -ENOTSUP;
	}
	if ((rc = sshd_reload(ctx->sshd, err, sizeof err)) != 0)
		return ns_ctl_fail(rc, err, msg, msglen);
	snprintf(msg, msglen, "identities=%zu",
	    authkeys_count(sshd_authkeys(ctx->sshd)));
	return 0;
}

static int
ns_ctl_shutdown(const struct ns_ctl_ctx *ctx, const struct ns_cmd *cmd,
    char *msg, size_t msglen)
{
	/* node_stop() defers: the write is answered before anything stops. */
	node_stop();
	return 0;
}

static int
ns_ctl_listen(const struct ns_ctl_ctx *ctx, const struct ns_cmd *cmd, char *msg,
    size_t msglen)
{
	struct listener     *l = NULL;
	struct listener_info li;
	char                 err[512] = "";
	int                  rc;

	if (ctx->sshd == NULL) {
		snprintf(msg, msglen, "this node runs no SSH server");
		return -ENOTSUP;
	}
	rc = listener_add(ctx->loop, ctx->sshd, cmd->args[0],
	    ns_ctl_option(cmd, "name"), &l, err, sizeof err);
	if (rc != 0)
		return ns_ctl_fail(rc, err, msg, msglen);

	listener_info(l, &li);
	snprintf(msg, msglen, "name=%s uri=%s", li.name, li.uri);
	return 0;
}

static int
ns_ctl_unlisten(const struct ns_ctl_ctx *ctx, const struct ns_cmd *cmd,
    char *msg, size_t msglen)
{
	struct listener *l;

	if ((l = listener_find(cmd->args[0])) == NULL) {
		snprintf(msg, msglen, "no listener named %.64s", cmd->args[0]);
		return -ENOENT;
	}
	listener_remove(l);
	return 0;
}

static int
ns_ctl_listener_close(const struct ns_ctl_ctx *ctx, const struct ns_cmd *cmd,
    char *msg, size_t msglen)
{
	listener_remove(ctx->obj);
	return 0;
}

static int
ns_ctl_session_close(const struct ns_ctl_ctx *ctx, const struct ns_cmd *cmd,
    char *msg, size_t msglen)
{
	int rc;

	if ((rc = session_close(ctx->obj, "closed by operator")) != 0)
		return ns_ctl_fail(rc, "", msg, msglen);
	return 0;
}

static int
ns_ctl_channel_close(const struct ns_ctl_ctx *ctx, const struct ns_cmd *cmd,
    char *msg, size_t msglen)
{
	int rc;

	if ((rc = channel_end(ctx->obj)) != 0)
		return ns_ctl_fail(rc, "", msg, msglen);
	return 0;
}

static const struct ns_verb ns_verbs_node[] = {
    {"reload", 0, {NULL}, "reload", ns_ctl_reload},
    {"shutdown", 0, {NULL}, "shutdown", ns_ctl_shutdown},
    {"listen", 1, {"name"}, "listen URI [name=N]", ns_ctl_listen},
    {"unlisten", 1, {NULL}, "unlisten NAME", ns_ctl_unlisten},
};

static const struct ns_verb ns_verbs_listener[] = {
    {"close", 0, {NULL}, "close", ns_ctl_listener_close},
};

static const struct ns_verb ns_verbs_session[] = {
    {"close", 0, {NULL}, "close", ns_ctl_session_close},
};

static const struct ns_verb ns_verbs_channel[] = {
    {"close", 0, {NULL}, "close", ns_ctl_channel_close},
};

#define NS_TABLE(t)                                                            \
	{                                                                      \
		t, sizeof t / sizeof t[0]                                      \
	}

static const struct {
	const struct ns_verb *verbs;
	size_t                n;
} ns_tables[] = {
    [NS_CTL_NODE] = NS_TABLE(ns_verbs_node),
    [NS_CTL_LISTENER] = NS_TABLE(ns_verbs_listener),
    [NS_CTL_SESSION] = NS_TABLE(ns_verbs_session),
    [NS_CTL_CHANNEL] = NS_TABLE(ns_verbs_channel),
};

static int
ns_ctl_known(const struct ns_verb *v, const char *key)
{
	size_t i;

	for (i = 0; i < NS_CTL_KEYS && v->keys[i] != NULL; i++) {
		if (strcmp(v->keys[i], key) == 0)
			return 1;
	}
	return 0;
}

static int
ns_ctl_usage(
    const struct ns_verb *v, const struct ns_cmd *cmd, char *msg, size_t msglen)
{
	size_t i;

	if (cmd->nargs != v->nargs) {
		snprintf(msg, msglen, "usage: %s", v->usage);
		return -EINVAL;
	}
	for (i = 0; i < cmd->nopts; i++) {
		if (!ns_ctl_known(v, cmd->keys[i])) {
			snprintf(msg, msglen, "unknown option %.64s; usage: %s",
			    cmd->keys[i], v->usage);
			return -EINVAL;
		}
	}
	return 0;
}

int
ns_ctl_exec(enum ns_ctl_target target, const struct ns_ctl_ctx *ctx,
    const struct ns_cmd *cmd, char *msg, size_t msglen)
{
	const struct ns_verb *v = NULL;
	size_t                i;
	int                   rc;

	msg[0] = '\0';
	for (i = 0; i < ns_tables[target].n; i++) {
		if (strcmp(ns_tables[target].verbs[i].verb, cmd->verb) == 0)
			v = &ns_tables[target].verbs[i];
	}
	if (v == NULL) {
		snprintf(msg, msglen, "unknown command %.64s", cmd->verb);
		return -EINVAL;
	}

	if ((rc = ns_ctl_usage(v, cmd, msg, msglen)) != 0)
		return rc;
	return v->run(ctx, cmd, msg, msglen);
}
