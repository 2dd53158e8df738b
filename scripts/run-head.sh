#!/usr/bin/env bash
# Builds alknetd and runs it as a head with the built-in defaults: SSH on
# 127.0.0.1:2222, state in /var/lib/alknet (a host key and an empty
# authorized_keys are created on the first run), the namespace mounted at
# /run/alknet.  Arguments are passed to alknetd.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh" >/dev/null

# The mount point must exist before the daemon mounts on it.
mkdir -p -m 0755 /run/alknet

# CMake puts programs next to their sources unless told otherwise.
bin="$root/build/alknetd"
[[ -x "$bin" ]] || bin="$root/build/fs/alknetd"
exec "$bin" "$@"
