/*
 * Call connections.  Each request a peer sends is one registry call; the
 * connection holds a reference for every call out, so an answer that
 * arrives after the peer left finds the connection closed and is
 * dropped, never written to freed memory.
 */
#include <sys/queue.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "callconn.h"
#include "frame.h"
#include "hostport.h"
#include "log.h"
#include "registry.h"
#include "reply.h"

#define CALLCONN_READ_SIZE (64 * 1024)
#define CALLCONN_CALLS_MAX 1024  /* calls this side has out at once */
#define CALLCONN_PEER_MAX  256   /* calls the peer has open at once */
#define CALLCONN_AUTH_MAX  16384 /* bytes of a first frame that proves */
#define CALLCONN_AUTH_MS   10000 /* time to prove who the peer is */

struct callconn {
	LIST_ENTRY(callconn) entry;
	uv_pipe_t             pipe;
	struct frame_decoder *dec;
	int                   refs; /* the handle, and each call out */
	int                   closing;
	int                   reading;
	int                   eof;   /* the peer sends no more */
	callconn_token_cb     check; /* set until the peer proved itself */
	struct pending       *out;   /* calls this side made */
	uint64_t              next_id;
	void                 *check_arg;
	size_t                queued;  /* bytes written, not yet taken */
	size_t                open;    /* the peer's calls not yet answered */
	uint64_t              born;    /* loop ms when it was made */
	uint64_t              session; /* its SSH session's id; 0: none */
	char                  remote[256]; /* raw: the peer's address */
	char                 *obuf;        /* gathered, not yet written */
	size_t                olen;
	size_t                ocap;
	int                   dirty; /* on cs.dirty, holding a reference */
	struct callconn      *dirty_next;
	char                  rbuf[CALLCONN_READ_SIZE];
	callconn_closed_cb    closed;
	void                 *arg;
	char                  name[32]; /* "conn<N>", for call ids */

	/* Who the peer is, as the transport established it. */
	int                      has_who;
	struct registry_identity who;
	char                     id[160];
	char                     scope_text[1024];
	const char              *scopes[CALLCONN_SCOPES + 1];
};

struct callconn_write {
	uv_write_t       req;
	struct callconn *cc;
	size_t           len;
	char            *data;
};

static struct {
	uv_loop_t       *loop;
	struct registry *r;
	uv_idle_t        idle;
	uv_timer_t       sweep; /* deadlines of calls this side made */
	struct callconn *dirty; /* with bytes to write this turn */
	int              started;
	size_t           n;
	uint64_t         made; /* connections since the start */
	LIST_HEAD(, callconn) conns;
} cs;

static void callconn_read_start(struct callconn *);
static void callconn_on_closed(uv_handle_t *);
static void callconn_on_idle(uv_idle_t *);
static void callconn_on_sweep(uv_timer_t *);
static int  callconn_set_who(
     struct callconn *, const struct registry_identity *);

/*
 * A peer that has said all it will (EOF on a frame boundary) still gets
 * every answer; the connection closes once the last one is written.
 */
static void
callconn_unref(struct callconn *cc)
{
	if (--cc->refs == 1 && cc->eof && !cc->closing) {
		cc->closing = 1;
		uv_close((uv_handle_t *)&cc->pipe, callconn_on_closed);
	}
	if (cc->refs > 0)
		return;
	pending_free(cc->out);
	frame_decoder_free(cc->dec);
	free(cc->obuf);
	free(cc);
}

static void
callconn_on_closed(uv_handle_t *h)
{
	struct callconn *cc = h->data;

	LIST_REMOVE(cc, entry);
	cs.n--;
	pending_close(cc->out);
	/* Nobody is left to answer: the handlers may stop. */
	registry_abort_origin(cs.r, cc);
	if (cc->closed != NULL)
		cc->closed(cc, cc->arg);
	callconn_unref(cc);
}

void
callconn_close(struct callconn *cc)
{
	if (cc == NULL || cc->closing)
		return;
	cc->closing = 1;
	uv_close((uv_handle_t *)&cc->pipe, callconn_on_closed);
}

static void
callconn_on_written(uv_write_t *req, int status)
{
	struct callconn_write *w = req->data;
	struct callconn       *cc = w->cc;

	cc->queued -= w->len;
	free(w->data);
	free(w);
	if (status < 0)
		callconn_close(cc);
	else if (!cc->reading && !cc->closing && !cc->eof &&
	    cc->queued < CALLCONN_QUEUE_MAX / 2)
		callconn_read_start(cc);
	callconn_unref(cc);
}

/*
 * Writes what cc gathered in one write: the answers of a batch of calls
 * leave in one segment, not in one system call each.
 */
static void
callconn_flush(struct callconn *cc)
{
	struct callconn_write *w = NULL;
	uv_buf_t               buf = uv_buf_init(cc->obuf, (unsigned)cc->olen);

	if (!cc->closing && cc->olen > 0 &&
	    (w = calloc(1, sizeof *w)) != NULL) {
		w->cc = cc;
		w->len = cc->olen;
		w->data = cc->obuf;
		w->req.data = w;
		if (uv_write(&w->req, (uv_stream_t *)&cc->pipe, &buf, 1,
		        callconn_on_written) == 0)
			cc->refs++;
		else {
			free(w);
			w = NULL;
			callconn_close(cc);
		}
	}
	if (w == NULL) {
		cc->queued -= cc->olen;
		free(cc->obuf);
	}
	cc->obuf = NULL;
	cc->olen = cc->ocap = 0;
}

static void
callconn_flush_all(void)
{
	struct callconn *cc;

	while ((cc = cs.dirty) != NULL) {
		cs.dirty = cc->dirty_next;
		cc->dirty = 0;
		callconn_flush(cc);
		callconn_unref(cc);
	}
}

/* Queues len bytes of data (malloc'ed, taken) for the peer; they leave
 * with the others of this turn of the loop. */
static void
callconn_send(struct callconn *cc, char *data, size_t len)
{
	size_t cap;
	char  *nb;

	if (cc->closing) {
		free(data);
		return;
	}
	if (cc->ocap - cc->olen < len) {
		cap = cc->ocap > 0 ? cc->ocap : 4096;
		while (cap - cc->olen < len)
			cap *= 2;
		if ((nb = realloc(cc->obuf, cap)) == NULL) {
			free(data);
			callconn_close(cc);
			return;
		}
		cc->obuf = nb;
		cc->ocap = cap;
	}
	memcpy(cc->obuf + cc->olen, data, len);
	cc->olen += len;
	cc->queued += len;
	free(data);

	if (!cc->dirty) {
		cc->dirty = 1;
		cc->refs++;
		cc->dirty_next = cs.dirty;
		cs.dirty = cc;
		uv_idle_start(&cs.idle, callconn_on_idle);
	}

	/* A peer that does not read its answers stops being read. */
	if (cc->queued > CALLCONN_QUEUE_MAX && cc->reading) {
		uv_read_stop((uv_stream_t *)&cc->pipe);
		cc->reading = 0;
	}
}

static void
callconn_answer(struct callconn *cc, const char *id, json_t *output,
    const struct reply_error *err)
{
	void  *data = NULL;
	size_t len;

	if (reply_encode(id, output, err, &data, &len) != 0) {
		/* An answer that cannot be framed leaves the peer waiting. */
		callconn_close(cc);
		return;
	}
	callconn_send(cc, data, len);
}

/* A frame of type t with an empty payload, for call.completed and
 * call.aborted. */
static void
callconn_signal(struct callconn *cc, enum frame_type t, const char *id)
{
	json_t *empty = json_object();
	void   *data = NULL;
	size_t  len;
	int     rc = -ENOMEM;

	if (empty != NULL)
		rc = frame_encode_alloc(t, id, empty, &data, &len);
	json_decref(empty);
	if (rc != 0) {
		callconn_close(cc);
		return;
	}
	callconn_send(cc, data, len);
}

/* What the registry tells of a peer's call: its answer, or each value
 * of a subscription and then its end. */
static void
callconn_done(const struct registry_result *res, void *arg)
{
	struct callconn *cc = arg;

	/* A subscriber that does not take its values loses the
	 * subscription rather than the node's memory. */
	if (res->more && !cc->closing && cc->queued > CALLCONN_QUEUE_MAX) {
		log_info("subscription ended identity=%s id=%.64s "
		         "reason=\"peer too slow\"",
		    cc->has_who ? cc->id : "none", res->request_id);
		registry_abort(cs.r, cc, res->request_id);
		return;
	}
	if (!cc->closing && res->output == NULL && res->error == NULL)
		callconn_signal(cc, FRAME_COMPLETED, res->request_id);
	else if (!cc->closing)
		callconn_answer(cc, res->request_id, res->output, res->error);
	if (!res->more) {
		cc->open--;
		callconn_unref(cc);
	}
}

static void
callconn_request(struct callconn *cc, const struct frame *f)
{
	struct reply_error busy = {REPLY_INTERNAL, "too many calls", 1, NULL};
	int                rc = -ENOSPC;

	/* Two open calls under one id: their answers could not be told
	 * apart, so the peer is broken, as with a malformed frame.
	 * XXX: the lookup walks every open call of the node, not only the
	 * peer's; with thousands open, each request pays for that. */
	if (cc->open > 0 && registry_open(cs.r, cc, f->id)) {
		log_info("call id reused identity=%s id=%.64s",
		    cc->has_who ? cc->id : "none", f->id);
		callconn_close(cc);
		return;
	}

	/* One peer cannot take every call the node can hold. */
	if (cc->open < CALLCONN_PEER_MAX)
		rc = registry_dispatch_request(cs.r,
		    cc->has_who ? &cc->who : NULL, cc, cc->name, f->id,
		    f->payload, callconn_done, cc);
	if (rc == 0) {
		cc->refs++;
		cc->open++;
	} else {
		callconn_answer(cc, f->id, NULL, &busy);
	}
}

/* Answers what is written already, then closes. */
static void
callconn_finish(struct callconn *cc)
{
	if (cc->reading)
		uv_read_stop((uv_stream_t *)&cc->pipe);
	cc->reading = 0;
	cc->eof = 1;
	cc->refs++;
	callconn_unref(cc);
}

/* The first frame of a connection that must prove who it is. */
static void
callconn_auth(struct callconn *cc, const struct frame *f)
{
	struct reply_error no = {
	    REPLY_FORBIDDEN, "authentication required", 0, NULL};
	struct registry_identity who;
	struct frame_decoder    *dec;
	const char              *op, *token;
	json_t                  *out;

	op = json_string_value(json_object_get(f->payload, "operationId"));
	token = json_string_value(
	    json_object_get(json_object_get(f->payload, "input"), "token"));
	if (f->type != FRAME_REQUESTED || op == NULL || token == NULL ||
	    strcmp(op[0] == '/' ? op + 1 : op, "auth/token") != 0 ||
	    cc->check(cc->check_arg, token, &who) != 0 ||
	    callconn_set_who(cc, &who) != 0) {
		log_info("raw auth rejected remote_addr=%s conn=%s", cc->remote,
		    cc->name);
		callconn_answer(cc, f->id, NULL, &no);
		callconn_finish(cc);
		return;
	}
	/* Proven: from now on frames may be as large as any peer's.  The
	 * decoder holds nothing between frames, so it can change here. */
	if (frame_decoder_new(FRAME_MAX_DEFAULT, &dec) != 0) {
		callconn_close(cc);
		return;
	}
	frame_decoder_free(cc->dec);
	cc->dec = dec;
	cc->check = NULL;
	out = json_pack("{s:s}", "identity", cc->id);
	callconn_answer(cc, f->id, out, NULL);
	json_decref(out);
}

/* One frame from the peer. */
static void
callconn_frame(struct callconn *cc, const struct frame *f)
{
	if (cc->check != NULL) {
		callconn_auth(cc, f);
		return;
	}
	switch (f->type) {
	case FRAME_REQUESTED:
		callconn_request(cc, f);
		break;
	case FRAME_ABORTED:
		/* The peer gives up on its call, or ends one of ours. */
		if (pending_has(cc->out, frame_request_id(f)))
			pending_frame(cc->out, f);
		else if (registry_abort(cs.r, cc, frame_request_id(f)) == 0)
			log_info("call aborted by peer identity=%s id=%.64s",
			    cc->has_who ? cc->id : "none", frame_request_id(f));
		break;
	default:
		/* Answers to this side's calls; unknown ids are ignored. */
		if (pending_frame(cc->out, f) < 0)
			callconn_close(cc);
		break;
	}
}

static void
callconn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct callconn *cc = h->data;

	*buf = uv_buf_init(cc->rbuf, sizeof cc->rbuf);
}

static void
callconn_feed(struct callconn *cc, const char *data, size_t len)
{
	struct frame f;
	size_t       off = 0, used;
	int          rc;

	while (off < len && !cc->closing && !cc->eof) {
		rc = frame_decoder_feed(
		    cc->dec, data + off, len - off, &used, &f);
		off += used;
		if (rc < 0) {
			callconn_close(cc);
			return;
		}
		if (rc == 0)
			return;
		callconn_frame(cc, &f);
		frame_release(&f);
	}
}

static void
callconn_on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct callconn *cc = st->data;

	if (nread > 0) {
		callconn_feed(cc, buf->base, (size_t)nread);
		return;
	}
	if (nread == 0)
		return;
	if (nread != UV_EOF || frame_decoder_end(cc->dec) != 0) {
		callconn_close(cc);
		return;
	}
	uv_read_stop(st);
	cc->reading = 0;
	cc->eof = 1;
	/* Its calls are answered; its subscriptions would never end, as it
	 * can no longer give them up. */
	registry_abort_subscriptions(cs.r, cc);
	cc->refs++;
	callconn_unref(cc);
}

static void
callconn_read_start(struct callconn *cc)
{
	if (uv_read_start((uv_stream_t *)&cc->pipe, callconn_alloc,
	        callconn_on_read) != 0) {
		callconn_close(cc);
		return;
	}
	cc->reading = 1;
}

/* A copy of who: its id and scopes (resources are not carried). */
static int
callconn_set_who(struct callconn *cc, const struct registry_identity *who)
{
	size_t n = 0, used = 0, len;

	if (who == NULL)
		return 0;
	if (who->id == NULL || strlen(who->id) >= sizeof cc->id)
		return -EINVAL;
	snprintf(cc->id, sizeof cc->id, "%s", who->id);
	for (; who->scopes != NULL && who->scopes[n] != NULL; n++) {
		len = strlen(who->scopes[n]) + 1;
		if (n == CALLCONN_SCOPES || used + len > sizeof cc->scope_text)
			return -E2BIG;
		memcpy(cc->scope_text + used, who->scopes[n], len);
		cc->scopes[n] = cc->scope_text + used;
		used += len;
	}
	cc->scopes[n] = NULL;
	cc->who.id = cc->id;
	cc->who.scopes = cc->scopes;
	cc->who.resources = NULL;
	cc->has_who = 1;
	return 0;
}

int
callconn_new(int fd, const struct registry_identity *who,
    callconn_closed_cb closed, void *arg, struct callconn **out)
{
	struct callconn *cc;
	int              rc;

	if (!cs.started) {
		close(fd);
		return -ENOTCONN;
	}
	if ((cc = calloc(1, sizeof *cc)) == NULL) {
		close(fd);
		return -ENOMEM;
	}
	if ((rc = callconn_set_who(cc, who)) != 0 ||
	    (rc = frame_decoder_new(FRAME_MAX_DEFAULT, &cc->dec)) != 0 ||
	    (rc = pending_new(CALLCONN_CALLS_MAX, &cc->out)) != 0) {
		pending_free(cc->out);
		frame_decoder_free(cc->dec);
		free(cc);
		close(fd);
		return rc;
	}
	uv_pipe_init(cs.loop, &cc->pipe, 0);
	cc->pipe.data = cc;
	cc->refs = 1;
	cc->closed = closed;
	cc->arg = arg;
	snprintf(cc->name, sizeof cc->name, "conn%llu",
	    (unsigned long long)++cs.made);
	LIST_INSERT_HEAD(&cs.conns, cc, entry);
	cs.n++;

	if ((rc = uv_pipe_open(&cc->pipe, fd)) != 0) {
		close(fd);
		cc->closed = NULL; /* a failed call tells nobody */
		callconn_close(cc);
		return rc;
	}
	callconn_read_start(cc);
	*out = cc;
	return 0;
}

/* Deadlines and unproven peers are checked every second. */
static void
callconn_sweep_start(void)
{
	if (!uv_is_active((uv_handle_t *)&cs.sweep))
		uv_timer_start(&cs.sweep, callconn_on_sweep, 1000, 1000);
}

int
callconn_new_token(int fd, callconn_token_cb check, void *check_arg,
    callconn_closed_cb closed, void *arg, struct callconn **out)
{
	struct callconn *cc;
	int              rc;

	struct frame_decoder *dec;
	struct hostport       hp;

	if (hostport_peername(fd, &hp) != 0)
		snprintf(hp.host, sizeof hp.host, "-");
	if ((rc = callconn_new(fd, NULL, closed, arg, &cc)) != 0)
		return rc;
	snprintf(cc->remote, sizeof cc->remote, "%s", hp.host);
	/* Until it proves who it is, a peer gets one small frame and a
	 * few seconds. */
	if ((rc = frame_decoder_new(CALLCONN_AUTH_MAX, &dec)) != 0) {
		cc->closed = NULL; /* a failed call tells nobody */
		callconn_close(cc);
		return rc;
	}
	frame_decoder_free(cc->dec);
	cc->dec = dec;
	cc->check = check;
	cc->check_arg = check_arg;
	cc->born = uv_now(cs.loop);
	callconn_sweep_start();
	*out = cc;
	return 0;
}

static void
callconn_on_sweep(uv_timer_t *t)
{
	struct callconn *cc;
	size_t           left = 0;
	uint64_t         now = uv_now(cs.loop);

	LIST_FOREACH(cc, &cs.conns, entry)
	{
		pending_sweep(cc->out, now);
		left += pending_count(cc->out);
		if (cc->check != NULL && !cc->closing && !cc->eof) {
			left++;
			if (now - cc->born >= CALLCONN_AUTH_MS) {
				log_info(
				    "raw auth timed out remote_addr=%s conn=%s",
				    cc->remote, cc->name);
				callconn_close(cc);
			}
		}
	}
	if (left == 0)
		uv_timer_stop(t);
}

int
callconn_call(struct callconn *cc, const char *op, json_t *input,
    const char *parent, enum pending_kind kind, pending_cb cb, void *arg,
    char *idbuf)
{
	struct pending_req req = {0};
	json_t            *payload;
	void              *data = NULL;
	size_t             len;
	char               id[CALLCONN_ID_MAX];
	int                rc;

	if (cc->closing || cc->eof)
		return -ENOTCONN;
	snprintf(id, sizeof id, "c%llu", (unsigned long long)++cc->next_id);
	payload = json_pack("{s:s,s:O?}", "operationId", op, "input", input);
	if (payload != NULL && parent != NULL)
		json_object_set_new(
		    payload, "parentRequestId", json_string(parent));
	if (payload == NULL)
		return -ENOMEM;
	rc = frame_encode_alloc(FRAME_REQUESTED, id, payload, &data, &len);
	json_decref(payload);
	if (rc != 0)
		return rc;

	req.id = id;
	req.parent = parent;
	req.kind = kind;
	req.deadline = kind == PENDING_SUBSCRIBE ? PENDING_NO_DEADLINE : 0;
	req.cb = cb;
	req.arg = arg;
	if ((rc = pending_add(cc->out, &req, uv_now(cs.loop))) != 0) {
		free(data);
		return rc;
	}
	callconn_send(cc, data, len);
	callconn_sweep_start();
	if (idbuf != NULL)
		memcpy(idbuf, id, sizeof id);
	return 0;
}

int
callconn_abort(struct callconn *cc, const char *id)
{
	if (!pending_has(cc->out, id))
		return -ENOENT;
	if (!cc->closing && !cc->eof)
		callconn_signal(cc, FRAME_ABORTED, id);
	pending_aborted(cc->out, id);
	return 0;
}

void
callconn_set_session(struct callconn *cc, uint64_t session)
{
	cc->session = session;
}

uint64_t
callconn_session(const struct callconn *cc)
{
	return cc->session;
}

const char *
callconn_who(const struct callconn *cc)
{
	return cc->has_who ? cc->id : NULL;
}

size_t
callconn_count(void)
{
	return cs.n;
}

static void
callconn_on_idle(uv_idle_t *h)
{
	registry_deliver(cs.r);
	callconn_flush_all();
	if (registry_ready(cs.r) == 0 && cs.dirty == NULL)
		uv_idle_stop(h);
}

static void
callconn_wakeup(void *arg)
{
	uv_idle_start(&cs.idle, callconn_on_idle);
}

int
callconn_start(uv_loop_t *loop, struct registry *r)
{
	if (cs.started)
		return -EBUSY;
	cs.loop = loop;
	cs.r = r;
	LIST_INIT(&cs.conns);
	uv_idle_init(loop, &cs.idle);
	uv_timer_init(loop, &cs.sweep);
	registry_set_wakeup(r, callconn_wakeup, NULL);
	cs.started = 1;
	return 0;
}

void
callconn_stop(void)
{
	struct callconn *cc;

	if (!cs.started)
		return;
	LIST_FOREACH(cc, &cs.conns, entry)
	{
		callconn_close(cc);
		registry_abort_origin(cs.r, cc);
	}

	/* Answers still queued hold their connections: let them go. */
	while (registry_ready(cs.r) > 0)
		registry_deliver(cs.r);
	callconn_flush_all();
	registry_set_wakeup(cs.r, NULL, NULL);
	/* The registry is its owner's to free now; the connections'
	 * close callbacks, still to come, must not reach it. */
	cs.r = NULL;
	uv_close((uv_handle_t *)&cs.idle, NULL);
	uv_close((uv_handle_t *)&cs.sweep, NULL);
	cs.started = 0;
}
