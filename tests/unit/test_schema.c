/*
 * The schema subset: each keyword accepting and refusing, the path of a
 * failure in its message, refusal of what the subset does not know, and
 * the depth bound.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "schema.h"

struct verdict {
	const char *schema;
	const char *value; /* NULL: a NULL value, read as JSON null */
	const char *want;  /* NULL: the value matches */
};

static const struct verdict verdicts[] = {
    /* type, one name */
    {"{\"type\": \"string\"}", "\"x\"", NULL},
    {"{\"type\": \"string\"}", "1", "input: expected string"},
    {"{\"type\": \"integer\"}", "-7", NULL},
    {"{\"type\": \"integer\"}", "1.0", "input: expected integer"},
    {"{\"type\": \"integer\"}", "\"1\"", "input: expected integer"},
    {"{\"type\": \"number\"}", "1", NULL},
    {"{\"type\": \"number\"}", "1.5e3", NULL},
    {"{\"type\": \"number\"}", "true", "input: expected number"},
    {"{\"type\": \"boolean\"}", "false", NULL},
    {"{\"type\": \"boolean\"}", "0", "input: expected boolean"},
    {"{\"type\": \"object\"}", "{}", NULL},
    {"{\"type\": \"object\"}", "[]", "input: expected object"},
    {"{\"type\": \"array\"}", "[1]", NULL},
    {"{\"type\": \"array\"}", "{}", "input: expected array"},
    {"{\"type\": \"null\"}", "null", NULL},
    {"{\"type\": \"null\"}", NULL, NULL},
    {"{\"type\": \"null\"}", "\"\"", "input: expected null"},

    /* type, a list */
    {"{\"type\": [\"string\", \"null\"]}", "null", NULL},
    {"{\"type\": [\"string\", \"null\"]}", "\"s\"", NULL},
    {"{\"type\": [\"string\", \"null\"]}", "2",
        "input: expected string or null"},
    {"{\"type\": [\"null\", \"integer\", \"string\"]}", "[]",
        "input: expected string, integer or null"},
    {"{\"type\": [\"boolean\"]}", "1", "input: expected boolean"},

    /* boolean schemas and the empty schema */
    {"true", "{\"a\": [1, 2]}", NULL},
    {"false", "1", "input: not allowed"},
    {"{}", "\"anything\"", NULL},

    /* properties and required, with the path of what fails */
    {"{\"properties\": {\"port\": {\"type\": \"integer\"}}}", "{\"port\": 22}",
        NULL},
    {"{\"properties\": {\"port\": {\"type\": \"integer\"}}}",
        "{\"port\": \"22\"}", "input.port: expected integer"},
    {"{\"properties\": {\"port\": {\"type\": \"integer\"}}}", "{}", NULL},
    {"{\"properties\": {\"port\": {\"type\": \"integer\"}}}", "[\"port\"]",
        NULL},
    {"{\"required\": [\"name\", \"port\"]}", "{\"name\": 1, \"port\": 2}",
        NULL},
    {"{\"required\": [\"name\", \"port\"]}", "{\"name\": 1}",
        "input.port: required"},
    {"{\"required\": [\"name\"]}", "\"not an object\"", NULL},
    {"{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"object\","
     " \"properties\": {\"b\": {\"type\": \"array\", \"items\": {\"type\":"
     " \"object\", \"required\": [\"c\"]}}}}}}",
        "{\"a\": {\"b\": [{\"c\": 1}, {\"d\": 2}]}}",
        "input.a.b[1].c: required"},
    {"{\"properties\": {\"a\": {\"properties\": {\"b\": {\"items\":"
     " {\"maximum\": 3}}}}}}",
        "{\"a\": {\"b\": [1, 2, 3, 4]}}", "input.a.b[3]: greater than 3"},

    /* additionalProperties */
    {"{\"properties\": {\"a\": {}}, \"additionalProperties\": false}",
        "{\"a\": 1}", NULL},
    {"{\"properties\": {\"a\": {}}, \"additionalProperties\": false}",
        "{\"a\": 1, \"b\": 2}", "input.b: not allowed"},
    {"{\"additionalProperties\": false}", "{}", NULL},
    {"{\"additionalProperties\": false}", "{\"x\": null}",
        "input.x: not allowed"},
    {"{\"additionalProperties\": true}", "{\"x\": null}", NULL},

    /* items */
    {"{\"items\": {\"type\": \"string\"}}", "[\"a\", \"b\"]", NULL},
    {"{\"items\": {\"type\": \"string\"}}", "[\"a\", 2]",
        "input[1]: expected string"},
    {"{\"items\": {\"type\": \"string\"}}", "[]", NULL},
    {"{\"items\": false}", "[1]", "input[0]: not allowed"},

    /* enum and const, numbers compared by value */
    {"{\"enum\": [\"tcp\", \"tls\", 3]}", "\"tls\"", NULL},
    {"{\"enum\": [\"tcp\", \"tls\", 3]}", "3.0", NULL},
    {"{\"enum\": [\"tcp\", \"tls\", 3]}", "\"quic\"",
        "input: not one of the allowed values"},
    {"{\"enum\": [{\"a\": [1, {\"b\": null}]}]}", "{\"a\": [1, {\"b\": null}]}",
        NULL},
    {"{\"enum\": [{\"a\": [1, {\"b\": null}]}]}",
        "{\"a\": [1, {\"b\": false}]}", "input: not one of the allowed values"},
    {"{\"const\": 1}", "1", NULL},
    {"{\"const\": 1}", "true", "input: not the expected constant"},
    {"{\"const\": [1, 2]}", "[1, 2]", NULL},
    {"{\"const\": [1, 2]}", "[2, 1]", "input: not the expected constant"},
    {"{\"const\": {\"k\": \"v\"}}", "{\"k\": \"v\", \"l\": 1}",
        "input: not the expected constant"},
    {"{\"const\": null}", NULL, NULL},

    /* minimum and maximum, inclusive, for numbers only */
    {"{\"minimum\": 1, \"maximum\": 65535}", "1", NULL},
    {"{\"minimum\": 1, \"maximum\": 65535}", "65535", NULL},
    {"{\"minimum\": 1, \"maximum\": 65535}", "0", "input: less than 1"},
    {"{\"minimum\": 1, \"maximum\": 65535}", "65536",
        "input: greater than 65535"},
    {"{\"minimum\": 0.5}", "0.25", "input: less than 0.5"},
    {"{\"minimum\": 0.5}", "1", NULL},
    {"{\"maximum\": 0.1}", "0.2", "input: greater than 0.1"},
    {"{\"maximum\": -2}", "-2.5", NULL},
    {"{\"minimum\": 9007199254740993}", "9007199254740992",
        "input: less than 9007199254740993"},
    {"{\"minimum\": 1}", "\"0\"", NULL},

    /* lengths count code points */
    {"{\"minLength\": 2, \"maxLength\": 3}", "\"ab\"", NULL},
    {"{\"minLength\": 2, \"maxLength\": 3}", "\"a\"",
        "input: shorter than 2 characters"},
    {"{\"minLength\": 2, \"maxLength\": 3}", "\"abcd\"",
        "input: longer than 3 characters"},
    {"{\"maxLength\": 3}", "\"\\u00e9\\u00e9\\u00e9\"", NULL},
    {"{\"maxLength\": 2}", "\"\\u00e9\\u00e9\\u00e9\"",
        "input: longer than 2 characters"},
    {"{\"minLength\": 1}", "7", NULL},

    /* item counts */
    {"{\"minItems\": 1, \"maxItems\": 2}", "[0]", NULL},
    {"{\"minItems\": 1, \"maxItems\": 2}", "[]", "input: fewer than 1 items"},
    {"{\"minItems\": 1, \"maxItems\": 2}", "[0, 1, 2]",
        "input: more than 2 items"},
    {"{\"maxItems\": 0}", "{}", NULL},

    /* type is tested first, whatever order the schema lists keywords */
    {"{\"minimum\": 5, \"type\": \"integer\"}", "\"x\"",
        "input: expected integer"},
    {"{\"maxLength\": 1, \"enum\": [\"a\"], \"type\": \"string\"}", "\"bb\"",
        "input: not one of the allowed values"},

    /* annotations validate nothing */
    {"{\"title\": \"T\", \"description\": \"D\", \"default\": 3,"
     " \"examples\": [1], \"$comment\": \"c\", \"type\": \"integer\"}",
        "4", NULL},
};

static json_t *
load(const char *text)
{
	json_error_t e;
	json_t      *v;

	v = json_loads(text, JSON_DECODE_ANY, &e);
	if (v == NULL)
		fail_msg("bad test JSON %s: %s", text, e.text);
	return v;
}

static struct schema *
make(const char *text)
{
	struct schema *s = NULL;
	json_t        *doc = load(text);
	char           err[256];
	int            rc;

	rc = schema_new(doc, &s, err, sizeof err);
	json_decref(doc);
	if (rc != 0)
		fail_msg("%s refused: %d %s", text, rc, err);
	return s;
}

static void
test_verdicts(void **state)
{
	size_t i;

	for (i = 0; i < sizeof verdicts / sizeof *verdicts; i++) {
		const struct verdict *v = &verdicts[i];
		struct schema        *s = make(v->schema);
		json_t *value = v->value != NULL ? load(v->value) : NULL;
		char    err[256] = "untouched";
		int     rc;

		rc = schema_validate(s, value, "input", err, sizeof err);
		if (v->want == NULL && rc != 0)
			fail_msg(
			    "%s / %s: %d %s", v->schema, v->value, rc, err);
		if (v->want != NULL && (rc != -EINVAL || strcmp(err, v->want)))
			fail_msg("%s / %s: %d \"%s\", want \"%s\"", v->schema,
			    v->value, rc, err, v->want);
		if (v->want == NULL)
			assert_string_equal(err, "");
		json_decref(value);
		schema_free(s);
	}
}

struct refusal {
	const char *schema;
	int         rc;
	const char *want;
};

static const struct refusal refusals[] = {
    {"{\"pattern\": \"^a\"}", -EINVAL, "schema: unknown keyword pattern"},
    {"{\"properties\": {\"name\": {\"type\": \"string\", \"format\":"
     " \"email\"}}}",
        -EINVAL, "schema.properties.name: unknown keyword format"},
    {"{\"items\": {\"oneOf\": []}}", -EINVAL,
        "schema.items: unknown keyword oneOf"},
    {"{\"items\": [{}, {}]}", -EINVAL, "schema.items: expected a schema"},
    {"{\"additionalProperties\": {\"type\": \"string\"}}", -EINVAL,
        "schema.additionalProperties: expected true or false"},
    {"{\"$ref\": \"#/x\"}", -EINVAL, "schema: unknown keyword $ref"},
    {"{\"exclusiveMinimum\": 1}", -EINVAL,
        "schema: unknown keyword exclusiveMinimum"},
    {"{\"type\": \"int\"}", -EINVAL, "schema.type: unknown type int"},
    {"{\"type\": []}", -EINVAL, "schema.type: empty list of types"},
    {"{\"type\": [\"string\", \"string\"]}", -EINVAL,
        "schema.type: type string listed twice"},
    {"{\"type\": 3}", -EINVAL, "schema.type: expected a type name"},
    {"{\"required\": \"name\"}", -EINVAL,
        "schema.required: expected a list of names"},
    {"{\"required\": [\"a\", 1]}", -EINVAL, "schema.required: expected a name"},
    {"{\"required\": [\"a\", \"a\"]}", -EINVAL,
        "schema.required: a listed twice"},
    {"{\"properties\": []}", -EINVAL, "schema.properties: expected an object"},
    {"{\"properties\": {\"a\": 1}}", -EINVAL,
        "schema.properties.a: expected a schema"},
    {"{\"enum\": []}", -EINVAL, "schema.enum: expected a non-empty list"},
    {"{\"minimum\": \"1\"}", -EINVAL, "schema.minimum: expected a number"},
    {"{\"minLength\": -1}", -EINVAL,
        "schema.minLength: expected a non-negative integer"},
    {"{\"maxItems\": 1.5}", -EINVAL,
        "schema.maxItems: expected a non-negative integer"},
    {"[]", -EINVAL, "schema: expected a schema"},
    {"\"string\"", -EINVAL, "schema: expected a schema"},
    {"null", -EINVAL, "schema: expected a schema"},
};

static void
test_refusals(void **state)
{
	size_t i;

	for (i = 0; i < sizeof refusals / sizeof *refusals; i++) {
		struct schema *s = (struct schema *)&s;
		json_t        *doc = load(refusals[i].schema);
		char           err[256] = "";
		int            rc;

		rc = schema_new(doc, &s, err, sizeof err);
		json_decref(doc);
		if (rc != refusals[i].rc || strcmp(err, refusals[i].want) != 0)
			fail_msg("%s: %d \"%s\", want \"%s\"",
			    refusals[i].schema, rc, err, refusals[i].want);
		assert_null(s);
	}
}

/* A schema of depth d: d nested "items". */
static json_t *
nested_items(int d)
{
	json_t *doc = json_object(), *inner;

	while (d-- > 1) {
		inner = json_object();
		json_object_set_new(inner, "items", doc);
		doc = inner;
	}
	return doc;
}

/* A JSON value holding d nested arrays. */
static json_t *
nested_arrays(int d)
{
	json_t *v = json_array(), *outer;

	while (d-- > 1) {
		outer = json_array();
		json_array_append_new(outer, v);
		v = outer;
	}
	return v;
}

static void
test_depth(void **state)
{
	struct schema *s = NULL;
	json_t        *doc, *value, *c;
	char           err[256];

	doc = nested_items(SCHEMA_DEPTH_MAX);
	assert_int_equal(schema_new(doc, &s, err, sizeof err), 0);
	json_decref(doc);

	/* The deepest schema still tests its value. */
	value = nested_arrays(SCHEMA_DEPTH_MAX);
	assert_int_equal(schema_validate(s, value, "v", err, sizeof err), 0);
	json_decref(value);
	schema_free(s);

	doc = nested_items(SCHEMA_DEPTH_MAX + 1);
	assert_int_equal(schema_new(doc, &s, err, sizeof err), -ELOOP);
	assert_null(s);
	assert_int_equal(strncmp(err, "schema.items.items", 18), 0);
	assert_non_null(strstr(err, ": nested too deeply"));
	json_decref(doc);

	/* A constant deeper than the bound would make comparing unbounded;
	 * the list of an enum counts as one level. */
	c = nested_arrays(SCHEMA_DEPTH_MAX + 1);
	doc = json_pack("{s:o}", "const", c);
	assert_int_equal(schema_new(doc, &s, err, sizeof err), -ELOOP);
	assert_string_equal(err, "schema.const: nested too deeply");
	json_decref(doc);
	c = nested_arrays(SCHEMA_DEPTH_MAX);
	doc = json_pack("{s:o}", "const", c);
	assert_int_equal(schema_new(doc, &s, err, sizeof err), 0);
	schema_free(s);
	json_decref(doc);
	c = nested_arrays(SCHEMA_DEPTH_MAX);
	doc = json_pack("{s:[o]}", "enum", c);
	assert_int_equal(schema_new(doc, &s, err, sizeof err), -ELOOP);
	assert_string_equal(err, "schema.enum: nested too deeply");
	json_decref(doc);
	c = nested_arrays(SCHEMA_DEPTH_MAX - 1);
	doc = json_pack("{s:[o]}", "enum", c);
	assert_int_equal(schema_new(doc, &s, err, sizeof err), 0);
	value = nested_arrays(SCHEMA_DEPTH_MAX - 1);
	assert_int_equal(schema_validate(s, value, "v", err, sizeof err), 0);
	json_decref(value);
	value = nested_arrays(SCHEMA_DEPTH_MAX + 5);
	assert_int_equal(
	    schema_validate(s, value, "v", err, sizeof err), -EINVAL);
	assert_string_equal(err, "v: not one of the allowed values");
	json_decref(value);
	schema_free(s);
	json_decref(doc);
}

/* The schema is copied: changing the original changes nothing. */
static void
test_private_copy(void **state)
{
	struct schema *s = NULL;
	json_t        *doc = load("{\"type\": \"integer\"}"), *v;
	char           err[64];

	assert_int_equal(schema_new(doc, &s, err, sizeof err), 0);
	json_object_set_new(doc, "type", json_string("string"));
	v = json_integer(5);
	assert_int_equal(schema_validate(s, v, NULL, err, sizeof err), 0);
	json_decref(v);
	v = json_string("5");
	assert_int_equal(schema_validate(s, v, NULL, err, sizeof err), -EINVAL);
	assert_string_equal(err, "value: expected integer");
	json_decref(v);

	assert_int_equal(json_equal(schema_json(s), doc), 0);
	json_decref(doc);
	doc = load("{\"type\": \"integer\"}");
	assert_int_equal(json_equal(schema_json(s), doc), 1);
	json_decref(doc);
	schema_free(s);
}

/* Whether s is valid UTF-8: jansson refuses to make a string of it. */
static int
utf8_ok(const char *s)
{
	json_t *j = json_string(s);

	json_decref(j);
	return j != NULL;
}

/* A long path is cut to fit, and never inside a UTF-8 sequence. */
static void
test_long_messages(void **state)
{
	struct schema *s;
	json_t        *v;
	char           key[400], err[41], big[512];
	size_t         i;

	/* 199 two-byte characters */
	for (i = 0; i < 199; i++)
		memcpy(key + 2 * i, "\xc3\xa9", 2);
	key[398] = '\0';

	s = make("{\"additionalProperties\": false}");
	v = json_pack("{s:i}", key, 1);
	assert_non_null(v);

	/* 40 bytes would end inside the 19th character, which goes. */
	assert_int_equal(schema_validate(s, v, "in", err, sizeof err), -EINVAL);
	assert_int_equal(strlen(err), 3 + 18 * 2);
	assert_int_equal(strncmp(err, "in.\xc3\xa9", 5), 0);
	assert_true(utf8_ok(err));

	/* The path itself is bounded, and cut between characters too. */
	assert_int_equal(schema_validate(s, v, "in", big, sizeof big), -EINVAL);
	assert_true(utf8_ok(big));
	assert_true(strlen(big) < 256 + sizeof ": not allowed");
	assert_string_equal(big + strlen(big) - 13, ": not allowed");
	json_decref(v);

	/* No buffer is needed to learn the verdict. */
	v = json_pack("{s:i}", "x", 1);
	assert_int_equal(schema_validate(s, v, "in", NULL, 0), -EINVAL);
	json_decref(v);
	schema_free(s);
}

static void
test_nulls(void **state)
{
	struct schema *s = (struct schema *)&s;
	char           err[64];

	schema_free(NULL);
	assert_null(schema_json(NULL));
	assert_int_equal(schema_new(NULL, &s, err, sizeof err), -EINVAL);
	assert_null(s);
	assert_string_equal(err, "schema: expected a schema");
	assert_int_equal(
	    schema_new(json_true(), NULL, err, sizeof err), -EINVAL);
	assert_int_equal(
	    schema_validate(NULL, NULL, "x", err, sizeof err), -EINVAL);
	assert_string_equal(err, "x: no schema");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_verdicts),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_depth),
	    cmocka_unit_test(test_private_copy),
	    cmocka_unit_test(test_long_messages),
	    cmocka_unit_test(test_nulls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
