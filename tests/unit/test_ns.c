/*
 * The namespace without FUSE: inode numbers, control-line parsing and
 * command checks, and the tree over a node with no SSH server.
 */
#include <sys/stat.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "events.h"
#include "listener.h"
#include "ns.h"
#include "ns_ctl.h"

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
	BAD("x =v", "option");
	BAD("x k=", "option");
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

	/* Sixteen words are the most. */
	memset(line, 0, sizeof line);
	strcpy(line, "v");
	for (i = 0; i < NS_CTL_WORDS; i++)
		strcat(line, " w");
	assert_int_equal(
	    ns_ctl_parse(line, strlen(line), &cmd, err, sizeof err), 0);
	assert_int_equal(cmd.nargs, NS_CTL_WORDS);
}

static int
exec_node(const char *line, char *msg, size_t len)
{
	struct ns_ctl_ctx ctx = {NULL, NULL, NULL};
	struct ns_cmd     cmd;

	assert_int_equal(ns_ctl_parse(line, strlen(line), &cmd, msg, len), 0);
	return ns_ctl_exec(NS_CTL_NODE, &ctx, &cmd, msg, len);
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

struct tree {
	uv_loop_t  loop;
	struct ns *ns;
};

static int
tree_setup(void **state)
{
	struct tree *t = calloc(1, sizeof *t);

	assert_non_null(t);
	assert_int_equal(uv_loop_init(&t->loop), 0);
	assert_int_equal(events_init(&t->loop, 1 << 16, 100, 0, 0), 0);
	assert_int_equal(ns_new(&t->loop, NULL, &t->ns), 0);
	*state = t;
	return 0;
}

static int
tree_teardown(void **state)
{
	struct tree *t = *state;

	ns_free(t->ns);
	listener_remove_all();
	events_close();
	uv_run(&t->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&t->loop), 0);
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
test_root(void **state)
{
	const char       *names[] = {".", "..", "node", "node.json", "stats",
	          "stats.json", "ctl", "events", "events.log", "listeners",
	          "sessions", "channels", "identities"};
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
	assert_int_equal(a.mode, S_IFREG | 0600);
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
	assert_int_equal(json_object_size(o), 13);
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
	    ns_ctl(t->ns, ctl, "bogus\n", 6, reply, sizeof reply), -EINVAL);
	assert_string_equal(reply, "error: unknown command bogus\n");
	assert_int_equal(
	    ns_ctl(t->ns, ctl, "", 0, reply, sizeof reply), -EINVAL);
	assert_string_equal(reply, "error: empty command\n");
	assert_int_equal(
	    ns_ctl(t->ns, ctl, "unlisten x", 10, reply, sizeof reply), -ENOENT);
	assert_string_equal(reply, "error: no listener named x\n");

	/* Only control files take commands. */
	assert_int_equal(ns_ctl(t->ns, lookup(t->ns, ROOT, "node"), "reload", 6,
	                     reply, sizeof reply),
	    -EINVAL);
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
	assert_int_equal(
	    ns_ctl(t->ns, ctl, "close", 5, reply, sizeof reply), 0);
	assert_string_equal(reply, "ok\n");
	assert_int_equal(ns_getattr(t->ns, first, &a), -ENOENT);
	assert_int_equal(
	    ns_ctl(t->ns, ctl, "close", 5, reply, sizeof reply), -ENOENT);

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

#define T(name) cmocka_unit_test_setup_teardown(name, tree_setup, tree_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ino_round_trip),
	    cmocka_unit_test(test_ino_out_of_range),
	    cmocka_unit_test(test_parse_words),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_exec_checks),
	    T(test_root),
	    T(test_value_files),
	    T(test_objects_gone),
	    T(test_ctl_answers),
	    T(test_listener_numbers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
