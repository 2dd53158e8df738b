/*
 * alknet-secretd: holds the seed and answers calls about it on a unix
 * socket that only listed uids may use.  One libuv loop; every call is
 * answered at once, in the order its connection sent it.
 *
 * Memory that may hold a secret (a mnemonic in a request, a plaintext
 * or the host key in an answer) is wiped before it is freed: the bytes
 * read from a connection, the frames written to it, and everything
 * jansson allocates.
 */
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>
#include <uv.h>

#include "frame.h"
#include "log.h"
#include "secretops.h"
#include "reply.h"
#include "vault.h"

#define DEFAULT_SOCKET "/run/alknet-secretd.sock"
#define MAX_UIDS       16
#define MAX_CONNS      64
#define READ_CHUNK     65536
#define IN_MAX         (FRAME_HEADER + FRAME_MAX_DEFAULT + READ_CHUNK)

struct options {
	const char *socket;
	uid_t       uids[MAX_UIDS];
	int         nuids;
};

struct daemon {
	uv_loop_t      *loop;
	uv_pipe_t       server;
	uv_signal_t     sigterm;
	uv_signal_t     sigint;
	struct options *o;
	struct vault   *vault;
	struct conn    *conns; /* every open connection */
	int             nconns;
	int             stopping;
};

/* One client.  Bytes read sit in in[start, len); in has cap bytes. */
struct conn {
	uv_pipe_t      pipe;
	struct daemon *d;
	struct conn   *next, **prevp;
	unsigned char *in;
	size_t         start, len, cap;
	int            paused;  /* an answer is still being written */
	int            closing; /* uv_close called, or to be after a write */
};

struct write_req {
	uv_write_t   req;
	struct conn *c;
	void        *buf;
	size_t       len;
};

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	char    msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_info("error: %s", msg);
	exit(1);
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: alknet-secretd [--socket PATH] [--allow-uid UID[,UID...]]\n"
	    "\n"
	    "  --socket PATH          the unix socket to answer on, created\n"
	    "                         mode 0600 (default " DEFAULT_SOCKET ")\n"
	    "  --allow-uid UID[,UID...]\n"
	    "                         the uids whose calls are answered\n"
	    "                         (default 0)\n"
	    "\n"
	    "Starts locked.  `alknet unlock` or `alknet generate` gives it\n"
	    "the seed; see docs/secretd.md.\n");
}

/* A uid: decimal digits only, and not (uid_t)-1, which means none. */
static uid_t
options_uid(const char *s, size_t len)
{
	unsigned long long v = 0;
	size_t             i;

	if (len == 0 || len > 10)
		die("--allow-uid: want uids separated by commas");
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			die("--allow-uid: want uids separated by commas");
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v >= (uid_t)-1)
		die("--allow-uid: uid %llu out of range", v);
	return (uid_t)v;
}

static void
options_uids(struct options *o, const char *list)
{
	const char *p = list, *comma;

	o->nuids = 0;
	for (;;) {
		if (o->nuids == MAX_UIDS)
			die("--allow-uid: at most %d uids", MAX_UIDS);
		comma = strchr(p, ',');
		o->uids[o->nuids++] = options_uid(
		    p, comma != NULL ? (size_t)(comma - p) : strlen(p));
		if (comma == NULL)
			break;
		p = comma + 1;
	}
}

static void
options_parse(struct options *o, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"allow-uid", required_argument, NULL, 'u'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	o->socket = DEFAULT_SOCKET;
	o->uids[0] = 0;
	o->nuids = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			o->socket = optarg;
			break;
		case 'u':
			options_uids(o, optarg);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("alknet-secretd %s\n", ALKNET_VERSION);
			exit(0);
		case ':':
			die("option %s needs a value", argv[optind - 1]);
		default:
			die("unknown option %s (see alknet-secretd --help)",
			    argv[optind - 1]);
		}
	}
	if (optind < argc)
		die("unexpected argument %s (see alknet-secretd --help)",
		    argv[optind]);
}

/* jansson's memory may hold a request's mnemonic: wipe it when freed. */
static void
json_wipe_free(void *p)
{
	if (p == NULL)
		return;
	sodium_memzero(p, malloc_usable_size(p));
	free(p);
}

/* Frees len bytes at p, wiped first; accepts NULL. */
static void
wipe_free(void *p, size_t len)
{
	if (p == NULL)
		return;
	sodium_memzero(p, len);
	free(p);
}

/*
 * No core file, no ptrace by other processes of the same uid, and the
 * whole address space kept out of swap where the limit allows it.  The
 * seed and derived keys are in locked buffers whatever happens here.
 */
static void
harden(void)
{
	struct rlimit no_core = {0, 0}, mem = {RLIM_INFINITY, RLIM_INFINITY};

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		die("cannot make the process undumpable: %s", strerror(errno));
	if (setrlimit(RLIMIT_CORE, &no_core) != 0)
		die("cannot refuse core dumps: %s", strerror(errno));

	/* Locking on fault keeps untouched reservations unpopulated. */
	if (setrlimit(RLIMIT_MEMLOCK, &mem) != 0 ||
	    mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0)
		log_info("memory not locked reason=\"%s\": only secret "
		         "buffers are",
		    strerror(errno));
}

static void
on_conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	wipe_free(c->in, c->cap);
	free(c);
}

static void
conn_close(struct conn *c)
{
	if (uv_is_closing((uv_handle_t *)&c->pipe))
		return;
	c->closing = 1;
	*c->prevp = c->next;
	if (c->next != NULL)
		c->next->prevp = c->prevp;
	c->d->nconns--;
	uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
}

static void conn_process(struct conn *c);
static int  conn_read(struct conn *c);

static void
on_write(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct conn      *c = w->c;

	wipe_free(w->buf, w->len);
	free(w);
	if (uv_is_closing((uv_handle_t *)&c->pipe))
		return;
	if (status != 0 || c->closing) {
		conn_close(c);
		return;
	}

	/* The answer is out: the requests that waited for it go on. */
	if (c->paused &&
	    uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) == 0) {
		c->paused = 0;
		conn_process(c);
		if (!c->closing && !c->paused && conn_read(c) != 0)
			conn_close(c);
	}
}

/* Writes a frame (buf, len: malloc'ed, taken over) to c. */
static int
conn_send(struct conn *c, void *buf, size_t len)
{
	struct write_req *w;
	uv_buf_t          b = uv_buf_init(buf, (unsigned)len);
	int               rc;

	if ((w = calloc(1, sizeof *w)) == NULL) {
		wipe_free(buf, len);
		return -ENOMEM;
	}
	w->c = c;
	w->buf = buf;
	w->len = len;
	if ((rc = uv_write(
	         &w->req, (uv_stream_t *)&c->pipe, &b, 1, on_write)) != 0) {
		wipe_free(buf, len);
		free(w);
		return rc;
	}

	/* One answer in flight at a time bounds what a slow reader costs. */
	if (uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) > 0) {
		c->paused = 1;
		uv_read_stop((uv_stream_t *)&c->pipe);
	}
	return 0;
}

/* Answers request id with output, or with err when it is not NULL. */
static int
conn_reply(struct conn *c, const char *id, json_t *output,
    const struct reply_error *err)
{
	void  *buf = NULL;
	size_t len;
	int    rc;

	if ((rc = reply_encode(id, output, err, &buf, &len)) != 0)
		return rc;
	return conn_send(c, buf, len);
}

static void
log_call_failed(const char *op, const struct reply_error *err)
{
	char name[80];

	log_info("call failed op=%s code=%s", log_escape(name, sizeof name, op),
	    reply_code_name(err->code));
}

static const struct reply_error bad_request = {REPLY_INVALID_INPUT,
    "call.requested needs a payload with a string operationId", 0, NULL};

/* Runs the call request f asks for and answers it. */
static int
conn_call(struct conn *c, const struct frame *f)
{
	struct daemon          *d = c->d;
	struct secretops_result r;
	const char             *op;
	int                     was, rc;

	op = json_string_value(json_object_get(f->payload, "operationId"));
	if (op == NULL)
		return conn_reply(c, f->id, NULL, &bad_request);

	was = vault_unlocked(d->vault);
	if (secretops_call(
	        d->vault, op, json_object_get(f->payload, "input"), &r) != 0) {
		log_call_failed(op, &r.err);
		return conn_reply(c, f->id, NULL, &r.err);
	}
	if (was != vault_unlocked(d->vault))
		log_info("%s", was ? "locked" : "unlocked");
	rc = conn_reply(c, f->id, r.output, NULL);
	json_decref(r.output);
	return rc;
}

/* What a frame asks for; anything but a call or an abort ends c. */
static void
conn_frame(struct conn *c, const struct frame *f)
{
	int rc;

	switch (f->type) {
	case FRAME_REQUESTED:
		if ((rc = conn_call(c, f)) != 0) {
			log_info("connection closed reason=\"%s\"",
			    rc == -ENOMEM ? "out of memory" : "cannot answer");
			conn_close(c);
		}
		break;
	case FRAME_ABORTED:
		/* Every call is answered before the next is read. */
		break;
	default:
		log_info("connection closed reason=\"unexpected %s\"",
		    frame_type_name(f->type));
		conn_close(c);
	}
}

/* Moves the unread bytes to the front, wiping what they leave. */
static void
conn_compact(struct conn *c)
{
	size_t left = c->len - c->start;

	if (c->start == 0)
		return;
	memmove(c->in, c->in + c->start, left);
	sodium_memzero(c->in + left, c->len - left);
	c->start = 0;
	c->len = left;
}

/* Answers every whole frame read so far, unless an answer is pending. */
static void
conn_process(struct conn *c)
{
	struct frame   f;
	enum frame_err why;
	size_t         size;
	int            rc;

	while (!c->paused && !c->closing) {
		rc = frame_decode(c->in + c->start, c->len - c->start,
		    FRAME_MAX_DEFAULT, &f, &size, &why);
		if (rc == -EAGAIN)
			break;
		if (rc != 0) {
			log_info("connection closed reason=\"%s\"",
			    rc == -ENOMEM ? "out of memory"
			                  : frame_strerror(why));
			conn_close(c);
			return;
		}
		c->start += size;
		conn_frame(c, &f);
		frame_release(&f);
	}
	conn_compact(c);
}

/* Room for at least one more chunk; old bytes are wiped, not left. */
static int
conn_grow(struct conn *c)
{
	unsigned char *in;
	size_t         cap;

	conn_compact(c);
	if (c->cap - c->len >= READ_CHUNK)
		return 0;
	cap =
	    c->cap * 2 > c->len + READ_CHUNK ? c->cap * 2 : c->len + READ_CHUNK;
	if (cap > IN_MAX)
		cap = IN_MAX;
	if (cap - c->len < READ_CHUNK || (in = malloc(cap)) == NULL)
		return -ENOMEM;

	if (c->len > 0)
		memcpy(in, c->in, c->len);
	wipe_free(c->in, c->cap);
	c->in = in;
	c->cap = cap;
	return 0;
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;

	if (conn_grow(c) != 0) {
		*buf = uv_buf_init(NULL, 0); /* read fails with UV_ENOBUFS */
		return;
	}
	*buf = uv_buf_init((char *)c->in + c->len, (unsigned)READ_CHUNK);
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct conn *c = s->data;

	if (n < 0) {
		if (n != UV_EOF)
			log_info("connection closed reason=\"%s\"",
			    uv_strerror((int)n));
		conn_close(c);
		return;
	}
	c->len += (size_t)n;
	conn_process(c);
}

static int
conn_read(struct conn *c)
{
	return uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
}

/* Whether the peer of c runs as an allowed uid. */
static int
conn_allowed(struct conn *c, uid_t *uid)
{
	const struct options *o = c->d->o;
	struct ucred          cred;
	socklen_t             len = sizeof cred;
	uv_os_fd_t            fd;
	int                   i;

	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return 0;
	*uid = cred.uid;
	for (i = 0; i < o->nuids; i++) {
		if (o->uids[i] == cred.uid)
			return 1;
	}
	return 0;
}

static const struct reply_error denied = {REPLY_FORBIDDEN,
    "access denied: this uid may not use alknet-secretd", 0, NULL};

/* Tells a peer it may not call, then closes once that is written. */
static void
conn_refuse(struct conn *c, uid_t uid)
{
	log_info("connection refused uid=%ld", (long)uid);
	c->closing = 1;
	if (conn_reply(c, "", NULL, &denied) != 0)
		conn_close(c);
}

static void
on_connection(uv_stream_t *server, int status)
{
	struct daemon *d = server->data;
	struct conn   *c;
	uid_t          uid = (uid_t)-1;

	if (status != 0 || (c = calloc(1, sizeof *c)) == NULL)
		return;
	c->d = d;
	uv_pipe_init(d->loop, &c->pipe, 0);
	c->pipe.data = c;
	c->next = d->conns;
	c->prevp = &d->conns;
	if (d->conns != NULL)
		d->conns->prevp = &c->next;
	d->conns = c;
	d->nconns++;

	if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0) {
		conn_close(c);
		return;
	}
	if (d->nconns > MAX_CONNS) {
		log_info("connection refused reason=\"over %d connections\"",
		    MAX_CONNS);
		conn_close(c);
		return;
	}
	if (!conn_allowed(c, &uid)) {
		conn_refuse(c, uid);
		return;
	}
	if (conn_read(c) != 0)
		conn_close(c);
}

/*
 * A socket file left by a daemon that died is replaced; one that a
 * live daemon answers on, or a file of another kind, is not.
 */
static void
socket_clear(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct stat        st;
	int                fd, rc;

	if (lstat(path, &st) != 0) {
		if (errno != ENOENT)
			die("%s: %s", path, strerror(errno));
		return;
	}
	if (!S_ISSOCK(st.st_mode))
		die("%s exists and is not a socket; not replacing it", path);

	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		die("socket: %s", strerror(errno));
	rc = connect(fd, (struct sockaddr *)&sun, sizeof sun);
	close(fd);
	if (rc == 0)
		die("%s: another alknet-secretd answers there", path);
	if (errno != ECONNREFUSED)
		die("%s: %s", path, strerror(errno));
	if (unlink(path) != 0)
		die("cannot remove the stale socket %s: %s", path,
		    strerror(errno));
}

static void
daemon_listen(struct daemon *d)
{
	struct sockaddr_un sun;
	const char        *path = d->o->socket;
	mode_t             old;
	int                rc;

	if (*path == '\0' || strlen(path) >= sizeof sun.sun_path)
		die("--socket %s: want a path of 1 to %zu bytes", path,
		    sizeof sun.sun_path - 1);
	socket_clear(path);

	uv_pipe_init(d->loop, &d->server, 0);
	d->server.data = d;

	/* The socket is born 0600: there is no moment when others reach it. */
	old = umask(0177);
	rc = uv_pipe_bind(&d->server, path);
	umask(old);
	if (rc != 0)
		die("cannot bind %s: %s", path, uv_strerror(rc));
	if ((rc = uv_listen((uv_stream_t *)&d->server, 16, on_connection)) != 0)
		die("cannot listen on %s: %s", path, uv_strerror(rc));
	log_info("listening socket=%s", path);
}

static void
daemon_stop(struct daemon *d)
{
	if (d->stopping)
		return;
	d->stopping = 1;
	while (d->conns != NULL)
		conn_close(d->conns);
	uv_close((uv_handle_t *)&d->server, NULL);
	unlink(d->o->socket);
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sigint, NULL);
}

static void
on_signal(uv_signal_t *h, int signum)
{
	daemon_stop(h->data);
}

static void
daemon_signals(struct daemon *d)
{
	signal(SIGPIPE, SIG_IGN);
	uv_signal_init(d->loop, &d->sigterm);
	uv_signal_init(d->loop, &d->sigint);
	d->sigterm.data = d->sigint.data = d;
	uv_signal_start(&d->sigterm, on_signal, SIGTERM);
	uv_signal_start(&d->sigint, on_signal, SIGINT);
}

int
main(int argc, char **argv)
{
	struct options o;
	struct daemon  d;

	memset(&o, 0, sizeof o);
	memset(&d, 0, sizeof d);
	log_init("alknet-secretd");
	options_parse(&o, argc, argv);
	harden();
	if (sodium_init() < 0)
		die("cannot initialise libsodium");
	json_set_alloc_funcs(malloc, json_wipe_free);
	if (vault_new(&d.vault) != 0)
		die("out of memory");

	d.o = &o;
	d.loop = uv_default_loop();
	daemon_listen(&d);
	daemon_signals(&d);
	log_info("ready pid=%ld", (long)getpid());

	uv_run(d.loop, UV_RUN_DEFAULT);

	uv_loop_close(d.loop);
	vault_free(d.vault);
	log_info("stopped");
	return 0;
}
