/*
 * Control-file commands: one line "verb arg ... key=value ..." per write,
 * parsed here and turned into the operation of the registry it stands
 * for; the operation's output becomes the answer's detail.
 */
#ifndef ALKNET_NS_CTL_H
#define ALKNET_NS_CTL_H

#include <stddef.h>

#include <jansson.h>

#include "ns.h"

#define NS_CTL_LINE_MAX 4096 /* bytes, without the trailing newline */
#define NS_CTL_WORDS    16   /* arguments and options together */
#define NS_CTL_SHOWS    3    /* output members an answer shows */

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

/* The value of option key, or NULL. */
const char *ns_ctl_option(const struct ns_cmd *cmd, const char *key);

/*
 * The operation cmd stands for on target, whose object is self (its
 * name, or the decimal id of a session or channel; NULL for the node):
 * "unforward db" is /forwards/remove {"name":"db"}, "up" on forwards/db
 * is /forwards/up {"name":"db"}, "close" on channels/7 is
 * /channels/close {"id":7}.  Returns 0 and *op (op->input is the
 * caller's to drop), or a negative errno with a message in msg:
 * -EINVAL for an unknown verb, a wrong argument count, an unknown
 * option, a missing one, or arguments the verb cannot read (a forward
 * spec, a key line), or -ENOMEM.  Nothing is checked against core's
 * objects: the operation does that.
 */
int ns_ctl_op(enum ns_ctl_target target, const char *self,
    const struct ns_cmd *cmd, struct ns_op *op, char *msg, size_t msglen);

/*
 * The detail of a successful answer ("name=db uri=tcp://..."): the
 * members of output that shows names (op->shows; NULL or a NULL entry
 * ends it), strings and integers as key=value in that order, those
 * missing left out.  buf is "" when there is none; what does not fit
 * in len bytes is cut.
 */
void ns_ctl_detail(
    const char *const *shows, json_t *output, char *buf, size_t len);

#endif
