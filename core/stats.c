/*
 * Node-wide counters.
 */
#include <sys/resource.h>

#include <dirent.h>
#include <errno.h>

#include <stddef.h>

#include "stats.h"

struct stats stats;

int
stats_fds(unsigned *open, unsigned *limit)
{
	struct rlimit  rl;
	struct dirent *de;
	DIR           *dir;
	unsigned       n = 0;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return -errno;
	*limit = rl.rlim_cur == RLIM_INFINITY ? 0 : (unsigned)rl.rlim_cur;

	if ((dir = opendir("/proc/self/fd")) == NULL)
		return -errno;
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] != '.')
			n++;
	}
	closedir(dir);

	/* The directory stream itself held one. */
	*open = n > 0 ? n - 1 : 0;
	return 0;
}
