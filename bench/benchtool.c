/*
 * The fast ends of the tunnel benchmark, so that only the tunnel is
 * measured:
 *
 *   benchtool freeport              print a free loopback port
 *   benchtool waitlisten PORT SECS  wait until 127.0.0.1:PORT listens
 *   benchtool sink PORTFILE         count streams; ack each when complete
 *   benchtool echo PORTFILE         echo every connection until EOF
 *   benchtool send PORT BYTES       stream BYTES to a sink; print seconds
 *   benchtool conns PORT N          N connect/1-byte echo/close cycles
 *   benchtool sockssend PORT DPORT BYTES
 *                                   send, through the SOCKS5 proxy on PORT
 *                                   to a sink on 127.0.0.1:DPORT
 *   benchtool socksconns PORT DPORT N
 *                                   conns, each through a new SOCKS5
 *                                   CONNECT to 127.0.0.1:DPORT
 *   benchtool kexpeek PORTFILE PORT relay one connection to PORT; print
 *                                   the cipher its SSH peers agree on
 *   benchtool rawcalls PORT N DEPTH OP INPUT [TOKEN]
 *                                   N call frames over TCP, DEPTH in flight;
 *                                   with TOKEN, a /auth/token call first
 *   benchtool sshcalls PORT KEY CIPHER HOST DPORT N DEPTH OP INPUT
 *                                   the same through a direct-tcpip
 *                                   channel to HOST:DPORT of the SSH
 *                                   server on PORT, logged in with KEY
 *
 * A stream to the sink starts with its length (8 bytes, big-endian); the
 * sink answers one byte once it has counted that many, so the sender's
 * clock stops when every byte has arrived.  waitlisten reads
 * /proc/net/tcp instead of connecting, so that probing never opens a
 * tunnel channel.
 *
 * The SOCKS5 client offers only "no authentication" and asks for an IPv4
 * address, the shortest exchange a proxy can be asked for; it waits for
 * each answer before the next message, as ordinary clients do.  kexpeek
 * sits between an SSH client and server and reads the two KEXINIT
 * messages, which travel in clear, to name the cipher they settle on
 * (the client's first choice that the server also offers).
 *
 * rawcalls and sshcalls send call.requested frames of operation OP with
 * the JSON INPUT, their ids counting from 0, keeping DEPTH of them
 * unanswered on one connection, and take the answer with the same id as
 * the end of a call.  They print the seconds from the first request to
 * the last answer, then the median and the 99th percentile of the time
 * each call took, in microseconds.  Against an echo server the request
 * itself comes back, which makes the same exchange with no protocol
 * behind it.  An answer of type call.error fails the run.  CIPHER "-"
 * leaves the choice to libssh; the host key is not checked.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libssh/libssh.h>

#define CHUNK   (1024 * 1024)
#define MAXCONN 1024 /* connections a server handles at once */

static void
die(const char *what)
{
	fprintf(stderr, "benchtool: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
tcp_listen(uint16_t port, uint16_t *bound)
{
	struct sockaddr_in sin;
	socklen_t          len = sizeof sin;
	int                fd, on = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == -1)
		die("bind");
	if (listen(fd, 512) == -1)
		die("listen");
	if (getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		die("getsockname");
	*bound = ntohs(sin.sin_port);
	return fd;
}

static int
tcp_connect(uint16_t port)
{
	struct sockaddr_in sin;
	int                fd, on = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		die("socket");
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == -1)
		die("connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
	return fd;
}

/* Writes the port to path through a rename, so readers never see half. */
static void
write_port(const char *path, uint16_t port)
{
	char  tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL)
		die(tmp);
	fprintf(f, "%u\n", (unsigned)port);
	if (fclose(f) != 0 || rename(tmp, path) == -1)
		die(path);
}

static int
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t     n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
cmd_freeport(void)
{
	uint16_t port;
	int      fd = tcp_listen(0, &port);

	close(fd);
	printf("%u\n", (unsigned)port);
	return 0;
}

/* Whether /proc/net/tcp shows 127.0.0.1:port (or any address) listening. */
static int
is_listening(unsigned port)
{
	char     line[512];
	unsigned addr, lport, state;
	FILE    *f;
	int      found = 0;

	if ((f = fopen("/proc/net/tcp", "r")) == NULL)
		die("/proc/net/tcp");
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, " %*u: %x:%x %*x:%*x %x", &addr, &lport,
		        &state) != 3)
			continue;
		if (lport == port && state == 0x0a &&
		    (addr == 0 || addr == htonl(INADDR_LOOPBACK)))
			found = 1;
	}
	fclose(f);
	return found;
}

static int
cmd_waitlisten(unsigned port, double secs)
{
	double end = now() + secs;

	while (!is_listening(port)) {
		if (now() > end) {
			fprintf(stderr,
			    "benchtool: port %u not listening "
			    "after %.1f s\n",
			    port, secs);
			return 1;
		}
		usleep(20 * 1000);
	}
	return 0;
}

/* Per-connection state of the sink and echo servers. */
struct conn {
	int           fd;
	uint64_t      want; /* sink: bytes announced */
	uint64_t      got;  /* sink: bytes counted, header included */
	unsigned char hdr[8];
};

static int
conn_add(struct pollfd *pfd, struct conn *c, int n, int fd)
{
	if (n == MAXCONN) {
		close(fd);
		return n;
	}
	memset(&c[n], 0, sizeof c[n]);
	c[n].fd = fd;
	pfd[n].fd = fd;
	pfd[n].events = POLLIN;
	return n + 1;
}

/* Counts what arrived; returns 0 to keep the connection, -1 to drop it. */
static int
sink_read(struct conn *c, char *buf)
{
	ssize_t n = read(c->fd, buf, CHUNK);
	size_t  i;
	int     k;

	if (n <= 0)
		return -1;
	for (i = 0; c->got < 8 && i < (size_t)n; i++)
		c->hdr[c->got++] = (unsigned char)buf[i];
	c->got += (uint64_t)n - i;
	if (c->got < 8)
		return 0;

	if (c->want == 0) {
		for (k = 0; k < 8; k++)
			c->want = c->want << 8 | c->hdr[k];
	}
	if (c->got - 8 > c->want)
		return -1;
	if (c->got - 8 == c->want)
		return write_all(c->fd, "k", 1);
	return 0;
}

static int
echo_read(struct conn *c, char *buf)
{
	ssize_t n = read(c->fd, buf, CHUNK);

	if (n <= 0)
		return -1;
	return write_all(c->fd, buf, (size_t)n);
}

/* Accepts and serves connections with poll until killed. */
static _Noreturn void
serve(const char *portfile, int (*on_read)(struct conn *, char *))
{
	static struct pollfd pfd[MAXCONN + 1];
	static struct conn   conns[MAXCONN];
	uint16_t             port;
	char                *buf = malloc(CHUNK);
	int                  lfd, fd, i, ready, n = 0;

	if (buf == NULL)
		die("malloc");
	lfd = tcp_listen(0, &port);
	write_port(portfile, port);
	for (;;) {
		pfd[n].fd = lfd;
		pfd[n].events = POLLIN;
		if (poll(pfd, (nfds_t)n + 1, -1) == -1 && errno != EINTR)
			die("poll");
		ready = pfd[n].revents & POLLIN;

		/* Backwards: an entry moved into a hole is already done. */
		for (i = n - 1; i >= 0; i--) {
			if (pfd[i].revents == 0 || on_read(&conns[i], buf) == 0)
				continue;
			close(conns[i].fd);
			n--;
			conns[i] = conns[n];
			pfd[i] = pfd[n];
		}
		if (ready && (fd = accept(lfd, NULL, NULL)) != -1)
			n = conn_add(pfd, conns, n, fd);
	}
}

static int
read_full(int fd, void *buf, size_t len)
{
	char   *p = buf;
	ssize_t n;

	while (len > 0) {
		if ((n = read(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Opens a connection to 127.0.0.1:dport through the SOCKS5 proxy on
 * 127.0.0.1:port; returns the socket once the proxy has said it is
 * connected, or -1.
 */
static int
socks_open(uint16_t port, uint16_t dport)
{
	unsigned char req[10] = {5, 1, 0, 1, 127, 0, 0, 1};
	unsigned char rep[4 + 256 + 2];
	size_t        rest, at = 4;
	int           fd = tcp_connect(port);

	req[8] = (unsigned char)(dport >> 8);
	req[9] = (unsigned char)dport;
	if (write_all(fd, "\x05\x01\x00", 3) == -1 ||
	    read_full(fd, rep, 2) == -1) {
		fprintf(stderr, "benchtool: socks: no method answer\n");
		goto fail;
	}
	if (rep[0] != 5 || rep[1] != 0) {
		fprintf(stderr,
		    "benchtool: socks: no-auth refused (answer %u)\n",
		    (unsigned)rep[1]);
		goto fail;
	}
	if (write_all(fd, req, sizeof req) == -1 ||
	    read_full(fd, rep, 4) == -1) {
		fprintf(stderr, "benchtool: socks: no connect answer\n");
		goto fail;
	}
	if (rep[0] != 5 || rep[1] != 0) {
		fprintf(stderr, "benchtool: socks: connect answered %u\n",
		    (unsigned)rep[1]);
		goto fail;
	}
	switch (rep[3]) {
	case 1:
		rest = 4 + 2;
		break;
	case 4:
		rest = 16 + 2;
		break;
	case 3:
		if (read_full(fd, &rep[4], 1) == -1)
			goto short_reply;
		rest = (size_t)rep[4] + 2;
		at = 5;
		break;
	default:
		fprintf(stderr, "benchtool: socks: address type %u\n",
		    (unsigned)rep[3]);
		goto fail;
	}
	if (read_full(fd, &rep[at], rest) == -1)
		goto short_reply;
	return fd;

short_reply:
	fprintf(stderr, "benchtool: socks: short connect answer\n");
fail:
	close(fd);
	return -1;
}

/* CHUNK bytes to send: not all zeros, in case compression sneaks in. */
static char *
payload(void)
{
	char *buf = malloc(CHUNK);
	int   i;

	if (buf == NULL)
		die("malloc");
	for (i = 0; i < CHUNK; i++)
		buf[i] = (char)(i * 131 + (i >> 9));
	return buf;
}

/* Streams bytes of buf to the sink on fd; prints the seconds taken. */
static int
send_stream(int fd, uint64_t bytes, const char *buf)
{
	unsigned char hdr[8];
	uint64_t      left = bytes;
	double        t0, t1;
	char          ack;
	size_t        len;
	int           i;

	for (i = 0; i < 8; i++)
		hdr[i] = (unsigned char)(bytes >> (56 - 8 * i));

	t0 = now();
	if (write_all(fd, hdr, sizeof hdr) == -1)
		die("write");
	while (left > 0) {
		len = left < CHUNK ? (size_t)left : CHUNK;
		if (write_all(fd, buf, len) == -1)
			die("write");
		left -= len;
	}
	if (read(fd, &ack, 1) != 1) {
		fprintf(stderr, "benchtool: the sink did not acknowledge\n");
		return 1;
	}
	t1 = now();
	close(fd);
	printf("%.6f\n", t1 - t0);
	return 0;
}

static int
cmd_send(unsigned port, uint64_t bytes)
{
	char *buf = payload();
	int   rc = send_stream(tcp_connect((uint16_t)port), bytes, buf);

	free(buf);
	return rc;
}

/* The clock starts once the proxy has connected, at the first byte. */
static int
cmd_sockssend(unsigned port, unsigned dport, uint64_t bytes)
{
	char *buf = payload();
	int   fd, rc = 1;

	if ((fd = socks_open((uint16_t)port, (uint16_t)dport)) != -1)
		rc = send_stream(fd, bytes, buf);
	free(buf);
	return rc;
}

/* One connect, 1-byte echo and close; 0, or -1 with a message. */
static int
echo_once(int fd, unsigned cycle)
{
	char c;

	if (fd == -1)
		return -1;
	if (write_all(fd, "x", 1) == -1 || read(fd, &c, 1) != 1 || c != 'x') {
		fprintf(stderr, "benchtool: no echo on cycle %u\n", cycle);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int
cmd_conns(unsigned port, unsigned n)
{
	double   t0, t1;
	unsigned i;

	t0 = now();
	for (i = 0; i < n; i++) {
		if (echo_once(tcp_connect((uint16_t)port), i) == -1)
			return 1;
	}
	t1 = now();
	printf("%.6f\n", t1 - t0);
	return 0;
}

static int
cmd_socksconns(unsigned port, unsigned dport, unsigned n)
{
	double   t0, t1;
	unsigned i;

	t0 = now();
	for (i = 0; i < n; i++) {
		if (echo_once(socks_open((uint16_t)port, (uint16_t)dport), i) ==
		    -1)
			return 1;
	}
	t1 = now();
	printf("%.6f\n", t1 - t0);
	return 0;
}

/*
 * kexpeek: what one direction of an SSH connection has shown so far, up
 * to its KEXINIT.
 */
#define KEX_BUF 65536

struct kexside {
	unsigned char buf[KEX_BUF];
	size_t        have;
	int           done;         /* KEXINIT found, or given up */
	char          enc[2][1024]; /* ciphers client-to-server, back */
};

/* Reads an SSH name-list at *off of p (len bytes); NULL if cut short. */
static const unsigned char *
kex_namelist(const unsigned char *p, size_t len, size_t *off, uint32_t *n)
{
	const unsigned char *s;

	if (len - *off < 4)
		return NULL;
	s = p + *off;
	*n = (uint32_t)s[0] << 24 | (uint32_t)s[1] << 16 | (uint32_t)s[2] << 8 |
	    s[3];
	if (len - *off - 4 < *n)
		return NULL;
	*off += 4 + *n;
	return s + 4;
}

/*
 * Looks for the KEXINIT in what side has seen; fills side->enc and sets
 * side->done once it is there.
 */
static void
kex_scan(struct kexside *k)
{
	const unsigned char *p = k->buf, *nl, *list;
	size_t               off, len, plen, line;
	uint32_t             n;
	int                  i;

	/* Lines before the binary packets; the last one starts "SSH-". */
	for (;;) {
		nl = memchr(p, '\n', k->have - (size_t)(p - k->buf));
		if (nl == NULL)
			return;
		line = (size_t)(nl - p);
		p = nl + 1;
		if (line >= 4 && memcmp(nl - line, "SSH-", 4) == 0)
			break;
	}
	len = k->have - (size_t)(p - k->buf);
	if (len < 6)
		return;
	plen =
	    (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
	if (plen < 18 || plen > KEX_BUF) {
		k->done = 1;
		return;
	}
	if (len < 4 + plen)
		return;
	k->done = 1;
	/* After the length and padding length: message 20, the cookie. */
	p += 5;
	len = plen - 1;
	if (len < 17 || p[0] != 20)
		return;
	off = 17;
	for (i = 0; i < 4; i++) {
		if ((list = kex_namelist(p, len, &off, &n)) == NULL)
			return;
		if (i >= 2 && n < sizeof k->enc[0]) {
			memcpy(k->enc[i - 2], list, n);
			k->enc[i - 2][n] = '\0';
		}
	}
}

/* Whether the comma-separated list holds the name (len bytes). */
static int
kex_has(const char *list, const char *name, size_t len)
{
	size_t n;

	for (;;) {
		n = strcspn(list, ",");
		if (n == len && memcmp(list, name, len) == 0)
			return 1;
		if (list[n] == '\0')
			return 0;
		list += n + 1;
	}
}

/* The first name of the client's list that the server's list holds. */
static const char *
kex_choose(const char *client, const char *server)
{
	static char name[1024];
	size_t      n;

	for (;;) {
		n = strcspn(client, ",");
		if (n > 0 && kex_has(server, client, n)) {
			memcpy(name, client, n);
			name[n] = '\0';
			return name;
		}
		if (client[n] == '\0')
			return NULL;
		client += n + 1;
	}
}

static void
kex_report(struct kexside *cl, struct kexside *sv)
{
	const char *up, *down;
	char        first[1024];

	up = kex_choose(cl->enc[0], sv->enc[0]);
	if (up == NULL) {
		printf("unknown\n");
	} else {
		snprintf(first, sizeof first, "%s", up);
		down = kex_choose(cl->enc[1], sv->enc[1]);
		if (down == NULL || strcmp(first, down) == 0)
			printf("%s\n", first);
		else
			printf("%s/%s\n", first, down);
	}
	fflush(stdout);
}

static int
cmd_kexpeek(const char *portfile, unsigned port)
{
	static struct kexside side[2]; /* from the client, from the server */
	struct pollfd         pfd[2];
	uint16_t              bound;
	char                 *buf = malloc(CHUNK);
	int                   lfd, i, reported = 0, on = 1;
	ssize_t               n;
	size_t                room;

	if (buf == NULL)
		die("malloc");
	lfd = tcp_listen(0, &bound);
	write_port(portfile, bound);
	if ((pfd[0].fd = accept(lfd, NULL, NULL)) == -1)
		die("accept");
	close(lfd);
	setsockopt(pfd[0].fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
	pfd[1].fd = tcp_connect((uint16_t)port);
	pfd[0].events = pfd[1].events = POLLIN;

	for (;;) {
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		for (i = 0; i < 2; i++) {
			if (pfd[i].revents == 0)
				continue;
			if ((n = read(pfd[i].fd, buf, CHUNK)) <= 0 ||
			    write_all(pfd[!i].fd, buf, (size_t)n) == -1) {
				if (!reported)
					printf("unknown\n");
				return 0;
			}
			if (side[i].done)
				continue;
			room = KEX_BUF - side[i].have;
			if ((size_t)n < room)
				room = (size_t)n;
			memcpy(side[i].buf + side[i].have, buf, room);
			side[i].have += room;
			kex_scan(&side[i]);
			if (!side[i].done && side[i].have == KEX_BUF)
				side[i].done = 1;
		}
		if (!reported && side[0].done && side[1].done) {
			kex_report(&side[0], &side[1]);
			reported = 1;
		}
	}
}

/*
 * rawcalls, sshcalls: one connection, a TCP socket or an SSH channel,
 * carrying frames both ways.
 */
#define REQ_MAX   1024 /* bytes of one request frame */
#define DEPTH_MAX 4096 /* requests in flight */

struct link {
	int         fd; /* the socket when there is no channel */
	ssh_session ssh;
	ssh_channel ch;
};

struct calls {
	struct link   *l;
	unsigned       n, depth, sent, done;
	const char    *op, *input;
	double        *start; /* per call: when its request went out */
	double        *took;  /* per call: seconds to its answer, or -1 */
	unsigned char *in;    /* what has arrived and is not yet parsed */
	size_t         have;
	char          *out; /* the requests of one write */
};

static int
link_write(struct link *l, const void *buf, size_t len)
{
	if (l->ch == NULL)
		return write_all(l->fd, buf, len);
	if (ssh_channel_write(l->ch, buf, (uint32_t)len) != (int)len)
		return -1;
	return 0;
}

/* Blocks until something arrives; 0 at EOF, -1 on error. */
static ssize_t
link_read(struct link *l, void *buf, size_t len)
{
	ssize_t n;

	if (l->ch != NULL) {
		n = ssh_channel_read(l->ch, buf, (uint32_t)len, 0);
		return n == SSH_ERROR ? -1 : n;
	}
	do
		n = read(l->fd, buf, len);
	while (n == -1 && errno == EINTR);
	return n;
}

static void
link_close(struct link *l)
{
	if (l->ch != NULL) {
		ssh_channel_send_eof(l->ch);
		ssh_channel_close(l->ch);
		ssh_channel_free(l->ch);
	}
	if (l->ssh != NULL) {
		ssh_disconnect(l->ssh);
		ssh_free(l->ssh);
	}
	if (l->fd != -1)
		close(l->fd);
}

/* Writes one request frame to buf (REQ_MAX bytes); returns its length. */
static size_t
frame_request(char *buf, const char *id, const char *op, const char *input)
{
	int n;

	n = snprintf(buf + 4, REQ_MAX - 4,
	    "{\"type\":\"call.requested\",\"id\":\"%s\","
	    "\"payload\":{\"operationId\":\"%s\",\"input\":%s}}",
	    id, op, input);
	if (n < 0 || n >= REQ_MAX - 4) {
		fprintf(stderr, "benchtool: request over %d bytes\n", REQ_MAX);
		exit(1);
	}
	buf[0] = buf[1] = 0;
	buf[2] = (char)(n >> 8);
	buf[3] = (char)n;
	return (size_t)n + 4;
}

/*
 * The string value of the first member named key in the JSON text body
 * (len bytes), which is not NUL-terminated; its length goes to *vlen.
 * Good enough for the envelope, whose "type" and "id" come first.
 */
static const char *
frame_field(const char *body, size_t len, const char *key, size_t *vlen)
{
	const char *end = body + len, *p, *q;
	size_t      klen = strlen(key);

	p = memmem(body, len, key, klen);
	if (p == NULL)
		return NULL;
	for (p += klen; p < end && *p != '"'; p++) {
		if (*p != ':' && *p != ' ')
			return NULL;
	}
	if (p == end || (q = memchr(p + 1, '"', (size_t)(end - p - 1))) == NULL)
		return NULL;
	*vlen = (size_t)(q - p - 1);
	return p + 1;
}

/* Takes the answer body (len bytes) arrived at time t; 0 or -1. */
static int
calls_answer(struct calls *c, const char *body, size_t len, double t)
{
	const char *type, *id;
	size_t      tlen, ilen;
	char        num[16];
	unsigned    k;

	type = frame_field(body, len, "\"type\"", &tlen);
	id = frame_field(body, len, "\"id\"", &ilen);
	if (type == NULL || id == NULL || ilen == 0 || ilen >= sizeof num) {
		fprintf(stderr, "benchtool: an answer without type or id\n");
		return -1;
	}
	if (tlen == 10 && memcmp(type, "call.error", 10) == 0) {
		fprintf(stderr, "benchtool: call.error: %.*s\n",
		    (int)(len < 300 ? len : 300), body);
		return -1;
	}
	memcpy(num, id, ilen);
	num[ilen] = '\0';
	k = (unsigned)strtoul(num, NULL, 10);
	if (k >= c->sent || c->took[k] >= 0) {
		fprintf(stderr, "benchtool: an answer to no call: %s\n", num);
		return -1;
	}
	c->took[k] = t - c->start[k];
	c->done++;
	return 0;
}

/* Takes every whole frame of c->in; 0, or -1 with a message. */
static int
calls_parse(struct calls *c, double t)
{
	size_t at = 0, len;

	while (c->have - at >= 4) {
		len = (size_t)c->in[at] << 24 | (size_t)c->in[at + 1] << 16 |
		    (size_t)c->in[at + 2] << 8 | c->in[at + 3];
		if (len == 0 || len > CHUNK - 4) {
			fprintf(
			    stderr, "benchtool: a frame of %zu bytes\n", len);
			return -1;
		}
		if (c->have - at - 4 < len)
			break;
		if (calls_answer(c, (char *)c->in + at + 4, len, t) == -1)
			return -1;
		at += 4 + len;
	}
	memmove(c->in, c->in + at, c->have - at);
	c->have -= at;
	return 0;
}

/* Sends requests until depth are unanswered, in one write. */
static int
calls_fill(struct calls *c)
{
	unsigned first = c->sent, i;
	size_t   len = 0;
	char     id[16];
	double   t;

	while (c->sent < c->n && c->sent - c->done < c->depth) {
		snprintf(id, sizeof id, "%u", c->sent++);
		len += frame_request(c->out + len, id, c->op, c->input);
	}
	if (len == 0)
		return 0;
	t = now();
	for (i = first; i < c->sent; i++)
		c->start[i] = t;
	return link_write(c->l, c->out, len);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The p-th percentile (nearest rank) of the n sorted values v, in µs. */
static double
percentile(const double *v, unsigned n, unsigned p)
{
	unsigned rank = (unsigned)(((uint64_t)n * p + 99) / 100);

	return v[rank > 0 ? rank - 1 : 0] * 1e6;
}

/* Makes the calls of c on its link; prints what the header says. */
static int
calls_run(struct calls *c)
{
	double   t0, t1;
	ssize_t  n;
	unsigned i;

	c->start = calloc(c->n, sizeof *c->start);
	c->took = calloc(c->n, sizeof *c->took);
	c->in = malloc(CHUNK);
	c->out = malloc((size_t)c->depth * REQ_MAX);
	if (c->start == NULL || c->took == NULL || c->in == NULL ||
	    c->out == NULL)
		die("malloc");
	for (i = 0; i < c->n; i++)
		c->took[i] = -1;

	t0 = now();
	while (c->done < c->n) {
		if (calls_fill(c) == -1) {
			fprintf(stderr, "benchtool: cannot send a request\n");
			return 1;
		}
		n = link_read(c->l, c->in + c->have, CHUNK - c->have);
		if (n <= 0) {
			fprintf(stderr,
			    "benchtool: the connection ended after %u "
			    "answers\n",
			    c->done);
			return 1;
		}
		c->have += (size_t)n;
		if (calls_parse(c, now()) == -1)
			return 1;
	}
	t1 = now();

	qsort(c->took, c->n, sizeof *c->took, cmp_double);
	printf("%.6f %.1f %.1f\n", t1 - t0, percentile(c->took, c->n, 50),
	    percentile(c->took, c->n, 99));
	return 0;
}

/* Presents the token as the first call and waits for its answer. */
static int
raw_login(struct link *l, const char *token)
{
	char          req[REQ_MAX], input[512];
	unsigned char buf[4096];
	size_t        have = 0, len = 0, tlen;
	ssize_t       n;
	const char   *type;

	snprintf(input, sizeof input, "{\"token\":\"%s\"}", token);
	if (link_write(
	        l, req, frame_request(req, "auth", "/auth/token", input)) == -1)
		return -1;
	while (have < 4 || have - 4 < len) {
		if ((n = link_read(l, buf + have, sizeof buf - have)) <= 0)
			return -1;
		have += (size_t)n;
		if (have >= 4)
			len = (size_t)buf[0] << 24 | (size_t)buf[1] << 16 |
			    (size_t)buf[2] << 8 | buf[3];
		if (len > sizeof buf - 4)
			return -1;
	}
	type = frame_field((char *)buf + 4, len, "\"type\"", &tlen);
	if (type == NULL || tlen != 14 || memcmp(type, "call.responded", 14))
		return -1;
	return 0;
}

/* Fills c from N DEPTH OP INPUT of argv; exits on nonsense. */
static void
calls_args(struct calls *c, struct link *l, char **argv)
{
	memset(c, 0, sizeof *c);
	c->l = l;
	c->n = (unsigned)strtoul(argv[0], NULL, 10);
	c->depth = (unsigned)strtoul(argv[1], NULL, 10);
	c->op = argv[2];
	c->input = argv[3];
	if (c->n == 0 || c->depth == 0 || c->depth > DEPTH_MAX) {
		fprintf(stderr, "benchtool: N > 0 and 0 < DEPTH <= %d\n",
		    DEPTH_MAX);
		exit(2);
	}
}

static int
cmd_rawcalls(unsigned port, char **argv, const char *token)
{
	struct link  l = {.fd = tcp_connect((uint16_t)port)};
	struct calls c;
	int          rc;

	calls_args(&c, &l, argv);
	if (token != NULL && raw_login(&l, token) == -1) {
		fprintf(stderr, "benchtool: the token was not taken\n");
		link_close(&l);
		return 1;
	}
	rc = calls_run(&c);
	link_close(&l);
	return rc;
}

/*
 * Logs in to the SSH server on port with key and opens a direct-tcpip
 * channel to host:dport; 0, or -1 with a message.
 */
static int
ssh_open(struct link *l, unsigned port, const char *key, const char *cipher,
    const char *host, unsigned dport)
{
	ssh_key k = NULL;
	int     on = 1, rc = -1;
	bool    off = false;

	if ((l->ssh = ssh_new()) == NULL)
		die("ssh_new");
	ssh_options_set(l->ssh, SSH_OPTIONS_HOST, "127.0.0.1");
	ssh_options_set(l->ssh, SSH_OPTIONS_PORT, &port);
	ssh_options_set(l->ssh, SSH_OPTIONS_USER, "bench");
	ssh_options_set(l->ssh, SSH_OPTIONS_PROCESS_CONFIG, &off);
	ssh_options_set(l->ssh, SSH_OPTIONS_NODELAY, &on);
	if (strcmp(cipher, "-") != 0 &&
	    (ssh_options_set(l->ssh, SSH_OPTIONS_CIPHERS_C_S, cipher) < 0 ||
	        ssh_options_set(l->ssh, SSH_OPTIONS_CIPHERS_S_C, cipher) < 0)) {
		fprintf(stderr, "benchtool: libssh has no %s\n", cipher);
		return -1;
	}
	if (ssh_connect(l->ssh) != SSH_OK)
		goto out;
	if (ssh_pki_import_privkey_file(key, NULL, NULL, NULL, &k) != SSH_OK) {
		fprintf(stderr, "benchtool: cannot read %s\n", key);
		return -1;
	}
	if (ssh_userauth_publickey(l->ssh, NULL, k) != SSH_AUTH_SUCCESS)
		goto out;
	if ((l->ch = ssh_channel_new(l->ssh)) == NULL)
		goto out;
	if (ssh_channel_open_forward(l->ch, host, (int)dport, "127.0.0.1", 0) !=
	    SSH_OK) {
		ssh_channel_free(l->ch);
		l->ch = NULL;
		goto out;
	}
	rc = 0;
out:
	if (rc == -1)
		fprintf(stderr, "benchtool: ssh: %s\n", ssh_get_error(l->ssh));
	ssh_key_free(k);
	return rc;
}

static int
cmd_sshcalls(unsigned port, char **argv)
{
	struct link  l = {.fd = -1};
	struct calls c;
	int          rc = 1;

	calls_args(&c, &l, argv + 4);
	if (ssh_open(&l, port, argv[0], argv[1], argv[2],
	        (unsigned)atoi(argv[3])) == 0)
		rc = calls_run(&c);
	link_close(&l);
	return rc;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: benchtool freeport | waitlisten PORT SECS | "
	    "sink PORTFILE | echo PORTFILE | send PORT BYTES | "
	    "conns PORT N | sockssend PORT DPORT BYTES | "
	    "socksconns PORT DPORT N | kexpeek PORTFILE PORT | "
	    "rawcalls PORT N DEPTH OP INPUT [TOKEN] | "
	    "sshcalls PORT KEY CIPHER HOST DPORT N DEPTH OP INPUT\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 2 && strcmp(argv[1], "freeport") == 0)
		return cmd_freeport();
	if (argc == 4 && strcmp(argv[1], "waitlisten") == 0)
		return cmd_waitlisten(
		    (unsigned)atoi(argv[2]), strtod(argv[3], NULL));
	if (argc == 3 && strcmp(argv[1], "sink") == 0)
		serve(argv[2], sink_read);
	if (argc == 3 && strcmp(argv[1], "echo") == 0)
		serve(argv[2], echo_read);
	if (argc == 4 && strcmp(argv[1], "send") == 0)
		return cmd_send(
		    (unsigned)atoi(argv[2]), strtoull(argv[3], NULL, 10));
	if (argc == 4 && strcmp(argv[1], "conns") == 0)
		return cmd_conns((unsigned)atoi(argv[2]),
		    (unsigned)strtoul(argv[3], NULL, 10));
	if (argc == 5 && strcmp(argv[1], "sockssend") == 0)
		return cmd_sockssend((unsigned)atoi(argv[2]),
		    (unsigned)atoi(argv[3]), strtoull(argv[4], NULL, 10));
	if (argc == 5 && strcmp(argv[1], "socksconns") == 0)
		return cmd_socksconns((unsigned)atoi(argv[2]),
		    (unsigned)atoi(argv[3]),
		    (unsigned)strtoul(argv[4], NULL, 10));
	if (argc == 4 && strcmp(argv[1], "kexpeek") == 0)
		return cmd_kexpeek(argv[2], (unsigned)atoi(argv[3]));
	if ((argc == 7 || argc == 8) && strcmp(argv[1], "rawcalls") == 0)
		return cmd_rawcalls((unsigned)atoi(argv[2]), argv + 3,
		    argc == 8 ? argv[7] : NULL);
	if (argc == 11 && strcmp(argv[1], "sshcalls") == 0)
		return cmd_sshcalls((unsigned)atoi(argv[2]), argv + 3);
	usage();
	return 2;
}
