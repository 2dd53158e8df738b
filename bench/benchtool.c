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
 *
 * A stream to the sink starts with its length (8 bytes, big-endian); the
 * sink answers one byte once it has counted that many, so the sender's
 * clock stops when every byte has arrived.  waitlisten reads
 * /proc/net/tcp instead of connecting, so that probing never opens a
 * tunnel channel.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
cmd_send(unsigned port, uint64_t bytes)
{
	unsigned char hdr[8];
	uint64_t      left = bytes;
	double        t0, t1;
	char         *buf, ack;
	size_t        len;
	int           fd, i;

	if ((buf = malloc(CHUNK)) == NULL)
		die("malloc");

	/* Not all zeros, in case compression sneaks in somewhere. */
	for (i = 0; i < CHUNK; i++)
		buf[i] = (char)(i * 131 + (i >> 9));
	for (i = 0; i < 8; i++)
		hdr[i] = (unsigned char)(bytes >> (56 - 8 * i));

	fd = tcp_connect((uint16_t)port);
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
	free(buf);
	printf("%.6f\n", t1 - t0);
	return 0;
}

static int
cmd_conns(unsigned port, unsigned n)
{
	double   t0, t1;
	unsigned i;
	char     c;
	int      fd;

	t0 = now();
	for (i = 0; i < n; i++) {
		fd = tcp_connect((uint16_t)port);
		if (write_all(fd, "x", 1) == -1)
			die("write");
		if (read(fd, &c, 1) != 1 || c != 'x') {
			fprintf(stderr, "benchtool: no echo on cycle %u\n", i);
			return 1;
		}
		close(fd);
	}
	t1 = now();
	printf("%.6f\n", t1 - t0);
	return 0;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: benchtool freeport | waitlisten PORT SECS | "
	    "sink PORTFILE | echo PORTFILE | send PORT BYTES | "
	    "conns PORT N\n");
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
	usage();
	return 2;
}
