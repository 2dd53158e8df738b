/*
 * JSON Schema subset for operation specs.
 *
 * Keywords live in one table: each has a check, run once when the schema
 * is made, and a test, run on every value.  Tests run in table order,
 * not in the order the schema lists its keywords, so the first failure
 * reported for a value does not depend on how the schema was written:
 * "type" goes first, so a string given for an integer is reported as
 * the wrong type rather than as whatever else it fails.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"

#define SCHEMA_PATH_MAX 256
#define SCHEMA_MSG_MAX  160

struct schema {
	json_t *doc;
};

/* Where a check or a test stands, and where its error goes. */
struct schema_walk {
	char   path[SCHEMA_PATH_MAX];
	size_t len;
	int    depth;
	char  *err;
	size_t errlen;
};

struct schema_keyword {
	const char *name;
	int (*check)(struct schema_walk *w, json_t *arg);
	/* NULL for annotations; sch is the schema holding the keyword. */
	int (*test)(struct schema_walk *w, json_t *sch, json_t *arg, json_t *v);
};

enum {
	SCHEMA_T_STRING = 1 << 0,
	SCHEMA_T_INTEGER = 1 << 1,
	SCHEMA_T_NUMBER = 1 << 2,
	SCHEMA_T_BOOLEAN = 1 << 3,
	SCHEMA_T_OBJECT = 1 << 4,
	SCHEMA_T_ARRAY = 1 << 5,
	SCHEMA_T_NULL = 1 << 6,
};

static const char *const schema_type_names[] = {
    "string", "integer", "number", "boolean", "object", "array", "null"};

#define SCHEMA_NTYPES (sizeof schema_type_names / sizeof *schema_type_names)

static int schema_fail(struct schema_walk *w, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Cuts a trailing partial UTF-8 sequence, so a shortened message stays
 * valid text for the JSON it is sent in. */
static void
schema_utf8_trim(char *s)
{
	size_t n = strlen(s), start = n, need;

	while (start > 0 && ((unsigned char)s[start - 1] & 0xc0) == 0x80)
		start--;
	if (start == 0 || ((unsigned char)s[start - 1] & 0x80) == 0)
		return;

	start--;
	need = ((unsigned char)s[start] & 0xe0) == 0xc0 ? 2
	    : ((unsigned char)s[start] & 0xf0) == 0xe0  ? 3
	                                                : 4;
	if (n - start < need)
		s[start] = '\0';
}

static int
schema_fail(struct schema_walk *w, int rc, const char *fmt, ...)
{
	char    msg[SCHEMA_MSG_MAX];
	va_list ap;

	if (w->err == NULL || w->errlen == 0)
		return rc;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(w->err, w->errlen, "%s: %s", w->path, msg);
	schema_utf8_trim(w->err);
	return rc;
}

/* Appends text to the path, cut short between characters when the path
 * is full. */
static void
schema_append(struct schema_walk *w, const char *text)
{
	size_t room = sizeof w->path - 1 - w->len, n = strlen(text);

	if (n > room) {
		n = room;
		while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(w->path + w->len, text, n);
	w->len += n;
	w->path[w->len] = '\0';
}

/* Appends ".key"; returns the length to restore with schema_pop. */
static size_t
schema_push_key(struct schema_walk *w, const char *key)
{
	size_t saved = w->len;

	schema_append(w, ".");
	schema_append(w, key);
	return saved;
}

/* Appends "[index]"; returns the length to restore with schema_pop. */
static size_t
schema_push_index(struct schema_walk *w, size_t index)
{
	char   text[32];
	size_t saved = w->len;

	snprintf(text, sizeof text, "[%zu]", index);
	schema_append(w, text);
	return saved;
}

static void
schema_pop(struct schema_walk *w, size_t saved)
{
	w->len = saved;
	w->path[saved] = '\0';
}

static void
schema_walk_init(
    struct schema_walk *w, const char *root, char *err, size_t errlen)
{
	memset(w, 0, sizeof *w);
	w->err = err;
	w->errlen = errlen;
	schema_append(w, root);
	if (err != NULL && errlen > 0)
		err[0] = '\0';
}

/* The type bits a value satisfies: an integer is also a number. */
static int
schema_value_types(json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		return SCHEMA_T_STRING;
	case JSON_INTEGER:
		return SCHEMA_T_INTEGER | SCHEMA_T_NUMBER;
	case JSON_REAL:
		return SCHEMA_T_NUMBER;
	case JSON_TRUE:
	case JSON_FALSE:
		return SCHEMA_T_BOOLEAN;
	case JSON_OBJECT:
		return SCHEMA_T_OBJECT;
	case JSON_ARRAY:
		return SCHEMA_T_ARRAY;
	default:
		return SCHEMA_T_NULL;
	}
}

static int
schema_type_bit(const char *name)
{
	size_t i;

	for (i = 0; i < SCHEMA_NTYPES; i++) {
		if (strcmp(name, schema_type_names[i]) == 0)
			return 1 << i;
	}
	return 0;
}

/* The bits "type" allows: a name or a list of names. */
static int
schema_type_mask(json_t *arg)
{
	size_t  i;
	json_t *t;
	int     mask = 0;

	if (json_is_string(arg))
		return schema_type_bit(json_string_value(arg));
	json_array_foreach(arg, i, t)
	{
		mask |= schema_type_bit(json_string_value(t));
	}
	return mask;
}

/* Nesting depth of a plain JSON value, up to limit + 1. */
static int
schema_value_depth(json_t *v, int limit)
{
	const char *key;
	json_t     *m;
	size_t      i;
	int         d, max = 0;

	if (limit < 0)
		return 1;
	if (json_is_array(v)) {
		json_array_foreach(v, i, m)
		{
			if ((d = schema_value_depth(m, limit - 1)) > max)
				max = d;
		}
		return max + 1;
	}
	if (json_is_object(v)) {
		json_object_foreach(v, key, m)
		{
			if ((d = schema_value_depth(m, limit - 1)) > max)
				max = d;
		}
		return max + 1;
	}
	return 0;
}

/* -1, 0 or 1 as a is below, equal to or above b, both numbers. */
static int
schema_number_cmp(json_t *a, json_t *b)
{
	double x, y;

	if (json_is_integer(a) && json_is_integer(b)) {
		json_int_t i = json_integer_value(a), j = json_integer_value(b);

		return i < j ? -1 : i > j;
	}
	x = json_number_value(a);
	y = json_number_value(b);
	return x < y ? -1 : x > y;
}

/* JSON Schema equality: numbers by value, containers member by member.
 * The depth is bounded by the schema's side, checked when made. */
static int
schema_equal(json_t *a, json_t *b, int depth)
{
	const char *key;
	json_t     *m;
	size_t      i;

	if (depth > SCHEMA_DEPTH_MAX)
		return 0;
	if (json_is_number(a) && json_is_number(b))
		return schema_number_cmp(a, b) == 0;
	if (json_typeof(a) != json_typeof(b))
		return 0;

	switch (json_typeof(a)) {
	case JSON_STRING:
		return json_string_length(a) == json_string_length(b) &&
		    memcmp(json_string_value(a), json_string_value(b),
		        json_string_length(a)) == 0;
	case JSON_ARRAY:
		if (json_array_size(a) != json_array_size(b))
			return 0;
		json_array_foreach(a, i, m)
		{
			if (!schema_equal(m, json_array_get(b, i), depth + 1))
				return 0;
		}
		return 1;
	case JSON_OBJECT:
		if (json_object_size(a) != json_object_size(b))
			return 0;
		json_object_foreach(a, key, m)
		{
			json_t *n = json_object_get(b, key);

			if (n == NULL || !schema_equal(m, n, depth + 1))
				return 0;
		}
		return 1;
	default:
		return 1;
	}
}

/* Code points in a UTF-8 string jansson has already validated. */
static size_t
schema_utf8_len(json_t *s)
{
	const unsigned char *p = (const unsigned char *)json_string_value(s);
	size_t               n = json_string_length(s), i, count = 0;

	for (i = 0; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			count++;
	}
	return count;
}

/* A number as short as it can be written and still read back the same. */
static void
schema_number_text(json_t *v, char *buf, size_t len)
{
	double d = json_number_value(v);
	int    prec;

	if (json_is_integer(v)) {
		snprintf(
		    buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return;
	}
	for (prec = 1; prec < 17; prec++) {
		snprintf(buf, len, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			return;
	}
	snprintf(buf, len, "%.17g", d);
}

static int schema_check_doc(struct schema_walk *w, json_t *doc);
static int schema_test_doc(struct schema_walk *w, json_t *doc, json_t *v);

/* Checks of keyword arguments. */

static int
schema_check_type_name(struct schema_walk *w, json_t *t)
{
	if (!json_is_string(t))
		return schema_fail(w, -EINVAL, "expected a type name");
	if (schema_type_bit(json_string_value(t)) == 0)
		return schema_fail(
		    w, -EINVAL, "unknown type %s", json_string_value(t));
	return 0;
}

static int
schema_check_type(struct schema_walk *w, json_t *arg)
{
	size_t  i, j;
	json_t *t;
	int     rc;

	if (!json_is_array(arg))
		return schema_check_type_name(w, arg);
	if (json_array_size(arg) == 0)
		return schema_fail(w, -EINVAL, "empty list of types");

	json_array_foreach(arg, i, t)
	{
		if ((rc = schema_check_type_name(w, t)) < 0)
			return rc;
		for (j = 0; j < i; j++) {
			if (json_equal(t, json_array_get(arg, j)))
				return schema_fail(w, -EINVAL,
				    "type %s listed twice",
				    json_string_value(t));
		}
	}
	return 0;
}

static int
schema_check_properties(struct schema_walk *w, json_t *arg)
{
	const char *key;
	json_t     *sub;
	size_t      saved;
	int         rc;

	if (!json_is_object(arg))
		return schema_fail(w, -EINVAL, "expected an object");

	json_object_foreach(arg, key, sub)
	{
		saved = schema_push_key(w, key);
		rc = schema_check_doc(w, sub);
		schema_pop(w, saved);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int
schema_check_required(struct schema_walk *w, json_t *arg)
{
	size_t  i, j;
	json_t *name;

	if (!json_is_array(arg))
		return schema_fail(w, -EINVAL, "expected a list of names");

	json_array_foreach(arg, i, name)
	{
		if (!json_is_string(name))
			return schema_fail(w, -EINVAL, "expected a name");
		for (j = 0; j < i; j++) {
			if (json_equal(name, json_array_get(arg, j)))
				return schema_fail(w, -EINVAL,
				    "%s listed twice", json_string_value(name));
		}
	}
	return 0;
}

static int
schema_check_boolean(struct schema_walk *w, json_t *arg)
{
	if (!json_is_boolean(arg))
		return schema_fail(w, -EINVAL, "expected true or false");
	return 0;
}

static int
schema_check_value(struct schema_walk *w, json_t *arg)
{
	if (schema_value_depth(arg, SCHEMA_DEPTH_MAX) > SCHEMA_DEPTH_MAX)
		return schema_fail(w, -ELOOP, "nested too deeply");
	return 0;
}

static int
schema_check_enum(struct schema_walk *w, json_t *arg)
{
	if (!json_is_array(arg) || json_array_size(arg) == 0)
		return schema_fail(w, -EINVAL, "expected a non-empty list");
	return schema_check_value(w, arg);
}

static int
schema_check_number(struct schema_walk *w, json_t *arg)
{
	if (!json_is_number(arg))
		return schema_fail(w, -EINVAL, "expected a number");
	return 0;
}

static int
schema_check_count(struct schema_walk *w, json_t *arg)
{
	if (!json_is_integer(arg) || json_integer_value(arg) < 0)
		return schema_fail(
		    w, -EINVAL, "expected a non-negative integer");
	return 0;
}

/* Tests of values; each applies only to the kinds of value it names. */

static int
schema_test_type(struct schema_walk *w, json_t *sch, json_t *arg, json_t *v)
{
	char   want[SCHEMA_MSG_MAX] = "";
	size_t i, n = 0, len = 0;
	int    mask = schema_type_mask(arg);

	if (mask & schema_value_types(v))
		return 0;

	/* "expected string, integer or null" */
	for (i = 0; i < SCHEMA_NTYPES; i++) {
		if (!(mask & (1 << i)))
			continue;
		n++;
		len += (size_t)snprintf(want + len, sizeof want - len, "%s%s",
		    n == 1                  ? ""
		        : (mask >> (i + 1)) ? ", "
		                            : " or ",
		    schema_type_names[i]);
	}
	return schema_fail(w, -EINVAL, "expected %s", want);
}

static int
schema_test_enum(struct schema_walk *w, json_t *sch, json_t *arg, json_t *v)
{
	size_t  i;
	json_t *m;

	json_array_foreach(arg, i, m)
	{
		if (schema_equal(m, v, 0))
			return 0;
	}
	return schema_fail(w, -EINVAL, "not one of the allowed values");
}

static int
schema_test_const(struct schema_walk *w, json_t *sch, json_t *arg, json_t *v)
{
	if (schema_equal(arg, v, 0))
		return 0;
	return schema_fail(w, -EINVAL, "not the expected constant");
}

static int
schema_test_minimum(struct schema_walk *w, json_t *sch, json_t *arg, json_t *v)
{
	char num[32];

	if (!json_is_number(v) || schema_number_cmp(v, arg) >= 0)
		return 0;
	schema_number_text(arg, num, sizeof num);
	return schema_fail(w, -EINVAL, "less than %s", num);
}

static int
schema_test_maximum(struct schema_walk *w, json_t *sch, json_t *arg, json_t *v)
{
	char num[32];

	if (!json_is_number(v) || schema_number_cmp(v, arg) <= 0)
		return 0;
	schema_number_text(arg, num, sizeof num);
	return schema_fail(w, -EINVAL, "greater than %s", num);
}

static int
schema_test_min_length(
    struct schema_walk *w, json_t *sch, json_t *arg, json_t *v)
{
	json_int_t min = json_integer_value(arg);

	if (!json_is_string(v) || schema_utf8_len(v) >= (size_t)min)
		return 0;
	return schema_fail(w, -EINVAL,
	    "shorter than %" JSON_INTEGER_FORMAT " characters", min);
}

static int
schema_test_max_length(
    struct schema_walk *w, json_t *sch, json_t *arg, json_t *v)
{
	json_int_t max = json_integer_value(arg);

	if (!json_is_string(v) || schema_utf8_len(v) <= (size_t)max)
		return 0;
	return schema_fail(
	    w, -EINVAL, "longer than %" JSON_INTEGER_FORMAT " characters", max);
}

static int
schema_test_min_items(
    struct schema_walk *w, json_t *sch, json_t *arg, json_t *v)
{
	json_int_t min = json_integer_value(arg);

	if (!json_is_array(v) || json_array_size(v) >= (size_t)min)
		return 0;
	return schema_fail(
	    w, -EINVAL, "fewer than %" JSON_INTEGER_FORMAT " items", min);
}

static int
schema_test_max_items(
    struct schema_walk *w, json_t *sch, json_t *arg, json_t *v)
{
	json_int_t max = json_integer_value(arg);

	if (!json_is_array(v) || json_array_size(v) <= (size_t)max)
		return 0;
	return schema_fail(
	    w, -EINVAL, "more than %" JSON_INTEGER_FORMAT " items", max);
}

static int
schema_test_required(struct schema_walk *w, json_t *sch, json_t *arg, json_t *v)
{
	size_t  i, saved;
	json_t *name;
	int     rc;

	if (!json_is_object(v))
		return 0;

	json_array_foreach(arg, i, name)
	{
		if (json_object_get(v, json_string_value(name)) != NULL)
			continue;
		saved = schema_push_key(w, json_string_value(name));
		rc = schema_fail(w, -EINVAL, "required");
		schema_pop(w, saved);
		return rc;
	}
	return 0;
}

static int
schema_test_properties(
    struct schema_walk *w, json_t *sch, json_t *arg, json_t *v)
{
	const char *key;
	json_t     *sub, *m;
	size_t      saved;
	int         rc;

	if (!json_is_object(v))
		return 0;

	json_object_foreach(arg, key, sub)
	{
		if ((m = json_object_get(v, key)) == NULL)
			continue;
		saved = schema_push_key(w, key);
		rc = schema_test_doc(w, sub, m);
		schema_pop(w, saved);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int
schema_test_additional(
    struct schema_walk *w, json_t *sch, json_t *arg, json_t *v)
{
	json_t     *props = json_object_get(sch, "properties");
	const char *key;
	json_t     *m;
	size_t      saved;
	int         rc;

	if (!json_is_object(v) || json_is_true(arg))
		return 0;

	json_object_foreach(v, key, m)
	{
		if (json_object_get(props, key) != NULL)
			continue;
		saved = schema_push_key(w, key);
		rc = schema_fail(w, -EINVAL, "not allowed");
		schema_pop(w, saved);
		return rc;
	}
	return 0;
}

static int
schema_test_items(struct schema_walk *w, json_t *sch, json_t *arg, json_t *v)
{
	size_t  i, saved;
	json_t *m;
	int     rc;

	if (!json_is_array(v))
		return 0;

	json_array_foreach(v, i, m)
	{
		saved = schema_push_index(w, i);
		rc = schema_test_doc(w, arg, m);
		schema_pop(w, saved);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static const struct schema_keyword schema_keywords[] = {
    {"type", schema_check_type, schema_test_type},
    {"enum", schema_check_enum, schema_test_enum},
    {"const", schema_check_value, schema_test_const},
    {"minimum", schema_check_number, schema_test_minimum},
    {"maximum", schema_check_number, schema_test_maximum},
    {"minLength", schema_check_count, schema_test_min_length},
    {"maxLength", schema_check_count, schema_test_max_length},
    {"minItems", schema_check_count, schema_test_min_items},
    {"maxItems", schema_check_count, schema_test_max_items},
    {"required", schema_check_required, schema_test_required},
    {"properties", schema_check_properties, schema_test_properties},
    {"additionalProperties", schema_check_boolean, schema_test_additional},
    {"items", schema_check_doc, schema_test_items},
    {"title", schema_check_value, NULL},
    {"description", schema_check_value, NULL},
    {"default", schema_check_value, NULL},
    {"examples", schema_check_value, NULL},
    {"$comment", schema_check_value, NULL},
};

#define SCHEMA_NKEYWORDS (sizeof schema_keywords / sizeof *schema_keywords)

static const struct schema_keyword *
schema_keyword_find(const char *name)
{
	size_t i;

	for (i = 0; i < SCHEMA_NKEYWORDS; i++) {
		if (strcmp(name, schema_keywords[i].name) == 0)
			return &schema_keywords[i];
	}
	return NULL;
}

static int
schema_check_keyword(struct schema_walk *w, const char *key, json_t *arg)
{
	const struct schema_keyword *k = schema_keyword_find(key);
	size_t                       saved;
	int                          rc;

	if (k == NULL)
		return schema_fail(w, -EINVAL, "unknown keyword %s", key);

	saved = schema_push_key(w, key);
	rc = k->check(w, arg);
	schema_pop(w, saved);
	return rc;
}

static int
schema_check_doc(struct schema_walk *w, json_t *doc)
{
	const char *key;
	json_t     *arg;
	int         rc = 0;

	if (json_is_boolean(doc))
		return 0;
	if (!json_is_object(doc))
		return schema_fail(w, -EINVAL, "expected a schema");
	if (w->depth >= SCHEMA_DEPTH_MAX)
		return schema_fail(w, -ELOOP, "nested too deeply");

	w->depth++;
	json_object_foreach(doc, key, arg)
	{
		if ((rc = schema_check_keyword(w, key, arg)) < 0)
			break;
	}
	w->depth--;
	return rc;
}

static int
schema_test_doc(struct schema_walk *w, json_t *doc, json_t *v)
{
	json_t *arg;
	size_t  i;
	int     rc;

	if (json_is_boolean(doc))
		return json_is_true(doc)
		    ? 0
		    : schema_fail(w, -EINVAL, "not allowed");

	for (i = 0; i < SCHEMA_NKEYWORDS; i++) {
		if (schema_keywords[i].test == NULL)
			continue;
		if ((arg = json_object_get(doc, schema_keywords[i].name)) ==
		    NULL)
			continue;
		if ((rc = schema_keywords[i].test(w, doc, arg, v)) < 0)
			return rc;
	}
	return 0;
}

int
schema_new(json_t *doc, struct schema **out, char *err, size_t errlen)
{
	struct schema_walk w;
	struct schema     *s;
	int                rc;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	schema_walk_init(&w, "schema", err, errlen);
	if (doc == NULL)
		return schema_fail(&w, -EINVAL, "expected a schema");

	if ((rc = schema_check_doc(&w, doc)) < 0)
		return rc;

	if ((s = calloc(1, sizeof *s)) == NULL)
		return -ENOMEM;
	if ((s->doc = json_deep_copy(doc)) == NULL) {
		free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

void
schema_free(struct schema *s)
{
	if (s == NULL)
		return;
	json_decref(s->doc);
	free(s);
}

json_t *
schema_json(const struct schema *s)
{
	return s != NULL ? s->doc : NULL;
}

int
schema_validate(const struct schema *s, json_t *value, const char *root,
    char *err, size_t errlen)
{
	struct schema_walk w;

	schema_walk_init(&w, root != NULL ? root : "value", err, errlen);
	if (s == NULL)
		return schema_fail(&w, -EINVAL, "no schema");

	return schema_test_doc(&w, s->doc, value != NULL ? value : json_null());
}
