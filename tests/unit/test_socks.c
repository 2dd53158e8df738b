/*
 * The SOCKS5 parser: every case is fed whole, one byte at a time and cut
 * in two at every position, and must come out the same each way.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "socks.h"

#define GREETING 0x05, 0x01, 0x00
#define CHOSEN   0x05, 0x00
#define REPLY(r) 0x05, (r), 0x00, 0x01, 0, 0, 0, 0, 0, 0

#define EXPECT(r, o)                                                           \
	{                                                                      \
		.rc = (r), .out = (o), .outlen = sizeof(o)                     \
	}

struct result {
	int                  rc;
	size_t               consumed; /* input bytes the parser took */
	uint8_t              out[64];
	size_t               outlen;
	struct socks_request req;
};

struct expect {
	int            rc;
	const uint8_t *out;
	size_t         outlen;
	const char    *host; /* for SOCKS_REQUEST */
	unsigned       port;
	int            atyp;
	size_t         early; /* bytes left over after the request */
};

/* Feeds in[0..len) in pieces that end at the given cut points. */
static void
feed_cuts(const uint8_t *in, size_t len, const size_t *cuts, size_t ncuts,
    struct result *r)
{
	struct socks_parser p;
	uint8_t             out[16];
	size_t              off = 0, end, used, outlen, i = 0;

	memset(r, 0, sizeof *r);
	socks_parser_init(&p);
	r->rc = SOCKS_MORE;
	while (off < len && r->rc == SOCKS_MORE) {
		end = i < ncuts ? cuts[i++] : len;
		if (end <= off)
			continue;
		memset(out, 0xaa, sizeof out);
		r->rc = socks_parser_feed(
		    &p, in + off, end - off, &used, out, &outlen, &r->req);
		assert_true(used <= end - off);
		assert_true(outlen <= sizeof out);
		if (r->rc == SOCKS_MORE)
			assert_int_equal(used, end - off);
		assert_true(r->outlen + outlen <= sizeof r->out);
		memcpy(r->out + r->outlen, out, outlen);
		r->outlen += outlen;
		off += used;
		/* What was not taken is the caller's: stop feeding. */
		if (r->rc != SOCKS_MORE)
			break;
	}
	r->consumed = off;
}

static void
check(const struct result *r, const struct expect *e, size_t len)
{
	assert_int_equal(r->rc, e->rc);
	assert_int_equal(r->outlen, e->outlen);
	if (e->outlen > 0)
		assert_memory_equal(r->out, e->out, e->outlen);
	if (e->rc != SOCKS_REQUEST)
		return;
	assert_string_equal(r->req.host, e->host);
	assert_int_equal(r->req.port, e->port);
	assert_int_equal(r->req.atyp, e->atyp);
	assert_int_equal(len - r->consumed, e->early);
}

/* Whole, byte by byte, and cut in two at every position. */
static void
check_all(const uint8_t *in, size_t len, const struct expect *e)
{
	struct result r;
	size_t        cuts[1024], i;

	assert_true(len < 1024);
	feed_cuts(in, len, NULL, 0, &r);
	check(&r, e, len);

	for (i = 0; i < len; i++)
		cuts[i] = i + 1;
	feed_cuts(in, len, cuts, len, &r);
	check(&r, e, len);

	for (i = 1; i < len; i++) {
		feed_cuts(in, len, &i, 1, &r);
		check(&r, e, len);
	}
}

static void
test_reply(void **state)
{
	static const uint8_t want[] = {REPLY(0x05)};
	uint8_t              out[10];

	memset(out, 0xee, sizeof out);
	socks_reply(SOCKS_REP_REFUSED, out);
	assert_memory_equal(out, want, sizeof want);
}

static void
test_greeting_no_auth(void **state)
{
	static const uint8_t in[] = {GREETING};
	static const uint8_t out[] = {CHOSEN};
	struct expect        e = EXPECT(SOCKS_MORE, out);

	check_all(in, sizeof in, &e);
}

static void
test_greeting_several_methods(void **state)
{
	static const uint8_t in[] = {0x05, 0x03, 0x02, 0x01, 0x00};
	static const uint8_t out[] = {CHOSEN};
	struct expect        e = EXPECT(SOCKS_MORE, out);

	check_all(in, sizeof in, &e);
}

static void
test_greeting_without_00(void **state)
{
	static const uint8_t in[] = {0x05, 0x02, 0x02, 0x01};
	static const uint8_t out[] = {0x05, 0xff};
	struct expect        e = EXPECT(SOCKS_FAIL, out);

	check_all(in, sizeof in, &e);
}

static void
test_greeting_no_methods(void **state)
{
	static const uint8_t in[] = {0x05, 0x00};
	static const uint8_t out[] = {0x05, 0xff};
	struct expect        e = EXPECT(SOCKS_FAIL, out);

	check_all(in, sizeof in, &e);
}

static void
test_greeting_255_methods(void **state)
{
	static const uint8_t out[] = {CHOSEN};
	struct expect        e = EXPECT(SOCKS_MORE, out);
	uint8_t              in[2 + 255];

	in[0] = 0x05;
	in[1] = 255;
	memset(in + 2, 0x80, 255);
	in[2 + 254] = 0x00; /* the last one */
	check_all(in, sizeof in, &e);
}

static void
test_not_socks5(void **state)
{
	static const uint8_t v4[] = {0x04, 0x01, 0x00, 0x50, 127, 0, 0, 1, 0};
	static const uint8_t http[] = "GET / HTTP/1.1\r\n";
	struct expect        e = {.rc = SOCKS_FAIL, .out = NULL, .outlen = 0};
	struct result        r;

	check_all(v4, sizeof v4, &e);
	check_all(http, sizeof http - 1, &e);

	/* The first byte is enough to know. */
	feed_cuts(v4, 1, NULL, 0, &r);
	assert_int_equal(r.rc, SOCKS_FAIL);
}

static void
test_connect_ipv4(void **state)
{
	static const uint8_t in[] = {
	    GREETING, 0x05, 0x01, 0x00, 0x01, 10, 1, 2, 3, 0x1f, 0x90};
	static const uint8_t out[] = {CHOSEN};
	struct expect        e = {.rc = SOCKS_REQUEST,
	           .out = out,
	           .outlen = sizeof out,
	           .host = "10.1.2.3",
	           .port = 8080,
	           .atyp = 1,
	           .early = 0};

	check_all(in, sizeof in, &e);
}

static void
test_connect_ipv6(void **state)
{
	static const uint8_t in[] = {GREETING, 0x05, 0x01, 0x00, 0x04, 0x20,
	    0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x01,
	    0xbb};
	static const uint8_t out[] = {CHOSEN};
	struct expect        e = {.rc = SOCKS_REQUEST,
	           .out = out,
	           .outlen = sizeof out,
	           .host = "2001:db8::1",
	           .port = 443,
	           .atyp = 4,
	           .early = 0};

	check_all(in, sizeof in, &e);
}

static void
test_connect_domain(void **state)
{
	static const uint8_t in[] = {GREETING, 0x05, 0x01, 0x00, 0x03, 11, 'e',
	    'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm', 0x00, 0x50};
	static const uint8_t out[] = {CHOSEN};
	struct expect        e = {.rc = SOCKS_REQUEST,
	           .out = out,
	           .outlen = sizeof out,
	           .host = "example.com",
	           .port = 80,
	           .atyp = 3,
	           .early = 0};

	check_all(in, sizeof in, &e);
}

static void
test_connect_domain_255(void **state)
{
	static const uint8_t out[] = {CHOSEN};
	struct expect        e = {.rc = SOCKS_REQUEST,
	           .out = out,
	           .outlen = sizeof out,
	           .host = NULL,
	           .port = 22,
	           .atyp = 3,
	           .early = 0};
	uint8_t              in[3 + 5 + 255 + 2];
	char                 host[256];

	memset(host, 'a', 255);
	host[255] = '\0';
	memcpy(in, (uint8_t[]){GREETING, 0x05, 0x01, 0x00, 0x03, 255}, 8);
	memcpy(in + 8, host, 255);
	in[8 + 255] = 0;
	in[8 + 256] = 22;
	e.host = host;
	check_all(in, sizeof in, &e);
}

static void
test_domain_empty(void **state)
{
	static const uint8_t in[] = {
	    GREETING, 0x05, 0x01, 0x00, 0x03, 0, 0x00, 0x50};
	static const uint8_t out[] = {CHOSEN, REPLY(SOCKS_REP_FAILURE)};
	struct expect        e = EXPECT(SOCKS_FAIL, out);

	check_all(in, sizeof in, &e);
}

static void
test_domain_with_nul(void **state)
{
	static const uint8_t in[] = {GREETING, 0x05, 0x01, 0x00, 0x03, 5, 'a',
	    '\0', 'b', 'c', 'd', 0x00, 0x50};
	static const uint8_t out[] = {CHOSEN, REPLY(SOCKS_REP_FAILURE)};
	struct expect        e = EXPECT(SOCKS_FAIL, out);

	check_all(in, sizeof in, &e);
}

static void
test_port_zero(void **state)
{
	static const uint8_t in[] = {
	    GREETING, 0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1, 0, 0};
	static const uint8_t out[] = {CHOSEN, REPLY(SOCKS_REP_FAILURE)};
	struct expect        e = EXPECT(SOCKS_FAIL, out);

	check_all(in, sizeof in, &e);
}

static void
test_unknown_atyp(void **state)
{
	static const uint8_t in[] = {
	    GREETING, 0x05, 0x01, 0x00, 0x05, 1, 2, 3, 4, 0, 80};
	static const uint8_t out[] = {CHOSEN, REPLY(SOCKS_REP_ADDRESS)};
	struct expect        e = EXPECT(SOCKS_FAIL, out);
	struct result        r;

	check_all(in, sizeof in, &e);

	/* Answered once the header is in: the length is unknowable. */
	feed_cuts(in, 3 + 4, NULL, 0, &r);
	assert_int_equal(r.rc, SOCKS_FAIL);
	assert_int_equal(r.consumed, 3 + 4);
}

static void
test_commands_refused(void **state)
{
	static const uint8_t out[] = {CHOSEN, REPLY(SOCKS_REP_COMMAND)};
	static const uint8_t cmds[] = {0x02, 0x03, 0x00, 0x04, 0xff};
	struct expect        e = EXPECT(SOCKS_FAIL, out);
	uint8_t              in[] = {
	                 GREETING, 0x05, 0x02, 0x00, 0x01, 127, 0, 0, 1, 0x00, 0x50};
	size_t i;

	for (i = 0; i < sizeof cmds; i++) {
		in[4] = cmds[i];
		check_all(in, sizeof in, &e);
	}
}

static void
test_bind_with_domain_and_unknown_atyp(void **state)
{
	static const uint8_t bind[] = {
	    GREETING, 0x05, 0x02, 0x00, 0x03, 1, 'h', 0x00, 0x50};
	static const uint8_t udp[] = {GREETING, 0x05, 0x03, 0x00, 0x09};
	static const uint8_t out[] = {CHOSEN, REPLY(SOCKS_REP_COMMAND)};
	struct expect        e = EXPECT(SOCKS_FAIL, out);

	check_all(bind, sizeof bind, &e);
	check_all(udp, sizeof udp, &e);
}

static void
test_request_bad_version(void **state)
{
	static const uint8_t in[] = {
	    GREETING, 0x04, 0x01, 0x00, 0x01, 127, 0, 0, 1, 0x00, 0x50};
	static const uint8_t out[] = {CHOSEN, REPLY(SOCKS_REP_FAILURE)};
	struct expect        e = EXPECT(SOCKS_FAIL, out);

	check_all(in, sizeof in, &e);
}

static void
test_early_payload(void **state)
{
	static const uint8_t in[] = {GREETING, 0x05, 0x01, 0x00, 0x03, 1, 'h',
	    0x01, 0xbb, 0x16, 0x03, 0x01, 'x', 'y'};
	static const uint8_t out[] = {CHOSEN};
	struct expect        e = {.rc = SOCKS_REQUEST,
	           .out = out,
	           .outlen = sizeof out,
	           .host = "h",
	           .port = 443,
	           .atyp = 3,
	           .early = 5};

	check_all(in, sizeof in, &e);
}

static void
test_long_greeting_then_domain(void **state)
{
	/* A long greeting leaves bytes behind in the parser; the request
	 * after it must be measured by its own header only. */
	static const uint8_t in[] = {0x05, 0x05, 0x01, 0x02, 0xf0, 0x03, 0x00,
	    0x05, 0x01, 0x00, 0x03, 1, 'h', 0x00, 0x50, 'e', 'a', 'r', 'l',
	    'y'};
	static const uint8_t out[] = {CHOSEN};
	struct expect        e = {.rc = SOCKS_REQUEST,
	           .out = out,
	           .outlen = sizeof out,
	           .host = "h",
	           .port = 80,
	           .atyp = 3,
	           .early = 5};

	check_all(in, sizeof in, &e);
}

static void
test_request_alone(void **state)
{
	static const uint8_t greet[] = {GREETING};
	static const uint8_t req[] = {
	    0x05, 0x01, 0x00, 0x01, 192, 168, 0, 1, 0x00, 0x16, 'S'};
	struct socks_parser  p;
	struct socks_request r;
	uint8_t              out[16];
	size_t               used, outlen;

	/* The greeting and the request in separate writes, as most
	 * clients send them. */
	socks_parser_init(&p);
	assert_int_equal(
	    socks_parser_feed(&p, greet, sizeof greet, &used, out, &outlen, &r),
	    SOCKS_MORE);
	assert_int_equal(outlen, 2);
	assert_int_equal(
	    socks_parser_feed(&p, req, sizeof req, &used, out, &outlen, &r),
	    SOCKS_REQUEST);
	assert_int_equal(outlen, 0);
	assert_int_equal(used, sizeof req - 1);
	assert_string_equal(r.host, "192.168.0.1");
	assert_int_equal(r.port, 22);
}

static void
test_after_the_end(void **state)
{
	static const uint8_t in[] = {
	    GREETING, 0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1, 0x00, 0x50};
	struct socks_parser  p;
	struct socks_request r;
	uint8_t              out[16];
	size_t               used, outlen;

	socks_parser_init(&p);
	assert_int_equal(
	    socks_parser_feed(&p, in, sizeof in, &used, out, &outlen, &r),
	    SOCKS_REQUEST);
	assert_int_equal(
	    socks_parser_feed(&p, in, 1, &used, out, &outlen, &r), SOCKS_FAIL);
	assert_int_equal(outlen, 0);
	assert_int_equal(used, 0);

	/* Nothing fed is nothing decided. */
	socks_parser_init(&p);
	assert_int_equal(
	    socks_parser_feed(&p, in, 0, &used, out, &outlen, &r), SOCKS_MORE);
	assert_int_equal(used, 0);
	assert_int_equal(outlen, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reply),
	    cmocka_unit_test(test_greeting_no_auth),
	    cmocka_unit_test(test_greeting_several_methods),
	    cmocka_unit_test(test_greeting_without_00),
	    cmocka_unit_test(test_greeting_no_methods),
	    cmocka_unit_test(test_greeting_255_methods),
	    cmocka_unit_test(test_not_socks5),
	    cmocka_unit_test(test_connect_ipv4),
	    cmocka_unit_test(test_connect_ipv6),
	    cmocka_unit_test(test_connect_domain),
	    cmocka_unit_test(test_connect_domain_255),
	    cmocka_unit_test(test_domain_empty),
	    cmocka_unit_test(test_domain_with_nul),
	    cmocka_unit_test(test_port_zero),
	    cmocka_unit_test(test_unknown_atyp),
	    cmocka_unit_test(test_commands_refused),
	    cmocka_unit_test(test_bind_with_domain_and_unknown_atyp),
	    cmocka_unit_test(test_request_bad_version),
	    cmocka_unit_test(test_early_payload),
	    cmocka_unit_test(test_long_greeting_then_domain),
	    cmocka_unit_test(test_request_alone),
	    cmocka_unit_test(test_after_the_end),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
