/*
 * The FUSE adapter.  libfuse's session is driven by hand: its descriptor
 * is non-blocking and watched by a uv_poll_t, each wakeup takes a bounded
 * number of requests.  Every open file gets a handle holding what the
 * kind of file needs: a frozen snapshot, a control file's last answer, a
 * directory listing, or an event subscription with at most one blocked
 * read and one poll handle.  Blocked reads are answered from the event
 * bus's ready callback, interrupted ones from an idle handle, so nothing
 * is sent to the kernel from inside another request's handler but that
 * request's own reply.
 *
 * Every change goes to the registry as the writer's local identity: a
 * command written to a ctl file, a value written to a writable value
 * file (all that was written on the handle), mkdir and rmdir of
 * forwards/ and identities/, and the input of a transaction file.  A
 * write, mkdir or rmdir is answered when its call is; a transaction
 * file's write returns at once and its read waits for the answer, as a
 * blocked read of the events stream does.
 */
#define FUSE_USE_VERSION 35

#include <sys/mount.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fuse_lowlevel.h>

#include "events.h"
#include "mount.h"
#include "ns.h"
#include "ns_ctl.h"
#include "opcall.h"
#include "ops.h"

#define MOUNT_HANDLES_MAX   4096          /* open files at once */
#define MOUNT_HANDLES_ROOT  256           /* of those, kept for root */
#define MOUNT_BURST         64            /* requests per wakeup */
#define MOUNT_READ_MAX      (1024 * 1024) /* bytes per read reply */
#define MOUNT_REPLY_MAX     1024          /* a control file's answer */
#define MOUNT_FIXED_TIMEOUT 3600.0        /* top-level names */
#define MOUNT_OPTIONS                                                          \
	"default_permissions,allow_other,fsname=alknet,"                       \
	"subtype=alknet"

struct mount_handle {
	LIST_ENTRY(mount_handle) entry;
	struct mount           *m;
	uint64_t                ino;
	enum ns_kind            kind;
	char                   *data; /* snapshot or answer */
	size_t                  len;
	uint64_t                base;     /* offset after last write */
	int                     readable; /* opened for reading */
	struct ns_attr          attr;     /* as it was at open */
	char                   *wbuf;     /* a value written so far */
	size_t                  wlen;
	struct ns_dirent       *ents;
	size_t                  nents;
	struct events_sub      *sub;
	char                   *rest; /* lines a short read left over */
	size_t                  rest_off;
	size_t                  rest_len;
	fuse_req_t              pending; /* a blocked read */
	size_t                  want;
	uint64_t                roff; /* where it reads */
	int                     interrupted;
	struct fuse_pollhandle *ph;
	struct opcall          *call; /* a call not yet answered */
	fuse_req_t              wreq; /* a write waiting for its call */
	size_t                  wsize;
	uint64_t                woff;
	uid_t                   uid; /* who wrote */
	char                    who[OPCALL_ID_MAX];
	char                    opname[REGISTRY_NAME_MAX + 1];
	const char *const      *shows;     /* what a command's answer shows */
	int                     asked;     /* a transaction's input came */
	int                     answered;  /* and its (last) answer */
	int                     streaming; /* values of a subscription */
	uint64_t                dbase;     /* a stream's offset of data[0] */
};

/* A mkdir or rmdir waiting for its call. */
struct mount_dirop {
	LIST_ENTRY(mount_dirop) entry;
	struct mount  *m;
	fuse_req_t     req; /* NULL once answered */
	uint64_t       parent;
	int            make;
	struct opcall *call;
	char           name[NS_NAME_MAX];
};

struct mount {
	uv_loop_t           *loop;
	struct ns           *ns;
	struct fuse_session *se;
	struct fuse_buf      buf;
	char                *scratch; /* MOUNT_READ_MAX bytes */
	uv_poll_t            poll;
	uv_idle_t            idle;
	int                  handles_ready; /* poll and idle are init */
	int                  closing;       /* close callbacks to come */
	int                  gone;          /* the kernel side went away */
	int                  stopping;
	LIST_HEAD(, mount_handle) handles;
	size_t nhandles;
	LIST_HEAD(, mount_dirop) dirops;
};

static struct mount_handle *
mount_handle(struct fuse_file_info *fi)
{
	return (struct mount_handle *)(uintptr_t)fi->fh;
}

static void
mount_handle_free(struct mount_handle *h)
{
	if (h == NULL)
		return;
	if (h->ph != NULL)
		fuse_pollhandle_destroy(h->ph);

	/* Closing a transaction file unread aborts its call. */
	opcall_abort(h->call);
	events_unsubscribe(h->sub);
	LIST_REMOVE(h, entry);
	h->m->nhandles--;
	free(h->data);
	free(h->rest);
	free(h->wbuf);
	free(h->ents);
	free(h);
}

static void
mount_stat(const struct ns_attr *a, struct stat *st)
{
	struct timespec now;

	/* Everything here is live: its times are now. */
	clock_gettime(CLOCK_REALTIME, &now);
	memset(st, 0, sizeof *st);
	st->st_ino = a->ino;
	st->st_mode = a->mode;
	st->st_nlink = S_ISDIR(a->mode) ? 2 : 1;
	st->st_size = (off_t)a->size;
	st->st_blksize = 4096;
	st->st_atim = st->st_mtim = st->st_ctim = now;
}

static void
mount_init(void *arg, struct fuse_conn_info *conn)
{
	/* Splicing needs blocking pipes; the loop reads plain buffers. */
	conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE |
	    FUSE_CAP_SPLICE_MOVE);
}

static void
mount_reply_entry(fuse_req_t req, const struct ns_attr *a)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof e);
	e.ino = a->ino;
	e.generation = 1;
	mount_stat(a, &e.attr);
	e.attr_timeout = 0;
	e.entry_timeout = a->fixed ? MOUNT_FIXED_TIMEOUT : 0;
	fuse_reply_entry(req, &e);
}

static void
mount_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct mount  *m = fuse_req_userdata(req);
	struct ns_attr a;
	int            rc;

	if ((rc = ns_lookup(m->ns, parent, name, &a)) != 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	mount_reply_entry(req, &a);
}

/* An open handle on ino; fstat does not say which one. */
static struct mount_handle *
mount_find_open(struct mount *m, fuse_ino_t ino)
{
	struct mount_handle *h;

	LIST_FOREACH(h, &m->handles, entry)
	{
		if (h->ino == ino)
			return h;
	}
	return NULL;
}

static void
mount_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mount        *m = fuse_req_userdata(req);
	struct mount_handle *h = fi != NULL ? mount_handle(fi) : NULL;
	struct ns_attr       a;
	struct stat          st;
	int                  rc;

	/* A file stays open when its object goes, like an unlinked file:
	 * the answer of the "remove" written to it is still to be read. */
	rc = ns_getattr(m->ns, ino, &a);
	if (rc == -ENOENT && h == NULL)
		h = mount_find_open(m, ino);
	if (rc == -ENOENT && h != NULL)
		a = h->attr;
	else if (rc != 0) {
		fuse_reply_err(req, -rc);
		return;
	}

	/* fstat on an open value file sees its own snapshot's size. */
	if (h != NULL && h->kind == NS_VALUE && h->readable)
		a.size = h->len;
	mount_stat(&a, &st);
	if (rc != 0)
		st.st_nlink = 0;
	fuse_reply_attr(req, &st, 0);
}

/* Whether a truncation to size may pass as a no-op. */
static int
mount_truncate_ok(struct mount *m, fuse_ino_t ino, off_t size)
{
	struct ns_attr a;
	int            rc;

	if ((rc = ns_getattr(m->ns, ino, &a)) != 0)
		return rc;
	if (a.kind != NS_CTL && !a.writable)
		return -EACCES;
	return size == 0 ? 0 : -EINVAL;
}

static void
mount_set_attr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
    struct fuse_file_info *fi)
{
	struct mount *m = fuse_req_userdata(req);
	const int     ignored = FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME |
	    FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
	    FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME;
	int rc;

	/* Truncation to 0 of a file that takes writes and times are
	 * accepted and ignored, so that a shell's "echo cmd > ctl" and
	 * touch work; owners and modes are fixed. */
	if (to_set & ~ignored) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if ((to_set & FUSE_SET_ATTR_SIZE) &&
	    (rc = mount_truncate_ok(m, ino, attr->st_size)) != 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	mount_getattr(req, ino, fi);
}

static struct mount_handle *
mount_handle_new(struct mount *m, uint64_t ino, enum ns_kind kind, uid_t uid)
{
	struct mount_handle *h;

	/* Other users cannot take the last handles: root can always get at
	 * ctl, even while everyone else holds event readers open. */
	if (m->nhandles >= MOUNT_HANDLES_MAX ||
	    (uid != 0 && m->nhandles >= MOUNT_HANDLES_MAX - MOUNT_HANDLES_ROOT))
		return NULL;
	if ((h = calloc(1, sizeof *h)) == NULL)
		return NULL;
	h->m = m;
	h->ino = ino;
	h->kind = kind;
	LIST_INSERT_HEAD(&m->handles, h, entry);
	m->nhandles++;
	return h;
}

static void mount_ready(struct events_sub *, void *);
static void mount_on_idle(uv_idle_t *);

/* What an open needs for each kind of file. */
static int
mount_fill_handle(struct mount *m, struct mount_handle *h, uid_t uid)
{
	struct ns_attr a;

	switch (h->kind) {
	case NS_VALUE:
		if (!h->readable)
			return 0;
		return ns_read(m->ns, h->ino, uid, &h->data, &h->len);
	case NS_STREAM:
		h->sub = events_subscribe(mount_ready, h);
		return h->sub != NULL ? 0 : -ENOMEM;
	case NS_CTL:
	case NS_LOG:
		return ns_getattr(m->ns, h->ino, &a);
	case NS_CALL:
		return 0;
	default:
		return -EISDIR;
	}
}

static void
mount_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mount        *m = fuse_req_userdata(req);
	struct mount_handle *h;
	struct ns_attr       a;
	int                  rc, acc = fi->flags & O_ACCMODE;

	if ((rc = ns_getattr(m->ns, ino, &a)) != 0)
		goto fail;

	/* Root passes the mode bits; only control files and writable
	 * value files take writes. */
	rc = -EACCES;
	if (a.kind != NS_CTL && a.kind != NS_CALL && !a.writable &&
	    acc != O_RDONLY)
		goto fail;

	/* A call's answer is read on the handle that asked. */
	rc = -EINVAL;
	if (a.kind == NS_CALL && acc != O_RDWR)
		goto fail;
	rc = a.kind == NS_DIR ? -EISDIR : -ENFILE;
	if (a.kind == NS_DIR ||
	    (h = mount_handle_new(m, ino, a.kind, fuse_req_ctx(req)->uid)) ==
	        NULL)
		goto fail;
	h->readable = acc != O_WRONLY;
	h->attr = a;
	if ((rc = mount_fill_handle(m, h, fuse_req_ctx(req)->uid)) != 0) {
		mount_handle_free(h);
		goto fail;
	}

	fi->fh = (uintptr_t)h;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	fi->nonseekable = a.kind == NS_STREAM;

	/* FLUSH runs nothing here, and skipping it lets close() succeed
	 * for a reader that got EOF from an unmount. */
	fi->noflush = 1;
	if (fuse_reply_open(req, fi) == -ENOENT)
		mount_handle_free(h);
	return;

fail:
	fuse_reply_err(req, -rc);
}

/* Replies with what a blocked read may take now; 0 if it must wait. */
/* Answers from the lines a short read left over. */
static void
mount_answer_rest(struct mount_handle *h, fuse_req_t req, size_t size)
{
	size_t n = h->rest_len - h->rest_off;

	if (n > size)
		n = size;
	fuse_reply_buf(req, h->rest + h->rest_off, n);
	h->rest_off += n;
	if (h->rest_off == h->rest_len) {
		free(h->rest);
		h->rest = NULL;
	}
}

static int
mount_answer(
    struct mount *m, struct mount_handle *h, fuse_req_t req, size_t size)
{
	ssize_t n;

	if (size > MOUNT_READ_MAX)
		size = MOUNT_READ_MAX;
	if (h->rest != NULL) {
		mount_answer_rest(h, req, size);
		return 1;
	}
	n = events_read(h->sub, m->scratch, size);
	if (n == -EMSGSIZE) {
		/* A reader taking a few bytes at a time (bash's read does
		 * one): whole lines are kept and handed out in pieces. */
		n = events_read(h->sub, m->scratch, MOUNT_READ_MAX);
		if (n > 0 && (h->rest = malloc((size_t)n)) != NULL) {
			memcpy(h->rest, m->scratch, (size_t)n);
			h->rest_off = 0;
			h->rest_len = (size_t)n;
			mount_answer_rest(h, req, size);
			return 1;
		}
		if (n > 0)
			n = -ENOMEM;
	}
	if (n == -EAGAIN && !m->stopping && !m->gone)
		return 0;

	if (n > 0)
		fuse_reply_buf(req, m->scratch, (size_t)n);
	else if (n == 0 || n == -EAGAIN)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_err(req, (int)-n);
	return 1;
}

static void
mount_interrupt(fuse_req_t req, void *arg)
{
	struct mount_handle *h = arg;

	/* This runs inside libfuse's handling of the INTERRUPT request:
	 * the answer is left to the idle handle. */
	h->interrupted = 1;
	uv_idle_start(&h->m->idle, mount_on_idle);
}

static void
mount_read_stream(struct mount *m, struct mount_handle *h, fuse_req_t req,
    size_t size, int flags)
{
	/* XXX: a second reader on the same handle is refused, not queued. */
	if (h->pending != NULL) {
		fuse_reply_err(req, EBUSY);
		return;
	}
	if (mount_answer(m, h, req, size))
		return;
	if (flags & O_NONBLOCK) {
		fuse_reply_err(req, EAGAIN);
		return;
	}

	h->pending = req;
	h->want = size;
	h->interrupted = 0;
	fuse_req_interrupt_func(req, mount_interrupt, h);
}

static void
mount_reply_slice(
    fuse_req_t req, const char *data, size_t len, uint64_t off, size_t size)
{
	if (off >= len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > len - off)
		size = len - (size_t)off;
	fuse_reply_buf(req, data + off, size);
}

/*
 * Answers a read of a transaction file at pos (after its input).  A
 * call's answer stays for any number of reads; a stream lets go of what
 * was read, since a subscription may run for as long as it is open.
 */
static void
mount_serve_call(
    struct mount_handle *h, fuse_req_t req, uint64_t pos, size_t size)
{
	size_t n, drop;

	if (!h->streaming) {
		mount_reply_slice(req, h->data, h->len, pos, size);
		return;
	}
	if (pos < h->dbase)
		pos = h->dbase;
	n = pos - h->dbase < h->len ? h->len - (size_t)(pos - h->dbase) : 0;
	if (n > size)
		n = size;
	fuse_reply_buf(req, n > 0 ? h->data + (pos - h->dbase) : NULL, n);

	drop = (size_t)(pos - h->dbase) + n;
	if (drop > h->len)
		drop = h->len;
	memmove(h->data, h->data + drop, h->len - drop);
	h->len -= drop;
	h->dbase += drop;
}

/* Whether a read at pos has something to return now. */
static int
mount_call_ready(const struct mount_handle *h, uint64_t pos)
{
	if (h->answered)
		return 1;
	return h->streaming && h->len > 0 &&
	    (pos < h->dbase || pos - h->dbase < h->len);
}

/* A transaction file's answer, once it came; until then a read waits. */
static void
mount_read_call(struct mount_handle *h, fuse_req_t req, size_t size,
    uint64_t pos, int flags)
{
	pos = pos >= h->base ? pos - h->base : pos;
	if (!h->asked) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (mount_call_ready(h, pos)) {
		mount_serve_call(h, req, pos, size);
		return;
	}
	if (h->pending != NULL || (flags & O_NONBLOCK)) {
		fuse_reply_err(req, h->pending != NULL ? EBUSY : EAGAIN);
		return;
	}

	h->pending = req;
	h->want = size;
	h->roff = pos;
	h->interrupted = 0;
	fuse_req_interrupt_func(req, mount_interrupt, h);
}

static void
mount_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct mount        *m = fuse_req_userdata(req);
	struct mount_handle *h = mount_handle(fi);
	uint64_t             pos = (uint64_t)off;
	size_t               n;

	switch (h->kind) {
	case NS_VALUE:
	case NS_CTL:
		/* The answer or new snapshot starts where the last write
		 * ended, so that a read after a write on the same
		 * descriptor sees it. */
		pos = pos >= h->base ? pos - h->base : pos;
		mount_reply_slice(req, h->data, h->len, pos, size);
		break;
	case NS_LOG:
		n = events_log_read(pos, m->scratch,
		    size < MOUNT_READ_MAX ? size : MOUNT_READ_MAX);
		fuse_reply_buf(req, m->scratch, n);
		break;
	case NS_STREAM:
		mount_read_stream(m, h, req, size, fi->flags);
		break;
	case NS_CALL:
		mount_read_call(h, req, size, pos, fi->flags);
		break;
	default:
		fuse_reply_err(req, EISDIR);
		break;
	}
}

/*
 * A command's answer, which a read on the handle returns: "ok[ detail]"
 * or "error: <why>".
 */
static void
mount_ctl_answer(struct mount_handle *h, int rc, const char *detail)
{
	char *answer;

	if (rc != 0 && detail[0] == '\0')
		detail = strerror(-rc);
	if (asprintf(&answer, "%s%s%s\n", rc == 0 ? "ok" : "error: ",
	        rc == 0 && detail[0] != '\0' ? " " : "", detail) < 0)
		return;
	free(h->data);
	h->data = answer;
	h->len = strlen(answer);
}

/*
 * The value is all that was written on the handle, set again after each
 * write: a shell's builtins write a value of several lines a line at a
 * time.  A reader on the same handle then sees the new value.
 */
static int
mount_append(struct mount_handle *h, const char *buf, size_t size)
{
	char *w;

	/* Room for the longest value and its newline. */
	if (size > NS_WRITE_MAX + 1 - h->wlen)
		return -EFBIG;
	if ((w = realloc(h->wbuf, h->wlen + size)) == NULL)
		return -ENOMEM;
	memcpy(w + h->wlen, buf, size);
	h->wbuf = w;
	h->wlen += size;
	return 0;
}

/* A reader on the handle that set a value sees the new one. */
static void
mount_reread(struct mount *m, struct mount_handle *h, uid_t uid)
{
	char  *data = NULL;
	size_t len = 0;

	if (h->readable && ns_read(m->ns, h->ino, uid, &data, &len) == 0) {
		free(h->data);
		h->data = data;
		h->len = len;
	}
}

/* Whether the registry refused the call before its action ran: the
 * operation ACL did not let the caller through. */
static int
mount_refused(const struct registry_result *res)
{
	return res->error != NULL && res->error->code == REPLY_FORBIDDEN &&
	    res->errnum == 0;
}

/*
 * Why a call failed, as the writer reads it: the registry's refusal
 * names who asked for what, so that "access denied" says which grant
 * is missing.
 */
static void
mount_why(const struct mount_handle *h, const struct registry_result *res,
    char *buf, size_t len)
{
	const char *msg = res->error->message;

	if (mount_refused(res))
		snprintf(
		    buf, len, "%s: %s may not call %s", msg, h->who, h->opname);
	else
		snprintf(buf, len, "%s", msg);
}

/* The answer of a write that was an operation. */
static void
mount_written(const struct registry_result *res, void *arg)
{
	struct mount_handle *h = arg;
	char                 text[MOUNT_REPLY_MAX];
	fuse_req_t           req = h->wreq;
	int                  rc = opcall_errno(res);

	h->call = NULL;
	h->wreq = NULL;
	if (rc == 0)
		ns_ctl_detail(h->shows, res->output, text, sizeof text);
	else
		mount_why(h, res, text, sizeof text);
	if (h->kind == NS_CTL)
		mount_ctl_answer(h, rc, text);
	/* A value's .error file keeps why the action refused it; a caller
	 * the ACL refused changes nothing, that reason included. */
	if (h->kind == NS_VALUE && !mount_refused(res))
		ns_op_done(h->m->ns, h->ino, rc == 0 ? NULL : text);
	if (h->kind == NS_VALUE && rc == 0)
		mount_reread(h->m, h, h->uid);

	/* A failed command leaves the position, so that its answer is read
	 * where the command was written. */
	if (h->kind == NS_CTL || rc == 0)
		h->base = h->woff + (rc == 0 ? h->wsize : 0);
	if (req != NULL && rc == 0)
		fuse_reply_write(req, h->wsize);
	else if (req != NULL)
		fuse_reply_err(req, -rc);
}

/*
 * Calls op as the local user uid, with cb(arg) told the answer; op's
 * input is dropped.  who (OPCALL_ID_MAX bytes, may be NULL) gets the
 * caller's id.  Returns 0 and *call, or a negative errno with a reason
 * in msg: -ENOTSUP when the node has not got the operation.
 */
static int
mount_call(uid_t uid, struct ns_op *op, opcall_cb cb, void *arg,
    struct opcall **call, char *who, char *msg, size_t msglen)
{
	struct registry  *r = ops_registry();
	struct opcall_who w;
	int               rc = -EIO;

	if (r != NULL && !registry_has(r, op->name)) {
		snprintf(
		    msg, msglen, "%s", op->absent != NULL ? op->absent : "");
		rc = -ENOTSUP;
	} else if (r != NULL &&
	    (rc = opcall_local(uid, ops_grants(), &w)) == 0 &&
	    (rc = opcall_start(r, &w.id, op->name, op->input, cb, arg, call)) ==
	        0 &&
	    who != NULL)
		snprintf(who, OPCALL_ID_MAX, "%s", w.text);
	json_decref(op->input);
	op->input = NULL;
	return rc;
}

/*
 * Calls op, what data written to h stands for, as the writer; the write
 * is answered with the call.  Returns 0, or a negative errno with a
 * reason in msg for the write to answer now.
 */
static int
mount_write_op(struct mount_handle *h, fuse_req_t req, struct ns_op *op,
    size_t size, off_t off, char *msg, size_t msglen)
{
	int rc;

	h->uid = fuse_req_ctx(req)->uid;
	h->shows = op->shows;
	snprintf(h->opname, sizeof h->opname, "%s", op->name);
	rc = mount_call(
	    h->uid, op, mount_written, h, &h->call, h->who, msg, msglen);
	if (rc == 0) {
		h->wreq = req;
		h->wsize = size;
		h->woff = (uint64_t)off;
	}
	return rc;
}

/* How far a subscription's reader may fall behind. */
#define MOUNT_STREAM_MAX ((size_t)1 << 20)

/* The last line of a stream whose reader fell that far behind. */
static char *
mount_too_slow(const char *request_id)
{
	struct reply_error     e = {REPLY_ABORTED, "reader too slow", 0, NULL};
	struct registry_result res = {request_id, NULL, &e, 0, 0};

	return opcall_text(&res);
}

/* Adds line (taken) to what a stream has for its reader. */
static void
mount_stream_add(struct mount_handle *h, char *line)
{
	size_t n = strlen(line);
	char  *data;

	if ((data = realloc(h->data, h->len + n)) == NULL) {
		free(line);
		return;
	}
	memcpy(data + h->len, line, n);
	h->data = data;
	h->len += n;
	free(line);
}

/*
 * A transaction's answer: a blocked read takes it, a poller wakes.  A
 * subscription's values come as lines, one each, and its end as the
 * end of the file.
 */
static void
mount_answered(const struct registry_result *res, void *arg)
{
	struct mount_handle *h = arg;
	fuse_req_t           req = h->pending;
	char                *line = NULL;

	if (res->output != NULL || res->error != NULL)
		line = opcall_text(res);
	if (res->more)
		h->streaming = 1;
	if (!res->more) {
		h->call = NULL;
		h->answered = 1;
	} else if (h->len > MOUNT_STREAM_MAX) {
		/* A reader this far behind gives the subscription up,
		 * and learns so at the end of what it has. */
		free(line);
		line = mount_too_slow(res->request_id);
		opcall_abort(h->call);
		h->call = NULL;
		h->answered = 1;
	}
	if (h->streaming && line != NULL) {
		mount_stream_add(h, line);
	} else if (!h->streaming) {
		free(h->data);
		h->data = line;
		h->len = line != NULL ? strlen(line) : 0;
	}

	if (req != NULL && mount_call_ready(h, h->roff)) {
		h->pending = NULL;
		mount_serve_call(h, req, h->roff, h->want);
	}
	if (h->ph != NULL) {
		fuse_lowlevel_notify_poll(h->ph);
		fuse_pollhandle_destroy(h->ph);
		h->ph = NULL;
	}
}

/*
 * A transaction file's input: one JSON text in one write, called at
 * once; the write returns while the call runs.
 */
static int
mount_write_call(struct mount *m, struct mount_handle *h, fuse_req_t req,
    const char *buf, size_t size)
{
	struct registry  *r = ops_registry();
	struct opcall_who who;
	char              name[REGISTRY_NAME_MAX + 1];
	json_t           *input;
	int               rc;

	if (h->asked)
		return -EBUSY;
	if (size > NS_WRITE_MAX)
		return -EFBIG;
	if ((rc = ns_call_name(m->ns, h->ino, name, sizeof name)) != 0)
		return rc;
	if (r == NULL)
		return -EIO;
	if ((input = json_loadb(buf, size, JSON_DECODE_ANY, NULL)) == NULL)
		return -EINVAL;

	rc = opcall_local(fuse_req_ctx(req)->uid, ops_grants(), &who);
	if (rc == 0)
		rc = opcall_start(
		    r, &who.id, name, input, mount_answered, h, &h->call);
	json_decref(input);
	if (rc == 0)
		h->asked = 1;
	return rc;
}

/* What a write of a command or of more of a value stands for. */
static int
mount_write_of(struct mount *m, struct mount_handle *h, const char *buf,
    size_t size, struct ns_op *op, char *msg, size_t msglen)
{
	int rc;

	if (h->kind == NS_CTL)
		return ns_op_of(m->ns, h->ino, buf, size, op, msg, msglen);
	if (h->kind != NS_VALUE)
		return -EBADF;
	if ((rc = mount_append(h, buf, size)) != 0)
		return rc;
	return ns_op_of(m->ns, h->ino, h->wbuf, h->wlen, op, msg, msglen);
}

static void
mount_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
    off_t off, struct fuse_file_info *fi)
{
	struct mount        *m = fuse_req_userdata(req);
	struct mount_handle *h = mount_handle(fi);
	struct ns_op         op;
	char                 msg[MOUNT_REPLY_MAX] = "";
	int                  rc;

	/* Offsets, O_APPEND and O_TRUNC mean nothing here: a write is one
	 * command, more of a value, or a call's input. */
	if (h->kind == NS_CALL)
		rc = mount_write_call(m, h, req, buf, size);
	else if ((rc = mount_write_of(m, h, buf, size, &op, msg, sizeof msg)) ==
	    1) {
		rc = mount_write_op(h, req, &op, size, off, msg, sizeof msg);
		if (rc == 0)
			return;
	}

	/* A command that failed does not move the file position, so its
	 * answer is read where the command was written. */
	if (h->kind == NS_CTL && rc != 0)
		mount_ctl_answer(h, rc, msg);
	if (h->kind == NS_CTL || rc == 0)
		h->base = (uint64_t)off + (rc == 0 ? size : 0);
	if (rc == 0)
		fuse_reply_write(req, size);
	else
		fuse_reply_err(req, -rc);
}

static void
mount_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	/* A shell flushes before it writes: nothing runs here. */
	fuse_reply_err(req, 0);
}

static void
mount_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	mount_handle_free(mount_handle(fi));
	fuse_reply_err(req, 0);
}

static void
mount_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
    struct fuse_pollhandle *ph)
{
	struct mount        *m = fuse_req_userdata(req);
	struct mount_handle *h = mount_handle(fi);
	unsigned             revents = POLLIN | POLLRDNORM;

	/* Only the stream can wait; other files are always ready.  The
	 * notification for a waiting stream comes from mount_ready(). */
	if (((h->kind == NS_STREAM && h->rest == NULL &&
	         !events_readable(h->sub)) ||
	        (h->kind == NS_CALL && h->asked && !h->answered &&
	            (!h->streaming || h->len == 0))) &&
	    !m->stopping && !m->gone) {
		revents = 0;
		if (ph != NULL) {
			if (h->ph != NULL)
				fuse_pollhandle_destroy(h->ph);
			h->ph = ph;
			ph = NULL;
		}
	} else if (h->kind == NS_CTL)
		revents |= POLLOUT | POLLWRNORM;

	if (ph != NULL)
		fuse_pollhandle_destroy(ph);
	fuse_reply_poll(req, revents);
}

static void
mount_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mount        *m = fuse_req_userdata(req);
	struct mount_handle *h;
	struct ns_dirent    *ents = NULL;
	size_t               n = 0;
	int                  rc;

	/* The listing is taken once, so readdir offsets stay stable. */
	if ((rc = ns_readdir(m->ns, ino, &ents, &n)) != 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	if ((h = mount_handle_new(m, ino, NS_DIR, fuse_req_ctx(req)->uid)) ==
	    NULL) {
		free(ents);
		fuse_reply_err(req, ENFILE);
		return;
	}
	h->ents = ents;
	h->nents = n;
	fi->fh = (uintptr_t)h;
	if (fuse_reply_open(req, fi) == -ENOENT)
		mount_handle_free(h);
}

static void
mount_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct mount        *m = fuse_req_userdata(req);
	struct mount_handle *h = mount_handle(fi);
	struct stat          st;
	size_t               i, pos = 0, len;

	if (size > MOUNT_READ_MAX)
		size = MOUNT_READ_MAX;
	memset(&st, 0, sizeof st);
	for (i = (size_t)off; off >= 0 && i < h->nents; i++) {
		st.st_ino = h->ents[i].ino;
		st.st_mode = h->ents[i].mode;
		len = fuse_add_direntry(req, m->scratch + pos, size - pos,
		    h->ents[i].name, &st, (off_t)(i + 1));
		if (len > size - pos)
			break;
		pos += len;
	}
	fuse_reply_buf(req, m->scratch, pos);
}

static void
mount_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	mount_handle_free(mount_handle(fi));
	fuse_reply_err(req, 0);
}

static void
mount_dirop_free(struct mount_dirop *d)
{
	LIST_REMOVE(d, entry);
	free(d);
}

/* The answer of a mkdir or rmdir: a new directory's entry, or errno. */
static void
mount_dir_done(const struct registry_result *res, void *arg)
{
	struct mount_dirop *d = arg;
	struct ns_attr      a;
	int                 rc = opcall_errno(res);

	if (rc == 0 && d->make && d->req != NULL)
		rc = ns_lookup(d->m->ns, d->parent, d->name, &a);
	if (d->req != NULL && rc == 0 && d->make)
		mount_reply_entry(d->req, &a);
	else if (d->req != NULL)
		fuse_reply_err(d->req, -rc);
	mount_dirop_free(d);
}

/* mkdir (make) or rmdir of name in parent, called as the asker. */
static void
mount_dir(fuse_req_t req, fuse_ino_t parent, const char *name, int make)
{
	struct mount       *m = fuse_req_userdata(req);
	struct mount_dirop *d;
	struct ns_op        op;
	char                msg[MOUNT_REPLY_MAX];
	int                 rc;

	if ((rc = ns_dir_op(m->ns, parent, name, make, &op)) != 1) {
		fuse_reply_err(req, -rc);
		return;
	}
	if ((d = calloc(1, sizeof *d)) == NULL) {
		json_decref(op.input);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	d->m = m;
	d->req = req;
	d->parent = parent;
	d->make = make;
	snprintf(d->name, sizeof d->name, "%s", name);
	LIST_INSERT_HEAD(&m->dirops, d, entry);

	rc = mount_call(fuse_req_ctx(req)->uid, &op, mount_dir_done, d,
	    &d->call, NULL, msg, sizeof msg);
	if (rc != 0) {
		mount_dirop_free(d);
		fuse_reply_err(req, -rc);
	}
}

static void
mount_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	/* The mode asked for is ignored: the tree's modes are fixed. */
	mount_dir(req, parent, name, 1);
}

static void
mount_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	mount_dir(req, parent, name, 0);
}

/* An object's name is what it was made with: commands and other files
 * refer to it by that name. */
static void
mount_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
    fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	fuse_reply_err(req, EPERM);
}

static void
mount_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, EPERM);
}

static void
mount_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
    struct fuse_file_info *fi)
{
	fuse_reply_err(req, EPERM);
}

static const struct fuse_lowlevel_ops mount_ops = {
    .init = mount_init,
    .lookup = mount_lookup,
    .getattr = mount_getattr,
    .setattr = mount_set_attr,
    .open = mount_open,
    .read = mount_read,
    .write = mount_write,
    .flush = mount_flush,
    .release = mount_release,
    .poll = mount_poll,
    .opendir = mount_opendir,
    .readdir = mount_readdir,
    .releasedir = mount_releasedir,
    .mkdir = mount_mkdir,
    .rmdir = mount_rmdir,
    .unlink = mount_unlink,
    .create = mount_create,
    .rename = mount_rename,
};

/* Called by the event bus, from the loop: answer and wake waiters. */
static void
mount_ready(struct events_sub *sub, void *arg)
{
	struct mount_handle *h = arg;
	struct mount        *m = h->m;

	if (h->pending != NULL && mount_answer(m, h, h->pending, h->want))
		h->pending = NULL;
	if (h->ph != NULL) {
		fuse_lowlevel_notify_poll(h->ph);
		fuse_pollhandle_destroy(h->ph);
		h->ph = NULL;
	}
}

static void
mount_on_idle(uv_idle_t *idle)
{
	struct mount        *m = idle->data;
	struct mount_handle *h;
	fuse_req_t           req;

	uv_idle_stop(idle);
	LIST_FOREACH(h, &m->handles, entry)
	{
		if (!h->interrupted)
			continue;
		h->interrupted = 0;
		if ((req = h->pending) != NULL) {
			h->pending = NULL;
			fuse_reply_err(req, EINTR);
		}
	}
}

/* Blocked readers get EOF, pollers a last wakeup, waiting writes, mkdir
 * and rmdir EIO. */
static void
mount_end_readers(struct mount *m)
{
	struct mount_handle *h;
	struct mount_dirop  *d;
	fuse_req_t           req;

	LIST_FOREACH(h, &m->handles, entry)
	{
		if ((req = h->pending) != NULL) {
			h->pending = NULL;
			fuse_reply_buf(req, NULL, 0);
		}
		if ((req = h->wreq) != NULL) {
			h->wreq = NULL;
			fuse_reply_err(req, EIO);
		}
		if (h->ph != NULL) {
			fuse_lowlevel_notify_poll(h->ph);
			fuse_pollhandle_destroy(h->ph);
			h->ph = NULL;
		}
	}
	LIST_FOREACH(d, &m->dirops, entry)
	{
		if ((req = d->req) != NULL) {
			d->req = NULL;
			fuse_reply_err(req, EIO);
		}
	}
}

static void
mount_gone(struct mount *m)
{
	m->gone = 1;
	uv_poll_stop(&m->poll);
	mount_end_readers(m);
}

static void
mount_on_readable(uv_poll_t *poll, int status, int events)
{
	struct mount *m = poll->data;
	int           i, rc;

	if (status < 0) {
		mount_gone(m);
		return;
	}
	for (i = 0; i < MOUNT_BURST; i++) {
		rc = fuse_session_receive_buf(m->se, &m->buf);
		if (rc == -EAGAIN)
			return;
		if (rc == -EINTR)
			continue;

		/* 0 is EOF or ENODEV: unmounted or aborted from outside. */
		if (rc <= 0 || fuse_session_exited(m->se)) {
			mount_gone(m);
			return;
		}
		fuse_session_process_buf(m->se, &m->buf);
	}
}

/*
 * Refuses a directory that is itself a mount point: a live namespace of
 * another daemon, or anything else, is never covered.
 */
static int
mount_check_free(
    const char *dir, const struct stat *st, char *err, size_t errlen)
{
	struct stat parent;
	char        path[PATH_MAX];

	snprintf(path, sizeof path, "%s/..", dir);
	if (stat(path, &parent) == -1)
		return 0;
	if (parent.st_dev == st->st_dev && parent.st_ino != st->st_ino)
		return 0;
	snprintf(err, errlen,
	    "%s is already a mount point (is another "
	    "alknetd running?)",
	    dir);
	return -EBUSY;
}

static int
mount_prepare_dir(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (stat(dir, &st) == -1 && errno == ENOTCONN &&
	    umount2(dir, MNT_DETACH) == -1) {
		snprintf(err, errlen, "cannot detach the stale mount at %s: %s",
		    dir, strerror(errno));
		return -errno;
	}

	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "%s is not a directory", dir);
			return -ENOTDIR;
		}
		return mount_check_free(dir, &st, err, errlen);
	}
	if (errno != ENOENT || mkdir(dir, 0755) == -1) {
		snprintf(
		    err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return -errno;
	}
	return 0;
}

static int
mount_session(struct mount *m, const char *dir, char *err, size_t errlen)
{
	char            *argv[] = {"alknetd", "-o", MOUNT_OPTIONS, NULL};
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	int              fd, flags, rc;

	m->se = fuse_session_new(&args, &mount_ops, sizeof mount_ops, m);
	fuse_opt_free_args(&args);
	if (m->se == NULL) {
		snprintf(err, errlen, "cannot create a FUSE session");
		return -EINVAL;
	}

	errno = 0;
	if (fuse_session_mount(m->se, dir) != 0) {
		rc = errno != 0 ? -errno : -EIO;
		snprintf(err, errlen, "cannot mount FUSE at %s: %s", dir,
		    strerror(-rc));
		return rc;
	}

	fd = fuse_session_fd(m->se);
	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1) {
		rc = -errno;
		snprintf(err, errlen, "cannot make /dev/fuse non-blocking: %s",
		    strerror(errno));
		return rc;
	}
	return 0;
}

static int
mount_watch(struct mount *m, char *err, size_t errlen)
{
	int rc;

	rc = uv_poll_init(m->loop, &m->poll, fuse_session_fd(m->se));
	if (rc != 0) {
		snprintf(
		    err, errlen, "cannot watch /dev/fuse: %s", uv_strerror(rc));
		return rc;
	}
	uv_idle_init(m->loop, &m->idle);
	m->poll.data = m->idle.data = m;
	m->handles_ready = 1;
	uv_poll_start(&m->poll, UV_READABLE, mount_on_readable);
	return 0;
}

static void
mount_on_close(uv_handle_t *handle)
{
	struct mount *m = handle->data;

	if (--m->closing > 0)
		return;
	free(m->scratch);
	free(m);
}

/* Frees everything; the struct itself once the loop closed the handles. */
static void
mount_free(struct mount *m)
{
	struct mount_handle *h;
	struct mount_dirop  *d;

	while ((h = LIST_FIRST(&m->handles)) != NULL)
		mount_handle_free(h);
	while ((d = LIST_FIRST(&m->dirops)) != NULL) {
		opcall_abort(d->call);
		mount_dirop_free(d);
	}
	if (m->se != NULL) {
		fuse_session_unmount(m->se);
		fuse_session_destroy(m->se);
	}
	free(m->buf.mem);
	ns_free(m->ns);

	if (!m->handles_ready) {
		free(m->scratch);
		free(m);
		return;
	}
	m->closing = 2;
	uv_close((uv_handle_t *)&m->poll, mount_on_close);
	uv_close((uv_handle_t *)&m->idle, mount_on_close);
}

int
mount_start(uv_loop_t *loop, struct sshd *sshd, const char *dir,
    struct mount **out, char *err, size_t errlen)
{
	struct mount *m;
	int           rc;

	if ((rc = mount_prepare_dir(dir, err, errlen)) != 0)
		return rc;
	if ((m = calloc(1, sizeof *m)) == NULL ||
	    (m->scratch = malloc(MOUNT_READ_MAX)) == NULL) {
		free(m);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	m->loop = loop;
	LIST_INIT(&m->handles);
	LIST_INIT(&m->dirops);

	if ((rc = ns_new(loop, sshd, &m->ns)) != 0)
		snprintf(err, errlen, "out of memory");
	else if ((rc = mount_session(m, dir, err, errlen)) == 0)
		rc = mount_watch(m, err, errlen);
	if (rc != 0) {
		mount_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void
mount_stop(struct mount *m)
{
	if (m == NULL)
		return;
	m->stopping = 1;

	/* Answer before unmounting: once the descriptor is closed the
	 * kernel fails what is still waiting instead of ending it. */
	mount_end_readers(m);
	uv_poll_stop(&m->poll);
	uv_idle_stop(&m->idle);
	mount_free(m);
}
