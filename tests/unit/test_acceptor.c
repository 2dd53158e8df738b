/*
 * Listening sockets, and acceptors on a real loop: connections handed
 * over with their peer, stopping from the callback, and the pause while
 * descriptors run out.
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
#include <uv.h>

#include "acceptor.h"
#include "hostport.h"
#include "walk.h"

#define WAIT_STEPS 300 /* of 10 ms */

struct fixture {
	uv_loop_t          loop;
	struct sockaddr_in addr; /* listened on */
	int                lfd;
	int                taken; /* lfd belongs to an acceptor */
	struct acceptor   *a;
	int                count;
	int                stop_in_cb;
	struct hostport    peer; /* of the last connection */
};

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof *fx);
	socklen_t       len = sizeof fx->addr;
	int             fd;

	assert_non_null(fx);
	assert_int_equal(uv_loop_init(&fx->loop), 0);
	fx->addr.sin_family = AF_INET;
	fx->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(
	    bind(fd, (struct sockaddr *)&fx->addr, sizeof fx->addr), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(
	    getsockname(fd, (struct sockaddr *)&fx->addr, &len), 0);
	fx->lfd = fd;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	/* Everything must close: a handle left behind fails the close. */
	acceptor_stop(fx->a);
	if (!fx->taken)
		close(fx->lfd);
	uv_run(&fx->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&fx->loop), 0);
	free(fx);
	return 0;
}

static void
take_cb(void *arg, int fd, const struct sockaddr *peer)
{
	struct fixture *fx = arg;

	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(hostport_from_sockaddr(peer, &fx->peer), 0);
	close(fd);
	fx->count++;
	if (fx->stop_in_cb) {
		acceptor_stop(fx->a);
		fx->a = NULL;
	}
}

static void
start(struct fixture *fx, const char *name)
{
	assert_int_equal(
	    acceptor_start(&fx->loop, fx->lfd, name, take_cb, fx, &fx->a), 0);
	assert_non_null(fx->a);
	fx->taken = 1;
}

static int
dial(const struct fixture *fx)
{
	int fd;

	assert_true((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
	assert_int_equal(
	    connect(fd, (const struct sockaddr *)&fx->addr, sizeof fx->addr),
	    0);
	return fd;
}

/* Runs the loop until want connections were taken, for 3 s at most. */
static void
run_until(struct fixture *fx, int want)
{
	int i;

	for (i = 0; i < WAIT_STEPS && fx->count < want; i++) {
		uv_run(&fx->loop, UV_RUN_NOWAIT);
		if (fx->count < want)
			usleep(10 * 1000);
	}
	assert_int_equal(fx->count, want);
}

static void
test_accept(void **state)
{
	struct fixture *fx = *state;
	struct hostport mine;
	int             fd1, fd2;

	start(fx, "t");
	fd1 = dial(fx);
	run_until(fx, 1);
	assert_int_equal(hostport_sockname(fd1, &mine), 0);
	assert_string_equal(fx->peer.host, "127.0.0.1");
	assert_int_equal(fx->peer.port, mine.port);

	/* Later connections keep coming. */
	fd2 = dial(fx);
	run_until(fx, 2);
	assert_int_equal(hostport_sockname(fd2, &mine), 0);
	assert_int_equal(fx->peer.port, mine.port);
	close(fd1);
	close(fd2);
}

static void
test_stop_in_callback(void **state)
{
	struct fixture *fx = *state;
	int             fd1, fd2;

	/* Both wait in the backlog; the first stops the acceptor. */
	fx->stop_in_cb = 1;
	start(fx, "t");
	fd1 = dial(fx);
	fd2 = dial(fx);
	run_until(fx, 1);
	uv_run(&fx->loop, UV_RUN_NOWAIT);
	assert_int_equal(fx->count, 1);
	assert_null(fx->a);
	close(fd1);
	close(fd2);
}

static void
test_listen(void **state)
{
	struct hostport hp, bound;
	const char     *why = NULL;
	int             fd, fd2;

	assert_int_equal(hostport_parse("127.0.0.1:0", 1, &hp, NULL, 0), 0);
	assert_int_equal(acceptor_listen(&hp, 0, &fd, &why), 0);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(hostport_sockname(fd, &bound), 0);
	assert_string_equal(bound.host, "127.0.0.1");
	assert_true(bound.port != 0);

	/* The same port again: the bind error and its cause. */
	fd2 = -1;
	assert_int_equal(acceptor_listen(&bound, 0, &fd2, &why), -EADDRINUSE);
	assert_int_equal(fd2, -1);
	assert_non_null(why);
	assert_string_equal(why, strerror(EADDRINUSE));
	close(fd);

	/* A name is looked up only when asked to. */
	assert_int_equal(hostport_parse("localhost:0", 1, &hp, NULL, 0), 0);
	why = NULL;
	assert_int_equal(acceptor_listen(&hp, 0, &fd, &why), -EINVAL);
	assert_non_null(why);
	assert_true(*why != '\0');
}

static void
test_stop_null(void **state)
{
	acceptor_stop(NULL);
}

static void
test_start_fails(void **state)
{
	struct fixture *fx = *state;
	struct walk     w;
	int             fd;

	/* A descriptor the loop cannot watch stays the caller's. */
	assert_true((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0);
	assert_true(
	    acceptor_start(&fx->loop, fd, "t", take_cb, fx, &fx->a) < 0);
	assert_null(fx->a);
	assert_int_not_equal(fcntl(fd, F_GETFD), -1);
	close(fd);

	memset(&w, 0, sizeof w);
	uv_walk(&fx->loop, walk_cb, &w);
	assert_int_equal(w.polls, 0);
}

static void
test_out_of_descriptors(void **state)
{
	struct fixture *fx = *state;
	struct rlimit   old, low;
	struct walk     w;
	char            log[1024];
	int             fd, fill[512], nfill = 0, pipefd[2], saved, i;
	ssize_t         n;

	start(fx, "em");
	fd = dial(fx);

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

	/* The waiting connection cannot be taken: the socket is no longer
	 * watched and a timer will look again. */
	uv_run(&fx->loop, UV_RUN_NOWAIT);
	assert_int_equal(fx->count, 0);
	memset(&w, 0, sizeof w);
	uv_walk(&fx->loop, walk_cb, &w);
	assert_int_equal(w.polls, 1);
	assert_int_equal(w.polls_active, 0);
	assert_int_equal(w.timers_active, 1);

	/* With descriptors back, the connection left in the backlog is
	 * taken without any new one arriving. */
	for (i = 0; i < nfill; i++)
		close(fill[i]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	run_until(fx, 1);
	memset(&w, 0, sizeof w);
	uv_walk(&fx->loop, walk_cb, &w);
	assert_int_equal(w.polls_active, 1);
	assert_int_equal(w.timers_active, 0);
	close(fd);

	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	close(pipefd[1]);
	n = read(pipefd[0], log, sizeof log - 1);
	close(pipefd[0]);
	assert_true(n > 0);
	log[n] = '\0';
	assert_non_null(
	    strstr(log, "accept paused name=em reason=out-of-descriptors\n"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_accept, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_stop_in_callback, setup, teardown),
	    cmocka_unit_test(test_listen),
	    cmocka_unit_test(test_stop_null),
	    cmocka_unit_test_setup_teardown(test_start_fails, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_out_of_descriptors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
