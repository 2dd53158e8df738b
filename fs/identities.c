/*
 * Identities added at run time.  The stored set is immutable like every
 * set of authkeys: a change builds the next stored set and the merged set
 * the server will use, then stores the row and its event in one
 * transaction, and only once that commits puts both in force.  So a
 * change that cannot be stored leaves memory as it was.
 *
 * Drafts hold what lives only in the namespace: pending identities and
 * the reason the last write to an identity was refused.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "authkeys.h"
#include "events.h"
#include "identities.h"
#include "sshd.h"
#include "storage.h"

#define IDENTITIES_DEFAULT_KIND   "key"
#define IDENTITIES_DEFAULT_SCOPES "relay:connect"
#define IDENTITIES_ERR_MAX        256
#define IDENTITIES_NAME_MAX       65 /* the longest stored name, NUL */

struct identities_draft {
	char name[IDENTITIES_NAME_MAX];
	char kind[16];
	char scopes[256];
	char error[IDENTITIES_ERR_MAX];
	int  pending; /* else it only remembers an error */
};

struct identities {
	struct sshd            *sshd;
	struct storage         *st; /* NULL: not kept */
	struct identities_draft drafts[IDENTITIES_PENDING_MAX];
	size_t                  n;
};

enum identities_op { IDENTITIES_ADD, IDENTITIES_SCOPES, IDENTITIES_REMOVE };

static const char *const identities_events[] = {
    [IDENTITIES_ADD] = "identity.added",
    [IDENTITIES_SCOPES] = "identity.changed",
    [IDENTITIES_REMOVE] = "identity.removed",
};

static int __attribute__((format(printf, 4, 5)))
identities_fail(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

/* The row of a stored identity from its entry; strings from ai. */
static void
identities_row(const char *name, const struct authkey_info *ai,
    struct storage_identity *row)
{
	row->name = name;
	row->kind = ai->kind;
	row->keyline = ai->line;
	row->scopes = ai->scopes;
	row->created = (int64_t)time(NULL);
}

/* Accumulates the stored identities read at start-up into *acc. */
struct identities_loading {
	struct authkeys *acc;
	char            *err;
	size_t           errlen;
};

static int
identities_load_one(const struct storage_identity *id, void *arg)
{
	struct identities_loading *l = arg;
	struct authkey_spec        spec = {
	           id->name, id->kind, id->keyline, id->scopes};
	struct authkeys *one = NULL, *next = NULL;
	char             why[IDENTITIES_ERR_MAX];
	int              rc;

	if ((rc = authkeys_stored(&spec, &one, why, sizeof why)) != 0) {
		snprintf(l->err, l->errlen, "stored identity %s: %s", id->name,
		    rc == -EINVAL ? why : strerror(-rc));
		return rc;
	}
	rc = authkeys_merge(l->acc, one, &next);
	authkeys_free(one);
	if (rc != 0) {
		snprintf(
		    l->err, l->errlen, "stored identities: %s", strerror(-rc));
		return rc;
	}
	authkeys_free(l->acc);
	l->acc = next;
	return 0;
}

int
identities_load(struct storage *st, struct sshd *sshd, char *err, size_t errlen)
{
	struct identities_loading l = {NULL, err, errlen};
	struct authkeys          *merged = NULL;
	int                       rc;

	if (st == NULL || sshd == NULL)
		return 0;
	err[0] = '\0';
	rc = storage_identity_each(st, identities_load_one, &l);
	if (rc != 0 && err[0] == '\0')
		snprintf(err, errlen, "cannot read identities: %s",
		    storage_errmsg(st));
	if (rc == 0 && l.acc != NULL &&
	    (rc = sshd_merge_stored(sshd, l.acc, &merged)) != 0)
		snprintf(err, errlen, "stored identities: %s", strerror(-rc));
	if (rc != 0) {
		authkeys_free(l.acc);
		return rc;
	}
	if (l.acc != NULL)
		sshd_put_stored(sshd, l.acc, merged);
	return 0;
}

int
identities_new(struct sshd *sshd, struct storage *st, struct identities **out)
{
	struct identities *ids;

	if ((ids = calloc(1, sizeof *ids)) == NULL)
		return -ENOMEM;
	ids->sshd = sshd;
	ids->st = st;
	*out = ids;
	return 0;
}

void
identities_free(struct identities *ids)
{
	free(ids);
}

static struct identities_draft *
identities_draft(struct identities *ids, const char *name)
{
	size_t i;

	for (i = 0; i < ids->n; i++) {
		if (strcmp(ids->drafts[i].name, name) == 0)
			return &ids->drafts[i];
	}
	return NULL;
}

static struct identities_draft *
identities_pending_draft(struct identities *ids, const char *name)
{
	struct identities_draft *d = identities_draft(ids, name);

	return d != NULL && d->pending ? d : NULL;
}

static void
identities_drop(struct identities *ids, struct identities_draft *d)
{
	size_t i = (size_t)(d - ids->drafts);

	memmove(d, d + 1, (ids->n - i - 1) * sizeof *d);
	ids->n--;
}

static void
identities_forget(struct identities *ids, const char *name)
{
	struct identities_draft *d = identities_draft(ids, name);

	if (d != NULL)
		identities_drop(ids, d);
}

/*
 * A draft for name, new and zeroed if there is none.  When all are taken
 * a remembered error gives way to a pending identity, never the reverse.
 */
static struct identities_draft *
identities_draft_for(struct identities *ids, const char *name, int pending)
{
	struct identities_draft *d = identities_draft(ids, name);
	size_t                   i;

	if (d != NULL)
		return d;
	for (i = 0; ids->n == IDENTITIES_PENDING_MAX && pending && i < ids->n;
	     i++) {
		if (!ids->drafts[i].pending) {
			identities_drop(ids, &ids->drafts[i]);
			break;
		}
	}
	if (ids->n == IDENTITIES_PENDING_MAX)
		return NULL;
	d = &ids->drafts[ids->n++];
	memset(d, 0, sizeof *d);
	snprintf(d->name, sizeof d->name, "%s", name);
	return d;
}

/* Keeps why a write to name was refused for its error file. */
static int
identities_note(
    struct identities *ids, const char *name, int rc, const char *why)
{
	struct identities_draft *d = identities_draft_for(ids, name, 0);

	/* XXX: with every draft pending, the reason is not kept. */
	if (d != NULL)
		snprintf(d->error, sizeof d->error, "%s",
		    why[0] != '\0' ? why : strerror(-rc));
	return rc;
}

/* Stores the row and announces it: both or neither. */
static int
identities_store(struct storage *st, enum identities_op op,
    const struct storage_identity *row, json_t *fields)
{
	int rc;

	if (st == NULL) {
		events_emit(identities_events[op], fields);
		return 0;
	}
	if ((rc = storage_begin(st)) != 0)
		goto out;
	if (op == IDENTITIES_ADD)
		rc = storage_identity_add(st, row);
	else if (op == IDENTITIES_SCOPES)
		rc = storage_identity_set_scopes(st, row->name, row->scopes);
	else
		rc = storage_identity_remove(st, row->name);
	if (rc == 0) {
		/* XXX: a commit that fails leaves the event on the bus. */
		events_emit(identities_events[op], fields);
		fields = NULL;
		rc = storage_commit(st);
	}
out:
	if (rc != 0)
		storage_rollback(st);
	json_decref(fields);
	return rc;
}

/*
 * Stores the change of row and puts stored in force; takes stored.  The
 * event names the identity and its fingerprint, never its key.
 */
static int
identities_commit(struct identities *ids, enum identities_op op,
    const struct storage_identity *row, const char *id, struct authkeys *stored,
    char *err, size_t errlen)
{
	struct authkeys *merged = NULL;
	json_t          *fields;
	int              rc;

	if ((rc = sshd_merge_stored(ids->sshd, stored, &merged)) != 0) {
		authkeys_free(stored);
		return identities_fail(rc, err, errlen, "%s", strerror(-rc));
	}
	fields = json_pack(
	    "{s:s,s:s,s:s}", "name", row->name, "id", id, "kind", row->kind);
	if (fields != NULL && op == IDENTITIES_SCOPES)
		json_object_set_new(fields, "scopes", json_string(row->scopes));

	if ((rc = identities_store(ids->st, op, row, fields)) != 0) {
		authkeys_free(stored);
		authkeys_free(merged);
		snprintf(err, errlen, "cannot store the identity: %s",
		    storage_errmsg(ids->st)[0] != '\0' ? storage_errmsg(ids->st)
		                                       : strerror(-rc));
		return rc;
	}
	sshd_put_stored(ids->sshd, stored, merged);
	return 0;
}

/* Whether one's name and key are new among the identities in force. */
static int
identities_unique(struct identities *ids, const struct authkeys *one,
    int pending_ok, char *err, size_t errlen)
{
	const struct authkeys *ak = sshd_authkeys(ids->sshd);
	struct authkey_info    ai, other;
	int                    i;

	authkeys_get(one, 0, &ai);
	if (authkeys_find_name(ak, ai.name) >= 0 ||
	    (!pending_ok && identities_pending_draft(ids, ai.name) != NULL))
		return identities_fail(-EEXIST, err, errlen,
		    "an identity named %s exists", ai.name);
	if ((i = authkeys_find_key(ak, ai.blob, ai.blob_len)) >= 0) {
		authkeys_get(ak, (size_t)i, &other);
		return identities_fail(-EEXIST, err, errlen,
		    "the key is identity %s already", other.name);
	}
	return 0;
}

static int
identities_add_spec(struct identities *ids, const struct authkey_spec *spec,
    int pending_ok, char *err, size_t errlen)
{
	struct storage_identity row;
	struct authkey_info     ai;
	struct authkeys        *one = NULL, *stored = NULL;
	int                     rc;

	if (ids->sshd == NULL)
		return identities_fail(-ENOTSUP, err, errlen, "%s",
		    "this node runs no SSH server");
	if ((rc = authkeys_stored(spec, &one, err, errlen)) != 0)
		return rc;

	if ((rc = identities_unique(ids, one, pending_ok, err, errlen)) != 0)
		goto out;
	rc = authkeys_merge(sshd_stored(ids->sshd), one, &stored);
	if (rc != 0) {
		identities_fail(rc, err, errlen, "%s", strerror(-rc));
		goto out;
	}

	authkeys_get(one, 0, &ai);
	identities_row(spec->name, &ai, &row);
	rc = identities_commit(
	    ids, IDENTITIES_ADD, &row, ai.id, stored, err, errlen);
out:
	authkeys_free(one);
	return rc;
}

int
identities_add(struct identities *ids, const struct authkey_spec *spec,
    char *err, size_t errlen)
{
	return identities_add_spec(ids, spec, 0, err, errlen);
}

/* The stored or file identity name into *ai; its index or -ENOENT. */
static int
identities_find(
    struct identities *ids, const char *name, struct authkey_info *ai)
{
	const struct authkeys *ak;
	int                    i;

	if (ids->sshd == NULL)
		return -ENOENT;
	ak = sshd_authkeys(ids->sshd);
	if ((i = authkeys_find_name(ak, name)) < 0)
		return -ENOENT;
	authkeys_get(ak, (size_t)i, ai);
	return i;
}

/* A stored identity's entry, or why name has none that may change. */
static int
identities_find_stored(struct identities *ids, const char *name,
    struct authkey_info *ai, char *err, size_t errlen)
{
	if (identities_find(ids, name, ai) < 0)
		return identities_fail(
		    -ENOENT, err, errlen, "no identity named %.64s", name);
	if (strcmp(ai->source, "store") != 0)
		return identities_fail(-EPERM, err, errlen,
		    "%s comes from the authorized_keys file: change it there",
		    name);
	return 0;
}

static int
identities_remove_stored(
    struct identities *ids, const char *name, char *err, size_t errlen)
{
	struct storage_identity row;
	struct authkey_info     ai;
	struct authkeys        *stored = NULL;
	int                     rc;

	if ((rc = identities_find_stored(ids, name, &ai, err, errlen)) != 0)
		return rc;
	if ((rc = authkeys_drop(sshd_stored(ids->sshd), name, &stored)) != 0)
		return identities_fail(rc, err, errlen, "%s", strerror(-rc));

	identities_row(name, &ai, &row);
	return identities_commit(
	    ids, IDENTITIES_REMOVE, &row, ai.id, stored, err, errlen);
}

int
identities_remove(
    struct identities *ids, const char *name, char *err, size_t errlen)
{
	struct identities_draft *d = identities_pending_draft(ids, name);
	int                      rc;

	/* A pending identity was never stored nor announced. */
	if (d != NULL) {
		identities_drop(ids, d);
		return 0;
	}
	if ((rc = identities_remove_stored(ids, name, err, errlen)) == 0)
		identities_forget(ids, name);
	return rc;
}

static int
identities_set_scopes(struct identities *ids, const char *name,
    const char *scopes, char *err, size_t errlen)
{
	struct storage_identity row;
	struct authkey_info     ai, now;
	struct authkey_spec     spec;
	struct authkeys        *one = NULL, *rest = NULL, *stored = NULL;
	int                     rc;

	if ((rc = identities_find_stored(ids, name, &ai, err, errlen)) != 0)
		return rc;
	spec = (struct authkey_spec){name, ai.kind, ai.line, scopes};
	if ((rc = authkeys_stored(&spec, &one, err, errlen)) != 0)
		return rc;

	if ((rc = authkeys_drop(sshd_stored(ids->sshd), name, &rest)) != 0 ||
	    (rc = authkeys_merge(rest, one, &stored)) != 0) {
		identities_fail(rc, err, errlen, "%s", strerror(-rc));
		goto out;
	}
	authkeys_get(one, 0, &now);
	identities_row(name, &now, &row);
	rc = identities_commit(
	    ids, IDENTITIES_SCOPES, &row, now.id, stored, err, errlen);
out:
	authkeys_free(rest);
	authkeys_free(one);
	return rc;
}

int
identities_make(struct identities *ids, const char *name)
{
	struct identities_draft *d;
	struct authkey_info      ai;

	if (ids->sshd == NULL)
		return -ENOTSUP;
	if (!authkeys_name_valid(name))
		return -EINVAL;
	if (identities_find(ids, name, &ai) >= 0 ||
	    identities_pending_draft(ids, name) != NULL)
		return -EEXIST;
	if ((d = identities_draft_for(ids, name, 1)) == NULL)
		return -ENOSPC;

	d->pending = 1;
	d->error[0] = '\0';
	snprintf(d->kind, sizeof d->kind, "%s", IDENTITIES_DEFAULT_KIND);
	snprintf(d->scopes, sizeof d->scopes, "%s", IDENTITIES_DEFAULT_SCOPES);
	return 0;
}

static int
identities_kind_valid(const char *kind)
{
	return strcmp(kind, "key") == 0 ||
	    strcmp(kind, "cert-authority") == 0 ||
	    strcmp(kind, "token-key") == 0;
}

/* A write to a pending identity: its key stores it. */
static int
identities_set_pending(struct identities *ids, struct identities_draft *d,
    const char *field, const char *value, char *err, size_t errlen)
{
	struct authkey_spec spec = {d->name, d->kind, value, d->scopes};
	int                 rc;

	if (strcmp(field, "kind") == 0 && !identities_kind_valid(value))
		return identities_fail(-EINVAL, err, errlen, "%s",
		    "kind is key, cert-authority or token-key");
	if (strcmp(field, "kind") == 0) {
		snprintf(d->kind, sizeof d->kind, "%s", value);
		return 0;
	}
	if (strcmp(field, "scopes") == 0 && !authkeys_scopes_valid(value))
		return identities_fail(-EINVAL, err, errlen, "%s",
		    "scopes are words of letters, digits and ':._*-' "
		    "separated by commas, 255 bytes at most");
	if (strcmp(field, "scopes") == 0) {
		snprintf(d->scopes, sizeof d->scopes, "%s", value);
		return 0;
	}

	if ((rc = identities_add_spec(ids, &spec, 1, err, errlen)) == 0)
		identities_drop(ids, d);
	return rc;
}

int
identities_set(struct identities *ids, const char *name, const char *field,
    const char *value)
{
	struct identities_draft *d = identities_pending_draft(ids, name);
	struct authkey_info      ai;
	char                     err[IDENTITIES_ERR_MAX] = "";
	int                      rc;

	if (d != NULL)
		rc = identities_set_pending(
		    ids, d, field, value, err, sizeof err);
	else if (identities_find(ids, name, &ai) < 0)
		return -ENOENT;
	else if (strcmp(field, "scopes") == 0)
		rc = identities_set_scopes(ids, name, value, err, sizeof err);
	else if (strcmp(ai.source, "store") == 0)
		rc = identities_fail(-EBUSY, err, sizeof err,
		    "the %s of a stored identity stays: remove it and add "
		    "it again",
		    field);
	else
		rc = identities_fail(-EPERM, err, sizeof err,
		    "%s comes from the authorized_keys file: change it there",
		    name);

	if (rc != 0)
		return identities_note(ids, name, rc, err);
	if ((d = identities_draft(ids, name)) != NULL)
		d->error[0] = '\0';
	return 0;
}

int
identities_get(
    struct identities *ids, const char *name, struct identities_info *info)
{
	struct identities_draft *d;
	struct authkey_info      ai;

	if (ids == NULL)
		return -ENOENT;
	d = identities_draft(ids, name);
	if (d != NULL && d->pending) {
		*info = (struct identities_info){
		    "", "", d->kind, d->scopes, "pending", d->error};
		return 0;
	}
	if (identities_find(ids, name, &ai) < 0)
		return -ENOENT;
	*info = (struct identities_info){ai.id, ai.line, ai.kind, ai.scopes,
	    ai.source, d != NULL ? d->error : ""};
	return 0;
}

const char *
identities_pending(const struct identities *ids, size_t i)
{
	size_t k;

	for (k = 0; ids != NULL && k < ids->n; k++) {
		if (ids->drafts[k].pending && i-- == 0)
			return ids->drafts[k].name;
	}
	return NULL;
}
