/*
 * Names of the objects an operator creates: listeners, upstreams and
 * forwards.  Each is also a directory name under the mount.
 */
#ifndef ALKNET_NAME_H
#define ALKNET_NAME_H

/*
 * Whether name may name an object: 1 to 63 letters, digits, '.', '_' and
 * '-', and not "." or "..".  Returns 1 or 0; NULL is not a name.
 */
int name_valid(const char *name);

#endif
