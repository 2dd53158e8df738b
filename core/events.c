/*
 * The event bus.  Lines live once, in a ring ordered by line number whose
 * text sits in one byte ring indexed by log offset, so an event costs no
 * allocation of its own; a subscriber is a cursor into the line ring, so
 * its queue is the window between its cursor and the newest line, bounded
 * by sub_lines.  Ready callbacks are collected on a list and run from an
 * idle handle, so a producer (possibly a FUSE request handler) never
 * re-enters a reader.
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

	/* Log byte off is text[off % text_cap]; what is retained fits. */
	char  *text;
	size_t text_cap;
	char   line[EVENTS_LINE_MAX + 1]; /* the event being formatted */

	int64_t ts_sec;      /* the second ts_date was made for */
	char    ts_date[32]; /* its "2026-12-03T15:35:24." */

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

	/* The newest line stays even past the bound, so it must fit. */
	b->text_cap = retain_bytes > EVENTS_LINE_MAX + 1 ? retain_bytes
	                                                 : EVENTS_LINE_MAX + 1;
	b->ring = calloc(EVENTS_RING_MIN, sizeof *b->ring);
	b->text = malloc(b->text_cap);
	if (b->ring == NULL || b->text == NULL) {
		free(b->ring);
		free(b->text);
		free(b);
		return -ENOMEM;
	}
	b->cap = EVENTS_RING_MIN;
	b->ts_sec = -1;
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

	free(b->ring);
	free(b->text);
	bus = NULL;
	uv_close((uv_handle_t *)&b->idle, events_bus_free);
}

/* Copies log bytes [off, off + len) out of the text ring. */
static void
events_text_get(uint64_t off, char *buf, size_t len)
{
	size_t at = (size_t)(off % bus->text_cap);
	size_t first = bus->text_cap - at < len ? bus->text_cap - at : len;

	memcpy(buf, bus->text + at, first);
	memcpy(buf + first, bus->text, len - first);
}

/* Writes len bytes of the log from offset off into the text ring. */
static void
events_text_at(uint64_t off, const char *buf, size_t len)
{
	size_t at = (size_t)(off % bus->text_cap);
	size_t first = bus->text_cap - at < len ? bus->text_cap - at : len;

	memcpy(bus->text + at, buf, first);
	memcpy(bus->text, buf + first, len - first);
}

/* Text for log offset bus->size on, where the next line goes. */
static void
events_text_put(const char *buf, size_t len)
{
	events_text_at(bus->size, buf, len);
}

/* "ts" of an event now; the calendar part is made once a second. */
static void
events_ts(char *ts, size_t len)
{
	int64_t ms = node_now_ms();

	if (ms / 1000 != bus->ts_sec) {
		bus->ts_sec = ms / 1000;
		node_format_time(ms, bus->ts_date, sizeof bus->ts_date);
		/* Keep up to the dot: the milliseconds change every time. */
		bus->ts_date[strcspn(bus->ts_date, ".") + 1] = '\0';
	}
	snprintf(ts, len, "%s%03dZ", bus->ts_date, (int)(ms % 1000));
}

/* Appends s as a JSON string at p (room bytes); the length, or 0. */
static size_t
events_put_string(char *p, size_t room, const char *s)
{
	size_t n = 0;

	for (p[n++] = '"'; *s != '\0' && n + 7 < room; s++) {
		if (*s == '"' || *s == '\\') {
			p[n++] = '\\';
			p[n++] = *s;
		} else if ((unsigned char)*s < 0x20) {
			n += (size_t)snprintf(
			    p + n, room - n, "\\u%04x", (unsigned char)*s);
		} else {
			p[n++] = *s;
		}
	}
	if (*s != '\0' || n + 1 >= room)
		return 0;
	p[n++] = '"';
	return n;
}

/* Fields without the members an event's own would clash with. */
static json_t *
events_own_fields(json_t *fields)
{
	static const char *const own[] = {"seq", "ts", "type"};
	const size_t             nown = sizeof own / sizeof own[0];
	json_t                  *copy;
	size_t                   i;

	for (i = 0; i < nown; i++) {
		if (json_object_get(fields, own[i]) != NULL)
			break;
	}
	if (i == nown)
		return json_incref(fields);
	if ((copy = json_copy(fields)) == NULL)
		return NULL;
	for (i = 0; i < nown; i++)
		json_object_del(copy, own[i]);
	return copy;
}

/*
 * Dumps the members of fields at p (room bytes) as a JSON object.
 * Returns its length, which is more than room when it does not fit, 0
 * when there is nothing to dump, or -1 on failure.
 */
static ssize_t
events_put_fields(char *p, size_t room, json_t *fields)
{
	json_t *own;
	size_t  n = 0;

	if (fields == NULL || !json_is_object(fields) ||
	    json_object_size(fields) == 0)
		return 0;
	if ((own = events_own_fields(fields)) == NULL)
		return -1;
	if (json_object_size(own) > 0 &&
	    (n = json_dumpb(own, p, room, JSON_COMPACT)) == 0) {
		json_decref(own);
		return -1;
	}
	json_decref(own);
	return (ssize_t)n;
}

/*
 * Formats one event into bus->line: {"seq":..,"ts":..,"type":..} and the
 * fields after them, as one compact JSON line.  Returns its length with
 * the newline, or 0 when it cannot be made.
 */
static size_t
events_format(const char *type, json_t *fields)
{
	static const char trunc[] = ",\"truncated\":true}";
	char             *p = bus->line, ts[40];
	size_t            room = sizeof bus->line - 1, head, tail;
	ssize_t           n;
	int               w;

	events_ts(ts, sizeof ts);
	w = snprintf(p, room, "{\"seq\":%llu,\"ts\":\"%s\",\"type\":",
	    (unsigned long long)bus->seq, ts);
	if (w < 0 || (size_t)w >= room)
		return 0;
	if ((head = events_put_string(p + w, room - (size_t)w, type)) == 0)
		return 0;
	head += (size_t)w;
	if ((n = events_put_fields(p + head, room - head, fields)) < 0)
		return 0;

	/* The fields' "{" becomes the comma after type; their "}" ends. */
	tail = head + (n > 0 ? (size_t)n : 1);
	if (tail > EVENTS_LINE_MAX || tail > room) {
		if (head + sizeof trunc > room)
			return 0;
		memcpy(p + head, trunc, sizeof trunc - 1);
		tail = head + sizeof trunc - 1;
	} else {
		p[head] = n > 0 ? ',' : '}';
	}
	p[tail] = '\n';
	return tail + 1;
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
	size_t              len;

	if (bus == NULL || type == NULL)
		goto out;
	if (bus->count == bus->cap && events_grow() != 0)
		goto out;
	if ((len = events_format(type, fields)) == 0)
		goto out;

	/* The oldest text may be overwritten here: trimming below drops
	 * exactly the lines it belonged to. */
	events_text_put(bus->line, len);
	l = &bus->ring[(bus->head + bus->count) % bus->cap];
	l->off = bus->size;
	l->len = len;
	bus->count++;
	bus->bytes += len;
	bus->size += len;
	bus->seq++;
	bus->emitted++;
	if (bus->sink != NULL)
		bus->sink(bus->seq - 1, l->off, bus->line, len, bus->sink_arg);
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

	if (bus == NULL)
		return -EINVAL;
	if (bus->count > 0)
		last = events_line(bus->first + bus->count - 1);

	/* Old lines tile the log up to where this run goes on. */
	if (len == 0 || len > bus->text_cap || line[len - 1] != '\n' ||
	    off + len > bus->size ||
	    (last != NULL && last->off + last->len != off) || bus->emitted > 0)
		return -EINVAL;
	if (bus->count == bus->cap && events_grow() != 0)
		return -ENOMEM;

	events_text_at(off, line, len);
	l = &bus->ring[(bus->head + bus->count) % bus->cap];
	l->off = off;
	l->len = len;
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

size_t
events_log_read(uint64_t off, char *buf, size_t len)
{
	uint64_t start;
	size_t   done = 0, take;

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
	take = bus->size - off < len - done ? (size_t)(bus->size - off)
	                                    : len - done;
	events_text_get(off, buf + done, take);
	return done + take;
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
		events_text_get(l->off, buf + done, l->len);
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
