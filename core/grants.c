/*
 * The operation ACL.  A rule set is parsed whole into an array of rules,
 * each an identity and its scopes, so that a bad line refuses the set
 * before anything of it is used.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grants.h"

#define GRANTS_ID_MAX 128 /* bytes of an identity, without NUL */
#define GRANTS_SCOPE_CHARS                                                     \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:._*-"
#define GRANTS_B64_CHARS                                                       \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"

struct grants_rule {
	char       *id;
	char       *text; /* the scopes, NUL-separated */
	const char *scopes[GRANTS_SCOPES_MAX + 1];
	size_t      line;
};

struct grants {
	struct grants_rule *v;
	size_t              n;
};

static int
grants_id_ok(const char *id)
{
	const char *p;

	if (strlen(id) > GRANTS_ID_MAX)
		return 0;
	/* A whole fingerprint: 32 bytes of SHA-256 in unpadded base64. */
	if (strncmp(id, "SHA256:", 7) == 0)
		return strlen(id + 7) == 43 &&
		    strspn(id + 7, GRANTS_B64_CHARS) == 43;
	if (strncmp(id, "local:", 6) != 0 || id[6] == '\0')
		return 0;

	/* A user name as registry_local_id takes it. */
	for (p = id + 6; *p != '\0'; p++) {
		if (*p <= ' ' || *p > '~' || *p == ':' || *p == '/')
			return 0;
	}
	return 1;
}

/* Splits the comma-separated list s (modified) into r's scopes. */
static int
grants_split(struct grants_rule *r, char *s, char *err, size_t errlen)
{
	char  *p, *save = NULL;
	size_t n = 0, len;

	/* strtok_r would pass over empty items. */
	if (s[0] == ',' || s[strlen(s) - 1] == ',' || strstr(s, ",,") != NULL) {
		snprintf(err, errlen, "expected ID SCOPE[,SCOPE...]");
		return -EINVAL;
	}
	for (p = strtok_r(s, ",", &save); p != NULL;
	     p = strtok_r(NULL, ",", &save)) {
		len = strlen(p);
		if (len > GRANTS_SCOPE_LEN ||
		    strspn(p, GRANTS_SCOPE_CHARS) != len) {
			snprintf(err, errlen, "bad scope \"%.64s\"", p);
			return -EINVAL;
		}
		if (n == GRANTS_SCOPES_MAX) {
			snprintf(err, errlen, "more than %d scopes",
			    GRANTS_SCOPES_MAX);
			return -EINVAL;
		}
		r->scopes[n++] = p;
	}
	r->scopes[n] = NULL;
	return 0;
}

static const struct grants_rule *
grants_find(const struct grants *g, const char *id)
{
	size_t i;

	for (i = 0; g != NULL && i < g->n; i++) {
		if (strcmp(g->v[i].id, id) == 0)
			return &g->v[i];
	}
	return NULL;
}

/* Fills r from the words of one line; err says why it is refused. */
static int
grants_rule(const struct grants *g, struct grants_rule *r, const char *id,
    const char *scopes, char *err, size_t errlen)
{
	const struct grants_rule *prev;

	if (scopes == NULL) {
		snprintf(err, errlen, "expected ID SCOPE[,SCOPE...]");
		return -EINVAL;
	}
	if (!grants_id_ok(id)) {
		snprintf(err, errlen,
		    "bad identity \"%.64s\" (SHA256:... or local:USER)", id);
		return -EINVAL;
	}
	if ((prev = grants_find(g, id)) != NULL) {
		snprintf(err, errlen, "%.64s already has a rule on line %zu",
		    id, prev->line);
		return -EINVAL;
	}

	if ((r->id = strdup(id)) == NULL || (r->text = strdup(scopes)) == NULL)
		return -ENOMEM;
	return grants_split(r, r->text, err, errlen);
}

/* Adds the rule of line (modified), number lineno, to g. */
static int
grants_line(
    struct grants *g, char *line, size_t lineno, char *err, size_t errlen)
{
	struct grants_rule *r;
	char               *id, *scopes, *save = NULL;
	int                 rc;

	id = strtok_r(line, " \t\r", &save);
	if (id == NULL || id[0] == '#')
		return 0;
	scopes = strtok_r(NULL, " \t\r", &save);
	if (scopes != NULL && strtok_r(NULL, " \t\r", &save) != NULL) {
		snprintf(err, errlen, "expected ID SCOPE[,SCOPE...]");
		return -EINVAL;
	}
	if (g->n == GRANTS_RULES_MAX) {
		snprintf(err, errlen, "more than %d rules", GRANTS_RULES_MAX);
		return -EINVAL;
	}

	r = &g->v[g->n];
	memset(r, 0, sizeof *r);
	r->line = lineno;
	rc = grants_rule(g, r, id, scopes, err, errlen);
	if (rc != 0) {
		free(r->id);
		free(r->text);
		return rc;
	}
	g->n++;
	return 0;
}

int
grants_parse(const char *text, struct grants **out, char *err, size_t errlen)
{
	struct grants *g = NULL;
	char          *copy = NULL, *line, *save = NULL, why[256] = "";
	size_t         lineno = 0;
	int            rc = -ENOMEM;

	if ((g = calloc(1, sizeof *g)) == NULL ||
	    (g->v = calloc(GRANTS_RULES_MAX, sizeof *g->v)) == NULL ||
	    (copy = strdup(text)) == NULL)
		goto out;

	/* strtok_r would skip empty lines and lose their numbers. */
	rc = 0;
	for (line = copy; line != NULL && rc == 0; line = save) {
		if ((save = strchr(line, '\n')) != NULL)
			*save++ = '\0';
		lineno++;
		rc = grants_line(g, line, lineno, why, sizeof why);
	}
	if (rc == -EINVAL)
		snprintf(err, errlen, "line %zu: %s", lineno, why);
	else if (rc != 0)
		snprintf(err, errlen, "out of memory");

out:
	free(copy);
	if (rc != 0) {
		grants_free(g);
		return rc;
	}
	*out = g;
	return 0;
}

void
grants_free(struct grants *g)
{
	size_t i;

	if (g == NULL)
		return;
	for (i = 0; i < g->n; i++) {
		free(g->v[i].id);
		free(g->v[i].text);
	}
	free(g->v);
	free(g);
}

size_t
grants_count(const struct grants *g)
{
	return g != NULL ? g->n : 0;
}

char *
grants_format(const struct grants *g)
{
	char  *buf = NULL;
	size_t len, i, j;
	FILE  *f;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return NULL;
	for (i = 0; g != NULL && i < g->n; i++) {
		fprintf(f, "%s ", g->v[i].id);
		for (j = 0; g->v[i].scopes[j] != NULL; j++)
			fprintf(f, "%s%s", j > 0 ? "," : "", g->v[i].scopes[j]);
		fputc('\n', f);
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* Adds scope to out unless it is there; returns the new count. */
static size_t
grants_add(const char **out, size_t k, size_t n, const char *scope)
{
	size_t i;

	for (i = 0; i < k; i++) {
		if (strcmp(out[i], scope) == 0)
			return k;
	}
	if (k + 1 >= n)
		return k;
	out[k] = scope;
	return k + 1;
}

size_t
grants_scopes(const struct grants *g, const char *id, const char *const *base,
    const char **out, size_t n)
{
	const struct grants_rule *r = id != NULL ? grants_find(g, id) : NULL;
	size_t                    k = 0, i;

	if (n == 0)
		return 0;
	for (i = 0; base != NULL && base[i] != NULL; i++)
		k = grants_add(out, k, n, base[i]);
	for (i = 0; r != NULL && r->scopes[i] != NULL; i++)
		k = grants_add(out, k, n, r->scopes[i]);
	out[k] = NULL;
	return k;
}
