/*
 * The subset of JSON Schema that operation specs use to describe their
 * input and output.
 *
 * A schema is a JSON object or a boolean (true accepts anything, false
 * nothing).  The keywords understood are:
 *
 *	type        "string" "integer" "number" "boolean" "object"
 *	            "array" "null", or a non-empty list of them
 *	properties  {name: schema}       required     [name, ...]
 *	additionalProperties  true|false items        schema
 *	enum        [value, ...]         const        value
 *	minimum maximum (inclusive)      minLength maxLength
 *	minItems maxItems
 *
 * plus the annotations title, description, default, examples and
 * $comment, which validate nothing.  Any other keyword is refused when
 * the schema is made, so that no schema validates less than it says.
 *
 * "integer" means a JSON number written without fraction or exponent
 * (a jansson integer): 1.0 is a number but not an integer, so a handler
 * that was promised an integer can read it with json_integer_value.
 * Equality for enum and const compares numbers by value (1 == 1.0).
 * Lengths of strings count Unicode code points.
 */
#ifndef ALKNET_SCHEMA_H
#define ALKNET_SCHEMA_H

#include <stddef.h>

#include <jansson.h>

/* Nesting levels of schemas within schemas, and of values compared. */
#define SCHEMA_DEPTH_MAX 32

struct schema;

/*
 * Checks doc and keeps a private copy of it.  Returns 0 and *out (free
 * with schema_free); -EINVAL when doc is not a schema of the subset,
 * with "schema.properties.port: unknown keyword pattern" or similar in
 * err (may be NULL); -ELOOP when it nests deeper than SCHEMA_DEPTH_MAX;
 * or -ENOMEM.  Nothing is made on failure.
 */
int schema_new(json_t *doc, struct schema **out, char *err, size_t errlen);

/* Frees s; accepts NULL. */
void schema_free(struct schema *s);

/* The schema as JSON, borrowed from s: do not change it. */
json_t *schema_json(const struct schema *s);

/*
 * Checks value (NULL reads as JSON null) against s.  Returns 0 when it
 * matches, or -EINVAL when it does not, with the first failure in err as
 * "ROOT.path[2]: expected integer", where ROOT is root (NULL: "value").
 * err may be NULL; a long message is cut short, on a UTF-8 boundary.
 * Recursion follows the schema, whose depth schema_new bounded.
 */
int schema_validate(const struct schema *s, json_t *value, const char *root,
    char *err, size_t errlen);

#endif
