"""Stopping the daemon: signals, the shutdown command, and crashes."""

import errno
import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from conftest import (WAIT, connection_closed, echo_through, mounted,
                      needs_fuse, parse_events, parse_kv, wait_for)

pytestmark = needs_fuse


def busy_node(harness, node):
    """Puts an SSH session with an open channel and a blocked event
    reader on node; returns (ssh process, channel socket, reader)."""
    echo = harness.echo_server()
    fwd = harness.forward(node, "-L", f"127.0.0.1:{echo.port}")
    sock = socket.create_connection(("127.0.0.1", fwd.port), timeout=WAIT)
    sock.sendall(b"hi\n")
    assert sock.recv(3) == b"hi\n"
    reader = harness.watch(node, "events")
    return fwd.proc, sock, reader


def assert_stopped_cleanly(node, ssh, sock, reader):
    assert node.wait_exit() == 0, node.log()
    assert ssh.wait(WAIT) is not None
    assert connection_closed(sock)
    sock.close()
    assert reader.wait(WAIT) == 0
    assert not mounted(node.mount)
    node.wait_log(r"^alknetd: connection closed remote_addr=127\.0\.0\.1 ")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_gracefully(harness, node, sig):
    ssh, sock, reader = busy_node(harness, node)

    node.proc.send_signal(sig)

    assert_stopped_cleanly(node, ssh, sock, reader)


def test_shutdown_command_stops_gracefully(harness, node):
    ssh, sock, reader = busy_node(harness, node)

    out = subprocess.run(["sh", "-c", 'echo shutdown > "$1"', "sh",
                          node.path("ctl")], capture_output=True, text=True,
                         timeout=WAIT)

    assert out.returncode == 0, out.stderr
    assert_stopped_cleanly(node, ssh, sock, reader)


def test_restart_after_kill_cleans_stale_mount(harness, node):
    node_id = parse_kv(node.read("node"))["id"]
    node.stop(signal.SIGKILL)

    # The kernel keeps a mount whose daemon died; using it fails.
    assert mounted(node.mount)
    with pytest.raises(OSError) as stale:
        os.stat(node.path("node"))
    assert stale.value.errno == errno.ENOTCONN

    again = harness.start_node(state=node.state, mount_dir=node.mount)

    assert parse_kv(again.read("node"))["id"] == node_id
    assert parse_kv(again.read("node"))["pid"] == str(again.pid)
    assert again.ls("sessions") == []
    echo = harness.echo_server()
    fwd = harness.forward(again, "-L", f"127.0.0.1:{echo.port}")
    assert echo_through(fwd.port, b"back\n") == b"back\n"


def scan_host_key(node):
    """The host key blob a client is shown, fetched with ssh-keyscan."""
    out = subprocess.run(["ssh-keyscan", "-t", "ed25519", "-p",
                          str(node.port), "127.0.0.1"],
                         capture_output=True, text=True, timeout=WAIT)
    lines = [line for line in out.stdout.splitlines()
             if not line.startswith("#")]
    assert len(lines) == 1, out
    return lines[0].split()[2]


def fingerprint_of(blob, tmp_dir):
    path = tmp_dir / "scanned.pub"
    path.write_text(f"ssh-ed25519 {blob}\n")
    out = subprocess.run(["ssh-keygen", "-lf", str(path)], check=True,
                         capture_output=True, text=True)
    return out.stdout.split()[1]


def test_restart_keeps_host_key(harness, node):
    node_id = parse_kv(node.read("node"))["id"]
    blob = scan_host_key(node)
    assert fingerprint_of(blob, harness.dir) == node_id
    assert node.stop() == 0

    again = harness.start_node(state=node.state, mount_dir=node.mount)

    assert scan_host_key(again) == blob
    assert parse_kv(again.read("node"))["id"] == node_id


def test_second_daemon_does_not_cover_live_mount(harness, node):
    node_id = parse_kv(node.read("node"))["id"]

    other = harness.start_node(mount_dir=node.mount, wait=False)
    wait_for(lambda: not other.running() or "ready pid=" in other.log(),
             "the second daemon to give up or start")

    assert not other.running(), "a second daemon mounted over a live one"
    assert other.wait_exit() == 1, other.log()
    assert "alknetd: error: " in other.log()
    assert node.running()
    assert parse_kv(node.read("node"))["id"] == node_id


def test_event_numbering_survives_restart(harness, node):
    harness.forward(node, "-D").stop()
    wait_for(lambda: node.ls("sessions") == [], "the session to close")
    size = os.stat(node.path("events.log")).st_size
    before = node.read("events.log")
    last_seq = parse_events(before)[-1]["seq"]
    assert node.stop() == 0

    again = harness.start_node(state=node.state, mount_dir=node.mount)
    reader = harness.watch(again, "events")
    harness.forward(again, "-D")
    wait_for(lambda: Path(reader.log_path).read_text(), "an event")

    first = parse_events(Path(reader.log_path).read_text())[0]
    assert first["seq"] > last_seq
    assert os.stat(again.path("events.log")).st_size > size

    # The earlier run's lines are still there, at the same offsets.
    with open(again.path("events.log")) as f:
        assert f.read(size) == before
