/*
 * Identities through the namespace without FUSE, over an SSH server and a
 * database in a temporary directory, its writes calling the node's
 * operations as the mount does (nsrun.h): pending ones made with mkdir and
 * stored by writing their key, the node's "identity" command, scopes,
 * removal, the errnos of each refusal, and what a reload and a restart
 * keep.
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
#include <unistd.h>

#include <cmocka.h>
#include <libssh/libssh.h>

#include "authkeys.h"
#include "events.h"
#include "identities.h"
#include "ns.h"
#include "nsrun.h"
#include "persist.h"
#include "sshd.h"
#include "storage.h"

#define ROOT 1

struct tree {
	uv_loop_t       loop;
	struct persist *persist;
	struct sshd    *sshd;
	struct ns      *ns;
	char            dir[64];
	char            ak[128];
	char            file_line[256]; /* the file's key, "filekey" */
	char            line[256];      /* keys to add */
	char            line2[256];
	ssh_key         key; /* the private half of line */
};

/* A new Ed25519 key's public line "type base64 comment". */
static void
new_key(char *buf, size_t len, const char *comment, ssh_key *keep)
{
	ssh_key key;
	char   *b64;

	assert_int_equal(ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key), 0);
	assert_int_equal(ssh_pki_export_pubkey_base64(key, &b64), 0);
	snprintf(buf, len, "ssh-ed25519 %s %s", b64, comment);
	ssh_string_free_char(b64);
	if (keep != NULL)
		*keep = key;
	else
		ssh_key_free(key);
}

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* The server, the database and the tree, as a start of the daemon. */
static void
start(struct tree *t)
{
	char host[128], err[512];

	snprintf(host, sizeof host, "%s/host", t->dir);
	assert_int_equal(uv_loop_init(&t->loop), 0);
	assert_int_equal(persist_open(&t->loop, t->dir, 1 << 16, 100,
	                     &t->persist, err, sizeof err),
	    0);
	assert_int_equal(
	    sshd_new(&t->loop, host, t->ak, &t->sshd, err, sizeof err), 0);
	assert_int_equal(identities_load(persist_storage(t->persist), t->sshd,
	                     err, sizeof err),
	    0);
	assert_int_equal(ns_new(&t->loop, t->sshd, &t->ns), 0);
	nsrun_start(&t->loop, t->sshd, persist_storage(t->persist));
}

static void
stop(struct tree *t)
{
	ns_free(t->ns);
	nsrun_stop();
	persist_close(t->persist);
	events_close();
	uv_run(&t->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&t->loop), 0);
	sshd_free(t->sshd);
}

static int
setup(void **state)
{
	struct tree *t = calloc(1, sizeof *t);
	char         host[128], err[512], text[300];
	int          created;

	assert_non_null(t);
	snprintf(t->dir, sizeof t->dir, "/tmp/alknet-test-ids.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(host, sizeof host, "%s/host", t->dir);
	snprintf(t->ak, sizeof t->ak, "%s/authorized_keys", t->dir);
	assert_int_equal(
	    sshd_load_host_key(host, &created, err, sizeof err), 0);
	new_key(t->file_line, sizeof t->file_line, "filekey", NULL);
	snprintf(text, sizeof text, "%s\n", t->file_line);
	write_text(t->ak, text);
	new_key(t->line, sizeof t->line, "alice@laptop", &t->key);
	new_key(t->line2, sizeof t->line2, "bob", NULL);
	start(t);
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct tree *t = *state;
	const char  *files[] = {"host", "host.pub", "authorized_keys",
	     "alknet.db", "alknet.db-wal", "alknet.db-shm"};
	char         path[160];
	size_t       i;

	stop(t);
	ssh_key_free(t->key);
	for (i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", t->dir, files[i]);
		unlink(path);
	}
	assert_int_equal(rmdir(t->dir), 0);
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

static uint64_t
file_of(struct tree *t, const char *id, const char *file)
{
	uint64_t dir = lookup(t->ns, lookup(t->ns, ROOT, "identities"), id);

	return lookup(t->ns, dir, file);
}

/* The content of identities/<id>/<file>, without its newline. */
static char *
value(struct tree *t, const char *id, const char *file)
{
	char  *buf = NULL, *s;
	size_t len = 0;

	assert_int_equal(
	    ns_read(t->ns, file_of(t, id, file), 0, &buf, &len), 0);
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	s = strndup(buf, len);
	free(buf);
	return s;
}

static void
expect_file(struct tree *t, const char *id, const char *file, const char *want)
{
	char *s = value(t, id, file);

	assert_string_equal(s, want);
	free(s);
}

static int
set(struct tree *t, const char *id, const char *file, const char *v)
{
	return run_write(t->ns, file_of(t, id, file), v, strlen(v));
}

static int
ctl(struct tree *t, uint64_t ino, const char *line, char *reply)
{
	return run_ctl(t->ns, ino, line, reply, 512);
}

static int
count_row(const struct storage_identity *id, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static int
stored_rows(struct tree *t)
{
	int n = 0;

	assert_int_equal(
	    storage_identity_each(persist_storage(t->persist), count_row, &n),
	    0);
	return n;
}

static int
listed(struct tree *t, const char *name)
{
	struct ns_dirent *ents;
	size_t            n, i;
	int               found = 0;

	assert_int_equal(
	    ns_readdir(t->ns, lookup(t->ns, ROOT, "identities"), &ents, &n), 0);
	for (i = 0; i < n; i++)
		found |= strcmp(ents[i].name, name) == 0;
	free(ents);
	return found;
}

/* Whether the server lets the key of t->line in now. */
static int
usable(struct tree *t)
{
	return authkeys_find(sshd_authkeys(t->sshd), t->key) >= 0;
}

static void
test_mkdir_then_key(void **state)
{
	struct tree   *t = *state;
	struct ns_attr a;
	uint64_t       ids = lookup(t->ns, ROOT, "identities"), emitted;
	char          *s;

	assert_int_equal(run_mkdir(t->ns, ids, "alice", &a), 0);
	assert_int_equal(a.mode, S_IFDIR | 0555);
	assert_true(listed(t, "alice"));
	expect_file(t, "alice", "source", "pending");
	expect_file(t, "alice", "kind", "key");
	expect_file(t, "alice", "scopes", "relay:connect");
	expect_file(t, "alice", "id", "");
	assert_int_equal(
	    ns_lookup(t->ns, lookup(t->ns, ids, "alice"), "key", &a), 0);
	assert_int_equal(a.mode, S_IFREG | 0666);
	assert_true(a.writable);

	/* Bad values are refused with a reason, and change nothing. */
	emitted = events_emitted();
	assert_int_equal(set(t, "alice", "kind", "sometimes"), -EINVAL);
	s = value(t, "alice", "error");
	assert_non_null(strstr(s, "kind is"));
	free(s);
	assert_int_equal(set(t, "alice", "scopes", "a,,b"), -EINVAL);
	assert_int_equal(
	    set(t, "alice", "key", "ssh-ed25519 AAAAjunk x"), -EINVAL);
	s = value(t, "alice", "error");
	assert_non_null(strstr(s, "does not decode"));
	assert_null(strstr(s, "AAAA"));
	free(s);
	assert_int_equal(set(t, "alice", "key", "hello world"), -EINVAL);
	expect_file(t, "alice", "source", "pending");
	assert_int_equal(stored_rows(t), 0);
	assert_int_equal(events_emitted(), emitted);
	assert_false(usable(t));

	/* The key stores it, with what was written before. */
	assert_int_equal(
	    set(t, "alice", "scopes", "relay:connect,ops:read"), 0);
	assert_int_equal(set(t, "alice", "key", t->line), 0);
	assert_int_equal(events_emitted(), emitted + 1);
	assert_int_equal(stored_rows(t), 1);
	assert_true(usable(t));
	expect_file(t, "alice", "source", "store");
	expect_file(t, "alice", "key", t->line);
	expect_file(t, "alice", "scopes", "relay:connect,ops:read");
	expect_file(t, "alice", "error", "");
	s = value(t, "alice", "id");
	assert_memory_equal(s, "SHA256:", 7);
	free(s);

	/* Its key and kind stay; its scopes change, announced. */
	assert_int_equal(set(t, "alice", "key", t->line2), -EBUSY);
	assert_int_equal(set(t, "alice", "kind", "token-key"), -EBUSY);
	assert_int_equal(set(t, "alice", "scopes", "ops:*"), 0);
	assert_int_equal(events_emitted(), emitted + 2);
	expect_file(t, "alice", "scopes", "ops:*");

	assert_int_equal(run_rmdir(t->ns, ids, "alice"), 0);
	assert_int_equal(events_emitted(), emitted + 3);
	assert_false(listed(t, "alice"));
	assert_false(usable(t));
	assert_int_equal(stored_rows(t), 0);
}

static void
test_refusals(void **state)
{
	struct tree   *t = *state;
	struct ns_attr a;
	uint64_t       ids = lookup(t->ns, ROOT, "identities");
	char           line[600], reply[512];

	/* The file's identity is the file's to change. */
	expect_file(t, "filekey", "source", "file");
	assert_int_equal(run_rmdir(t->ns, ids, "filekey"), -EPERM);
	assert_int_equal(set(t, "filekey", "scopes", "ops:*"), -EPERM);
	assert_int_equal(set(t, "filekey", "key", t->line), -EPERM);
	assert_int_equal(
	    ctl(t, file_of(t, "filekey", "ctl"), "remove", reply), -EPERM);
	assert_non_null(strstr(reply, "authorized_keys"));

	/* Names: taken, malformed, or of the file's generated kind. */
	assert_int_equal(run_mkdir(t->ns, ids, "filekey", &a), -EEXIST);
	assert_int_equal(run_mkdir(t->ns, ids, "key3", &a), -EINVAL);
	assert_int_equal(run_mkdir(t->ns, ids, "a b", &a), -EINVAL);
	assert_int_equal(run_mkdir(t->ns, ids, "p", &a), 0);
	assert_int_equal(run_mkdir(t->ns, ids, "p", &a), -EEXIST);
	assert_int_equal(run_rmdir(t->ns, ids, "nosuch"), -ENOENT);

	/* A key is one identity at most. */
	snprintf(line, sizeof line, "identity add carol %s", t->file_line);
	assert_int_equal(
	    ctl(t, lookup(t->ns, ROOT, "ctl"), line, reply), -EEXIST);
	assert_non_null(strstr(reply, "filekey"));
	assert_int_equal(set(t, "p", "key", t->file_line), -EEXIST);
	expect_file(t, "p", "source", "pending");
	snprintf(line, sizeof line, "identity add p %s", t->line);
	assert_int_equal(
	    ctl(t, lookup(t->ns, ROOT, "ctl"), line, reply), -EEXIST);
	assert_int_equal(stored_rows(t), 0);

	/* A pending one goes without a trace. */
	assert_int_equal(ctl(t, file_of(t, "p", "ctl"), "remove", reply), 0);
	assert_false(listed(t, "p"));
}

static void
test_ctl(void **state)
{
	struct tree *t = *state;
	uint64_t     node = lookup(t->ns, ROOT, "ctl");
	char         line[600], reply[512];

	snprintf(line, sizeof line,
	    "identity add ann %s scopes=relay:connect,x:y", t->line);
	assert_int_equal(ctl(t, node, line, reply), 0);
	assert_string_equal(reply, "ok name=ann\n");
	assert_true(usable(t));
	expect_file(t, "ann", "scopes", "relay:connect,x:y");
	expect_file(t, "ann", "kind", "key");
	assert_int_equal(stored_rows(t), 1);

	/* A CA or token key is never a user key. */
	snprintf(line, sizeof line, "identity add ca %s kind=cert-authority",
	    t->line2);
	assert_int_equal(ctl(t, node, line, reply), 0);
	expect_file(t, "ca", "kind", "cert-authority");

	assert_int_equal(
	    ctl(t, node, "identity add x ssh-ed25519", reply), -EINVAL);
	assert_int_equal(
	    ctl(t, node, "identity add x ssh-ed25519 AAAA", reply), -EINVAL);
	snprintf(line, sizeof line, "identity add y %s kind=other", t->line);
	assert_int_equal(ctl(t, node, line, reply), -EINVAL);
	assert_int_equal(ctl(t, node, "identity drop ann", reply), -EINVAL);
	assert_int_equal(
	    ctl(t, node, "identity remove nosuch", reply), -ENOENT);
	assert_int_equal(stored_rows(t), 2);

	assert_int_equal(ctl(t, node, "identity remove ann", reply), 0);
	assert_false(usable(t));
	assert_int_equal(stored_rows(t), 1);
}

static void
test_reload_and_restart(void **state)
{
	struct tree *t = *state;
	char         line[600], reply[512], text[600], err[512];

	snprintf(line, sizeof line, "identity add bob %s scopes=a:b", t->line);
	assert_int_equal(ctl(t, lookup(t->ns, ROOT, "ctl"), line, reply), 0);

	/* A file entry that comments itself as bob does not take the name. */
	snprintf(text, sizeof text, "%s\n%s\n", t->file_line, t->line2);
	write_text(t->ak, text);
	assert_int_equal(sshd_reload(t->sshd, err, sizeof err), 0);
	expect_file(t, "bob", "source", "store");
	expect_file(t, "bob", "scopes", "a:b");
	expect_file(t, "key2", "source", "file");
	assert_true(usable(t));

	stop(t);
	start(t);
	expect_file(t, "bob", "source", "store");
	expect_file(t, "bob", "scopes", "a:b");
	assert_true(usable(t));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_mkdir_then_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ctl, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_reload_and_restart, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
