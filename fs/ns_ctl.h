/*
 * Control-file commands: one line "verb arg ... key=value ..." per write,
 * parsed here and run against core's objects.
 */
#ifndef ALKNET_NS_CTL_H
#define ALKNET_NS_CTL_H

#include <stddef.h>
#include <uv.h>

#define NS_CTL_LINE_MAX 4096 /* bytes, without the trailing newline */
#define NS_CTL_WORDS    16   /* arguments and options together */

struct sshd;
struct identities;

/* A parsed command; the pointers point into line. */
struct ns_cmd {
	char        line[NS_CTL_LINE_MAX + 1];
	const char *verb;
	const char *args[NS_CTL_WORDS];
	size_t      nargs;
	const char *keys[NS_CTL_WORDS];
	const char *values[NS_CTL_WORDS];
	size_t      nopts;
};

/* What a control file acts on. */
enum ns_ctl_target {
	NS_CTL_NODE, /* the top-level ctl */
	NS_CTL_LISTENER,
	NS_CTL_SESSION,
	NS_CTL_CHANNEL,
	NS_CTL_UPSTREAM,
	NS_CTL_FORWARD,
	NS_CTL_IDENTITY,
};

struct ns_ctl_ctx {
	uv_loop_t         *loop;
	struct sshd       *sshd; /* may be NULL: no reload, no listen */
	void              *obj;  /* listener, session, channel, upstream,
	                          * forward, or an identity's name */
	struct identities *ids;  /* may be NULL: no identity verbs */
};

/*
 * Parses the len bytes at data.  One trailing newline (or CRLF) is
 * dropped; words are separated by blanks; a word whose part before its
 * first '=' is a lower-case name ([a-z][a-z0-9_-]*) is an option, any
 * other word an argument (so base64 ending in '=' is one).  Returns 0,
 * or -EINVAL with a reason in err for an empty line, a line over
 * NS_CTL_LINE_MAX, control characters, too many words, an option without
 * a value, or one given twice.
 */
int ns_ctl_parse(
    const char *data, size_t len, struct ns_cmd *cmd, char *err, size_t errlen);

/* Whether name may name an object that a command or mkdir creates, by
 * the rule of name_valid. */
int ns_ctl_name_ok(const char *name);

/* The value of option key, or NULL. */
const char *ns_ctl_option(const struct ns_cmd *cmd, const char *key);

/*
 * Runs cmd on target.  Returns 0 with an optional detail in msg ("" when
 * there is none), or a negative errno with a message in msg: -EINVAL for
 * an unknown verb, a wrong argument count, an unknown option or a missing
 * one, else what core answered (-ENOENT, -EEXIST, -EADDRINUSE, ...).
 * "connect", "forward" and "socks" answer "name=N" with the name of what
 * they made; a forward that cannot come up is not left behind.
 */
int ns_ctl_exec(enum ns_ctl_target target, const struct ns_ctl_ctx *ctx,
    const struct ns_cmd *cmd, char *msg, size_t msglen);

#endif
