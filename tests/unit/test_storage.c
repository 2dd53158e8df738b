/*
 * The node's database: creation and modes, schema versions, persistence
 * across reopening, identities, configuration texts, transactions, the
 * event stream and its retention, and what a kill -9 leaves behind.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "storage.h"

#define KEY_A "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAA a@x"
#define KEY_B "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBBBBBBBBBBBBBBBBBBBBBBB"

/* Acknowledgements the child must send before it is killed. */
#define KILL_AFTER 300
#define KILL_TOTAL 1000

struct fixture {
	char            base[64];
	char            dir[128];
	char            db[160];
	struct storage *st;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);

	assert_non_null(f);
	snprintf(f->base, sizeof f->base, "/tmp/alknet-storage-XXXXXX");
	assert_non_null(mkdtemp(f->base));
	/* Two levels that do not exist yet. */
	snprintf(f->dir, sizeof f->dir, "%s/state/node", f->base);
	snprintf(f->db, sizeof f->db, "%s/alknet.db", f->dir);
	*state = f;
	return 0;
}

static int
rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	struct stat     sb;

	storage_close(f->st);
	assert_int_equal(
	    nftw(f->base, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT), 0);
	assert_int_equal(stat(f->base, &sb), -1);
	assert_int_equal(errno, ENOENT);
	free(f);
	return 0;
}

static void
open_ok(struct fixture *f)
{
	char err[256] = "";
	int  rc;

	rc = storage_open(f->dir, &f->st, err, sizeof err);
	if (rc != 0)
		fail_msg("storage_open: %d %s", rc, err);
}

static void
reopen(struct fixture *f)
{
	storage_close(f->st);
	f->st = NULL;
	open_ok(f);
}

/* A second, plain connection that looks at the file as sqlite sees it. */
static sqlite3 *
raw_open(const char *path)
{
	sqlite3 *db = NULL;

	assert_int_equal(
	    sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	return db;
}

static void
raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = raw_open(path);

	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* The first column of the first row of sql, as text, into buf. */
static void
raw_text(const char *path, const char *sql, char *buf, size_t len)
{
	sqlite3      *db = raw_open(path);
	sqlite3_stmt *s = NULL;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	snprintf(buf, len, "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static long long
raw_int(const char *path, const char *sql)
{
	char buf[64];

	raw_text(path, sql, buf, sizeof buf);
	return strtoll(buf, NULL, 10);
}

/* Size of a file, 0 when it does not exist. */
static long long
file_size(const char *path)
{
	struct stat sb;

	if (stat(path, &sb) != 0) {
		assert_int_equal(errno, ENOENT);
		return 0;
	}
	return (long long)sb.st_size;
}

static unsigned
file_mode(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return (unsigned)(sb.st_mode & 07777);
}

/* The whole file, for comparing before and after. */
static char *
file_read(const char *path, size_t *lenp)
{
	struct stat sb;
	char       *buf;
	int         fd;

	assert_true((fd = open(path, O_RDONLY)) >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	assert_non_null(buf = malloc((size_t)sb.st_size + 1));
	assert_int_equal(read(fd, buf, (size_t)sb.st_size + 1), sb.st_size);
	close(fd);
	*lenp = (size_t)sb.st_size;
	return buf;
}

static void
file_write(const char *path, const char *data, size_t len)
{
	int fd;

	assert_true((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* Identities as "name kind scopes created keyline" lines, in order. */
static int
collect_identity(const struct storage_identity *id, void *arg)
{
	char  *buf = arg;
	size_t n = strlen(buf);

	snprintf(buf + n, 4096 - n, "%s %s [%s] %lld %s\n", id->name, id->kind,
	    id->scopes, (long long)id->created, id->keyline);
	return 0;
}

static const char *
identities(struct storage *st)
{
	static char buf[4096];

	buf[0] = '\0';
	assert_int_equal(storage_identity_each(st, collect_identity, buf), 0);
	return buf;
}

static int
stop_identity(const struct storage_identity *id, void *arg)
{
	(*(int *)arg)++;
	return 7;
}

static int
add_identity(struct storage *st, const char *name, const char *kind,
    const char *keyline, const char *scopes, int64_t created)
{
	struct storage_identity id = {name, kind, keyline, scopes, created};

	return storage_identity_add(st, &id);
}

/* Checks identity n<i> of the kill test and counts it. */
static int
count_identity(const struct storage_identity *id, void *arg)
{
	int *n = arg;
	char name[32], scopes[32];

	snprintf(name, sizeof name, "n%04d", *n);
	snprintf(scopes, sizeof scopes, "v%04d", *n);
	if (strcmp(id->name, name) != 0 || strcmp(id->kind, "key") != 0 ||
	    strcmp(id->keyline, KEY_A) != 0 ||
	    strcmp(id->scopes, scopes) != 0 || id->created != *n)
		return -1;
	(*n)++;
	return 0;
}

/* Events as "seq@offset:line" with the line's newline, in order. */
static int
collect_event(
    uint64_t seq, uint64_t off, const char *line, size_t len, void *arg)
{
	char  *buf = arg;
	size_t n = strlen(buf);

	snprintf(buf + n, 8192 - n, "%llu@%llu:%.*s", (unsigned long long)seq,
	    (unsigned long long)off, (int)len, line);
	return 0;
}

static const char *
events_from(struct storage *st, uint64_t from)
{
	static char buf[8192];

	buf[0] = '\0';
	assert_int_equal(storage_event_each(st, from, collect_event, buf), 0);
	return buf;
}

static int
count_event(uint64_t seq, uint64_t off, const char *line, size_t len, void *arg)
{
	uint64_t *next = arg;
	char      want[32];

	/* Each line names its seq, so order and content are both checked. */
	snprintf(
	    want, sizeof want, "{\"seq\":%llu}\n", (unsigned long long)seq);
	if (seq != *next || len != strlen(want) || memcmp(line, want, len) != 0)
		return -1;
	(*next)++;
	return 0;
}

/*
 * Puts events seq first..first+n-1 as lines {"seq":N}\n at the offsets
 * following *off, which is advanced.
 */
static void
put_events(struct storage *st, uint64_t first, uint64_t n, uint64_t *off)
{
	char     line[32];
	uint64_t seq;
	int      len;

	for (seq = first; seq < first + n; seq++) {
		len = snprintf(line, sizeof line, "{\"seq\":%llu}\n",
		    (unsigned long long)seq);
		assert_int_equal(
		    storage_event_put(st, seq, *off, line, (size_t)len), 0);
		*off += (uint64_t)len;
	}
}

/* A string of len 'a's, valid until the next call. */
static const char *
long_text(size_t len)
{
	static char *buf;

	free(buf);
	assert_non_null(buf = malloc(len + 1));
	memset(buf, 'a', len);
	buf[len] = '\0';
	return buf;
}

static void
assert_next(struct storage *st, uint64_t seq, uint64_t off)
{
	uint64_t s = 1234, o = 5678;

	assert_int_equal(storage_event_next(st, &s, &o), 0);
	assert_int_equal(s, seq);
	assert_int_equal(o, off);
}

static void
test_open_fresh(void **state)
{
	struct fixture *f = *state;
	char            path[PATH_MAX + 8], buf[64];

	open_ok(f);

	snprintf(path, sizeof path, "%s/state", f->base);
	assert_int_equal(file_mode(path), 0700);
	assert_int_equal(file_mode(f->dir), 0700);
	assert_int_equal(file_mode(f->db), 0600);

	/* sqlite gives the journal files the mode of the database. */
	assert_int_equal(add_identity(f->st, "a", "key", KEY_A, NULL, 1), 0);
	snprintf(path, sizeof path, "%s-wal", f->db);
	assert_int_equal(file_mode(path), 0600);
	snprintf(path, sizeof path, "%s-shm", f->db);
	assert_int_equal(file_mode(path), 0600);

	raw_text(f->db, "PRAGMA journal_mode", buf, sizeof buf);
	assert_string_equal(buf, "wal");
	assert_int_equal(
	    raw_int(f->db, "PRAGMA user_version"), STORAGE_SCHEMA_VERSION);
	raw_text(f->db,
	    "SELECT group_concat(name, ',') FROM (SELECT name FROM"
	    " sqlite_schema WHERE type = 'table' ORDER BY name)",
	    buf, sizeof buf);
	assert_string_equal(buf, "config,events,identities");

	assert_string_equal(storage_errmsg(f->st), "");
	assert_next(f->st, 0, 0);
	assert_string_equal(events_from(f->st, 0), "");
	assert_string_equal(identities(f->st), "a key [] 1 " KEY_A "\n");
}

static void
test_reopen_persists(void **state)
{
	struct fixture *f = *state;
	char            wal[PATH_MAX + 8], *text = NULL;
	uint64_t        off = 0;

	open_ok(f);
	snprintf(wal, sizeof wal, "%s-wal", f->db);
	/* The migration went through the log. */
	assert_true(file_size(wal) > 0);

	assert_int_equal(add_identity(f->st, "b", "cert-authority", KEY_B,
	                     "relay:connect", 1700000000),
	    0);
	assert_int_equal(
	    add_identity(f->st, "a", "key", KEY_A, "admin,relay:connect", 42),
	    0);
	assert_int_equal(
	    storage_config_set(f->st, "acl.listen", "allow *\n"), 0);
	assert_int_equal(
	    storage_config_set(f->st, "acl.limits", "sessions 10\n"), 0);
	put_events(f->st, 0, 3, &off);
	assert_int_equal(storage_flush(f->st), 0);

	storage_close(f->st);
	f->st = NULL;
	/* A clean close checkpoints the log into the database. */
	assert_int_equal(file_size(wal), 0);
	open_ok(f);

	/* Nothing was written on reopening: no migration ran again. */
	assert_int_equal(file_size(wal), 0);
	assert_int_equal(
	    raw_int(f->db, "PRAGMA user_version"), STORAGE_SCHEMA_VERSION);

	assert_string_equal(identities(f->st),
	    "a key [admin,relay:connect] 42 " KEY_A "\n"
	    "b cert-authority [relay:connect] 1700000000 " KEY_B "\n");
	assert_int_equal(storage_config_get(f->st, "acl.listen", &text), 0);
	assert_string_equal(text, "allow *\n");
	free(text);
	assert_int_equal(storage_config_get(f->st, "acl.limits", &text), 0);
	assert_string_equal(text, "sessions 10\n");
	free(text);
	assert_next(f->st, 3, 30);
	assert_string_equal(events_from(f->st, 0),
	    "0@0:{\"seq\":0}\n1@10:{\"seq\":1}\n2@20:{\"seq\":2}\n");
}

static void
test_too_new_refused(void **state)
{
	struct fixture *f = *state;
	char            err[512] = "", want[64], sql[64], *before, *after;
	size_t          blen, alen;

	open_ok(f);
	assert_int_equal(storage_config_set(f->st, "acl.listen", "x"), 0);
	storage_close(f->st);
	f->st = NULL;

	snprintf(sql, sizeof sql, "PRAGMA user_version=%d",
	    STORAGE_SCHEMA_VERSION + 1);
	raw_exec(f->db, sql);
	before = file_read(f->db, &blen);

	assert_int_equal(
	    storage_open(f->dir, &f->st, err, sizeof err), -ENOTSUP);
	assert_null(f->st);
	assert_non_null(strstr(err, f->db));
	snprintf(want, sizeof want, "schema version %d is newer",
	    STORAGE_SCHEMA_VERSION + 1);
	assert_non_null(strstr(err, want));

	after = file_read(f->db, &alen);
	assert_int_equal(alen, blen);
	assert_memory_equal(after, before, blen);
	assert_int_equal(
	    raw_int(f->db, "PRAGMA user_version"), STORAGE_SCHEMA_VERSION + 1);
	free(before);
	free(after);
}

/* A newer database in rollback mode stays in rollback mode. */
static void
test_too_new_untouched(void **state)
{
	struct fixture *f = *state;
	char            err[512] = "", mode[16], path[128], *before, *after;
	size_t          blen, alen;
	sqlite3        *db = NULL;

	snprintf(path, sizeof path, "%s/state", f->base);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(mkdir(f->dir, 0700), 0);
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	                     "CREATE TABLE future (x);"
	                     " PRAGMA user_version=77;",
	                     NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	before = file_read(f->db, &blen);

	assert_int_equal(
	    storage_open(f->dir, &f->st, err, sizeof err), -ENOTSUP);
	assert_null(f->st);
	assert_non_null(strstr(err, "schema version 77 is newer"));

	after = file_read(f->db, &alen);
	assert_int_equal(alen, blen);
	assert_memory_equal(after, before, blen);
	raw_text(f->db, "PRAGMA journal_mode", mode, sizeof mode);
	assert_string_equal(mode, "delete");
	free(before);
	free(after);
}

static void
test_corrupt_refused(void **state)
{
	struct fixture *f = *state;
	char            err[512] = "", junk[4096], *after;
	size_t          alen;

	open_ok(f);
	storage_close(f->st);
	f->st = NULL;

	memset(junk, 'x', sizeof junk);
	file_write(f->db, junk, sizeof junk);

	assert_int_equal(storage_open(f->dir, &f->st, err, sizeof err), -EIO);
	assert_null(f->st);
	assert_non_null(strstr(err, f->db));
	assert_non_null(strstr(err, "not a database"));

	after = file_read(f->db, &alen);
	assert_int_equal(alen, sizeof junk);
	assert_memory_equal(after, junk, sizeof junk);
	free(after);
}

static void
test_dir_not_directory(void **state)
{
	struct fixture *f = *state;
	char            err[512] = "", path[PATH_MAX];

	snprintf(path, sizeof path, "%s/file", f->base);
	file_write(path, "x", 1);
	assert_int_equal(storage_open(path, &f->st, err, sizeof err), -ENOTDIR);
	assert_null(f->st);
	assert_non_null(strstr(err, path));

	snprintf(path, sizeof path, "%s/file/below", f->base);
	assert_int_equal(storage_open(path, &f->st, err, sizeof err), -ENOTDIR);
	assert_null(f->st);
}

static void
test_identities(void **state)
{
	struct fixture *f = *state;
	int             calls = 0;

	open_ok(f);
	assert_string_equal(identities(f->st), "");
	assert_int_equal(
	    add_identity(f->st, "ops", "key", KEY_A, "admin", 5), 0);
	assert_int_equal(add_identity(f->st, "ca", "cert-authority", KEY_B,
	                     "relay:connect", 6),
	    0);
	assert_int_equal(
	    add_identity(f->st, "tok", "token-key", KEY_B, NULL, 7), 0);

	/* Taken names, unknown kinds and missing parts are refused. */
	assert_int_equal(
	    add_identity(f->st, "ops", "key", KEY_B, "", 8), -EEXIST);
	assert_int_equal(
	    add_identity(f->st, "x", "password", KEY_A, "", 8), -EINVAL);
	assert_int_equal(add_identity(f->st, "", "key", KEY_A, "", 8), -EINVAL);
	assert_int_equal(add_identity(f->st, "x", "key", "", "", 8), -EINVAL);
	assert_int_equal(add_identity(f->st, "x", NULL, KEY_A, "", 8), -EINVAL);
	assert_int_equal(add_identity(f->st, long_text(STORAGE_NAME_MAX + 1),
	                     "key", KEY_A, "", 8),
	    -EINVAL);
	assert_int_equal(add_identity(f->st, "x", "key",
	                     long_text(STORAGE_KEYLINE_MAX + 1), "", 8),
	    -EINVAL);
	assert_int_equal(add_identity(f->st, "x", "key", KEY_A,
	                     long_text(STORAGE_SCOPES_MAX + 1), 8),
	    -EINVAL);
	assert_string_equal(identities(f->st),
	    "ca cert-authority [relay:connect] 6 " KEY_B "\n"
	    "ops key [admin] 5 " KEY_A "\n"
	    "tok token-key [] 7 " KEY_B "\n");

	assert_int_equal(
	    storage_identity_set_scopes(f->st, "tok", "relay:connect,admin"),
	    0);
	assert_int_equal(storage_identity_set_scopes(f->st, "ops", NULL), 0);
	assert_int_equal(
	    storage_identity_set_scopes(f->st, "nobody", "admin"), -ENOENT);
	assert_int_equal(storage_identity_set_scopes(
	                     f->st, "tok", long_text(STORAGE_SCOPES_MAX + 1)),
	    -EINVAL);
	assert_int_equal(storage_identity_remove(f->st, "ca"), 0);
	assert_int_equal(storage_identity_remove(f->st, "ca"), -ENOENT);
	assert_int_equal(storage_identity_remove(f->st, "nobody"), -ENOENT);
	assert_string_equal(identities(f->st),
	    "ops key [] 5 " KEY_A "\n"
	    "tok token-key [relay:connect,admin] 7 " KEY_B "\n");

	/* A callback's non-zero return ends the walk and is returned. */
	assert_int_equal(
	    storage_identity_each(f->st, stop_identity, &calls), 7);
	assert_int_equal(calls, 1);

	/* The name may be re-used once removed. */
	assert_int_equal(
	    add_identity(f->st, "ca", "cert-authority", KEY_A, "x", 9), 0);
	reopen(f);
	assert_string_equal(identities(f->st),
	    "ca cert-authority [x] 9 " KEY_A "\n"
	    "ops key [] 5 " KEY_A "\n"
	    "tok token-key [relay:connect,admin] 7 " KEY_B "\n");
}

static void
test_config(void **state)
{
	struct fixture *f = *state;
	const char     *odd = "allow *'; DROP TABLE config; --\n\"x\"\n";
	char           *text = NULL;

	open_ok(f);
	assert_int_equal(
	    storage_config_get(f->st, "acl.forwarding", &text), -ENOENT);
	assert_null(text);

	assert_int_equal(storage_config_set(f->st, "acl.forwarding", odd), 0);
	assert_int_equal(storage_config_get(f->st, "acl.forwarding", &text), 0);
	assert_string_equal(text, odd);
	free(text);

	assert_int_equal(
	    storage_config_set(f->st, "acl.forwarding", "deny *\n"), 0);
	assert_int_equal(storage_config_set(f->st, "acl.operations", ""), 0);
	assert_int_equal(storage_config_get(f->st, "acl.forwarding", &text), 0);
	assert_string_equal(text, "deny *\n");
	free(text);
	assert_int_equal(storage_config_get(f->st, "acl.operations", &text), 0);
	assert_string_equal(text, "");
	free(text);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM config"), 2);

	assert_int_equal(storage_config_set(f->st, "", "x"), -EINVAL);
	assert_int_equal(storage_config_set(f->st, "k", NULL), -EINVAL);
	assert_int_equal(
	    storage_config_set(f->st, long_text(STORAGE_NAME_MAX + 1), "x"),
	    -EINVAL);
	assert_int_equal(
	    storage_config_set(f->st, "k", long_text(STORAGE_TEXT_MAX + 1)),
	    -EMSGSIZE);
	assert_int_equal(
	    storage_config_set(f->st, "k", long_text(STORAGE_TEXT_MAX)), 0);
	assert_int_equal(storage_config_get(f->st, "k", &text), 0);
	assert_int_equal(strlen(text), STORAGE_TEXT_MAX);
	free(text);

	assert_int_equal(storage_config_unset(f->st, "acl.operations"), 0);
	assert_int_equal(
	    storage_config_unset(f->st, "acl.operations"), -ENOENT);
	text = NULL;
	assert_int_equal(
	    storage_config_get(f->st, "acl.operations", &text), -ENOENT);
	assert_null(text);
}

static void
test_tx_rollback(void **state)
{
	struct fixture *f = *state;
	uint64_t        off = 0;

	open_ok(f);
	assert_int_equal(storage_commit(f->st), -EINVAL);
	put_events(f->st, 0, 1, &off);

	/* Beginning writes the queued event first, in its own commit. */
	assert_int_equal(storage_begin(f->st), 0);
	assert_int_equal(storage_begin(f->st), -EBUSY);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), 1);
	assert_int_equal(add_identity(f->st, "a", "key", KEY_A, "", 1), 0);
	assert_int_equal(storage_config_set(f->st, "acl.listen", "x"), 0);
	put_events(f->st, 1, 1, &off);
	assert_next(f->st, 2, 20);
	storage_rollback(f->st);

	assert_string_equal(identities(f->st), "");
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM config"), 0);
	assert_string_equal(events_from(f->st, 0), "0@0:{\"seq\":0}\n");
	assert_next(f->st, 1, 10);

	/* The bus moved on meanwhile; a gap is allowed. */
	put_events(f->st, 2, 1, &off);
	assert_int_equal(storage_flush(f->st), 0);
	reopen(f);
	assert_string_equal(identities(f->st), "");
	assert_string_equal(
	    events_from(f->st, 0), "0@0:{\"seq\":0}\n2@20:{\"seq\":2}\n");
	assert_next(f->st, 3, 30);
}

static void
test_tx_commit(void **state)
{
	struct fixture *f = *state;
	uint64_t        off = 0;

	open_ok(f);
	assert_int_equal(storage_begin(f->st), 0);
	assert_int_equal(add_identity(f->st, "a", "key", KEY_A, "admin", 1), 0);
	put_events(f->st, 0, 1, &off);

	/* A refused change leaves the rest of the transaction in place. */
	assert_int_equal(
	    add_identity(f->st, "a", "key", KEY_B, "", 2), -EEXIST);

	/* Another connection sees nothing before the commit... */
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM identities"), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), 0);
	assert_int_equal(storage_commit(f->st), 0);
	assert_int_equal(storage_commit(f->st), -EINVAL);

	/* ...and both after it, with no flush. */
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM identities"), 1);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), 1);

	reopen(f);
	assert_string_equal(identities(f->st), "a key [admin] 1 " KEY_A "\n");
	assert_string_equal(events_from(f->st, 0), "0@0:{\"seq\":0}\n");
	assert_next(f->st, 1, 10);
}

static void
test_events_queue(void **state)
{
	struct fixture *f = *state;
	uint64_t        off = 0;
	char            buf[64];

	open_ok(f);
	put_events(f->st, 0, 5, &off);
	assert_int_equal(off, 50);

	/* Queued: readable here, not yet in the file. */
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), 0);
	assert_next(f->st, 5, 50);
	assert_string_equal(
	    events_from(f->st, 33), "3@30:{\"seq\":3}\n4@40:{\"seq\":4}\n");

	assert_int_equal(storage_flush(f->st), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), 5);
	raw_text(f->db,
	    "SELECT group_concat(seq) FROM (SELECT seq FROM events"
	    " ORDER BY offset)",
	    buf, sizeof buf);
	assert_string_equal(buf, "0,1,2,3,4");
	assert_string_equal(events_from(f->st, 0),
	    "0@0:{\"seq\":0}\n1@10:{\"seq\":1}\n2@20:{\"seq\":2}\n"
	    "3@30:{\"seq\":3}\n4@40:{\"seq\":4}\n");

	/* From a line's start, from inside it, and from the end. */
	assert_string_equal(events_from(f->st, 20),
	    "2@20:{\"seq\":2}\n3@30:{\"seq\":3}\n4@40:{\"seq\":4}\n");
	assert_string_equal(events_from(f->st, 25),
	    "2@20:{\"seq\":2}\n3@30:{\"seq\":3}\n4@40:{\"seq\":4}\n");
	assert_string_equal(events_from(f->st, 49), "4@40:{\"seq\":4}\n");
	assert_string_equal(events_from(f->st, 50), "");

	/* Numbering never goes back. */
	assert_int_equal(storage_event_put(f->st, 4, 50, "x\n", 2), -EINVAL);
	assert_int_equal(storage_event_put(f->st, 5, 49, "x\n", 2), -EINVAL);
	assert_int_equal(storage_event_put(f->st, 5, 50, "x\n", 0), -EINVAL);
	assert_int_equal(storage_event_put(f->st, 5, 50, NULL, 2), -EINVAL);
	assert_int_equal(
	    storage_event_put(f->st, 5, 50, "x\n", STORAGE_EVENT_LINE_MAX + 1),
	    -EMSGSIZE);
	assert_next(f->st, 5, 50);

	/* A gap in the offsets reads from the next line on. */
	assert_int_equal(storage_event_put(f->st, 9, 100, "late\n", 5), 0);
	reopen(f);
	assert_next(f->st, 10, 105);
	assert_string_equal(events_from(f->st, 60), "9@100:late\n");
}

static void
test_events_many(void **state)
{
	struct fixture *f = *state;
	uint64_t        off = 0, next = 0;

	/* More than one batch: a full queue is written without a flush. */
	open_ok(f);
	put_events(f->st, 0, 3000, &off);
	assert_true(raw_int(f->db, "SELECT count(*) FROM events") > 0);
	assert_int_equal(storage_event_each(f->st, 0, count_event, &next), 0);
	assert_int_equal(next, 3000);

	assert_int_equal(storage_flush(f->st), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), 3000);
	reopen(f);
	next = 0;
	assert_int_equal(storage_event_each(f->st, 0, count_event, &next), 0);
	assert_int_equal(next, 3000);
	assert_next(f->st, 3000, off);
}

static void
test_prune_rows(void **state)
{
	struct fixture *f = *state;
	uint64_t        off = 0, next = 15;

	open_ok(f);
	assert_int_equal(storage_event_retain(f->st, 0, 100), -EINVAL);
	assert_int_equal(storage_event_retain(f->st, 10, 1 << 20), 0);
	put_events(f->st, 0, 25, &off);
	assert_int_equal(storage_flush(f->st), 0);

	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), 10);
	assert_int_equal(raw_int(f->db, "SELECT min(seq) FROM events"), 15);
	assert_int_equal(storage_event_each(f->st, 0, count_event, &next), 0);
	assert_int_equal(next, 25);
	assert_next(f->st, 25, off);

	/* Numbering continues past the pruned rows after a restart. */
	reopen(f);
	assert_next(f->st, 25, off);
	assert_int_equal(storage_event_retain(f->st, 10, 1 << 20), 0);
	put_events(f->st, 25, 5, &off);
	assert_int_equal(storage_flush(f->st), 0);
	assert_int_equal(raw_int(f->db, "SELECT min(seq) FROM events"), 20);
	assert_int_equal(raw_int(f->db, "SELECT max(seq) FROM events"), 29);
}

static void
test_prune_bytes(void **state)
{
	struct fixture *f = *state;
	uint64_t        off = 0, next = 1;

	/* Lines of 10 bytes: 95 bytes hold 9 of them. */
	open_ok(f);
	assert_int_equal(storage_event_retain(f->st, 1000, 95), 0);
	put_events(f->st, 0, 10, &off);
	assert_int_equal(storage_flush(f->st), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), 9);
	assert_int_equal(raw_int(f->db, "SELECT min(seq) FROM events"), 1);
	assert_int_equal(storage_event_each(f->st, 0, count_event, &next), 0);
	assert_int_equal(next, 10);

	/* A bound below one line keeps the newest line, also in a flush that
	 * has nothing queued. */
	assert_int_equal(storage_event_retain(f->st, 1000, 1), 0);
	assert_int_equal(storage_flush(f->st), 0);
	assert_string_equal(events_from(f->st, 0), "9@90:{\"seq\":9}\n");
	assert_next(f->st, 10, 100);

	reopen(f);
	assert_string_equal(events_from(f->st, 0), "9@90:{\"seq\":9}\n");
	assert_next(f->st, 10, 100);
}

static void
test_prune_default(void **state)
{
	struct fixture *f = *state;
	uint64_t        off = 0;

	open_ok(f);
	put_events(f->st, 0, STORAGE_EVENTS_ROWS + 7, &off);
	assert_int_equal(storage_flush(f->st), 0);
	assert_int_equal(
	    raw_int(f->db, "SELECT count(*) FROM events"), STORAGE_EVENTS_ROWS);
	assert_int_equal(raw_int(f->db, "SELECT min(seq) FROM events"), 7);
	assert_next(f->st, STORAGE_EVENTS_ROWS + 7, off);
}

/* Reads one acknowledgement; 0 at the end of the pipe. */
static int
read_ack(int fd, int *i)
{
	size_t  got = 0;
	ssize_t n;

	while (got < sizeof *i) {
		n = read(fd, (char *)i + got, sizeof *i - got);
		if (n == 0)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		assert_true(n > 0);
		got += (size_t)n;
	}
	return 1;
}

/* The child: one durable write after another, each acknowledged. */
static void
kill_child(const char *dir, int fd, int config)
{
	struct storage *st = NULL;
	char            name[32], value[32];
	int             i, rc;

	if (storage_open(dir, &st, NULL, 0) != 0)
		_exit(2);
	for (i = 0; i < KILL_TOTAL; i++) {
		snprintf(name, sizeof name, "n%04d", i);
		snprintf(value, sizeof value, "v%04d", i);
		if (config)
			rc = storage_config_set(st, name, value);
		else
			rc = add_identity(st, name, "key", KEY_A, value, i);
		if (rc != 0 || write(fd, &i, sizeof i) != sizeof i)
			_exit(3);
	}
	_exit(0);
}

/* Forks the child, kills it partway; returns how many it acknowledged. */
static int
kill_run(struct fixture *f, int config)
{
	int   fds[2], i, acked = 0, status;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	assert_true((pid = fork()) >= 0);
	if (pid == 0) {
		close(fds[0]);
		kill_child(f->dir, fds[1], config);
	}
	close(fds[1]);

	while (read_ack(fds[0], &i)) {
		assert_int_equal(i, acked);
		if (++acked == KILL_AFTER)
			assert_int_equal(kill(pid, SIGKILL), 0);
	}
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	assert_true(acked >= KILL_AFTER && acked < KILL_TOTAL);
	return acked;
}

static void
test_kill_identities(void **state)
{
	struct fixture *f = *state;
	char            buf[64];
	int             acked, count, n = 0;

	acked = kill_run(f, 0);

	raw_text(f->db, "PRAGMA integrity_check", buf, sizeof buf);
	assert_string_equal(buf, "ok");
	open_ok(f);
	count = (int)raw_int(f->db, "SELECT count(*) FROM identities");
	/* One more may have committed without its acknowledgement. */
	assert_true(count == acked || count == acked + 1);

	/* Exactly n0000, n0001, ... in order, nothing missing. */
	assert_int_equal(storage_identity_each(f->st, count_identity, &n), 0);
	assert_int_equal(n, count);
}

static void
test_kill_config(void **state)
{
	struct fixture *f = *state;
	char            buf[64], name[32], want[32], *text;
	int             acked, i;

	acked = kill_run(f, 1);

	raw_text(f->db, "PRAGMA integrity_check", buf, sizeof buf);
	assert_string_equal(buf, "ok");
	open_ok(f);
	for (i = 0; i < acked; i++) {
		snprintf(name, sizeof name, "n%04d", i);
		snprintf(want, sizeof want, "v%04d", i);
		text = NULL;
		assert_int_equal(storage_config_get(f->st, name, &text), 0);
		assert_string_equal(text, want);
		free(text);
	}
	i = (int)raw_int(f->db, "SELECT count(*) FROM config");
	assert_true(i == acked || i == acked + 1);
}

static void
test_close_null(void **state)
{
	storage_close(NULL);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_open_fresh),
	    T(test_reopen_persists),
	    T(test_too_new_refused),
	    T(test_too_new_untouched),
	    T(test_corrupt_refused),
	    T(test_dir_not_directory),
	    T(test_identities),
	    T(test_config),
	    T(test_tx_rollback),
	    T(test_tx_commit),
	    T(test_events_queue),
	    T(test_events_many),
	    T(test_prune_rows),
	    T(test_prune_bytes),
	    T(test_prune_default),
	    T(test_kill_identities),
	    T(test_kill_config),
	    T(test_close_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
