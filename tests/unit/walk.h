/*
 * Counting a loop's handles, for tests that check what stays watched.
 */
#ifndef ALKNET_TEST_WALK_H
#define ALKNET_TEST_WALK_H

#include <uv.h>

struct walk {
	int polls;
	int polls_active;
	int timers_active;
};

/* For uv_walk: counts poll handles, and the active polls and timers. */
static void
walk_cb(uv_handle_t *h, void *arg)
{
	struct walk *w = arg;

	if (h->type == UV_POLL) {
		w->polls++;
		w->polls_active += uv_is_active(h) && !uv_is_closing(h);
	} else if (h->type == UV_TIMER) {
		w->timers_active += uv_is_active(h) && !uv_is_closing(h);
	}
}

#endif
