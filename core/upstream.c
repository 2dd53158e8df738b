/*
 * Upstreams: the heads this node dials.
 *
 * Each upstream keeps one outgoing SSH session up.  It connects the TCP
 * socket itself (so that no name is resolved on the loop and the socket
 * gets keepalive settings), hands it to a session, and when the session
 * ends waits 1, 2, 4, 8, 16, then 30 s between attempts, with up to 10 %
 * of jitter, starting over after a success.  Remote forwards are asked
 * for again after every reconnect, one request at a time, because libssh
 * tracks a single global request per session.
 *
 * A vanished head is noticed by TCP: keepalive probes on an idle socket,
 * and a user timeout on unacknowledged data, which a small SSH ignore
 * message every few seconds keeps there.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "events.h"
#include "hostport.h"
#include "keyfile.h"
#include "log.h"
#include "name.h"
#include "node.h"
#include "session.h"
#include "upstream.h"

#define UPSTREAM_MAX        64
#define UPSTREAM_REMOTE_MAX 64
#define UPSTREAM_TICK_MS    5000  /* an ignore message keeps TCP honest */
#define UPSTREAM_TIMEOUT_MS 20000 /* unacknowledged data: the head is gone */

static const unsigned upstream_backoff_s[] = {1, 2, 4, 8, 16, 30};

enum upstream_state {
	UPSTREAM_CONNECTING,
	UPSTREAM_UP,
	UPSTREAM_BACKOFF,
};

static const char *upstream_state_names[] = {
    "connecting",
    "up",
    "backoff",
};

enum remote_state {
	REMOTE_ASK,    /* to be asked for once the session is up */
	REMOTE_ASKING, /* request in flight */
	REMOTE_UP,
	REMOTE_REFUSED,
	REMOTE_CANCEL, /* to be cancelled, then freed */
};

struct upstream_remote {
	TAILQ_ENTRY(upstream_remote) entry;
	char               bind[256];
	unsigned           port;
	char               host[256];
	unsigned           hport;
	upstream_remote_cb cb;
	void              *arg;
	enum remote_state  state;
};

struct upstream {
	TAILQ_ENTRY(upstream) entry;
	uv_loop_t          *loop;
	char                name[64];
	char                uri[300];
	char                identity[1024];
	char                hostkey[128];
	char                user[64];
	struct hostport     hp;
	ssh_key             key;
	enum upstream_state state;
	int64_t             since;
	uint64_t            reconnects;
	unsigned            attempt;
	struct session     *session;

	uv_timer_t       timer; /* backoff wait, or the tick while up */
	uv_timer_t       pump;  /* runs the remote-forward requests */
	uv_poll_t        cpoll; /* the connect in progress */
	int              cpoll_on;
	int              fd;
	uv_getaddrinfo_t gai;
	int              gai_pending;
	struct addrinfo *ai_list;
	struct addrinfo *ai_next;
	int              refs;
	int              removed;

	TAILQ_HEAD(, upstream_remote) remotes;
	struct upstream_remote *asking;
	int                     asking_cancel; /* what is in flight */
};

static TAILQ_HEAD(, upstream) upstreams = TAILQ_HEAD_INITIALIZER(upstreams);
static size_t   nupstreams;
static unsigned next_number;

static void upstream_connect(struct upstream *);
static void upstream_try_next(struct upstream *);
static void upstream_backoff(struct upstream *, const char *);

static void
upstream_unref(struct upstream *u)
{
	struct upstream_remote *r;

	if (--u->refs > 0)
		return;
	while ((r = TAILQ_FIRST(&u->remotes)) != NULL) {
		TAILQ_REMOVE(&u->remotes, r, entry);
		free(r);
	}
	if (u->ai_list != NULL)
		freeaddrinfo(u->ai_list);
	ssh_key_free(u->key);
	free(u);
}

static void
upstream_on_handle_closed(uv_handle_t *h)
{
	upstream_unref(h->data);
}

static void
upstream_set_state(struct upstream *u, enum upstream_state state)
{
	u->state = state;
	u->since = node_now_ms();
}

static void
upstream_emit(struct upstream *u, const char *type, const char *reason)
{
	json_t *o = json_pack("{s:s}", "upstream", u->name);

	if (u->session != NULL)
		json_object_set_new(o, "session",
		    json_integer((json_int_t)session__id(u->session)));
	if (reason != NULL)
		json_object_set_new(o, "reason", json_string(reason));
	events_emit(type, o);
}

/*
 * Remote forwards, one request at a time.
 */

static void
upstream_remote_done(struct upstream *u, struct upstream_remote *r, int rc)
{
	int was_cancel = u->asking_cancel;

	u->asking = NULL;
	if (r->state == REMOTE_CANCEL) {
		/* Granted while its cancel waited: cancel it next. */
		if (!was_cancel && rc == SSH_OK)
			return;
		TAILQ_REMOVE(&u->remotes, r, entry);
		free(r);
		return;
	}
	r->state = rc == SSH_OK ? REMOTE_UP : REMOTE_REFUSED;
	r->cb(r->arg,
	    r->state == REMOTE_UP ? UPSTREAM_REMOTE_UP : UPSTREAM_REMOTE_DOWN,
	    r->state == REMOTE_UP ? NULL : "refused by the head");
}

/* Sends the next request, or follows the one in flight. */
static void
upstream_pump_remotes(struct upstream *u)
{
	struct upstream_remote *r;
	ssh_session             ssh;
	int                     rc, bound = 0;

	if (u->session == NULL || u->state != UPSTREAM_UP)
		return;
	ssh = session__ssh(u->session);
	while (
	    (r = u->asking) != NULL || (r = TAILQ_FIRST(&u->remotes)) != NULL) {
		if (u->asking == NULL) {
			TAILQ_FOREACH(r, &u->remotes, entry)
			{
				if (r->state == REMOTE_ASK ||
				    r->state == REMOTE_CANCEL)
					break;
			}
			if (r == NULL)
				return;
			u->asking = r;
			u->asking_cancel = r->state == REMOTE_CANCEL;
			if (r->state == REMOTE_ASK)
				r->state = REMOTE_ASKING;
		}
		if (u->asking_cancel)
			rc = ssh_channel_cancel_forward(
			    ssh, r->bind, (int)r->port);
		else
			rc = ssh_channel_listen_forward(
			    ssh, r->bind, (int)r->port, &bound);
		if (rc == SSH_AGAIN)
			return;
		upstream_remote_done(u, r, rc);
	}
}

static void
upstream_on_pump(uv_timer_t *t)
{
	struct upstream *u = t->data;

	upstream_pump_remotes(u);
	if (u->session != NULL)
		session__kick(u->session);
}

/*
 * The session's hooks.
 */

static void
upstream_on_tick(uv_timer_t *t)
{
	struct upstream *u = t->data;

	if (u->session == NULL)
		return;
	ssh_send_ignore(session__ssh(u->session), "");
	session__kick(u->session);
}

static upstream_watch_cb watch_cb;
static void             *watch_arg;

struct session *
upstream_session(const struct upstream *u)
{
	return upstream__session(u);
}

void
upstream_set_watch(upstream_watch_cb cb, void *arg)
{
	watch_cb = cb;
	watch_arg = arg;
}

static void
upstream_up(void *arg, struct session *s)
{
	struct upstream        *u = arg;
	struct upstream_remote *r;

	u->session = s;
	u->attempt = 0;
	upstream_set_state(u, UPSTREAM_UP);
	log_info("upstream up name=%s session=%llu", u->name,
	    (unsigned long long)session__id(s));
	upstream_emit(u, "upstream.up", NULL);

	TAILQ_FOREACH(r, &u->remotes, entry)
	{
		if (r->state != REMOTE_CANCEL)
			r->state = REMOTE_ASK;
	}
	uv_timer_start(
	    &u->timer, upstream_on_tick, UPSTREAM_TICK_MS, UPSTREAM_TICK_MS);
	uv_timer_start(&u->pump, upstream_on_pump, 0, 0);
	if (watch_cb != NULL)
		watch_cb(watch_arg, u, 1);
}

static void
upstream_down(void *arg, struct session *s, const char *reason)
{
	struct upstream        *u = arg;
	struct upstream_remote *r, *next;
	int                     was_up = u->state == UPSTREAM_UP;

	if (was_up)
		upstream_emit(u, "upstream.down", reason);
	if (was_up && watch_cb != NULL)
		watch_cb(watch_arg, u, 0);
	u->session = NULL;
	u->asking = NULL;
	uv_timer_stop(&u->timer);
	for (r = TAILQ_FIRST(&u->remotes); r != NULL; r = next) {
		next = TAILQ_NEXT(r, entry);
		if (r->state == REMOTE_CANCEL) {
			TAILQ_REMOVE(&u->remotes, r, entry);
			free(r);
		} else if (r->state == REMOTE_UP) {
			r->state = REMOTE_ASK;
			r->cb(r->arg, UPSTREAM_REMOTE_DOWN, "upstream down");
		} else {
			r->state = REMOTE_ASK;
		}
	}
	upstream_backoff(u, reason);
}

static int
upstream_forwarded(void *arg, const char *bind, unsigned port, char *host,
    size_t hostlen, unsigned *hport, const void **owner)
{
	struct upstream        *u = arg;
	struct upstream_remote *r;

	TAILQ_FOREACH(r, &u->remotes, entry)
	{
		if (r->state == REMOTE_UP && r->port == port &&
		    strcmp(r->bind, bind != NULL ? bind : "") == 0) {
			snprintf(host, hostlen, "%s", r->host);
			*hport = r->hport;
			*owner = r->arg;
			r->cb(r->arg, UPSTREAM_REMOTE_CONNECTION, NULL);
			return 0;
		}
	}
	return -ENOENT;
}

static void
upstream_settled(void *arg, struct session *s)
{
	upstream_pump_remotes(arg);
}

static const struct session_hooks upstream_hooks = {
    .up = upstream_up,
    .down = upstream_down,
    .forwarded = upstream_forwarded,
    .settled = upstream_settled,
};

/*
 * Connecting.
 */

static void
upstream_on_retry(uv_timer_t *t)
{
	struct upstream *u = t->data;

	u->reconnects++;
	upstream_connect(u);
}

static void
upstream_backoff(struct upstream *u, const char *reason)
{
	unsigned n = sizeof upstream_backoff_s / sizeof *upstream_backoff_s;
	uint64_t ms;

	if (u->removed)
		return;
	ms = upstream_backoff_s[u->attempt < n ? u->attempt : n - 1] * 1000;
	/* Jitter keeps a fleet that lost its head from coming back in
	 * lockstep. */
	ms += randombytes_uniform((uint32_t)(ms / 10) + 1);
	u->attempt++;
	upstream_set_state(u, UPSTREAM_BACKOFF);
	log_info("upstream down name=%s reason=\"%s\" retry_ms=%llu", u->name,
	    reason, (unsigned long long)ms);
	uv_timer_start(&u->timer, upstream_on_retry, ms, 0);
}

static void
upstream_socket_options(int fd)
{
	int      on = 1, idle = 15, intvl = 5, cnt = 3;
	unsigned timeout = UPSTREAM_TIMEOUT_MS;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout, sizeof timeout);
}

/* The connect poll is gone: start the session, or try the next address. */
static void
upstream_on_cpoll_closed(uv_handle_t *h)
{
	struct upstream *u = h->data;
	struct session  *s;
	char             peer[280];
	int              fd = u->fd, rc;

	u->fd = -1;
	if (u->removed) {
		if (fd != -1)
			close(fd);
	} else if (fd == -1) {
		upstream_try_next(u);
	} else {
		hostport_format(&u->hp, peer, sizeof peer);
		upstream_socket_options(fd);
		rc = session__connect(u->loop, fd, peer, u->user, u->key,
		    u->hostkey[0] != '\0' ? u->hostkey : NULL, &upstream_hooks,
		    u, &s);
		if (rc != 0)
			upstream_backoff(u, "cannot start a session");
		else
			u->session = s;
	}
	upstream_unref(u);
}

static void
upstream_on_connected(uv_poll_t *p, int status, int events)
{
	struct upstream *u = p->data;
	socklen_t        len = sizeof status;
	int              err = 0;

	if (status < 0 ||
	    getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 ||
	    err != 0) {
		close(u->fd);
		u->fd = -1;
	}
	u->cpoll_on = 0;
	uv_close((uv_handle_t *)&u->cpoll, upstream_on_cpoll_closed);
}

static void
upstream_try_next(struct upstream *u)
{
	struct addrinfo *ai;
	int              fd;

	while ((ai = u->ai_next) != NULL) {
		u->ai_next = ai->ai_next;
		fd = socket(ai->ai_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd == -1)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1 &&
		    errno != EINPROGRESS) {
			close(fd);
			continue;
		}
		u->fd = fd;
		uv_poll_init_socket(u->loop, &u->cpoll, fd);
		u->cpoll.data = u;
		u->cpoll_on = 1;
		u->refs++;
		uv_poll_start(&u->cpoll, UV_WRITABLE, upstream_on_connected);
		return;
	}
	upstream_backoff(u, "cannot connect");
}

static void
upstream_on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct upstream *u = req->data;

	u->gai_pending = 0;
	if (u->removed || status < 0) {
		if (res != NULL)
			uv_freeaddrinfo(res);
		if (!u->removed)
			upstream_backoff(u, "cannot resolve the head's name");
	} else {
		u->ai_list = u->ai_next = res;
		upstream_try_next(u);
	}
	upstream_unref(u);
}

static void
upstream_connect(struct upstream *u)
{
	struct addrinfo hints;
	char            port[8];

	upstream_set_state(u, UPSTREAM_CONNECTING);
	if (u->ai_list != NULL)
		freeaddrinfo(u->ai_list);
	u->ai_list = u->ai_next = NULL;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_NUMERICHOST;
	snprintf(port, sizeof port, "%u", u->hp.port);
	if (getaddrinfo(u->hp.host, port, &hints, &u->ai_list) == 0) {
		u->ai_next = u->ai_list;
		upstream_try_next(u);
		return;
	}

	u->ai_list = NULL;
	hints.ai_flags &= ~AI_NUMERICHOST;
	u->gai.data = u;
	u->gai_pending = 1;
	u->refs++;
	if (uv_getaddrinfo(u->loop, &u->gai, upstream_on_resolved, u->hp.host,
	        port, &hints) != 0) {
		u->gai_pending = 0;
		u->refs--;
		upstream_backoff(u, "cannot resolve the head's name");
	}
}

/*
 * Adding and removing.
 */

static void
upstream_default_user(char *buf, size_t len)
{
	struct passwd *pw = getpwuid(getuid());
	const char    *v = getenv("USER");

	if (v == NULL || *v == '\0')
		v = pw != NULL ? pw->pw_name : "alknet";
	snprintf(buf, len, "%s", v);
}

static int
upstream_check(const struct upstream_opts *o, char *err, size_t errlen)
{
	if (o->name != NULL && !name_valid(o->name)) {
		snprintf(err, errlen,
		    "bad upstream name: use letters, digits, '.', '_' and "
		    "'-', at most 63");
		return -EINVAL;
	}
	if (o->name != NULL && upstream_find(o->name) != NULL) {
		snprintf(err, errlen, "upstream %s exists", o->name);
		return -EEXIST;
	}
	if (nupstreams >= UPSTREAM_MAX) {
		snprintf(err, errlen, "too many upstreams");
		return -ENOSPC;
	}
	if (o->identity == NULL || *o->identity == '\0') {
		snprintf(err, errlen, "an upstream needs an identity key");
		return -EINVAL;
	}
	if (o->hostkey != NULL && strncmp(o->hostkey, "SHA256:", 7) != 0) {
		snprintf(err, errlen, "hostkey must be a SHA256: fingerprint");
		return -EINVAL;
	}
	return 0;
}

static int
upstream_load_cert(ssh_key key, const char *path, char *err, size_t errlen)
{
	ssh_key cert = NULL;
	int     rc = 0;

	if (ssh_pki_import_cert_file(path, &cert) != SSH_OK ||
	    ssh_pki_copy_cert_to_privkey(cert, key) != SSH_OK) {
		snprintf(err, errlen, "cannot use certificate %s", path);
		rc = -EINVAL;
	}
	ssh_key_free(cert);
	return rc;
}

static void
upstream_fill(struct upstream *u, const struct upstream_opts *o)
{
	if (o->name != NULL)
		snprintf(u->name, sizeof u->name, "%s", o->name);
	else
		do {
			snprintf(
			    u->name, sizeof u->name, "up%u", next_number++);
		} while (upstream_find(u->name) != NULL);
	snprintf(u->identity, sizeof u->identity, "%s", o->identity);
	snprintf(u->hostkey, sizeof u->hostkey, "%s",
	    o->hostkey != NULL ? o->hostkey : "");
	if (o->user != NULL)
		snprintf(u->user, sizeof u->user, "%s", o->user);
	else
		upstream_default_user(u->user, sizeof u->user);
	snprintf(u->uri, sizeof u->uri, "tcp://");
	hostport_format(&u->hp, u->uri + 6, sizeof u->uri - 6);
}

int
upstream_add(uv_loop_t *loop, const struct upstream_opts *o,
    struct upstream **out, char *err, size_t errlen)
{
	struct upstream *u;
	ssh_key          key = NULL;
	struct hostport  hp;
	int              rc;

	if ((rc = upstream_check(o, err, errlen)) != 0 ||
	    (rc = hostport_parse(o->uri, 0, &hp, err, errlen)) != 0 ||
	    (rc = keyfile_load(o->identity, "identity", &key, err, errlen)) !=
	        0)
		return rc;
	if (o->cert != NULL &&
	    (rc = upstream_load_cert(key, o->cert, err, errlen)) != 0) {
		ssh_key_free(key);
		return rc;
	}
	if ((u = calloc(1, sizeof *u)) == NULL) {
		ssh_key_free(key);
		return -ENOMEM;
	}

	u->loop = loop;
	u->hp = hp;
	u->key = key;
	u->fd = -1;
	u->refs = 3; /* the list, the timer, the pump timer */
	TAILQ_INIT(&u->remotes);
	upstream_fill(u, o);
	uv_timer_init(loop, &u->timer);
	uv_timer_init(loop, &u->pump);
	u->timer.data = u->pump.data = u;

	TAILQ_INSERT_TAIL(&upstreams, u, entry);
	nupstreams++;
	log_info("upstream added name=%s", u->name);
	upstream_connect(u);
	if (out != NULL)
		*out = u;
	return 0;
}

/* The forwards through u hear that it is gone; they may ask again. */
static void
upstream_drop_remotes(struct upstream *u)
{
	struct upstream_remote *r;

	u->asking = NULL;
	while ((r = TAILQ_FIRST(&u->remotes)) != NULL) {
		TAILQ_REMOVE(&u->remotes, r, entry);
		if (r->state != REMOTE_CANCEL)
			r->cb(r->arg, UPSTREAM_REMOTE_DOWN, "upstream removed");
		free(r);
	}
}

void
upstream_remove(struct upstream *u)
{
	struct session *s;

	if (u == NULL)
		return;
	TAILQ_REMOVE(&upstreams, u, entry);
	nupstreams--;
	u->removed = 1;
	log_info("upstream removed name=%s", u->name);

	if ((s = u->session) != NULL) {
		upstream_emit(u, "upstream.down", "removed");
		u->session = NULL;
		session__forget_hooks(s);
		session_close(s, "disconnect");
	}
	upstream_drop_remotes(u);
	if (u->gai_pending)
		uv_cancel((uv_req_t *)&u->gai);
	if (u->cpoll_on) {
		u->cpoll_on = 0;
		uv_close((uv_handle_t *)&u->cpoll, upstream_on_cpoll_closed);
	}
	uv_close((uv_handle_t *)&u->timer, upstream_on_handle_closed);
	uv_close((uv_handle_t *)&u->pump, upstream_on_handle_closed);
	upstream_unref(u);
}

void
upstream_remove_all(void)
{
	while (!TAILQ_EMPTY(&upstreams))
		upstream_remove(TAILQ_FIRST(&upstreams));
}

struct upstream *
upstream_find(const char *name)
{
	struct upstream *u;

	TAILQ_FOREACH(u, &upstreams, entry)
	{
		if (strcmp(u->name, name) == 0)
			return u;
	}
	return NULL;
}

struct upstream *
upstream_next(const struct upstream *prev)
{
	if (prev == NULL)
		return TAILQ_FIRST(&upstreams);
	return TAILQ_NEXT(prev, entry);
}

struct upstream *
upstream_default(void)
{
	return TAILQ_FIRST(&upstreams);
}

static int
upstream_rtt_ms(const struct upstream *u)
{
	struct tcp_info ti;
	socklen_t       len = sizeof ti;

	if (u->session == NULL || u->state != UPSTREAM_UP ||
	    getsockopt(
	        session__fd(u->session), IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
		return -1;
	return (int)(ti.tcpi_rtt / 1000);
}

void
upstream_info(const struct upstream *u, struct upstream_info *info)
{
	info->name = u->name;
	info->uri = u->uri;
	info->identity = u->identity;
	info->hostkey = u->hostkey;
	info->state = upstream_state_names[u->state];
	info->since = u->since;
	info->reconnects = u->reconnects;
	info->rtt_ms = upstream_rtt_ms(u);
	info->session = u->state == UPSTREAM_UP && u->session != NULL
	    ? session__id(u->session)
	    : 0;
}

size_t
upstream_count(void)
{
	return nupstreams;
}

struct session *
upstream__session(const struct upstream *u)
{
	return u->state == UPSTREAM_UP ? u->session : NULL;
}

int
upstream__remote_add(struct upstream *u, const char *bind, unsigned port,
    const char *host, unsigned hport, upstream_remote_cb cb, void *arg)
{
	struct upstream_remote *r;
	size_t                  n = 0;

	TAILQ_FOREACH(r, &u->remotes, entry)
	{
		if (r->state != REMOTE_CANCEL && r->port == port &&
		    strcmp(r->bind, bind) == 0)
			return -EEXIST;
		n++;
	}
	if (n >= UPSTREAM_REMOTE_MAX)
		return -ENOSPC;
	if ((r = calloc(1, sizeof *r)) == NULL)
		return -ENOMEM;
	snprintf(r->bind, sizeof r->bind, "%s", bind);
	r->port = port;
	snprintf(r->host, sizeof r->host, "%s", host);
	r->hport = hport;
	r->cb = cb;
	r->arg = arg;
	r->state = REMOTE_ASK;
	TAILQ_INSERT_TAIL(&u->remotes, r, entry);

	/* Asked for from the loop, never from inside the caller. */
	if (u->state == UPSTREAM_UP)
		uv_timer_start(&u->pump, upstream_on_pump, 0, 0);
	return 0;
}

void
upstream__remote_remove(struct upstream *u, const char *bind, unsigned port)
{
	struct upstream_remote *r;

	TAILQ_FOREACH(r, &u->remotes, entry)
	{
		if (r->state != REMOTE_CANCEL && r->port == port &&
		    strcmp(r->bind, bind) == 0)
			break;
	}
	if (r == NULL)
		return;

	/* Granted or in flight: the head is told; else just forget it. */
	if (u->state == UPSTREAM_UP &&
	    (r->state == REMOTE_UP || r->state == REMOTE_ASKING)) {
		r->state = REMOTE_CANCEL;
		uv_timer_start(&u->pump, upstream_on_pump, 0, 0);
		return;
	}
	TAILQ_REMOVE(&u->remotes, r, entry);
	free(r);
}
