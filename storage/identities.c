/*
 * Identities and credentials added at run time: keys, certificate
 * authorities and token keys, each with its scopes.  Only public
 * material is stored here.
 *
 * XXX: the number of identities is bounded by whoever adds them, not here.
 */
#include <errno.h>
#include <string.h>

#include "storage_int.h"

static const char *const storage_kinds[] = {
    "key",
    "cert-authority",
    "token-key",
};

static int
storage_kind_ok(const char *kind)
{
	size_t i;

	for (i = 0; i < sizeof storage_kinds / sizeof *storage_kinds; i++) {
		if (strcmp(kind, storage_kinds[i]) == 0)
			return 1;
	}
	return 0;
}

/* A present string of 1 to max bytes. */
static int
storage_text_ok(const char *s, size_t max)
{
	return s != NULL && *s != '\0' && strnlen(s, max + 1) <= max;
}

static int
storage_scopes_ok(const char *scopes)
{
	size_t max = STORAGE_SCOPES_MAX;

	return scopes == NULL || strnlen(scopes, max + 1) <= max;
}

static int
storage_identity_ok(const struct storage_identity *id)
{
	return storage_text_ok(id->name, STORAGE_NAME_MAX) &&
	    id->kind != NULL && storage_kind_ok(id->kind) &&
	    storage_text_ok(id->keyline, STORAGE_KEYLINE_MAX) &&
	    storage_scopes_ok(id->scopes);
}

int
storage_identity_add(struct storage *st, const struct storage_identity *id)
{
	sqlite3_stmt *s;
	int           rc;

	if (!storage_identity_ok(id))
		return -EINVAL;
	if ((rc = storage__durable(st)) != 0)
		return rc;

	s = storage__stmt(st, STMT_IDENTITY_ADD,
	    "INSERT INTO identities (name, kind, keyline, scopes, created)"
	    " VALUES (?1, ?2, ?3, ?4, ?5)");
	if (s == NULL)
		return -EIO;
	if (!storage__bind_text(s, 1, id->name) ||
	    !storage__bind_text(s, 2, id->kind) ||
	    !storage__bind_text(s, 3, id->keyline) ||
	    !storage__bind_text(s, 4, id->scopes != NULL ? id->scopes : "") ||
	    sqlite3_bind_int64(s, 5, id->created) != SQLITE_OK)
		return storage__fail(st, sqlite3_errcode(st->db));

	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		rc = -EEXIST;
	else
		rc = storage__fail(st, rc);
	sqlite3_reset(s);
	return rc;
}

/* Runs a statement bound to name; -ENOENT when it changed no row. */
static int
storage_identity_change(struct storage *st, sqlite3_stmt *s)
{
	int rc;

	if ((rc = storage__exec(st, s)) != 0)
		return rc;
	return sqlite3_changes(st->db) > 0 ? 0 : -ENOENT;
}

int
storage_identity_remove(struct storage *st, const char *name)
{
	sqlite3_stmt *s;
	int           rc;

	if (name == NULL)
		return -EINVAL;
	if ((rc = storage__durable(st)) != 0)
		return rc;

	s = storage__stmt(
	    st, STMT_IDENTITY_REMOVE, "DELETE FROM identities WHERE name = ?1");
	if (s == NULL)
		return -EIO;
	if (!storage__bind_text(s, 1, name))
		return storage__fail(st, sqlite3_errcode(st->db));
	return storage_identity_change(st, s);
}

int
storage_identity_set_scopes(
    struct storage *st, const char *name, const char *scopes)
{
	sqlite3_stmt *s;
	int           rc;

	if (name == NULL || !storage_scopes_ok(scopes))
		return -EINVAL;
	if ((rc = storage__durable(st)) != 0)
		return rc;

	s = storage__stmt(st, STMT_IDENTITY_SCOPES,
	    "UPDATE identities SET scopes = ?2 WHERE name = ?1");
	if (s == NULL)
		return -EIO;
	if (!storage__bind_text(s, 1, name) ||
	    !storage__bind_text(s, 2, scopes != NULL ? scopes : ""))
		return storage__fail(st, sqlite3_errcode(st->db));
	return storage_identity_change(st, s);
}

int
storage_identity_each(struct storage *st,
    int (*cb)(const struct storage_identity *id, void *arg), void *arg)
{
	struct storage_identity id;
	sqlite3_stmt           *s;
	int                     rc = SQLITE_DONE, stop = 0;

	s = storage__stmt(st, STMT_IDENTITY_EACH,
	    "SELECT name, kind, keyline, scopes, created FROM identities"
	    " ORDER BY name");
	if (s == NULL)
		return -EIO;

	while (stop == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		id.name = (const char *)sqlite3_column_text(s, 0);
		id.kind = (const char *)sqlite3_column_text(s, 1);
		id.keyline = (const char *)sqlite3_column_text(s, 2);
		id.scopes = (const char *)sqlite3_column_text(s, 3);
		id.created = sqlite3_column_int64(s, 4);
		/* NULL here means sqlite ran out of memory. */
		if (id.name == NULL || id.kind == NULL || id.keyline == NULL ||
		    id.scopes == NULL)
			stop = -ENOMEM;
		else
			stop = cb(&id, arg);
	}
	if (stop == 0 && rc != SQLITE_DONE)
		stop = storage__fail(st, rc);
	sqlite3_reset(s);
	return stop;
}
