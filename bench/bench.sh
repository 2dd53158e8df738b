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
#     1-byte echo, close cycles against a local echo server;
#   - through a SOCKS5 proxy: `ssh -D` to sshd, against an alknetd worker
#     (`--socks`) connected to an alknetd head: single-connection
#     throughput to the sink, and SOCKS5 connections per second
#     (no-auth greeting, CONNECT to 127.0.0.1, 1-byte echo, close).
# and prints a table with the ratio alknetd/sshd.  The two rates of
# new connections go back and forth between sshd and alknetd, run by
# run, both tunnels up at once: they are bound by wake-ups, whose cost
# on a small VM drifts more from one minute to the next than the two
# servers differ.
#
# Then the call protocol (docs/calls.md) against an alknetd head with a
# mount and a raw listener: calls per second and the median and 99th
# percentile time per call, with 1 and with 64 calls in flight on one
# connection, over the SSH control channel (a libssh client in
# benchtool) and over raw framing.  The call is /node/info, made by an
# identity holding node:read that is added through the mount's ctl
# (without /dev/fuse: /services/schema, which anyone may call).  The
# reference is the same exchange with an echo server in place of the
# protocol: the same request frames echoed back, through a direct-tcpip
# channel of the same head to a local echo server with the same client,
# and over plain TCP to that server.  A second table gives the ratio
# calls/echo (below 1 for rates, above 1 for times: the protocol's cost).
# The client, that head and that echo server share one CPU: with one
# call in flight, a round trip between two CPUs costs a wake-up whose
# price (tens of microseconds here) depends on where the scheduler
# put each process, and would hide the protocol's cost.
#
# `ssh -D` is measured with each cipher; the worker cannot be given one
# and uses libssh's default, which is read from its key exchange with the
# head (through a short-lived second worker) and printed under the table.
# The worker's throughput goes in the row of that cipher; when the cipher
# is not among BENCH_CIPHERS, `ssh -D` is also measured with it (or with
# its own default when the worker's cannot be read) for an extra row.
#
# Environment:
#   ALKNETD             the daemon (default: build/alknetd or
#                       build/fs/alknetd of this tree)
#   BENCH_BYTES         bytes per throughput run (default 1 GiB)
#   BENCH_CONNS         connect/echo/close cycles (default 2000)
#   BENCH_SOCKS_CONNS   SOCKS5 handshake/echo/close cycles (default
#                       BENCH_CONNS)
#   BENCH_CALLS         calls per call-protocol run (default 20000)
#   BENCH_CALLS_CPU     the CPU of the call-protocol rows (default: the
#                       last one), or "none" to leave them unpinned
#   BENCH_CIPHERS       ciphers to measure (default: aes128-gcm and
#                       chacha20-poly1305)
#   BENCH_RUNS          runs per measurement; the best is kept (default 1)
#   BENCH_STEP_TIMEOUT  seconds before one measurement counts as failed
#                       (default 300)
#   BENCH_SSHD_ONLY=1   the same as --sshd-only: measure sshd alone
#                       (no call-protocol rows)
#   BENCH_ONLY=socks    only the SOCKS5 rows (no `ssh -L` measurements)
#   BENCH_ONLY=calls    only the call-protocol rows (no sshd)
#   ALKNET              the alknet command, for tokens (default: next to
#                       ALKNETD)
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
SOCKS_CONNS=${BENCH_SOCKS_CONNS:-$CONNS}
CALLS=${BENCH_CALLS:-20000}
CALLS_CPU=${BENCH_CALLS_CPU:-$(($(nproc) - 1))}
CIPHERS=${BENCH_CIPHERS:-"aes128-gcm@openssh.com chacha20-poly1305@openssh.com"}
RUNS=${BENCH_RUNS:-1}
STEP_TIMEOUT=${BENCH_STEP_TIMEOUT:-300}
if [[ -z ${ALKNETD:-} ]]; then
	for ALKNETD in "$root/build/alknetd" "$root/build/fs/alknetd"; do
		[[ ! -x $ALKNETD ]] || break
	done
fi
ALKNET=${ALKNET:-$(dirname "$ALKNETD")/alknet}
SSHD_ONLY=${BENCH_SSHD_ONLY:-0}
ONLY=${BENCH_ONLY:-}
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
if [[ -n $ONLY && $ONLY != socks && $ONLY != calls ]]; then
	echo "bench.sh: BENCH_ONLY may only be socks or calls" >&2
	exit 2
fi
if [[ $ONLY = calls && $SSHD_ONLY = 1 ]]; then
	echo "bench.sh: BENCH_ONLY=calls measures alknetd alone" >&2
	exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/alknet-bench.XXXXXX")
pids=()
pin=()
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
	# A head that died leaves its mount behind; rm must not walk into it.
	if mountpoint -q "$work/calls-mnt" 2>/dev/null; then
		fusermount3 -u -z "$work/calls-mnt" 2>/dev/null ||
		    umount -l "$work/calls-mnt" 2>/dev/null || true
	fi
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

# With the warnings and definitions of the project's CMakeLists.txt.
build_tool() {
	local libs

	read -ra libs <<<"$(pkg-config --libs libssh 2>/dev/null ||
	    echo -lssh)"
	cc -O2 -std=c11 -D_GNU_SOURCE -DLIBSSH_LEGACY_0_4 \
	    -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	    -Wpointer-arith -Wformat=2 -Wno-unused-parameter \
	    -o "$work/benchtool" "$here/benchtool.c" "${libs[@]}" ||
	    fail "cannot build benchtool"
}

make_keys() {
	ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$work/host_key"
	ssh-keygen -q -t ed25519 -N '' -C bench-client -f "$work/client_key"
	ssh-keygen -q -t ed25519 -N '' -C bench-worker -f "$work/worker_key"
	ssh-keygen -q -t ed25519 -N '' -C bench-caller -f "$work/caller_key"
	cat "$work/client_key.pub" "$work/worker_key.pub" \
	    >"$work/authorized_keys"
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

# The port of the first "alknetd: $2 added" line of log $1 on 127.0.0.1.
log_port() {
	awk -v what="alknetd: $2 added " 'index($0, what) == 1 {
		for (i = 1; i <= NF; i++)
			if ($i ~ /^uri=tcp:\/\/127\.0\.0\.1:[0-9]+$/) {
				sub(/.*:/, "", $i)
				print $i
				exit
			}
	}' "$1"
}

# Starts an alknetd head (under pin, if set) with the log $1, the state
# directory $2 and further arguments after them; sets head_pid and
# head_port (its SSH listener) once it is ready.
start_head() {
	local log=$1 state=$2 deadline=$((SECONDS + START_TIMEOUT))

	shift 2
	[[ -x $ALKNETD ]] ||
	    fail "no alknetd at $ALKNETD (set ALKNETD, or use --sshd-only)"
	mkdir -p "$state"
	"${pin[@]}" "$ALKNETD" --listen 127.0.0.1:0 --state-dir "$state" \
	    --authorized-keys "$work/authorized_keys" \
	    --forwarding-rule 'allow 127.0.0.1:*' "$@" 2>"$log" &
	head_pid=$!
	pids+=("$head_pid")

	until grep -q '^alknetd: ready pid=' "$log"; do
		if ! kill -0 "$head_pid" 2>/dev/null ||
		    ((SECONDS > deadline)); then
			tail -n 20 "$log" >&2
			fail "alknetd did not become ready"
		fi
		sleep 0.05
	done
	head_port=$(log_port "$log" listener)
	[[ -n $head_port ]] || fail "no listener line in $log"
}

start_alknetd() {
	start_head "$work/alknetd.log" "$work/alknet-state" --no-mount
	alknetd_port=$head_port
}

# Starts `ssh -N -L` to server port $1 with cipher $2 towards local port
# $3, or `ssh -N -D` (a SOCKS5 proxy) when $3 is "socks"; an empty cipher
# leaves the choice to ssh.  Sets tunnel_pid and tunnel_port; returns 1
# when the forward does not come up (the caller stops tunnel_pid either
# way).
start_tunnel() {
	local log=$work/ssh.log fwd cipher=()

	tunnel_port=$(tool freeport)
	if [[ $3 = socks ]]; then
		fwd=(-D "127.0.0.1:$tunnel_port")
	else
		fwd=(-L "127.0.0.1:$tunnel_port:127.0.0.1:$3")
	fi
	[[ -z $2 ]] || cipher=(-c "$2")
	echo "--- ssh -p $1 -c ${2:-default} -> $3" >>"$log"
	ssh -F /dev/null -N -T \
	    -o IdentitiesOnly=yes -i "$work/client_key" \
	    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
	    -o BatchMode=yes -o LogLevel=ERROR -o ExitOnForwardFailure=yes \
	    -o Compression=no -o ControlMaster=no -o ControlPath=none \
	    "${cipher[@]}" -p "$1" "${fwd[@]}" 127.0.0.1 \
	    2>>"$log" &
	tunnel_pid=$!
	pids+=("$tunnel_pid")
	wait_listen "$tunnel_port" "$tunnel_pid" "$log"
}

# Runs benchtool (under pin, if set) with the arguments given RUNS
# times; sets best to the line of the best time and secs to that time,
# or returns 1.
run_best() {
	local i p out=()

	for ((i = 0; i < RUNS; i++)); do
		# In the background: a signal to this script is handled at once
		# by `wait`, not after the step.
		timeout "$STEP_TIMEOUT" "${pin[@]}" "$work/benchtool" "$@" \
		    >"$work/step.out" &
		p=$!
		pids+=("$p")
		wait "$p" || { forget_pid "$p"; return 1; }
		forget_pid "$p"
		out+=("$(<"$work/step.out")")
	done
	best=$(printf '%s\n' "${out[@]}" | sort -g | head -n 1)
	secs=${best%% *}
}

# Sets rate_a and rate_b to the cycles per second, $1 cycles a run, of
# the best of RUNS runs of the benchtool commands in the arrays named $2
# and $3, or to FAIL.  The two take turns, run by run: on a small VM the
# machine's speed drifts from one minute to the next by more than a
# reference and alknetd differ, and in turns both meet the same drift.
rates_in_turn() {
	local n=$1 i sa= sb=
	local -n cmd_a=$2 cmd_b=$3

	for ((i = 0; i < RUNS; i++)); do
		if [[ $sa != FAIL ]]; then
			RUNS=1 run_best "${cmd_a[@]}" && sa=$(least "$sa" "$secs") ||
			    sa=FAIL
		fi
		if [[ $sb != FAIL ]]; then
			RUNS=1 run_best "${cmd_b[@]}" && sb=$(least "$sb" "$secs") ||
			    sb=FAIL
		fi
	done
	rate_a=$(per_second "$n" "$sa")
	rate_b=$(per_second "$n" "$sb")
}

# The smaller of the times $1 (may be empty) and $2.
least() {
	awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'
}

# $1 cycles in $2 seconds as a rate, or FAIL.
per_second() {
	if [[ $2 = FAIL || -z $2 ]]; then
		echo FAIL
	else
		awk -v n="$1" -v s="$2" 'BEGIN { printf "%.1f", n / s }'
	fi
}

# Sets result to the throughput in MiB/s through server port $1 with
# cipher $2, or FAIL.
measure_throughput() {
	result=FAIL
	if start_tunnel "$1" "$2" "$sink_port" &&
	    run_best send "$tunnel_port" "$BYTES"; then
		result=$(awk -v b="$BYTES" -v s="$secs" \
		    'BEGIN { printf "%.1f", b / 1048576 / s }')
	fi
	stop "$tunnel_pid"
}

# Sets result to the channels per second through server port $1, or FAIL.
measure_conns() {
	result=FAIL
	if start_tunnel "$1" "${CIPHERS%% *}" "$echo_port" &&
	    run_best conns "$tunnel_port" "$CONNS"; then
		result=$(per_second "$CONNS" "$secs")
	fi
	stop "$tunnel_pid"
}

# Runs every measurement against server port $1; fills the array named
# $2.  The channel rate is measured here only without alknetd: else
# channels_in_turn measures both servers.
measure_all() {
	local port=$1 c
	local -n res=$2

	for c in $CIPHERS; do
		measure_throughput "$port" "$c"
		res+=("$result")
		echo "  throughput $c: $result MiB/s" >&2
	done
	[[ $SSHD_ONLY = 1 ]] || return 0
	measure_conns "$port"
	res+=("$result")
	echo "  channels: $result per second" >&2
}

# The channel rate through `ssh -L` to sshd (server port $1) and to
# alknetd ($2), in turns; appends to sshd_res and alk_res.
channels_in_turn() {
	local a=() b=() pids_ab=() p

	rate_a=FAIL
	rate_b=FAIL
	# start_tunnel sets tunnel_pid even when the forward fails.
	if start_tunnel "$1" "${CIPHERS%% *}" "$echo_port"; then
		a=(conns "$tunnel_port" "$CONNS")
		pids_ab+=("$tunnel_pid")
		if start_tunnel "$2" "${CIPHERS%% *}" "$echo_port"; then
			b=(conns "$tunnel_port" "$CONNS")
			rates_in_turn "$CONNS" a b
		fi
	fi
	pids_ab+=("$tunnel_pid")
	for p in "${pids_ab[@]}"; do
		stop "$p"
	done
	sshd_res+=("$rate_a")
	alk_res+=("$rate_b")
	echo "  channels: sshd $rate_a, alknetd $rate_b per second" >&2
}

# Sets result to the throughput in MiB/s through the SOCKS5 proxy on
# local port $1 to the sink, or FAIL.
socks_throughput() {
	result=FAIL
	if run_best sockssend "$1" "$sink_port" "$BYTES"; then
		result=$(awk -v b="$BYTES" -v s="$secs" \
		    'BEGIN { printf "%.1f", b / 1048576 / s }')
	fi
}

# Sets result to the SOCKS5 connections per second through the proxy on
# local port $1 to the echo server, or FAIL.
socks_conns() {
	result=FAIL
	if run_best socksconns "$1" "$echo_port" "$SOCKS_CONNS"; then
		result=$(per_second "$SOCKS_CONNS" "$secs")
	fi
}

# Sets result to the SOCKS5 throughput through `ssh -D` to server port $1
# with cipher $2 (empty: ssh's default), or FAIL.
measure_sshd_socks_throughput() {
	result=FAIL
	if start_tunnel "$1" "$2" socks; then
		socks_throughput "$tunnel_port"
	fi
	stop "$tunnel_pid"
}

# SOCKS5 through `ssh -D` to server port $1: fills socks_sshd_tp (one
# entry per cipher, in CIPHERS order) and socks_sshd_conns.
measure_sshd_socks() {
	local c

	socks_sshd_tp=()
	for c in $CIPHERS; do
		measure_sshd_socks_throughput "$1" "$c"
		socks_sshd_tp+=("$result")
		echo "  socks5 throughput $c: $result MiB/s" >&2
	done
	socks_sshd_conns=FAIL
	# With alknetd, measure_alknetd_socks takes both in turns.
	[[ $SSHD_ONLY = 1 ]] || return 0
	if start_tunnel "$1" "${CIPHERS%% *}" socks; then
		socks_conns "$tunnel_port"
		socks_sshd_conns=$result
	fi
	stop "$tunnel_pid"
	echo "  socks5 connections: $socks_sshd_conns per second" >&2
}

# Waits until log $2 of process $1 has a line starting with $3.
wait_line() {
	local deadline=$((SECONDS + START_TIMEOUT))

	until grep -qs "^$3" "$2"; do
		if ! kill -0 "$1" 2>/dev/null || ((SECONDS > deadline)); then
			tail -n 20 "$2" >&2 || true
			return 1
		fi
		sleep 0.05
	done
}

# Starts an alknetd worker connected to 127.0.0.1:$1 with the state
# directory $2, log $3 and further arguments after them; sets worker_pid
# and returns once its upstream is up, or returns 1.
start_worker() {
	local port=$1 state=$2 log=$3

	shift 3
	mkdir -p "$state"
	"$ALKNETD" --connect "tcp://127.0.0.1:$port" \
	    --identity "$work/worker_key" --state-dir "$state" --no-mount \
	    "$@" 2>"$log" &
	worker_pid=$!
	pids+=("$worker_pid")
	wait_line "$worker_pid" "$log" 'alknetd: upstream up name=up0 '
}

# Sets worker_cipher to the cipher an alknetd worker settles on with the
# head on port $1: a second worker dials the head through `benchtool
# kexpeek`, which reads both key exchange offers.  "default" when that
# does not work out.
probe_worker_cipher() {
	local relay_pid peek=$work/kexpeek.out

	worker_cipher=default
	"$work/benchtool" kexpeek "$work/kexpeek.port" "$1" >"$peek" &
	relay_pid=$!
	pids+=("$relay_pid")
	wait_file "$work/kexpeek.port"
	if start_worker "$(<"$work/kexpeek.port")" "$work/probe-state" \
	    "$work/probe.log"; then
		if [[ -s $peek ]] && [[ $(<"$peek") != unknown ]]; then
			worker_cipher=$(<"$peek")
		fi
	fi
	stop "$worker_pid"
	stop "$relay_pid"
}

# SOCKS5 through an alknetd worker (`--socks`) connected to the head on
# port $1: sets worker_cipher, socks_alk_tp and socks_alk_conns, and
# socks_sshd_conns, measured in turns with `ssh -D` to sshd.
measure_alknetd_socks() {
	local socks_port a b

	probe_worker_cipher "$1"
	echo "  worker cipher: $worker_cipher" >&2
	socks_alk_tp=FAIL
	socks_alk_conns=FAIL
	socks_port=$(tool freeport)
	if start_worker "$1" "$work/worker-state" "$work/worker.log" \
	    --socks "127.0.0.1:$socks_port" &&
	    wait_listen "$socks_port" "$worker_pid" "$work/worker.log"; then
		socks_throughput "$socks_port"
		socks_alk_tp=$result
		echo "  socks5 throughput: $socks_alk_tp MiB/s" >&2
		if start_tunnel "$sshd_port" "${CIPHERS%% *}" socks; then
			a=(socksconns "$tunnel_port" "$echo_port" "$SOCKS_CONNS")
			b=(socksconns "$socks_port" "$echo_port" "$SOCKS_CONNS")
			rates_in_turn "$SOCKS_CONNS" a b
			socks_sshd_conns=$rate_a
			socks_alk_conns=$rate_b
		fi
		stop "$tunnel_pid"
	fi
	echo "  socks5 connections: sshd $socks_sshd_conns," \
	    "alknetd $socks_alk_conns per second" >&2
	stop "$worker_pid"
}

# Appends the SOCKS5 rows to metrics, sshd_res and alk_res; measures
# `ssh -D` once more on port $1 when the worker's cipher has no row.
add_socks_rows() {
	local i=0 c matched=0

	for c in $CIPHERS; do
		metrics+=("socks5 throughput MiB/s $c")
		sshd_res+=("${socks_sshd_tp[i]}")
		if [[ $SSHD_ONLY != 1 && $c = "$worker_cipher" ]]; then
			alk_res+=("$socks_alk_tp")
			matched=1
		else
			alk_res+=(-)
		fi
		i=$((i + 1))
	done
	if [[ $SSHD_ONLY != 1 ]] && ((!matched)); then
		c=$worker_cipher
		[[ $c != default ]] || c=
		measure_sshd_socks_throughput "$1" "$c"
		echo "  socks5 throughput ${c:-default}: $result MiB/s" >&2
		metrics+=("socks5 throughput MiB/s ${c:-default}")
		sshd_res+=("$result")
		alk_res+=("$socks_alk_tp")
	fi
	metrics+=("socks5 connections/s (handshake, 1-byte echo, close)")
	sshd_res+=("$socks_sshd_conns")
	if [[ $SSHD_ONLY = 1 ]]; then
		alk_res+=(-)
	else
		alk_res+=("$socks_alk_conns")
	fi
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

# The rows of the `ssh -L` measurements, in the order measure_all fills
# the results; the SOCKS5 rows are added after them.
tunnel_metrics() {
	local c

	metrics=()
	for c in $CIPHERS; do
		metrics+=("throughput MiB/s $c")
	done
	metrics+=("channels/s (connect, 1-byte echo, close)")
}

print_table() {
	local i

	echo
	printf '%-58s %12s %12s %8s\n' metric sshd alknetd ratio
	for ((i = 0; i < ${#metrics[@]}; i++)); do
		printf '%-58s %12s %12s %8s\n' "${metrics[i]}" \
		    "${sshd_res[i]}" "${alk_res[i]}" \
		    "$(ratio "${sshd_res[i]}" "${alk_res[i]}")"
	done
	if [[ $SSHD_ONLY != 1 ]]; then
		echo
		echo "socks5: ssh -D with the cipher of each row" \
		    "(connections: ${CIPHERS%% *});"
		echo "        the alknetd worker with $worker_cipher" \
		    "(its first choice)"
	fi
}

# Starts the head of the call-protocol rows, with a raw listener and,
# given FUSE, a mount, and an echo server of their own; sets calls_port,
# raw_port, calls_echo_port, call_key, call_op and call_input.
start_calls_head() {
	local log=$work/calls.log mnt=$work/calls-mnt kind blob

	"${pin[@]}" "$work/benchtool" echo "$work/calls-echo.port" &
	pids+=($!)
	wait_file "$work/calls-echo.port"
	calls_echo_port=$(<"$work/calls-echo.port")
	if [[ -c /dev/fuse ]]; then
		mkdir -p "$mnt"
		start_head "$log" "$work/calls-state" \
		    --listen-raw 127.0.0.1:0 --mount "$mnt"
		read -r kind blob _ <"$work/caller_key.pub"
		printf 'identity add bench-caller %s %s scopes=node:read\n' \
		    "$kind" "$blob" 1<>"$mnt/ctl" ||
		    fail "cannot add an identity through $mnt/ctl"
		call_key=$work/caller_key
		call_op=/node/info
		call_input='{}'
	else
		start_head "$log" "$work/calls-state" \
		    --listen-raw 127.0.0.1:0 --no-mount
		call_key=$work/client_key
		call_op=/services/schema
		call_input='{"name":"/node/info"}'
	fi
	calls_port=$head_port
	raw_port=$(log_port "$log" "raw listener")
	[[ -n $raw_port ]] || fail "no raw listener line in $log"
}

# Runs the benchtool command given (CALLS calls); sets result to the
# calls per second, p50 and p99 to the microseconds per call, or all
# three to FAIL.
calls_measure() {
	result=FAIL
	p50=FAIL
	p99=FAIL
	if run_best "$@"; then
		read -r secs p50 p99 <<<"$best"
		result=$(awk -v n="$CALLS" -v s="$secs" \
		    'BEGIN { printf "%.0f", n / s }')
	fi
}

# Appends the rows of one measurement: $1 names the transport and depth,
# the echo reference in ref_* and the calls in result, p50 and p99.
calls_rows() {
	calls_metrics+=("calls/s $1" "p50 us $1" "p99 us $1")
	calls_echo+=("$ref_rate" "$ref_p50" "$ref_p99")
	calls_alk+=("$result" "$p50" "$p99")
	echo "  $1: $result calls/s (echo $ref_rate)," \
	    "p50 $p50 us, p99 $p99 us" >&2
}

keep_ref() {
	ref_rate=$result
	ref_p50=$p50
	ref_p99=$p99
}

# The call-protocol rows: fills calls_metrics, calls_echo and calls_alk.
measure_calls() {
	local d c=${CIPHERS%% *} call=() token

	calls_metrics=()
	calls_echo=()
	calls_alk=()
	[[ $CALLS_CPU = none ]] || pin=(taskset -c "$CALLS_CPU")
	start_calls_head
	echo "calls head on 127.0.0.1:$calls_port, raw $raw_port;" \
	    "$call_op" >&2
	for d in 1 64; do
		call=("$CALLS" "$d" "$call_op" "$call_input")
		calls_measure sshcalls "$calls_port" "$work/client_key" \
		    "$c" 127.0.0.1 "$calls_echo_port" "${call[@]}"
		keep_ref
		calls_measure sshcalls "$calls_port" "$call_key" "$c" \
		    alknet-control 0 "${call[@]}"
		calls_rows "ssh-control ($d in flight)"
	done
	for d in 1 64; do
		call=("$CALLS" "$d" "$call_op" "$call_input")
		calls_measure rawcalls "$calls_echo_port" "${call[@]}"
		keep_ref
		# A token holds for five minutes: a new one for each row.
		token=$("$ALKNET" token "$call_key") ||
		    fail "$ALKNET token failed"
		calls_measure rawcalls "$raw_port" "${call[@]}" "$token"
		calls_rows "raw ($d in flight)"
	done
	pin=()
}

print_calls_table() {
	local i

	echo
	printf '%-58s %12s %12s %8s\n' "call protocol, $call_op" echo \
	    calls ratio
	for ((i = 0; i < ${#calls_metrics[@]}; i++)); do
		printf '%-58s %12s %12s %8s\n' "${calls_metrics[i]}" \
		    "${calls_echo[i]}" "${calls_alk[i]}" \
		    "$(ratio "${calls_echo[i]}" "${calls_alk[i]}")"
	done
	echo
	echo "echo: the same frames echoed back by a local server, through a"
	echo "      direct-tcpip channel of the same head (ssh-control) or"
	echo "      over plain TCP (raw); ratio: calls / echo; libssh with" \
	    "${CIPHERS%% *}"
	if [[ $CALLS_CPU = none ]]; then
		echo "      client, head and echo server not pinned"
	else
		echo "      client, head and echo server on CPU $CALLS_CPU"
	fi
}

print_setup() {
	local cpu

	echo "bytes per throughput run: $BYTES; channel cycles: $CONNS;" \
	    "socks5 cycles: $SOCKS_CONNS; calls: $CALLS;" \
	    "runs: $RUNS (best kept)"
	cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
	echo "client: $(ssh -V 2>&1); libssh $(pkg-config --modversion \
	    libssh 2>/dev/null || echo '?'); cpu: $(nproc) x $cpu"
	if [[ $SSHD_ONLY = 1 ]]; then
		echo "alknetd: skipped"
	else
		echo "alknetd: $ALKNETD"
	fi
}

# The tunnel rows, sshd against alknetd, and their table.
tunnels() {
	local c

	start_sshd
	echo "sshd on 127.0.0.1:$sshd_port" >&2
	[[ $ONLY = socks ]] || measure_all "$sshd_port" sshd_res
	measure_sshd_socks "$sshd_port"

	if [[ $SSHD_ONLY = 1 ]]; then
		for c in "${sshd_res[@]}"; do
			alk_res+=(-)
		done
	else
		start_alknetd
		echo "alknetd on 127.0.0.1:$alknetd_port" >&2
		if [[ $ONLY != socks ]]; then
			measure_all "$alknetd_port" alk_res
			channels_in_turn "$sshd_port" "$alknetd_port"
		fi
		measure_alknetd_socks "$alknetd_port"
	fi

	metrics=()
	[[ $ONLY = socks ]] || tunnel_metrics
	add_socks_rows "$sshd_port"
	print_table
}

main() {
	local c

	sshd_res=()
	alk_res=()
	calls_echo=()
	calls_alk=()
	worker_cipher=default

	command -v ssh >/dev/null || fail "no ssh client"
	[[ $ONLY = calls || -x /usr/sbin/sshd ]] || fail "no /usr/sbin/sshd"
	build_tool
	make_keys
	start_servers
	print_setup

	[[ $ONLY = calls ]] || tunnels
	if [[ $SSHD_ONLY != 1 && ( -z $ONLY || $ONLY = calls ) ]]; then
		measure_calls
		print_calls_table
	fi
	for c in "${sshd_res[@]}" "${alk_res[@]}" "${calls_echo[@]}" \
	    "${calls_alk[@]}"; do
		[[ $c != FAIL ]] || failed=1
	done
	if ((failed)); then
		echo "bench.sh: some measurements failed; see ssh.log," \
		    "worker.log and calls.log" \
		    "(BENCH_KEEP=1 keeps $work)" >&2
		exit 1
	fi
}

main
