/*
 * Node-wide counters, owned by the loop thread.
 */
#ifndef ALKNET_STATS_H
#define ALKNET_STATS_H

#include <stdint.h>

struct stats {
	uint64_t sessions; /* open now */
	uint64_t sessions_total;
	uint64_t channels; /* open now */
	uint64_t channels_total;
	uint64_t channels_denied; /* by acl/forwarding */
	uint64_t bytes_in;        /* from peers' channels to targets */
	uint64_t bytes_out;       /* from targets to peers' channels */
	uint64_t auth_accepted;
	uint64_t auth_rejected;
	uint64_t connections_rejected;
};

extern struct stats stats;

/* Open file descriptors of this process now, and the soft limit. */
int stats_fds(unsigned *open, unsigned *limit);

#endif
