/*
 * Secret buffers: memory for seeds, keys and decrypted text that is kept
 * out of swap where the system allows (sodium_malloc locks it and puts
 * guard pages around it) and wiped when freed.
 *
 * Every buffer has one extra byte after its length, always zero, so
 * that secret text can be handed on as a C string.  The caller has
 * called sodium_init().
 */
#ifndef ALKNET_SECRET_H
#define ALKNET_SECRET_H

#include <stddef.h>

struct secret;

/*
 * Allocates a zeroed secret of len bytes (len may be 0).  Returns 0 and
 * *out, which the caller frees with secret_free, or -ENOMEM.
 */
int secret_new(size_t len, struct secret **out);

/* The bytes of s: secret_len(s) of them, then a zero byte. */
unsigned char *secret_data(const struct secret *s);

/* How many bytes s holds, the trailing zero not counted. */
size_t secret_len(const struct secret *s);

/* Wipes and frees s.  Accepts NULL. */
void secret_free(struct secret *s);

#endif
