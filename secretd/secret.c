/*
 * Secret buffers.  The header is ordinary memory; only the bytes live
 * in sodium_malloc'ed pages, because sodium_malloc places the buffer
 * flush against a guard page and so does not align it for a struct.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <sodium.h>

#include "secret.h"

struct secret {
	unsigned char *data;
	size_t         len;
};

int
secret_new(size_t len, struct secret **out)
{
	struct secret *s;

	if (len == SIZE_MAX || (s = malloc(sizeof *s)) == NULL)
		return -ENOMEM;

	if ((s->data = sodium_malloc(len + 1)) == NULL) {
		free(s);
		return -ENOMEM;
	}

	/* sodium_malloc fills with 0xdb so that misuse shows; start clean. */
	sodium_memzero(s->data, len + 1);
	s->len = len;
	*out = s;
	return 0;
}

unsigned char *
secret_data(const struct secret *s)
{
	return s->data;
}

size_t
secret_len(const struct secret *s)
{
	return s->len;
}

void
secret_free(struct secret *s)
{
	if (s == NULL)
		return;

	/* sodium_free wipes the pages before it unmaps them. */
	sodium_free(s->data);
	free(s);
}
