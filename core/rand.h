/*
 * Where the daemon's cryptographic randomness comes from.
 */
#ifndef ALKNET_RAND_H
#define ALKNET_RAND_H

/*
 * Makes OpenSSL, and libssh through it, draw random bytes from libsodium.
 * Call once, after sodium_init() and before the first key or packet.
 * Returns 0, or -1 when OpenSSL refused the change (it keeps its own).
 */
int rand_use_sodium(void);

#endif
