/*
 * The operation ACL: scopes granted to identities beyond what their keys
 * carry, as acl/operations holds them.  One rule a line,
 *
 *	ID SCOPE[,SCOPE...]
 *
 * where ID is a key's fingerprint ("SHA256:" and base64) or a local user
 * ("local:<user>").  Blank lines and lines starting with '#' are skipped;
 * an identity has at most one line.
 */
#ifndef ALKNET_GRANTS_H
#define ALKNET_GRANTS_H

#include <stddef.h>

#define GRANTS_RULES_MAX  1024 /* lines of a rule set */
#define GRANTS_SCOPES_MAX 32   /* scopes of one line */
#define GRANTS_SCOPE_LEN  64   /* bytes of a scope, without NUL */

struct grants;

/*
 * Parses text (NUL-terminated) into *out (free with grants_free).
 * Returns 0, -EINVAL with "line N: reason" in err for a bad line (an id
 * that is neither form, a missing or malformed scope list, an identity
 * given twice, too many rules or scopes), or -ENOMEM.
 */
int grants_parse(
    const char *text, struct grants **out, char *err, size_t errlen);

/* Frees g; accepts NULL. */
void grants_free(struct grants *g);

/* Rules in g; 0 for NULL. */
size_t grants_count(const struct grants *g);

/*
 * The rule set as the file shows it, one "ID SCOPES" line each in the
 * order given, in a string for the caller to free; NULL on ENOMEM.  A
 * NULL g is the empty set.
 */
char *grants_format(const struct grants *g);

/*
 * The scopes of id: those of base (NULL-terminated, may be NULL) and
 * those g (may be NULL) grants id, each once, into out, which holds n
 * pointers with the terminating NULL.  The pointers are borrowed from
 * base and g.  Returns how many were put; scopes past n - 1 are left
 * out.
 */
size_t grants_scopes(const struct grants *g, const char *id,
    const char *const *base, const char **out, size_t n);

#endif
