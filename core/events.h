/*
 * The event bus: every event is one JSON line
 * {"seq":N,"ts":"2026-12-03T15:35:24.123Z","type":"noun.verb",...}.
 *
 * Lines are retained in memory in one offset space that only grows (the
 * byte offsets of events.log).  Each subscriber has its own cursor that
 * starts at "now" and may lag at most a bounded number of lines; one that
 * falls further behind gets {"type":"events.dropped","count":N} in place of
 * what it missed.  Everything runs on the loop thread.
 */
#ifndef ALKNET_EVENTS_H
#define ALKNET_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>
#include <uv.h>

struct events_sub;

/* Called (from the loop, never inside events_emit) when sub has data or
 * the bus was closed. */
typedef void (*events_ready_cb)(struct events_sub *sub, void *arg);

/*
 * Prepares the bus.  retain_bytes bounds the log kept in memory (the
 * newest line always stays), sub_lines (at least 1) bounds how far one
 * subscriber may lag.  first_seq is the seq of this run's first event and
 * first_offset the log size so far, continuing a previous run (0 and 0
 * for a fresh node).  Returns 0, -ENOMEM, or -EBUSY if the bus is open.
 */
int events_init(uv_loop_t *loop, size_t retain_bytes, size_t sub_lines,
    uint64_t first_seq, uint64_t first_offset);

/*
 * Ends every subscriber with EOF (their callbacks run before this
 * returns) and frees the bus; its idle handle closes on the next turn of
 * the loop.
 */
void events_close(void);

/*
 * Emits an event of the given type.  fields is a JSON object whose members
 * follow seq, ts and type (and cannot replace them); the reference is
 * stolen (NULL means none).  An event whose line would pass 16 KiB keeps
 * seq, ts and type and gets "truncated":true instead of its fields.
 * Never carries destinations, names looked up, payloads or secrets.
 */
void events_emit(const char *type, json_t *fields);

/*
 * Called inside events_emit for every line, with its seq and log offset
 * (line ends with its newline), so that a store can keep it.
 */
typedef void (*events_sink_cb)(
    uint64_t seq, uint64_t off, const char *line, size_t len, void *arg);

/* Sets the one sink (NULL: none). */
void events_set_sink(events_sink_cb cb, void *arg);

/*
 * Puts back a line of an earlier run, before this run emits anything, so
 * that events.log reads it again.  Lines come oldest first and tile the
 * log: each starts where the previous one ended, and the last ends at
 * first_offset.  Subscribers never see them.  Returns 0, -EINVAL for a
 * line out of place or after the first emit, or -ENOMEM.
 */
int events_restore(uint64_t off, const char *line, size_t len);

/* Number of events emitted and lines dropped for slow readers. */
uint64_t events_emitted(void);
uint64_t events_dropped(void);

/* The log's size: bytes ever written, the st_size of events.log. */
uint64_t events_log_size(void);

/*
 * Copies log bytes at off into buf (at most len).  Returns the count, 0
 * at the end.  Bytes older than what is retained read as '\n'.
 */
size_t events_log_read(uint64_t off, char *buf, size_t len);

/*
 * A new subscriber whose cursor is at "now"; without an open bus it is
 * at its end already.  NULL on ENOMEM.
 */
struct events_sub *events_subscribe(events_ready_cb cb, void *arg);

/* Frees a subscriber; accepts NULL. */
void events_unsubscribe(struct events_sub *sub);

/*
 * Copies whole lines for sub into buf.  Returns the byte count (> 0),
 * -EAGAIN when no line is waiting (the callback fires when one is),
 * 0 at EOF (the bus is closed), or -EMSGSIZE if even one line does not
 * fit in len.
 */
ssize_t events_read(struct events_sub *sub, char *buf, size_t len);

/* True when a read would not return -EAGAIN. */
int events_readable(const struct events_sub *sub);

#endif
