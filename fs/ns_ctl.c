/*
 * Control-file commands.  Each target has a table of verbs; a verb names
 * how many arguments it takes and which options it knows, so that the
 * checks that make a shell typo fail with EINVAL live in one place.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "authkeys.h"
#include "channel.h"
#include "forward.h"
#include "identities.h"
#include "listener.h"
#include "name.h"
#include "node.h"
#include "ns_ctl.h"
#include "session.h"
#include "sshd.h"
#include "upstream.h"

#define NS_CTL_KEYS      5
#define NS_CTL_KEY_CHARS "abcdefghijklmnopqrstuvwxyz0123456789_-"
#define NS_CTL_ERR_MAX   512
#define NS_CTL_SPEC_MAX  300 /* listen or target text of a forward */

typedef int (*ns_verb_fn)(
    const struct ns_ctl_ctx *, const struct ns_cmd *, char *, size_t);

struct ns_verb {
	const char *verb;
	size_t      minargs;
	size_t      maxargs;
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
	/* Option names are lower-case words; anything else holding '=' is
	 * an argument, as base64 with its padding is. */
	if (eq == NULL || eq == w ||
	    strspn(w, NS_CTL_KEY_CHARS) != (size_t)(eq - w) || w[0] < 'a' ||
	    w[0] > 'z') {
		cmd->args[cmd->nargs++] = w;
		return 0;
	}

	*eq = '\0';
	if (eq[1] == '\0') {
		snprintf(err, errlen, "option %.64s without a value", w);
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

int
ns_ctl_name_ok(const char *name)
{
	return name_valid(name);
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

/*
 * Whom a token speaks for, as a peer presenting it would be known.  The
 * token is a bearer secret: it is neither kept nor logged.
 */
static int
ns_ctl_token(const struct ns_ctl_ctx *ctx, const struct ns_cmd *cmd, char *msg,
    size_t msglen)
{
	struct authkey_info info;
	int                 rc;

	if (ctx->sshd == NULL) {
		snprintf(msg, msglen, "this node runs no SSH server");
		return -ENOTSUP;
	}
	rc = sshd_token_identity(ctx->sshd, cmd->args[0], (uint64_t)time(NULL));
	switch (rc) {
	case -EINVAL:
		return ns_ctl_fail(rc, "not a token", msg, msglen);
	case -ENOENT:
		return ns_ctl_fail(
		    -EACCES, "no identity holds its key", msg, msglen);
	case -EPERM:
		return ns_ctl_fail(-EACCES, "bad signature", msg, msglen);
	case -ETIMEDOUT:
		return ns_ctl_fail(
		    -EACCES, "out of its time window", msg, msglen);
	}
	if (rc < 0)
		return ns_ctl_fail(rc, "", msg, msglen);

	authkeys_get(sshd_authkeys(ctx->sshd), (size_t)rc, &info);
	snprintf(msg, msglen, "identity=%s name=%s scopes=%s", info.id,
	    info.name, info.scopes);
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

/* A key or certificate path, which the daemon resolves from its own
 * directory, not the writer's: only absolute paths are taken. */
static int
ns_ctl_path(const char *key, const char *path, char *msg, size_t msglen)
{
	if (path == NULL || path[0] == '/')
		return 0;
	snprintf(msg, msglen, "%s must be an absolute path", key);
	return -EINVAL;
}

static int
ns_ctl_connect(const struct ns_ctl_ctx *ctx, const struct ns_cmd *cmd,
    char *msg, size_t msglen)
{
	struct upstream_opts o;
	struct upstream     *u = NULL;
	struct upstream_info ui;
	char                 err[NS_CTL_ERR_MAX] = "";
	int                  rc;

	memset(&o, 0, sizeof o);
	o.uri = cmd->args[0];
	o.identity = ns_ctl_option(cmd, "identity");
	o.cert = ns_ctl_option(cmd, "cert");
	o.hostkey = ns_ctl_option(cmd, "hostkey");
	o.name = ns_ctl_option(cmd, "name");
	o.user = ns_ctl_option(cmd, "user");
	if (o.identity == NULL) {
		snprintf(msg, msglen, "connect needs identity=PATH");
		return -EINVAL;
	}
	if ((rc = ns_ctl_path("identity", o.identity, msg, msglen)) != 0 ||
	    (rc = ns_ctl_path("cert", o.cert, msg, msglen)) != 0)
		return rc;

	rc = upstream_add(ctx->loop, &o, &u, err, sizeof err);
	if (rc != 0)
		return ns_ctl_fail(rc, err, msg, msglen);
	upstream_info(u, &ui);
	snprintf(msg, msglen, "name=%s", ui.name);
	return 0;
}

static int
ns_ctl_disconnect(const struct ns_ctl_ctx *ctx, const struct ns_cmd *cmd,
    char *msg, size_t msglen)
{
	struct upstream *u;

	if ((u = upstream_find(cmd->args[0])) == NULL) {
		snprintf(msg, msglen, "no upstream named %.64s", cmd->args[0]);
		return -ENOENT;
	}
	upstream_remove(u);
	return 0;
}

/* The first of KIND0, KIND1, ... that names no forward. */
static void
ns_ctl_forward_name(const char *kind, char *buf, size_t len)
{
	size_t i, n = forward_count();

	/* n forwards use at most n names: one of n + 1 is free. */
	for (i = 0; i <= n; i++) {
		snprintf(buf, len, "%s%zu", kind, i);
		if (forward_find(buf) == NULL)
			return;
	}
}

/* Creates, fills and starts a forward; on any failure removes it. */
static int
ns_ctl_forward_make(const struct ns_ctl_ctx *ctx, const struct ns_cmd *cmd,
    enum forward_kind kind, const char *listen, const char *target, char *msg,
    size_t msglen)
{
	static const char *kinds[] = {"local", "remote", "socks"};
	const char        *name = ns_ctl_option(cmd, "name");
	const char        *via = ns_ctl_option(cmd, "via");
	struct forward    *f = NULL;
	char               buf[64], err[NS_CTL_ERR_MAX] = "";
	int                rc;

	if (name == NULL) {
		ns_ctl_forward_name(kinds[kind], buf, sizeof buf);
		name = buf;
	}
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
	if ((rc = forward_new(ctx->loop, name, kind, &f, err, sizeof err)) != 0)
		return ns_ctl_fail(rc, err, msg, msglen);

	if ((rc = forward_set(f, "listen", listen, err, sizeof err)) != 0 ||
	    (target != NULL &&
	        (rc = forward_set(f, "target", target, err, sizeof err)) !=
	            0) ||
	    (via != NULL &&
	        (rc = forward_set(f, "via", via, err, sizeof err)) != 0) ||
	    (rc = forward_up(f, err, sizeof err)) != 0) {
		forward_remove(f);
		return ns_ctl_fail(rc, err, msg, msglen);
	}
	snprintf(msg, msglen, "name=%s", name);
	return 0;
}

/*
 * "forward local|remote LISTEN TARGET", or with the two as one ssh-style
 * spec "[BIND:]PORT:HOST:PORT".
 */
static int
ns_ctl_forward(const struct ns_ctl_ctx *ctx, const struct ns_cmd *cmd,
    char *msg, size_t msglen)
{
	enum forward_kind kind;
	char              listen[NS_CTL_SPEC_MAX], target[NS_CTL_SPEC_MAX];
	char              err[NS_CTL_ERR_MAX] = "";
	int               rc;

	if (strcmp(cmd->args[0], "local") == 0)
		kind = FORWARD_LOCAL;
	else if (strcmp(cmd->args[0], "remote") == 0)
		kind = FORWARD_REMOTE;
	else {
		snprintf(msg, msglen, "a forward is local or remote");
		return -EINVAL;
	}

	if (cmd->nargs == 3)
		return ns_ctl_forward_make(
		    ctx, cmd, kind, cmd->args[1], cmd->args[2], msg, msglen);
	rc = forward_parse_spec(kind, cmd->args[1], listen, sizeof listen,
	    target, sizeof target, err, sizeof err);
	if (rc != 0)
		return ns_ctl_fail(rc, err, msg, msglen);
	return ns_ctl_forward_make(ctx, cmd, kind, listen, target, msg, msglen);
}

static int
ns_ctl_socks(const struct ns_ctl_ctx *ctx, const struct ns_cmd *cmd, char *msg,
    size_t msglen)
{
	char listen[NS_CTL_SPEC_MAX], target[NS_CTL_SPEC_MAX];
	char err[NS_CTL_ERR_MAX] = "";
	int  rc;

	rc = forward_parse_spec(FORWARD_SOCKS, cmd->args[0], listen,
	    sizeof listen, target, sizeof target, err, sizeof err);
	if (rc != 0)
		return ns_ctl_fail(rc, err, msg, msglen);
	return ns_ctl_forward_make(
	    ctx, cmd, FORWARD_SOCKS, listen, NULL, msg, msglen);
}

static int
ns_ctl_unforward(const struct ns_ctl_ctx *ctx, const struct ns_cmd *cmd,
    char *msg, size_t msglen)
{
	struct forward *f;

	if ((f = forward_find(cmd->args[0])) == NULL) {
		snprintf(msg, msglen, "no forward named %.64s", cmd->args[0]);
		return -ENOENT;
	}
	forward_remove(f);
	return 0;
}

static int
ns_ctl_upstream_disconnect(const struct ns_ctl_ctx *ctx,
    const struct ns_cmd *cmd, char *msg, size_t msglen)
{
	upstream_remove(ctx->obj);
	return 0;
}

static int
ns_ctl_forward_up(const struct ns_ctl_ctx *ctx, const struct ns_cmd *cmd,
    char *msg, size_t msglen)
{
	char err[NS_CTL_ERR_MAX] = "";
	int  rc;

	if ((rc = forward_up(ctx->obj, err, sizeof err)) != 0)
		return ns_ctl_fail(rc, err, msg, msglen);
	return 0;
}

static int
ns_ctl_forward_down(const struct ns_ctl_ctx *ctx, const struct ns_cmd *cmd,
    char *msg, size_t msglen)
{
	forward_down(ctx->obj);
	return 0;
}

static int
ns_ctl_forward_remove(const struct ns_ctl_ctx *ctx, const struct ns_cmd *cmd,
    char *msg, size_t msglen)
{
	forward_remove(ctx->obj);
	return 0;
}

/* The key line of "identity add NAME TYPE BASE64 [COMMENT]". */
static int
ns_ctl_keyline(const struct ns_cmd *cmd, char *buf, size_t len)
{
	int n;

	n = snprintf(buf, len, "%s %s%s%s", cmd->args[2], cmd->args[3],
	    cmd->nargs > 4 ? " " : "", cmd->nargs > 4 ? cmd->args[4] : "");
	return n < 0 || (size_t)n >= len ? -EINVAL : 0;
}

static int
ns_ctl_identity_add(const struct ns_ctl_ctx *ctx, const struct ns_cmd *cmd,
    char *msg, size_t msglen)
{
	struct authkey_spec spec;
	const char         *kind = ns_ctl_option(cmd, "kind");
	const char         *scopes = ns_ctl_option(cmd, "scopes");
	char                line[NS_CTL_LINE_MAX + 1], err[NS_CTL_ERR_MAX] = "";
	int                 rc;

	if (cmd->nargs < 4) {
		snprintf(msg, msglen,
		    "usage: identity add NAME KEYTYPE BASE64 [COMMENT]");
		return -EINVAL;
	}
	if (ns_ctl_keyline(cmd, line, sizeof line) != 0) {
		snprintf(msg, msglen, "key line too long");
		return -EINVAL;
	}
	spec.name = cmd->args[1];
	spec.kind = kind != NULL ? kind : "key";
	spec.keyline = line;
	spec.scopes = scopes != NULL ? scopes : "relay:connect";
	if ((rc = identities_add(ctx->ids, &spec, err, sizeof err)) != 0)
		return ns_ctl_fail(rc, err, msg, msglen);
	snprintf(msg, msglen, "name=%s", spec.name);
	return 0;
}

static int
ns_ctl_identity_remove(
    const struct ns_ctl_ctx *ctx, const char *name, char *msg, size_t msglen)
{
	char err[NS_CTL_ERR_MAX] = "";
	int  rc;

	if ((rc = identities_remove(ctx->ids, name, err, sizeof err)) != 0)
		return ns_ctl_fail(rc, err, msg, msglen);
	return 0;
}

/*
 * "identity add NAME KEYTYPE BASE64 [COMMENT] [scopes=a,b] [kind=K]" and
 * "identity remove NAME".
 */
static int
ns_ctl_identity(const struct ns_ctl_ctx *ctx, const struct ns_cmd *cmd,
    char *msg, size_t msglen)
{
	if (ctx->ids == NULL) {
		snprintf(msg, msglen, "this node keeps no identities");
		return -ENOTSUP;
	}
	if (strcmp(cmd->args[0], "add") == 0)
		return ns_ctl_identity_add(ctx, cmd, msg, msglen);
	if (strcmp(cmd->args[0], "remove") == 0 && cmd->nargs == 2 &&
	    cmd->nopts == 0)
		return ns_ctl_identity_remove(ctx, cmd->args[1], msg, msglen);
	snprintf(msg, msglen,
	    "usage: identity add NAME KEYTYPE BASE64 [COMMENT] "
	    "[scopes=a,b] [kind=K] | identity remove NAME");
	return -EINVAL;
}

static int
ns_ctl_identity_self_remove(const struct ns_ctl_ctx *ctx,
    const struct ns_cmd *cmd, char *msg, size_t msglen)
{
	if (ctx->ids == NULL) {
		snprintf(msg, msglen, "this node keeps no identities");
		return -ENOTSUP;
	}
	return ns_ctl_identity_remove(ctx, ctx->obj, msg, msglen);
}

static const struct ns_verb ns_verbs_node[] = {
    {"reload", 0, 0, {NULL}, "reload", ns_ctl_reload},
    {"shutdown", 0, 0, {NULL}, "shutdown", ns_ctl_shutdown},
    {"listen", 1, 1, {"name"}, "listen URI [name=N]", ns_ctl_listen},
    {"unlisten", 1, 1, {NULL}, "unlisten NAME", ns_ctl_unlisten},
    {"connect", 1, 1, {"identity", "name", "hostkey", "cert", "user"},
        "connect URI identity=PATH [name=N] [hostkey=SHA256:...] "
        "[cert=PATH] [user=U]",
        ns_ctl_connect},
    {"disconnect", 1, 1, {NULL}, "disconnect NAME", ns_ctl_disconnect},
    {"forward", 2, 3, {"via", "name"},
        "forward local|remote [BIND:]PORT HOST:PORT [via=U] [name=N]",
        ns_ctl_forward},
    {"socks", 1, 1, {"via", "name"}, "socks [BIND:]PORT [via=U] [name=N]",
        ns_ctl_socks},
    {"unforward", 1, 1, {NULL}, "unforward NAME", ns_ctl_unforward},
    {"token", 1, 1, {NULL}, "token TOKEN", ns_ctl_token},
    {"identity", 2, 5, {"scopes", "kind"},
        "identity add NAME KEYTYPE BASE64 [COMMENT] [scopes=a,b] "
        "[kind=key|cert-authority|token-key] | identity remove NAME",
        ns_ctl_identity},
};

static const struct ns_verb ns_verbs_listener[] = {
    {"close", 0, 0, {NULL}, "close", ns_ctl_listener_close},
};

static const struct ns_verb ns_verbs_session[] = {
    {"close", 0, 0, {NULL}, "close", ns_ctl_session_close},
};

static const struct ns_verb ns_verbs_channel[] = {
    {"close", 0, 0, {NULL}, "close", ns_ctl_channel_close},
};

static const struct ns_verb ns_verbs_upstream[] = {
    {"disconnect", 0, 0, {NULL}, "disconnect", ns_ctl_upstream_disconnect},
};

static const struct ns_verb ns_verbs_forward[] = {
    {"up", 0, 0, {NULL}, "up", ns_ctl_forward_up},
    {"down", 0, 0, {NULL}, "down", ns_ctl_forward_down},
    {"remove", 0, 0, {NULL}, "remove", ns_ctl_forward_remove},
};

static const struct ns_verb ns_verbs_identity[] = {
    {"remove", 0, 0, {NULL}, "remove", ns_ctl_identity_self_remove},
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
    [NS_CTL_UPSTREAM] = NS_TABLE(ns_verbs_upstream),
    [NS_CTL_FORWARD] = NS_TABLE(ns_verbs_forward),
    [NS_CTL_IDENTITY] = NS_TABLE(ns_verbs_identity),
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

	if (cmd->nargs < v->minargs || cmd->nargs > v->maxargs) {
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
