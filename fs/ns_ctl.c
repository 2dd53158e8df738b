/*
 * Control-file commands and the operations they stand for.  Each target
 * has a table of verbs; a verb names how many arguments it takes and
 * which options it knows, so that the checks that make a shell typo fail
 * with EINVAL live in one place, and which operation it is: its
 * arguments become the members its table names, its options members of
 * their own names, and a few verbs shape the input themselves.  The
 * answer read back from the file shows the output's members the verb
 * names.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward.h"
#include "ns_ctl.h"

#define NS_CTL_KEYS      5
#define NS_CTL_ARGS      2
#define NS_CTL_KEY_CHARS "abcdefghijklmnopqrstuvwxyz0123456789_-"
#define NS_CTL_SPEC_MAX  300 /* listen or target text of a forward */

#define NS_CTL_NO_SSHD "this node runs no SSH server"
#define NS_CTL_NO_IDS  "this node keeps no identities"

/* Fills what the table cannot say of a verb's input; may change the
 * operation.  Returns 0 or -EINVAL with a reason in msg. */
typedef int (*ns_shape_fn)(
    const struct ns_cmd *, struct ns_op *, char *, size_t);

struct ns_verb {
	const char *verb;
	size_t      minargs;
	size_t      maxargs;
	const char *keys[NS_CTL_KEYS];
	const char *usage;
	const char *op;
	const char *args[NS_CTL_ARGS]; /* the members of the arguments */
	ns_shape_fn shape;             /* or the verb's own */
	const char *shows[NS_CTL_SHOWS];
	const char *absent; /* why, where the operation is not */
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

/* input[key] = value, a string. */
static int
ns_ctl_put(json_t *input, const char *key, const char *value)
{
	return json_object_set_new(input, key, json_string(value)) == 0
	    ? 0
	    : -ENOMEM;
}

/*
 * "forward local|remote LISTEN TARGET", or with the two as one ssh-style
 * spec "[BIND:]PORT:HOST:PORT".
 */
static int
ns_ctl_forward(
    const struct ns_cmd *cmd, struct ns_op *op, char *msg, size_t msglen)
{
	enum forward_kind kind;
	char              lbuf[NS_CTL_SPEC_MAX], tbuf[NS_CTL_SPEC_MAX];
	const char       *listen = cmd->args[1], *target = cmd->args[2];
	int               rc;

	if (strcmp(cmd->args[0], "local") == 0)
		kind = FORWARD_LOCAL;
	else if (strcmp(cmd->args[0], "remote") == 0)
		kind = FORWARD_REMOTE;
	else {
		snprintf(msg, msglen, "a forward is local or remote");
		return -EINVAL;
	}

	if (cmd->nargs == 2) {
		rc = forward_parse_spec(kind, cmd->args[1], lbuf, sizeof lbuf,
		    tbuf, sizeof tbuf, msg, msglen);
		if (rc != 0)
			return rc;
		listen = lbuf;
		target = tbuf;
	}

	if ((rc = ns_ctl_put(op->input, "kind", cmd->args[0])) != 0 ||
	    (rc = ns_ctl_put(op->input, "listen", listen)) != 0)
		return rc;
	return ns_ctl_put(op->input, "target", target);
}

static int
ns_ctl_socks(
    const struct ns_cmd *cmd, struct ns_op *op, char *msg, size_t msglen)
{
	char listen[NS_CTL_SPEC_MAX], target[NS_CTL_SPEC_MAX];
	int  rc;

	rc = forward_parse_spec(FORWARD_SOCKS, cmd->args[0], listen,
	    sizeof listen, target, sizeof target, msg, msglen);
	if (rc != 0 || (rc = ns_ctl_put(op->input, "kind", "socks")) != 0)
		return rc;
	return ns_ctl_put(op->input, "listen", listen);
}

static int
ns_ctl_connect(
    const struct ns_cmd *cmd, struct ns_op *op, char *msg, size_t msglen)
{
	if (ns_ctl_option(cmd, "identity") != NULL)
		return 0;
	snprintf(msg, msglen, "connect needs identity=PATH");
	return -EINVAL;
}

/* "identity add NAME KEYTYPE BASE64 [COMMENT]": the key line is the
 * words after the name. */
static int
ns_ctl_identity_add(
    const struct ns_cmd *cmd, struct ns_op *op, char *msg, size_t msglen)
{
	char line[NS_CTL_LINE_MAX + 1];
	int  n, rc;

	if (cmd->nargs < 4) {
		snprintf(msg, msglen,
		    "usage: identity add NAME KEYTYPE BASE64 [COMMENT]");
		return -EINVAL;
	}
	n = snprintf(line, sizeof line, "%s %s%s%s", cmd->args[2], cmd->args[3],
	    cmd->nargs > 4 ? " " : "", cmd->nargs > 4 ? cmd->args[4] : "");
	if (n < 0 || (size_t)n >= sizeof line) {
		snprintf(msg, msglen, "key line too long");
		return -EINVAL;
	}
	if ((rc = ns_ctl_put(op->input, "name", cmd->args[1])) != 0)
		return rc;
	return ns_ctl_put(op->input, "key", line);
}

/*
 * "identity add NAME KEYTYPE BASE64 [COMMENT] [scopes=a,b] [kind=K]" and
 * "identity remove NAME".
 */
static int
ns_ctl_identity(
    const struct ns_cmd *cmd, struct ns_op *op, char *msg, size_t msglen)
{
	if (strcmp(cmd->args[0], "add") == 0)
		return ns_ctl_identity_add(cmd, op, msg, msglen);
	if (strcmp(cmd->args[0], "remove") == 0 && cmd->nargs == 2 &&
	    cmd->nopts == 0) {
		snprintf(op->name, sizeof op->name, "/identities/remove");
		return ns_ctl_put(op->input, "name", cmd->args[1]);
	}
	snprintf(msg, msglen,
	    "usage: identity add NAME KEYTYPE BASE64 [COMMENT] "
	    "[scopes=a,b] [kind=K] | identity remove NAME");
	return -EINVAL;
}

static const struct ns_verb ns_verbs_node[] = {
    {.verb = "reload",
        .usage = "reload",
        .op = "/node/reload",
        .shows = {"identities"},
        .absent = NS_CTL_NO_SSHD},
    {.verb = "shutdown", .usage = "shutdown", .op = "/node/shutdown"},
    {.verb = "listen",
        .minargs = 1,
        .maxargs = 1,
        .keys = {"name"},
        .usage = "listen URI [name=N]",
        .op = "/listeners/add",
        .args = {"uri"},
        .shows = {"name", "uri"},
        .absent = NS_CTL_NO_SSHD},
    {.verb = "unlisten",
        .minargs = 1,
        .maxargs = 1,
        .usage = "unlisten NAME",
        .op = "/listeners/remove",
        .args = {"name"}},
    {.verb = "connect",
        .minargs = 1,
        .maxargs = 1,
        .keys = {"identity", "name", "hostkey", "cert", "user"},
        .usage = "connect URI identity=PATH [name=N] [hostkey=SHA256:...] "
                 "[cert=PATH] [user=U]",
        .op = "/upstreams/connect",
        .args = {"uri"},
        .shape = ns_ctl_connect,
        .shows = {"name"}},
    {.verb = "disconnect",
        .minargs = 1,
        .maxargs = 1,
        .usage = "disconnect NAME",
        .op = "/upstreams/disconnect",
        .args = {"name"}},
    {.verb = "forward",
        .minargs = 2,
        .maxargs = 3,
        .keys = {"via", "name"},
        .usage = "forward local|remote [BIND:]PORT HOST:PORT [via=U] "
                 "[name=N]",
        .op = "/forwards/add",
        .shape = ns_ctl_forward,
        .shows = {"name"}},
    {.verb = "socks",
        .minargs = 1,
        .maxargs = 1,
        .keys = {"via", "name"},
        .usage = "socks [BIND:]PORT [via=U] [name=N]",
        .op = "/forwards/add",
        .shape = ns_ctl_socks,
        .shows = {"name"}},
    {.verb = "unforward",
        .minargs = 1,
        .maxargs = 1,
        .usage = "unforward NAME",
        .op = "/forwards/remove",
        .args = {"name"}},
    {.verb = "token",
        .minargs = 1,
        .maxargs = 1,
        .usage = "token TOKEN",
        .op = "/auth/token",
        .args = {"token"},
        .shows = {"identity", "name", "scopes"},
        .absent = NS_CTL_NO_SSHD},
    {.verb = "identity",
        .minargs = 2,
        .maxargs = 5,
        .keys = {"scopes", "kind"},
        .usage = "identity add NAME KEYTYPE BASE64 [COMMENT] [scopes=a,b] "
                 "[kind=key|cert-authority|token-key] | identity remove "
                 "NAME",
        .op = "/identities/add",
        .shape = ns_ctl_identity,
        .shows = {"name"},
        .absent = NS_CTL_NO_IDS},
};

/* The commands of an object's ctl act on the object: they take no
 * arguments. */
#define NS_OBJVERB(v, o)                                                       \
	{                                                                      \
		.verb = v, .usage = v, .op = o                                 \
	}

static const struct ns_verb ns_verbs_listener[] = {
    NS_OBJVERB("close", "/listeners/remove"),
};

static const struct ns_verb ns_verbs_session[] = {
    NS_OBJVERB("close", "/sessions/close"),
};

static const struct ns_verb ns_verbs_channel[] = {
    NS_OBJVERB("close", "/channels/close"),
};

static const struct ns_verb ns_verbs_upstream[] = {
    NS_OBJVERB("disconnect", "/upstreams/disconnect"),
};

static const struct ns_verb ns_verbs_forward[] = {
    NS_OBJVERB("up", "/forwards/up"),
    NS_OBJVERB("down", "/forwards/down"),
    NS_OBJVERB("remove", "/forwards/remove"),
};

static const struct ns_verb ns_verbs_identity[] = {
    {.verb = "remove",
        .usage = "remove",
        .op = "/identities/remove",
        .absent = NS_CTL_NO_IDS},
};

#define NS_TABLE(t, self)                                                      \
	{                                                                      \
		t, sizeof t / sizeof t[0], self                                \
	}

/* Each target's verbs, and the member that names its object: a name,
 * or the number of a session or channel ("id"). */
static const struct {
	const struct ns_verb *verbs;
	size_t                n;
	const char           *self;
} ns_tables[] = {
    [NS_CTL_NODE] = NS_TABLE(ns_verbs_node, NULL),
    [NS_CTL_LISTENER] = NS_TABLE(ns_verbs_listener, "name"),
    [NS_CTL_SESSION] = NS_TABLE(ns_verbs_session, "id"),
    [NS_CTL_CHANNEL] = NS_TABLE(ns_verbs_channel, "id"),
    [NS_CTL_UPSTREAM] = NS_TABLE(ns_verbs_upstream, "name"),
    [NS_CTL_FORWARD] = NS_TABLE(ns_verbs_forward, "name"),
    [NS_CTL_IDENTITY] = NS_TABLE(ns_verbs_identity, "name"),
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

/* The member naming the object: an id is a number. */
static int
ns_ctl_self(json_t *input, const char *key, const char *self)
{
	if (strcmp(key, "id") != 0)
		return ns_ctl_put(input, key, self);
	return json_object_set_new(input, key,
	           json_integer((json_int_t)strtoull(self, NULL, 10))) == 0
	    ? 0
	    : -ENOMEM;
}

/* The input the table makes of the object, the arguments and the
 * options. */
static int
ns_ctl_input(const struct ns_verb *v, const char *key, const char *self,
    const struct ns_cmd *cmd, json_t *input)
{
	size_t i;
	int    rc;

	if (key != NULL && (rc = ns_ctl_self(input, key, self)) != 0)
		return rc;
	for (i = 0; i < cmd->nargs && i < NS_CTL_ARGS && v->args[i] != NULL;
	     i++) {
		if ((rc = ns_ctl_put(input, v->args[i], cmd->args[i])) != 0)
			return rc;
	}
	for (i = 0; i < cmd->nopts; i++) {
		if ((rc = ns_ctl_put(input, cmd->keys[i], cmd->values[i])) != 0)
			return rc;
	}
	return 0;
}

int
ns_ctl_op(enum ns_ctl_target target, const char *self, const struct ns_cmd *cmd,
    struct ns_op *op, char *msg, size_t msglen)
{
	const struct ns_verb *v = NULL;
	size_t                i;
	int                   rc;

	msg[0] = '\0';
	op->input = NULL;
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

	snprintf(op->name, sizeof op->name, "%s", v->op);
	op->shows = v->shows;
	op->absent = v->absent;
	if ((op->input = json_object()) == NULL)
		return -ENOMEM;
	rc = ns_ctl_input(v, ns_tables[target].self, self, cmd, op->input);
	if (rc == 0 && v->shape != NULL)
		rc = v->shape(cmd, op, msg, msglen);
	if (rc != 0) {
		json_decref(op->input);
		op->input = NULL;
	}
	return rc;
}

void
ns_ctl_detail(const char *const *shows, json_t *output, char *buf, size_t len)
{
	json_t *v;
	size_t  i, used = 0;
	int     n;

	buf[0] = '\0';
	for (i = 0; shows != NULL && i < NS_CTL_SHOWS && shows[i] != NULL;
	     i++) {
		v = json_object_get(output, shows[i]);
		if (json_is_string(v))
			n = snprintf(buf + used, len - used, "%s%s=%s",
			    used > 0 ? " " : "", shows[i],
			    json_string_value(v));
		else if (json_is_integer(v))
			n = snprintf(buf + used, len - used, "%s%s=%lld",
			    used > 0 ? " " : "", shows[i],
			    (long long)json_integer_value(v));
		else
			continue;
		if (n < 0 || (size_t)n >= len - used)
			return;
		used += (size_t)n;
	}
}
