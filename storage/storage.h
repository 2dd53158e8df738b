/*
 * The node's dynamic state in one sqlite database, <dir>/alknet.db: the
 * durable event stream, identities and credentials added at run time,
 * and named configuration texts.
 *
 * Every call runs on the loop thread.  Functions return 0 or a negative
 * errno: -EIO when sqlite fails (storage_errmsg says why), -EBUSY when
 * another process holds the database locked, -ENOSPC when the disk is
 * full, -ENOMEM.  A function that returns 0 after a write has made it
 * durable: a kill -9 right after it loses nothing.
 */
#ifndef ALKNET_STORAGE_H
#define ALKNET_STORAGE_H

#include <stddef.h>
#include <stdint.h>

/* The schema version this program writes, PRAGMA user_version. */
#define STORAGE_SCHEMA_VERSION 1

/* Default bounds of the retained event stream; the newest row stays. */
#define STORAGE_EVENTS_ROWS  100000
#define STORAGE_EVENTS_BYTES (64u << 20)

/* Longest event line accepted, newline included. */
#define STORAGE_EVENT_LINE_MAX 65536

/* Longest identity parts, configuration keys and texts accepted. */
#define STORAGE_NAME_MAX    255
#define STORAGE_KEYLINE_MAX 16384
#define STORAGE_SCOPES_MAX  4096
#define STORAGE_TEXT_MAX    (1u << 20)

struct storage;

/*
 * Opens dir/alknet.db, creating dir (0700, with missing parents) and the
 * file (0600) if needed, switches it to WAL and brings its schema up to
 * STORAGE_SCHEMA_VERSION.  A database whose schema is newer is refused
 * with -ENOTSUP and left as it was.  On failure err holds a reason naming
 * the path or the version.  Close the handle with storage_close.
 */
int storage_open(
    const char *dir, struct storage **out, char *err, size_t errlen);

/*
 * Rolls back an unfinished transaction, flushes queued events and frees
 * st.  Accepts NULL.  A caller that must know whether the last events
 * reached the disk calls storage_flush first.
 */
void storage_close(struct storage *st);

/*
 * The sqlite message behind the last failure, "" if none.  Valid until
 * the next call on st.
 */
const char *storage_errmsg(const struct storage *st);

/*
 * Starts an explicit transaction that storage_commit makes durable as a
 * whole, or storage_rollback discards.  Queued events are flushed first.
 * Returns 0, -EBUSY if a transaction is open already, or the flush's
 * error.
 */
int storage_begin(struct storage *st);

/*
 * Commits the open transaction.  Returns 0, -EINVAL without one, or an
 * error after which everything since storage_begin is rolled back.
 */
int storage_commit(struct storage *st);

/* Discards the open transaction, if any. */
void storage_rollback(struct storage *st);

/*
 * Stores one event line: seq and offset as the bus numbered it, line of
 * len bytes (newline included, at least 1).  Outside a transaction the line is
 * queued, and durable once storage_flush returns 0; inside one it is
 * written with the transaction.  seq and offset must not go below those
 * of storage_event_next (gaps are allowed).  Returns 0, -EINVAL,
 * -EMSGSIZE beyond STORAGE_EVENT_LINE_MAX, or the error of a flush forced
 * by a full queue.
 */
int storage_event_put(struct storage *st, uint64_t seq, uint64_t offset,
    const char *line, size_t len);

/*
 * Writes queued events in one transaction and prunes the oldest rows past
 * the retention bounds.  Cheap when there is nothing to do; does nothing
 * inside an explicit transaction.  On failure the queue is kept for the
 * next call.
 */
int storage_flush(struct storage *st);

/*
 * Where the bus continues: the seq after the last event put, and the
 * offset just past its line (0 and 0 for a fresh node).  Queued events
 * count.  Always returns 0.
 */
int storage_event_next(struct storage *st, uint64_t *seq, uint64_t *offset);

/*
 * Calls cb for each retained line, queued ones included, in order,
 * starting with the one that holds from_offset (or the first one after
 * it).  The line (len bytes, newline included, not NUL-terminated) is
 * valid during the call only and cb must not call back into st.  A
 * non-zero return from cb stops the walk and is returned; otherwise
 * returns 0 or an error.
 */
int storage_event_each(struct storage *st, uint64_t from_offset,
    int (*cb)(
        uint64_t seq, uint64_t offset, const char *line, size_t len, void *arg),
    void *arg);

/*
 * Sets the retention bounds applied at the next flush: at most rows lines
 * (at least 1) and bytes of line text.  Returns 0 or -EINVAL.
 */
int storage_event_retain(struct storage *st, size_t rows, size_t bytes);

/*
 * An identity or credential: kind is "key", "cert-authority" or
 * "token-key"; keyline is "type base64 [comment]"; scopes a comma list
 * ("" or NULL for none); created in seconds since the epoch.
 */
struct storage_identity {
	const char *name;
	const char *kind;
	const char *keyline;
	const char *scopes;
	int64_t     created;
};

/*
 * Adds id.  Returns 0, -EEXIST if the name is taken, -EINVAL for an empty
 * name or keyline, an unknown kind, or a part longer than its
 * STORAGE_*_MAX.
 */
int storage_identity_add(struct storage *st, const struct storage_identity *id);

/* Removes the named identity.  Returns 0 or -ENOENT. */
int storage_identity_remove(struct storage *st, const char *name);

/*
 * Replaces its scopes (NULL means none).  Returns 0, -ENOENT, or -EINVAL
 * beyond STORAGE_SCOPES_MAX.
 */
int storage_identity_set_scopes(
    struct storage *st, const char *name, const char *scopes);

/*
 * Calls cb for each identity in name order; the strings are valid during
 * the call only and cb must not call back into st.  A non-zero return
 * from cb stops the walk and is returned; otherwise returns 0 or an
 * error.
 */
int storage_identity_each(struct storage *st,
    int (*cb)(const struct storage_identity *id, void *arg), void *arg);

/*
 * Sets the named text (such as "acl.forwarding"), replacing any earlier
 * one.  Returns 0, -EINVAL for a NULL text or a key empty or longer than
 * STORAGE_NAME_MAX, or -EMSGSIZE beyond STORAGE_TEXT_MAX.
 */
int storage_config_set(struct storage *st, const char *key, const char *text);

/*
 * Stores a copy of the named text in *text, for the caller to free.
 * Returns 0, -ENOENT when it is unset, or -ENOMEM.
 */
int storage_config_get(struct storage *st, const char *key, char **text);

/* Removes the named text.  Returns 0 or -ENOENT. */
int storage_config_unset(struct storage *st, const char *key);

#endif
