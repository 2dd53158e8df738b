/*
 * The node's memory across restarts.  Events reach the database through
 * the bus's sink: outside a transaction they queue in storage and a
 * timer writes them PERSIST_FLUSH_MS after the first of a batch (or
 * storage once its queue is full), so a busy node makes a few commits a
 * second however many channels it opens; inside a transaction (a rule
 * set being stored) the announcing event commits with the change.  An
 * event that only reports (a channel opened) is no acknowledged write:
 * a kill -9 may lose the last PERSIST_FLUSH_MS of them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "events.h"
#include "grants.h"
#include "log.h"
#include "penalty.h"
#include "persist.h"
#include "policy.h"
#include "storage.h"

#define PERSIST_FLUSH_MS 100

struct persist {
	struct storage *st;
	uv_timer_t      flush;   /* writes what the sink queued */
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

static void persist_on_flush(uv_timer_t *);

static void
persist_sink(
    uint64_t seq, uint64_t off, const char *line, size_t len, void *arg)
{
	struct persist *p = arg;

	persist_failed(p, storage_event_put(p->st, seq, off, line, len));
	if (!uv_is_active((uv_handle_t *)&p->flush))
		uv_timer_start(
		    &p->flush, persist_on_flush, PERSIST_FLUSH_MS, 0);
}

static void
persist_on_flush(uv_timer_t *h)
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

	uv_timer_init(loop, &p->flush);
	p->flush.data = p;
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
	uv_close((uv_handle_t *)&p->flush, persist_free_cb);
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

/*
 * Stores text under key and announces it with a policy.changed event of
 * the given fields (stolen), both or neither.
 */
static int
persist_store(struct storage *st, const char *key, const char *text,
    json_t *fields, char *err, size_t errlen)
{
	char *old;
	int   rc, same;

	if (st == NULL) {
		events_emit("policy.changed", fields);
		return 0;
	}

	/* Writing what is there already changes nothing and says nothing:
	 * flags given at every start are not news. */
	if (storage_config_get(st, key, &old) == 0) {
		same = strcmp(old, text) == 0;
		free(old);
		if (same) {
			json_decref(fields);
			return 0;
		}
	}

	if ((rc = storage_begin(st)) == 0 &&
	    (rc = storage_config_set(st, key, text)) == 0) {
		/* XXX: a commit that fails leaves the event on the bus. */
		events_emit("policy.changed", fields);
		fields = NULL;
		rc = storage_commit(st);
	}
	if (rc != 0) {
		storage_rollback(st);
		snprintf(err, errlen, "cannot store: %s",
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
	rc = persist_store(st, persist_rule_keys[which], canon,
	    json_pack("{s:s,s:I}", "policy", persist_rule_names[which], "rules",
	        (json_int_t)policy_count(pol)),
	    err, errlen);
	free(canon);
	if (rc != 0) {
		policy_free(pol);
		return rc;
	}
	sshd_set_rules(sshd, which, pol);
	return 0;
}

/*
 * acl/limits.  A write names the keys it changes; the penalty table is
 * kept while its settings stay, so what sources owe is not forgiven by a
 * change of another limit.
 */

#define PERSIST_COUNT_MAX 1000000
#define PERSIST_KEYS_MAX  16 /* more than acl/limits has */

struct persist_limits {
	struct sshd_limits  l;
	struct penalty_conf c;
	int                 penalties; /* a table at all */
	char                exempt[1024];
};

static char *
persist_format(const struct sshd_limits *l, const struct penalty *p)
{
	const struct penalty_conf *c;
	char                      *buf = NULL;
	size_t                     len;
	FILE                      *f;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return NULL;
	fprintf(f, "max_connections_per_ip %u\nmax_auth_attempts %u\n",
	    l->max_connections_per_ip, l->max_auth_attempts);
	if (p == NULL) {
		fprintf(f, "penalties no\n");
	} else {
		c = penalty_conf(p);
		fprintf(f,
		    "penalties %s\npenalty_authfail %u\npenalty_noauth %u\n"
		    "penalty_grace_exceeded %u\npenalty_max %u\n"
		    "penalty_min %u\npenalty_max_sources %zu\n"
		    "penalty_exempt %s\n",
		    c->enabled ? "yes" : "no", c->secs[PENALTY_AUTHFAIL],
		    c->secs[PENALTY_NOAUTH], c->secs[PENALTY_GRACE], c->max,
		    c->min, c->max_sources, penalty_exempt(p));
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

char *
persist_format_limits(const struct sshd *sshd)
{
	return persist_format(sshd_limits(sshd), sshd_penalty(sshd));
}

static void
persist_limits_now(const struct sshd *sshd, struct persist_limits *pl)
{
	struct penalty *p = sshd_penalty(sshd);

	memset(pl, 0, sizeof *pl);
	pl->l = *sshd_limits(sshd);
	penalty_conf_default(&pl->c);
	if (p != NULL) {
		pl->c = *penalty_conf(p);
		pl->penalties = 1;
		snprintf(
		    pl->exempt, sizeof pl->exempt, "%s", penalty_exempt(p));
	} else {
		snprintf(pl->exempt, sizeof pl->exempt, "none");
	}
}

static int
persist_count(const char *v, unsigned *out)
{
	char         *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (*v < '0' || *v > '9' || *end != '\0' || errno != 0 ||
	    n > PERSIST_COUNT_MAX)
		return -EINVAL;
	*out = (unsigned)n;
	return 0;
}

/* The keys that are counts, and where each goes. */
static unsigned *
persist_count_field(struct persist_limits *pl, const char *key)
{
	static const struct {
		const char *key;
		int         kind; /* -1 and -2 are limits, -3 max, -4 min */
	} keys[] = {
	    {"max_connections_per_ip", -1},
	    {"max_auth_attempts", -2},
	    {"penalty_max", -3},
	    {"penalty_min", -4},
	    {"penalty_authfail", PENALTY_AUTHFAIL},
	    {"penalty_noauth", PENALTY_NOAUTH},
	    {"penalty_grace_exceeded", PENALTY_GRACE},
	};
	size_t i;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		if (strcmp(keys[i].key, key) != 0)
			continue;
		switch (keys[i].kind) {
		case -1:
			return &pl->l.max_connections_per_ip;
		case -2:
			return &pl->l.max_auth_attempts;
		case -3:
			return &pl->c.max;
		case -4:
			return &pl->c.min;
		default:
			return &pl->c.secs[keys[i].kind];
		}
	}
	return NULL;
}

/* The list is checked where it is written, so its line is named. */
static int
persist_exempt_line(
    struct persist_limits *pl, const char *value, char *err, size_t errlen)
{
	struct penalty_conf c;
	struct penalty     *p = NULL;
	int                 rc;

	if (strlen(value) >= sizeof pl->exempt) {
		snprintf(err, errlen, "penalty_exempt: too long");
		return -EINVAL;
	}
	penalty_conf_default(&c);
	c.max_sources = 1;
	if ((rc = penalty_new(&c, &p)) == 0)
		rc = penalty_set_exempt(p, value, err, errlen);
	penalty_free(p);
	if (rc == 0)
		snprintf(pl->exempt, sizeof pl->exempt, "%s", value);
	return rc;
}

/* One "key value" line onto pl. */
static int
persist_limit_line(struct persist_limits *pl, const char *key,
    const char *value, char *err, size_t errlen)
{
	unsigned *field, n;

	if ((field = persist_count_field(pl, key)) != NULL ||
	    strcmp(key, "penalty_max_sources") == 0) {
		if (persist_count(value, &n) != 0) {
			snprintf(err, errlen,
			    "%s: not a whole number from 0 "
			    "to %d",
			    key, PERSIST_COUNT_MAX);
			return -EINVAL;
		}
		if (field != NULL)
			*field = n;
		else
			pl->c.max_sources = n;
		return 0;
	}
	if (strcmp(key, "penalties") == 0) {
		if (strcmp(value, "no") == 0)
			pl->penalties = pl->c.enabled = 0;
		else if (strcmp(value, "yes") == 0)
			pl->penalties = pl->c.enabled = 1;
		else if (penalty_conf_parse(value, &pl->c, err, errlen) != 0)
			return -EINVAL;
		else
			pl->penalties = pl->c.enabled;
		return 0;
	}
	if (strcmp(key, "penalty_exempt") == 0)
		return persist_exempt_line(pl, value, err, errlen);
	snprintf(err, errlen, "unknown key %.64s", key);
	return -EINVAL;
}

/* Settings that only make sense together. */
static int
persist_limits_check(const struct persist_limits *pl, char *err, size_t errlen)
{
	if (!pl->penalties)
		return 0;
	if (pl->c.max < 1 || pl->c.max < pl->c.min) {
		snprintf(err, errlen,
		    "penalty_max must be at least 1 and not "
		    "below penalty_min");
		return -EINVAL;
	}
	if (pl->c.max_sources < 1) {
		snprintf(err, errlen, "penalty_max_sources must be at least 1");
		return -EINVAL;
	}
	return 0;
}

static int
persist_parse_limits(
    const char *text, struct persist_limits *pl, char *err, size_t errlen)
{
	const char *seen[PERSIST_KEYS_MAX];
	char       *copy, *line, *next, *value, reason[256];
	size_t      n = 0, nseen = 0, i;
	int         rc = 0;

	if ((copy = strdup(text)) == NULL)
		return -ENOMEM;
	for (line = copy; line != NULL && rc == 0; line = next) {
		n++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		line += strspn(line, " \t");
		if (*line == '\0' || *line == '#')
			continue;
		value = line + strcspn(line, " \t");
		if (*value != '\0')
			*value++ = '\0';
		value += strspn(value, " \t");

		for (i = 0; i < nseen && strcmp(seen[i], line) != 0; i++)
			;
		if (i < nseen) {
			snprintf(
			    reason, sizeof reason, "%.64s given twice", line);
			rc = -EINVAL;
		} else {
			rc = persist_limit_line(
			    pl, line, value, reason, sizeof reason);
		}
		if (rc != 0)
			snprintf(err, errlen, "line %zu: %s", n, reason);
		else if (nseen < PERSIST_KEYS_MAX)
			seen[nseen++] = line;
	}
	free(copy);
	return rc != 0 ? rc : persist_limits_check(pl, err, errlen);
}

/* The table pl asks for: the one in force when its settings stay. */
static int
persist_penalty(struct sshd *sshd, const struct persist_limits *pl,
    struct penalty **out, char *err, size_t errlen)
{
	struct penalty *old = sshd_penalty(sshd), *p = NULL;
	int             rc;

	*out = NULL;
	if (!pl->penalties)
		return 0;
	if (old != NULL &&
	    memcmp(penalty_conf(old), &pl->c, sizeof pl->c) == 0 &&
	    strcmp(penalty_exempt(old), pl->exempt) == 0) {
		*out = old;
		return 0;
	}
	if ((rc = penalty_new(&pl->c, &p)) != 0) {
		snprintf(err, errlen, "bad penalty settings");
		return rc;
	}
	if ((rc = penalty_set_exempt(p, pl->exempt, err, errlen)) != 0) {
		penalty_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

int
persist_set_limits(struct storage *st, struct sshd *sshd, const char *text,
    char *err, size_t errlen)
{
	struct persist_limits pl;
	struct penalty       *p;
	char                 *canon;
	int                   rc;

	persist_limits_now(sshd, &pl);
	if ((rc = persist_parse_limits(text, &pl, err, errlen)) != 0 ||
	    (rc = persist_penalty(sshd, &pl, &p, err, errlen)) != 0)
		return rc;

	/* What is stored is what the file will show. */
	if ((canon = persist_format(&pl.l, p)) == NULL) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
	} else {
		rc = persist_store(st, "acl.limits", canon,
		    json_pack("{s:s}", "policy", "limits"), err, errlen);
	}
	free(canon);
	if (rc != 0) {
		if (p != sshd_penalty(sshd))
			penalty_free(p);
		return rc;
	}
	sshd_set_limits(sshd, &pl.l, p);
	return 0;
}

int
persist_load_limits(
    struct persist *p, struct sshd *sshd, char *err, size_t errlen)
{
	struct persist_limits pl;
	struct penalty       *pen;
	char                 *text, perr[256];
	int                   rc;

	rc = storage_config_get(p->st, "acl.limits", &text);
	if (rc == -ENOENT)
		return 0;
	if (rc != 0) {
		snprintf(err, errlen, "cannot read acl/limits: %s",
		    storage_errmsg(p->st));
		return rc;
	}
	persist_limits_now(sshd, &pl);
	rc = persist_parse_limits(text, &pl, perr, sizeof perr);
	free(text);
	if (rc == 0)
		rc = persist_penalty(sshd, &pl, &pen, perr, sizeof perr);
	if (rc != 0) {
		snprintf(err, errlen, "stored acl/limits: %s", perr);
		return rc;
	}
	sshd_set_limits(sshd, &pl.l, pen);
	return 0;
}

/* acl/operations: the scopes granted beyond what keys carry. */

#define PERSIST_GRANTS_KEY "acl.operations"

int
persist_set_grants(struct storage *st, const char *text, struct grants **out,
    char *err, size_t errlen)
{
	struct grants *g = NULL;
	char          *canon;
	int            rc;

	if ((rc = grants_parse(text, &g, err, errlen)) != 0)
		return rc;
	if ((canon = grants_format(g)) == NULL) {
		grants_free(g);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}

	/* Only the count is announced, as for the other rule sets. */
	rc = persist_store(st, PERSIST_GRANTS_KEY, canon,
	    json_pack("{s:s,s:I}", "policy", "operations", "rules",
	        (json_int_t)grants_count(g)),
	    err, errlen);
	free(canon);
	if (rc != 0) {
		grants_free(g);
		return rc;
	}
	*out = g;
	return 0;
}

int
persist_load_grants(
    struct storage *st, struct grants **out, char *err, size_t errlen)
{
	char *text, perr[256];
	int   rc;

	*out = NULL;
	if (st == NULL)
		return 0;
	rc = storage_config_get(st, PERSIST_GRANTS_KEY, &text);
	if (rc == -ENOENT)
		return 0;
	if (rc != 0) {
		snprintf(err, errlen, "cannot read acl/operations: %s",
		    storage_errmsg(st));
		return rc;
	}
	rc = grants_parse(text, out, perr, sizeof perr);
	free(text);
	if (rc != 0)
		snprintf(err, errlen, "stored acl/operations: %s", perr);
	return rc;
}
