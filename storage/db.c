/*
 * The database handle: opening (directory, file mode, WAL, schema),
 * the cache of prepared statements, errors, durability and transactions.
 *
 * One connection serves the whole daemon.  PRAGMA synchronous is switched
 * between transactions: NORMAL for batches of events, which in WAL mode
 * survive a crash of the process but maybe not of the machine, and FULL
 * for everything else, which survives both.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage_int.h"

#define STORAGE_FILE "alknet.db"

/* How long a call may wait for a lock held by another process. */
#define STORAGE_BUSY_MS 200

static int
storage_open_fail(
    char *err, size_t errlen, const char *what, const char *reason, int rc)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s: %s", what, reason);
	return rc;
}

/* Creates dir and its missing parents, each 0700. */
static int
storage_mkdirs(const char *dir, char *err, size_t errlen)
{
	char        path[PATH_MAX];
	struct stat sb;
	size_t      len = strlen(dir), i;

	if (len == 0)
		return storage_open_fail(
		    err, errlen, "state directory", "empty path", -EINVAL);
	if (len >= sizeof path)
		return storage_open_fail(
		    err, errlen, dir, strerror(ENAMETOOLONG), -ENAMETOOLONG);
	memcpy(path, dir, len + 1);

	/* Each prefix ending before a '/', then the whole path. */
	for (i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			return storage_open_fail(
			    err, errlen, path, strerror(errno), -errno);
		path[i] = dir[i];
	}

	if (stat(dir, &sb) != 0)
		return storage_open_fail(
		    err, errlen, dir, strerror(errno), -errno);
	if (!S_ISDIR(sb.st_mode))
		return storage_open_fail(
		    err, errlen, dir, strerror(ENOTDIR), -ENOTDIR);
	return 0;
}

/*
 * Creates the file 0600 if it is missing, since sqlite would create it
 * after the umask.  The descriptor is closed before sqlite opens the
 * file: closing it later would drop sqlite's locks on it.
 */
static int
storage_create_file(const char *path, char *err, size_t errlen)
{
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1)
		return storage_open_fail(
		    err, errlen, path, strerror(errno), -errno);
	close(fd);
	return 0;
}

sqlite3_stmt *
storage__stmt(struct storage *st, enum storage_stmt id, const char *sql)
{
	sqlite3_stmt *s = st->stmt[id];
	int           rc;

	if (s != NULL) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
		return s;
	}

	rc = sqlite3_prepare_v3(
	    st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
	if (rc != SQLITE_OK) {
		storage__fail(st, rc);
		return NULL;
	}
	st->stmt[id] = s;
	return s;
}

int
storage__fail(struct storage *st, int rc)
{
	snprintf(st->errmsg, sizeof st->errmsg, "%s", sqlite3_errmsg(st->db));

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_FULL:
		return -ENOSPC;
	default:
		return -EIO;
	}
}

int
storage__exec(struct storage *st, sqlite3_stmt *s)
{
	int rc;

	rc = sqlite3_step(s);
	rc = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : storage__fail(st, rc);
	sqlite3_reset(s);
	return rc;
}

int
storage__bind_text(sqlite3_stmt *s, int i, const char *text)
{
	return sqlite3_bind_text(s, i, text, -1, SQLITE_STATIC) == SQLITE_OK;
}

int
storage__sync(struct storage *st, enum storage_sync level)
{
	sqlite3_stmt *s;
	int           rc;

	if (st->sync == level)
		return 0;
	if (level == SYNC_FULL)
		s = storage__stmt(
		    st, STMT_SYNC_FULL, "PRAGMA synchronous=FULL");
	else
		s = storage__stmt(
		    st, STMT_SYNC_NORMAL, "PRAGMA synchronous=NORMAL");
	if (s == NULL)
		return -EIO;

	if ((rc = storage__exec(st, s)) == 0)
		st->sync = level;
	return rc;
}

int
storage__durable(struct storage *st)
{
	if (!st->in_tx)
		return storage__sync(st, SYNC_FULL);

	/* Some errors (a full disk) make sqlite roll back by itself. */
	if (sqlite3_get_autocommit(st->db)) {
		snprintf(st->errmsg, sizeof st->errmsg,
		    "the transaction was rolled back after an error");
		return -EIO;
	}
	return 0;
}

int
storage__tx_begin(struct storage *st, enum storage_sync level)
{
	sqlite3_stmt *s;
	int           rc;

	if ((rc = storage__sync(st, level)) != 0)
		return rc;
	if ((s = storage__stmt(st, STMT_BEGIN, "BEGIN IMMEDIATE")) == NULL)
		return -EIO;
	return storage__exec(st, s);
}

int
storage__tx_end(struct storage *st, int rc)
{
	sqlite3_stmt *s;

	if (rc == 0) {
		s = storage__stmt(st, STMT_COMMIT, "COMMIT");
		rc = s != NULL ? storage__exec(st, s) : -EIO;
	}
	if (rc == 0 || sqlite3_get_autocommit(st->db))
		return rc;

	/* Stepped by hand so that the error of interest stays in errmsg. */
	s = storage__stmt(st, STMT_ROLLBACK, "ROLLBACK");
	if (s != NULL) {
		sqlite3_step(s);
		sqlite3_reset(s);
	}
	return rc;
}

const char *
storage_errmsg(const struct storage *st)
{
	return st->errmsg;
}

int
storage_begin(struct storage *st)
{
	int rc;

	if (st->in_tx)
		return -EBUSY;
	if ((rc = storage_flush(st)) != 0)
		return rc;
	if ((rc = storage__tx_begin(st, SYNC_FULL)) != 0)
		return rc;

	st->in_tx = 1;
	st->saved = st->ev;
	return 0;
}

int
storage_commit(struct storage *st)
{
	int rc;

	if (!st->in_tx)
		return -EINVAL;
	st->in_tx = 0;
	if ((rc = storage__tx_end(st, 0)) != 0)
		st->ev = st->saved;
	return rc;
}

void
storage_rollback(struct storage *st)
{
	if (!st->in_tx)
		return;
	st->in_tx = 0;
	storage__tx_end(st, -ECANCELED);
	st->ev = st->saved;
}

/* Opens the connection; the file exists already. */
static int
storage_connect(struct storage *st, const char *path, char *err, size_t errlen)
{
	int rc;

	rc = sqlite3_open_v2(
	    path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK)
		return storage_open_fail(err, errlen, path,
		    st->db != NULL ? sqlite3_errmsg(st->db)
		                   : sqlite3_errstr(rc),
		    -EIO);

	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, STORAGE_BUSY_MS);
	return 0;
}

int
storage_open(const char *dir, struct storage **out, char *err, size_t errlen)
{
	struct storage *st = NULL;
	char            path[PATH_MAX];
	int             rc;

	if ((rc = storage_mkdirs(dir, err, errlen)) != 0)
		goto out;
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, STORAGE_FILE) >=
	    sizeof path) {
		rc = storage_open_fail(
		    err, errlen, dir, strerror(ENAMETOOLONG), -ENAMETOOLONG);
		goto out;
	}
	if ((rc = storage_create_file(path, err, errlen)) != 0)
		goto out;

	if ((st = calloc(1, sizeof *st)) == NULL) {
		rc = storage_open_fail(
		    err, errlen, path, strerror(ENOMEM), -ENOMEM);
		goto out;
	}
	st->retain_rows = STORAGE_EVENTS_ROWS;
	st->retain_bytes = STORAGE_EVENTS_BYTES;

	if ((rc = storage_connect(st, path, err, errlen)) != 0)
		goto out;
	if ((rc = storage__schema(st, path, err, errlen)) != 0)
		goto out;
	if ((rc = storage__events_load(st)) != 0) {
		storage_open_fail(err, errlen, path, st->errmsg, rc);
		goto out;
	}

	*out = st;
	st = NULL;
out:
	storage_close(st);
	return rc;
}

void
storage_close(struct storage *st)
{
	size_t i;

	if (st == NULL)
		return;

	if (st->db != NULL) {
		storage_rollback(st);
		/* XXX: a failed last flush drops the queue unreported. */
		storage_flush(st);
	}
	storage__events_free(st);

	for (i = 0; i < STMT_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	sqlite3_close(st->db);
	free(st);
}
