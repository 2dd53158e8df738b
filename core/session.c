/*
 * SSH sessions on the loop.
 *
 * libssh runs non-blocking: the loop watches the socket, and every
 * wakeup lets libssh read and process what arrived (ssh_event_dopoll with
 * a zero timeout), then answers the requests it queued.  Requests are
 * taken from libssh's queue rather than through server callbacks because
 * a channel open must stay unanswered until its target has connected.
 *
 * libssh invokes channel callbacks from inside many of its calls, so
 * nothing is freed there: a closed channel or session is only marked,
 * and freed in session__settle, which runs when no libssh call is on the
 * stack.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libssh/server.h>
#include <sodium.h>

#include "authkeys.h"
#include "channel.h"
#include "connlimit.h"
#include "events.h"
#include "log.h"
#include "penalty.h"
#include "rforward.h"
#include "node.h"
#include "policy.h"
#include "session.h"
#include "sshcert.h"
#include "sshd.h"
#include "stats.h"

#define SESSION_MAX          4096
#define SESSION_BURST        64   /* dopoll rounds per wakeup */
#define SESSION_LIBSSH_READ  4096 /* what libssh reads in one round */
#define SESSION_FLUSH_ROUNDS 4    /* per settle, while they write */
#define SESSION_GRACE_MS     (120 * 1000)
#define SESSION_SCOPES_MAX   16
#define SESSION_CIPHERS                                                        \
	"aes128-gcm@openssh.com,aes256-gcm@openssh.com,"                       \
	"chacha20-poly1305@openssh.com,aes256-ctr,aes192-ctr,aes128-ctr"
#define SESSION_UNAUTH_START 10  /* unauthenticated: early drops begin */
#define SESSION_UNAUTH_RATE  30  /* percent dropped there */
#define SESSION_UNAUTH_FULL  100 /* every new one dropped */

enum session_state {
	SESSION_HANDSHAKE,
	SESSION_AUTH,
	SESSION_OPEN,
	SESSION_CLOSING,
};

static const char *session_state_names[] = {
    "handshake",
    "auth",
    "open",
    "closing",
};

struct session {
	TAILQ_ENTRY(session) entry;
	uint64_t           id;
	struct sshd       *sshd;
	uv_loop_t         *loop;
	ssh_session        ssh;
	ssh_event          ev;
	uv_poll_t          poll;
	uv_timer_t         grace;
	uv_timer_t         soon; /* a settle from the loop */
	int                poll_events;
	int                handles; /* open uv handles */
	enum session_state state;
	int                dead; /* peer gone or fatal */
	unsigned           auth_failures;
	struct channel_set channels;
	uint64_t           bytes_in;
	uint64_t           bytes_out;
	int64_t            started;
	uint64_t           started_mono;
	char               ip[64];
	struct in6_addr    addr;    /* ip, for limits and penalties */
	int                addr_ok; /* ip is an address */
	int                counted; /* in sshd's connlimit */
	char               peer[80];
	char               transport[8];
	char               user[128];
	char               identity[128];
	char               identity_name[128];
	char               scopes[256]; /* comma separated, as authorized */
	const char        *scope_list[SESSION_SCOPES_MAX + 1];
	int                no_forwarding; /* a certificate withheld it */

	/* Bytes libssh read and wrote on the socket; in_bytes as it was
	 * when the queued requests were last answered. */
	struct ssh_counter_struct sock;
	uint64_t                  answered_at;

	/* Outgoing sessions. */
	int                         client;
	int                         unauth;   /* counted in nunauth */
	int                         flushing; /* in session_flush_round */
	int                         corked;   /* see session__batch */
	ssh_key                     key;
	char                        hostkey_pin[128];
	const struct session_hooks *hooks;
	void                       *hooks_arg;
	char                        down_reason[160];
};

static TAILQ_HEAD(, session) sessions = TAILQ_HEAD_INITIALIZER(sessions);
static size_t   nsessions;
static unsigned nunauth; /* inbound sessions not yet authenticated */
static uint64_t next_id;

static void session_on_poll(uv_poll_t *, int, int);
static void session_teardown(struct session *, const char *);

static void
session_emit(struct session *s, const char *type, json_t *extra)
{
	json_t *o = json_pack("{s:I}", "session", (json_int_t)s->id);

	if (extra != NULL) {
		json_object_update(o, extra);
		json_decref(extra);
	}
	events_emit(type, o);
}

/*
 * An incoming connection ends without having logged in: its source owes
 * the penalty of kind, and is refused once it owes enough.
 */
static void
session_penalize(struct session *s, enum penalty_kind kind)
{
	struct penalty *p;

	/* Outgoing sessions have no server, and no source to blame. */
	if (s->client || !s->addr_ok || (p = sshd_penalty(s->sshd)) == NULL)
		return;
	penalty_charge(p, &s->addr, s->ip, kind, uv_now(s->loop));
}

static void
session_on_grace(uv_timer_t *t)
{
	struct session *s = t->data;

	/* Like OpenSSH's LoginGraceTime: no lingering unauthenticated. */
	if (s->state != SESSION_OPEN) {
		session_penalize(s, PENALTY_GRACE);
		session_teardown(s, "login grace time exceeded");
	}
}

/* Registers a new session s of loop: handles, counters, the event. */
static void
session_register(struct session *s, uv_loop_t *loop, int fd)
{
	s->id = ++next_id;
	s->loop = loop;
	s->started = node_now_ms();
	s->started_mono = uv_now(loop);
	TAILQ_INIT(&s->channels);

	ssh_set_blocking(s->ssh, 0);
	ssh_set_counters(s->ssh, &s->sock, NULL);
	uv_poll_init_socket(loop, &s->poll, fd);
	uv_timer_init(loop, &s->grace);
	uv_timer_init(loop, &s->soon);
	s->poll.data = s->grace.data = s->soon.data = s;
	s->handles = 3;
	s->poll_events = UV_READABLE;
	uv_poll_start(&s->poll, UV_READABLE, session_on_poll);
	uv_timer_start(&s->grace, session_on_grace, SESSION_GRACE_MS, 0);

	TAILQ_INSERT_TAIL(&sessions, s, entry);
	nsessions++;
	stats.sessions++;
	stats.sessions_total++;
}

/*
 * Whether a new connection may start a session, or why not.  Like
 * OpenSSH's MaxStartups 10:30:100: past 10 connections that have not
 * authenticated, new ones are dropped with a chance that grows from 30 %
 * to 100 % at 100, so that idle connections cannot lock everyone out.
 */
static const char *
session_admit_unauth(void)
{
	unsigned chance;

	if (nunauth < SESSION_UNAUTH_START)
		return NULL;
	if (nunauth >= SESSION_UNAUTH_FULL)
		return "too-many-unauthenticated";
	chance = SESSION_UNAUTH_RATE +
	    (100 - SESSION_UNAUTH_RATE) * (nunauth - SESSION_UNAUTH_START) /
	        (SESSION_UNAUTH_FULL - SESSION_UNAUTH_START);
	if (randombytes_uniform(100) < chance)
		return "too-many-unauthenticated";
	return NULL;
}

/*
 * Whether a connection from a (NULL when the peer has no address) may
 * start a session, or why not: a penalized source, then the bounds on
 * sessions, on one address's connections and on those not logged in.
 * One that is let in is counted for its address (*counted).
 */
static const char *
session_admit(
    struct sshd *sshd, uv_loop_t *loop, const struct in6_addr *a, int *counted)
{
	const struct sshd_limits *l = sshd_limits(sshd);
	struct penalty           *p = sshd_penalty(sshd);
	struct connlimit         *c = sshd_connlimit(sshd);
	const char               *why;

	*counted = 0;
	if (a != NULL && p != NULL && penalty_refused(p, a, uv_now(loop)))
		return "penalty";
	if (nsessions >= SESSION_MAX)
		return "too-many-sessions";
	if (a != NULL && l->max_connections_per_ip != 0 &&
	    connlimit_count(c, a) >= l->max_connections_per_ip)
		return "too-many-per-ip";
	if ((why = session_admit_unauth()) != NULL)
		return why;
	if (a != NULL && connlimit_add(c, a, 0) != 0)
		return "too-many-sessions";
	*counted = a != NULL;
	return NULL;
}

/* The session has authenticated, or is gone: it holds no start slot. */
static void
session_authed(struct session *s)
{
	if (s->unauth) {
		s->unauth = 0;
		nunauth--;
	}
}

int
session__start(uv_loop_t *loop, struct sshd *sshd, ssh_session ssh,
    const char *peer_ip, const char *peer, const char *transport)
{
	struct session *s;
	struct in6_addr addr;
	int             addr_ok, counted;
	const char     *why;

	addr_ok = penalty_addr_parse(peer_ip, &addr) == 0;
	why = session_admit(sshd, loop, addr_ok ? &addr : NULL, &counted);
	if (why != NULL) {
		log_info("connection rejected remote_addr=%s transport=%s "
		         "reason=%s",
		    peer_ip, transport, why);
		stats.connections_rejected++;
		ssh_free(ssh);
		return -ENOSPC;
	}
	if ((s = calloc(1, sizeof *s)) == NULL) {
		if (counted)
			connlimit_remove(sshd_connlimit(sshd), &addr);
		ssh_free(ssh);
		return -ENOMEM;
	}
	s->sshd = sshd;
	s->ssh = ssh;
	s->addr = addr;
	s->addr_ok = addr_ok;
	s->counted = counted;
	snprintf(s->ip, sizeof s->ip, "%s", peer_ip);
	snprintf(s->peer, sizeof s->peer, "%s", peer);
	snprintf(s->transport, sizeof s->transport, "%s", transport);
	ssh_set_auth_methods(ssh, SSH_AUTH_METHOD_PUBLICKEY);
	s->unauth = 1;
	nunauth++;
	session_register(s, loop, ssh_get_fd(ssh));

	log_info("connection opened remote_addr=%s transport=%s session=%llu",
	    s->ip, s->transport, (unsigned long long)s->id);
	session_emit(s, "session.opened",
	    json_pack("{s:s,s:s,s:s}", "direction", "in", "peer", s->peer,
	        "transport", s->transport));

	/* Our banner goes out now; the peer may be waiting for it. */
	session_on_poll(&s->poll, 0, UV_READABLE);
	return 0;
}

int
session__connect(uv_loop_t *loop, int fd, const char *peer, const char *user,
    ssh_key key, const char *hostkey_pin, const struct session_hooks *hooks,
    void *arg, struct session **out)
{
	struct session *s;
	int             off = 0;

	if (nsessions >= SESSION_MAX || (s = calloc(1, sizeof *s)) == NULL) {
		close(fd);
		return nsessions >= SESSION_MAX ? -ENOSPC : -ENOMEM;
	}
	if ((s->ssh = ssh_new()) == NULL) {
		free(s);
		close(fd);
		return -ENOMEM;
	}
	/* libssh reads no ~/.ssh/config and no known_hosts for us: the
	 * head's key is checked against the pin, if any. */
	ssh_options_set(s->ssh, SSH_OPTIONS_PROCESS_CONFIG, &off);
	ssh_options_set(s->ssh, SSH_OPTIONS_HOST, "alknet-head");
	ssh_options_set(s->ssh, SSH_OPTIONS_USER, user);
	ssh_options_set(s->ssh, SSH_OPTIONS_FD, &fd);

	/* AES-GCM first: with the AES instructions every x86-64 and ARMv8
	 * server has, it costs less per packet than chacha20-poly1305,
	 * libssh's first choice; the rest stay as fallbacks. */
	ssh_options_set(s->ssh, SSH_OPTIONS_CIPHERS_C_S, SESSION_CIPHERS);
	ssh_options_set(s->ssh, SSH_OPTIONS_CIPHERS_S_C, SESSION_CIPHERS);

	s->client = 1;
	s->key = key;
	s->hooks = hooks;
	s->hooks_arg = arg;
	if (hostkey_pin != NULL)
		snprintf(
		    s->hostkey_pin, sizeof s->hostkey_pin, "%s", hostkey_pin);
	snprintf(s->ip, sizeof s->ip, "%s", peer);
	snprintf(s->peer, sizeof s->peer, "%s", peer);
	snprintf(s->transport, sizeof s->transport, "tcp");
	session_register(s, loop, fd);

	session_emit(s, "session.opened",
	    json_pack("{s:s,s:s,s:s}", "direction", "out", "peer", s->peer,
	        "transport", s->transport));
	*out = s;
	return 0;
}

static void
session_log_auth(
    struct session *s, const char *fp, const char *method, int accepted)
{
	if (fp != NULL)
		log_info("auth attempt remote_addr=%s user=%s "
		         "key_fingerprint=%s result=%s",
		    s->ip, s->user, fp, accepted ? "accept" : "reject");
	else
		log_info("auth attempt remote_addr=%s user=%s method=%s "
		         "result=reject",
		    s->ip, s->user, method);
}

/*
 * The identity's scopes as they were when it logged in: a later change of
 * the identity applies to its next login, not to this session.
 */
static void
session_set_scopes(struct session *s, const char *scopes)
{
	char  *p, *save = NULL;
	size_t n = 0;

	snprintf(s->scopes, sizeof s->scopes, "%s", scopes);
	for (p = strtok_r(s->scopes, ",", &save);
	     p != NULL && n < SESSION_SCOPES_MAX;
	     p = strtok_r(NULL, ",", &save))
		s->scope_list[n++] = p;
	s->scope_list[n] = NULL;
}

static void
session_accept_key(struct session *s, ssh_message msg, int idx, const char *fp)
{
	struct authkey_info info;

	authkeys_get(sshd_authkeys(s->sshd), (size_t)idx, &info);
	snprintf(s->identity, sizeof s->identity, "%s", fp);
	snprintf(s->identity_name, sizeof s->identity_name, "%s", info.name);
	session_set_scopes(s, info.scopes);

	ssh_message_auth_reply_success(msg, 0);
	s->state = SESSION_OPEN;
	uv_timer_stop(&s->grace);
	session_authed(s);

	stats.auth_accepted++;
	session_log_auth(s, fp, "publickey", 1);
	session_emit(s, "auth.accepted",
	    json_pack("{s:s,s:s,s:s}", "identity", s->identity, "name",
	        s->identity_name, "user", s->user));
}

static void
session_reject(
    struct session *s, ssh_message msg, const char *fp, const char *method)
{
	unsigned max;

	s->auth_failures++;
	stats.auth_rejected++;
	session_log_auth(s, fp, method, 0);
	session_emit(s, "auth.rejected",
	    json_pack("{s:s,s:s,s:s}", "method", method, "fingerprint",
	        fp != NULL ? fp : "", "user", s->user));

	ssh_message_auth_set_methods(msg, SSH_AUTH_METHOD_PUBLICKEY);
	ssh_message_reply_default(msg);
	max = sshd_limits(s->sshd)->max_auth_attempts;
	if (max != 0 && s->auth_failures >= max) {
		session_penalize(s, PENALTY_AUTHFAIL);
		session_teardown(s, "too many authentication failures");
	}
}

/*
 * libssh marks the message accessors deprecated in favour of server
 * callbacks, but callbacks cannot leave a channel open request unanswered
 * until its target connects, so this server stays on the message queue.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static ssh_key
session_msg_key(ssh_message msg, int *state)
{
	*state = ssh_message_auth_publickey_state(msg);
	return ssh_message_auth_pubkey(msg);
}
#pragma GCC diagnostic pop

static int
session_is_cert(ssh_key key)
{
	const char *type = ssh_key_type_to_char(ssh_key_type(key));

	return type != NULL && strstr(type, "-cert-v01@openssh.com") != NULL;
}

/*
 * A certificate lets its key in when a trusted CA signed it for this
 * user, from this address, now.  Returns the CA's entry, or -1 with the
 * reason logged; fp gets the certified key's fingerprint.
 */
static int
session_find_cert(
    struct session *s, ssh_key key, const char *user, char *fp, size_t fplen)
{
	const struct authkeys *ak = sshd_authkeys(s->sshd);
	struct authkey_info    info;
	struct sshcert_want    want;
	struct sshcert        *c = NULL;
	const unsigned char   *ca;
	const char            *reason = "unreadable certificate";
	char                  *b64 = NULL, err[128];
	size_t                 calen;
	int                    idx = -1;

	if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK ||
	    sshcert_parse_base64(b64, &c, err, sizeof err) != 0)
		goto out;
	sshcert_key_fingerprint(c, fp, fplen);
	ca = sshcert_ca_blob(c, &calen);
	if ((idx = authkeys_find_ca(ak, ca, calen)) < 0) {
		reason = "untrusted ca";
		goto out;
	}

	authkeys_get(ak, (size_t)idx, &info);
	want.user = user != NULL ? user : "";
	want.client_ip = s->ip;
	want.now = (uint64_t)time(NULL);
	want.need_port_forwarding = info.port_forwarding;
	if (sshcert_check(c, info.blob, info.blob_len, &want, &reason) != 0)
		idx = -1;

	/* As sshd does: a certificate without the extension logs in but
	 * forwards nothing, and forwarding is all this server does. */
	s->no_forwarding = !sshcert_has_extension(c, "permit-port-forwarding");

out:
	if (idx < 0)
		log_info("certificate refused remote_addr=%s reason=\"%s\"",
		    s->ip, reason);
	sshcert_free(c);
	ssh_string_free_char(b64);
	return idx;
}

static void
session_auth_pubkey(struct session *s, ssh_message msg)
{
	ssh_key key;
	char    fp[128];
	int     idx, state;

	key = session_msg_key(msg, &state);

	if (key == NULL || authkeys_fingerprint(key, fp, sizeof fp) != 0) {
		session_reject(s, msg, NULL, "publickey");
		return;
	}
	s->no_forwarding = 0;
	if (session_is_cert(key))
		idx = session_find_cert(
		    s, key, ssh_message_auth_user(msg), fp, sizeof fp);
	else
		idx = authkeys_find(sshd_authkeys(s->sshd), key);

	/* A query is answered without a log line: the signed attempt that
	 * follows is the one that counts. */
	if (idx >= 0 && state == SSH_PUBLICKEY_STATE_NONE) {
		ssh_message_auth_reply_pk_ok_simple(msg);
		return;
	}
	if (idx >= 0 && state == SSH_PUBLICKEY_STATE_VALID) {
		session_accept_key(s, msg, idx, fp);
		return;
	}
	session_reject(s, msg, fp, "publickey");
}

static void
session_auth(struct session *s, ssh_message msg)
{
	log_escape(s->user, sizeof s->user, ssh_message_auth_user(msg));

	switch (ssh_message_subtype(msg)) {
	case SSH_AUTH_METHOD_PUBLICKEY:
		session_auth_pubkey(s, msg);
		break;
	case SSH_AUTH_METHOD_NONE:
		/* The method list probe every client starts with. */
		ssh_message_auth_set_methods(msg, SSH_AUTH_METHOD_PUBLICKEY);
		ssh_message_reply_default(msg);
		break;
	case SSH_AUTH_METHOD_PASSWORD:
		session_reject(s, msg, NULL, "password");
		break;
	case SSH_AUTH_METHOD_INTERACTIVE:
		session_reject(s, msg, NULL, "keyboard-interactive");
		break;
	default:
		session_reject(s, msg, NULL, "other");
		break;
	}
}

/*
 * On a worker, the head opens forwarded-tcpip channels for the remote
 * forwards this node asked for; everything else is refused.
 */
static int
session_client_message(struct session *s, ssh_message msg, int type)
{
	char        host[256];
	unsigned    hport;
	const void *owner = NULL;

	if (type == SSH_REQUEST_CHANNEL_OPEN &&
	    ssh_message_subtype(msg) == SSH_CHANNEL_FORWARDED_TCPIP &&
	    s->hooks != NULL &&
	    s->hooks->forwarded(s->hooks_arg,
	        ssh_message_channel_request_open_destination(msg),
	        (unsigned)ssh_message_channel_request_open_destination_port(
	            msg),
	        host, sizeof host, &hport, &owner) == 0 &&
	    channel__open(s, &s->channels, msg, "forwarded-tcpip", host, hport,
	        owner) == 0)
		return 1;
	ssh_message_reply_default(msg);
	return 0;
}

/* Returns 1 when msg was handed on and must not be freed here. */
static int
session_message(struct session *s, ssh_message msg)
{
	int type = ssh_message_type(msg);

	if (type == SSH_REQUEST_AUTH && s->state == SESSION_AUTH) {
		session_auth(s, msg);
		return 0;
	}
	if (s->state != SESSION_OPEN)
		goto refuse;
	if (s->client)
		return session_client_message(s, msg, type);
	if (type == SSH_REQUEST_CHANNEL_OPEN &&
	    ssh_message_subtype(msg) == SSH_CHANNEL_DIRECT_TCPIP &&
	    channel__open(
	        s, &s->channels, msg, "direct-tcpip", NULL, 0, NULL) == 0)
		return 1;
	if (type == SSH_REQUEST_GLOBAL &&
	    ssh_message_subtype(msg) == SSH_GLOBAL_REQUEST_TCPIP_FORWARD) {
		rforward__request(s, msg);
		return 0;
	}
	if (type == SSH_REQUEST_GLOBAL &&
	    ssh_message_subtype(msg) ==
	        SSH_GLOBAL_REQUEST_CANCEL_TCPIP_FORWARD) {
		rforward__cancel(s, msg);
		return 0;
	}

refuse:

	/* Sessions, x11, agents, forwarded-tcpip, global and channel
	 * requests: refused, and service requests accepted, by libssh's
	 * default answers. */
	ssh_message_reply_default(msg);
	return 0;
}

static void
session_messages(struct session *s)
{
	ssh_message msg;

	/* Requests only come with what libssh read, here or in any other
	 * call; when it has read nothing, asking would cost a poll(). */
	if (s->sock.in_bytes == s->answered_at)
		return;
	while (s->state != SESSION_CLOSING &&
	    (msg = ssh_message_get(s->ssh)) != NULL) {
		if (!session_message(s, msg))
			ssh_message_free(msg);
	}
	s->answered_at = s->sock.in_bytes;
}

static void
session_fail(struct session *s, const char *what)
{
	snprintf(s->down_reason, sizeof s->down_reason, "%s", what);
	s->dead = 1;
}

static int
session_check_pin(struct session *s)
{
	ssh_key key = NULL;
	char    fp[128];
	int     ok;

	if (ssh_get_server_publickey(s->ssh, &key) != SSH_OK)
		return 0;
	ok = authkeys_fingerprint(key, fp, sizeof fp) == 0;
	if (ok)
		snprintf(s->identity, sizeof s->identity, "%s", fp);
	ssh_key_free(key);
	return ok &&
	    (s->hostkey_pin[0] == '\0' || strcmp(fp, s->hostkey_pin) == 0);
}

static void
session_client_open(struct session *s)
{
	s->state = SESSION_OPEN;
	uv_timer_stop(&s->grace);
	if ((s->ev = ssh_event_new()) == NULL ||
	    ssh_event_add_session(s->ev, s->ssh) != SSH_OK) {
		session_fail(s, "out of memory");
		return;
	}
	if (s->hooks != NULL)
		s->hooks->up(s->hooks_arg, s);
}

/* An outgoing session: connect, check the head's key, authenticate. */
static void
session_client_handshake(struct session *s)
{
	int rc;

	if (s->state == SESSION_HANDSHAKE) {
		if ((rc = ssh_connect(s->ssh)) == SSH_AGAIN)
			return;
		if (rc != SSH_OK) {
			session_fail(s, "handshake failed");
			return;
		}
		if (!session_check_pin(s)) {
			session_fail(s, "host key does not match the pin");
			return;
		}
		s->state = SESSION_AUTH;
	}

	rc = ssh_userauth_publickey(s->ssh, NULL, s->key);
	if (rc == SSH_AUTH_AGAIN)
		return;
	if (rc != SSH_AUTH_SUCCESS) {
		session_fail(s, "authentication refused");
		return;
	}
	session_client_open(s);
}

static void
session_handshake(struct session *s)
{
	int rc;

	if (s->client) {
		session_client_handshake(s);
		return;
	}
	rc = ssh_handle_key_exchange(s->ssh);

	if (rc == SSH_AGAIN)
		return;
	if (rc != SSH_OK) {
		s->dead = 1;
		return;
	}
	s->state = SESSION_AUTH;
	if ((s->ev = ssh_event_new()) == NULL ||
	    ssh_event_add_session(s->ev, s->ssh) != SSH_OK)
		s->dead = 1;
}

/* Before the session is open; a client authenticates step by step. */
static int
session_handshaking(const struct session *s)
{
	return s->state == SESSION_HANDSHAKE ||
	    (s->client && s->state == SESSION_AUTH);
}

static void
session_on_poll(uv_poll_t *p, int status, int events)
{
	struct session *s = p->data;
	uint64_t        before;
	int             i;

	if (status < 0)
		s->dead = 1;
	if (!s->dead && session_handshaking(s))
		session_handshake(s);
	if (s->dead || session_handshaking(s)) {
		session__settle(s);
		return;
	}

	/* Requests queue up in libssh meanwhile, at most a burst's worth;
	 * answering them once afterwards saves a poll() per round.  A read
	 * shorter than libssh asked for emptied the socket: the loop says
	 * when more comes, and polling again to hear "nothing" costs. */
	for (i = 0; i < SESSION_BURST; i++) {
		before = s->sock.in_bytes;
		if (ssh_event_dopoll(s->ev, 0) != SSH_OK ||
		    s->sock.in_bytes - before < SESSION_LIBSSH_READ)
			break;
	}
	session_messages(s);
	session__settle(s);
}

static void
session_update_poll(struct session *s)
{
	int want = UV_READABLE;

	if (ssh_get_poll_flags(s->ssh) & SSH_WRITE_PENDING)
		want |= UV_WRITABLE;
	if (want != s->poll_events) {
		s->poll_events = want;
		uv_poll_start(&s->poll, want, session_on_poll);
	}
}

/*
 * libssh asks for POLLOUT after every write, even one the kernel took
 * whole, and writes nothing more until it has seen it.  One more round
 * here usually settles that at once, instead of a trip through the loop
 * with the socket's watch changed twice.  That round may write again (a
 * close answering the peer's): then another follows, as long as the
 * last one got something out.
 */
static void
session_flush_round(struct session *s)
{
	uint64_t out;
	int      i;

	if (s->flushing)
		return;
	s->flushing = 1;
	for (i = 0; i < SESSION_FLUSH_ROUNDS && s->state == SESSION_OPEN &&
	     (ssh_get_poll_flags(s->ssh) & SSH_WRITE_PENDING);
	     i++) {
		out = s->sock.out_bytes;
		session_on_poll(&s->poll, 0, UV_WRITABLE);
		if (s->sock.out_bytes == out)
			break;
	}
	s->flushing = 0;
}

/* Lets out what session__batch held back. */
static void
session_uncork(struct session *s)
{
	int off = 0;

	if (!s->corked)
		return;
	s->corked = 0;
	setsockopt(ssh_get_fd(s->ssh), IPPROTO_TCP, TCP_CORK, &off, sizeof off);
}

void
session__batch(struct session *s)
{
	int on = 1;

	if (s->corked || s->state != SESSION_OPEN)
		return;
	if (setsockopt(
	        ssh_get_fd(s->ssh), IPPROTO_TCP, TCP_CORK, &on, sizeof on) == 0)
		s->corked = 1;
}

void
session__settle(struct session *s)
{
	if (s->state == SESSION_CLOSING)
		return;
	/* What other libssh calls read may hold requests too. */
	if (!s->dead && !session_handshaking(s))
		session_messages(s);
	if (s->state == SESSION_CLOSING)
		return;
	channel__settle(&s->channels);
	if (s->hooks != NULL && s->hooks->settled != NULL &&
	    s->state == SESSION_OPEN)
		s->hooks->settled(s->hooks_arg, s);

	if (ssh_get_status(s->ssh) & (SSH_CLOSED | SSH_CLOSED_ERROR))
		s->dead = 1;
	if (s->dead) {
		session_teardown(s, NULL);
		return;
	}
	session_flush_round(s);

	/* Inside a flush round, the round's caller does both. */
	if (s->flushing || s->state == SESSION_CLOSING)
		return;
	session_uncork(s);
	session_update_poll(s);
}

static void
session_free_cb(uv_handle_t *h)
{
	struct session *s = h->data;

	if (--s->handles > 0)
		return;
	if (s->ev != NULL) {
		ssh_event_remove_session(s->ev, s->ssh);
		ssh_event_free(s->ev);
	}
	ssh_free(s->ssh);
	free(s);
}

static void
session_disconnect(struct session *s, const char *reason)
{
	int fd = ssh_get_fd(s->ssh);

	ssh_session_set_disconnect_message(s->ssh, reason);
	ssh_disconnect(s->ssh);
	/* libssh leaves a socket it was handed open on disconnect. */
	if (s->client && fd != -1)
		close(fd);
}

static void
session_client_gone(struct session *s, const char *reason)
{
	const struct session_hooks *hooks = s->hooks;

	session_emit(s, "session.closed",
	    json_pack("{s:I,s:I}", "bytes_in", (json_int_t)s->bytes_in,
	        "bytes_out", (json_int_t)s->bytes_out));
	s->hooks = NULL;
	if (hooks == NULL)
		return;
	if (s->down_reason[0] == '\0')
		snprintf(s->down_reason, sizeof s->down_reason, "%s",
		    reason != NULL ? reason : "connection lost");
	hooks->down(s->hooks_arg, s, s->down_reason);
}

/*
 * Ends the session: channels closed, a disconnect sent when reason is
 * given (the peer is still there), gone from lookups at once, freed once
 * the loop has let go of its handles.
 */
static void
session_teardown(struct session *s, const char *reason)
{
	uint64_t secs, ms;

	if (s->state == SESSION_CLOSING)
		return;

	/* The peer left (reason NULL) before logging in.  Ends that are
	 * ours, a shutdown or a close through ctl, cost it nothing. */
	if (reason == NULL && s->state != SESSION_OPEN)
		session_penalize(s,
		    s->auth_failures > 0 ? PENALTY_AUTHFAIL : PENALTY_NOAUTH);
	if (s->counted)
		connlimit_remove(sshd_connlimit(s->sshd), &s->addr);
	s->counted = 0;
	s->state = SESSION_CLOSING;
	session_authed(s);
	TAILQ_REMOVE(&sessions, s, entry);
	nsessions--;
	stats.sessions--;

	channel__close_all(&s->channels);
	session_uncork(s);
	if (!s->client)
		rforward__session_closed(s);
	uv_close((uv_handle_t *)&s->poll, session_free_cb);
	uv_close((uv_handle_t *)&s->grace, session_free_cb);
	uv_close((uv_handle_t *)&s->soon, session_free_cb);
	if (reason != NULL && !s->dead)
		session_disconnect(s, reason);

	if (s->client) {
		session_client_gone(s, reason);
		return;
	}
	ms = uv_now(s->loop) - s->started_mono;
	secs = ms / 1000;
	log_info("connection closed remote_addr=%s duration=%llu.%03llu "
	         "session=%llu",
	    s->ip, (unsigned long long)secs, (unsigned long long)(ms % 1000),
	    (unsigned long long)s->id);
	session_emit(s, "session.closed",
	    json_pack("{s:I,s:I}", "bytes_in", (json_int_t)s->bytes_in,
	        "bytes_out", (json_int_t)s->bytes_out));
}

int
session_close(struct session *s, const char *reason)
{
	session_teardown(s, reason != NULL ? reason : "closed");
	return 0;
}

void
session_close_all(const char *reason)
{
	while (!TAILQ_EMPTY(&sessions))
		session_close(TAILQ_FIRST(&sessions), reason);
}

struct session *
session_find(uint64_t id)
{
	struct session *s;

	TAILQ_FOREACH(s, &sessions, entry)
	{
		if (s->id == id)
			return s;
		if (s->id > id)
			break;
	}
	return NULL;
}

struct session *
session_next(const struct session *prev)
{
	if (prev == NULL)
		return TAILQ_FIRST(&sessions);
	return TAILQ_NEXT(prev, entry);
}

void
session_info(const struct session *s, struct session_info *info)
{
	info->id = s->id;
	info->direction = s->client ? "out" : "in";
	info->peer = s->peer;
	info->identity = s->identity;
	info->identity_name = s->identity_name;
	info->scopes = s->scope_list;
	info->user = s->user;
	info->transport = s->transport;
	info->state = session_state_names[s->state];
	info->started = s->started;
	info->channels = channel__set_count(&s->channels);
	info->bytes_in = s->bytes_in;
	info->bytes_out = s->bytes_out;
}

size_t
session_count(void)
{
	return nsessions;
}

ssh_session
session__ssh(const struct session *s)
{
	return s->ssh;
}

uint64_t
session__id(const struct session *s)
{
	return s->id;
}

void
session__subject(const struct session *s, struct policy_subject *subject)
{
	subject->id = s->identity;
	subject->scopes = s->scope_list;
	subject->transport = s->transport;
}

int
session__may_forward(const struct session *s)
{
	return !s->no_forwarding;
}

const char *
session__identity(const struct session *s)
{
	return s->identity;
}

uv_loop_t *
session__loop(const struct session *s)
{
	return s->loop;
}

void
session__count(struct session *s, uint64_t in, uint64_t out)
{
	s->bytes_in += in;
	s->bytes_out += out;
}

void
session__forget_hooks(struct session *s)
{
	s->hooks = NULL;
}

void
session__kick(struct session *s)
{
	if (s->state != SESSION_CLOSING)
		session_update_poll(s);
}

uint64_t
session__received(const struct session *s)
{
	return s->sock.in_bytes;
}

struct channel_set *
session__channels(struct session *s)
{
	return &s->channels;
}

struct sshd *
session__sshd(const struct session *s)
{
	return s->sshd;
}

int
session__fd(const struct session *s)
{
	return ssh_get_fd(s->ssh);
}

static void
session_on_soon(uv_timer_t *t)
{
	session__settle(t->data);
}

void
session__soon(struct session *s)
{
	if (s->state != SESSION_CLOSING)
		uv_timer_start(&s->soon, session_on_soon, 0, 0);
}
