/*
 * The filesystem's calls into the registry: who a local user is to the
 * registry, and a call whose caller may give up before the answer comes
 * (a transaction file closed unread).
 */
#ifndef ALKNET_OPCALL_H
#define ALKNET_OPCALL_H

#include <sys/types.h>

#include <jansson.h>

#include "grants.h"
#include "registry.h"

#define OPCALL_ID_MAX 64 /* bytes of "local:<user>", NUL included */

/* A local user as the registry sees them. */
struct opcall_who {
	struct registry_identity id;
	char                     text[OPCALL_ID_MAX];
	const char              *scopes[GRANTS_SCOPES_MAX + 1];
};

struct opcall;

/* The answer; res lives until the callback returns. */
typedef void (*opcall_cb)(const struct registry_result *res, void *arg);

/*
 * Fills who for uid: "local:<user>" with the name the password database
 * gives (the number when it has none) and the scopes g (may be NULL)
 * grants that id; local:root needs none.  The scopes are borrowed from
 * g, so who is for a call made now.  Returns 0 or what
 * registry_local_id returns.
 */
int opcall_local(uid_t uid, const struct grants *g, struct opcall_who *who);

/*
 * Calls name with input (borrowed; NULL is JSON null) as who, with a
 * request id of its own ("fs-N").  cb(res, arg) is told the answer (a
 * subscription's values, then its end), from registry_deliver, unless
 * the call is aborted first.  Returns 0
 * and *out, which is valid until cb runs or opcall_abort, or what
 * registry_dispatch returns, or -ENOMEM; on failure cb is not called.
 */
int opcall_start(struct registry *r, const struct registry_identity *who,
    const char *name, json_t *input, opcall_cb cb, void *arg,
    struct opcall **out);

/*
 * Gives up on c: its callback is never called again, and the registry
 * aborts the call (registry_abort).  Accepts NULL.
 */
void opcall_abort(struct opcall *c);

/*
 * The errno a file write answers for res: 0 on success, the handler's
 * own errno when it gave one (registry_call_fail_errno), else -EACCES
 * for FORBIDDEN, -ENOENT for NOT_FOUND, -EINVAL for INVALID_INPUT and
 * -EIO for the rest.
 */
int opcall_errno(const struct registry_result *res);

/*
 * res as a transaction file shows it, one line of JSON:
 * {"output": ...} or {"error": {"code", "message", "retryable"}}, in a
 * string for the caller to free; NULL on ENOMEM.
 */
char *opcall_text(const struct registry_result *res);

#endif
