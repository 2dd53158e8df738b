/*
 * The durable event stream.  Events come often (one per channel opened
 * or closed), so outside a transaction they wait in a bounded queue and
 * go to disk in one batched transaction per loop turn; that batch commits
 * at synchronous=NORMAL, which in WAL mode survives the death of the
 * process.  Inside a transaction an event is written with the change it
 * announces.  Seq and offset only grow, across restarts too; retention
 * drops the oldest rows, never the numbering.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "storage_int.h"

static int
storage_over(const struct storage *st, const struct storage_evstate *ev)
{
	return ev->rows > st->retain_rows || ev->bytes > st->retain_bytes;
}

static int
storage_event_insert(struct storage *st, uint64_t seq, uint64_t off,
    const char *line, size_t len)
{
	sqlite3_stmt *s;

	s = storage__stmt(st, STMT_EVENT_INSERT,
	    "INSERT INTO events (seq, offset, line) VALUES (?1, ?2, ?3)");
	if (s == NULL)
		return -EIO;
	if (sqlite3_bind_int64(s, 1, (sqlite3_int64)seq) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, (sqlite3_int64)off) != SQLITE_OK ||
	    sqlite3_bind_blob(s, 3, line, (int)len, SQLITE_STATIC) != SQLITE_OK)
		return storage__fail(st, sqlite3_errcode(st->db));
	return storage__exec(st, s);
}

int
storage__events_load(struct storage *st)
{
	sqlite3_stmt *s;
	int           rc;

	s = storage__stmt(st, STMT_EVENT_STATS,
	    "SELECT count(*), coalesce(sum(length(line)), 0) FROM events");
	if (s == NULL)
		return -EIO;
	if ((rc = sqlite3_step(s)) != SQLITE_ROW)
		goto fail;
	st->ev.rows = (uint64_t)sqlite3_column_int64(s, 0);
	st->ev.bytes = (uint64_t)sqlite3_column_int64(s, 1);
	sqlite3_reset(s);

	s = storage__stmt(st, STMT_EVENT_LAST,
	    "SELECT seq, offset + length(line) FROM events"
	    " ORDER BY seq DESC LIMIT 1");
	if (s == NULL)
		return -EIO;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		st->ev.next_seq = (uint64_t)sqlite3_column_int64(s, 0) + 1;
		st->ev.next_off = (uint64_t)sqlite3_column_int64(s, 1);
	} else if (rc != SQLITE_DONE) {
		goto fail;
	}
	sqlite3_reset(s);
	return 0;

fail:
	rc = storage__fail(st, rc);
	sqlite3_reset(s);
	return rc;
}

void
storage__events_free(struct storage *st)
{
	size_t i;

	for (i = 0; i < st->queued; i++)
		free(st->queue[i].line);
	st->queued = 0;
}

static int
storage_event_check(const struct storage *st, uint64_t seq, uint64_t off,
    const char *line, size_t len)
{
	if (line == NULL || len == 0)
		return -EINVAL;
	if (len > STORAGE_EVENT_LINE_MAX)
		return -EMSGSIZE;

	/* sqlite integers are signed. */
	if (seq >= INT64_MAX || off > INT64_MAX - len)
		return -EINVAL;
	if (seq < st->ev.next_seq || off < st->ev.next_off)
		return -EINVAL;
	return 0;
}

static int
storage_event_queue(struct storage *st, uint64_t seq, uint64_t off,
    const char *line, size_t len)
{
	struct storage_qevent *q;
	int                    rc;

	/* The queue is a batch, not a buffer: a full one is written now. */
	if (st->queued == STORAGE_QUEUE_MAX && (rc = storage_flush(st)) != 0)
		return rc;

	q = &st->queue[st->queued];
	if ((q->line = malloc(len)) == NULL)
		return -ENOMEM;
	memcpy(q->line, line, len);
	q->seq = seq;
	q->off = off;
	q->len = len;
	st->queued++;
	return 0;
}

int
storage_event_put(struct storage *st, uint64_t seq, uint64_t offset,
    const char *line, size_t len)
{
	int rc;

	if ((rc = storage_event_check(st, seq, offset, line, len)) != 0)
		return rc;

	if (!st->in_tx) {
		rc = storage_event_queue(st, seq, offset, line, len);
	} else if ((rc = storage__durable(st)) == 0) {
		rc = storage_event_insert(st, seq, offset, line, len);
		if (rc == 0) {
			st->ev.rows++;
			st->ev.bytes += len;
		}
	}
	if (rc != 0)
		return rc;

	st->ev.next_seq = seq + 1;
	st->ev.next_off = offset + len;
	return 0;
}

/* Deletes the oldest rows past the bounds, keeping the newest. */
static int
storage_prune(struct storage *st, struct storage_evstate *ev)
{
	sqlite3_stmt *s;
	sqlite3_int64 cut = -1;
	int           rc = SQLITE_ROW;

	if (!storage_over(st, ev))
		return 0;

	s = storage__stmt(st, STMT_EVENT_OLDEST,
	    "SELECT seq, length(line) FROM events ORDER BY seq");
	if (s == NULL)
		return -EIO;
	while (ev->rows > 1 && storage_over(st, ev) &&
	    (rc = sqlite3_step(s)) == SQLITE_ROW) {
		cut = sqlite3_column_int64(s, 0);
		ev->rows--;
		ev->bytes -= (uint64_t)sqlite3_column_int64(s, 1);
	}
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : storage__fail(st, rc);
	sqlite3_reset(s);
	if (rc != 0 || cut < 0)
		return rc;

	s = storage__stmt(
	    st, STMT_EVENT_PRUNE, "DELETE FROM events WHERE seq <= ?1");
	if (s == NULL)
		return -EIO;
	if (sqlite3_bind_int64(s, 1, cut) != SQLITE_OK)
		return storage__fail(st, sqlite3_errcode(st->db));
	return storage__exec(st, s);
}

int
storage_flush(struct storage *st)
{
	struct storage_evstate ev = st->ev;
	struct storage_qevent *q;
	size_t                 i;
	int                    rc;

	if (st->in_tx || (st->queued == 0 && !storage_over(st, &ev)))
		return 0;
	if ((rc = storage__tx_begin(st, SYNC_NORMAL)) != 0)
		return rc;

	for (i = 0; i < st->queued && rc == 0; i++) {
		q = &st->queue[i];
		rc = storage_event_insert(st, q->seq, q->off, q->line, q->len);
		ev.rows++;
		ev.bytes += q->len;
	}
	if (rc == 0)
		rc = storage_prune(st, &ev);
	if ((rc = storage__tx_end(st, rc)) != 0)
		return rc;

	st->ev = ev;
	storage__events_free(st);
	return 0;
}

int
storage_event_next(struct storage *st, uint64_t *seq, uint64_t *offset)
{
	*seq = st->ev.next_seq;
	*offset = st->ev.next_off;
	return 0;
}

int
storage_event_retain(struct storage *st, size_t rows, size_t bytes)
{
	if (rows == 0)
		return -EINVAL;
	st->retain_rows = rows;
	st->retain_bytes = bytes;
	return 0;
}

/* The stored lines from the one holding from on. */
static int
storage_each_stored(struct storage *st, uint64_t                       from,
    int (*cb)(uint64_t, uint64_t, const char *, size_t, void *), void *arg)
{
	sqlite3_stmt *s;
	const char   *line;
	uint64_t      seq, off;
	size_t        len;
	int           rc = SQLITE_DONE, stop = 0;

	s = storage__stmt(st, STMT_EVENT_FROM,
	    "SELECT seq, offset, line FROM events WHERE offset >="
	    " (SELECT coalesce(max(offset), 0) FROM events WHERE offset <= ?1)"
	    " ORDER BY offset");
	if (s == NULL)
		return -EIO;
	if (from > INT64_MAX)
		from = INT64_MAX;
	if (sqlite3_bind_int64(s, 1, (sqlite3_int64)from) != SQLITE_OK)
		return storage__fail(st, sqlite3_errcode(st->db));

	while (stop == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		seq = (uint64_t)sqlite3_column_int64(s, 0);
		off = (uint64_t)sqlite3_column_int64(s, 1);
		line = sqlite3_column_blob(s, 2);
		len = (size_t)sqlite3_column_bytes(s, 2);
		/* The line before from when from falls between lines. */
		if (off + len > from)
			stop = cb(seq, off, line, len, arg);
	}
	if (stop == 0 && rc != SQLITE_DONE)
		stop = storage__fail(st, rc);
	sqlite3_reset(s);
	return stop;
}

int
storage_event_each(struct storage *st, uint64_t from_offset,
    int (*cb)(
        uint64_t seq, uint64_t offset, const char *line, size_t len, void *arg),
    void *arg)
{
	struct storage_qevent *q;
	size_t                 i;
	int                    rc;

	if ((rc = storage_each_stored(st, from_offset, cb, arg)) != 0)
		return rc;

	for (i = 0; i < st->queued; i++) {
		q = &st->queue[i];
		if (q->off + q->len <= from_offset)
			continue;
		if ((rc = cb(q->seq, q->off, q->line, q->len, arg)) != 0)
			return rc;
	}
	return 0;
}
