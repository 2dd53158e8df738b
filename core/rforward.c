/*
 * Remote forwards on a head.
 *
 * A peer's tcpip-forward request is checked against the listen rules
 * (acl/listen; a new head allows none), then a listener is bound; each
 * connection to it becomes a forwarded-tcpip channel to that peer.  The
 * listeners belong to the session and close with it, so a worker that
 * reconnects can bind the same port again at once.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libssh/server.h>
#include <uv.h>

#include "channel.h"
#include "hostport.h"
#include "log.h"
#include "policy.h"
#include "rforward.h"
#include "session.h"
#include "sshd.h"

#define RFORWARD_PER_SESSION 64
#define RFORWARD_MAX         4096
#define RFORWARD_BACKLOG     128

struct rforward {
	TAILQ_ENTRY(rforward) entry;
	struct session *session;
	uv_tcp_t       *server;
	char            bind[256]; /* as the peer asked for it */
	unsigned        port;      /* as bound */
};

static TAILQ_HEAD(, rforward) rforwards = TAILQ_HEAD_INITIALIZER(rforwards);
static size_t nrforwards;

static void
rforward_on_server_closed(uv_handle_t *h)
{
	free(h->data);
	free(h);
}

static void
rforward_close(struct rforward *rf)
{
	TAILQ_REMOVE(&rforwards, rf, entry);
	nrforwards--;
	channel_forget_owner(rf);
	uv_close((uv_handle_t *)rf->server, rforward_on_server_closed);
}

static void
rforward_on_client_closed(uv_handle_t *h)
{
	free(h);
}

static void
rforward_on_connection(uv_stream_t *server, int status)
{
	struct rforward    *rf = server->data;
	struct channel_spec spec;
	uv_tcp_t           *tcp;

	if (status < 0 || (tcp = malloc(sizeof *tcp)) == NULL)
		return;
	uv_tcp_init(server->loop, tcp);
	if (uv_accept(server, (uv_stream_t *)tcp) != 0) {
		uv_close((uv_handle_t *)tcp, rforward_on_client_closed);
		return;
	}
	uv_tcp_nodelay(tcp, 1);

	memset(&spec, 0, sizeof spec);
	spec.kind = "forwarded-tcpip";
	spec.host = rf->bind;
	spec.port = rf->port;
	spec.reverse = 1;
	spec.owner = rf;
	if (channel_connect(rf->session, tcp, &spec) != 0)
		uv_close((uv_handle_t *)tcp, rforward_on_client_closed);
}

/* The address to bind for what the peer asked, as OpenSSH reads it. */
static const char *
rforward_bind_host(const char *asked)
{
	if (asked == NULL || asked[0] == '\0' || strcmp(asked, "*") == 0)
		return "0.0.0.0";
	if (strcmp(asked, "localhost") == 0)
		return "127.0.0.1";
	return asked;
}

static int
rforward_allowed(struct session *s, const char *host, unsigned port)
{
	const struct policy  *p;
	struct policy_subject subject;

	if ((p = sshd_rules(session__sshd(s), SSHD_LISTEN)) == NULL ||
	    !session__may_forward(s))
		return 0;
	session__subject(s, &subject);
	return policy_allows(p, host, port, &subject);
}

static int
rforward_bind(
    uv_loop_t *loop, struct rforward *rf, const char *host, unsigned port)
{
	struct sockaddr_storage ss;
	struct hostport         bound;
	uv_os_fd_t              fd;

	/* Literal addresses only: no name is looked up on the loop. */
	if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&ss) != 0 &&
	    uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&ss) != 0)
		return -EINVAL;
	if ((rf->server = malloc(sizeof *rf->server)) == NULL)
		return -ENOMEM;
	uv_tcp_init(loop, rf->server);
	rf->server->data = rf;
	if (uv_tcp_bind(rf->server, (struct sockaddr *)&ss, 0) != 0 ||
	    uv_listen((uv_stream_t *)rf->server, RFORWARD_BACKLOG,
	        rforward_on_connection) != 0) {
		/* The handle frees rf with itself. */
		uv_close((uv_handle_t *)rf->server, rforward_on_server_closed);
		return -EADDRINUSE;
	}

	/* The port as bound, for a request of port 0. */
	rf->port = port;
	if (uv_fileno((const uv_handle_t *)rf->server, &fd) == 0 &&
	    hostport_sockname(fd, &bound) == 0)
		rf->port = bound.port;
	return 0;
}

static size_t
rforward_count(const struct session *s)
{
	const struct rforward *rf;
	size_t                 n = 0;

	TAILQ_FOREACH(rf, &rforwards, entry)
	{
		if (rf->session == s)
			n++;
	}
	return n;
}

void
rforward__request(struct session *s, ssh_message msg)
{
	const char      *asked = ssh_message_global_request_address(msg);
	int              port = ssh_message_global_request_port(msg);
	const char      *host = rforward_bind_host(asked);
	struct rforward *rf;
	int              rc;

	if (port < 0 || port > 65535 || nrforwards >= RFORWARD_MAX ||
	    rforward_count(s) >= RFORWARD_PER_SESSION ||
	    !rforward_allowed(s, host, (unsigned)port) ||
	    (rf = calloc(1, sizeof *rf)) == NULL)
		goto refuse;
	rf->session = s;
	snprintf(rf->bind, sizeof rf->bind, "%s", asked != NULL ? asked : "");
	if ((rc = rforward_bind(session__loop(s), rf, host, (unsigned)port)) !=
	    0) {
		if (rc != -EADDRINUSE)
			free(rf);
		goto refuse;
	}

	TAILQ_INSERT_TAIL(&rforwards, rf, entry);
	nrforwards++;
	log_info("remote forward added session=%llu",
	    (unsigned long long)session__id(s));
	ssh_message_global_request_reply_success(msg, (uint16_t)rf->port);
	return;

refuse:
	log_info("remote forward refused session=%llu",
	    (unsigned long long)session__id(s));
	ssh_message_reply_default(msg);
}

void
rforward__cancel(struct session *s, ssh_message msg)
{
	const char      *asked = ssh_message_global_request_address(msg);
	int              port = ssh_message_global_request_port(msg);
	struct rforward *rf;

	TAILQ_FOREACH(rf, &rforwards, entry)
	{
		if (rf->session == s && (int)rf->port == port &&
		    strcmp(rf->bind, asked != NULL ? asked : "") == 0)
			break;
	}
	if (rf == NULL) {
		ssh_message_reply_default(msg);
		return;
	}
	rforward_close(rf);
	ssh_message_global_request_reply_success(msg, 0);
}

void
rforward__session_closed(struct session *s)
{
	struct rforward *rf, *next;

	for (rf = TAILQ_FIRST(&rforwards); rf != NULL; rf = next) {
		next = TAILQ_NEXT(rf, entry);
		if (rf->session == s)
			rforward_close(rf);
	}
}
