/*
 * The filesystem's calls into the registry.  A call is a small record
 * the registry's done callback receives; giving up clears its callback,
 * so the record outlives its caller until the answer frees it.
 */
#include <errno.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "opcall.h"
#include "reply.h"

#define OPCALL_PW_BUF 4096

struct opcall {
	opcall_cb        cb; /* NULL once aborted */
	void            *arg;
	struct registry *r;
	char             id[32];
};

static uint64_t opcall_seq;

int
opcall_local(uid_t uid, const struct grants *g, struct opcall_who *who)
{
	struct passwd pw, *res = NULL;
	char          buf[OPCALL_PW_BUF], num[24];
	const char   *user;
	int           rc;

	snprintf(num, sizeof num, "%lu", (unsigned long)uid);
	user = num;
	if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res != NULL)
		user = pw.pw_name;
	rc = registry_local_id(user, who->text, sizeof who->text);
	if (rc != 0)
		return rc;

	grants_scopes(g, who->text, NULL, who->scopes,
	    sizeof who->scopes / sizeof who->scopes[0]);
	who->id.id = who->text;
	who->id.scopes = who->scopes;
	who->id.resources = NULL;
	return 0;
}

static void
opcall_done(const struct registry_result *res, void *arg)
{
	struct opcall *c = arg;

	if (c->cb != NULL)
		c->cb(res, c->arg);
	if (!res->more)
		free(c);
}

int
opcall_start(struct registry *r, const struct registry_identity *who,
    const char *name, json_t *input, opcall_cb cb, void *arg,
    struct opcall **out)
{
	struct registry_ctx ctx;
	struct opcall      *c;
	int                 rc;

	if ((c = calloc(1, sizeof *c)) == NULL)
		return -ENOMEM;
	c->cb = cb;
	c->arg = arg;
	c->r = r;

	snprintf(
	    c->id, sizeof c->id, "fs-%llu", (unsigned long long)++opcall_seq);
	memset(&ctx, 0, sizeof ctx);
	ctx.identity = who;
	ctx.request_id = c->id;
	ctx.origin = c;
	if ((rc = registry_dispatch(r, &ctx, name, input, opcall_done, c)) !=
	    0) {
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void
opcall_abort(struct opcall *c)
{
	if (c == NULL)
		return;
	c->cb = NULL;
	/* The record goes with the last answer, ABORTED or one that was
	 * on its way already. */
	registry_abort(c->r, c, c->id);
}

int
opcall_errno(const struct registry_result *res)
{
	if (res->error == NULL)
		return 0;
	if (res->errnum > 0)
		return -res->errnum;
	switch (res->error->code) {
	case REPLY_FORBIDDEN:
		return -EACCES;
	case REPLY_NOT_FOUND:
		return -ENOENT;
	case REPLY_INVALID_INPUT:
		return -EINVAL;
	default:
		return -EIO;
	}
}

char *
opcall_text(const struct registry_result *res)
{
	json_t *o;
	char   *text, *line = NULL;

	if (res->error != NULL)
		o = json_pack("{s:{s:s,s:s,s:b}}", "error", "code",
		    reply_code_name(res->error->code), "message",
		    res->error->message != NULL ? res->error->message : "",
		    "retryable", res->error->retryable);
	else
		o = json_pack("{s:O}", "output", res->output);
	if (o == NULL)
		return NULL;

	text = json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(o);
	if (text != NULL && asprintf(&line, "%s\n", text) < 0)
		line = NULL;
	free(text);
	return line;
}
