/*
 * Frames of the call protocol: a 4-byte big-endian length N, then N bytes
 * of UTF-8 JSON holding the envelope {"type":T,"id":I,"payload":P}.  The
 * form is the same on every carrier.  A length of 0 or above the maximum
 * (64 MiB unless configured) is refused from the header alone, before
 * any memory is set aside for the body.
 *
 * Decoding is strict about what the layers above rely on: the body is
 * one JSON object without duplicate keys, "type" is a string naming one
 * of the five kinds, "id" is a string ("" allowed).  A missing "payload"
 * reads as JSON null, and members other than the three are ignored so
 * that a newer peer may add some.
 */
#ifndef ALKNET_FRAME_H
#define ALKNET_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define FRAME_HEADER      4
#define FRAME_MAX_DEFAULT ((size_t)64 << 20)

enum frame_type {
	FRAME_REQUESTED, /* call.requested: start a call or subscription */
	FRAME_RESPONDED, /* call.responded: one result */
	FRAME_COMPLETED, /* call.completed: a subscription's end */
	FRAME_ABORTED,   /* call.aborted: either side cancels */
	FRAME_ERROR,     /* call.error: {code, message, retryable} */
	FRAME_NTYPES
};

/* Why a frame was refused; each has its own value so logs can tell. */
enum frame_err {
	FRAME_ERR_NONE,
	FRAME_ERR_EMPTY,        /* a length of 0 */
	FRAME_ERR_TOO_BIG,      /* a length above the maximum */
	FRAME_ERR_JSON,         /* the body is not one JSON text in UTF-8 */
	FRAME_ERR_NOT_OBJECT,   /* the body is JSON but not an object */
	FRAME_ERR_TYPE,         /* "type" missing or not a string */
	FRAME_ERR_ID,           /* "id" missing or not a string */
	FRAME_ERR_UNKNOWN_TYPE, /* "type" names none of the five kinds */
	FRAME_ERR_TRUNCATED,    /* the stream ended inside a frame */
	FRAME_ERR_NOMEM,        /* memory ran out while decoding */
	FRAME_NERRS
};

/*
 * A decoded frame.  body is the one reference it owns; id and payload
 * live inside body and go with it.
 */
struct frame {
	enum frame_type type;
	const char     *id;      /* NUL-terminated, may be "" */
	json_t         *payload; /* borrowed from body; JSON null if absent */
	json_t         *body;    /* the whole envelope */
};

/* The wire name of t ("call.requested", ...), NULL when out of range. */
const char *frame_type_name(enum frame_type t);

/* The type named name, or -EINVAL for a name that is none of the five. */
int frame_type_parse(const char *name);

/* A short phrase for why, for logs; never NULL. */
const char *frame_strerror(enum frame_err why);

/* Drops f's reference and clears it; accepts NULL and a cleared f. */
void frame_release(struct frame *f);

/*
 * Encodes the envelope of type t, id and payload (borrowed; NULL writes
 * JSON null) as one compact frame into buf, len bytes, with the keys in
 * the order type, id, payload.  *size gets the frame's length on the
 * wire, 4 + N.  Returns 0; -ENOBUFS when len is less than *size (buf then
 * holds nothing useful); -EINVAL for t out of range or an id that is
 * NULL or not UTF-8; -EMSGSIZE for a body over FRAME_MAX_DEFAULT, which
 * no peer with the default maximum accepts; or -ENOMEM.
 */
int frame_encode(enum frame_type t, const char *id, json_t *payload, void *buf,
    size_t len, size_t *size);

/*
 * As frame_encode, into a buffer of *size bytes malloc'ed for the
 * purpose: *out is the caller's to free.  *out is untouched on failure.
 */
int frame_encode_alloc(enum frame_type t, const char *id, json_t *payload,
    void **out, size_t *size);

/*
 * Decodes the frame at the start of buf, len bytes, refusing bodies over
 * max (0: FRAME_MAX_DEFAULT; at most UINT32_MAX).  Returns:
 *   0        *f filled (release it) and *size = 4 + N, the bytes the
 *            frame took; what follows in buf is not looked at;
 *   -EAGAIN  buf holds less than one frame; *size is the total needed:
 *            4 while the header is incomplete, then 4 + N;
 *   -EMSGSIZE for FRAME_ERR_TOO_BIG, -EBADMSG for the other refusals,
 *            -ENOMEM; why (may be NULL) says which, *f is untouched.
 */
int frame_decode(const void *buf, size_t len, size_t max, struct frame *f,
    size_t *size, enum frame_err *why);

/*
 * The request id f concerns: its id, except that an empty id with a
 * string payload.requestId (how the TypeScript peer correlates) gives
 * that instead.  Points into f's body.
 */
const char *frame_request_id(const struct frame *f);

/*
 * An incremental decoder for one stream: bytes arrive in chunks of any
 * size, a frame may be split anywhere and a chunk may hold many frames.
 * It holds at most one frame's body, grown as bytes arrive rather than
 * sized from the header, so a peer that announces a large frame and
 * sends nothing makes it allocate nothing.
 */
struct frame_decoder;

/*
 * A decoder refusing bodies over max (0: FRAME_MAX_DEFAULT).  Returns 0
 * and *out (free with frame_decoder_free), -EINVAL for max over
 * UINT32_MAX, or -ENOMEM.
 */
int frame_decoder_new(size_t max, struct frame_decoder **out);

/* Frees d and any partial frame; accepts NULL. */
void frame_decoder_free(struct frame_decoder *d);

/*
 * Takes bytes from buf (len) until a frame completes or buf runs out;
 * *used gets the count taken.  Returns 1 with *f filled (release it)
 * when a frame completed, and the rest of buf is to be fed again; 0 when
 * all of buf was taken without completing one; or a negative errno as
 * frame_decode's, with the reason at frame_decoder_error.  After an
 * error the decoder stays failed: every later call returns the same
 * error and takes nothing.  The caller is expected to close the stream.
 */
int frame_decoder_feed(struct frame_decoder *d, const void *buf, size_t len,
    size_t *used, struct frame *f);

/*
 * The stream ended.  Returns 0 on a frame boundary (a clean end),
 * -EPIPE when it ended inside a frame (FRAME_ERR_TRUNCATED, and the
 * decoder is failed), or the error the decoder failed with earlier.
 */
int frame_decoder_end(struct frame_decoder *d);

/* Why d failed; FRAME_ERR_NONE while it has not. */
enum frame_err frame_decoder_error(const struct frame_decoder *d);

#endif
