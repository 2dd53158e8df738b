/*
 * Forwards of a worker: local (-L) and SOCKS (-D) listeners on this
 * machine whose connections go through an upstream, and remote (-R)
 * forwards that an upstream asks its head to listen for.
 *
 * A local or SOCKS forward's listening socket is served by an acceptor
 * (acceptor.h), which copes with running out of descriptors.
 *
 * The upstream is looked up by name at each use, so a forward may name
 * one that is added later; connections already open stay when their
 * forward goes down.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "forward.h"
#include "acceptor.h"
#include "channel.h"
#include "events.h"
#include "hostport.h"
#include "name.h"
#include "socks.h"
#include "upstream.h"

#define FORWARD_MAX      1024
#define FORWARD_SPEC_MAX 600

enum forward_state {
	FORWARD_DOWN,
	FORWARD_UP,
	FORWARD_WAITING,
};

static const char *forward_state_names[] = {
    "down",
    "up",
    "waiting",
};

static const char *forward_kind_names[] = {
    "local",
    "remote",
    "socks",
};

struct forward {
	TAILQ_ENTRY(forward) entry;
	uv_loop_t         *loop;
	char               name[64];
	enum forward_kind  kind;
	enum forward_state state;
	struct hostport    listen;
	struct hostport    target;
	int                has_listen;
	int                has_target;
	char               listen_text[300];
	char               target_text[300];
	char               bound_text[300]; /* the real address while up */
	char               via[64];
	char               remote_via[64]; /* where a remote was asked */
	struct acceptor   *acceptor;       /* local and socks, while up */
	uint64_t           connections_total;
	char               error[256];
};

static TAILQ_HEAD(, forward) forwards = TAILQ_HEAD_INITIALIZER(forwards);
static size_t nforwards;

static int forward_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
forward_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static void
forward_emit(const struct forward *f, const char *type)
{
	events_emit(type,
	    json_pack("{s:s,s:s}", "forward", f->name, "kind",
	        forward_kind_names[f->kind]));
}

static void
forward_set_state(struct forward *f, enum forward_state state)
{
	enum forward_state was = f->state;

	f->state = state;
	if (was != FORWARD_UP && state == FORWARD_UP)
		forward_emit(f, "forward.up");
	else if (was == FORWARD_UP && state != FORWARD_UP)
		forward_emit(f, "forward.down");
}

static struct upstream *
forward_upstream(const struct forward *f)
{
	if (f->via[0] == '\0')
		return upstream_default();
	return upstream_find(f->via);
}

/*
 * Specs.
 */

/* Splits s in place at the colons outside brackets.  Returns the count
 * of fields, or -1 for more than max or unbalanced brackets. */
static int
forward_split(char *s, char **fields, int max)
{
	int n = 0, depth = 0;

	fields[n++] = s;
	for (; *s != '\0'; s++) {
		if (*s == '[')
			depth++;
		else if (*s == ']')
			depth--;
		if (depth < 0 || depth > 1)
			return -1;
		if (*s != ':' || depth > 0)
			continue;
		if (n == max)
			return -1;
		*s = '\0';
		fields[n++] = s + 1;
	}
	return depth == 0 ? n : -1;
}

/*
 * The address to listen on: an IPv4 address, a bracketed IPv6 one,
 * "localhost" or "*" (every IPv4 interface); NULL for 127.0.0.1.
 */
static int
forward_make_listen(const char *bind, const char *port, int allow_zero,
    struct hostport *hp, char *err, size_t errlen)
{
	struct in_addr a;
	char           text[2 * FORWARD_SPEC_MAX];

	if (bind == NULL || strcmp(bind, "localhost") == 0)
		bind = "127.0.0.1";
	else if (strcmp(bind, "*") == 0)
		bind = "0.0.0.0";
	if (*bind == '\0')
		return forward_fail(err, errlen, "empty listen address");
	if (*bind != '[' && inet_pton(AF_INET, bind, &a) != 1)
		return forward_fail(err, errlen,
		    "listen address must be an IPv4 address, an IPv6 address "
		    "in brackets, localhost or *");

	snprintf(text, sizeof text, "%s:%s", bind, port);
	return hostport_parse(text, allow_zero, hp, err, errlen);
}

static int
forward_make_target(const char *host, const char *port, struct hostport *hp,
    char *err, size_t errlen)
{
	char text[2 * FORWARD_SPEC_MAX];

	snprintf(text, sizeof text, "%s:%s", host, port);
	return hostport_parse(text, 0, hp, err, errlen);
}

int
forward_parse_spec(enum forward_kind kind, const char *spec, char *listen,
    size_t llen, char *target, size_t tlen, char *err, size_t errlen)
{
	struct hostport lhp, thp;
	char            copy[FORWARD_SPEC_MAX], *fl[4];
	const char     *bind = NULL, *port, *usage;
	int             n, rc, socks = kind == FORWARD_SOCKS;

	usage = socks ? "expected [bind:]port"
	              : "expected [bind:]port:host:hostport";
	if (spec == NULL || strlen(spec) >= sizeof copy)
		return forward_fail(err, errlen, "%s", usage);
	snprintf(copy, sizeof copy, "%s", spec);
	n = forward_split(copy, fl, socks ? 2 : 4);
	if (n < 0 || (!socks && n < 3))
		return forward_fail(err, errlen, "%s", usage);

	/* The optional bind comes first; the rest is counted from it. */
	if (n == (socks ? 2 : 4))
		bind = fl[0];
	port = fl[bind != NULL];
	if ((rc = forward_make_listen(
	         bind, port, kind != FORWARD_REMOTE, &lhp, err, errlen)) != 0)
		return rc;
	if (!socks &&
	    (rc = forward_make_target(
	         fl[n - 2], fl[n - 1], &thp, err, errlen)) != 0)
		return rc;

	hostport_format(&lhp, listen, llen);
	if (socks)
		snprintf(target, tlen, "%s", "");
	else
		hostport_format(&thp, target, tlen);
	return 0;
}

/*
 * Objects.
 */

int
forward_new(uv_loop_t *loop, const char *name, enum forward_kind kind,
    struct forward **out, char *err, size_t errlen)
{
	struct forward *f;

	if (name == NULL || !name_valid(name))
		return forward_fail(err, errlen,
		    "bad forward name: use letters, digits, '.', '_' and '-', "
		    "at most 63");
	if ((unsigned)kind > FORWARD_SOCKS)
		return forward_fail(err, errlen, "bad forward kind");
	if (forward_find(name) != NULL) {
		forward_fail(err, errlen, "forward %s exists", name);
		return -EEXIST;
	}
	if (nforwards >= FORWARD_MAX) {
		forward_fail(err, errlen, "too many forwards");
		return -ENOSPC;
	}
	if ((f = calloc(1, sizeof *f)) == NULL) {
		forward_fail(err, errlen, "out of memory");
		return -ENOMEM;
	}

	f->loop = loop;
	f->kind = kind;
	f->state = FORWARD_DOWN;
	snprintf(f->name, sizeof f->name, "%s", name);
	TAILQ_INSERT_TAIL(&forwards, f, entry);
	nforwards++;
	if (out != NULL)
		*out = f;
	return 0;
}

static int
forward_set_kind(struct forward *f, const char *value, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i <= FORWARD_SOCKS; i++) {
		if (strcmp(value, forward_kind_names[i]) == 0) {
			f->kind = (enum forward_kind)i;
			return 0;
		}
	}
	return forward_fail(err, errlen, "kind must be local, remote or socks");
}

static int
forward_set_listen(
    struct forward *f, const char *value, char *err, size_t errlen)
{
	char listen[300], target[8];
	int  rc;

	rc = forward_parse_spec(FORWARD_SOCKS, value, listen, sizeof listen,
	    target, sizeof target, err, errlen);
	if (rc != 0)
		return rc;
	hostport_parse(listen, 1, &f->listen, NULL, 0);
	snprintf(f->listen_text, sizeof f->listen_text, "%s", listen);
	f->has_listen = 1;
	return 0;
}

static int
forward_set_target(
    struct forward *f, const char *value, char *err, size_t errlen)
{
	struct hostport hp;
	int             rc;

	if (value == NULL || strstr(value, "://") != NULL)
		return forward_fail(err, errlen, "target must be host:port");
	if ((rc = hostport_parse(value, 0, &hp, err, errlen)) != 0)
		return rc;
	f->target = hp;
	hostport_format(&hp, f->target_text, sizeof f->target_text);
	f->has_target = 1;
	return 0;
}

static int
forward_set_via(struct forward *f, const char *value, char *err, size_t errlen)
{
	if (*value != '\0' && !name_valid(value))
		return forward_fail(err, errlen, "bad upstream name");
	snprintf(f->via, sizeof f->via, "%s", value);
	return 0;
}

int
forward_set(struct forward *f, const char *field, const char *value, char *err,
    size_t errlen)
{
	if (f->state != FORWARD_DOWN) {
		forward_fail(err, errlen, "forward %s is up", f->name);
		return -EBUSY;
	}
	if (field == NULL || value == NULL)
		return forward_fail(err, errlen, "missing field or value");

	if (strcmp(field, "kind") == 0)
		return forward_set_kind(f, value, err, errlen);
	if (strcmp(field, "listen") == 0)
		return forward_set_listen(f, value, err, errlen);
	if (strcmp(field, "target") == 0)
		return forward_set_target(f, value, err, errlen);
	if (strcmp(field, "via") == 0)
		return forward_set_via(f, value, err, errlen);
	return forward_fail(err, errlen, "no field %s", field);
}

/*
 * Local and SOCKS forwards: the listener.
 */

static void
forward_close_tcp_cb(uv_handle_t *h)
{
	free(h);
}

static void
forward_close_tcp(uv_tcp_t *tcp)
{
	uv_close((uv_handle_t *)tcp, forward_close_tcp_cb);
}

static void
forward_connect_local(
    struct forward *f, uv_tcp_t *tcp, const struct sockaddr *sa)
{
	struct channel_spec spec;
	struct session     *s;
	struct hostport     peer = {.host = "127.0.0.1"};

	/* With the upstream down there is nowhere to go: the client
	 * learns it at once rather than after a timeout. */
	if ((s = forward__session(f)) == NULL) {
		forward_close_tcp(tcp);
		return;
	}

	/* A client whose address cannot be had shows as 127.0.0.1:0. */
	hostport_from_sockaddr(sa, &peer);

	memset(&spec, 0, sizeof spec);
	spec.kind = "local";
	spec.host = f->target.host;
	spec.port = f->target.port;
	spec.orig_host = peer.host;
	spec.orig_port = peer.port;
	spec.owner = f;
	if (channel_connect(s, tcp, &spec) != 0)
		forward_close_tcp(tcp);
}

static void
forward_take(void *arg, int fd, const struct sockaddr *peer)
{
	struct forward *f = arg;
	uv_tcp_t       *tcp;
	int             one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if ((tcp = malloc(sizeof *tcp)) == NULL ||
	    uv_tcp_init(f->loop, tcp) != 0) {
		free(tcp);
		close(fd);
		return;
	}
	if (uv_tcp_open(tcp, fd) != 0) {
		close(fd);
		forward_close_tcp(tcp);
		return;
	}

	forward__accepted(f);
	if (f->kind == FORWARD_SOCKS)
		socks_start(f->loop, tcp, f);
	else
		forward_connect_local(f, tcp, peer);
}

static int
forward_bind(const struct hostport *hp, int *fdp, char *err, size_t errlen)
{
	const char *why;
	int         rc;

	rc = acceptor_listen(hp, 0, fdp, &why);
	if (rc == -EINVAL)
		forward_fail(err, errlen, "bad listen address: %s", why);
	else if (rc != 0)
		forward_fail(err, errlen, "cannot listen: %s", why);
	return rc;
}

static void
forward_bound_text(struct forward *f, int fd)
{
	struct hostport hp = f->listen, bound;

	/* The port as bound, for a listen port of 0. */
	if (hostport_sockname(fd, &bound) == 0)
		hp.port = bound.port;
	hostport_format(&hp, f->bound_text, sizeof f->bound_text);
}

static int
forward_up_listen(struct forward *f, char *err, size_t errlen)
{
	int fd = -1, rc;

	if ((rc = forward_bind(&f->listen, &fd, err, errlen)) != 0)
		return rc;
	rc =
	    acceptor_start(f->loop, fd, f->name, forward_take, f, &f->acceptor);
	if (rc != 0) {
		close(fd);
		forward_fail(err, errlen, "cannot accept: %s", strerror(-rc));
		return rc;
	}

	forward_bound_text(f, fd);
	forward_set_state(f, FORWARD_UP);
	return 0;
}

/*
 * Remote forwards: the upstream asks its head.
 */

static void
forward_on_remote(void *arg, enum upstream_remote_event ev, const char *reason)
{
	struct forward *f = arg;
	int             up = ev == UPSTREAM_REMOTE_UP;

	if (f->state == FORWARD_DOWN)
		return;
	if (ev == UPSTREAM_REMOTE_CONNECTION) {
		forward__accepted(f);
		return;
	}
	if (up)
		f->error[0] = '\0';
	else if (reason != NULL && *reason != '\0')
		snprintf(f->error, sizeof f->error, "%s", reason);
	forward_set_state(f, up ? FORWARD_UP : FORWARD_WAITING);
}

static int
forward_up_remote(struct forward *f, char *err, size_t errlen)
{
	struct upstream_info info;
	struct upstream     *u;
	int                  rc;

	if (f->listen.port == 0)
		return forward_fail(err, errlen,
		    "a remote forward needs a listen port other than 0");
	if ((u = forward_upstream(f)) == NULL) {
		forward_fail(err, errlen, "no upstream %s",
		    f->via[0] != '\0' ? f->via : "(none configured)");
		return -ENOENT;
	}

	rc = upstream__remote_add(u, f->listen.host, f->listen.port,
	    f->target.host, f->target.port, forward_on_remote, f);
	if (rc == -EEXIST) {
		forward_fail(err, errlen,
		    "%s is already forwarded through this upstream",
		    f->listen_text);
		return rc;
	}
	if (rc != 0) {
		forward_fail(
		    err, errlen, "cannot ask the upstream: %s", strerror(-rc));
		return rc;
	}

	upstream_info(u, &info);
	snprintf(f->remote_via, sizeof f->remote_via, "%s", info.name);
	forward_set_state(f, FORWARD_WAITING);
	return 0;
}

/*
 * Up and down.
 */

/* A listener whose upstream is misnamed would reset every connection it
 * takes; an upstream that goes later is what reconnects are for. */
static int
forward_no_upstream(const struct forward *f, char *err, size_t errlen)
{
	forward_fail(err, errlen, "no upstream %s", f->via);
	return -ENOENT;
}

int
forward_up(struct forward *f, char *err, size_t errlen)
{
	char why[256] = "";
	int  rc;

	if (f->state != FORWARD_DOWN)
		return 0;

	if (!f->has_listen)
		rc = forward_fail(why, sizeof why, "listen is not set");
	else if (f->kind != FORWARD_SOCKS && !f->has_target)
		rc = forward_fail(why, sizeof why, "target is not set");
	else if (f->kind == FORWARD_REMOTE)
		rc = forward_up_remote(f, why, sizeof why);
	else if (f->via[0] != '\0' && upstream_find(f->via) == NULL)
		rc = forward_no_upstream(f, why, sizeof why);
	else
		rc = forward_up_listen(f, why, sizeof why);

	snprintf(f->error, sizeof f->error, "%s", rc != 0 ? why : "");
	if (rc != 0 && err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", why);
	return rc;
}

void
forward_down(struct forward *f)
{
	struct upstream *u;

	if (f->state == FORWARD_DOWN)
		return;

	acceptor_stop(f->acceptor);
	f->acceptor = NULL;
	if (f->remote_via[0] != '\0') {
		/* Looked up again: the upstream may have gone meanwhile. */
		if ((u = upstream_find(f->remote_via)) != NULL)
			upstream__remote_remove(
			    u, f->listen.host, f->listen.port);
		f->remote_via[0] = '\0';
	}
	f->bound_text[0] = '\0';
	forward_set_state(f, FORWARD_DOWN);
}

void
forward_remove(struct forward *f)
{
	if (f == NULL)
		return;
	forward_down(f);
	socks__forget(f);
	channel_forget_owner(f);
	TAILQ_REMOVE(&forwards, f, entry);
	nforwards--;
	free(f);
}

void
forward_remove_all(void)
{
	while (!TAILQ_EMPTY(&forwards))
		forward_remove(TAILQ_FIRST(&forwards));
}

/*
 * Lookups.
 */

struct forward *
forward_find(const char *name)
{
	struct forward *f;

	TAILQ_FOREACH(f, &forwards, entry)
	{
		if (strcmp(f->name, name) == 0)
			return f;
	}
	return NULL;
}

struct forward *
forward_next(const struct forward *prev)
{
	if (prev == NULL)
		return TAILQ_FIRST(&forwards);
	return TAILQ_NEXT(prev, entry);
}

void
forward_info(const struct forward *f, struct forward_info *info)
{
	info->name = f->name;
	info->kind = forward_kind_names[f->kind];
	info->listen =
	    f->bound_text[0] != '\0' ? f->bound_text : f->listen_text;
	info->target = f->kind == FORWARD_SOCKS ? "" : f->target_text;
	info->via = f->via;
	info->state = forward_state_names[f->state];
	info->connections = channel_count_owner(f);
	info->connections_total = f->connections_total;
	info->error = f->error;
}

size_t
forward_count(void)
{
	return nforwards;
}

struct session *
forward__session(const struct forward *f)
{
	struct upstream *u = forward_upstream(f);

	return u != NULL ? upstream__session(u) : NULL;
}

void
forward__accepted(struct forward *f)
{
	f->connections_total++;
}
