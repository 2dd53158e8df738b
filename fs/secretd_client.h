/*
 * The client side of alknet-secretd: one connection to its socket, on
 * which calls are made one at a time and waited for, and the reading of
 * the secrets a person hands over (docs/secretd.md).
 *
 * Requests and answers may hold a mnemonic: every byte buffer here is
 * wiped before it is freed.  JSON values are jansson's, so a caller that
 * sends secrets sets jansson's allocator to one that wipes too.
 */
#ifndef ALKNET_SECRETD_CLIENT_H
#define ALKNET_SECRETD_CLIENT_H

#include <stddef.h>

#include <jansson.h>

#include "reply.h"

#define SECRETD_CLIENT_SOCKET  "/run/alknet-secretd.sock"
#define SECRETD_CLIENT_TIMEOUT 60   /* seconds a call may take */
#define SECRETD_CLIENT_LINE    1024 /* bytes of a line read, with NUL */

struct secretd_client;

/*
 * Connects to the daemon at path.  Returns 0 and *out (close with
 * secretd_client_close), -ENAMETOOLONG, -ENOMEM, or the errno of
 * connect (-ENOENT: no socket there, -ECONNREFUSED: nobody answers,
 * -EACCES: not ours to use).
 */
int secretd_client_open(const char *path, struct secretd_client **out);

/* Closes c; accepts NULL. */
void secretd_client_close(struct secretd_client *c);

/* Gives each later call of c seconds (1 or more) instead of
 * SECRETD_CLIENT_TIMEOUT.  Returns 0 or a negative errno. */
int secretd_client_set_timeout(struct secretd_client *c, unsigned seconds);

/*
 * Calls operation op with input (borrowed; NULL for none) and waits for
 * its answer.  Returns 0 and *output, a new reference; -EREMOTEIO when
 * the daemon answered with an error, whose code goes to *code and
 * message to msg (msglen bytes); or, with nothing in msg:
 *
 *	-EPROTO     the answer is not a frame answering this call
 *	-EPIPE      the daemon closed the connection
 *	-ETIMEDOUT  no answer in time (SECRETD_CLIENT_TIMEOUT seconds,
 *	            unless set otherwise)
 *	-ENOMEM, or an errno of the socket
 */
int secretd_client_call(struct secretd_client *c, const char *op, json_t *input,
    json_t **output, enum reply_code *code, char *msg, size_t msglen);

/*
 * Reads one line from fd into buf (len bytes) without its newline, a
 * byte at a time so that nothing after it is taken from fd.  Returns
 * the line's length; -ENODATA at the end of input before any byte;
 * -E2BIG for a line that does not fit (buf is wiped); -EINTR when a
 * signal came; or another errno of read.  The last line may lack its
 * newline; a carriage return before the newline is dropped.
 */
int secretd_client_read_line(int fd, char *buf, size_t len);

/*
 * Puts a mnemonic as a person typed it into its written form, in
 * place: words separated by any run of blanks become words separated
 * by single spaces, with nothing before or after, and ASCII letters
 * become lowercase.  Whether the words are BIP39 words is the daemon's
 * to say.  Returns the number of words.
 */
size_t secretd_client_mnemonic(char *text);

#endif
