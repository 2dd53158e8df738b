/*
 * Forwards: specs, names, fields, up and down on a real loop, and what a
 * client of a local or SOCKS listener sees while no upstream is up.
 */
#include <sys/resource.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "events.h"
#include "forward.h"
#include "hostport.h"
#include "socks.h"
#include "walk.h"

#define GREETING 0x05, 0x01, 0x00
#define CONNECT4 0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1, 0x00, 0x50
#define REPLY(r) 0x05, (r), 0x00, 0x01, 0, 0, 0, 0, 0, 0

struct fixture {
	uv_loop_t          loop;
	struct events_sub *sub;
};

static void
ready_cb(struct events_sub *sub, void *arg)
{
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof *fx);

	assert_non_null(fx);
	assert_int_equal(uv_loop_init(&fx->loop), 0);
	assert_int_equal(events_init(&fx->loop, 1 << 20, 1000, 1, 0), 0);
	assert_non_null(fx->sub = events_subscribe(ready_cb, NULL));
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	/* Everything must close: a handle left behind fails the close. */
	forward_remove_all();
	assert_int_equal(forward_count(), 0);
	events_unsubscribe(fx->sub);
	events_close();
	uv_run(&fx->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&fx->loop), 0);
	free(fx);
	return 0;
}

/*
 * Specs.
 */

struct spec_good {
	enum forward_kind kind;
	const char       *spec;
	const char       *listen;
	const char       *target;
};

struct spec_bad {
	enum forward_kind kind;
	const char       *spec;
	const char       *reason; /* a word the reason must contain */
};

static const struct spec_good spec_goods[] = {
    {FORWARD_LOCAL, "15432:db:5432", "127.0.0.1:15432", "db:5432"},
    {FORWARD_LOCAL, "127.0.0.1:15432:db:5432", "127.0.0.1:15432", "db:5432"},
    {FORWARD_LOCAL, "localhost:15432:db:5432", "127.0.0.1:15432", "db:5432"},
    {FORWARD_LOCAL, "[::1]:15432:db.internal:5432", "[::1]:15432",
        "db.internal:5432"},
    {FORWARD_LOCAL, "0.0.0.0:8080:[2001:db8::1]:80", "0.0.0.0:8080",
        "[2001:db8::1]:80"},
    {FORWARD_LOCAL, "*:8080:10.0.0.1:80", "0.0.0.0:8080", "10.0.0.1:80"},
    {FORWARD_LOCAL, "0:db:5432", "127.0.0.1:0", "db:5432"},
    {FORWARD_LOCAL, "00080:db:00022", "127.0.0.1:80", "db:22"},
    {FORWARD_REMOTE, "0.0.0.0:8080:127.0.0.1:3000", "0.0.0.0:8080",
        "127.0.0.1:3000"},
    {FORWARD_REMOTE, "8080:localhost:3000", "127.0.0.1:8080", "localhost:3000"},
    {FORWARD_SOCKS, "1080", "127.0.0.1:1080", ""},
    {FORWARD_SOCKS, "127.0.0.1:9050", "127.0.0.1:9050", ""},
    {FORWARD_SOCKS, "[::1]:1080", "[::1]:1080", ""},
    {FORWARD_SOCKS, "127.0.0.1:0", "127.0.0.1:0", ""},
};

static const struct spec_bad spec_bads[] = {
    {FORWARD_LOCAL, "a:b:c", "number"},
    {FORWARD_LOCAL, "15432:db", "expected"},
    {FORWARD_LOCAL, "15432", "expected"},
    {FORWARD_LOCAL, "1:2:3:4:5", "expected"},
    {FORWARD_LOCAL, "", "expected"},
    {FORWARD_LOCAL, NULL, "expected"},
    {FORWARD_LOCAL, "x:15432:db:5432", "listen address"},
    {FORWARD_LOCAL, "db.example:15432:db:5432", "listen address"},
    {FORWARD_LOCAL, ":15432:db:5432", "empty"},
    {FORWARD_LOCAL, "15432:db:99999", "65535"},
    {FORWARD_LOCAL, "70000:db:5432", "65535"},
    {FORWARD_LOCAL, "15432:db:0", "0"},
    {FORWARD_LOCAL, "15432:db:x", "number"},
    {FORWARD_LOCAL, "15432::5432", "empty host"},
    {FORWARD_LOCAL, "15432:bad host:5432", "character"},
    {FORWARD_LOCAL, "[::1:15432:db:5432", "expected"},
    {FORWARD_LOCAL, "[[::1]]:15432:db:5432", "expected"},
    {FORWARD_LOCAL, "[nothost]:15432:db:5432", "IPv6"},
    {FORWARD_LOCAL, "15432:[nothost]:5432", "IPv6"},
    {FORWARD_LOCAL, "-1:db:5432", "number"},
    {FORWARD_REMOTE, "0:db:5432", "0"},
    {FORWARD_REMOTE, "a:b:c", "number"},
    {FORWARD_SOCKS, "", "missing port"},
    {FORWARD_SOCKS, "a", "number"},
    {FORWARD_SOCKS, "1080:x", "listen address"},
    {FORWARD_SOCKS, "1:2:3", "expected"},
    {FORWARD_SOCKS, "65536", "65535"},
};

static void
test_parse_good(void **state)
{
	char   listen[300], target[300], err[256];
	size_t i;

	for (i = 0; i < sizeof spec_goods / sizeof spec_goods[0]; i++) {
		const struct spec_good *g = &spec_goods[i];

		memset(listen, 'x', sizeof listen);
		memset(target, 'x', sizeof target);
		err[0] = '\0';
		if (forward_parse_spec(g->kind, g->spec, listen, sizeof listen,
		        target, sizeof target, err, sizeof err) != 0)
			fail_msg("%s: %s", g->spec, err);
		assert_string_equal(listen, g->listen);
		assert_string_equal(target, g->target);
	}
}

static void
test_parse_bad(void **state)
{
	char   listen[300], target[300], err[256];
	size_t i;

	for (i = 0; i < sizeof spec_bads / sizeof spec_bads[0]; i++) {
		const struct spec_bad *b = &spec_bads[i];

		err[0] = '\0';
		assert_int_equal(
		    forward_parse_spec(b->kind, b->spec, listen, sizeof listen,
		        target, sizeof target, err, sizeof err),
		    -EINVAL);
		if (strstr(err, b->reason) == NULL)
			fail_msg("%s: reason \"%s\" lacks \"%s\"",
			    b->spec != NULL ? b->spec : "(null)", err,
			    b->reason);
	}
}

/*
 * Objects and fields.
 */

static void
test_names(void **state)
{
	struct fixture *fx = *state;
	struct forward *f;
	char            long_name[65], err[256];
	const char *bad[] = {"", ".", "..", "a/b", "a b", "a:b", "é", "a\nb"};
	size_t      i;

	memset(long_name, 'n', 63);
	long_name[63] = '\0';
	assert_int_equal(
	    forward_new(&fx->loop, "db", FORWARD_LOCAL, &f, err, sizeof err),
	    0);
	assert_ptr_equal(forward_find("db"), f);
	assert_int_equal(forward_new(&fx->loop, "a.b_c-D9", FORWARD_SOCKS, NULL,
	                     err, sizeof err),
	    0);
	assert_int_equal(forward_new(&fx->loop, long_name, FORWARD_REMOTE, NULL,
	                     err, sizeof err),
	    0);

	long_name[63] = 'n';
	long_name[64] = '\0';
	assert_int_equal(forward_new(&fx->loop, long_name, FORWARD_LOCAL, NULL,
	                     err, sizeof err),
	    -EINVAL);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(forward_new(&fx->loop, bad[i], FORWARD_LOCAL,
		                     NULL, err, sizeof err),
		    -EINVAL);
	assert_int_equal(
	    forward_new(&fx->loop, NULL, FORWARD_LOCAL, NULL, err, sizeof err),
	    -EINVAL);
	assert_int_equal(
	    forward_new(&fx->loop, "db", FORWARD_SOCKS, NULL, err, sizeof err),
	    -EEXIST);
	assert_non_null(strstr(err, "exists"));
	assert_int_equal(forward_count(), 3);
}

static void
test_order_and_limit(void **state)
{
	struct fixture *fx = *state;
	struct forward *f;
	char            name[16], err[256];
	int             i;

	for (i = 0; i < 1024; i++) {
		snprintf(name, sizeof name, "f%d", i);
		assert_int_equal(forward_new(&fx->loop, name, FORWARD_LOCAL,
		                     NULL, err, sizeof err),
		    0);
	}
	assert_int_equal(forward_new(&fx->loop, "one-more", FORWARD_LOCAL, NULL,
	                     err, sizeof err),
	    -ENOSPC);

	/* Creation order, whatever the names. */
	for (i = 0, f = forward_next(NULL); f != NULL;
	     f = forward_next(f), i++) {
		struct forward_info info;

		forward_info(f, &info);
		snprintf(name, sizeof name, "f%d", i);
		assert_string_equal(info.name, name);
	}
	assert_int_equal(i, 1024);

	forward_remove(forward_find("f5"));
	forward_remove(NULL);
	assert_null(forward_find("f5"));
	assert_int_equal(forward_count(), 1023);
	assert_int_equal(forward_new(&fx->loop, "one-more", FORWARD_LOCAL, NULL,
	                     err, sizeof err),
	    0);
}

static void
test_fields(void **state)
{
	struct fixture     *fx = *state;
	struct forward     *f;
	struct forward_info info;
	char                err[256];

	assert_int_equal(
	    forward_new(&fx->loop, "x", FORWARD_LOCAL, &f, err, sizeof err), 0);
	forward_info(f, &info);
	assert_string_equal(info.kind, "local");
	assert_string_equal(info.listen, "");
	assert_string_equal(info.target, "");
	assert_string_equal(info.via, "");
	assert_string_equal(info.state, "down");
	assert_string_equal(info.error, "");
	assert_int_equal(info.connections, 0);
	assert_int_equal(info.connections_total, 0);

	assert_int_equal(forward_set(f, "listen", "15432", err, sizeof err), 0);
	assert_int_equal(
	    forward_set(f, "target", "db.internal:5432", err, sizeof err), 0);
	assert_int_equal(forward_set(f, "via", "head-1", err, sizeof err), 0);
	forward_info(f, &info);
	assert_string_equal(info.listen, "127.0.0.1:15432");
	assert_string_equal(info.target, "db.internal:5432");
	assert_string_equal(info.via, "head-1");

	assert_int_equal(
	    forward_set(f, "listen", "[::1]:1080", err, sizeof err), 0);
	assert_int_equal(
	    forward_set(f, "target", "[2001:db8::5]:22", err, sizeof err), 0);
	assert_int_equal(forward_set(f, "via", "", err, sizeof err), 0);
	assert_int_equal(forward_set(f, "kind", "socks", err, sizeof err), 0);
	forward_info(f, &info);
	assert_string_equal(info.listen, "[::1]:1080");
	assert_string_equal(info.target, ""); /* socks has none */
	assert_string_equal(info.via, "");
	assert_string_equal(info.kind, "socks");
	assert_int_equal(forward_set(f, "kind", "remote", err, sizeof err), 0);
	forward_info(f, &info);
	assert_string_equal(info.target, "[2001:db8::5]:22");

	/* Refused values leave the field as it was. */
	assert_int_equal(
	    forward_set(f, "listen", "a:b:c", err, sizeof err), -EINVAL);
	assert_int_equal(
	    forward_set(f, "target", "db", err, sizeof err), -EINVAL);
	assert_int_equal(
	    forward_set(f, "target", "tcp://db:1", err, sizeof err), -EINVAL);
	assert_int_equal(
	    forward_set(f, "target", "db:0", err, sizeof err), -EINVAL);
	assert_int_equal(
	    forward_set(f, "via", "../x", err, sizeof err), -EINVAL);
	assert_int_equal(
	    forward_set(f, "kind", "dynamic", err, sizeof err), -EINVAL);
	assert_int_equal(
	    forward_set(f, "color", "red", err, sizeof err), -EINVAL);
	forward_info(f, &info);
	assert_string_equal(info.listen, "[::1]:1080");
	assert_string_equal(info.target, "[2001:db8::5]:22");
	assert_string_equal(info.kind, "remote");
}

static void
test_up_needs_fields(void **state)
{
	struct fixture     *fx = *state;
	struct forward     *f;
	struct forward_info info;
	char                err[256];

	assert_int_equal(
	    forward_new(&fx->loop, "x", FORWARD_LOCAL, &f, err, sizeof err), 0);
	assert_int_equal(forward_up(f, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "listen"));
	forward_info(f, &info);
	assert_string_equal(info.state, "down");
	assert_non_null(strstr(info.error, "listen"));

	assert_int_equal(forward_set(f, "listen", "0", err, sizeof err), 0);
	assert_int_equal(forward_up(f, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "target"));

	/* A SOCKS forward needs no target. */
	assert_int_equal(forward_set(f, "kind", "socks", err, sizeof err), 0);
	assert_int_equal(forward_up(f, err, sizeof err), 0);
	forward_info(f, &info);
	assert_string_equal(info.state, "up");
	assert_string_equal(info.error, "");
}

static void
test_remote_without_upstream(void **state)
{
	struct fixture     *fx = *state;
	struct forward     *f;
	struct forward_info info;
	char                err[256];

	assert_int_equal(
	    forward_new(&fx->loop, "r", FORWARD_REMOTE, &f, err, sizeof err),
	    0);
	assert_int_equal(
	    forward_set(f, "target", "127.0.0.1:3000", err, sizeof err), 0);
	assert_int_equal(forward_set(f, "listen", "0", err, sizeof err), 0);
	assert_int_equal(forward_up(f, err, sizeof err), -EINVAL);

	assert_int_equal(forward_set(f, "listen", "8080", err, sizeof err), 0);
	assert_int_equal(forward_up(f, err, sizeof err), -ENOENT);
	assert_non_null(strstr(err, "upstream"));
	forward_info(f, &info);
	assert_string_equal(info.state, "down");
	assert_non_null(strstr(info.error, "upstream"));
}

/*
 * On a loop.
 */

static struct forward *
make_up(uv_loop_t *loop, const char *name, enum forward_kind kind,
    const char *listen)
{
	struct forward *f;
	char            err[256];

	assert_int_equal(forward_new(loop, name, kind, &f, err, sizeof err), 0);
	assert_int_equal(forward_set(f, "listen", listen, err, sizeof err), 0);
	if (kind == FORWARD_LOCAL)
		assert_int_equal(
		    forward_set(f, "target", "db:5432", err, sizeof err), 0);
	if (forward_up(f, err, sizeof err) != 0)
		fail_msg("up: %s", err);
	return f;
}

static int
dial(const struct forward *f)
{
	struct forward_info info;
	struct hostport     hp;
	struct sockaddr_in  sin;
	int                 fd;

	forward_info(f, &info);
	assert_int_equal(hostport_parse(info.listen, 0, &hp, NULL, 0), 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(hp.port);
	assert_int_equal(inet_pton(AF_INET, hp.host, &sin.sin_addr), 1);
	assert_true((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	return fd;
}

/*
 * Runs the loop until fd has given len bytes or ended.  Returns the
 * count read; *end is 1 at EOF, -1 at an error such as a reset.  The
 * loop only waits for its own events, and the listener's timers bound
 * every wait.
 */
static size_t
pump(uv_loop_t *loop, int fd, uint8_t *buf, size_t len, int *end)
{
	size_t  got = 0;
	ssize_t n;
	int     i;

	*end = 0;
	for (i = 0; i < 10000 && got < len; i++) {
		n = recv(fd, buf + got, len - got, MSG_DONTWAIT);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0 || errno != EAGAIN) {
			*end = n == 0 ? 1 : -1;
			break;
		}
		uv_run(loop, UV_RUN_ONCE);
	}
	return got;
}

static void
expect_end(uv_loop_t *loop, int fd)
{
	uint8_t byte;
	int     end;

	assert_int_equal(pump(loop, fd, &byte, 1, &end), 0);
	assert_int_equal(end, 1);
}

static void
test_set_while_up(void **state)
{
	struct fixture     *fx = *state;
	struct forward     *f;
	struct forward_info info;
	char                err[256];

	f = make_up(&fx->loop, "db", FORWARD_LOCAL, "127.0.0.1:0");
	forward_info(f, &info);
	assert_string_equal(info.state, "up");
	/* The port the system chose is shown while up. */
	assert_string_not_equal(info.listen, "127.0.0.1:0");
	assert_int_equal(strncmp(info.listen, "127.0.0.1:", 10), 0);

	assert_int_equal(
	    forward_set(f, "listen", "127.0.0.1:1", err, sizeof err), -EBUSY);
	assert_int_equal(
	    forward_set(f, "target", "x:1", err, sizeof err), -EBUSY);
	assert_int_equal(forward_set(f, "via", "u", err, sizeof err), -EBUSY);
	assert_int_equal(
	    forward_set(f, "kind", "socks", err, sizeof err), -EBUSY);
	assert_int_equal(forward_up(f, err, sizeof err), 0);

	forward_down(f);
	forward_info(f, &info);
	assert_string_equal(info.state, "down");
	assert_string_equal(info.listen, "127.0.0.1:0");
	assert_int_equal(forward_set(f, "via", "u", err, sizeof err), 0);
	forward_down(f);
}

static void
test_bind_error(void **state)
{
	struct fixture     *fx = *state;
	struct forward     *a, *b;
	struct forward_info info;
	char                err[256], listen[300];

	a = make_up(&fx->loop, "a", FORWARD_SOCKS, "127.0.0.1:0");
	forward_info(a, &info);
	snprintf(listen, sizeof listen, "%s", info.listen);

	assert_int_equal(
	    forward_new(&fx->loop, "b", FORWARD_SOCKS, &b, err, sizeof err), 0);
	assert_int_equal(forward_set(b, "listen", listen, err, sizeof err), 0);
	assert_int_equal(forward_up(b, err, sizeof err), -EADDRINUSE);
	forward_info(b, &info);
	assert_string_equal(info.state, "down");
	assert_string_not_equal(info.error, "");

	/* Down frees the port for the next one. */
	forward_down(a);
	assert_int_equal(forward_up(b, err, sizeof err), 0);
}

static void
test_local_without_upstream(void **state)
{
	struct fixture     *fx = *state;
	struct forward     *f;
	struct forward_info info;
	int                 fd;

	f = make_up(&fx->loop, "db", FORWARD_LOCAL, "127.0.0.1:0");
	fd = dial(f);
	expect_end(&fx->loop, fd);
	close(fd);

	forward_info(f, &info);
	assert_int_equal(info.connections_total, 1);
	assert_int_equal(info.connections, 0);
	assert_string_equal(info.state, "up");
}

static void
test_socks_without_upstream(void **state)
{
	struct fixture *fx = *state;
	struct forward *f;
	const uint8_t   greet[] = {GREETING}, req[] = {CONNECT4};
	const uint8_t   chosen[] = {0x05, 0x00};
	const uint8_t   refused[] = {REPLY(SOCKS_REP_FAILURE)};
	uint8_t         buf[16];
	int             fd, end;

	f = make_up(&fx->loop, "s", FORWARD_SOCKS, "127.0.0.1:0");
	fd = dial(f);
	assert_int_equal(write(fd, greet, sizeof greet), sizeof greet);
	assert_int_equal(pump(&fx->loop, fd, buf, 2, &end), 2);
	assert_memory_equal(buf, chosen, 2);

	assert_int_equal(write(fd, req, sizeof req), sizeof req);
	assert_int_equal(pump(&fx->loop, fd, buf, 10, &end), 10);
	assert_memory_equal(buf, refused, 10);
	expect_end(&fx->loop, fd);
	close(fd);
}

static void
test_socks_refusal_is_read(void **state)
{
	struct fixture *fx = *state;
	struct forward *f;
	const uint8_t   want[] = {0x05, 0x00, REPLY(SOCKS_REP_COMMAND)};
	static uint8_t  in[3 + 10 + 48 * 1024];
	uint8_t         buf[64];
	int             fd, end;

	/* A refused request with more data behind it than one read takes:
	 * the answer must still arrive whole, followed by an orderly end
	 * rather than a reset. */
	memcpy(in, (uint8_t[]){GREETING, CONNECT4}, 13);
	in[4] = 0x02; /* BIND */
	memset(in + 13, 'j', sizeof in - 13);
	f = make_up(&fx->loop, "s", FORWARD_SOCKS, "127.0.0.1:0");
	fd = dial(f);
	assert_int_equal(send(fd, in, sizeof in, MSG_DONTWAIT), sizeof in);

	assert_int_equal(
	    pump(&fx->loop, fd, buf, sizeof buf, &end), sizeof want);
	assert_int_equal(end, 1);
	assert_memory_equal(buf, want, sizeof want);
	close(fd);
}

static void
test_socks_not_socks(void **state)
{
	struct fixture *fx = *state;
	struct forward *f;
	const char      http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	uint8_t         buf[16];
	int             fd, end;

	f = make_up(&fx->loop, "s", FORWARD_SOCKS, "127.0.0.1:0");
	fd = dial(f);
	assert_int_equal(
	    write(fd, http, sizeof http - 1), (ssize_t)sizeof http - 1);
	assert_int_equal(pump(&fx->loop, fd, buf, sizeof buf, &end), 0);
	assert_int_equal(end, 1);
	close(fd);
}

static void
test_socks_forward_removed(void **state)
{
	struct fixture *fx = *state;
	struct forward *f;
	const uint8_t   greet[] = {GREETING};
	const uint8_t   refused[] = {REPLY(SOCKS_REP_FAILURE)};
	struct walk     w;
	uint8_t         buf[16];
	int             fd, silent, end;

	/* Removing the forward ends its handshakes at once: the client
	 * that chose a method is answered, the silent one just closed. */
	f = make_up(&fx->loop, "s", FORWARD_SOCKS, "127.0.0.1:0");
	fd = dial(f);
	silent = dial(f);
	assert_int_equal(write(fd, greet, sizeof greet), sizeof greet);
	assert_int_equal(pump(&fx->loop, fd, buf, 2, &end), 2);
	forward_remove(f);

	/* No handshake timer is left to wait for. */
	memset(&w, 0, sizeof w);
	uv_walk(&fx->loop, walk_cb, &w);
	assert_int_equal(w.timers_active, 0);

	assert_int_equal(pump(&fx->loop, fd, buf, 10, &end), 10);
	assert_memory_equal(buf, refused, 10);
	expect_end(&fx->loop, fd);
	expect_end(&fx->loop, silent);
	close(fd);
	close(silent);
}

static void
test_socks_stalled_client(void **state)
{
	struct fixture *fx = *state;
	struct forward *f;
	const uint8_t   in[] = {GREETING, 0x05, 0x01, 0x00, 0x03, 20, 'a'};
	const uint8_t   refused[] = {REPLY(SOCKS_REP_FAILURE)};
	uint8_t         buf[16];
	int             fd, end;

	/* Half a request and silence: the handshake's timer answers. */
	f = make_up(&fx->loop, "s", FORWARD_SOCKS, "127.0.0.1:0");
	fd = dial(f);
	assert_int_equal(write(fd, in, sizeof in), sizeof in);
	assert_int_equal(pump(&fx->loop, fd, buf, 12, &end), 12);
	assert_memory_equal(buf + 2, refused, 10);
	expect_end(&fx->loop, fd);
	close(fd);
}

static void
test_connections_stay_after_down(void **state)
{
	struct fixture *fx = *state;
	struct forward *f;
	const uint8_t   greet[] = {GREETING}, req[] = {CONNECT4};
	uint8_t         buf[16];
	int             fd, end;

	/* Down closes the listener, not the handshake in progress. */
	f = make_up(&fx->loop, "s", FORWARD_SOCKS, "127.0.0.1:0");
	fd = dial(f);
	assert_int_equal(write(fd, greet, sizeof greet), sizeof greet);
	assert_int_equal(pump(&fx->loop, fd, buf, 2, &end), 2);
	forward_down(f);
	assert_int_equal(write(fd, req, sizeof req), sizeof req);
	assert_int_equal(pump(&fx->loop, fd, buf, 10, &end), 10);
	assert_int_equal(buf[1], SOCKS_REP_FAILURE);
	close(fd);
}

/* The next event of the bus as a JSON object, NULL if none waits. */
static json_t *
next_event(struct events_sub *sub)
{
	static char  buf[4096];
	static char *pos, *end;
	char        *line, *nl;
	ssize_t      n;

	if (pos == NULL || pos >= end) {
		n = events_read(sub, buf, sizeof buf);
		if (n <= 0)
			return NULL;
		pos = buf;
		end = buf + n;
	}
	assert_non_null(nl = memchr(pos, '\n', (size_t)(end - pos)));
	line = pos;
	pos = nl + 1;
	return json_loadb(line, (size_t)(nl - line), 0, NULL);
}

static void
expect_event(struct events_sub *sub, const char *type, const char *name,
    const char *kind)
{
	json_t     *o = next_event(sub);
	const char *key;
	json_t     *v;

	assert_non_null(o);
	assert_string_equal(
	    json_string_value(json_object_get(o, "type")), type);
	assert_string_equal(
	    json_string_value(json_object_get(o, "forward")), name);
	assert_string_equal(
	    json_string_value(json_object_get(o, "kind")), kind);
	/* Nothing more: no addresses. */
	json_object_foreach(o, key, v)
	{
		if (strcmp(key, "seq") != 0 && strcmp(key, "ts") != 0 &&
		    strcmp(key, "type") != 0 && strcmp(key, "forward") != 0 &&
		    strcmp(key, "kind") != 0)
			fail_msg("unexpected field %s", key);
	}
	json_decref(o);
}

static void
test_events(void **state)
{
	struct fixture *fx = *state;
	struct forward *f;
	char            err[256];

	f = make_up(&fx->loop, "web", FORWARD_LOCAL, "127.0.0.1:0");
	expect_event(fx->sub, "forward.up", "web", "local");
	forward_down(f);
	expect_event(fx->sub, "forward.down", "web", "local");
	forward_down(f);
	assert_null(next_event(fx->sub));

	assert_int_equal(forward_set(f, "kind", "socks", err, sizeof err), 0);
	assert_int_equal(forward_up(f, err, sizeof err), 0);
	forward_remove(f);
	expect_event(fx->sub, "forward.up", "web", "socks");
	expect_event(fx->sub, "forward.down", "web", "socks");

	/* A failed up says nothing. */
	assert_int_equal(
	    forward_new(&fx->loop, "r", FORWARD_REMOTE, &f, err, sizeof err),
	    0);
	assert_int_equal(forward_set(f, "listen", "8080", err, sizeof err), 0);
	assert_int_equal(forward_set(f, "target", "a:1", err, sizeof err), 0);
	assert_int_equal(forward_up(f, err, sizeof err), -ENOENT);
	assert_null(next_event(fx->sub));
}

/*
 * Out of descriptors.
 */

static void
test_out_of_descriptors(void **state)
{
	struct fixture *fx = *state;
	struct forward *f;
	struct rlimit   old, low;
	struct walk     w;
	char            log[1024];
	int             fd, fill[512], nfill = 0, pipefd[2], saved, i;
	ssize_t         n;

	f = make_up(&fx->loop, "em", FORWARD_LOCAL, "127.0.0.1:0");
	fd = dial(f);

	/* The log line goes to stderr: catch it. */
	assert_int_equal(pipe2(pipefd, O_CLOEXEC | O_NONBLOCK), 0);
	assert_true((saved = dup(2)) >= 0);
	assert_int_equal(dup2(pipefd[1], 2), 2);

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	if (low.rlim_cur > 256)
		low.rlim_cur = 256;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	while (nfill < 512 && (fill[nfill] = dup(fd)) >= 0)
		nfill++;
	assert_int_equal(errno, EMFILE);

	/* The waiting connection cannot be taken: the listener stops
	 * watching its socket and a timer will look again. */
	uv_run(&fx->loop, UV_RUN_NOWAIT);
	memset(&w, 0, sizeof w);
	uv_walk(&fx->loop, walk_cb, &w);
	assert_int_equal(w.polls, 1);
	assert_int_equal(w.polls_active, 0);
	assert_true(w.timers_active >= 1);

	/* With descriptors back, service resumes by itself. */
	for (i = 0; i < nfill; i++)
		close(fill[i]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	expect_end(&fx->loop, fd);
	close(fd);
	memset(&w, 0, sizeof w);
	uv_walk(&fx->loop, walk_cb, &w);
	assert_int_equal(w.polls_active, 1);

	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	close(pipefd[1]);
	n = read(pipefd[0], log, sizeof log - 1);
	close(pipefd[0]);
	assert_true(n > 0);
	log[n] = '\0';
	assert_non_null(
	    strstr(log, "accept paused name=em reason=out-of-descriptors"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_good),
	    cmocka_unit_test(test_parse_bad),
	    cmocka_unit_test_setup_teardown(test_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_order_and_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fields, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_up_needs_fields, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_remote_without_upstream, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_while_up, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bind_error, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_local_without_upstream, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_socks_without_upstream, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_socks_refusal_is_read, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_socks_not_socks, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_socks_forward_removed, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_socks_stalled_client, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_connections_stay_after_down, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_events, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_out_of_descriptors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
