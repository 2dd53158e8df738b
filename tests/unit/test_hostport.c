/*
 * Endpoint parsing and formatting, and the endpoints of sockets.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "hostport.h"

struct good {
	const char *in;
	int         allow_zero;
	const char *host;
	unsigned    port;
	const char *formatted;
};

struct bad {
	const char *in;
	int         allow_zero;
	const char *reason; /* a word the reason must contain */
};

static const struct good goods[] = {
    {"127.0.0.1:22", 0, "127.0.0.1", 22, "127.0.0.1:22"},
    {"localhost:1", 0, "localhost", 1, "localhost:1"},
    {"host.example-1.org:65535", 0, "host.example-1.org", 65535, NULL},
    {"tcp://0.0.0.0:8022", 0, "0.0.0.0", 8022, "0.0.0.0:8022"},
    {"TCP://a_b:80", 0, "a_b", 80, "a_b:80"},
    {"[::1]:443", 0, "::1", 443, "[::1]:443"},
    {"tcp://[::]:0", 1, "::", 0, "[::]:0"},
    {"[2001:db8::1]:22", 0, "2001:db8::1", 22, "[2001:db8::1]:22"},
    {"[fe80::1%eth0]:22", 0, "fe80::1%eth0", 22, "[fe80::1%eth0]:22"},
    {"[::ffff:10.0.0.1]:22", 0, "::ffff:10.0.0.1", 22, NULL},
    {"127.0.0.1:0", 1, "127.0.0.1", 0, "127.0.0.1:0"},
    {"h:00080", 0, "h", 80, "h:80"},
};

static const struct bad bads[] = {
    {NULL, 0, "empty"},
    {"", 0, "empty"},
    {"127.0.0.1", 0, "missing port"},
    {"127.0.0.1:", 0, "missing port"},
    {"tcp://", 0, "empty"},
    {":22", 0, "empty host"},
    {"[]:22", 0, "empty host"},
    {"127.0.0.1:0", 0, "0"},
    {"127.0.0.1:65536", 0, "65535"},
    {"127.0.0.1:99999999999999999999", 0, "65535"},
    {"127.0.0.1:-1", 0, "number"},
    {"127.0.0.1:+1", 0, "number"},
    {"127.0.0.1:22a", 0, "number"},
    {"127.0.0.1: 22", 0, "number"},
    {"127.0.0.1:22/", 0, "number"},
    {"::1:22", 0, "brackets"},
    {"[::1:22", 0, "brackets"},
    {"::1]:22", 0, "brackets"},
    {"[[::1]:22", 0, "brackets"},
    {"[::1]]:22", 0, "brackets"},
    {"[::1]", 0, "missing port"},
    {"[::1]22", 0, "':'"},
    {"[example.com]:22", 0, "IPv6"},
    {"[::1%]:22", 0, "IPv6"},
    {"tls://127.0.0.1:22", 0, "scheme"},
    {"host name:22", 0, "character"},
    {"a/b:22", 0, "character"},
    {"user@host:22", 0, "character"},
    {"h\n:22", 0, "character"},
};

static void
test_good(void **state)
{
	struct hostport hp;
	char            err[128], buf[300];
	size_t          i;
	int             rc;

	for (i = 0; i < sizeof goods / sizeof *goods; i++) {
		err[0] = '\0';
		rc = hostport_parse(
		    goods[i].in, goods[i].allow_zero, &hp, err, sizeof err);
		if (rc != 0)
			print_error("%s: %s\n", goods[i].in, err);
		assert_int_equal(rc, 0);
		assert_string_equal(hp.host, goods[i].host);
		assert_int_equal(hp.port, goods[i].port);

		hostport_format(&hp, buf, sizeof buf);
		assert_string_equal(
		    buf, goods[i].formatted ? goods[i].formatted : goods[i].in);
	}
}

static void
test_bad(void **state)
{
	struct hostport hp;
	char            err[128];
	size_t          i;
	int             rc;

	for (i = 0; i < sizeof bads / sizeof *bads; i++) {
		memset(&hp, 0x5a, sizeof hp);
		err[0] = '\0';
		rc = hostport_parse(
		    bads[i].in, bads[i].allow_zero, &hp, err, sizeof err);
		if (rc != -EINVAL || strstr(err, bads[i].reason) == NULL)
			print_error("%s: rc %d, \"%s\"\n",
			    bads[i].in ? bads[i].in : "(null)", rc, err);
		assert_int_equal(rc, -EINVAL);
		assert_non_null(strstr(err, bads[i].reason));

		/* A refused endpoint leaves the output alone. */
		assert_int_equal(hp.port, 0x5a5a);
	}
}

static void
test_host_length(void **state)
{
	struct hostport hp;
	char            in[300], err[128], buf[300];

	/* 255 bytes fit, 256 do not. */
	memset(in, 'a', 255);
	strcpy(in + 255, ":9");
	assert_int_equal(hostport_parse(in, 0, &hp, err, sizeof err), 0);
	assert_int_equal(strlen(hp.host), 255);
	hostport_format(&hp, buf, sizeof buf);
	assert_string_equal(buf, in);

	memset(in, 'a', 256);
	strcpy(in + 256, ":9");
	assert_int_equal(hostport_parse(in, 0, &hp, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "255"));
}

static void
test_no_err_buffer(void **state)
{
	struct hostport hp;

	assert_int_equal(hostport_parse("x", 0, &hp, NULL, 0), -EINVAL);
	assert_int_equal(hostport_parse("x:1", 0, &hp, NULL, 0), 0);
}

static void
test_format_small(void **state)
{
	struct hostport hp;
	char            buf[6];

	assert_int_equal(hostport_parse("[::1]:8080", 0, &hp, NULL, 0), 0);
	hostport_format(&hp, buf, sizeof buf);
	assert_string_equal(buf, "[::1]");
}

static void
test_from_sockaddr(void **state)
{
	struct sockaddr_in  s4;
	struct sockaddr_in6 s6;
	struct hostport     hp;
	char                buf[300];

	memset(&s4, 0, sizeof s4);
	s4.sin_family = AF_INET;
	s4.sin_port = htons(2222);
	inet_pton(AF_INET, "10.1.2.3", &s4.sin_addr);
	assert_int_equal(
	    hostport_from_sockaddr((struct sockaddr *)&s4, &hp), 0);
	assert_string_equal(hp.host, "10.1.2.3");
	assert_int_equal(hp.port, 2222);
	hostport_format(&hp, buf, sizeof buf);
	assert_string_equal(buf, "10.1.2.3:2222");

	/* No zone, and brackets only in the formatted text. */
	memset(&s6, 0, sizeof s6);
	s6.sin6_family = AF_INET6;
	s6.sin6_port = htons(65535);
	s6.sin6_scope_id = 2;
	inet_pton(AF_INET6, "fe80::1", &s6.sin6_addr);
	assert_int_equal(
	    hostport_from_sockaddr((struct sockaddr *)&s6, &hp), 0);
	assert_string_equal(hp.host, "fe80::1");
	assert_int_equal(hp.port, 65535);
	hostport_format(&hp, buf, sizeof buf);
	assert_string_equal(buf, "[fe80::1]:65535");

	inet_pton(AF_INET6, "::ffff:10.0.0.1", &s6.sin6_addr);
	s6.sin6_port = htons(0);
	assert_int_equal(
	    hostport_from_sockaddr((struct sockaddr *)&s6, &hp), 0);
	assert_string_equal(hp.host, "::ffff:10.0.0.1");
	assert_int_equal(hp.port, 0);
}

static void
test_from_sockaddr_other_family(void **state)
{
	struct sockaddr_un un;
	struct hostport    hp;

	memset(&un, 0, sizeof un);
	un.sun_family = AF_UNIX;
	memset(&hp, 0x5a, sizeof hp);
	assert_int_equal(
	    hostport_from_sockaddr((struct sockaddr *)&un, &hp), -EAFNOSUPPORT);
	assert_int_equal(hp.port, 0x5a5a);
	assert_int_equal((unsigned char)hp.host[0], 0x5a);
}

static void
test_socket_names(void **state)
{
	struct sockaddr_in sin;
	struct hostport    srv, cli, peer;
	socklen_t          len = sizeof sin;
	int                lfd, cfd, afd;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(listen(lfd, 1), 0);

	/* Port 0 was asked for; the name tells the port the kernel chose. */
	assert_int_equal(hostport_sockname(lfd, &srv), 0);
	assert_string_equal(srv.host, "127.0.0.1");
	assert_true(srv.port != 0);

	getsockname(lfd, (struct sockaddr *)&sin, &len);
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(cfd, (struct sockaddr *)&sin, sizeof sin), 0);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);

	assert_int_equal(hostport_sockname(cfd, &cli), 0);
	assert_int_equal(hostport_peername(afd, &peer), 0);
	assert_string_equal(peer.host, "127.0.0.1");
	assert_int_equal(peer.port, cli.port);
	assert_int_equal(hostport_peername(cfd, &peer), 0);
	assert_int_equal(peer.port, srv.port);

	close(afd);
	close(cfd);
	close(lfd);
}

static void
test_socket_names_fail(void **state)
{
	struct hostport hp;
	int             fd, pipefd[2];

	memset(&hp, 0x5a, sizeof hp);

	/* Not connected, not a socket, not open. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(hostport_peername(fd, &hp), -ENOTCONN);
	close(fd);
	assert_int_equal(pipe(pipefd), 0);
	assert_int_equal(hostport_sockname(pipefd[0], &hp), -ENOTSOCK);
	close(pipefd[0]);
	close(pipefd[1]);
	assert_int_equal(hostport_peername(-1, &hp), -EBADF);

	/* A unix socket's name is not an IP address. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(hostport_sockname(fd, &hp), -EAFNOSUPPORT);
	close(fd);

	assert_int_equal(hp.port, 0x5a5a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_host_length),
	    cmocka_unit_test(test_no_err_buffer),
	    cmocka_unit_test(test_format_small),
	    cmocka_unit_test(test_from_sockaddr),
	    cmocka_unit_test(test_from_sockaddr_other_family),
	    cmocka_unit_test(test_socket_names),
	    cmocka_unit_test(test_socket_names_fail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
