/*
 * What of the node outlives a restart, kept in its database: the event
 * stream behind events.log (so seq and offsets go on), and the rule sets
 * of acl/.  The glue between core's objects and storage/.
 */
#ifndef ALKNET_PERSIST_H
#define ALKNET_PERSIST_H

#include <stddef.h>
#include <uv.h>

#include "sshd.h"

struct grants;
struct persist;
struct storage;

/*
 * Opens the database in dir and starts the event bus where the last run
 * stopped: numbering continues, and the newest retain_bytes of the log
 * are readable again.  Every event emitted from now on is stored; queued
 * lines are written once per turn of the loop.  Returns 0 and *out, or a
 * negative errno with a reason in err.
 */
int persist_open(uv_loop_t *loop, const char *dir, size_t retain_bytes,
    size_t sub_lines, struct persist **out, char *err, size_t errlen);

/*
 * Writes what is queued, stops storing events and closes the database;
 * the check handle closes on the next turn of the loop.  Call after the
 * last event.  Accepts NULL.
 */
void persist_close(struct persist *p);

/* The database, for the namespace's writes. */
struct storage *persist_storage(struct persist *p);

/*
 * Puts the stored rule sets in force on sshd; a kind never stored keeps
 * what sshd has.  Returns 0, or a negative errno with a reason in err
 * when a stored set no longer parses.
 */
int persist_load_rules(
    struct persist *p, struct sshd *sshd, char *err, size_t errlen);

/*
 * Makes text the rule set of its kind: parsed (-EINVAL with "line N:
 * reason" in err, nothing changed), stored and announced by a
 * policy.changed event in one transaction, then put in force on sshd.
 * st may be NULL for a node without a database.  Returns 0 or a negative
 * errno with a reason in err.
 */
int persist_set_rules(struct storage *st, struct sshd *sshd,
    enum sshd_rules which, const char *text, char *err, size_t errlen);

/*
 * The server's limits as acl/limits shows them, "key value" lines, in a
 * string for the caller to free; NULL on ENOMEM.
 */
char *persist_format_limits(const struct sshd *sshd);

/*
 * Applies text, "key value" lines of acl/limits (keys not named keep
 * their values): checked whole (-EINVAL with "line N: reason" in err,
 * nothing changed), stored and announced by a policy.changed event in
 * one transaction, then put in force.  st may be NULL.  Returns 0 or a
 * negative errno with a reason in err.
 */
int persist_set_limits(struct storage *st, struct sshd *sshd, const char *text,
    char *err, size_t errlen);

/* Applies the stored limits at start, if any.  Returns 0 or a negative
 * errno with a reason in err. */
int persist_load_limits(
    struct persist *p, struct sshd *sshd, char *err, size_t errlen);

/*
 * Makes text the operation ACL (acl/operations): parsed (-EINVAL with
 * "line N: reason" in err, nothing changed), stored and announced by a
 * policy.changed event in one transaction.  st may be NULL.  Returns 0
 * and the parsed set in *out for the caller to put in force and free,
 * or a negative errno with a reason in err.
 */
int persist_set_grants(struct storage *st, const char *text,
    struct grants **out, char *err, size_t errlen);

/*
 * The stored operation ACL in *out (NULL when none was stored; free
 * with grants_free).  Returns 0, or a negative errno with a reason in
 * err when it cannot be read or no longer parses.
 */
int persist_load_grants(
    struct storage *st, struct grants **out, char *err, size_t errlen);

#endif
