/*
 * Call protocol frames and envelopes: the bytes on the wire, round trips,
 * short and split input, each kind of refusal, the end of a stream, the
 * length bounds, and the payloads of answers and errors.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <malloc.h>

#if defined(__SANITIZE_ADDRESS__)
/* ASan's allocator keeps its own count; gcc ships no header for it. */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

#include "frame.h"
#include "reply.h"

#define ENV_R1                                                                 \
	"{\"type\":\"call.requested\",\"id\":\"r1\",\"payload\":{\"a\":1}}"

/* Bytes the process holds from malloc now. */
static size_t
heap_in_use(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return __sanitizer_get_current_allocated_bytes();
#else
	return mallinfo2().uordblks;
#endif
}

/* A frame around body, built by hand: header and body as given. */
static size_t
raw_frame(unsigned char *buf, uint32_t n, const char *body)
{
	size_t len = strlen(body);

	buf[0] = (unsigned char)(n >> 24);
	buf[1] = (unsigned char)(n >> 16);
	buf[2] = (unsigned char)(n >> 8);
	buf[3] = (unsigned char)n;
	memcpy(buf + 4, body, len);
	return 4 + len;
}

static char *
dump(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);

	assert_non_null(s);
	return s;
}

static void
assert_json(const json_t *j, const char *want)
{
	char *s = dump(j);

	assert_string_equal(s, want);
	free(s);
}

static void
test_encode_layout(void **state)
{
	unsigned char buf[256], small[20];
	json_t       *payload = json_pack("{s:i}", "a", 1);
	size_t        size = 0, body = strlen(ENV_R1);
	void         *heap = NULL;

	assert_int_equal(body, 53);
	assert_int_equal(frame_encode(FRAME_REQUESTED, "r1", payload, buf,
	                     sizeof buf, &size),
	    0);
	assert_int_equal(size, 4 + body);
	assert_memory_equal(buf, "\0\0\0\x35", 4);
	assert_memory_equal(buf + 4, ENV_R1, body);

	/* Too small: the size needed comes back all the same. */
	size = 0;
	assert_int_equal(frame_encode(FRAME_REQUESTED, "r1", payload, small,
	                     sizeof small, &size),
	    -ENOBUFS);
	assert_int_equal(size, 57);

	assert_int_equal(
	    frame_encode_alloc(FRAME_REQUESTED, "r1", payload, &heap, &size),
	    0);
	assert_int_equal(size, 57);
	assert_memory_equal(heap, buf, 57);
	free(heap);
	json_decref(payload);
}

static void
test_encode_refusals(void **state)
{
	unsigned char buf[64];
	size_t        size = 0;
	void         *heap = NULL;
	json_t       *big;
	char         *s;

	assert_int_equal(
	    frame_encode(FRAME_NTYPES, "x", NULL, buf, sizeof buf, &size),
	    -EINVAL);
	assert_int_equal(
	    frame_encode(FRAME_ERROR, NULL, NULL, buf, sizeof buf, &size),
	    -EINVAL);
	assert_int_equal(
	    frame_encode(FRAME_ERROR, "\xff\xfe", NULL, buf, sizeof buf, &size),
	    -EINVAL);

	/* A body over 64 MiB is never written: no peer would take it. */
	s = malloc(FRAME_MAX_DEFAULT);
	assert_non_null(s);
	memset(s, 'a', FRAME_MAX_DEFAULT);
	big = json_stringn_nocheck(s, FRAME_MAX_DEFAULT);
	free(s);
	assert_non_null(big);
	assert_int_equal(
	    frame_encode_alloc(FRAME_RESPONDED, "r1", big, &heap, &size),
	    -EMSGSIZE);
	assert_null(heap);
	json_decref(big);
}

/* Encodes payload, decodes it back, and checks everything survived. */
static void
round_trip(enum frame_type t, const char *id, json_t *payload)
{
	struct frame f;
	void        *buf = NULL;
	size_t       size = 0, used = 0;

	assert_int_equal(frame_encode_alloc(t, id, payload, &buf, &size), 0);
	assert_int_equal(frame_decode(buf, size, 0, &f, &used, NULL), 0);
	assert_int_equal(used, size);
	assert_int_equal(f.type, t);
	assert_string_equal(f.id, id);
	assert_true(json_equal(f.payload, payload));
	frame_release(&f);
	assert_null(f.body);
	free(buf);
}

static void
test_round_trip(void **state)
{
	json_t *empty = json_object(), *nested, *array;
	int     i;

	nested = json_loads(
	    "{\"a\":{\"b\":[1,2.5,\"\xc3\xa9\",true,null,{\"c\":{}}]}}", 0,
	    NULL);
	assert_non_null(nested);
	array = json_array();
	for (i = 0; i < 1000; i++)
		json_array_append_new(array, json_integer(i));
	assert_int_equal(json_array_size(array), 1000);

	round_trip(FRAME_REQUESTED, "r1", json_null());
	round_trip(FRAME_RESPONDED, "r2", empty);
	round_trip(FRAME_COMPLETED, "r3", nested);
	round_trip(FRAME_ERROR, "r4", array);
	round_trip(FRAME_ABORTED, "", empty);
	json_decref(empty);
	json_decref(nested);
	json_decref(array);
}

static void
test_too_short(void **state)
{
	unsigned char buf[2] = {0, 0};
	struct frame  f;
	size_t        size = 0;

	assert_int_equal(frame_decode(buf, 2, 0, &f, &size, NULL), -EAGAIN);
	assert_int_equal(size, 4);
	assert_int_equal(frame_decode(buf, 0, 0, &f, &size, NULL), -EAGAIN);
	assert_int_equal(size, 4);
}

static void
test_incomplete(void **state)
{
	unsigned char buf[14];
	struct frame  f;
	size_t        size = 0;

	assert_int_equal(raw_frame(buf, 100, "{\"type\":\""), 13);
	buf[13] = 'c';
	assert_int_equal(frame_decode(buf, 14, 0, &f, &size, NULL), -EAGAIN);
	assert_int_equal(size, 104);
}

/* Decodes body behind a header of its own length; returns the errno. */
static int
decode_body(const char *body, enum frame_err *why)
{
	unsigned char buf[512];
	struct frame  f;
	size_t        len, size = 0;
	int           rc;

	len = raw_frame(buf, (uint32_t)strlen(body), body);
	*why = FRAME_ERR_NONE;
	rc = frame_decode(buf, len, 0, &f, &size, why);
	if (rc == 0) {
		assert_int_equal(size, len);
		frame_release(&f);
	}
	return rc;
}

static void
test_refusals_are_distinct(void **state)
{
	static const struct {
		const char    *body;
		enum frame_err why;
	} cases[] = {
	    {"not json", FRAME_ERR_JSON},
	    {"{\"type\":\"call.error\",\"id\":\"a\"", FRAME_ERR_JSON},
	    {"{\"type\":\"call.error\",\"id\":\"a\"} x", FRAME_ERR_JSON},
	    {"{\"type\":\"call.error\",\"id\":\"\xff\"}", FRAME_ERR_JSON},
	    {"{\"type\":\"call.error\",\"type\":\"call.error\",\"id\":\"a\"}",
	        FRAME_ERR_JSON},
	    {"[1,2]", FRAME_ERR_NOT_OBJECT},
	    {"\"call.error\"", FRAME_ERR_NOT_OBJECT},
	    {"42", FRAME_ERR_NOT_OBJECT},
	    {"{\"id\":\"a\",\"payload\":1}", FRAME_ERR_TYPE},
	    {"{\"type\":5,\"id\":\"a\"}", FRAME_ERR_TYPE},
	    {"{\"type\":\"call.error\",\"payload\":1}", FRAME_ERR_ID},
	    {"{\"type\":\"call.error\",\"id\":7}", FRAME_ERR_ID},
	    {"{\"type\":\"call.error\",\"id\":null}", FRAME_ERR_ID},
	    {"{\"type\":\"call.failed\",\"id\":\"a\"}", FRAME_ERR_UNKNOWN_TYPE},
	    {"{\"type\":\"Call.Error\",\"id\":\"a\"}", FRAME_ERR_UNKNOWN_TYPE},
	};
	enum frame_err why;
	size_t         i;

	for (i = 0; i < sizeof cases / sizeof *cases; i++) {
		assert_int_equal(decode_body(cases[i].body, &why), -EBADMSG);
		assert_int_equal(why, cases[i].why);
	}
	for (i = 0; i < FRAME_NERRS; i++)
		assert_non_null(frame_strerror((enum frame_err)i));
	assert_string_equal(
	    frame_strerror(FRAME_ERR_ID), "frame id missing or not a string");
}

static void
test_lenient_members(void **state)
{
	static const char body[] = "{\"type\":\"call.aborted\",\"id\":\"q\","
	                           "\"x\":[]}";
	unsigned char     buf[128];
	struct frame      f;
	size_t            len, size = 0;

	/* No payload reads as null; members beyond the three are ignored. */
	len = raw_frame(buf, sizeof body - 1, body);
	assert_int_equal(len, 43);
	assert_int_equal(frame_decode(buf, len, 0, &f, &size, NULL), 0);
	assert_int_equal(f.type, FRAME_ABORTED);
	assert_string_equal(f.id, "q");
	assert_true(json_is_null(f.payload));
	frame_release(&f);
	frame_release(NULL);
}

static void
test_remainder(void **state)
{
	unsigned char buf[256];
	json_t       *empty = json_object();
	struct frame  f;
	size_t        size = 0, flen = 0;

	assert_int_equal(
	    frame_encode(FRAME_COMPLETED, "r9", empty, buf, sizeof buf, &flen),
	    0);
	json_decref(empty);
	memset(buf + flen, 'j', 50);
	assert_int_equal(frame_decode(buf, flen + 50, 0, &f, &size, NULL), 0);
	assert_int_equal(size, flen);
	assert_int_equal(f.type, FRAME_COMPLETED);
	assert_string_equal(f.id, "r9");
	frame_release(&f);
}

/* Three frames back to back into buf; returns their total length. */
static size_t
three_frames(unsigned char *buf, size_t len)
{
	json_t *p = json_pack("{s:s}", "k", "v");
	size_t  a = 0, b = 0, c = 0;

	assert_int_equal(
	    frame_encode(FRAME_REQUESTED, "one", p, buf, len, &a), 0);
	assert_int_equal(
	    frame_encode(FRAME_RESPONDED, "two", NULL, buf + a, len - a, &b),
	    0);
	assert_int_equal(frame_encode(FRAME_COMPLETED, "three", p, buf + a + b,
	                     len - a - b, &c),
	    0);
	json_decref(p);
	return a + b + c;
}

/* Feeds buf in chunks of step bytes; checks the three frames arrive in
 * order and the stream ends cleanly. */
static void
feed_in_steps(const unsigned char *buf, size_t len, size_t step)
{
	static const char    *ids[] = {"one", "two", "three"};
	struct frame_decoder *d = NULL;
	struct frame          f;
	size_t                off = 0, chunk, used;
	int                   got = 0, rc;

	assert_int_equal(frame_decoder_new(0, &d), 0);
	while (off < len) {
		chunk = len - off < step ? len - off : step;
		while (chunk > 0) {
			rc = frame_decoder_feed(d, buf + off, chunk, &used, &f);
			assert_true(rc == 0 || rc == 1);
			assert_true(used <= chunk);
			off += used;
			chunk -= used;
			if (rc == 0) {
				assert_int_equal(chunk, 0);
				continue;
			}
			assert_true(got < 3);
			assert_string_equal(f.id, ids[got]);
			assert_int_equal(f.type, FRAME_REQUESTED + got);
			got++;
			frame_release(&f);
		}
	}
	assert_int_equal(got, 3);
	assert_int_equal(frame_decoder_end(d), 0);
	assert_int_equal(frame_decoder_error(d), FRAME_ERR_NONE);
	frame_decoder_free(d);
}

static void
test_stream_chunks(void **state)
{
	unsigned char buf[512];
	size_t        len = three_frames(buf, sizeof buf), step;

	/* Byte by byte, every chunk size, and all at once. */
	for (step = 1; step <= len; step++)
		feed_in_steps(buf, len, step);
}

static void
test_stream_split_anywhere(void **state)
{
	unsigned char         buf[512];
	struct frame_decoder *d = NULL;
	struct frame          f;
	size_t                len = three_frames(buf, sizeof buf), k, off, used;
	int                   got, rc;

	for (k = 0; k <= len; k++) {
		assert_int_equal(frame_decoder_new(0, &d), 0);
		got = 0;
		/* Two chunks: [0, k) and [k, len). */
		for (off = 0; off < k; off += used) {
			rc = frame_decoder_feed(
			    d, buf + off, k - off, &used, &f);
			got += rc;
			if (rc == 1)
				frame_release(&f);
		}
		for (; off < len; off += used) {
			rc = frame_decoder_feed(
			    d, buf + off, len - off, &used, &f);
			got += rc;
			if (rc == 1)
				frame_release(&f);
		}
		assert_int_equal(got, 3);
		assert_int_equal(frame_decoder_end(d), 0);
		frame_decoder_free(d);
	}
}

static void
test_eof(void **state)
{
	unsigned char         buf[512];
	struct frame_decoder *d = NULL;
	struct frame          f;
	size_t len = three_frames(buf, sizeof buf), used, cut, off;
	int    rc;

	/* An empty stream ends cleanly. */
	assert_int_equal(frame_decoder_new(0, &d), 0);
	assert_int_equal(frame_decoder_end(d), 0);
	frame_decoder_free(d);

	/* Cut inside the header (2 bytes) and inside the body (len - 1). */
	for (cut = 2; cut < len; cut += len - 3) {
		assert_int_equal(frame_decoder_new(0, &d), 0);
		for (off = 0; off < cut; off += used) {
			rc = frame_decoder_feed(
			    d, buf + off, cut - off, &used, &f);
			if (rc == 1)
				frame_release(&f);
		}
		assert_int_equal(frame_decoder_end(d), -EPIPE);
		assert_int_equal(frame_decoder_error(d), FRAME_ERR_TRUNCATED);
		assert_int_equal(
		    frame_decoder_feed(d, buf, len, &used, &f), -EPIPE);
		assert_int_equal(used, 0);
		frame_decoder_free(d);
	}
}

static void
test_failed_stays_failed(void **state)
{
	unsigned char         buf[512];
	struct frame_decoder *d = NULL;
	struct frame          f;
	size_t                len, good, used = 99;

	len = raw_frame(buf, 3, "{x}");
	good = three_frames(buf + len, sizeof buf - len);
	assert_int_equal(frame_decoder_new(0, &d), 0);
	assert_int_equal(
	    frame_decoder_feed(d, buf, len + good, &used, &f), -EBADMSG);
	assert_int_equal(frame_decoder_error(d), FRAME_ERR_JSON);
	assert_int_equal(
	    frame_decoder_feed(d, buf + len, good, &used, &f), -EBADMSG);
	assert_int_equal(used, 0);
	assert_int_equal(frame_decoder_end(d), -EBADMSG);
	frame_decoder_free(d);
	frame_decoder_free(NULL);
}

/* Feeds a bare header announcing n bytes to a decoder of max. */
static int
feed_header(size_t max, uint32_t n, enum frame_err *why)
{
	struct frame_decoder *d = NULL;
	unsigned char         hdr[4];
	struct frame          f;
	size_t                used = 0;
	int                   rc;

	raw_frame(hdr, n, "");
	assert_int_equal(frame_decoder_new(max, &d), 0);
	rc = frame_decoder_feed(d, hdr, 4, &used, &f);
	assert_int_equal(used, 4);
	*why = frame_decoder_error(d);
	frame_decoder_free(d);
	return rc;
}

static void
test_length_bounds(void **state)
{
	unsigned char  hdr[4];
	struct frame   f;
	enum frame_err why;
	size_t         size = 0;

	assert_int_equal(feed_header(0, 0, &why), -EBADMSG);
	assert_int_equal(why, FRAME_ERR_EMPTY);
	assert_int_equal(feed_header(0, (64 << 20) + 1, &why), -EMSGSIZE);
	assert_int_equal(why, FRAME_ERR_TOO_BIG);
	assert_int_equal(feed_header(0, UINT32_MAX, &why), -EMSGSIZE);
	assert_int_equal(feed_header(0, 64 << 20, &why), 0);
	assert_int_equal(why, FRAME_ERR_NONE);

	/* A configured maximum, exactly at and one past it. */
	assert_int_equal(feed_header(16, 16, &why), 0);
	assert_int_equal(feed_header(16, 17, &why), -EMSGSIZE);
	assert_int_equal(why, FRAME_ERR_TOO_BIG);

	/* The one-shot decoder judges the header alone too. */
	raw_frame(hdr, (64 << 20) + 1, "");
	assert_int_equal(frame_decode(hdr, 4, 0, &f, &size, &why), -EMSGSIZE);
	raw_frame(hdr, 0, "");
	assert_int_equal(frame_decode(hdr, 4, 0, &f, &size, &why), -EBADMSG);
	assert_int_equal(why, FRAME_ERR_EMPTY);
	assert_int_equal(frame_decode(hdr, 4, 0, &f, &size, NULL), -EBADMSG);
}

static void
test_no_allocation_from_header(void **state)
{
	struct frame_decoder *d = NULL;
	unsigned char         buf[16];
	struct frame          f;
	size_t                used, before;

	/* 64 MiB announced, 12 bytes sent: the body's buffer stays small. */
	raw_frame(buf, 64 << 20, "{\"type\":\"ca");
	assert_int_equal(frame_decoder_new(0, &d), 0);
	before = heap_in_use();
	assert_int_equal(frame_decoder_feed(d, buf, 15, &used, &f), 0);
	assert_int_equal(used, 15);
	assert_true(heap_in_use() - before <= 64 * 1024);
	assert_int_equal(frame_decoder_end(d), -EPIPE);
	frame_decoder_free(d);

	assert_int_equal(
	    frame_decoder_new((size_t)UINT32_MAX + 1, &d), -EINVAL);
}

static void
test_keys_and_empty_id(void **state)
{
	static const char want[] =
	    "{\"type\":\"call.aborted\",\"id\":\"\",\"payload\":{}}";
	unsigned char buf[128];
	json_t       *empty = json_object();
	struct frame  f;
	size_t        size = 0;
	const char   *key;
	json_t       *v;
	int           nkeys = 0;

	assert_int_equal(
	    frame_encode(FRAME_ABORTED, "", empty, buf, sizeof buf, &size), 0);
	assert_int_equal(size, 4 + strlen(want));
	assert_memory_equal(buf + 4, want, strlen(want));

	assert_int_equal(frame_decode(buf, size, 0, &f, &size, NULL), 0);
	assert_string_equal(f.id, "");
	json_object_foreach(f.body, key, v)
	{
		assert_true(strcmp(key, "type") == 0 ||
		    strcmp(key, "id") == 0 || strcmp(key, "payload") == 0);
		nkeys++;
	}
	assert_int_equal(nkeys, 3);
	frame_release(&f);
	json_decref(empty);
}

static void
test_type_table(void **state)
{
	static const char *names[] = {"call.requested", "call.responded",
	    "call.completed", "call.aborted", "call.error"};
	int                t;

	for (t = 0; t < FRAME_NTYPES; t++) {
		assert_string_equal(
		    frame_type_name((enum frame_type)t), names[t]);
		assert_int_equal(frame_type_parse(names[t]), t);
	}
	assert_null(frame_type_name(FRAME_NTYPES));
	assert_int_equal(frame_type_parse("call.failed"), -EINVAL);
}

static void
test_error_payload(void **state)
{
	struct reply_error e = {REPLY_TIMEOUT, "slow", 1, NULL};
	json_t            *p, *details;

	p = reply_error_payload(&e);
	assert_json(p,
	    "{\"code\":\"TIMEOUT\",\"message\":\"slow\","
	    "\"retryable\":true}");
	json_decref(p);

	/* Null details are left out; others are kept as they are. */
	e.details = json_null();
	e.code = REPLY_NOT_FOUND;
	e.retryable = 0;
	p = reply_error_payload(&e);
	assert_json(p,
	    "{\"code\":\"NOT_FOUND\",\"message\":\"slow\","
	    "\"retryable\":false}");
	json_decref(p);
	details = json_pack("{s:i}", "line", 3);
	e.details = details;
	p = reply_error_payload(&e);
	assert_json(p,
	    "{\"code\":\"NOT_FOUND\",\"message\":\"slow\","
	    "\"retryable\":false,\"details\":{\"line\":3}}");
	json_decref(p);
	json_decref(details);

	e.code = REPLY_NCODES;
	assert_null(reply_error_payload(&e));
	e.code = REPLY_LOCKED;
	e.message = NULL;
	assert_null(reply_error_payload(&e));
}

static void
test_codes(void **state)
{
	static const char *names[] = {"NOT_FOUND", "FORBIDDEN", "INVALID_INPUT",
	    "INTERNAL", "TIMEOUT", "ABORTED", "LOCKED"};
	int                c;

	assert_int_equal(REPLY_NCODES, 7);
	for (c = 0; c < REPLY_NCODES; c++) {
		assert_string_equal(
		    reply_code_name((enum reply_code)c), names[c]);
		assert_int_equal(reply_code_parse(names[c]), c);
		assert_int_equal(reply_code_retryable((enum reply_code)c),
		    c == REPLY_TIMEOUT);
	}
	assert_int_equal(
	    reply_code_parse("OPERATION_NOT_FOUND"), REPLY_NOT_FOUND);
	assert_int_equal(reply_code_parse("ACCESS_DENIED"), REPLY_FORBIDDEN);
	assert_int_equal(
	    reply_code_parse("VALIDATION_ERROR"), REPLY_INVALID_INPUT);
	assert_int_equal(reply_code_parse("EXECUTION_ERROR"), REPLY_INTERNAL);
	assert_int_equal(reply_code_parse("not_found"), -EINVAL);
	assert_null(reply_code_name(REPLY_NCODES));
}

static void
test_error_parse(void **state)
{
	struct reply_error e;
	json_t            *p;

	p = json_loads("{\"code\":\"ACCESS_DENIED\",\"message\":\"no\","
	               "\"retryable\":false,\"details\":{\"k\":1}}",
	    0, NULL);
	assert_int_equal(reply_error_parse(p, &e), 0);
	assert_int_equal(e.code, REPLY_FORBIDDEN);
	assert_string_equal(e.message, "no");
	assert_int_equal(e.retryable, 0);
	assert_json(e.details, "{\"k\":1}");
	json_decref(p);

	p = json_loads(
	    "{\"code\":\"QUOTA\",\"message\":\"m\",\"retryable\":true,"
	    "\"details\":null}",
	    0, NULL);
	assert_int_equal(reply_error_parse(p, &e), 0);
	assert_int_equal(e.code, REPLY_INTERNAL);
	assert_int_equal(e.retryable, 1);
	assert_null(e.details);
	json_decref(p);

	p = json_loads(
	    "{\"code\":\"TIMEOUT\",\"message\":\"m\",\"retryable\":1}", 0,
	    NULL);
	assert_int_equal(reply_error_parse(p, &e), -EBADMSG);
	json_decref(p);
	p = json_loads("{\"code\":\"TIMEOUT\",\"retryable\":true}", 0, NULL);
	assert_int_equal(reply_error_parse(p, &e), -EBADMSG);
	json_decref(p);
	assert_int_equal(reply_error_parse(json_null(), &e), -EBADMSG);
}

static void
test_response(void **state)
{
	struct reply_error e = {REPLY_INVALID_INPUT, "bad x", 0, NULL};
	json_t            *v = json_pack("[i,s]", 7, "seven");
	struct frame       f;
	void              *buf = NULL;
	size_t             size = 0, used = 0;

	assert_int_equal(reply_encode("req-7", v, NULL, &buf, &size), 0);
	assert_int_equal(frame_decode(buf, size, 0, &f, &used, NULL), 0);
	assert_int_equal(f.type, FRAME_RESPONDED);
	assert_string_equal(f.id, "req-7");
	assert_json(f.payload, "{\"output\":[7,\"seven\"]}");
	frame_release(&f);
	free(buf);

	/* Ok(null) still carries the key. */
	assert_int_equal(reply_encode("n", NULL, NULL, &buf, &size), 0);
	assert_int_equal(frame_decode(buf, size, 0, &f, &used, NULL), 0);
	assert_json(f.payload, "{\"output\":null}");
	frame_release(&f);
	free(buf);

	assert_int_equal(reply_encode("req-7", v, &e, &buf, &size), 0);
	assert_int_equal(frame_decode(buf, size, 0, &f, &used, NULL), 0);
	assert_int_equal(f.type, FRAME_ERROR);
	assert_string_equal(f.id, "req-7");
	assert_json(f.payload,
	    "{\"code\":\"INVALID_INPUT\","
	    "\"message\":\"bad x\",\"retryable\":false}");
	frame_release(&f);
	free(buf);

	buf = NULL;
	e.code = REPLY_NCODES;
	assert_int_equal(reply_encode("r", v, &e, &buf, &size), -EINVAL);
	assert_null(buf);
	json_decref(v);
}

static void
test_request_id_fallback(void **state)
{
	unsigned char buf[256];
	struct frame  f;
	size_t        len, size = 0;
	const char   *both = "{\"type\":\"call.responded\",\"id\":\"\","
	                     "\"payload\":{\"requestId\":\"ts-1\","
	                     "\"output\":1}}";
	const char   *own = "{\"type\":\"call.responded\",\"id\":\"mine\","
	                    "\"payload\":{\"requestId\":\"ts-1\"}}";

	len = raw_frame(buf, (uint32_t)strlen(both), both);
	assert_int_equal(frame_decode(buf, len, 0, &f, &size, NULL), 0);
	assert_string_equal(frame_request_id(&f), "ts-1");
	frame_release(&f);

	len = raw_frame(buf, (uint32_t)strlen(own), own);
	assert_int_equal(frame_decode(buf, len, 0, &f, &size, NULL), 0);
	assert_string_equal(frame_request_id(&f), "mine");
	frame_release(&f);

	assert_int_equal(
	    frame_encode(FRAME_ABORTED, "", NULL, buf, sizeof buf, &size), 0);
	assert_int_equal(frame_decode(buf, size, 0, &f, &size, NULL), 0);
	assert_string_equal(frame_request_id(&f), "");
	frame_release(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_encode_layout),
	    cmocka_unit_test(test_encode_refusals),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_too_short),
	    cmocka_unit_test(test_incomplete),
	    cmocka_unit_test(test_refusals_are_distinct),
	    cmocka_unit_test(test_lenient_members),
	    cmocka_unit_test(test_remainder),
	    cmocka_unit_test(test_stream_chunks),
	    cmocka_unit_test(test_stream_split_anywhere),
	    cmocka_unit_test(test_eof),
	    cmocka_unit_test(test_failed_stays_failed),
	    cmocka_unit_test(test_length_bounds),
	    cmocka_unit_test(test_no_allocation_from_header),
	    cmocka_unit_test(test_keys_and_empty_id),
	    cmocka_unit_test(test_type_table),
	    cmocka_unit_test(test_error_payload),
	    cmocka_unit_test(test_codes),
	    cmocka_unit_test(test_error_parse),
	    cmocka_unit_test(test_response),
	    cmocka_unit_test(test_request_id_fallback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
