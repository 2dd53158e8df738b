/*
 * The node's keys as alknet-secretd holds them (docs/secretd.md): at
 * start the SSH host key of the seed, when the daemon is unlocked; then,
 * for as long as the node runs, whether it is locked, and the public
 * halves of the identity and device keys for keys/ in the namespace.
 * Nothing here holds a private key past the call that hands it over.
 * Everything runs on the loop thread.
 */
#ifndef ALKNET_KEYS_H
#define ALKNET_KEYS_H

#include <stddef.h>
#include <uv.h>

#define KEYS_DEVICES_DEFAULT 4
#define KEYS_DEVICES_MAX     64
#define KEYS_POLL_MS         2000 /* how often the daemon is asked */
#define KEYS_LINE_MAX        256  /* a public key line, with NUL */
#define KEYS_FP_MAX          128  /* a fingerprint, with NUL */

struct sshd;

enum keys_state { KEYS_UNAVAILABLE, KEYS_LOCKED, KEYS_UNLOCKED };

/* A public key: its OpenSSH line and fingerprint, both "" when unknown. */
struct keys_public {
	char line[KEYS_LINE_MAX];
	char fp[KEYS_FP_MAX];
};

/*
 * Asks the daemon at path (NULL: there is none) for its state, blocking,
 * before the loop runs.  When it is unlocked, sshd serves with the seed's
 * host key (m/74'/0'/1'/0') from then on, and the identity and ndevices
 * device keys (at most KEYS_DEVICES_MAX) are fetched; when it is locked
 * or does not answer, sshd keeps its key.  Then a timer on loop asks
 * again every KEYS_POLL_MS, emits keys.locked, keys.unlocked or
 * keys.unavailable at each change and logs it.  Returns 0 whatever state
 * the daemon is in; -EINVAL with a reason in err for a host key sshd
 * refused, or -ENOMEM.
 */
int keys_start(uv_loop_t *loop, const char *path, unsigned ndevices,
    struct sshd *sshd, char *err, size_t errlen);

/* Stops asking; the handles close on the next turn of the loop. */
void keys_stop(void);

/* The state seen last; KEYS_UNAVAILABLE before keys_start. */
enum keys_state keys_state(void);

/* "locked", "unlocked" or "unavailable". */
const char *keys_state_name(enum keys_state state);

/* Whether the host key in use came from the seed rather than the file. */
int keys_host_from_seed(void);

/*
 * The identity key as fetched while unlocked; empty strings while locked
 * or unavailable.
 */
const struct keys_public *keys_identity(void);

/* The number of device keys shown, 1 to n. */
unsigned keys_devices(void);

/*
 * Device key n (1 to keys_devices()) as keys_identity says, or NULL for
 * an n out of range.
 */
const struct keys_public *keys_device(unsigned n);

#endif
