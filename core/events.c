/*
 * The event bus.  Lines live once, in a ring ordered by line number; a
 * subscriber is a cursor into that ring, so its queue is the window
 * between its cursor and the newest line, bounded by sub_lines.  Ready
 * callbacks are collected on a list and run from an idle handle, so a
 * producer (possibly a FUSE request handler) never re-enters a reader.
 */
#include <sys/queue.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "node.h"

#define EVENTS_RING_MIN 64
#define EVENTS_LINE_MAX (16 * 1024) /* a bigger event loses its fields */

struct events_line {
	uint64_t off; /* log offset of the first byte */
	size_t   len; /* including the newline */
	char    *text;
};

struct events_sub {
	TAILQ_ENTRY(events_sub) entry;
	TAILQ_ENTRY(events_sub) ready_entry;
	int             queued; /* on the ready list */
	int             closed;
	uint64_t        next;    /* number of the next line */
	uint64_t        dropped; /* missed, not yet reported */
	events_ready_cb cb;
	void           *arg;
};

TAILQ_HEAD(events_subs, events_sub);

struct events_bus {
	uv_idle_t idle;
	size_t    retain_bytes;
	size_t    sub_lines;

	struct events_line *ring;
	size_t              cap;
	size_t              head; /* ring index of line first */
	size_t              count;
	uint64_t            first; /* number of the oldest line */
	size_t              bytes; /* retained */

	uint64_t seq;  /* of the next event */
	uint64_t size; /* log bytes ever written */
	uint64_t emitted;
	uint64_t dropped;

	struct events_subs subs;
	struct events_subs ready;

	events_sink_cb sink;
	void          *sink_arg;
};

static struct events_bus *bus;

static void events_run_ready(uv_idle_t *);

int
events_init(uv_loop_t *loop, size_t retain_bytes, size_t sub_lines,
    uint64_t first_seq, uint64_t first_offset)
{
	struct events_bus *b;

	if (bus != NULL)
		return -EBUSY;
	if ((b = calloc(1, sizeof *b)) == NULL)
		return -ENOMEM;
	if ((b->ring = calloc(EVENTS_RING_MIN, sizeof *b->ring)) == NULL) {
		free(b);
		return -ENOMEM;
	}
	b->cap = EVENTS_RING_MIN;
	b->retain_bytes = retain_bytes;
	b->sub_lines = sub_lines > 0 ? sub_lines : 1;
	b->seq = first_seq;
	b->size = first_offset;
	TAILQ_INIT(&b->subs);
	TAILQ_INIT(&b->ready);

	uv_idle_init(loop, &b->idle);
	b->idle.data = b;
	bus = b;
	return 0;
}

static struct events_line *
events_line(uint64_t n)
{
	return &bus->ring[(bus->head + (n - bus->first)) % bus->cap];
}

static void
events_bus_free(uv_handle_t *h)
{
	free(h->data);
}

void
events_close(void)
{
	struct events_bus *b = bus;
	struct events_sub *sub;
	uint64_t           n;

	if (b == NULL)
		return;

	/* Each subscriber leaves the bus before its callback runs, so a
	 * callback may unsubscribe anyone. */
	while ((sub = TAILQ_FIRST(&b->subs)) != NULL) {
		TAILQ_REMOVE(&b->subs, sub, entry);
		if (sub->queued)
			TAILQ_REMOVE(&b->ready, sub, ready_entry);
		sub->queued = 0;
		sub->closed = 1;
		sub->cb(sub, sub->arg);
	}

	for (n = b->first; n < b->first + b->count; n++)
		free(events_line(n)->text);
	free(b->ring);
	bus = NULL;
	uv_close((uv_handle_t *)&b->idle, events_bus_free);
}

/* The JSON text of one event, newline included, or NULL. */
static char *
events_format(const char *type, json_t *fields, size_t *lenp)
{
	json_t *o;
	char    ts[40], *text = NULL;
	size_t  len;

	node_format_time(node_now_ms(), ts, sizeof ts);
	if ((o = json_object()) == NULL)
		return NULL;
	if (json_object_set_new(o, "seq", json_integer(bus->seq)) != 0 ||
	    json_object_set_new(o, "ts", json_string(ts)) != 0 ||
	    json_object_set_new(o, "type", json_string(type)) != 0)
		goto out;
	if (fields != NULL && json_is_object(fields))
		json_object_update_missing(o, fields);

	len = json_dumpb(o, NULL, 0, JSON_COMPACT);
	if (len > EVENTS_LINE_MAX) {
		json_object_clear(o);
		json_object_set_new(o, "seq", json_integer(bus->seq));
		json_object_set_new(o, "ts", json_string(ts));
		json_object_set_new(o, "type", json_string(type));
		json_object_set_new(o, "truncated", json_true());
		len = json_dumpb(o, NULL, 0, JSON_COMPACT);
	}
	if (len == 0 || (text = malloc(len + 1)) == NULL)
		goto out;
	json_dumpb(o, text, len, JSON_COMPACT);
	text[len] = '\n';
	*lenp = len + 1;

out:
	json_decref(o);
	return text;
}

static int
events_grow(void)
{
	struct events_line *ring;
	size_t              i, cap = bus->cap * 2;

	if ((ring = calloc(cap, sizeof *ring)) == NULL)
		return -ENOMEM;
	for (i = 0; i < bus->count; i++)
		ring[i] = bus->ring[(bus->head + i) % bus->cap];
	free(bus->ring);
	bus->ring = ring;
	bus->cap = cap;
	bus->head = 0;
	return 0;
}

/* Drops the oldest lines past the byte bound; the newest always stays. */
static void
events_trim(void)
{
	struct events_line *l;

	while (bus->count > 1 && bus->bytes > bus->retain_bytes) {
		l = &bus->ring[bus->head];
		bus->bytes -= l->len;
		free(l->text);
		l->text = NULL;
		bus->head = (bus->head + 1) % bus->cap;
		bus->count--;
		bus->first++;
	}
}

/* Moves a subscriber past what it may no longer read. */
static void
events_catch_up(struct events_sub *sub)
{
	uint64_t end = bus->first + bus->count, floor = bus->first;

	if (end - floor > bus->sub_lines)
		floor = end - bus->sub_lines;
	if (sub->next < floor) {
		sub->dropped += floor - sub->next;
		bus->dropped += floor - sub->next;
		sub->next = floor;
	}
}

static void
events_wake(struct events_sub *sub)
{
	if (sub->queued)
		return;
	sub->queued = 1;
	TAILQ_INSERT_TAIL(&bus->ready, sub, ready_entry);
	uv_idle_start(&bus->idle, events_run_ready);
}

void
events_emit(const char *type, json_t *fields)
{
	struct events_line *l;
	struct events_sub  *sub;
	char               *text;
	size_t              len;

	if (bus == NULL || type == NULL)
		goto out;
	if (bus->count == bus->cap && events_grow() != 0)
		goto out;
	if ((text = events_format(type, fields, &len)) == NULL)
		goto out;

	l = &bus->ring[(bus->head + bus->count) % bus->cap];
	l->off = bus->size;
	l->len = len;
	l->text = text;
	bus->count++;
	bus->bytes += len;
	bus->size += len;
	bus->seq++;
	bus->emitted++;
	if (bus->sink != NULL)
		bus->sink(bus->seq - 1, l->off, l->text, l->len, bus->sink_arg);
	events_trim();

	TAILQ_FOREACH(sub, &bus->subs, entry)
	{
		events_catch_up(sub);
		events_wake(sub);
	}

out:
	json_decref(fields);
}

void
events_set_sink(events_sink_cb cb, void *arg)
{
	if (bus == NULL)
		return;
	bus->sink = cb;
	bus->sink_arg = arg;
}

int
events_restore(uint64_t off, const char *line, size_t len)
{
	struct events_line *l, *last = NULL;
	struct events_sub  *sub;
	char               *text;

	if (bus == NULL)
		return -EINVAL;
	if (bus->count > 0)
		last = events_line(bus->first + bus->count - 1);

	/* Old lines tile the log up to where this run goes on. */
	if (len == 0 || line[len - 1] != '\n' || off + len > bus->size ||
	    (last != NULL && last->off + last->len != off) || bus->emitted > 0)
		return -EINVAL;
	if (bus->count == bus->cap && events_grow() != 0)
		return -ENOMEM;
	if ((text = malloc(len)) == NULL)
		return -ENOMEM;
	memcpy(text, line, len);

	l = &bus->ring[(bus->head + bus->count) % bus->cap];
	l->off = off;
	l->len = len;
	l->text = text;
	bus->count++;
	bus->bytes += len;
	events_trim();

	/* Subscribers start at now, which is past every old line. */
	TAILQ_FOREACH(sub, &bus->subs, entry)
	sub->next = bus->first + bus->count;
	return 0;
}

static void
events_run_ready(uv_idle_t *idle)
{
	struct events_bus *b = idle->data;
	struct events_sub *sub;
	size_t             n = 0;

	/* Count first: a callback that emits queues again for next time. */
	TAILQ_FOREACH(sub, &b->ready, ready_entry)
	n++;
	while (n-- > 0 && (sub = TAILQ_FIRST(&b->ready)) != NULL) {
		TAILQ_REMOVE(&b->ready, sub, ready_entry);
		sub->queued = 0;
		sub->cb(sub, sub->arg);
		if (bus != b)
			return;
	}
	if (TAILQ_EMPTY(&b->ready))
		uv_idle_stop(&b->idle);
}

uint64_t
events_emitted(void)
{
	return bus != NULL ? bus->emitted : 0;
}

uint64_t
events_dropped(void)
{
	return bus != NULL ? bus->dropped : 0;
}

uint64_t
events_log_size(void)
{
	return bus != NULL ? bus->size : 0;
}

/* The retained line holding log offset off (first <= off < size). */
static uint64_t
events_find(uint64_t off)
{
	uint64_t lo = bus->first, hi = bus->first + bus->count - 1, mid;

	while (lo < hi) {
		mid = lo + (hi - lo + 1) / 2;
		if (events_line(mid)->off <= off)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

size_t
events_log_read(uint64_t off, char *buf, size_t len)
{
	struct events_line *l;
	uint64_t            start, n;
	size_t              done = 0, skip, take;

	if (bus == NULL || off >= bus->size || len == 0)
		return 0;

	/* What is no longer retained reads as empty lines. */
	start = bus->count > 0 ? bus->ring[bus->head].off : bus->size;
	if (off < start) {
		done = start - off < len ? (size_t)(start - off) : len;
		memset(buf, '\n', done);
		off += done;
	}

	if (done == len || off >= bus->size)
		return done;
	for (n = events_find(off); n < bus->first + bus->count; n++) {
		l = events_line(n);
		skip = (size_t)(off - l->off);
		take = l->len - skip;
		if (take > len - done)
			take = len - done;
		memcpy(buf + done, l->text + skip, take);
		done += take;
		off += take;
		if (done == len)
			break;
	}
	return done;
}

struct events_sub *
events_subscribe(events_ready_cb cb, void *arg)
{
	struct events_sub *sub;

	if ((sub = calloc(1, sizeof *sub)) == NULL)
		return NULL;
	sub->cb = cb;
	sub->arg = arg;

	/* Without a bus the subscriber is at its end already. */
	if (bus == NULL) {
		sub->closed = 1;
		return sub;
	}
	sub->next = bus->first + bus->count;
	TAILQ_INSERT_TAIL(&bus->subs, sub, entry);
	return sub;
}

void
events_unsubscribe(struct events_sub *sub)
{
	if (sub == NULL)
		return;
	if (!sub->closed) {
		TAILQ_REMOVE(&bus->subs, sub, entry);
		if (sub->queued)
			TAILQ_REMOVE(&bus->ready, sub, ready_entry);
	}
	free(sub);
}

ssize_t
events_read(struct events_sub *sub, char *buf, size_t len)
{
	struct events_line *l;
	size_t              done = 0;
	int                 n;

	if (sub->closed)
		return 0;
	events_catch_up(sub);

	if (sub->dropped > 0) {
		n = snprintf(buf, len,
		    "{\"type\":\"events.dropped\",\"count\":%llu}\n",
		    (unsigned long long)sub->dropped);
		if (n < 0 || (size_t)n >= len)
			return -EMSGSIZE;
		done = (size_t)n;
		sub->dropped = 0;
	}

	while (sub->next < bus->first + bus->count) {
		l = events_line(sub->next);
		if (l->len > len - done)
			break;
		memcpy(buf + done, l->text, l->len);
		done += l->len;
		sub->next++;
	}

	if (done > 0)
		return (ssize_t)done;
	return sub->next < bus->first + bus->count ? -EMSGSIZE : -EAGAIN;
}

int
events_readable(const struct events_sub *sub)
{
	if (sub->closed || sub->dropped > 0)
		return 1;
	return sub->next < bus->first + bus->count;
}
