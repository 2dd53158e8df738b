/*
 * The event bus as an operation: /events/subscribe {"types"?: [prefix,
 * ...]} (node:read), a subscription whose values are the events emitted
 * from then on, those whose type begins with one of the prefixes when
 * some are given.  It ends when the node stops.
 */
#ifndef ALKNET_OPS_EVENTS_H
#define ALKNET_OPS_EVENTS_H

#include <stddef.h>

struct registry;

/* Registers the operation in r.  Returns as registry_register. */
int ops_events_register(struct registry *r, char *err, size_t errlen);

#endif
