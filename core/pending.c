/*
 * The pending-request map: entries chained from the buckets of a hash
 * keyed with random bytes (a peer may choose the ids), the bucket array
 * doubling as the map fills so that an idle connection costs little.
 *
 * Whatever removes several entries at once (sweep, close, cascade) first
 * takes them all out of the map and only then calls back, so callbacks
 * always see a map without them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "pending.h"

#define PENDING_MAX      ((size_t)1 << 20)
#define PENDING_BUCKETS0 16

struct pending_entry {
	struct pending_entry *next; /* hash chain, then a batch's list */
	char                 *id;
	char                 *parent; /* NULL for none */
	enum pending_kind     kind;
	uint64_t              deadline;
	int                   started;
	int                   seen; /* visited by the cascade's walk */
	pending_cb            cb;
	void                 *arg;
	/* id and parent follow, NUL-terminated. */
};

struct pending {
	struct pending_entry **bucket;
	size_t                 nbuckets; /* a power of two */
	size_t                 n;
	size_t                 max;
	int                    closed;
	unsigned char          key[crypto_shorthash_KEYBYTES];
};

int
pending_new(size_t max, struct pending **out)
{
	struct pending *m;

	if (max == 0 || max > PENDING_MAX)
		return -EINVAL;
	if ((m = calloc(1, sizeof *m)) == NULL)
		return -ENOMEM;
	m->nbuckets = PENDING_BUCKETS0;
	if ((m->bucket = calloc(m->nbuckets, sizeof *m->bucket)) == NULL) {
		free(m);
		return -ENOMEM;
	}
	m->max = max;
	randombytes_buf(m->key, sizeof m->key);
	*out = m;
	return 0;
}

void
pending_free(struct pending *m)
{
	struct pending_entry *e, *next;
	size_t                i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nbuckets; i++) {
		for (e = m->bucket[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(m->bucket);
	free(m);
}

static size_t
pending_hash(const struct pending *m, const char *id, size_t nbuckets)
{
	unsigned char h[crypto_shorthash_BYTES];
	uint64_t      v;

	crypto_shorthash(h, (const unsigned char *)id, strlen(id), m->key);
	memcpy(&v, h, sizeof v);
	return (size_t)(v & (nbuckets - 1));
}

/* The link that points at id's entry, or at NULL. */
static struct pending_entry **
pending_link(const struct pending *m, const char *id)
{
	struct pending_entry **link;

	link = &m->bucket[pending_hash(m, id, m->nbuckets)];
	while (*link != NULL && strcmp((*link)->id, id) != 0)
		link = &(*link)->next;
	return link;
}

static struct pending_entry *
pending_lookup(const struct pending *m, const char *id)
{
	return *pending_link(m, id);
}

/* Takes id's entry out of the map; NULL when it is not there. */
static struct pending_entry *
pending_take(struct pending *m, const char *id)
{
	struct pending_entry **link = pending_link(m, id);
	struct pending_entry  *e = *link;

	if (e == NULL)
		return NULL;
	*link = e->next;
	e->next = NULL;
	m->n--;
	return e;
}

/* Doubles the buckets while entries outnumber them; a failure to grow
 * only makes chains longer. */
static void
pending_grow(struct pending *m)
{
	struct pending_entry **b, *e, *next;
	size_t                 nb = m->nbuckets * 2, i, h;

	if (m->n < m->nbuckets || m->nbuckets >= m->max)
		return;
	if ((b = calloc(nb, sizeof *b)) == NULL)
		return;
	for (i = 0; i < m->nbuckets; i++) {
		for (e = m->bucket[i]; e != NULL; e = next) {
			next = e->next;
			h = pending_hash(m, e->id, nb);
			e->next = b[h];
			b[h] = e;
		}
	}
	free(m->bucket);
	m->bucket = b;
	m->nbuckets = nb;
}

static struct pending_entry *
pending_entry_new(const struct pending_req *r, uint64_t deadline)
{
	struct pending_entry *e;
	size_t                idlen = strlen(r->id) + 1, plen = 0;

	if (r->parent != NULL)
		plen = strlen(r->parent) + 1;
	if ((e = calloc(1, sizeof *e + idlen + plen)) == NULL)
		return NULL;
	e->id = (char *)(e + 1);
	memcpy(e->id, r->id, idlen);
	if (r->parent != NULL) {
		e->parent = e->id + idlen;
		memcpy(e->parent, r->parent, plen);
	}
	e->kind = r->kind;
	e->deadline = deadline;
	e->cb = r->cb;
	e->arg = r->arg;
	return e;
}

/* The deadline r asks for, or -EINVAL for a call without one. */
static int
pending_deadline(const struct pending_req *r, uint64_t now, uint64_t *out)
{
	if (r->deadline == PENDING_NO_DEADLINE && r->kind == PENDING_CALL)
		return -EINVAL;
	if (r->deadline != 0)
		*out = r->deadline;
	else if (now > PENDING_NO_DEADLINE - 1 - PENDING_TIMEOUT_MS)
		*out = PENDING_NO_DEADLINE - 1;
	else
		*out = now + PENDING_TIMEOUT_MS;
	return 0;
}

int
pending_add(struct pending *m, const struct pending_req *r, uint64_t now)
{
	struct pending_entry **link, *e;
	uint64_t               deadline = 0;
	int                    rc;

	if (r->id == NULL || (unsigned)r->kind >= PENDING_NKINDS)
		return -EINVAL;
	if ((rc = pending_deadline(r, now, &deadline)) != 0)
		return rc;
	if (m->closed)
		return -EPIPE;
	if (*(link = pending_link(m, r->id)) != NULL)
		return -EEXIST;
	if (m->n >= m->max)
		return -ENOSPC;

	if ((e = pending_entry_new(r, deadline)) == NULL)
		return -ENOMEM;
	*link = e;
	m->n++;
	pending_grow(m);
	return 0;
}

size_t
pending_count(const struct pending *m)
{
	return m->n;
}

int
pending_has(const struct pending *m, const char *id)
{
	return pending_lookup(m, id) != NULL;
}

int
pending_start(struct pending *m, const char *id)
{
	struct pending_entry *e = pending_lookup(m, id);

	if (e == NULL)
		return 0;
	e->started = 1;
	return 1;
}

static void
pending_tell(struct pending_entry *e, enum pending_what what, int last,
    json_t *value, const struct reply_error *err)
{
	struct pending_event ev;

	if (e->cb == NULL)
		return;
	memset(&ev, 0, sizeof ev);
	ev.id = e->id;
	ev.what = what;
	ev.last = last;
	ev.value = value;
	if (err != NULL)
		ev.err = *err;
	e->cb(&ev, e->arg);
}

/* Tells e its last event and frees it; e is out of the map already. */
static void
pending_end(struct pending_entry *e, enum pending_what what, json_t *value,
    const struct reply_error *err)
{
	pending_tell(e, what, 1, value, err);
	free(e);
}

/* Ends every entry of a batch with the same event. */
static size_t
pending_end_all(struct pending_entry *batch, enum pending_what what,
    const struct reply_error *err)
{
	struct pending_entry *next;
	size_t                n = 0;

	for (; batch != NULL; batch = next) {
		next = batch->next;
		pending_end(batch, what, NULL, err);
		n++;
	}
	return n;
}

int
pending_responded(struct pending *m, const char *id, json_t *output)
{
	struct pending_entry *e = pending_lookup(m, id);

	if (e == NULL)
		return 0;
	if (output == NULL)
		output = json_null();
	if (e->kind == PENDING_SUBSCRIBE) {
		/* e stays, and the callback may abort it: e is not touched
		 * after the call. */
		pending_tell(e, PENDING_VALUE, 0, output, NULL);
		return 1;
	}
	pending_end(pending_take(m, id), PENDING_VALUE, output, NULL);
	return 1;
}

int
pending_completed(struct pending *m, const char *id)
{
	static const struct reply_error unanswered = {
	    REPLY_ABORTED, "completed without a response", 0, NULL};
	struct pending_entry *e;

	if ((e = pending_take(m, id)) == NULL)
		return 0;
	if (e->kind == PENDING_SUBSCRIBE)
		pending_end(e, PENDING_END, NULL, NULL);
	else
		pending_end(e, PENDING_ERROR, NULL, &unanswered);
	return 1;
}

int
pending_failed(struct pending *m, const char *id, const struct reply_error *err)
{
	struct pending_entry *e;

	if ((e = pending_take(m, id)) == NULL)
		return 0;
	pending_end(e, PENDING_ERROR, NULL, err);
	return 1;
}

int
pending_aborted(struct pending *m, const char *id)
{
	struct pending_entry *e;

	if ((e = pending_take(m, id)) == NULL)
		return 0;
	pending_end(e, PENDING_ABORTED, NULL, NULL);
	return 1;
}

static int
pending_on_requested(struct pending *m, const char *id, json_t *payload)
{
	return -EINVAL;
}

static int
pending_on_responded(struct pending *m, const char *id, json_t *payload)
{
	json_t *output = json_object_get(payload, "output");

	if (output == NULL)
		return -EBADMSG;
	return pending_responded(m, id, output);
}

static int
pending_on_completed(struct pending *m, const char *id, json_t *payload)
{
	return pending_completed(m, id);
}

static int
pending_on_aborted(struct pending *m, const char *id, json_t *payload)
{
	return pending_aborted(m, id);
}

static int
pending_on_error(struct pending *m, const char *id, json_t *payload)
{
	struct reply_error e;

	if (reply_error_parse(payload, &e) != 0)
		return -EBADMSG;
	return pending_failed(m, id, &e);
}

static int (*const pending_handlers[FRAME_NTYPES])(
    struct pending *, const char *, json_t *) = {
    [FRAME_REQUESTED] = pending_on_requested,
    [FRAME_RESPONDED] = pending_on_responded,
    [FRAME_COMPLETED] = pending_on_completed,
    [FRAME_ABORTED] = pending_on_aborted,
    [FRAME_ERROR] = pending_on_error,
};

int
pending_frame(struct pending *m, const struct frame *f)
{
	if ((unsigned)f->type >= FRAME_NTYPES)
		return -EINVAL;
	return pending_handlers[f->type](m, frame_request_id(f), f->payload);
}

/* Takes out every entry expired at now (all of them when all is set)
 * into a list. */
static struct pending_entry *
pending_take_expired(struct pending *m, uint64_t now, int all)
{
	struct pending_entry *batch = NULL, **tail = &batch, **link, *e;
	size_t                i;

	for (i = 0; i < m->nbuckets; i++) {
		link = &m->bucket[i];
		while ((e = *link) != NULL) {
			if (!all &&
			    (e->deadline == PENDING_NO_DEADLINE ||
			        e->deadline > now)) {
				link = &e->next;
				continue;
			}
			*link = e->next;
			e->next = NULL;
			*tail = e;
			tail = &e->next;
			m->n--;
		}
	}
	return batch;
}

size_t
pending_sweep(struct pending *m, uint64_t now)
{
	static const struct reply_error expired = {
	    REPLY_TIMEOUT, "deadline exceeded", 1, NULL};

	return pending_end_all(
	    pending_take_expired(m, now, 0), PENDING_ERROR, &expired);
}

size_t
pending_close(struct pending *m)
{
	static const struct reply_error closed = {
	    REPLY_INTERNAL, "connection closed", 0, NULL};

	m->closed = 1;
	return pending_end_all(
	    pending_take_expired(m, 0, 1), PENDING_ERROR, &closed);
}

static int
pending_by_parent(const void *a, const void *b)
{
	const struct pending_entry *x = *(const struct pending_entry *const *)a;
	const struct pending_entry *y = *(const struct pending_entry *const *)b;
	int                         c = strcmp(x->parent, y->parent);

	return c != 0 ? c : strcmp(x->id, y->id);
}

static int
pending_by_id(const void *a, const void *b)
{
	const struct pending_entry *x = *(const struct pending_entry *const *)a;
	const struct pending_entry *y = *(const struct pending_entry *const *)b;

	return strcmp(x->id, y->id);
}

/* Lists the entries that have a parent, sorted by parent then id, and
 * clears every entry's mark for the walk.  Returns the count. */
static size_t
pending_children(struct pending *m, struct pending_entry **kids)
{
	struct pending_entry *e;
	size_t                i, n = 0;

	for (i = 0; i < m->nbuckets; i++) {
		for (e = m->bucket[i]; e != NULL; e = e->next) {
			e->seen = 0;
			if (e->parent != NULL)
				kids[n++] = e;
		}
	}
	qsort(kids, n, sizeof *kids, pending_by_parent);
	return n;
}

/* The first of the n sorted kids whose parent is not below id. */
static size_t
pending_first_child(struct pending_entry **kids, size_t n, const char *id)
{
	size_t lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (strcmp(kids[mid]->parent, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Walks root's tree breadth first into order (root first, siblings by
 * id); marks keep a loop of parent links from going round.  Returns the
 * count, root included.
 */
static size_t
pending_walk(struct pending_entry *root, struct pending_entry **kids,
    size_t nkids, struct pending_entry **order)
{
	struct pending_entry *k;
	size_t                head = 0, tail = 0, i;

	root->seen = 1;
	order[tail++] = root;
	while (head < tail) {
		k = order[head++];
		i = pending_first_child(kids, nkids, k->id);
		for (; i < nkids && strcmp(kids[i]->parent, k->id) == 0; i++) {
			if (kids[i]->seen)
				continue;
			kids[i]->seen = 1;
			order[tail++] = kids[i];
		}
	}
	return tail;
}

/* One block: n + 1 pointers, then the strings they point at. */
static char **
pending_id_block(struct pending_entry **v, size_t n)
{
	char **ids;
	char  *p;
	size_t i, len = (n + 1) * sizeof *ids;

	for (i = 0; i < n; i++)
		len += strlen(v[i]->id) + 1;
	if ((ids = malloc(len)) == NULL)
		return NULL;

	p = (char *)(ids + n + 1);
	for (i = 0; i < n; i++) {
		ids[i] = p;
		p = stpcpy(p, v[i]->id) + 1;
	}
	ids[n] = NULL;
	return ids;
}

/* Keeps the descendants (order[1..n)) that policy aborts; returns how
 * many, moved to the front of order + 1. */
static size_t
pending_select(
    struct pending_entry **order, size_t n, enum pending_policy policy)
{
	size_t i, k = 0;

	for (i = 1; i < n; i++) {
		if (policy == PENDING_CONTINUE_RUNNING && order[i]->started)
			continue;
		order[1 + k++] = order[i];
	}
	return k;
}

/* Sorted ids of the n victims into *ids, for the caller. */
static int
pending_report(struct pending_entry **victims, size_t n, char ***ids)
{
	struct pending_entry **sorted;

	*ids = NULL;
	if (n == 0)
		return 0;
	if ((sorted = malloc(n * sizeof *sorted)) == NULL)
		return -ENOMEM;
	memcpy(sorted, victims, n * sizeof *sorted);
	qsort(sorted, n, sizeof *sorted, pending_by_id);
	*ids = pending_id_block(sorted, n);
	free(sorted);
	return *ids != NULL ? 0 : -ENOMEM;
}

int
pending_cascade(struct pending *m, const char *root, enum pending_policy policy,
    char ***ids)
{
	struct pending_entry **kids = NULL, **order = NULL, *r;
	size_t                 nkids, n, i;
	int                    rc = -ENOMEM;

	if (ids != NULL)
		*ids = NULL;
	if ((r = pending_lookup(m, root)) == NULL)
		return 0;
	kids = malloc(m->n * sizeof *kids);
	order = malloc(m->n * sizeof *order);
	if (kids == NULL || order == NULL)
		goto out;

	nkids = pending_children(m, kids);
	n = pending_select(order, pending_walk(r, kids, nkids, order), policy);
	if (ids != NULL && pending_report(order + 1, n, ids) != 0)
		goto out;

	/* All out of the map first, then told, parents before children. */
	for (i = 1; i <= n; i++)
		pending_take(m, order[i]->id);
	for (i = 1; i <= n; i++)
		pending_end(order[i], PENDING_ABORTED, NULL, NULL);
	rc = (int)n;
out:
	free(kids);
	free(order);
	return rc;
}
