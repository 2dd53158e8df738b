#!/usr/bin/env bash
#
# Tunnel benchmark: OpenSSH's ssh client through a stock sshd (the
# reference) and through alknetd, in one run on 127.0.0.1.
#
#   bench/bench.sh [--sshd-only]
#
# Measures, for each server:
#   - single-channel throughput of `ssh -L` to a local sink, per cipher
#     (time from the first byte sent until the sink has counted them all);
#   - new channels per second through `ssh -L`: sequential connect,
#     1-byte echo, close cycles against a local echo server.
# and prints a table with the ratio alknetd/sshd.
#
# Environment:
#   ALKNETD             the daemon (default: build/alknetd or
#                       build/fs/alknetd of this tree)
#   BENCH_BYTES         bytes per throughput run (default 1 GiB)
#   BENCH_CONNS         connect/echo/close cycles (default 2000)
#   BENCH_CIPHERS       ciphers to measure (default: aes128-gcm and
#                       chacha20-poly1305)
#   BENCH_RUNS          runs per measurement; the best is kept (default 1)
#   BENCH_STEP_TIMEOUT  seconds before one measurement counts as failed
#                       (default 300)
#   BENCH_SSHD_ONLY=1   the same as --sshd-only: measure sshd alone
#   BENCH_KEEP=1        keep the work directory (logs) after the run
#
# Must run as root (sshd refuses to start otherwise on most systems).
# Everything listens on 127.0.0.1 with ephemeral ports; all processes and
# the temporary directory go away on exit.

set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

BYTES=${BENCH_BYTES:-1073741824}
CONNS=${BENCH_CONNS:-2000}
CIPHERS=${BENCH_CIPHERS:-"aes128-gcm@openssh.com chacha20-poly1305@openssh.com"}
RUNS=${BENCH_RUNS:-1}
STEP_TIMEOUT=${BENCH_STEP_TIMEOUT:-300}
if [[ -z ${ALKNETD:-} ]]; then
	for ALKNETD in "$root/build/alknetd" "$root/build/fs/alknetd"; do
		[[ ! -x $ALKNETD ]] || break
	done
fi
SSHD_ONLY=${BENCH_SSHD_ONLY:-0}
START_TIMEOUT=20

# The comment at the top of this file.
usage() {
	awk 'NR > 2 && !/^#/ { exit } NR > 2 { sub(/^# ?/, ""); print }' "$0"
}

for arg in "$@"; do
	case $arg in
	--sshd-only) SSHD_ONLY=1 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "bench.sh: unknown argument $arg" >&2; exit 2 ;;
	esac
done

work=$(mktemp -d "${TMPDIR:-/tmp}/alknet-bench.XXXXXX")
pids=()
failed=0

cleanup() {
	local i
	trap - EXIT INT TERM

	# Last started first: tunnels before the servers they use.
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill "${pids[i]}" 2>/dev/null || true
	done
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		wait "${pids[i]}" 2>/dev/null || true
	done
	if [[ ${BENCH_KEEP:-0} = 1 ]]; then
		echo "bench.sh: logs kept in $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "bench.sh: $*" >&2
	exit 1
}

forget_pid() {
	local keep=() p
	for p in "${pids[@]}"; do
		[[ $p = "$1" ]] || keep+=("$p")
	done
	pids=("${keep[@]}")
}

stop() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	forget_pid "$1"
}

tool() {
	"$work/benchtool" "$@"
}

# Waits until 127.0.0.1:$1 listens while process $2 is alive.
wait_listen() {
	local port=$1 pid=$2 log=$3 deadline=$((SECONDS + START_TIMEOUT))

	until tool waitlisten "$port" 0.2 2>/dev/null; do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 20 "$log" >&2 || true
			return 1
		fi
		if ((SECONDS > deadline)); then
			tail -n 20 "$log" >&2 || true
			return 1
		fi
	done
}

# Waits for a file to appear (a server's port file).
wait_file() {
	local deadline=$((SECONDS + START_TIMEOUT))

	until [[ -s $1 ]]; do
		((SECONDS <= deadline)) || fail "$1 did not appear"
		sleep 0.05
	done
}

build_tool() {
	cc -O2 -std=c11 -D_GNU_SOURCE -o "$work/benchtool" \
	    "$here/benchtool.c" || fail "cannot build benchtool"
}

make_keys() {
	ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$work/host_key"
	ssh-keygen -q -t ed25519 -N '' -C bench-client -f "$work/client_key"
	cp "$work/client_key.pub" "$work/authorized_keys"
}

start_servers() {
	"$work/benchtool" sink "$work/sink.port" &
	pids+=($!)
	"$work/benchtool" echo "$work/echo.port" &
	pids+=($!)
	wait_file "$work/sink.port"
	wait_file "$work/echo.port"
	sink_port=$(<"$work/sink.port")
	echo_port=$(<"$work/echo.port")
}

start_sshd() {
	local port pid

	cat >"$work/sshd_config" <<EOF
ListenAddress 127.0.0.1
HostKey $work/host_key
AuthorizedKeysFile $work/authorized_keys
StrictModes no
UsePAM no
PidFile none
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowTcpForwarding yes
UseDNS no
MaxSessions 100
LogLevel ERROR
EOF
	/usr/sbin/sshd -t -f "$work/sshd_config" ||
	    fail "sshd rejects the configuration (run as root?)"

	port=$(tool freeport)
	/usr/sbin/sshd -D -e -f "$work/sshd_config" -p "$port" \
	    2>"$work/sshd.log" &
	pid=$!
	pids+=("$pid")
	wait_listen "$port" "$pid" "$work/sshd.log" ||
	    fail "sshd did not start"
	sshd_port=$port
}

start_alknetd() {
	local log=$work/alknetd.log pid deadline=$((SECONDS + START_TIMEOUT))

	[[ -x $ALKNETD ]] ||
	    fail "no alknetd at $ALKNETD (set ALKNETD, or use --sshd-only)"
	mkdir -p "$work/alknet-state"
	"$ALKNETD" --listen 127.0.0.1:0 --state-dir "$work/alknet-state" \
	    --authorized-keys "$work/authorized_keys" --no-mount 2>"$log" &
	pid=$!
	pids+=("$pid")

	until grep -q '^alknetd: ready pid=' "$log"; do
		if ! kill -0 "$pid" 2>/dev/null || ((SECONDS > deadline)); then
			tail -n 20 "$log" >&2
			fail "alknetd did not become ready"
		fi
		sleep 0.05
	done
	alknetd_port=$(awk '/^alknetd: listener added / {
		for (i = 1; i <= NF; i++)
			if ($i ~ /^uri=tcp:\/\/127\.0\.0\.1:[0-9]+$/) {
				sub(/.*:/, "", $i)
				print $i
				exit
			}
	}' "$log")
	[[ -n $alknetd_port ]] || fail "no listener line in $log"
}

# Starts `ssh -N -L` to server port $1 with cipher $2 towards local port
# $3; sets tunnel_pid and tunnel_port; returns 1 when the forward does not
# come up (the caller stops tunnel_pid either way).
start_tunnel() {
	local log=$work/ssh.log

	tunnel_port=$(tool freeport)
	echo "--- ssh -p $1 -c $2 -> $3" >>"$log"
	ssh -F /dev/null -N -T \
	    -o IdentitiesOnly=yes -i "$work/client_key" \
	    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
	    -o BatchMode=yes -o LogLevel=ERROR -o ExitOnForwardFailure=yes \
	    -o Compression=no -o ControlMaster=no -o ControlPath=none \
	    -c "$2" -p "$1" \
	    -L "127.0.0.1:$tunnel_port:127.0.0.1:$3" 127.0.0.1 \
	    2>>"$log" &
	tunnel_pid=$!
	pids+=("$tunnel_pid")
	wait_listen "$tunnel_port" "$tunnel_pid" "$log"
}

# Runs benchtool $1 ($2 is its size argument) RUNS times through the
# tunnel; sets secs to the best time, or returns 1.
run_best() {
	local i p out=()

	for ((i = 0; i < RUNS; i++)); do
		# In the background: a signal to this script is handled at once
		# by `wait`, not after the step.
		timeout "$STEP_TIMEOUT" "$work/benchtool" "$1" "$tunnel_port" \
		    "$2" >"$work/step.out" &
		p=$!
		pids+=("$p")
		wait "$p" || { forget_pid "$p"; return 1; }
		forget_pid "$p"
		out+=("$(<"$work/step.out")")
	done
	secs=$(printf '%s\n' "${out[@]}" | sort -g | head -n 1)
}

# Sets result to the throughput in MiB/s through server port $1 with
# cipher $2, or FAIL.
measure_throughput() {
	result=FAIL
	if start_tunnel "$1" "$2" "$sink_port" && run_best send "$BYTES"; then
		result=$(awk -v b="$BYTES" -v s="$secs" \
		    'BEGIN { printf "%.1f", b / 1048576 / s }')
	fi
	stop "$tunnel_pid"
}

# Sets result to the channels per second through server port $1, or FAIL.
measure_conns() {
	result=FAIL
	if start_tunnel "$1" "${CIPHERS%% *}" "$echo_port" &&
	    run_best conns "$CONNS"; then
		result=$(awk -v n="$CONNS" -v s="$secs" \
		    'BEGIN { printf "%.1f", n / s }')
	fi
	stop "$tunnel_pid"
}

# Runs every measurement against server port $1; fills the array named $2.
measure_all() {
	local port=$1 c
	local -n res=$2

	for c in $CIPHERS; do
		measure_throughput "$port" "$c"
		res+=("$result")
		echo "  throughput $c: $result MiB/s" >&2
	done
	measure_conns "$port"
	res+=("$result")
	echo "  channels: $result per second" >&2
}

ratio() {
	if [[ $1 = FAIL || $2 = FAIL || $2 = - ]]; then
		echo -
	else
		awk -v a="$2" -v s="$1" 'BEGIN {
			r = a / s
			printf(r < 0.1 ? "%.4f\n" : "%.2f\n", r)
		}'
	fi
}

print_table() {
	local i=0 c metrics=()

	for c in $CIPHERS; do
		metrics+=("throughput MiB/s $c")
	done
	metrics+=("channels/s (connect, 1-byte echo, close)")

	echo
	printf '%-58s %12s %12s %8s\n' metric sshd alknetd ratio
	for ((i = 0; i < ${#metrics[@]}; i++)); do
		printf '%-58s %12s %12s %8s\n' "${metrics[i]}" \
		    "${sshd_res[i]}" "${alk_res[i]}" \
		    "$(ratio "${sshd_res[i]}" "${alk_res[i]}")"
	done
}

print_setup() {
	local cpu

	echo "bytes per throughput run: $BYTES; channel cycles: $CONNS;" \
	    "runs: $RUNS (best kept)"
	cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
	echo "client: $(ssh -V 2>&1); cpu: $(nproc) x $cpu"
	if [[ $SSHD_ONLY = 1 ]]; then
		echo "alknetd: skipped"
	else
		echo "alknetd: $ALKNETD"
	fi
}

main() {
	sshd_res=()
	alk_res=()

	command -v ssh >/dev/null || fail "no ssh client"
	[[ -x /usr/sbin/sshd ]] || fail "no /usr/sbin/sshd"
	build_tool
	make_keys
	start_servers
	print_setup

	start_sshd
	echo "sshd on 127.0.0.1:$sshd_port" >&2
	measure_all "$sshd_port" sshd_res

	if [[ $SSHD_ONLY = 1 ]]; then
		for c in "${sshd_res[@]}"; do
			alk_res+=(-)
		done
	else
		start_alknetd
		echo "alknetd on 127.0.0.1:$alknetd_port" >&2
		measure_all "$alknetd_port" alk_res
	fi

	print_table
	for c in "${sshd_res[@]}" "${alk_res[@]}"; do
		[[ $c != FAIL ]] || failed=1
	done
	if ((failed)); then
		echo "bench.sh: some measurements failed; see ssh.log" \
		    "(BENCH_KEEP=1 keeps $work)" >&2
		exit 1
	fi
}

main
