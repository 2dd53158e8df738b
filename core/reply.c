/*
 * Payloads of the call protocol's answers.  The error set written is
 * the Rust peer's; reading also accepts the TypeScript peer's names so
 * that an error from either still says roughly what went wrong.
 */
#include <errno.h>
#include <string.h>

#include "frame.h"
#include "reply.h"

static const struct {
	const char *name;
	int         retryable;
} reply_codes[REPLY_NCODES] = {
    [REPLY_NOT_FOUND] = {"NOT_FOUND", 0},
    [REPLY_FORBIDDEN] = {"FORBIDDEN", 0},
    [REPLY_INVALID_INPUT] = {"INVALID_INPUT", 0},
    [REPLY_INTERNAL] = {"INTERNAL", 0},
    [REPLY_TIMEOUT] = {"TIMEOUT", 1},
    [REPLY_ABORTED] = {"ABORTED", 0},
    [REPLY_LOCKED] = {"LOCKED", 0},
};

/* The TypeScript peer's codes, read but never written. */
static const struct {
	const char     *name;
	enum reply_code code;
} reply_aliases[] = {
    {"OPERATION_NOT_FOUND", REPLY_NOT_FOUND},
    {"ACCESS_DENIED", REPLY_FORBIDDEN},
    {"VALIDATION_ERROR", REPLY_INVALID_INPUT},
    {"EXECUTION_ERROR", REPLY_INTERNAL},
    {"UNKNOWN_ERROR", REPLY_INTERNAL},
};

const char *
reply_code_name(enum reply_code code)
{
	if ((unsigned)code >= REPLY_NCODES)
		return NULL;
	return reply_codes[code].name;
}

int
reply_code_parse(const char *name)
{
	size_t i;

	for (i = 0; i < REPLY_NCODES; i++) {
		if (strcmp(name, reply_codes[i].name) == 0)
			return (int)i;
	}
	for (i = 0; i < sizeof reply_aliases / sizeof *reply_aliases; i++) {
		if (strcmp(name, reply_aliases[i].name) == 0)
			return (int)reply_aliases[i].code;
	}
	return -EINVAL;
}

int
reply_code_retryable(enum reply_code code)
{
	if ((unsigned)code >= REPLY_NCODES)
		return 0;
	return reply_codes[code].retryable;
}

json_t *
reply_error_payload(const struct reply_error *e)
{
	json_t *o;

	if (reply_code_name(e->code) == NULL || e->message == NULL)
		return NULL;

	o = json_pack("{s:s, s:s, s:b}", "code", reply_code_name(e->code),
	    "message", e->message, "retryable", e->retryable != 0);
	if (o == NULL)
		return NULL;
	if (e->details == NULL || json_is_null(e->details))
		return o;
	if (json_object_set(o, "details", e->details) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int
reply_error_parse(json_t *payload, struct reply_error *e)
{
	json_t *code, *message, *retryable, *details;
	int     c;

	code = json_object_get(payload, "code");
	message = json_object_get(payload, "message");
	retryable = json_object_get(payload, "retryable");
	if (!json_is_string(code) || !json_is_string(message) ||
	    !json_is_boolean(retryable))
		return -EBADMSG;

	if ((c = reply_code_parse(json_string_value(code))) < 0)
		c = REPLY_INTERNAL;
	details = json_object_get(payload, "details");
	e->code = (enum reply_code)c;
	e->message = json_string_value(message);
	e->retryable = json_is_true(retryable);
	e->details = json_is_null(details) ? NULL : details;
	return 0;
}

json_t *
reply_ok_payload(json_t *output)
{
	json_t *o;

	if (output == NULL)
		output = json_null();
	if ((o = json_object()) == NULL)
		return NULL;
	if (json_object_set(o, "output", output) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int
reply_encode(const char *id, json_t *output, const struct reply_error *err,
    void **out, size_t *size)
{
	enum frame_type t = err != NULL ? FRAME_ERROR : FRAME_RESPONDED;
	json_t         *payload;
	int             rc;

	payload =
	    err != NULL ? reply_error_payload(err) : reply_ok_payload(output);
	/* XXX: jansson answers NULL both for bad UTF-8 and for no memory;
	 * an error's message is the likelier cause. */
	if (payload == NULL)
		return err != NULL ? -EINVAL : -ENOMEM;

	rc = frame_encode_alloc(t, id, payload, out, size);
	json_decref(payload);
	return rc;
}
