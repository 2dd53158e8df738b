#!/usr/bin/env bash
# Installs every Debian package that building and testing alknet needs.
# Run as root on Debian 12.  Does nothing (and prints nothing) when all of
# them are already installed.
set -euo pipefail

packages=(
	build-essential cmake pkg-config
	libfuse3-dev fuse3
	libssh-dev libssl-dev libuv1-dev
	libsqlite3-dev sqlite3 libsodium-dev libjansson-dev libinih-dev
	libcmocka-dev libunistring-dev
	python3-pytest python3-paramiko
	openssh-client openssh-server
	curl socat netcat-openbsd fail2ban
	clang-format procps psmisc
	graphviz
)

missing=()
for pkg in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null ||
	    true)
	if [[ "$status" != installed ]]; then
		missing+=("$pkg")
	fi
done

if ((${#missing[@]} == 0)); then
	exit 0
fi

if ((EUID != 0)); then
	echo "setup.sh: missing packages: ${missing[*]}" >&2
	echo "setup.sh: run this script as root to install them" >&2
	exit 1
fi

echo "setup.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
