/*
 * SOCKS5 (RFC 1928), server side: the no-authentication method and the
 * CONNECT command only.  Domain names are passed on unresolved.
 */
#ifndef ALKNET_SOCKS_H
#define ALKNET_SOCKS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Reply codes of RFC 1928. */
#define SOCKS_REP_OK          0x00
#define SOCKS_REP_FAILURE     0x01
#define SOCKS_REP_UNREACHABLE 0x04
#define SOCKS_REP_REFUSED     0x05
#define SOCKS_REP_COMMAND     0x07
#define SOCKS_REP_ADDRESS     0x08

struct socks_request {
	char     host[256]; /* domain, or IPv4/IPv6 address as text */
	unsigned port;
	int      atyp; /* 1, 3 or 4 */
};

/* The parser's state; callers allocate it and treat it as opaque. */
struct socks_parser {
	int     step;
	size_t  have;
	uint8_t buf[262 + 8];
};

enum {
	SOCKS_MORE = 0,    /* feed more bytes */
	SOCKS_REQUEST = 1, /* *req holds a CONNECT request */
	SOCKS_FAIL = -1,   /* send out, then close */
};

void socks_parser_init(struct socks_parser *p);

/*
 * Feeds len bytes.  *used says how many were consumed (the rest, after a
 * request, is early payload).  out (at least 16 bytes) receives *outlen
 * bytes to send back now: the method selection, or the error reply that
 * precedes a close.  Accepts input split at any byte.
 */
int socks_parser_feed(struct socks_parser *p, const uint8_t *data, size_t len,
    size_t *used, uint8_t *out, size_t *outlen, struct socks_request *req);

/* A complete 10-byte reply with the given code (address 0.0.0.0:0). */
void socks_reply(uint8_t rep, uint8_t out[10]);

struct forward;

/*
 * Serves the SOCKS handshake on an accepted connection of forward f
 * (tcp is a heap uv_tcp_t, owned from here on), then opens a channel
 * through f's upstream and splices.  Gives up after a handshake timeout.
 */
void socks_start(uv_loop_t *loop, uv_tcp_t *tcp, struct forward *f);

/*
 * Inside core only: f is going away.  Its handshakes in progress end now;
 * a client that has chosen a method gets REP 01 first.
 */
void socks__forget(const struct forward *f);

#endif
