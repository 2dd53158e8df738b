/*
 * The namespace without FUSE: inode numbers, control-line parsing, the
 * operations commands stand for and their checks, the tree over a node
 * with no SSH server, forwards made with mkdir and with commands,
 * upstreams, the rules of acl/ over a server made in a temporary
 * directory, and flowgraph/ over a registry.  Writes go through the
 * registry as the mount sends them (nsrun.h).
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "events.h"
#include "forward.h"
#include "keys.h"
#include "listener.h"
#include "ns.h"
#include "ns_ctl.h"
#include "nsrun.h"
#include "penalty.h"
#include "registry.h"
#include "sshd.h"
#include "upstream.h"

#define ROOT 1

static void
test_ino_round_trip(void **state)
{
	const uint64_t objs[] = {
	    0, 1, 2, 7, 1000, UINT64_C(1) << 32, NS_OBJ_MAX - 1, NS_OBJ_MAX};
	unsigned cls, field, c, fl;
	uint64_t obj, ino;
	size_t   i;

	for (c = NS_LISTENER; c < NS_NCLASSES; c++) {
		for (i = 0; i < sizeof objs / sizeof objs[0]; i++) {
			for (fl = 0; fl <= NS_FIELD_MAX; fl++) {
				ino = ns_ino(c, objs[i], fl);
				assert_true(ino != 0);
				ns_ino_split(ino, &cls, &obj, &field);
				assert_int_equal(cls, c);
				assert_int_equal(obj, objs[i]);
				assert_int_equal(field, fl);
			}
		}
	}

	/* The root is FUSE's inode 1; top entries have no fields. */
	assert_int_equal(ns_ino(NS_TOP, 1, 0), ROOT);
	ns_ino_split(ROOT, &cls, &obj, &field);
	assert_int_equal(cls, NS_TOP);
	assert_int_equal(obj, 1);
	assert_int_equal(field, 0);
	assert_int_equal(ns_ino(NS_TOP, 0, 0), 0);
	assert_int_equal(ns_ino(NS_TOP, 2, 1), 0);
}

static void
test_ino_out_of_range(void **state)
{
	unsigned cls, field;
	uint64_t obj;

	assert_int_equal(ns_ino(NS_SESSION, NS_OBJ_MAX + 1, 0), 0);
	assert_int_equal(ns_ino(NS_SESSION, 1, NS_FIELD_MAX + 1), 0);
	assert_int_equal(ns_ino(NS_NCLASSES, 1, 0), 0);

	/* Different objects of different classes never share a number. */
	assert_true(ns_ino(NS_SESSION, 5, 0) != ns_ino(NS_CHANNEL, 5, 0));
	assert_true(ns_ino(NS_SESSION, 5, 1) != ns_ino(NS_SESSION, 5, 2));

	ns_ino_split(UINT64_MAX, &cls, &obj, &field);
	assert_true(cls >= NS_NCLASSES);
}

static void
test_parse_words(void **state)
{
	struct ns_cmd cmd;
	const char   *line;
	char          err[256];

	assert_int_equal(ns_ctl_parse("reload", 6, &cmd, err, sizeof err), 0);
	assert_string_equal(cmd.verb, "reload");
	assert_int_equal(cmd.nargs, 0);
	assert_int_equal(cmd.nopts, 0);

	line = " listen\t tcp://127.0.0.1:0  name=a\n";
	assert_int_equal(
	    ns_ctl_parse(line, strlen(line), &cmd, err, sizeof err), 0);
	assert_string_equal(cmd.verb, "listen");
	assert_int_equal(cmd.nargs, 1);
	assert_string_equal(cmd.args[0], "tcp://127.0.0.1:0");
	assert_int_equal(cmd.nopts, 1);
	assert_string_equal(cmd.keys[0], "name");
	assert_string_equal(cmd.values[0], "a");
	assert_string_equal(ns_ctl_option(&cmd, "name"), "a");
	assert_null(ns_ctl_option(&cmd, "via"));

	/* A value may hold '='; CRLF ends a line too. */
	assert_int_equal(
	    ns_ctl_parse("x a=b=c\r\n", 9, &cmd, err, sizeof err), 0);
	assert_string_equal(ns_ctl_option(&cmd, "a"), "b=c");

	/* The data need not be NUL-terminated. */
	assert_int_equal(ns_ctl_parse("closeXYZ", 5, &cmd, err, sizeof err), 0);
	assert_string_equal(cmd.verb, "close");
}

static void
expect_bad(const char *data, size_t len, const char *word)
{
	struct ns_cmd cmd;
	char          err[256] = "";

	assert_int_equal(
	    ns_ctl_parse(data, len, &cmd, err, sizeof err), -EINVAL);
	if (strstr(err, word) == NULL)
		fail_msg("reason \"%s\" lacks \"%s\"", err, word);
}

#define BAD(s, word) expect_bad(s, sizeof(s) - 1, word)

static void
test_parse_errors(void **state)
{
	char          line[NS_CTL_LINE_MAX + 2];
	struct ns_cmd cmd;
	char          err[256];
	int           i;

	BAD("", "empty");
	BAD("\n", "empty");
	BAD(" \t ", "empty");
	BAD("a\0b", "control");
	BAD("a\nb", "control");
	BAD("x k=", "without a value");
	BAD("x k=1 k=2", "twice");
	BAD("k=v", "verb");
	BAD("v 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17", "words");

	/* 4096 bytes and a newline pass, one byte more does not. */
	memset(line, 'a', sizeof line);
	line[NS_CTL_LINE_MAX] = '\n';
	assert_int_equal(
	    ns_ctl_parse(line, NS_CTL_LINE_MAX + 1, &cmd, err, sizeof err), 0);
	assert_int_equal(strlen(cmd.verb), NS_CTL_LINE_MAX);
	expect_bad(line, NS_CTL_LINE_MAX + 2, "longer");
	line[NS_CTL_LINE_MAX] = 'a';
	expect_bad(line, NS_CTL_LINE_MAX + 1, "longer");

	/* Words that do not start with an option name are arguments. */
	assert_int_equal(
	    ns_ctl_parse("x =v AAAA== Ab=c k=v", 20, &cmd, err, sizeof err), 0);
	assert_int_equal(cmd.nargs, 3);
	assert_string_equal(cmd.args[0], "=v");
	assert_string_equal(cmd.args[1], "AAAA==");
	assert_string_equal(cmd.args[2], "Ab=c");
	assert_int_equal(cmd.nopts, 1);
	assert_string_equal(cmd.keys[0], "k");

	/* Sixteen words are the most. */
	memset(line, 0, sizeof line);
	strcpy(line, "v");
	for (i = 0; i < NS_CTL_WORDS; i++)
		strcat(line, " w");
	assert_int_equal(
	    ns_ctl_parse(line, strlen(line), &cmd, err, sizeof err), 0);
	assert_int_equal(cmd.nargs, NS_CTL_WORDS);
}

/* A command of the node's ctl, called on a node with no SSH server. */
static int
exec_node(const char *line, char *msg, size_t len)
{
	struct nsrun_answer a;
	struct ns_cmd       cmd;
	struct ns_op        op;
	int                 rc;

	assert_int_equal(ns_ctl_parse(line, strlen(line), &cmd, msg, len), 0);
	if ((rc = ns_ctl_op(NS_CTL_NODE, NULL, &cmd, &op, msg, len)) != 0)
		return rc;
	rc = nsrun_call(&op, &a);
	snprintf(msg, len, "%s", a.text);
	return rc;
}

static uv_loop_t bare_loop;

static int
bare_setup(void **state)
{
	assert_int_equal(uv_loop_init(&bare_loop), 0);
	nsrun_start(&bare_loop, NULL, NULL);
	return 0;
}

static int
bare_teardown(void **state)
{
	nsrun_stop();
	uv_run(&bare_loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&bare_loop), 0);
	return 0;
}

static void
test_exec_checks(void **state)
{
	char msg[256];

	assert_int_equal(exec_node("bogus", msg, sizeof msg), -EINVAL);
	assert_string_equal(msg, "unknown command bogus");
	assert_int_equal(exec_node("unlisten", msg, sizeof msg), -EINVAL);
	assert_non_null(strstr(msg, "usage: unlisten NAME"));
	assert_int_equal(exec_node("unlisten a b", msg, sizeof msg), -EINVAL);
	assert_int_equal(
	    exec_node("listen tcp://127.0.0.1:0 port=1", msg, sizeof msg),
	    -EINVAL);
	assert_non_null(strstr(msg, "unknown option port"));
	assert_int_equal(exec_node("reload now", msg, sizeof msg), -EINVAL);
	assert_int_equal(exec_node("close", msg, sizeof msg), -EINVAL);

	/* Well-formed commands reach core's answers. */
	assert_int_equal(
	    exec_node("unlisten nosuch", msg, sizeof msg), -ENOENT);
	assert_non_null(strstr(msg, "nosuch"));
	assert_int_equal(exec_node("reload", msg, sizeof msg), -ENOTSUP);
}

/* The operation line stands for on target's object self, as sorted
 * JSON after the name: "/forwards/up {\"name\":\"db\"}". */
static char *
bridge(enum ns_ctl_target target, const char *self, const char *line)
{
	struct ns_cmd cmd;
	struct ns_op  op;
	char          msg[256], *text, *out;

	assert_int_equal(
	    ns_ctl_parse(line, strlen(line), &cmd, msg, sizeof msg), 0);
	if (ns_ctl_op(target, self, &cmd, &op, msg, sizeof msg) != 0)
		fail_msg("\"%s\" refused: %s", line, msg);
	text = json_dumps(op.input, JSON_COMPACT | JSON_SORT_KEYS);
	assert_true(asprintf(&out, "%s %s", op.name, text) > 0);
	free(text);
	json_decref(op.input);
	return out;
}

static void
expect_bridge(enum ns_ctl_target target, const char *self, const char *line,
    const char *want)
{
	char *got = bridge(target, self, line);

	if (strcmp(got, want) != 0)
		fail_msg("\"%s\" is %s, not %s", line, got, want);
	free(got);
}

static void
test_bridge(void **state)
{
	expect_bridge(NS_CTL_NODE, NULL, "unforward db",
	    "/forwards/remove {\"name\":\"db\"}");
	expect_bridge(NS_CTL_NODE, NULL, "reload", "/node/reload {}");
	expect_bridge(NS_CTL_NODE, NULL, "listen tcp://127.0.0.1:0 name=l",
	    "/listeners/add {\"name\":\"l\",\"uri\":\"tcp://127.0.0.1:0\"}");
	expect_bridge(NS_CTL_NODE, NULL,
	    "connect tcp://h:1 identity=/k name=up hostkey=SHA256:x",
	    "/upstreams/connect {\"hostkey\":\"SHA256:x\",\"identity\":\"/k\","
	    "\"name\":\"up\",\"uri\":\"tcp://h:1\"}");
	expect_bridge(NS_CTL_NODE, NULL,
	    "forward remote 127.0.0.1:15432 db:5432 via=head",
	    "/forwards/add {\"kind\":\"remote\",\"listen\":\"127.0.0.1:15432\","
	    "\"target\":\"db:5432\",\"via\":\"head\"}");
	expect_bridge(NS_CTL_NODE, NULL, "forward local 8080:web:80 name=w",
	    "/forwards/add {\"kind\":\"local\",\"listen\":\"127.0.0.1:8080\","
	    "\"name\":\"w\",\"target\":\"web:80\"}");
	expect_bridge(NS_CTL_NODE, NULL, "socks [::1]:1080",
	    "/forwards/add {\"kind\":\"socks\",\"listen\":\"[::1]:1080\"}");
	expect_bridge(NS_CTL_NODE, NULL,
	    "identity add ann ssh-ed25519 AAAA= ann@x scopes=a:b",
	    "/identities/add {\"key\":\"ssh-ed25519 AAAA= ann@x\","
	    "\"name\":\"ann\",\"scopes\":\"a:b\"}");
	expect_bridge(NS_CTL_NODE, NULL, "identity remove ann",
	    "/identities/remove {\"name\":\"ann\"}");
	expect_bridge(
	    NS_CTL_NODE, NULL, "token abc", "/auth/token {\"token\":\"abc\"}");

	/* An object's ctl names its object: sessions and channels by
	 * number. */
	expect_bridge(
	    NS_CTL_SESSION, "7", "close", "/sessions/close {\"id\":7}");
	expect_bridge(
	    NS_CTL_CHANNEL, "12", "close", "/channels/close {\"id\":12}");
	expect_bridge(
	    NS_CTL_FORWARD, "db", "up", "/forwards/up {\"name\":\"db\"}");
	expect_bridge(NS_CTL_LISTENER, "l", "close",
	    "/listeners/remove {\"name\":\"l\"}");
	expect_bridge(NS_CTL_UPSTREAM, "head", "disconnect",
	    "/upstreams/disconnect {\"name\":\"head\"}");
	expect_bridge(NS_CTL_IDENTITY, "ann", "remove",
	    "/identities/remove {\"name\":\"ann\"}");
}

static void
test_bridge_refusals(void **state)
{
	const char   *bad[] = {"bogus", "reload now", "listen", "unlisten a b",
	      "listen tcp://h:1 port=2", "connect tcp://h:1",
	      "forward sideways 1 h:2", "forward local nonsense",
	      "identity add ann ssh-ed25519", "identity remove ann scopes=x",
	      "identity drop ann"};
	struct ns_cmd cmd;
	struct ns_op  op;
	char          msg[256];
	size_t        i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(
		    ns_ctl_parse(bad[i], strlen(bad[i]), &cmd, msg, sizeof msg),
		    0);
		assert_int_equal(
		    ns_ctl_op(NS_CTL_NODE, NULL, &cmd, &op, msg, sizeof msg),
		    -EINVAL);
		assert_null(op.input);
		assert_true(msg[0] != '\0');
	}
	assert_int_equal(ns_ctl_parse("up", 2, &cmd, msg, sizeof msg), 0);
	assert_int_equal(
	    ns_ctl_op(NS_CTL_SESSION, "7", &cmd, &op, msg, sizeof msg),
	    -EINVAL);
	assert_string_equal(msg, "unknown command up");
}

static void
test_detail(void **state)
{
	const char *const shows[NS_CTL_SHOWS] = {"name", "uri", "n"};
	json_t           *out;
	char              buf[64];

	out = json_pack("{s:s,s:s,s:i,s:s}", "uri", "tcp://h:1", "name", "l",
	    "n", 3, "other", "x");
	ns_ctl_detail(shows, out, buf, sizeof buf);
	assert_string_equal(buf, "name=l uri=tcp://h:1 n=3");
	json_decref(out);

	/* What the output lacks is left out; nothing to show is "". */
	out = json_pack("{s:s}", "uri", "u");
	ns_ctl_detail(shows, out, buf, sizeof buf);
	assert_string_equal(buf, "uri=u");
	ns_ctl_detail(NULL, out, buf, sizeof buf);
	assert_string_equal(buf, "");
	json_decref(out);
}

static void
test_ino_classes_apart(void **state)
{
	uint64_t seen[NS_NCLASSES * 3];
	unsigned c, cls, field;
	uint64_t obj;
	size_t   i, j, n = 0;

	/* Directory, first file and last file of object 1 of every class
	 * are numbers no other class uses. */
	for (c = NS_LISTENER; c < NS_NCLASSES; c++) {
		seen[n++] = ns_ino(c, 1, 0);
		seen[n++] = ns_ino(c, 1, 1);
		seen[n++] = ns_ino(c, 1, NS_FIELD_MAX);
	}
	for (i = 0; i < n; i++) {
		assert_true(seen[i] != 0);
		for (j = i + 1; j < n; j++)
			assert_true(seen[i] != seen[j]);
	}

	ns_ino_split(ns_ino(NS_FORWARD, 42, 3), &cls, &obj, &field);
	assert_int_equal(cls, NS_FORWARD);
	assert_int_equal(obj, 42);
	assert_int_equal(field, 3);
	ns_ino_split(ns_ino(NS_ACL, 1, 2), &cls, &obj, &field);
	assert_int_equal(cls, NS_ACL);
	assert_int_equal(obj, 1);
	assert_int_equal(field, 2);
	ns_ino_split(ns_ino(NS_UPSTREAM, NS_OBJ_MAX, 0), &cls, &obj, &field);
	assert_int_equal(cls, NS_UPSTREAM);
	assert_int_equal(obj, NS_OBJ_MAX);
}

static void
expect_exec(const char *line, int rc, const char *word)
{
	char msg[512];

	assert_int_equal(exec_node(line, msg, sizeof msg), rc);
	if (word != NULL && strstr(msg, word) == NULL)
		fail_msg(
		    "\"%s\" answered \"%s\", lacking \"%s\"", line, msg, word);
}

static void
test_exec_worker_checks(void **state)
{
	/* connect: one URI, an absolute identity, known options only. */
	expect_exec("connect tcp://127.0.0.1:1", -EINVAL, "identity=PATH");
	expect_exec("connect identity=/k", -EINVAL, "usage: connect URI");
	expect_exec("connect a b identity=/k", -EINVAL, "usage: connect");
	expect_exec("connect tcp://127.0.0.1:1 identity=k", -EINVAL,
	    "identity must be an absolute path");
	expect_exec("connect tcp://127.0.0.1:1 identity=/k cert=c", -EINVAL,
	    "cert must be an absolute path");
	expect_exec("connect tcp://127.0.0.1:1 identity=/k port=2", -EINVAL,
	    "unknown option port");
	expect_exec("disconnect", -EINVAL, "usage: disconnect NAME");
	expect_exec("disconnect a b", -EINVAL, "usage: disconnect NAME");

	/* forward: a kind and one spec or a listen and a target. */
	expect_exec("forward", -EINVAL, "usage: forward local|remote");
	expect_exec("forward local", -EINVAL, "usage: forward");
	expect_exec("forward local 1 h:2 x", -EINVAL, "usage: forward");
	expect_exec("forward sideways 1 h:2", -EINVAL, "local or remote");
	expect_exec("forward socks 1 h:2", -EINVAL, "local or remote");
	expect_exec("forward local 1 h:2 user=u", -EINVAL, "unknown option");
	expect_exec(
	    "forward local 1 h:2 name=a/b", -EINVAL, "bad forward name");
	expect_exec("forward local 1 h:2 name=..", -EINVAL, "bad forward name");
	expect_exec("socks", -EINVAL, "usage: socks");
	expect_exec("socks 1 2", -EINVAL, "usage: socks");
	expect_exec("socks 1 target=h:2", -EINVAL, "unknown option target");
	expect_exec("socks 1 name=a:b", -EINVAL, "bad forward name");
	expect_exec("unforward", -EINVAL, "usage: unforward NAME");

	/* Well-formed commands reach core. */
	expect_exec("disconnect nosuch", -ENOENT, "nosuch");
	expect_exec("unforward nosuch", -ENOENT, "nosuch");
	expect_exec("forward local nonsense", -EINVAL, NULL);
	assert_int_equal(forward_count(), 0);
}

struct tree {
	uv_loop_t    loop;
	struct ns   *ns;
	struct sshd *sshd;
	char         dir[64]; /* the server's files, "" without one */
	char         key[128];
};

static int
tree_setup(void **state)
{
	struct tree *t = calloc(1, sizeof *t);

	assert_non_null(t);
	assert_int_equal(uv_loop_init(&t->loop), 0);
	assert_int_equal(events_init(&t->loop, 1 << 16, 100, 0, 0), 0);
	assert_int_equal(ns_new(&t->loop, NULL, &t->ns), 0);
	nsrun_start(&t->loop, NULL, NULL);
	*state = t;
	return 0;
}

/* A tree over an SSH server whose files live in a temporary directory;
 * t->key is an Ed25519 key to dial upstreams with. */
static int
tree_sshd_setup(void **state)
{
	struct tree *t = calloc(1, sizeof *t);
	char         host[128], ak[128], err[512];
	FILE        *f;
	int          created;

	assert_non_null(t);
	snprintf(t->dir, sizeof t->dir, "/tmp/alknet-test-ns.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(host, sizeof host, "%s/host", t->dir);
	snprintf(ak, sizeof ak, "%s/authorized_keys", t->dir);
	snprintf(t->key, sizeof t->key, "%s/id", t->dir);
	assert_non_null(f = fopen(ak, "w"));
	fclose(f);
	assert_int_equal(
	    sshd_load_host_key(host, &created, err, sizeof err), 0);
	assert_int_equal(
	    sshd_load_host_key(t->key, &created, err, sizeof err), 0);

	assert_int_equal(uv_loop_init(&t->loop), 0);
	assert_int_equal(events_init(&t->loop, 1 << 16, 100, 0, 0), 0);
	assert_int_equal(
	    sshd_new(&t->loop, host, ak, &t->sshd, err, sizeof err), 0);
	assert_int_equal(ns_new(&t->loop, t->sshd, &t->ns), 0);
	nsrun_start(&t->loop, t->sshd, NULL);
	*state = t;
	return 0;
}

static void
tree_remove_dir(struct tree *t)
{
	const char *files[] = {
	    "host", "host.pub", "authorized_keys", "id", "id.pub"};
	char   path[160];
	size_t i;

	for (i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", t->dir, files[i]);
		unlink(path);
	}
	assert_int_equal(rmdir(t->dir), 0);
}

static int
tree_teardown(void **state)
{
	struct tree *t = *state;

	ns_free(t->ns);
	nsrun_stop();
	forward_remove_all();
	upstream_remove_all();
	listener_remove_all();
	events_close();
	uv_run(&t->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&t->loop), 0);
	sshd_free(t->sshd);
	if (t->dir[0] != '\0')
		tree_remove_dir(t);
	free(t);
	return 0;
}

static uint64_t
lookup(struct ns *ns, uint64_t parent, const char *name)
{
	struct ns_attr a;

	if (ns_lookup(ns, parent, name, &a) != 0)
		fail_msg("lookup %s failed", name);
	return a.ino;
}

static char *
read_file(struct ns *ns, uint64_t ino)
{
	char  *buf = NULL, *s;
	size_t len = 0;

	assert_int_equal(ns_read(ns, ino, 0, &buf, &len), 0);
	s = strndup(buf, len);
	free(buf);
	return s;
}

static void
expect_content(struct ns *ns, uint64_t ino, const char *want)
{
	char *s = read_file(ns, ino);

	assert_string_equal(s, want);
	free(s);
}

static int
write_str(struct ns *ns, uint64_t ino, const char *value)
{
	return run_write(ns, ino, value, strlen(value));
}

static int
ctl_str(struct ns *ns, uint64_t ino, const char *line, char *reply, size_t len)
{
	return run_ctl(ns, ino, line, reply, len);
}

/* Whether directory ino lists name. */
static int
listed(struct ns *ns, uint64_t ino, const char *name)
{
	struct ns_dirent *ents;
	size_t            n, i;
	int               found = 0;

	assert_int_equal(ns_readdir(ns, ino, &ents, &n), 0);
	for (i = 0; i < n; i++)
		found |= strcmp(ents[i].name, name) == 0;
	free(ents);
	return found;
}

/* A socket listening on a loopback port the kernel picked; its port. */
static int
busy_port(unsigned *port)
{
	struct sockaddr_in sa;
	socklen_t          len = sizeof sa;
	int                fd;

	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* A loopback port that was free a moment ago. */
static unsigned
free_port(void)
{
	unsigned port;

	close(busy_port(&port));
	return port;
}

static void
test_root(void **state)
{
	const char       *names[] = {".", "..", "node", "node.json", "stats",
	          "stats.json", "ctl", "events", "events.log", "listeners",
	          "sessions", "channels", "identities", "upstreams", "forwards",
	          "acl", "penalties", "keys", "ops", "flowgraph", "peers"};
	struct tree      *t = *state;
	struct ns_dirent *ents;
	struct ns_attr    a;
	size_t            n, i;

	assert_int_equal(ns_readdir(t->ns, ROOT, &ents, &n), 0);
	assert_int_equal(n, sizeof names / sizeof names[0]);
	for (i = 0; i < n; i++)
		assert_string_equal(ents[i].name, names[i]);
	assert_int_equal(ents[0].ino, ROOT);
	free(ents);

	assert_int_equal(ns_getattr(t->ns, ROOT, &a), 0);
	assert_int_equal(a.mode, S_IFDIR | 0555);
	assert_int_equal(ns_lookup(t->ns, ROOT, "ctl", &a), 0);
	assert_int_equal(a.mode, S_IFREG | 0666);
	assert_int_equal(a.kind, NS_CTL);
	assert_int_equal(ns_lookup(t->ns, ROOT, "events", &a), 0);
	assert_int_equal(a.mode, S_IFREG | 0444);
	assert_int_equal(a.size, 0);
	assert_int_equal(ns_lookup(t->ns, ROOT, "nope", &a), -ENOENT);
	assert_int_equal(
	    ns_lookup(t->ns, lookup(t->ns, ROOT, "node"), "x", &a), -ENOTDIR);
	assert_int_equal(ns_getattr(t->ns, UINT64_MAX, &a), -ENOENT);
}

static void
test_value_files(void **state)
{
	struct tree   *t = *state;
	struct ns_attr a;
	uint64_t       ino;
	json_t        *o;
	char          *s;

	events_emit("test.count", NULL);
	ino = lookup(t->ns, ROOT, "stats");
	s = read_file(t->ns, ino);
	assert_non_null(strstr(s, "sessions "));
	assert_non_null(strstr(s, "\nevents_emitted 1\n"));
	assert_non_null(strstr(s, "\nfd_limit "));
	assert_int_equal(ns_getattr(t->ns, ino, &a), 0);
	assert_int_equal(a.size, strlen(s));
	free(s);

	s = read_file(t->ns, lookup(t->ns, ROOT, "stats.json"));
	o = json_loads(s, 0, NULL);
	assert_non_null(o);
	assert_int_equal(json_object_size(o), 14);
	assert_int_equal(
	    json_integer_value(json_object_get(o, "events_emitted")), 1);
	json_decref(o);
	free(s);

	s = read_file(t->ns, lookup(t->ns, ROOT, "node.json"));
	o = json_loads(s, 0, NULL);
	assert_non_null(o);
	assert_true(json_is_integer(json_object_get(o, "pid")));
	assert_true(json_is_string(json_object_get(o, "started")));
	json_decref(o);
	free(s);

	/* events.log's size is the bus's. */
	assert_int_equal(ns_lookup(t->ns, ROOT, "events.log", &a), 0);
	assert_int_equal(a.size, events_log_size());
	assert_true(a.size > 0);
}

static void
test_objects_gone(void **state)
{
	struct tree      *t = *state;
	struct ns_dirent *ents;
	struct ns_attr    a;
	uint64_t          dir;
	size_t            n;
	char             *buf = NULL;

	dir = lookup(t->ns, ROOT, "sessions");
	assert_int_equal(ns_readdir(t->ns, dir, &ents, &n), 0);
	assert_int_equal(n, 2);
	free(ents);
	assert_int_equal(ns_lookup(t->ns, dir, "7", &a), -ENOENT);
	assert_int_equal(ns_lookup(t->ns, dir, "007", &a), -ENOENT);
	assert_int_equal(ns_lookup(t->ns, dir, "x", &a), -ENOENT);
	assert_int_equal(
	    ns_getattr(t->ns, ns_ino(NS_SESSION, 7, 0), &a), -ENOENT);
	assert_int_equal(
	    ns_read(t->ns, ns_ino(NS_SESSION, 7, 1), 0, &buf, &n), -ENOENT);
	assert_int_equal(
	    ns_readdir(t->ns, ns_ino(NS_CHANNEL, 3, 0), &ents, &n), -ENOENT);
	assert_int_equal(
	    ns_lookup(t->ns, lookup(t->ns, ROOT, "identities"), "any", &a),
	    -ENOENT);
}

static void
test_ctl_answers(void **state)
{
	struct tree *t = *state;
	uint64_t     ctl = lookup(t->ns, ROOT, "ctl");
	char         reply[256];

	assert_int_equal(
	    ctl_str(t->ns, ctl, "bogus\n", reply, sizeof reply), -EINVAL);
	assert_string_equal(reply, "error: unknown command bogus\n");
	assert_int_equal(ctl_str(t->ns, ctl, "", reply, sizeof reply), -EINVAL);
	assert_string_equal(reply, "error: empty command\n");
	assert_int_equal(
	    ctl_str(t->ns, ctl, "unlisten x", reply, sizeof reply), -ENOENT);
	assert_string_equal(reply, "error: no listener named x\n");

	/* Without an SSH server there is nothing to reload. */
	assert_int_equal(
	    ctl_str(t->ns, ctl, "reload", reply, sizeof reply), -ENOTSUP);
	assert_string_equal(reply, "error: this node runs no SSH server\n");

	/* Only control files and writable value files take writes. */
	assert_int_equal(ctl_str(t->ns, lookup(t->ns, ROOT, "node"), "reload",
	                     reply, sizeof reply),
	    -EACCES);
}

static void
test_listener_numbers(void **state)
{
	struct tree   *t = *state;
	struct ns_attr a;
	uint64_t       dir, first, again, other, ctl;
	char           err[256], reply[256], *s;

	/* Ephemeral loopback port; nothing connects to it. */
	assert_int_equal(listener_add(&t->loop, NULL, "127.0.0.1:0", "a", NULL,
	                     err, sizeof err),
	    0);
	dir = lookup(t->ns, ROOT, "listeners");
	first = lookup(t->ns, dir, "a");
	s = read_file(t->ns, lookup(t->ns, first, "uri"));
	assert_memory_equal(s, "tcp://127.0.0.1:", 16);
	assert_int_equal(s[strlen(s) - 1], '\n');
	free(s);

	ctl = lookup(t->ns, first, "ctl");
	assert_int_equal(ctl_str(t->ns, ctl, "close", reply, sizeof reply), 0);
	assert_string_equal(reply, "ok\n");
	assert_int_equal(ns_getattr(t->ns, first, &a), -ENOENT);
	assert_int_equal(
	    ctl_str(t->ns, ctl, "close", reply, sizeof reply), -ENOENT);
	assert_string_equal(reply, "error: it is gone\n");

	/* A name keeps its number; another name gets another one. */
	assert_int_equal(listener_add(&t->loop, NULL, "127.0.0.1:0", "b", NULL,
	                     err, sizeof err),
	    0);
	assert_int_equal(listener_add(&t->loop, NULL, "127.0.0.1:0", "a", NULL,
	                     err, sizeof err),
	    0);
	again = lookup(t->ns, dir, "a");
	other = lookup(t->ns, dir, "b");
	assert_int_equal(again, first);
	assert_true(other != first);
}

static void
test_forward_dirs(void **state)
{
	const char  *files[] = {".", "..", "kind", "listen", "target", "via",
	     "state", "connections", "connections_total", "error", "ctl"};
	struct tree *t = *state;
	struct ns_dirent *ents;
	struct ns_attr    a;
	uint64_t          fwd, dir, f;
	size_t            n, i;
	char              big[NS_WRITE_MAX + 2];

	fwd = lookup(t->ns, ROOT, "forwards");
	assert_int_equal(ns_getattr(t->ns, fwd, &a), 0);
	assert_int_equal(a.mode, S_IFDIR | 0777);
	assert_int_equal(run_mkdir(t->ns, fwd, "db", &a), 0);
	assert_int_equal(a.mode, S_IFDIR | 0555);
	dir = a.ino;
	assert_int_equal(lookup(t->ns, fwd, "db"), dir);
	assert_true(listed(t->ns, fwd, "db"));
	assert_non_null(forward_find("db"));

	/* Only forwards/ makes directories, of safe names, once. */
	assert_int_equal(run_mkdir(t->ns, fwd, "db", &a), -EEXIST);
	assert_int_equal(run_mkdir(t->ns, fwd, "a b", &a), -EINVAL);
	assert_int_equal(run_mkdir(t->ns, ROOT, "x", &a), -EPERM);
	assert_int_equal(
	    run_mkdir(t->ns, lookup(t->ns, ROOT, "upstreams"), "x", &a),
	    -EPERM);
	assert_int_equal(run_mkdir(t->ns, dir, "x", &a), -EPERM);
	assert_int_equal(
	    run_mkdir(t->ns, lookup(t->ns, ROOT, "node"), "x", &a), -ENOTDIR);

	assert_int_equal(ns_readdir(t->ns, dir, &ents, &n), 0);
	assert_int_equal(n, sizeof files / sizeof files[0]);
	for (i = 0; i < n; i++)
		assert_string_equal(ents[i].name, files[i]);
	assert_int_equal(ents[1].ino, fwd);
	free(ents);

	/* A new forward is local and down; four fields are settable. */
	expect_content(t->ns, lookup(t->ns, dir, "kind"), "local\n");
	expect_content(t->ns, lookup(t->ns, dir, "state"), "down\n");
	expect_content(t->ns, lookup(t->ns, dir, "connections"), "0\n");
	assert_int_equal(ns_lookup(t->ns, dir, "kind", &a), 0);
	assert_int_equal(a.mode, S_IFREG | 0666);
	assert_true(a.writable);
	assert_int_equal(ns_lookup(t->ns, dir, "target", &a), 0);
	assert_int_equal(a.mode, S_IFREG | 0600);
	assert_true(a.writable);
	assert_int_equal(ns_lookup(t->ns, dir, "state", &a), 0);
	assert_int_equal(a.mode, S_IFREG | 0444);
	assert_false(a.writable);
	assert_int_equal(ns_lookup(t->ns, dir, "ctl", &a), 0);
	assert_int_equal(a.mode, S_IFREG | 0666);

	f = lookup(t->ns, dir, "target");
	assert_int_equal(write_str(t->ns, f, "db.example:5432\n"), 0);
	expect_content(t->ns, f, "db.example:5432\n");
	assert_int_equal(write_str(t->ns, f, "no port"), -EINVAL);
	expect_content(t->ns, f, "db.example:5432\n");
	assert_int_equal(run_write(t->ns, f, "a\0:1", 4), -EINVAL);
	memset(big, 'a', sizeof big);
	assert_int_equal(run_write(t->ns, f, big, sizeof big), -EFBIG);
	expect_content(t->ns, f, "db.example:5432\n");

	f = lookup(t->ns, dir, "kind");
	assert_int_equal(write_str(t->ns, f, "remote\n"), 0);
	expect_content(t->ns, f, "remote\n");
	assert_int_equal(write_str(t->ns, f, "sideways\n"), -EINVAL);
	assert_int_equal(write_str(t->ns, f, "local"), 0);
	expect_content(t->ns, f, "local\n");

	/* Files that only show state take no writes. */
	assert_int_equal(
	    write_str(t->ns, lookup(t->ns, dir, "state"), "up"), -EACCES);
	assert_int_equal(
	    write_str(t->ns, lookup(t->ns, ROOT, "node"), "x"), -EACCES);
	assert_int_equal(run_rmdir(t->ns, fwd, "db"), 0);
}

static void
test_forward_up_down(void **state)
{
	struct tree   *t = *state;
	struct ns_attr a;
	uint64_t       fwd, dir, ctl, listen;
	unsigned       port;
	char           reply[512], value[64], *s;
	int            fd;

	fwd = lookup(t->ns, ROOT, "forwards");
	assert_int_equal(run_mkdir(t->ns, fwd, "web", &a), 0);
	dir = a.ino;
	ctl = lookup(t->ns, dir, "ctl");
	listen = lookup(t->ns, dir, "listen");

	/* Up needs its fields; the reason is the answer and the error. */
	assert_int_equal(
	    ctl_str(t->ns, ctl, "up", reply, sizeof reply), -EINVAL);
	assert_memory_equal(reply, "error: ", 7);
	s = read_file(t->ns, lookup(t->ns, dir, "error"));
	assert_true(strlen(s) > 1);
	free(s);

	/* A port in use fails the bind with EADDRINUSE. */
	fd = busy_port(&port);
	snprintf(value, sizeof value, "127.0.0.1:%u\n", port);
	assert_int_equal(write_str(t->ns, listen, value), 0);
	expect_content(t->ns, listen, value);
	assert_int_equal(
	    write_str(t->ns, lookup(t->ns, dir, "target"), "127.0.0.1:9"), 0);
	assert_int_equal(
	    ctl_str(t->ns, ctl, "up", reply, sizeof reply), -EADDRINUSE);
	assert_memory_equal(reply, "error: ", 7);
	expect_content(t->ns, lookup(t->ns, dir, "state"), "down\n");
	close(fd);

	assert_int_equal(ctl_str(t->ns, ctl, "up\n", reply, sizeof reply), 0);
	assert_string_equal(reply, "ok\n");
	expect_content(t->ns, lookup(t->ns, dir, "state"), "up\n");
	expect_content(t->ns, lookup(t->ns, dir, "error"), "\n");

	/* While up the fields keep their values. */
	assert_int_equal(write_str(t->ns, listen, "127.0.0.1:1"), -EBUSY);
	expect_content(t->ns, listen, value);

	assert_int_equal(ctl_str(t->ns, ctl, "down", reply, sizeof reply), 0);
	expect_content(t->ns, lookup(t->ns, dir, "state"), "down\n");
	assert_int_equal(write_str(t->ns, lookup(t->ns, dir, "via"), ""), 0);
	assert_int_equal(
	    ctl_str(t->ns, ctl, "sideways", reply, sizeof reply), -EINVAL);

	/* rmdir takes an up forward down and removes it. */
	assert_int_equal(ctl_str(t->ns, ctl, "up", reply, sizeof reply), 0);
	assert_int_equal(run_rmdir(t->ns, fwd, "web"), 0);
	assert_null(forward_find("web"));
	assert_false(listed(t->ns, fwd, "web"));
	assert_int_equal(ns_lookup(t->ns, fwd, "web", &a), -ENOENT);
	assert_int_equal(ns_getattr(t->ns, dir, &a), -ENOENT);
	assert_int_equal(write_str(t->ns, listen, "127.0.0.1:1"), -ENOENT);
	assert_int_equal(
	    ctl_str(t->ns, ctl, "up", reply, sizeof reply), -ENOENT);
	assert_int_equal(run_rmdir(t->ns, fwd, "web"), -ENOENT);
	assert_int_equal(run_rmdir(t->ns, ROOT, "node"), -EPERM);

	/* The name keeps its number; "remove" on ctl removes too. */
	assert_int_equal(run_mkdir(t->ns, fwd, "web", &a), 0);
	assert_int_equal(a.ino, dir);
	assert_int_equal(ctl_str(t->ns, ctl, "remove", reply, sizeof reply), 0);
	assert_false(listed(t->ns, fwd, "web"));
}

static void
test_forward_commands(void **state)
{
	struct tree   *t = *state;
	struct ns_attr a;
	uint64_t       ctl, fwd;
	unsigned       port;
	char           cmd[256], reply[512];
	int            fd;

	ctl = lookup(t->ns, ROOT, "ctl");
	fwd = lookup(t->ns, ROOT, "forwards");

	/* A forward that cannot come up is not left behind. */
	fd = busy_port(&port);
	snprintf(cmd, sizeof cmd,
	    "forward local 127.0.0.1:%u 127.0.0.1:9 "
	    "name=db",
	    port);
	assert_int_equal(
	    ctl_str(t->ns, ctl, cmd, reply, sizeof reply), -EADDRINUSE);
	assert_memory_equal(reply, "error: ", 7);
	assert_int_equal(forward_count(), 0);
	assert_int_equal(
	    ctl_str(t->ns, ctl, "forward local 1 nocolon", reply, sizeof reply),
	    -EINVAL);
	assert_int_equal(forward_count(), 0);
	close(fd);

	snprintf(cmd, sizeof cmd,
	    "forward local 127.0.0.1:%u 127.0.0.1:9 "
	    "name=db",
	    free_port());
	assert_int_equal(ctl_str(t->ns, ctl, cmd, reply, sizeof reply), 0);
	assert_string_equal(reply, "ok name=db\n");
	assert_int_equal(ns_lookup(t->ns, fwd, "db", &a), 0);
	expect_content(t->ns, lookup(t->ns, a.ino, "state"), "up\n");
	expect_content(t->ns, lookup(t->ns, a.ino, "target"), "127.0.0.1:9\n");
	assert_int_equal(
	    ctl_str(t->ns, ctl, cmd, reply, sizeof reply), -EEXIST);

	/* Names default to the first free KINDn. */
	snprintf(cmd, sizeof cmd, "forward local %u:127.0.0.1:9", free_port());
	assert_int_equal(ctl_str(t->ns, ctl, cmd, reply, sizeof reply), 0);
	assert_string_equal(reply, "ok name=local0\n");
	snprintf(cmd, sizeof cmd, "socks 127.0.0.1:%u", free_port());
	assert_int_equal(ctl_str(t->ns, ctl, cmd, reply, sizeof reply), 0);
	assert_string_equal(reply, "ok name=socks0\n");
	expect_content(t->ns,
	    lookup(t->ns, lookup(t->ns, fwd, "socks0"), "kind"), "socks\n");
	snprintf(cmd, sizeof cmd, "forward local 127.0.0.1:%u 127.0.0.1:9",
	    free_port());
	assert_int_equal(ctl_str(t->ns, ctl, cmd, reply, sizeof reply), 0);
	assert_string_equal(reply, "ok name=local1\n");

	assert_int_equal(
	    ctl_str(t->ns, ctl, "unforward local0", reply, sizeof reply), 0);
	assert_false(listed(t->ns, fwd, "local0"));
	assert_int_equal(
	    ctl_str(t->ns, ctl, "unforward local0", reply, sizeof reply),
	    -ENOENT);
	assert_string_equal(reply, "error: no forward named local0\n");
	snprintf(cmd, sizeof cmd, "forward local 127.0.0.1:%u 127.0.0.1:9",
	    free_port());
	assert_int_equal(ctl_str(t->ns, ctl, cmd, reply, sizeof reply), 0);
	assert_string_equal(reply, "ok name=local0\n");
	assert_int_equal(forward_count(), 4);
}

static void
test_upstreams(void **state)
{
	struct tree   *t = *state;
	struct ns_attr a;
	uint64_t       ctl, ups, dir;
	unsigned       port;
	char           cmd[512], reply[512], want[256], *s;
	int            fd;

	ctl = lookup(t->ns, ROOT, "ctl");
	ups = lookup(t->ns, ROOT, "upstreams");

	/* A head that listens and never answers: the loop does not run,
	 * so nothing is sent. */
	fd = busy_port(&port);
	snprintf(cmd, sizeof cmd,
	    "connect tcp://127.0.0.1:%u identity=%s name=head", port, t->key);
	assert_int_equal(ctl_str(t->ns, ctl, cmd, reply, sizeof reply), 0);
	assert_string_equal(reply, "ok name=head\n");
	assert_int_equal(
	    ctl_str(t->ns, ctl, cmd, reply, sizeof reply), -EEXIST);
	assert_true(listed(t->ns, ups, "head"));

	dir = lookup(t->ns, ups, "head");
	snprintf(want, sizeof want, "tcp://127.0.0.1:%u\n", port);
	expect_content(t->ns, lookup(t->ns, dir, "uri"), want);
	snprintf(want, sizeof want, "%s\n", t->key);
	expect_content(t->ns, lookup(t->ns, dir, "identity"), want);
	expect_content(t->ns, lookup(t->ns, dir, "session"), "0\n");
	expect_content(t->ns, lookup(t->ns, dir, "hostkey"), "\n");
	s = read_file(t->ns, lookup(t->ns, dir, "state"));
	assert_true(
	    strcmp(s, "connecting\n") == 0 || strcmp(s, "backoff\n") == 0);
	free(s);
	s = read_file(t->ns, lookup(t->ns, dir, "since"));
	assert_int_equal(strlen(s), strlen("2026-12-03T15:35:24.123Z\n"));
	free(s);
	assert_int_equal(ns_lookup(t->ns, dir, "ctl", &a), 0);
	assert_int_equal(a.mode, S_IFREG | 0666);

	/* The object's ctl removes it. */
	assert_int_equal(
	    ctl_str(t->ns, a.ino, "disconnect", reply, sizeof reply), 0);
	assert_false(listed(t->ns, ups, "head"));
	assert_int_equal(ns_getattr(t->ns, dir, &a), -ENOENT);

	/* A key that is not there. */
	snprintf(cmd, sizeof cmd,
	    "connect tcp://127.0.0.1:%u identity=%s/nokey", port, t->dir);
	assert_int_equal(
	    ctl_str(t->ns, ctl, cmd, reply, sizeof reply), -ENOENT);
	assert_int_equal(upstream_count(), 0);

	/* The node's ctl removes by name. */
	snprintf(cmd, sizeof cmd,
	    "connect tcp://127.0.0.1:%u identity=%s name=second", port, t->key);
	assert_int_equal(ctl_str(t->ns, ctl, cmd, reply, sizeof reply), 0);
	assert_int_equal(
	    ctl_str(t->ns, ctl, "disconnect second", reply, sizeof reply), 0);
	assert_int_equal(
	    ctl_str(t->ns, ctl, "disconnect second", reply, sizeof reply),
	    -ENOENT);
	assert_int_equal(upstream_count(), 0);
	close(fd);
}

static void
test_acl_listen(void **state)
{
	struct tree      *t = *state;
	struct ns_dirent *ents;
	struct ns_attr    a;
	uint64_t          acl, listen, error, emitted;
	size_t            n;
	char             *before, *s, *buf = NULL, big[NS_WRITE_MAX + 2];
	char              msg[256];
	struct ns_op      op;

	acl = lookup(t->ns, ROOT, "acl");
	assert_int_equal(ns_readdir(t->ns, acl, &ents, &n), 0);
	assert_int_equal(n, 10);
	assert_string_equal(ents[6].name, "limits");
	assert_string_equal(ents[7].name, "limits.error");
	assert_string_equal(ents[8].name, "operations");
	assert_string_equal(ents[9].name, "operations.error");
	assert_string_equal(ents[2].name, "forwarding");
	assert_string_equal(ents[3].name, "forwarding.error");
	assert_string_equal(ents[4].name, "listen");
	assert_string_equal(ents[5].name, "listen.error");
	free(ents);
	assert_int_equal(ns_lookup(t->ns, acl, "listen", &a), 0);
	assert_int_equal(a.mode, S_IFREG | 0600);
	assert_true(a.writable);
	listen = a.ino;
	assert_int_equal(ns_lookup(t->ns, acl, "listen.error", &a), 0);
	assert_int_equal(a.mode, S_IFREG | 0400);
	assert_false(a.writable);
	error = a.ino;

	/* Through the filesystem, a write is the operation that sets it. */
	assert_int_equal(
	    ns_op_of(t->ns, listen, "allow *:22\n", 11, &op, msg, sizeof msg),
	    1);
	assert_string_equal(op.name, "/acl/listen/set");
	s = json_dumps(op.input, JSON_COMPACT);
	assert_string_equal(s, "{\"rules\":\"allow *:22\"}");
	free(s);
	json_decref(op.input);
	assert_int_equal(
	    ns_op_of(t->ns, error, "x", 1, &op, msg, sizeof msg), -EACCES);
	assert_int_equal(
	    ns_op_of(t->ns, listen, "a\0b", 3, &op, msg, sizeof msg), -EINVAL);
	ns_op_done(t->ns, listen, "line 1: bad");
	expect_content(t->ns, error, "line 1: bad\n");
	ns_op_done(t->ns, listen, NULL);

	/* A new server allows no remote forwards. */
	s = read_file(t->ns, listen);
	assert_non_null(strstr(s, "default deny"));
	free(s);
	expect_content(t->ns, error, "");
	assert_int_equal(ns_read(t->ns, listen, 1000, &buf, &n), -EACCES);

	/* A change is announced. */
	emitted = events_emitted();
	assert_int_equal(write_str(t->ns, listen,
	                     "allow 127.0.0.1:8000-8100\n# more later\n"),
	    0);
	assert_int_equal(events_emitted(), emitted + 1);
	before = read_file(t->ns, listen);
	assert_non_null(strstr(before, "8000-8100"));
	assert_non_null(strstr(before, "default deny"));

	/* A bad set changes nothing and says why. */
	assert_int_equal(
	    write_str(t->ns, listen, "allow 127.0.0.1:9000\nbogus rule\n"),
	    -EINVAL);
	expect_content(t->ns, listen, before);
	assert_int_equal(events_emitted(), emitted + 1);
	s = read_file(t->ns, error);
	assert_memory_equal(s, "line 2", 6);
	assert_int_equal(s[strlen(s) - 1], '\n');
	free(s);
	memset(big, '#', sizeof big);
	assert_int_equal(run_write(t->ns, listen, big, sizeof big), -EFBIG);
	expect_content(t->ns, listen, before);
	free(before);

	/* A good one clears the reason. */
	assert_int_equal(write_str(t->ns, listen, "default deny\n"), 0);
	expect_content(t->ns, error, "");
	assert_int_equal(write_str(t->ns, error, "x"), -EACCES);
}

static void
test_acl_without_sshd(void **state)
{
	struct tree      *t = *state;
	struct ns_dirent *ents;
	struct ns_attr    a;
	uint64_t          acl;
	size_t            n;

	acl = lookup(t->ns, ROOT, "acl");
	assert_int_equal(ns_readdir(t->ns, acl, &ents, &n), 0);
	assert_int_equal(n, 2);
	free(ents);
	assert_int_equal(ns_lookup(t->ns, acl, "listen", &a), -ENOENT);
	assert_int_equal(
	    run_write(t->ns, ns_ino(NS_ACL, 1, 1), "default deny", 12),
	    -ENOENT);

	/* acl/ has no object directory and no other object. */
	assert_int_equal(ns_getattr(t->ns, ns_ino(NS_ACL, 1, 0), &a), -ENOENT);
	assert_int_equal(ns_getattr(t->ns, ns_ino(NS_ACL, 2, 1), &a), -ENOENT);
}

/* keys/ of a node without a secret daemon: its state, no key of a seed. */
static void
test_keys_without_daemon(void **state)
{
	const char       *bad[] = {"3.pub", "0.pub", "01.pub", "1.pubx", "1",
	          "1.pub.fp.x", "-1.pub", "99999999999999999999.pub", "devices"};
	struct tree      *t = *state;
	struct ns_dirent *ents;
	struct ns_attr    a;
	uint64_t          keys, devices;
	char              err[128];
	size_t            n, i;

	assert_int_equal(
	    keys_start(&t->loop, NULL, 2, NULL, err, sizeof err), 0);
	keys = lookup(t->ns, ROOT, "keys");
	expect_content(t->ns, lookup(t->ns, keys, "status"), "unavailable\n");
	expect_content(t->ns, lookup(t->ns, keys, "host_key"), "file\n");
	expect_content(t->ns, lookup(t->ns, keys, "identity.pub"), "\n");
	expect_content(t->ns, lookup(t->ns, keys, "host.pub"), "\n");
	assert_int_equal(
	    write_str(t->ns, lookup(t->ns, keys, "status"), "x"), -EACCES);

	devices = lookup(t->ns, keys, "devices");
	assert_int_equal(ns_readdir(t->ns, devices, &ents, &n), 0);
	assert_int_equal(n, 6);
	assert_int_equal(ents[1].ino, keys);
	assert_string_equal(ents[2].name, "1.pub");
	assert_string_equal(ents[5].name, "2.pub.fp");
	free(ents);

	assert_int_equal(ns_lookup(t->ns, devices, "2.pub.fp", &a), 0);
	assert_int_equal(a.mode, S_IFREG | 0444);
	assert_int_equal(a.size, 1);
	expect_content(t->ns, a.ino, "\n");
	assert_int_equal(ns_lookup(t->ns, a.ino, "x", &a), -ENOTDIR);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(
		    ns_lookup(t->ns, devices, bad[i], &a), -ENOENT);
	keys_stop();
}

static void
on_answer(const struct registry_result *res, void *arg)
{
	(*(int *)arg)++;
}

/* A call from connection conn7 with request id id (and parent). */
static void
flow_call(struct registry *r, const char *id, const char *parent,
    const char *op, int *answers)
{
	struct registry_ctx ctx = {NULL, 0, id, parent, NULL, "conn7"};

	assert_int_equal(
	    registry_dispatch(r, &ctx, op, NULL, on_answer, answers), 0);
	registry_deliver(r);
}

/* flowgraph/: empty until calls are recorded; then a directory per call
 * below calls/, and the graphs as wholes. */
static void
test_flowgraph(void **state)
{
	struct tree      *t = *state;
	struct registry  *r;
	struct ns_dirent *ents;
	struct ns_attr    a;
	uint64_t          fg, calls, c1, c2;
	size_t            n;
	int               answers = 0;
	char             *s;

	fg = lookup(t->ns, ROOT, "flowgraph");
	assert_int_equal(ns_readdir(t->ns, fg, &ents, &n), 0);
	assert_int_equal(n, 2);
	free(ents);
	assert_int_equal(ns_lookup(t->ns, fg, "calls.json", &a), -ENOENT);

	assert_int_equal(registry_new(8, 8, &r), 0);
	assert_int_equal(ns_flowgraph_start(r), 0);
	assert_int_equal(ns_flowgraph_start(r), -EBUSY);
	flow_call(r, "1", NULL, "/services/list", &answers);
	flow_call(r, "2", "1", "/no/such", &answers);
	assert_int_equal(answers, 2);

	assert_int_equal(ns_readdir(t->ns, fg, &ents, &n), 0);
	assert_int_equal(n, 7);
	assert_string_equal(ents[2].name, "calls.json");
	assert_string_equal(ents[6].name, "calls");
	free(ents);
	calls = lookup(t->ns, fg, "calls");
	assert_int_equal(ns_readdir(t->ns, calls, &ents, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(ents[1].ino, fg);
	assert_string_equal(ents[2].name, "conn7:1");
	assert_string_equal(ents[3].name, "conn7:2");
	free(ents);

	c1 = lookup(t->ns, calls, "conn7:1");
	c2 = lookup(t->ns, calls, "conn7:2");
	assert_int_equal(ns_getattr(t->ns, c2, &a), 0);
	assert_int_equal(a.mode, S_IFDIR | 0555);
	assert_int_equal(ns_readdir(t->ns, c2, &ents, &n), 0);
	assert_int_equal(ents[1].ino, calls);
	free(ents);
	expect_content(t->ns, lookup(t->ns, c2, "status"), "failed\n");
	expect_content(t->ns, lookup(t->ns, c2, "error"), "NOT_FOUND\n");
	expect_content(t->ns, lookup(t->ns, c2, "parent"), "conn7:1\n");
	expect_content(t->ns, lookup(t->ns, c2, "identity"), "\n");
	expect_content(t->ns, lookup(t->ns, c1, "children"), "conn7:2\n");
	expect_content(
	    t->ns, lookup(t->ns, c2, "lineage"), "conn7:1\nconn7:2\n");
	expect_content(t->ns, lookup(t->ns, c1, "op"), "/services/list\n");
	assert_int_equal(ns_lookup(t->ns, calls, "conn7:3", &a), -ENOENT);

	s = read_file(t->ns, lookup(t->ns, fg, "calls.dot"));
	assert_non_null(strstr(s, "\tc0 -> c1 [label=\"triggered\"];\n"));
	free(s);
	s = read_file(t->ns, lookup(t->ns, fg, "ops.json"));
	assert_non_null(strstr(s, "\"/services/schema\""));
	free(s);

	/* Stopped, the calls are gone with their numbers. */
	ns_flowgraph_stop();
	assert_int_equal(ns_getattr(t->ns, c1, &a), -ENOENT);
	assert_int_equal(ns_lookup(t->ns, fg, "calls", &a), -ENOENT);
	registry_free(r);
	ns_flowgraph_stop();
}

static void
test_penalties_without_sshd(void **state)
{
	struct tree   *t = *state;
	struct ns_attr a;

	assert_int_equal(ns_lookup(t->ns, ROOT, "penalties", &a), 0);
	assert_int_equal(a.mode, S_IFREG | 0444);
	assert_false(a.writable);
	expect_content(t->ns, a.ino, "");
}

static void
test_penalties_and_limits(void **state)
{
	struct tree        *t = *state;
	struct sshd_limits  l = {5, 3};
	struct penalty_conf c;
	struct penalty     *p;
	struct in6_addr     a;
	uint64_t            pen, limits;
	char                err[128];
	int                 i;

	pen = lookup(t->ns, ROOT, "penalties");
	limits = lookup(t->ns, lookup(t->ns, ROOT, "acl"), "limits");
	expect_content(t->ns, pen, "");
	expect_content(t->ns, limits,
	    "max_connections_per_ip 0\nmax_auth_attempts 10\n"
	    "penalties yes\npenalty_authfail 5\npenalty_noauth 1\n"
	    "penalty_grace_exceeded 10\npenalty_max 600\npenalty_min 15\n"
	    "penalty_max_sources 65536\npenalty_exempt none\n");
	/* A bad line changes nothing; a good one changes only its key. */
	assert_int_equal(write_str(t->ns, limits, "x"), -EINVAL);
	assert_int_equal(write_str(t->ns, limits, "max_auth_attempts 4\n"), 0);
	assert_int_equal(sshd_limits(t->sshd)->max_auth_attempts, 4);
	assert_int_equal(sshd_limits(t->sshd)->max_connections_per_ip, 0);

	assert_int_equal(penalty_conf_parse(
	                     "min:3 max:30 max-sources:9", &c, err, sizeof err),
	    0);
	assert_int_equal(penalty_new(&c, &p), 0);
	assert_int_equal(penalty_set_exempt(p, "::1/128", err, sizeof err), 0);
	sshd_set_limits(t->sshd, &l, p);
	expect_content(t->ns, limits,
	    "max_connections_per_ip 5\nmax_auth_attempts 3\n"
	    "penalties yes\npenalty_authfail 5\npenalty_noauth 1\n"
	    "penalty_grace_exceeded 10\npenalty_max 30\npenalty_min 3\n"
	    "penalty_max_sources 9\npenalty_exempt ::1/128\n");

	/* Only sources that are refused are listed. */
	assert_int_equal(penalty_addr_parse("2001:db8::7", &a), 0);
	for (i = 0; i < 2; i++)
		penalty_add(p, &a, PENALTY_NOAUTH, uv_now(&t->loop));
	expect_content(t->ns, pen, "");
	penalty_add(p, &a, PENALTY_NOAUTH, uv_now(&t->loop));
	assert_int_equal(penalty_addr_parse("192.0.2.4", &a), 0);
	penalty_add(p, &a, PENALTY_GRACE, uv_now(&t->loop));
	expect_content(t->ns, pen,
	    "192.0.2.4/32 10 grace-exceeded\n2001:db8::/64 3 noauth\n");

	sshd_set_limits(t->sshd, &l, NULL);
	expect_content(t->ns, pen, "");
	expect_content(t->ns, limits,
	    "max_connections_per_ip 5\nmax_auth_attempts 3\npenalties no\n");
}

#define T(name) cmocka_unit_test_setup_teardown(name, tree_setup, tree_teardown)
#define TS(name)                                                               \
	cmocka_unit_test_setup_teardown(name, tree_sshd_setup, tree_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ino_round_trip),
	    cmocka_unit_test(test_ino_out_of_range),
	    cmocka_unit_test(test_parse_words),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test_setup_teardown(
	        test_exec_checks, bare_setup, bare_teardown),
	    cmocka_unit_test(test_bridge),
	    cmocka_unit_test(test_bridge_refusals),
	    cmocka_unit_test(test_detail),
	    cmocka_unit_test(test_ino_classes_apart),
	    cmocka_unit_test_setup_teardown(
	        test_exec_worker_checks, bare_setup, bare_teardown),
	    T(test_root),
	    T(test_value_files),
	    T(test_objects_gone),
	    T(test_ctl_answers),
	    T(test_listener_numbers),
	    T(test_forward_dirs),
	    T(test_forward_up_down),
	    T(test_forward_commands),
	    T(test_acl_without_sshd),
	    TS(test_upstreams),
	    TS(test_acl_listen),
	    T(test_flowgraph),
	    T(test_penalties_without_sshd),
	    T(test_keys_without_daemon),
	    TS(test_penalties_and_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
