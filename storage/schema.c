/*
 * The schema and its forward-only migrations.  Migration n brings a
 * database from user_version n to n + 1, in one transaction with the new
 * version, so that a crash leaves either the old schema or the new one.
 * A migration, once released, never changes: a later change is a new
 * migration.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "storage_int.h"

static const char *const storage_migrations[] = {
    /* 0 -> 1: identities, configuration texts, the event stream. */
    "CREATE TABLE identities ("
    " name TEXT PRIMARY KEY NOT NULL,"
    " kind TEXT NOT NULL"
    "  CHECK (kind IN ('key', 'cert-authority', 'token-key')),"
    " keyline TEXT NOT NULL,"
    " scopes TEXT NOT NULL,"
    " created INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE config ("
    " key TEXT PRIMARY KEY NOT NULL,"
    " value TEXT NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE events ("
    " seq INTEGER PRIMARY KEY,"
    " offset INTEGER NOT NULL UNIQUE,"
    " line BLOB NOT NULL"
    ");",
};

_Static_assert(sizeof storage_migrations / sizeof *storage_migrations ==
        STORAGE_SCHEMA_VERSION,
    "one migration per schema version");

static int
storage_schema_fail(
    char *err, size_t errlen, const char *path, const char *reason, int rc)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s: %s", path, reason);
	return rc;
}

/* Reading the version is also the first read of the file. */
static int
storage_user_version(struct storage *st, int *version)
{
	sqlite3_stmt *s;
	int           rc;

	s = storage__stmt(st, STMT_USER_VERSION, "PRAGMA user_version");
	if (s == NULL)
		return -EIO;
	if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
		rc = storage__fail(st, rc);
		sqlite3_reset(s);
		return rc;
	}
	*version = sqlite3_column_int(s, 0);
	sqlite3_reset(s);
	return 0;
}

static int
storage_wal(struct storage *st)
{
	sqlite3_stmt *s;
	const char   *mode;
	int           rc;

	s = storage__stmt(st, STMT_JOURNAL_WAL, "PRAGMA journal_mode=WAL");
	if (s == NULL)
		return -EIO;
	if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
		rc = storage__fail(st, rc);
		sqlite3_reset(s);
		return rc;
	}

	/* The pragma answers with the mode in force, which may differ. */
	mode = (const char *)sqlite3_column_text(s, 0);
	rc = mode != NULL && strcmp(mode, "wal") == 0 ? 0 : -EIO;
	if (rc != 0)
		snprintf(st->errmsg, sizeof st->errmsg,
		    "journal mode %s instead of wal", mode ? mode : "unknown");
	sqlite3_reset(s);
	return rc;
}

/* Runs migration n and records version n + 1. */
static int
storage_migrate(struct storage *st, int n)
{
	char pragma[64];
	int  rc;

	if ((rc = storage__tx_begin(st, SYNC_FULL)) != 0)
		return rc;

	snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d", n + 1);
	rc = sqlite3_exec(st->db, storage_migrations[n], NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(st->db, pragma, NULL, NULL, NULL);
	rc = rc == SQLITE_OK ? 0 : storage__fail(st, rc);

	return storage__tx_end(st, rc);
}

int
storage__schema(struct storage *st, const char *path, char *err, size_t errlen)
{
	char reason[STORAGE_ERRMSG + 64];
	int  version = 0, rc;

	if ((rc = storage_user_version(st, &version)) != 0)
		return storage_schema_fail(err, errlen, path, st->errmsg, rc);

	/* Refused before anything, even the journal mode, is written. */
	if (version > STORAGE_SCHEMA_VERSION || version < 0) {
		snprintf(reason, sizeof reason,
		    "schema version %d is %s this program's %d", version,
		    version > 0 ? "newer than" : "not", STORAGE_SCHEMA_VERSION);
		return storage_schema_fail(err, errlen, path, reason, -ENOTSUP);
	}

	if ((rc = storage_wal(st)) != 0)
		return storage_schema_fail(err, errlen, path, st->errmsg, rc);

	for (; version < STORAGE_SCHEMA_VERSION; version++) {
		if ((rc = storage_migrate(st, version)) == 0)
			continue;
		snprintf(reason, sizeof reason, "migration to version %d: %s",
		    version + 1, st->errmsg);
		return storage_schema_fail(err, errlen, path, reason, rc);
	}
	return 0;
}
