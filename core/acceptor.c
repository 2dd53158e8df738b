/*
 * Listening sockets, and accepting connections on them.
 *
 * The listening socket is a plain non-blocking socket watched with a
 * uv_poll_t rather than libuv's uv_listen: when descriptors run out,
 * uv_listen silently accepts and drops pending connections through a
 * reserve descriptor, and once that reserve is lost it reports EMFILE in
 * a tight loop that only closing the socket ends.  Accepting here instead
 * stops watching for a moment and leaves waiting clients in the backlog.
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acceptor.h"
#include "hostport.h"
#include "log.h"

#define ACCEPTOR_BACKLOG    512
#define ACCEPTOR_BURST      64    /* accepts per wakeup */
#define ACCEPTOR_PAUSE_MS   250   /* after running out of descriptors */
#define ACCEPTOR_LOG_GAP_MS 10000 /* between two "accept paused" lines */

struct acceptor {
	int         fd;
	int         stopped;
	int         handles; /* open; the last to close frees */
	acceptor_cb cb;
	void       *arg;
	char        name[64];
	uv_poll_t   poll;
	uv_timer_t  pause;
};

int
acceptor_listen(
    const struct hostport *hp, int resolve, int *fdp, const char **why)
{
	struct addrinfo hints, *res = NULL;
	char            port[8];
	int             fd = -1, on = 1, rc;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (!resolve)
		hints.ai_flags |= AI_NUMERICHOST;
	snprintf(port, sizeof port, "%u", (unsigned)hp->port);
	if ((rc = getaddrinfo(hp->host, port, &hints, &res)) != 0) {
		*why = gai_strerror(rc);
		return -EINVAL;
	}

	fd = socket(
	    res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto out;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	if (res->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
	if (bind(fd, res->ai_addr, res->ai_addrlen) == -1 ||
	    listen(fd, ACCEPTOR_BACKLOG) == -1)
		goto out;

	freeaddrinfo(res);
	*fdp = fd;
	return 0;

out:
	rc = -errno;
	*why = strerror(errno);
	if (fd != -1)
		close(fd);
	freeaddrinfo(res);
	return rc;
}

static void acceptor_on_readable(uv_poll_t *, int, int);

static void
acceptor_resume(uv_timer_t *t)
{
	struct acceptor *a = t->data;

	uv_poll_start(&a->poll, UV_READABLE, acceptor_on_readable);
}

static void
acceptor_pause(struct acceptor *a)
{
	static uint64_t last;
	static int      logged;
	uint64_t        now = uv_now(a->poll.loop);

	/* Without a free descriptor the pending connection cannot be taken;
	 * stop watching for a moment rather than spin on it. */
	uv_poll_stop(&a->poll);
	uv_timer_start(&a->pause, acceptor_resume, ACCEPTOR_PAUSE_MS, 0);
	if (!logged || now - last >= ACCEPTOR_LOG_GAP_MS) {
		log_info(
		    "accept paused name=%s reason=out-of-descriptors", a->name);
		last = now;
		logged = 1;
	}
}

static void
acceptor_on_readable(uv_poll_t *p, int status, int events)
{
	struct acceptor        *a = p->data;
	struct sockaddr_storage ss;
	socklen_t               len;
	int                     fd, i;

	/* cb may stop the acceptor; a lives on until its handles close. */
	for (i = 0; i < ACCEPTOR_BURST && !a->stopped; i++) {
		len = sizeof ss;
		fd = accept4(a->fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd != -1) {
			a->cb(a->arg, fd, (struct sockaddr *)&ss);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM)
			acceptor_pause(a);
		return;
	}
}

static void
acceptor_closed(uv_handle_t *h)
{
	struct acceptor *a = h->data;

	if (--a->handles == 0)
		free(a);
}

static void
acceptor_close_handles(struct acceptor *a)
{
	a->stopped = 1;
	uv_close((uv_handle_t *)&a->pause, acceptor_closed);
	uv_close((uv_handle_t *)&a->poll, acceptor_closed);
}

int
acceptor_start(uv_loop_t *loop, int fd, const char *name, acceptor_cb cb,
    void *arg, struct acceptor **out)
{
	struct acceptor *a;
	int              rc;

	if ((a = calloc(1, sizeof *a)) == NULL)
		return -ENOMEM;
	if ((rc = uv_poll_init(loop, &a->poll, fd)) != 0) {
		free(a);
		return rc;
	}
	uv_timer_init(loop, &a->pause);
	a->poll.data = a;
	a->pause.data = a;
	a->handles = 2;
	a->fd = fd;
	a->cb = cb;
	a->arg = arg;
	snprintf(a->name, sizeof a->name, "%s", name);

	rc = uv_poll_start(&a->poll, UV_READABLE, acceptor_on_readable);
	if (rc != 0) {
		acceptor_close_handles(a);
		return rc;
	}
	*out = a;
	return 0;
}

void
acceptor_stop(struct acceptor *a)
{
	if (a == NULL)
		return;
	acceptor_close_handles(a);
	close(a->fd);
}
