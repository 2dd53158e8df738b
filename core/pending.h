/*
 * The requests one connection is waiting on: calls, answered once, and
 * subscriptions, which take any number of values until call.completed.
 * Each has a deadline (30 s unless given; a subscription may have none)
 * and may name the request it was made for, so that aborting one request
 * can abort what was started on its behalf.
 *
 * Time is whatever monotonic milliseconds the caller passes; the caller
 * runs pending_sweep from a timer.  Callbacks run from the call that
 * delivers their event, never from pending_add.  An entry is out of the
 * map before its last callback runs, so a callback may add, answer or
 * abort other requests and free its own arg; it must not free the map.
 */
#ifndef ALKNET_PENDING_H
#define ALKNET_PENDING_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "frame.h"
#include "reply.h"

#define PENDING_TIMEOUT_MS  30000
#define PENDING_NO_DEADLINE UINT64_MAX

enum pending_kind {
	PENDING_CALL,      /* one answer */
	PENDING_SUBSCRIBE, /* values until call.completed */
	PENDING_NKINDS
};

enum pending_what {
	PENDING_VALUE,   /* a call.responded output */
	PENDING_END,     /* call.completed on a subscription */
	PENDING_ERROR,   /* call.error, a timeout, the map closing */
	PENDING_ABORTED, /* call.aborted, or aborted by a cascade */
};

/* What a callback is told; every pointer lives until it returns. */
struct pending_event {
	const char        *id;
	enum pending_what  what;
	int                last;  /* the entry is gone: nothing follows */
	json_t            *value; /* PENDING_VALUE: the output */
	struct reply_error err;   /* PENDING_ERROR */
};

typedef void (*pending_cb)(const struct pending_event *ev, void *arg);

/* What pending_add registers; the strings are copied. */
struct pending_req {
	const char       *id;
	const char       *parent; /* the request this one serves; NULL: none */
	enum pending_kind kind;
	/* Milliseconds on the caller's clock.  0: now + PENDING_TIMEOUT_MS;
	 * PENDING_NO_DEADLINE: never, for a subscription only. */
	uint64_t   deadline;
	pending_cb cb; /* NULL: nobody is told */
	void      *arg;
};

/* How a cascade treats descendants that have started running. */
enum pending_policy {
	PENDING_ABORT_DEPENDENTS, /* abort every descendant */
	PENDING_CONTINUE_RUNNING, /* abort only those not started */
};

struct pending;

/*
 * A map for at most max entries at once.  Returns 0 and *out (free with
 * pending_free), -EINVAL for a bound of 0 or over 1 << 20, or -ENOMEM.
 */
int pending_new(size_t max, struct pending **out);

/* Frees m and its entries without calling anyone back (pending_close
 * first to tell them); accepts NULL. */
void pending_free(struct pending *m);

/*
 * Registers r at time now.  Returns 0; -EINVAL for a NULL id, a kind out
 * of range or a call without a deadline; -EEXIST when r->id is pending;
 * -ENOSPC when the map holds its maximum; -EPIPE after pending_close;
 * or -ENOMEM.
 */
int pending_add(struct pending *m, const struct pending_req *r, uint64_t now);

/* Entries in m now. */
size_t pending_count(const struct pending *m);

/* 1 when id is pending, else 0. */
int pending_has(const struct pending *m, const char *id);

/* Marks id as started, for PENDING_CONTINUE_RUNNING.  1 when id is
 * pending, else 0. */
int pending_start(struct pending *m, const char *id);

/*
 * The answers of the peer.  Each returns 1 when id was pending and 0
 * when it was not (such an answer is ignored and calls for no reply).
 *
 * pending_responded hands output (borrowed) to id's callback as a
 * PENDING_VALUE: a call is then removed, a subscription stays.
 * pending_completed ends a subscription with PENDING_END; a call that
 * completes without an answer gets PENDING_ERROR ABORTED instead.
 * pending_failed passes e on as PENDING_ERROR, pending_aborted tells
 * PENDING_ABORTED; both remove id.
 */
int pending_responded(struct pending *m, const char *id, json_t *output);
int pending_completed(struct pending *m, const char *id);
int pending_failed(
    struct pending *m, const char *id, const struct reply_error *e);
int pending_aborted(struct pending *m, const char *id);

/*
 * Dispatches an answer frame to the call above for its request id (see
 * frame_request_id).  Returns 1 or 0 as they do, -EBADMSG for a
 * call.responded without "output" or a call.error payload that does not
 * read, or -EINVAL for call.requested, which is no answer.
 */
int pending_frame(struct pending *m, const struct frame *f);

/*
 * Removes every entry whose deadline is at or before now, telling each
 * PENDING_ERROR TIMEOUT "deadline exceeded" (retryable).  Returns how
 * many went.
 */
size_t pending_sweep(struct pending *m, uint64_t now);

/*
 * The connection closed: removes every entry, telling each
 * PENDING_ERROR INTERNAL "connection closed", and refuses later adds.
 * Returns how many went.
 */
size_t pending_close(struct pending *m);

/*
 * Aborts the requests made on behalf of root, following parent links
 * among pending entries to any depth; root itself and requests outside
 * its tree stay.  Under PENDING_CONTINUE_RUNNING only descendants not
 * started are aborted.  Each aborted entry is removed and told
 * PENDING_ABORTED, parents before children.
 *
 * Returns how many were aborted (0 for a root that is not pending) or
 * -ENOMEM, with nothing aborted.  When ids is not NULL, *ids gets their
 * ids sorted by strcmp, NULL-terminated, in one malloc'ed block the
 * caller frees with free(), or NULL when none were aborted.
 */
int pending_cascade(struct pending *m, const char *root,
    enum pending_policy policy, char ***ids);

#endif
