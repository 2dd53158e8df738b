/*
 * The node's memory across restarts.  Events reach the database through
 * the bus's sink: outside a transaction they queue in storage and a check
 * handle writes them once per turn of the loop, so a burst of channel
 * events costs one commit; inside a transaction (a rule set being
 * stored) the announcing event commits with the change.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "events.h"
#include "log.h"
#include "persist.h"
#include "policy.h"
#include "storage.h"

struct persist {
	struct storage *st;
	uv_check_t      check;
	int             failing; /* the last write failed; logged once */
};

static const char *persist_rule_keys[SSHD_NRULES] = {
    [SSHD_FORWARDING] = "acl.forwarding",
    [SSHD_LISTEN] = "acl.listen",
};

static const char *persist_rule_names[SSHD_NRULES] = {
    [SSHD_FORWARDING] = "forwarding",
    [SSHD_LISTEN] = "listen",
};

static void
persist_failed(struct persist *p, int rc)
{
	if (rc == 0) {
		p->failing = 0;
		return;
	}
	if (!p->failing)
		log_info("events not stored reason=\"%s\"",
		    storage_errmsg(p->st)[0] != '\0' ? storage_errmsg(p->st)
		                                     : strerror(-rc));
	p->failing = 1;
}

static void
persist_sink(
    uint64_t seq, uint64_t off, const char *line, size_t len, void *arg)
{
	struct persist *p = arg;

	persist_failed(p, storage_event_put(p->st, seq, off, line, len));
}

static void
persist_on_check(uv_check_t *h)
{
	struct persist *p = h->data;

	persist_failed(p, storage_flush(p->st));
}

static int
persist_restore_line(
    uint64_t seq, uint64_t off, const char *line, size_t len, void *arg)
{
	/* A line that does not fit leaves the older part unreadable only. */
	events_restore(off, line, len);
	return 0;
}

int
persist_open(uv_loop_t *loop, const char *dir, size_t retain_bytes,
    size_t sub_lines, struct persist **out, char *err, size_t errlen)
{
	struct persist *p;
	uint64_t        seq, off;
	int             rc;

	if ((p = calloc(1, sizeof *p)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if ((rc = storage_open(dir, &p->st, err, errlen)) != 0) {
		free(p);
		return rc;
	}

	storage_event_next(p->st, &seq, &off);
	if ((rc = events_init(loop, retain_bytes, sub_lines, seq, off)) != 0) {
		snprintf(err, errlen, "cannot start the event bus");
		storage_close(p->st);
		free(p);
		return rc;
	}
	storage_event_each(p->st, off > retain_bytes ? off - retain_bytes : 0,
	    persist_restore_line, NULL);
	events_set_sink(persist_sink, p);

	uv_check_init(loop, &p->check);
	p->check.data = p;
	uv_check_start(&p->check, persist_on_check);
	*out = p;
	return 0;
}

static void
persist_free_cb(uv_handle_t *h)
{
	free(h->data);
}

void
persist_close(struct persist *p)
{
	if (p == NULL)
		return;
	events_set_sink(NULL, NULL);
	storage_close(p->st);
	p->st = NULL;
	uv_close((uv_handle_t *)&p->check, persist_free_cb);
}

struct storage *
persist_storage(struct persist *p)
{
	return p->st;
}

int
persist_load_rules(
    struct persist *p, struct sshd *sshd, char *err, size_t errlen)
{
	struct policy *pol;
	char          *text, perr[512];
	int            i, rc;

	for (i = 0; i < SSHD_NRULES; i++) {
		rc = storage_config_get(p->st, persist_rule_keys[i], &text);
		if (rc == -ENOENT)
			continue;
		if (rc != 0) {
			snprintf(err, errlen, "cannot read acl/%s: %s",
			    persist_rule_names[i], storage_errmsg(p->st));
			return rc;
		}
		rc = policy_parse(text, 0, &pol, perr, sizeof perr);
		free(text);
		if (rc != 0) {
			snprintf(err, errlen, "stored acl/%s: %s",
			    persist_rule_names[i], perr);
			return rc;
		}
		sshd_set_rules(sshd, i, pol);
	}
	return 0;
}

/* Stores text as the set and announces it, both or neither. */
static int
persist_store_rules(struct storage *st, enum sshd_rules which, const char *text,
    size_t count, char *err, size_t errlen)
{
	json_t *fields;
	int     rc;

	fields = json_pack("{s:s,s:I}", "policy", persist_rule_names[which],
	    "rules", (json_int_t)count);
	if (st == NULL) {
		events_emit("policy.changed", fields);
		return 0;
	}
	if ((rc = storage_begin(st)) == 0 &&
	    (rc = storage_config_set(st, persist_rule_keys[which], text)) ==
	        0) {
		/* XXX: a commit that fails leaves the event on the bus. */
		events_emit("policy.changed", fields);
		fields = NULL;
		rc = storage_commit(st);
	}
	if (rc != 0) {
		storage_rollback(st);
		snprintf(err, errlen, "cannot store the rules: %s",
		    storage_errmsg(st)[0] != '\0' ? storage_errmsg(st)
		                                  : strerror(-rc));
	}
	json_decref(fields);
	return rc;
}

int
persist_set_rules(struct storage *st, struct sshd *sshd, enum sshd_rules which,
    const char *text, char *err, size_t errlen)
{
	struct policy *pol = NULL;
	char          *canon;
	int            rc;

	if ((rc = policy_parse(text, 0, &pol, err, errlen)) != 0)
		return rc;
	if ((canon = policy_format(pol)) == NULL) {
		policy_free(pol);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}

	/* Only the count is announced: rules name hosts, which events
	 * never carry. */
	rc = persist_store_rules(
	    st, which, canon, policy_count(pol), err, errlen);
	free(canon);
	if (rc != 0) {
		policy_free(pol);
		return rc;
	}
	sshd_set_rules(sshd, which, pol);
	return 0;
}
