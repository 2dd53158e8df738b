"""Nothing piles up: after a busy spell the daemon holds what it held
before."""

import os
import signal
import socket
import subprocess

import paramiko

from conftest import (WAIT, connection_closed, echo_through, needs_fuse,
                      wait_for)

pytestmark = needs_fuse


def busy_spell(harness, node):
    """One round of everything that opens and closes things."""
    key = harness.key
    echo = harness.echo_server()
    web = harness.http_server({"page": b"resources\n"})

    # Tunnels: several channels, one cut by the client mid-stream.
    fwd = harness.forward(node, "-L", f"127.0.0.1:{echo.port}",
                          f"127.0.0.1:{harness.refused_port()}")
    for _ in range(5):
        assert echo_through(fwd.ports[0], b"x" * 4096) == b"x" * 4096
    with socket.create_connection(("127.0.0.1", fwd.ports[1])) as sock:
        assert connection_closed(sock)
    cut = socket.create_connection(("127.0.0.1", fwd.ports[0]))
    cut.sendall(os.urandom(1 << 20))
    cut.close()

    # SOCKS through curl.
    socks = harness.forward(node, "-D")
    out = subprocess.run(["curl", "-sS", "--max-time", str(WAIT),
                          "--socks5-hostname", f"127.0.0.1:{socks.port}",
                          f"http://127.0.0.1:{web.port}/page"],
                         capture_output=True, timeout=WAIT + 10)
    assert out.stdout == b"resources\n", out.stderr

    # Closing a channel and a session from the namespace.  Once the
    # channels above are gone, the held one is the only one.
    wait_for(lambda: node.ls("channels") == [], "channels/ to empty")
    held = socket.create_connection(("127.0.0.1", fwd.ports[0]))
    held.sendall(b"hold\n")
    assert held.recv(5) == b"hold\n"
    [cid] = node.ls("channels")
    assert node.ctl("close", "channels", cid, "ctl")[0] == 0
    assert connection_closed(held)
    held.close()
    sid = node.ls("sessions")[0]
    assert node.ctl("close", "sessions", sid, "ctl")[0] == 0

    # Refusals: unknown key, password, exec.
    stranger = harness.make_key()
    assert harness.ssh_run(node, stranger, "true").returncode == 255
    transport = paramiko.Transport(("127.0.0.1", node.port))
    try:
        transport.start_client(timeout=WAIT)
        try:
            transport.auth_password("someone", "wrong")
        except paramiko.AuthenticationException:
            pass
    finally:
        transport.close()
    assert harness.ssh_run(node, key, "true").returncode != 0

    # A half-open TCP connection that never speaks SSH, then goes away.
    with socket.create_connection(("127.0.0.1", node.port)):
        pass

    # Event readers come and go.
    reader = harness.watch(node, "events")
    reader.send_signal(signal.SIGINT)
    reader.wait(WAIT)
    with open(node.path("events.log"), "rb") as f:
        f.read()

    # A client killed without a goodbye.
    victim = harness.forward(node, "-L", f"127.0.0.1:{echo.port}")
    assert echo_through(victim.port, b"bye\n") == b"bye\n"
    victim.proc.kill()

    for f in (fwd, socks):
        f.stop()
    wait_for(lambda: node.ls("sessions") == [], "sessions/ to empty")


def open_fds(node):
    fd_dir = f"/proc/{node.pid}/fd"
    lines = []
    for fd in sorted(os.listdir(fd_dir), key=int):
        try:
            lines.append(f"{fd} -> {os.readlink(os.path.join(fd_dir, fd))}")
        except OSError:
            pass
    return lines


def test_fds_return_to_baseline(harness, node):
    # A first round lets lazily created things (thread pool, caches)
    # exist before the baseline is taken.
    busy_spell(harness, node)
    baseline = node.fd_count()

    for _ in range(3):
        busy_spell(harness, node)

    try:
        wait_for(lambda: node.fd_count() == baseline,
                 f"fd count back to {baseline}")
    except AssertionError:
        raise AssertionError(f"{node.fd_count()} fds open, baseline "
                             f"{baseline}:\n" + "\n".join(open_fds(node)))
    assert node.ls("channels") == []
    assert node.ls("sessions") == []
