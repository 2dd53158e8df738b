/*
 * TCP listeners.  Each bound socket is served by an acceptor; accepted
 * sockets go to the SSH server.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acceptor.h"
#include "hostport.h"
#include "listener.h"
#include "log.h"
#include "name.h"
#include "sshd.h"
#include "stats.h"

#define LISTENER_MAX 64

struct listener {
	TAILQ_ENTRY(listener) entry;
	char             name[64];
	char             uri[300];
	struct sshd     *sshd;
	struct acceptor *acceptor;
	uint64_t         accepted;
	uint64_t         rejected;
};

static TAILQ_HEAD(, listener) listeners = TAILQ_HEAD_INITIALIZER(listeners);
static size_t   nlisteners;
static unsigned next_number;

static void
listener_default_name(char *buf, size_t len)
{
	do {
		snprintf(buf, len, "tcp%u", next_number++);
	} while (listener_find(buf) != NULL);
}

static int
listener_bind(const struct hostport *hp, int *fdp, char *err, size_t errlen)
{
	const char *why;
	int         rc;

	/* XXX: a host name is resolved synchronously on the loop. */
	rc = acceptor_listen(hp, 1, fdp, &why);
	if (rc == -EINVAL)
		snprintf(err, errlen, "cannot resolve listen address %s: %s",
		    hp->host, why);
	else if (rc != 0)
		snprintf(err, errlen, "cannot listen on %s:%u: %s", hp->host,
		    hp->port, why);
	return rc;
}

static void
listener_make_uri(struct listener *l, int fd)
{
	struct hostport hp;
	char            buf[280];

	memset(&hp, 0, sizeof hp);
	hostport_sockname(fd, &hp);
	hostport_format(&hp, buf, sizeof buf);
	snprintf(l->uri, sizeof l->uri, "tcp://%s", buf);
}

/* The peer's address into hp, and as "ip:port" or "[v6]:port" text. */
static void
listener_peer(
    const struct sockaddr *sa, struct hostport *hp, char *peer, size_t peerlen)
{
	if (hostport_from_sockaddr(sa, hp) == 0) {
		hostport_format(hp, peer, peerlen);
		return;
	}
	snprintf(hp->host, sizeof hp->host, "unknown");
	snprintf(peer, peerlen, "unknown");
}

static void
listener_take(void *arg, int fd, const struct sockaddr *sa)
{
	struct listener *l = arg;
	struct hostport  hp;
	char             peer[INET6_ADDRSTRLEN + 8];
	int              one = 1;

	/* SSH packets are small and interactive: never hold them back
	 * waiting for an acknowledgement. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	listener_peer(sa, &hp, peer, sizeof peer);
	if (sshd_accept(l->sshd, fd, hp.host, peer, "tcp") == 0)
		l->accepted++;
	else
		l->rejected++;
}

int
listener_add(uv_loop_t *loop, struct sshd *sshd, const char *uri,
    const char *name, struct listener **out, char *err, size_t errlen)
{
	struct listener *l = NULL;
	struct hostport  hp;
	int              fd = -1, rc;

	if (name != NULL && !name_valid(name)) {
		snprintf(err, errlen,
		    "bad listener name: use letters, "
		    "digits, '.', '_' and '-', at most 63");
		return -EINVAL;
	}
	if (name != NULL && listener_find(name) != NULL) {
		snprintf(err, errlen, "listener %s exists", name);
		return -EEXIST;
	}
	if (nlisteners >= LISTENER_MAX) {
		snprintf(err, errlen, "too many listeners");
		return -ENOSPC;
	}
	if ((rc = hostport_parse(uri, 1, &hp, err, errlen)) != 0)
		return rc;
	if ((rc = listener_bind(&hp, &fd, err, errlen)) != 0)
		return rc;

	if ((l = calloc(1, sizeof *l)) == NULL) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	l->sshd = sshd;
	if (name != NULL)
		snprintf(l->name, sizeof l->name, "%s", name);
	else
		listener_default_name(l->name, sizeof l->name);
	listener_make_uri(l, fd);
	rc = acceptor_start(loop, fd, l->name, listener_take, l, &l->acceptor);
	if (rc != 0) {
		snprintf(err, errlen, "cannot accept on %s: %s", l->uri,
		    strerror(-rc));
		goto out;
	}

	TAILQ_INSERT_TAIL(&listeners, l, entry);
	nlisteners++;
	log_info("listener added name=%s uri=%s", l->name, l->uri);
	if (out != NULL)
		*out = l;
	return 0;

out:
	free(l);
	close(fd);
	return rc;
}

void
listener_remove(struct listener *l)
{
	if (l == NULL)
		return;
	TAILQ_REMOVE(&listeners, l, entry);
	nlisteners--;
	log_info("listener removed name=%s", l->name);

	acceptor_stop(l->acceptor);
	free(l);
}

void
listener_remove_all(void)
{
	while (!TAILQ_EMPTY(&listeners))
		listener_remove(TAILQ_FIRST(&listeners));
}

struct listener *
listener_find(const char *name)
{
	struct listener *l;

	TAILQ_FOREACH(l, &listeners, entry)
	{
		if (strcmp(l->name, name) == 0)
			return l;
	}
	return NULL;
}

struct listener *
listener_next(const struct listener *prev)
{
	if (prev == NULL)
		return TAILQ_FIRST(&listeners);
	return TAILQ_NEXT(prev, entry);
}

void
listener_info(const struct listener *l, struct listener_info *info)
{
	info->name = l->name;
	info->uri = l->uri;
	info->transport = "tcp";
	info->state = "listening";
	info->accepted = l->accepted;
	info->rejected = l->rejected;
}

size_t
listener_count(void)
{
	return nlisteners;
}
