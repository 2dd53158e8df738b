/*
 * What the files of the storage library share: the handle, its cache of
 * prepared statements, and the helpers that run a write at the right
 * durability.
 */
#ifndef ALKNET_STORAGE_INT_H
#define ALKNET_STORAGE_INT_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "storage.h"

/* Every statement the library runs, prepared once on first use. */
enum storage_stmt {
	STMT_BEGIN,
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_SYNC_NORMAL,
	STMT_SYNC_FULL,
	STMT_USER_VERSION,
	STMT_JOURNAL_WAL,
	STMT_EVENT_INSERT,
	STMT_EVENT_STATS,
	STMT_EVENT_LAST,
	STMT_EVENT_FROM,
	STMT_EVENT_OLDEST,
	STMT_EVENT_PRUNE,
	STMT_IDENTITY_ADD,
	STMT_IDENTITY_REMOVE,
	STMT_IDENTITY_SCOPES,
	STMT_IDENTITY_EACH,
	STMT_CONFIG_SET,
	STMT_CONFIG_GET,
	STMT_CONFIG_UNSET,
	STMT_COUNT
};

/* PRAGMA synchronous as last set on the connection. */
enum storage_sync { SYNC_UNSET, SYNC_NORMAL, SYNC_FULL };

/* An event put outside a transaction, waiting for the next flush. */
struct storage_qevent {
	uint64_t seq;
	uint64_t off;
	char    *line;
	size_t   len;
};

/* Where the event stream stands; saved at begin, restored at rollback. */
struct storage_evstate {
	uint64_t next_seq;
	uint64_t next_off;
	uint64_t rows; /* stored rows */
	uint64_t bytes;
};

#define STORAGE_QUEUE_MAX 1024
#define STORAGE_ERRMSG    256

struct storage {
	sqlite3               *db;
	sqlite3_stmt          *stmt[STMT_COUNT];
	enum storage_sync      sync;
	int                    in_tx;
	struct storage_evstate ev;
	struct storage_evstate saved; /* ev at storage_begin */
	size_t                 retain_rows;
	size_t                 retain_bytes;
	struct storage_qevent  queue[STORAGE_QUEUE_MAX];
	size_t                 queued;
	char                   errmsg[STORAGE_ERRMSG];
};

/*
 * The cached statement id for sql, reset and with no bindings, or NULL
 * with the reason in st's errmsg.
 */
sqlite3_stmt *storage__stmt(
    struct storage *st, enum storage_stmt id, const char *sql);

/*
 * Notes the connection's last error for storage_errmsg and turns the
 * sqlite result code rc into a negative errno.
 */
int storage__fail(struct storage *st, int rc);

/* Steps a statement that returns no rows, then resets it. */
int storage__exec(struct storage *st, sqlite3_stmt *s);

/*
 * Binds text, which must outlive the step, to parameter i.  Returns 1,
 * or 0 when sqlite refused it.
 */
int storage__bind_text(sqlite3_stmt *s, int i, const char *text);

/* Sets PRAGMA synchronous unless it is set so already. */
int storage__sync(struct storage *st, enum storage_sync level);

/*
 * Outside an explicit transaction, makes the next single statement
 * commit at FULL durability; inside one, the commit will.
 */
int storage__durable(struct storage *st);

/* BEGIN IMMEDIATE at the given durability. */
int storage__tx_begin(struct storage *st, enum storage_sync level);

/*
 * Commits when rc is 0, rolls back otherwise or when the commit fails.
 * Returns rc or the commit's error.
 */
int storage__tx_end(struct storage *st, int rc);

/*
 * Brings the schema of the database at path up to STORAGE_SCHEMA_VERSION
 * in WAL mode.  Refuses a newer one with -ENOTSUP before writing
 * anything.  On failure err names path and the reason.
 */
int storage__schema(
    struct storage *st, const char *path, char *err, size_t errlen);

/* Reads where the event stream stands, at open. */
int storage__events_load(struct storage *st);

/* Frees the queued events. */
void storage__events_free(struct storage *st);

#endif
