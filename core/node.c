/*
 * This node: identity, start time and the deferred graceful stop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "listener.h"
#include "node.h"
#include "upstream.h"

static struct {
	uv_loop_t   *loop;
	uv_timer_t   stop_timer;
	int          timer_ready;
	char        *id;
	char        *name;
	char        *mount;
	int64_t      started;
	node_stop_cb stop_cb;
	void        *stop_arg;
} node;

void
node_init(uv_loop_t *loop, const char *id, const char *name, const char *mount)
{
	node.loop = loop;
	node.id = strdup(id);
	node.name = strdup(name);
	node.mount = strdup(mount != NULL ? mount : "");
	node.started = node_now_ms();
	uv_timer_init(loop, &node.stop_timer);
	node.timer_ready = 1;
}

void
node_info(struct node_info *info)
{
	info->id = node.id != NULL ? node.id : "";
	info->name = node.name != NULL ? node.name : "";
	if (listener_count() > 0 && upstream_count() > 0)
		info->roles = "head,worker";
	else if (upstream_count() > 0)
		info->roles = "worker";
	else
		info->roles = listener_count() > 0 ? "head" : "";
	info->version = ALKNET_VERSION;
	info->pid = (long)getpid();
	info->started = node.started;
	info->mount = node.mount != NULL ? node.mount : "";
}

void
node_on_stop(node_stop_cb cb, void *arg)
{
	node.stop_cb = cb;
	node.stop_arg = arg;
}

static void
node_stop_fire(uv_timer_t *t)
{
	if (node.stop_cb != NULL)
		node.stop_cb(node.stop_arg);
}

void
node_stop(void)
{
	/* A timer of 0 runs after the current request has been answered. */
	if (node.timer_ready)
		uv_timer_start(&node.stop_timer, node_stop_fire, 0, 0);
}

int64_t
node_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
node_format_time(int64_t ms, char *buf, size_t len)
{
	struct tm tm;
	time_t    secs = (time_t)(ms / 1000);
	char      date[32];

	gmtime_r(&secs, &tm);
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03dZ", date, (int)(ms % 1000));
}

void
node_free(void)
{
	if (node.timer_ready) {
		uv_close((uv_handle_t *)&node.stop_timer, NULL);
		node.timer_ready = 0;
	}
	free(node.id);
	free(node.name);
	free(node.mount);
	node.id = node.name = node.mount = NULL;
}
