/*
 * The operations behind the namespace's writes: each command of a ctl
 * file, each writable value file, mkdir and rmdir is one of these, and
 * a peer with the right scopes calls the same ones over the call
 * protocol.  An action is written once, in errno terms, as core's
 * functions speak; one registry handler turns its result into an answer
 * whose errno hint the filesystem's writes pass on unchanged.
 */
#ifndef ALKNET_OPS_CTL_H
#define ALKNET_OPS_CTL_H

#include <stddef.h>

#include <jansson.h>
#include <uv.h>

#include "registry.h"

struct identities;
struct sshd;
struct storage;

/* What the node must have for an action to be registered. */
#define OPS_CTL_SSHD 0x1 /* an SSH server */
#define OPS_CTL_IDS  0x2 /* run-time identities */

/* What actions act on, set by ops_ctl_start, and who asks. */
struct ops_ctl_env {
	uv_loop_t                      *loop;
	struct sshd                    *sshd; /* may be NULL */
	struct storage                 *st;   /* may be NULL: changes are not
	                                      * kept */
	struct identities              *ids;  /* NULL without an SSH server */
	const struct registry_identity *who;  /* the caller; NULL: trusted */
};

/*
 * An action: input has passed the operation's schema.  Returns 0 with
 * its output in *out (a new reference; left NULL it answers {}), or a
 * negative errno with the reason in msg ("" for strerror's words).
 */
typedef int (*ops_ctl_fn)(const struct ops_ctl_env *env, json_t *input,
    json_t **out, char *msg, size_t msglen);

struct ops_ctl_def {
	const char        *name;
	enum registry_kind kind;   /* queries need node:read, the rest
	                            * node:admin */
	const char        *input;  /* JSON Schema text */
	const char        *output; /* JSON Schema text; NULL: anything */
	unsigned           needs;  /* OPS_CTL_* */
	ops_ctl_fn         run;
};

/* The tables of ops_ctl.c, ops_links.c, ops_forwards.c and
 * ops_identities.c. */
extern const struct ops_ctl_def ops_ctl_defs[];
extern const size_t             ops_ctl_ndefs;
extern const struct ops_ctl_def ops_links_defs[];
extern const size_t             ops_links_ndefs;
extern const struct ops_ctl_def ops_forwards_defs[];
extern const size_t             ops_forwards_ndefs;
extern const struct ops_ctl_def ops_identities_defs[];
extern const size_t             ops_identities_ndefs;

/* A string that is not empty. */
#define OPS_CTL_TEXT "{\"type\":\"string\",\"minLength\":1}"

/* The schema of an input that names one object. */
#define OPS_CTL_BY_NAME                                                        \
	"{\"type\":\"object\",\"required\":[\"name\"],"                        \
	"\"additionalProperties\":false,"                                      \
	"\"properties\":{\"name\":" OPS_CTL_TEXT "}}"

/*
 * Makes the run-time identities of sshd (may be NULL) stored in st (may
 * be NULL) and registers every action whose needs the node meets into
 * r.  Returns 0, or a negative errno with a reason in err; nothing is
 * kept then.
 */
int ops_ctl_start(struct registry *r, uv_loop_t *loop, struct sshd *sshd,
    struct storage *st, char *err, size_t errlen);

/* Frees what ops_ctl_start made; the registry is the caller's. */
void ops_ctl_stop(void);

/* The run-time identities, for the namespace; NULL when there are
 * none. */
struct identities *ops_ctl_identities(void);

/*
 * The reply code that fits an action's errno: NOT_FOUND for ENOENT,
 * FORBIDDEN for EACCES and EPERM, TIMEOUT for ETIMEDOUT, INVALID_INPUT
 * for what the caller asked wrongly (EINVAL, EEXIST, EBUSY, ENOTSUP,
 * ...), INTERNAL for the rest.
 */
enum reply_code ops_ctl_code(int rc);

/* Whether the caller holds node:admin (local:root does), to whom
 * queries show destinations as the mount shows them to root. */
int ops_ctl_admin(const struct ops_ctl_env *env);

/* A string member of input, or NULL. */
const char *ops_ctl_str(json_t *input, const char *key);

/*
 * Appends item (taken; NULL stands for no memory) to the array *list.
 * Returns 0, or -ENOMEM having dropped *list and set it to NULL, so
 * that a loop filling a list may go on until it ends.
 */
int ops_ctl_append(json_t **list, json_t *item);

/* *out = {key: list}, taking list; a NULL list is -ENOMEM. */
int ops_ctl_wrap(const char *key, json_t *list, json_t **out);

/* The output schema of a list query answering {key: [objects]}. */
#define OPS_CTL_LIST(key)                                                      \
	"{\"type\":\"object\",\"required\":[\"" key "\"],"                     \
	"\"properties\":{\"" key "\":{\"type\":\"array\","                     \
	"\"items\":{\"type\":\"object\"}}}}"

#endif
