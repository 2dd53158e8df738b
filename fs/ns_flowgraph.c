/*
 * flowgraph/: the calls this node has seen and how they triggered each
 * other (calls.json, calls.dot, and a directory per call under calls/),
 * and the operations it offers and which can feed which (ops.json,
 * ops.dot).  The call graph is recorded from the registry's observer
 * (callgraph.h) from ns_flowgraph_start on; the operation graph is built
 * from the registry at each open, since operations come and go.
 *
 * A call's directory is named by its call id and numbered by the call's
 * number in the graph, which is never given twice: a call dropped from
 * the graph takes its inode number with it.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "callgraph.h"
#include "flowgraph.h"
#include "ns.h"
#include "ns_files.h"
#include "registry.h"

/* Calls kept: enough to see what a busy minute did, small enough that
 * formatting the graph (quadratic, flowgraph.c) stays cheap. */
#define NS_FLOWGRAPH_MAX_CALLS 1024

static struct {
	struct registry  *r;
	struct callgraph *cg; /* NULL: not recording */
} fg;

int
ns_flowgraph_start(struct registry *r)
{
	int rc;

	if (fg.cg != NULL)
		return -EBUSY;
	if ((rc = callgraph_new(
	         r, NS_FLOWGRAPH_MAX_CALLS, NULL, NULL, &fg.cg)) < 0)
		return rc;
	fg.r = r;
	return 0;
}

void
ns_flowgraph_stop(void)
{
	callgraph_free(fg.cg);
	fg.cg = NULL;
	fg.r = NULL;
}

/* text (malloc'ed, taken; NULL on ENOMEM) and a newline as content. */
static int
ns_flowgraph_text(char *text, char **buf, size_t *len)
{
	int n;

	if (text == NULL)
		return -ENOMEM;
	n = asprintf(buf, "%s\n", text);
	free(text);
	if (n < 0)
		return -ENOMEM;
	*len = (size_t)n;
	return 0;
}

/* doc (a new reference; NULL on ENOMEM) as indented JSON content. */
static int
ns_flowgraph_json(json_t *doc, char **buf, size_t *len)
{
	char *text;

	if (doc == NULL)
		return -ENOMEM;
	text = json_dumps(doc, JSON_INDENT(2));
	json_decref(doc);
	return ns_flowgraph_text(text, buf, len);
}

/* DOT text (malloc'ed, taken; NULL on ENOMEM), which ends in a
 * newline already, as content. */
static int
ns_flowgraph_dot(char *dot, char **buf, size_t *len)
{
	if (dot == NULL)
		return -ENOMEM;
	*buf = dot;
	*len = strlen(dot);
	return 0;
}

int
ns__flowgraph_fill(struct ns *ns, uint64_t obj, struct ns_rec *r)
{
	return fg.cg != NULL ? 0 : -ENOENT;
}

int
ns__flowgraph_gen_calls_json(
    struct ns *ns, uint64_t obj, char **buf, size_t *len)
{
	if (fg.cg == NULL)
		return -ENOENT;
	return ns_flowgraph_json(
	    flowgraph_calls_json(callgraph_calls(fg.cg)), buf, len);
}

int
ns__flowgraph_gen_calls_dot(
    struct ns *ns, uint64_t obj, char **buf, size_t *len)
{
	if (fg.cg == NULL)
		return -ENOENT;
	return ns_flowgraph_dot(
	    flowgraph_calls_dot(callgraph_calls(fg.cg)), buf, len);
}

/*
 * The operation graph of the operations registered now.  Specs that
 * cannot make one (their edges close a cycle) give no graph but the
 * reason, which the files show rather than failing the open.
 */
static int
ns_flowgraph_ops(struct flowgraph_ops **out, char *why, size_t whylen)
{
	int rc;

	*out = NULL;
	if (fg.cg == NULL)
		return -ENOENT;
	rc = flowgraph_ops_from_registry(fg.r, out, why, whylen);
	return rc == -ENOMEM ? rc : 0;
}

int
ns__flowgraph_gen_ops_json(struct ns *ns, uint64_t obj, char **buf, size_t *len)
{
	struct flowgraph_ops *g;
	char                  why[256] = "";
	json_t               *doc;
	int                   rc;

	if ((rc = ns_flowgraph_ops(&g, why, sizeof why)) != 0)
		return rc;
	doc = g != NULL ? flowgraph_ops_json(g)
	                : json_pack("{s:s}", "error", why);
	flowgraph_ops_free(g);
	return ns_flowgraph_json(doc, buf, len);
}

/* A graph that shows only why there is none; why may quote names,
 * which may hold quotes and backslashes. */
static char *
ns_flowgraph_dot_error(const char *why)
{
	char  *buf = NULL;
	size_t len;
	FILE  *f;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return NULL;
	fputs("digraph ops {\n\tlabel=\"", f);
	for (; *why != '\0'; why++) {
		if (*why == '"' || *why == '\\')
			fputc('\\', f);
		fputc(*why, f);
	}
	fputs("\";\n}\n", f);
	if (fclose(f) == 0)
		return buf;
	free(buf);
	return NULL;
}

int
ns__flowgraph_gen_ops_dot(struct ns *ns, uint64_t obj, char **buf, size_t *len)
{
	struct flowgraph_ops *g;
	char                  why[256] = "";
	char                 *dot = NULL;
	int                   rc;

	if ((rc = ns_flowgraph_ops(&g, why, sizeof why)) != 0)
		return rc;
	dot = g != NULL ? flowgraph_ops_dot(g) : ns_flowgraph_dot_error(why);
	flowgraph_ops_free(g);
	return ns_flowgraph_dot(dot, buf, len);
}

/* Call directories */

static int
ns_flowgraph_call(uint64_t obj, struct flowgraph_call *c)
{
	if (fg.cg == NULL)
		return -ENOENT;
	return flowgraph_calls_seq(callgraph_calls(fg.cg), obj, c);
}

int
ns__flowcall_resolve(struct ns *ns, const char *name, uint64_t *obj)
{
	struct flowgraph_call c;

	if (fg.cg == NULL ||
	    flowgraph_calls_get(callgraph_calls(fg.cg), name, &c) != 0)
		return -ENOENT;
	*obj = c.seq;
	return 0;
}

int
ns__flowcall_list(struct ns *ns, struct ns_dirlist *dl)
{
	const struct flowgraph_calls *g = callgraph_calls(fg.cg);
	struct flowgraph_call         c;
	size_t                        i;
	int                           rc = 0;

	for (i = 0; rc == 0 && flowgraph_calls_at(g, i, &c) == 0; i++)
		rc = ns__dirlist_add(
		    dl, c.id, ns_ino(NS_FLOWCALL, c.seq, 0), S_IFDIR);
	return rc;
}

/* A time, or an empty value while the call is pending. */
static void
ns_flowcall_time(struct ns_rec *r, const char *key,
    const struct flowgraph_call *c, uint64_t ms)
{
	if (c->status == FLOWGRAPH_PENDING)
		ns__rec_str(r, key, "");
	else
		ns__rec_time(r, key, (int64_t)ms);
}

int
ns__flowcall_fill(struct ns *ns, uint64_t obj, struct ns_rec *r)
{
	struct flowgraph_call c;
	int                   rc;

	if ((rc = ns_flowgraph_call(obj, &c)) != 0)
		return rc;
	ns__rec_str(r, "id", c.id);
	ns__rec_str(r, "op", c.op);
	ns__rec_str(r, "status", flowgraph_status_name(c.status));
	ns__rec_str(r, "parent", c.parent);
	ns__rec_str(r, "identity", c.identity);
	ns__rec_str(r, "error", c.error);
	ns__rec_time(r, "started", (int64_t)c.started_ms);
	ns_flowcall_time(r, "ended", &c, c.ended_ms);
	if (c.status == FLOWGRAPH_PENDING)
		ns__rec_str(r, "duration_ms", "");
	else
		ns__rec_int(r, "duration_ms", flowgraph_call_duration(&c));
	return 0;
}

/* ids, one a line, as content. */
static int
ns_flowcall_ids(const char **ids, size_t n, char **buf, size_t *len)
{
	FILE  *f;
	size_t i;

	if ((f = open_memstream(buf, len)) == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		fprintf(f, "%s\n", ids[i]);
	if (fclose(f) == 0)
		return 0;
	free(*buf);
	*buf = NULL;
	return -ENOMEM;
}

/* The calls call obj triggered (lineage 0), or those from its root down
 * to it (lineage 1), one a line. */
static int
ns_flowcall_gen_ids(uint64_t obj, int lineage, char **buf, size_t *len)
{
	const struct flowgraph_calls *g = callgraph_calls(fg.cg);
	struct flowgraph_call         c;
	const char                  **ids;
	size_t                        n = 0, cap;
	int                           rc;

	if ((rc = ns_flowgraph_call(obj, &c)) != 0)
		return rc;
	cap = flowgraph_calls_count(g);
	if ((ids = calloc(cap, sizeof *ids)) == NULL)
		return -ENOMEM;

	if (lineage)
		rc = flowgraph_calls_lineage(g, c.id, ids, cap, &n);
	else
		rc = flowgraph_calls_children(g, c.id, ids, cap, &n);
	if (rc == 0)
		rc = ns_flowcall_ids(ids, n, buf, len);
	free(ids);
	return rc;
}

int
ns__flowcall_gen_children(struct ns *ns, uint64_t obj, char **buf, size_t *len)
{
	return ns_flowcall_gen_ids(obj, 0, buf, len);
}

int
ns__flowcall_gen_lineage(struct ns *ns, uint64_t obj, char **buf, size_t *len)
{
	return ns_flowcall_gen_ids(obj, 1, buf, len);
}

int
ns__flowcall_gen_json(struct ns *ns, uint64_t obj, char **buf, size_t *len)
{
	struct flowgraph_call c;
	int                   rc;

	if ((rc = ns_flowgraph_call(obj, &c)) != 0)
		return rc;
	return ns_flowgraph_json(
	    flowgraph_calls_call_json(callgraph_calls(fg.cg), c.id), buf, len);
}
