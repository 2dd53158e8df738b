/*
 * What a handler answers over the call protocol: the payloads of
 * call.responded and call.error, and the frame that carries either.
 *
 * Errors are {"code":C,"message":M,"retryable":B} plus "details" when
 * there are some.  The codes written are the upstream Rust set plus
 * ABORTED and LOCKED; the TypeScript peer's names are read as their
 * nearest equivalent, and a code nobody here knows reads as INTERNAL.
 */
#ifndef ALKNET_REPLY_H
#define ALKNET_REPLY_H

#include <stddef.h>

#include <jansson.h>

enum reply_code {
	REPLY_NOT_FOUND,     /* no such operation or object */
	REPLY_FORBIDDEN,     /* access denied, or authentication needed */
	REPLY_INVALID_INPUT, /* the input fails the operation's schema */
	REPLY_INTERNAL,      /* the handler failed, or the link closed */
	REPLY_TIMEOUT,       /* the deadline passed; worth retrying */
	REPLY_ABORTED,       /* cancelled, or ended without an answer */
	REPLY_LOCKED,        /* the secret service is locked */
	REPLY_NCODES
};

struct reply_error {
	enum reply_code code;
	const char     *message;
	int             retryable;
	json_t         *details; /* borrowed; NULL or JSON null: none */
};

/* The wire name of code ("NOT_FOUND", ...), NULL when out of range. */
const char *reply_code_name(enum reply_code code);

/*
 * The code named name: one of ours, or a TypeScript peer's
 * (OPERATION_NOT_FOUND, ACCESS_DENIED, VALIDATION_ERROR,
 * EXECUTION_ERROR, UNKNOWN_ERROR).  Returns -EINVAL for any other name.
 */
int reply_code_parse(const char *name);

/* Whether an error with code is worth retrying unless its sender says
 * otherwise: only TIMEOUT is. */
int reply_code_retryable(enum reply_code code);

/*
 * The call.error payload for e, a new reference; details is left out
 * when NULL or JSON null.  NULL for a code out of range, a NULL message
 * or one that is not UTF-8, or no memory.
 */
json_t *reply_error_payload(const struct reply_error *e);

/*
 * Reads a call.error payload into e, whose message and details point
 * into payload and live as long as it.  Returns 0, or -EBADMSG when
 * payload is not an object with a string code, a string message and a
 * boolean retryable.  A code that is not known reads as INTERNAL.
 */
int reply_error_parse(json_t *payload, struct reply_error *e);

/* The call.responded payload {"output": output}, a new reference;
 * output is borrowed, NULL means JSON null.  NULL on ENOMEM. */
json_t *reply_ok_payload(json_t *output);

/*
 * A handler's result as one frame, malloc'ed into *out (*size bytes,
 * the caller frees): with err NULL the result is Ok(output) and the
 * frame call.responded id {"output": output}; otherwise it is call.error
 * id with err's payload and output is ignored.  Returns 0, -EINVAL for
 * an err reply_error_payload refuses, or as frame_encode_alloc.
 */
int reply_encode(const char *id, json_t *output, const struct reply_error *err,
    void **out, size_t *size);

#endif
