/*
 * libFuzzer target for the frame decoder.  Beyond surviving any input
 * under ASan and UBSan, decoding must not depend on how the bytes are
 * cut: the input fed whole, byte by byte and in uneven chunks gives the
 * same frames and ends the same way, and frame_decode walking the input
 * agrees with all three.  Every frame decoded encodes again to a frame
 * that decodes to the same type, id and payload.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>

#include "frame.h"

/* Small enough that inputs can announce a length past it. */
#define FUZZ_MAX 1024

struct outcome {
	struct frame  *v;
	size_t         n;
	int            rc; /* 0: a clean end, else the error */
	enum frame_err why;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok)
{
	if (!ok)
		abort();
}

static void
keep(struct outcome *o, struct frame *f)
{
	struct frame *v;

	v = realloc(o->v, (o->n + 1) * sizeof *v);
	check(v != NULL);
	o->v = v;
	o->v[o->n++] = *f;
}

static void
outcome_free(struct outcome *o)
{
	size_t i;

	for (i = 0; i < o->n; i++)
		frame_release(&o->v[i]);
	free(o->v);
}

/* The size of the next chunk: fixed, or uneven and taken from the data. */
static size_t
chunk_size(const uint8_t *data, size_t size, size_t off, size_t step)
{
	if (step != 0)
		return step;
	return 1 + (data[off % size] % 13);
}

static void
feed(const uint8_t *data, size_t size, size_t step, struct outcome *o)
{
	struct frame_decoder *d = NULL;
	struct frame          f;
	size_t                off = 0, len, used;
	int                   rc = 0;

	check(frame_decoder_new(FUZZ_MAX, &d) == 0);
	while (off < size && rc >= 0) {
		len = chunk_size(data, size, off, step);
		if (len > size - off)
			len = size - off;
		while (len > 0) {
			rc = frame_decoder_feed(d, data + off, len, &used, &f);
			check(used <= len);
			off += used;
			len -= used;
			if (rc < 0)
				break;
			if (rc == 1)
				keep(o, &f);
			else
				check(len == 0);
		}
	}
	o->rc = rc < 0 ? rc : frame_decoder_end(d);
	o->why = frame_decoder_error(d);
	check((o->rc == 0) == (o->why == FRAME_ERR_NONE));
	frame_decoder_free(d);
}

static void
walk(const uint8_t *data, size_t size, struct outcome *o)
{
	enum frame_err why = FRAME_ERR_NONE;
	struct frame   f;
	size_t         off = 0, used = 0;
	int            rc;

	while (off < size) {
		rc = frame_decode(
		    data + off, size - off, FUZZ_MAX, &f, &used, &why);
		if (rc == 0) {
			check(used > FRAME_HEADER && used <= size - off);
			keep(o, &f);
			off += used;
			continue;
		}
		if (rc == -EAGAIN) {
			check(used > size - off);
			rc = -EPIPE;
			why = FRAME_ERR_TRUNCATED;
		}
		o->rc = rc;
		o->why = why;
		return;
	}
	o->rc = 0;
	o->why = FRAME_ERR_NONE;
}

static void
same(const struct outcome *a, const struct outcome *b)
{
	size_t i;

	check(a->n == b->n && a->rc == b->rc && a->why == b->why);
	for (i = 0; i < a->n; i++) {
		check(a->v[i].type == b->v[i].type);
		check(strcmp(a->v[i].id, b->v[i].id) == 0);
		check(json_equal(a->v[i].body, b->v[i].body));
	}
}

static void
round_trip(const struct frame *f)
{
	struct frame back;
	void        *buf = NULL;
	size_t       len = 0, used = 0;

	check(frame_encode_alloc(f->type, f->id, f->payload, &buf, &len) == 0);
	check(frame_decode(buf, len, 0, &back, &used, NULL) == 0);
	check(used == len);
	check(back.type == f->type && strcmp(back.id, f->id) == 0);
	check(json_equal(back.payload, f->payload));
	frame_release(&back);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome whole = {0}, bytes = {0}, uneven = {0}, oneshot = {0};
	size_t         i;

	feed(data, size, size > 0 ? size : 1, &whole);
	feed(data, size, 1, &bytes);
	feed(data, size, 0, &uneven);
	walk(data, size, &oneshot);
	same(&whole, &bytes);
	same(&whole, &uneven);
	same(&whole, &oneshot);
	for (i = 0; i < whole.n; i++)
		round_trip(&whole.v[i]);

	outcome_free(&whole);
	outcome_free(&bytes);
	outcome_free(&uneven);
	outcome_free(&oneshot);
	return 0;
}
