/*
 * The namespace's writes as the FUSE adapter makes them, without FUSE:
 * the operation a write stands for is called as local:root through the
 * node's registry (ops.h), and its answer becomes an errno, a ctl
 * file's answer or a value file's error.
 */
#ifndef ALKNET_TEST_NSRUN_H
#define ALKNET_TEST_NSRUN_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ns.h"
#include "ns_ctl.h"
#include "opcall.h"
#include "ops.h"
#include "registry.h"

struct nsrun_answer {
	int                rc;
	const char *const *shows;
	char               text[512];
};

static struct registry *nsrun_r;

/* The operations of a node over sshd and st (either may be NULL); the
 * loop runs nothing of theirs until the test runs it. */
static inline void
nsrun_start(uv_loop_t *loop, struct sshd *sshd, struct storage *st)
{
	char err[256];

	assert_int_equal(ops_start(loop, sshd, st, err, sizeof err), 0);
	nsrun_r = ops_registry();
}

static inline void
nsrun_stop(void)
{
	ops_stop();
	nsrun_r = NULL;
}

static inline void
nsrun_done(const struct registry_result *res, void *arg)
{
	struct nsrun_answer *a = arg;

	a->rc = opcall_errno(res);
	if (a->rc == 0)
		ns_ctl_detail(a->shows, res->output, a->text, sizeof a->text);
	else
		snprintf(a->text, sizeof a->text, "%s", res->error->message);
}

/* Calls op (its input is dropped) and waits for the answer. */
static inline int
nsrun_call(struct ns_op *op, struct nsrun_answer *a)
{
	struct registry_identity root = {REGISTRY_LOCAL_ROOT, NULL, NULL};
	struct registry_ctx      ctx = {&root, 0, "test", NULL, NULL, NULL};

	a->rc = -EIO;
	a->shows = op->shows;
	a->text[0] = '\0';
	if (!registry_has(nsrun_r, op->name)) {
		json_decref(op->input);
		snprintf(a->text, sizeof a->text, "%s",
		    op->absent != NULL ? op->absent : "");
		return a->rc = -ENOTSUP;
	}
	assert_int_equal(registry_dispatch(
	                     nsrun_r, &ctx, op->name, op->input, nsrun_done, a),
	    0);
	json_decref(op->input);
	assert_int_equal(registry_deliver(nsrun_r), 1);
	return a->rc;
}

/* A command written to ctl file ino; reply gets what a read returns. */
static inline int
run_ctl(
    struct ns *ns, uint64_t ino, const char *line, char *reply, size_t replylen)
{
	struct nsrun_answer a;
	struct ns_op        op;
	int                 rc;

	rc = ns_op_of(ns, ino, line, strlen(line), &op, a.text, sizeof a.text);
	if (rc == 1)
		rc = nsrun_call(&op, &a);
	if (rc == 0)
		snprintf(reply, replylen, "ok%s%.200s\n",
		    a.text[0] != '\0' ? " " : "", a.text);
	else
		snprintf(reply, replylen, "error: %.200s\n",
		    a.text[0] != '\0' ? a.text : strerror(-rc));
	return rc;
}

/* The len bytes at data as the whole value of value file ino. */
static inline int
run_write(struct ns *ns, uint64_t ino, const char *data, size_t len)
{
	struct nsrun_answer a;
	struct ns_op        op;
	int                 rc;

	rc = ns_op_of(ns, ino, data, len, &op, a.text, sizeof a.text);
	if (rc != 1)
		return rc;
	rc = nsrun_call(&op, &a);
	ns_op_done(ns, ino, rc == 0 ? NULL : a.text);
	return rc;
}

static inline int
run_mkdir(struct ns *ns, uint64_t parent, const char *name, struct ns_attr *a)
{
	struct nsrun_answer ans;
	struct ns_op        op;
	int                 rc;

	if ((rc = ns_dir_op(ns, parent, name, 1, &op)) != 1)
		return rc;
	if ((rc = nsrun_call(&op, &ans)) != 0)
		return rc;
	return ns_lookup(ns, parent, name, a);
}

static inline int
run_rmdir(struct ns *ns, uint64_t parent, const char *name)
{
	struct nsrun_answer ans;
	struct ns_op        op;
	int                 rc;

	if ((rc = ns_dir_op(ns, parent, name, 0, &op)) != 1)
		return rc;
	return nsrun_call(&op, &ans);
}

#endif
