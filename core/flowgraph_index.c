/*
 * The call graph's index: call ids to call numbers, so that finding a
 * call, which every event and every parent link does, costs a hash and
 * not a scan of the calls kept.
 *
 * Open addressing with linear probing over a power-of-two table kept at
 * most half full; removal shifts the entries after the gap back, so
 * there are no tombstones and a lookup stops at the first empty slot.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flowgraph.h"

#define FLOWGRAPH_INDEX_MIN 32 /* slots of a new table */

struct flowgraph_slot {
	const char *id; /* the call's own; NULL: empty */
	uint64_t    seq;
};

struct flowgraph__index {
	struct flowgraph_slot *slots;
	size_t                 cap; /* a power of two, or 0 */
};

/* FNV-1a: ids are short and come from peers, who gain nothing from
 * collisions in a table bounded by the number of calls kept. */
static size_t
flowgraph_index_hash(const char *id)
{
	uint64_t h = UINT64_C(14695981039346656037);

	for (; *id != '\0'; id++) {
		h ^= (unsigned char)*id;
		h *= UINT64_C(1099511628211);
	}
	return (size_t)h;
}

/* The slot of id, or the empty slot where it would go. */
static struct flowgraph_slot *
flowgraph_index_slot(const struct flowgraph__index *ix, const char *id)
{
	size_t mask = ix->cap - 1, i = flowgraph_index_hash(id) & mask;

	while (ix->slots[i].id != NULL && strcmp(ix->slots[i].id, id) != 0)
		i = (i + 1) & mask;
	return &ix->slots[i];
}

int
flowgraph__index_new(struct flowgraph__index **out)
{
	if ((*out = calloc(1, sizeof **out)) == NULL)
		return -ENOMEM;
	return 0;
}

void
flowgraph__index_free(struct flowgraph__index *ix)
{
	if (ix == NULL)
		return;
	free(ix->slots);
	free(ix);
}

int
flowgraph__index_reserve(struct flowgraph__index *ix, size_t n)
{
	struct flowgraph_slot *old = ix->slots, *to;
	size_t                 oldcap = ix->cap, cap, i;

	if (n <= ix->cap / 2)
		return 0;
	for (cap = FLOWGRAPH_INDEX_MIN; cap / 2 < n && cap < SIZE_MAX / 4;)
		cap *= 2;
	if ((ix->slots = calloc(cap, sizeof *ix->slots)) == NULL) {
		ix->slots = old;
		return -ENOMEM;
	}

	ix->cap = cap;
	for (i = 0; i < oldcap; i++) {
		if (old[i].id == NULL)
			continue;
		to = flowgraph_index_slot(ix, old[i].id);
		*to = old[i];
	}
	free(old);
	return 0;
}

void
flowgraph__index_put(struct flowgraph__index *ix, const char *id, uint64_t seq)
{
	struct flowgraph_slot *s = flowgraph_index_slot(ix, id);

	s->id = id;
	s->seq = seq;
}

int
flowgraph__index_get(
    const struct flowgraph__index *ix, const char *id, uint64_t *seq)
{
	const struct flowgraph_slot *s;

	if (ix->cap == 0 || (s = flowgraph_index_slot(ix, id))->id == NULL)
		return -ENOENT;
	*seq = s->seq;
	return 0;
}

void
flowgraph__index_del(struct flowgraph__index *ix, const char *id)
{
	size_t mask = ix->cap - 1, gap, i, home;

	if (ix->cap == 0 || flowgraph_index_slot(ix, id)->id == NULL)
		return;
	gap = (size_t)(flowgraph_index_slot(ix, id) - ix->slots);

	/* Moves back each later entry of the run that the gap would hide
	 * from its home slot. */
	for (i = (gap + 1) & mask; ix->slots[i].id != NULL;
	     i = (i + 1) & mask) {
		home = flowgraph_index_hash(ix->slots[i].id) & mask;
		if (((i - home) & mask) >= ((i - gap) & mask)) {
			ix->slots[gap] = ix->slots[i];
			gap = i;
		}
	}
	ix->slots[gap].id = NULL;
}
