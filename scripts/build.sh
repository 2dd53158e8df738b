#!/usr/bin/env bash
# Builds alknet into build/ (or build-asan/ with --asan, an ASan+UBSan
# build).  Installs missing Debian packages first.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=build
type=

case "${1:-}" in
--asan)
	dir=build-asan
	type=-DCMAKE_BUILD_TYPE=Asan
	;;
"") ;;
*)
	echo "usage: scripts/build.sh [--asan]" >&2
	exit 2
	;;
esac

"$root/scripts/setup.sh"
cmake -S "$root" -B "$root/$dir" ${type:+"$type"} >/dev/null
cmake --build "$root/$dir" -j "$(nproc)"
