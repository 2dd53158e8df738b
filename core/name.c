/*
 * Object names.  They become file names under the mount and appear in
 * log lines, so they are kept to characters that need no quoting.
 */
#include <string.h>

#include "name.h"

#define NAME_LEN_MAX 63

static const char name_chars[] = "abcdefghijklmnopqrstuvwxyz"
                                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";

int
name_valid(const char *name)
{
	size_t len;

	if (name == NULL)
		return 0;
	len = strlen(name);
	if (len == 0 || len > NAME_LEN_MAX)
		return 0;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return 0;
	return strspn(name, name_chars) == len;
}
