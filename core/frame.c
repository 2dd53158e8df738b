/*
 * Call protocol frames: the envelope as JSON behind a length.  The peer
 * decides every byte, so the decoder refuses a bad length before it
 * allocates, grows a body's buffer only as bytes arrive, and hands on
 * only envelopes whose type and id the layers above can trust.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

/* Compact, keys as inserted (type, id, payload), UTF-8 as it is. */
#define FRAME_DUMP_FLAGS JSON_COMPACT
#define FRAME_GUESS      1024 /* bytes first tried for a frame */
/* Scalars parse too, so that a body that is not an object is told apart
 * from one that is not JSON; duplicate keys could smuggle a second type
 * past a peer that keeps the other one. */
#define FRAME_LOAD_FLAGS (JSON_DECODE_ANY | JSON_REJECT_DUPLICATES)
/* The first allocation for a body that arrives in pieces. */
#define FRAME_CHUNK 4096

struct frame_decoder {
	size_t         max;
	unsigned char  hdr[FRAME_HEADER];
	size_t         hdr_have;
	unsigned char *body;
	size_t         body_len; /* N once the header is whole, else 0 */
	size_t         body_have;
	size_t         body_cap;
	enum frame_err why; /* set once, never cleared */
};

static const char *const frame_type_names[FRAME_NTYPES] = {
    [FRAME_REQUESTED] = "call.requested",
    [FRAME_RESPONDED] = "call.responded",
    [FRAME_COMPLETED] = "call.completed",
    [FRAME_ABORTED] = "call.aborted",
    [FRAME_ERROR] = "call.error",
};

static const struct {
	int         rc;
	const char *text;
} frame_errs[FRAME_NERRS] = {
    [FRAME_ERR_NONE] = {0, "no error"},
    [FRAME_ERR_EMPTY] = {-EBADMSG, "frame length is 0"},
    [FRAME_ERR_TOO_BIG] = {-EMSGSIZE, "frame length above the maximum"},
    [FRAME_ERR_JSON] = {-EBADMSG, "frame body is not JSON"},
    [FRAME_ERR_NOT_OBJECT] = {-EBADMSG, "frame body is not an object"},
    [FRAME_ERR_TYPE] = {-EBADMSG, "frame type missing or not a string"},
    [FRAME_ERR_ID] = {-EBADMSG, "frame id missing or not a string"},
    [FRAME_ERR_UNKNOWN_TYPE] = {-EBADMSG, "frame type unknown"},
    [FRAME_ERR_TRUNCATED] = {-EPIPE, "stream ended inside a frame"},
    [FRAME_ERR_NOMEM] = {-ENOMEM, "out of memory"},
};

const char *
frame_type_name(enum frame_type t)
{
	if ((unsigned)t >= FRAME_NTYPES)
		return NULL;
	return frame_type_names[t];
}

int
frame_type_parse(const char *name)
{
	int t;

	for (t = 0; t < FRAME_NTYPES; t++) {
		if (strcmp(name, frame_type_names[t]) == 0)
			return t;
	}
	return -EINVAL;
}

const char *
frame_strerror(enum frame_err why)
{
	if ((unsigned)why >= FRAME_NERRS)
		return "unknown frame error";
	return frame_errs[why].text;
}

void
frame_release(struct frame *f)
{
	if (f == NULL)
		return;
	json_decref(f->body);
	memset(f, 0, sizeof *f);
}

/* Builds {"type","id","payload"} in that order into *out. */
static int
frame_envelope(enum frame_type t, const char *id, json_t *payload, json_t **out)
{
	const char *name = frame_type_name(t);
	json_t     *o = NULL, *jid;
	int         rc = -ENOMEM;

	if (name == NULL || id == NULL)
		return -EINVAL;
	if ((o = json_object()) == NULL)
		goto out;
	if (json_object_set_new(o, "type", json_string(name)) != 0)
		goto out;

	/* XXX: jansson answers NULL both for bad UTF-8 and for no memory. */
	if ((jid = json_string(id)) == NULL) {
		rc = -EINVAL;
		goto out;
	}
	if (json_object_set_new(o, "id", jid) != 0)
		goto out;
	if (payload == NULL)
		payload = json_null();
	if (json_object_set(o, "payload", payload) != 0)
		goto out;

	*out = o;
	o = NULL;
	rc = 0;
out:
	json_decref(o);
	return rc;
}

static void
frame_put_length(unsigned char *p, size_t n)
{
	p[0] = (unsigned char)(n >> 24);
	p[1] = (unsigned char)(n >> 16);
	p[2] = (unsigned char)(n >> 8);
	p[3] = (unsigned char)n;
}

/* Dumps o behind its header into buf; *size gets 4 + N in any case. */
static int
frame_write(json_t *o, unsigned char *buf, size_t len, size_t *size)
{
	size_t room = len > FRAME_HEADER ? len - FRAME_HEADER : 0;
	size_t n;

	n = json_dumpb(o, room > 0 ? (char *)buf + FRAME_HEADER : NULL, room,
	    FRAME_DUMP_FLAGS);
	/* An object dumps to two bytes at least: 0 is jansson failing. */
	if (n == 0)
		return -ENOMEM;
	if (n > FRAME_MAX_DEFAULT)
		return -EMSGSIZE;

	*size = FRAME_HEADER + n;
	if (len < *size)
		return -ENOBUFS;
	frame_put_length(buf, n);
	return 0;
}

int
frame_encode(enum frame_type t, const char *id, json_t *payload, void *buf,
    size_t len, size_t *size)
{
	json_t *o = NULL;
	int     rc;

	if ((rc = frame_envelope(t, id, payload, &o)) != 0)
		return rc;
	rc = frame_write(o, buf, len, size);
	json_decref(o);
	return rc;
}

int
frame_encode_alloc(enum frame_type t, const char *id, json_t *payload,
    void **out, size_t *size)
{
	json_t *o = NULL;
	void   *buf = NULL;
	size_t  need = 0;
	int     rc;

	if ((rc = frame_envelope(t, id, payload, &o)) != 0)
		return rc;

	/* Most frames fit a first guess, and are dumped once; a larger
	 * one is measured by that first pass and dumped again. */
	rc = -ENOMEM;
	if ((buf = malloc(FRAME_GUESS)) == NULL)
		goto out;
	rc = frame_write(o, buf, FRAME_GUESS, &need);
	if (rc == -ENOBUFS) {
		free(buf);
		rc = -ENOMEM;
		if ((buf = malloc(need)) == NULL)
			goto out;
		rc = frame_write(o, buf, need, &need);
	}
	if (rc != 0)
		goto out;

	*size = need;
	*out = buf;
	buf = NULL;
out:
	free(buf);
	json_decref(o);
	return rc;
}

static int
frame_fail(enum frame_err e, enum frame_err *why)
{
	if (why != NULL)
		*why = e;
	return frame_errs[e].rc;
}

/* Reads the header at p and checks the length against max. */
static int
frame_length(const unsigned char *p, size_t max, size_t *n, enum frame_err *why)
{
	uint32_t v;

	v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
	    (uint32_t)p[3];
	if (v == 0)
		return frame_fail(FRAME_ERR_EMPTY, why);
	if (v > max)
		return frame_fail(FRAME_ERR_TOO_BIG, why);
	*n = v;
	return 0;
}

/* Checks the parsed body o; fills f on success. */
static enum frame_err
frame_check(json_t *o, struct frame *f)
{
	json_t *type, *id, *payload;
	int     t;

	if (!json_is_object(o))
		return FRAME_ERR_NOT_OBJECT;
	type = json_object_get(o, "type");
	if (!json_is_string(type))
		return FRAME_ERR_TYPE;
	id = json_object_get(o, "id");
	if (!json_is_string(id))
		return FRAME_ERR_ID;
	if ((t = frame_type_parse(json_string_value(type))) < 0)
		return FRAME_ERR_UNKNOWN_TYPE;

	if ((payload = json_object_get(o, "payload")) == NULL)
		payload = json_null();
	f->type = (enum frame_type)t;
	f->id = json_string_value(id);
	f->payload = payload;
	f->body = o;
	return FRAME_ERR_NONE;
}

/* Parses a whole body of n bytes into *f. */
static int
frame_parse(
    const unsigned char *body, size_t n, struct frame *f, enum frame_err *why)
{
	struct frame   tmp;
	json_error_t   jerr;
	json_t        *o;
	enum frame_err e;

	o = json_loadb((const char *)body, n, FRAME_LOAD_FLAGS, &jerr);
	if (o == NULL) {
		e = json_error_code(&jerr) == json_error_out_of_memory
		    ? FRAME_ERR_NOMEM
		    : FRAME_ERR_JSON;
		return frame_fail(e, why);
	}
	if ((e = frame_check(o, &tmp)) != FRAME_ERR_NONE) {
		json_decref(o);
		return frame_fail(e, why);
	}
	*f = tmp;
	return 0;
}

int
frame_decode(const void *buf, size_t len, size_t max, struct frame *f,
    size_t *size, enum frame_err *why)
{
	const unsigned char *p = buf;
	size_t               n;
	int                  rc;

	if (max == 0)
		max = FRAME_MAX_DEFAULT;
	if (len < FRAME_HEADER) {
		*size = FRAME_HEADER;
		return -EAGAIN;
	}
	if ((rc = frame_length(p, max, &n, why)) != 0)
		return rc;

	*size = FRAME_HEADER + n;
	if (len < *size)
		return -EAGAIN;
	return frame_parse(p + FRAME_HEADER, n, f, why);
}

const char *
frame_request_id(const struct frame *f)
{
	json_t *rid;

	if (f->id[0] != '\0')
		return f->id;
	rid = json_object_get(f->payload, "requestId");
	if (json_is_string(rid))
		return json_string_value(rid);
	return f->id;
}

int
frame_decoder_new(size_t max, struct frame_decoder **out)
{
	struct frame_decoder *d;

	if (max > UINT32_MAX)
		return -EINVAL;
	if ((d = calloc(1, sizeof *d)) == NULL)
		return -ENOMEM;
	d->max = max != 0 ? max : FRAME_MAX_DEFAULT;
	*out = d;
	return 0;
}

void
frame_decoder_free(struct frame_decoder *d)
{
	if (d == NULL)
		return;
	free(d->body);
	free(d);
}

static int
frame_decoder_fail(struct frame_decoder *d, enum frame_err e)
{
	d->why = e;
	free(d->body);
	d->body = NULL;
	return frame_errs[e].rc;
}

/* Makes room for need body bytes, doubling, never past the body. */
static int
frame_decoder_grow(struct frame_decoder *d, size_t need)
{
	unsigned char *b;
	size_t         cap = d->body_cap != 0 ? d->body_cap : FRAME_CHUNK;

	if (need <= d->body_cap)
		return 0;
	while (cap < need)
		cap = cap > d->body_len / 2 ? d->body_len : cap * 2;
	if (cap > d->body_len)
		cap = d->body_len;
	if ((b = realloc(d->body, cap)) == NULL)
		return -ENOMEM;
	d->body = b;
	d->body_cap = cap;
	return 0;
}

/* Takes header bytes from p; returns how many. */
static size_t
frame_decoder_header(
    struct frame_decoder *d, const unsigned char *p, size_t len)
{
	size_t n = 0;

	while (d->hdr_have < FRAME_HEADER && n < len)
		d->hdr[d->hdr_have++] = p[n++];
	return n;
}

/* Takes body bytes from p; returns how many, or -ENOMEM. */
static ssize_t
frame_decoder_body(struct frame_decoder *d, const unsigned char *p, size_t len)
{
	size_t take = d->body_len - d->body_have;

	if (take > len)
		take = len;
	if (take == 0)
		return 0;
	if (frame_decoder_grow(d, d->body_have + take) != 0)
		return -ENOMEM;
	memcpy(d->body + d->body_have, p, take);
	d->body_have += take;
	return (ssize_t)take;
}

/* The body is whole: parses it and readies d for the next frame. */
static int
frame_decoder_finish(struct frame_decoder *d, struct frame *f)
{
	enum frame_err why = FRAME_ERR_NONE;
	int            rc;

	rc = frame_parse(d->body, d->body_len, f, &why);
	free(d->body);
	d->body = NULL;
	d->body_cap = d->body_len = d->body_have = d->hdr_have = 0;
	if (rc != 0)
		return frame_decoder_fail(d, why);
	return 1;
}

/* On a frame boundary with a whole frame in p: no copy is needed. */
static int
frame_decoder_direct(struct frame_decoder *d, const unsigned char *p,
    size_t len, size_t *used, struct frame *f)
{
	enum frame_err why = FRAME_ERR_NONE;
	size_t         size = FRAME_HEADER; /* what a bad header took */
	int            rc;

	rc = frame_decode(p, len, d->max, f, &size, &why);
	if (rc == -EAGAIN)
		return rc;
	*used = size;
	if (rc != 0)
		return frame_decoder_fail(d, why);
	return 1;
}

int
frame_decoder_feed(struct frame_decoder *d, const void *buf, size_t len,
    size_t *used, struct frame *f)
{
	const unsigned char *p = buf;
	enum frame_err       why = FRAME_ERR_NONE;
	size_t               n;
	ssize_t              got;
	int                  rc;

	*used = 0;
	if (d->why != FRAME_ERR_NONE)
		return frame_errs[d->why].rc;
	if (d->hdr_have == 0 && len >= FRAME_HEADER) {
		rc = frame_decoder_direct(d, p, len, used, f);
		if (rc != -EAGAIN)
			return rc;
	}

	n = frame_decoder_header(d, p, len);
	*used = n;
	if (d->hdr_have < FRAME_HEADER)
		return 0;
	if (d->body_len == 0 &&
	    frame_length(d->hdr, d->max, &d->body_len, &why) != 0)
		return frame_decoder_fail(d, why);

	if ((got = frame_decoder_body(d, p + n, len - n)) < 0)
		return frame_decoder_fail(d, FRAME_ERR_NOMEM);
	*used = n + (size_t)got;
	if (d->body_have < d->body_len)
		return 0;
	return frame_decoder_finish(d, f);
}

int
frame_decoder_end(struct frame_decoder *d)
{
	if (d->why == FRAME_ERR_NONE && d->hdr_have > 0)
		return frame_decoder_fail(d, FRAME_ERR_TRUNCATED);
	return frame_errs[d->why].rc;
}

enum frame_err
frame_decoder_error(const struct frame_decoder *d)
{
	return d->why;
}
