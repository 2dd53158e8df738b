/*
 * Dynamic configuration: named texts such as "acl.forwarding" or
 * "acl.limits", stored as the operator wrote them.  Parsing them is the
 * business of whoever reads them.
 */
#include <errno.h>
#include <string.h>

#include "storage_int.h"

int
storage_config_set(struct storage *st, const char *key, const char *text)
{
	sqlite3_stmt *s;
	int           rc;

	if (key == NULL || *key == '\0' || text == NULL ||
	    strnlen(key, STORAGE_NAME_MAX + 1) > STORAGE_NAME_MAX)
		return -EINVAL;
	if (strnlen(text, STORAGE_TEXT_MAX + 1) > STORAGE_TEXT_MAX)
		return -EMSGSIZE;
	if ((rc = storage__durable(st)) != 0)
		return rc;

	s = storage__stmt(st, STMT_CONFIG_SET,
	    "INSERT INTO config (key, value) VALUES (?1, ?2)"
	    " ON CONFLICT (key) DO UPDATE SET value = excluded.value");
	if (s == NULL)
		return -EIO;
	if (!storage__bind_text(s, 1, key) || !storage__bind_text(s, 2, text))
		return storage__fail(st, sqlite3_errcode(st->db));
	return storage__exec(st, s);
}

int
storage_config_get(struct storage *st, const char *key, char **text)
{
	sqlite3_stmt *s;
	const char   *value;
	int           rc;

	if (key == NULL)
		return -EINVAL;
	s = storage__stmt(
	    st, STMT_CONFIG_GET, "SELECT value FROM config WHERE key = ?1");
	if (s == NULL)
		return -EIO;
	if (!storage__bind_text(s, 1, key))
		return storage__fail(st, sqlite3_errcode(st->db));

	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		value = (const char *)sqlite3_column_text(s, 0);
		rc = value != NULL && (*text = strdup(value)) != NULL ? 0
		                                                      : -ENOMEM;
	} else if (rc == SQLITE_DONE) {
		rc = -ENOENT;
	} else {
		rc = storage__fail(st, rc);
	}
	sqlite3_reset(s);
	return rc;
}

int
storage_config_unset(struct storage *st, const char *key)
{
	sqlite3_stmt *s;
	int           rc;

	if (key == NULL)
		return -EINVAL;
	if ((rc = storage__durable(st)) != 0)
		return rc;

	s = storage__stmt(
	    st, STMT_CONFIG_UNSET, "DELETE FROM config WHERE key = ?1");
	if (s == NULL)
		return -EIO;
	if (!storage__bind_text(s, 1, key))
		return storage__fail(st, sqlite3_errcode(st->db));
	if ((rc = storage__exec(st, s)) != 0)
		return rc;
	return sqlite3_changes(st->db) > 0 ? 0 : -ENOENT;
}
