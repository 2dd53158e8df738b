"""direct-tcpip channels through alknetd, driven by OpenSSH, curl and nc."""

import os
import socket
import subprocess

import pytest

from conftest import (WAIT, connection_closed, echo_through, ipv6_available,
                      recv_all, sha256, wait_for)

PAGE = b"<html><body>alknet integration page</body></html>\n"


def curl(*args):
    out = subprocess.run(["curl", "-sS", "--fail", "--max-time", str(WAIT),
                          *args], capture_output=True, timeout=WAIT + 10)
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    return out.stdout


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_socks_proxy_fetches_page(harness, plain_node, host):
    web = harness.http_server({"index.html": PAGE,
                               "blob": os.urandom(300 << 10)})
    socks = harness.forward(plain_node, "-D")

    proxy = f"127.0.0.1:{socks.port}"
    url = f"http://{host}:{web.port}"
    assert curl("--socks5-hostname", proxy, f"{url}/index.html") == PAGE
    blob = (web.root / "blob").read_bytes()
    assert curl("--socks5-hostname", proxy, f"{url}/blob") == blob


def test_local_forward_fetches_page(harness, plain_node):
    web = harness.http_server({"index.html": PAGE})
    fwd = harness.forward(plain_node, "-L", f"127.0.0.1:{web.port}")

    for _ in range(3):
        assert curl(f"http://127.0.0.1:{fwd.port}/index.html") == PAGE


def test_ten_mebibytes_round_trip(harness, plain_node):
    echo = harness.echo_server()
    fwd = harness.forward(plain_node, "-L", f"127.0.0.1:{echo.port}")
    data = os.urandom(10 << 20)

    reply = echo_through(fwd.port, data)

    assert len(reply) == len(data)
    assert sha256(reply) == sha256(data)


def test_several_channels_at_once(harness, plain_node):
    echo = harness.echo_server()
    fwd = harness.forward(plain_node, "-L", f"127.0.0.1:{echo.port}")
    socks = [socket.create_connection(("127.0.0.1", fwd.port), timeout=WAIT)
             for _ in range(8)]
    try:
        for i, sock in enumerate(socks):
            sock.sendall(b"ping %d\n" % i)
        for i, sock in enumerate(socks):
            want = b"ping %d\n" % i
            got = b""
            while len(got) < len(want):
                chunk = sock.recv(64)
                assert chunk, f"channel {i} closed early"
                got += chunk
            assert got == want
    finally:
        for sock in socks:
            sock.close()


def test_half_close_still_gets_reply(harness, plain_node):
    server = harness.half_close_server()
    fwd = harness.forward(plain_node, "-L", f"127.0.0.1:{server.port}")
    data = os.urandom(200 << 10)

    # nc -N shuts down its sending side at the end of its input and keeps
    # reading: the reply only comes after the server saw that EOF.
    out = subprocess.run(["nc", "-N", "127.0.0.1", str(fwd.port)],
                         input=data, capture_output=True, timeout=WAIT * 2)

    want = f"got {len(data)} bytes sha256 {sha256(data)}\n".encode()
    assert out.stdout == want, out.stderr


def test_failed_targets_leave_session_working(harness, plain_node):
    echo = harness.echo_server()
    closed = harness.refused_port()
    fwd = harness.forward(plain_node, "-L", f"127.0.0.1:{closed}",
                          "alknet-test:80", f"127.0.0.1:{echo.port}")
    refused_port, reserved_port, echo_port = fwd.ports

    for port in (refused_port, reserved_port):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            assert connection_closed(sock)

    # Both failures were channel open failures, not opened-then-closed.
    assert fwd.log().count("open failed") == 2, fwd.log()

    assert fwd.proc.poll() is None
    assert echo_through(echo_port, b"still here\n") == b"still here\n"


def test_unresolvable_target_fails_channel_only(harness):
    if os.geteuid() != 0:
        pytest.skip("needs root for a private mount namespace")
    # The daemon runs in its own mount namespace where resolv.conf names a
    # loopback resolver, so the failed lookup never leaves the machine.
    resolv = harness.dir / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    wrapper = harness.dir / "private-resolver.sh"
    wrapper.write_text(f"mount --bind {resolv} /etc/resolv.conf || exit 1\n"
                       'exec "$@"\n')
    node = harness.start_node(mount=False,
                              prefix=["unshare", "-m", "sh", str(wrapper)])
    echo = harness.echo_server()

    fwd = harness.forward(node, "-L", "no-such-host.invalid:80",
                          f"127.0.0.1:{echo.port}")

    with socket.create_connection(("127.0.0.1", fwd.ports[0])) as sock:
        assert connection_closed(sock)
    assert "open failed" in fwd.log()
    assert echo_through(fwd.ports[1], b"resolved\n") == b"resolved\n"


def test_exec_and_shell_are_refused(harness, plain_node):
    marker = harness.dir / "ran"

    out = harness.ssh_run(plain_node, harness.key, f"touch {marker}")
    assert out.returncode != 0
    assert not marker.exists()

    out = harness.ssh_run(plain_node, harness.key, options=["-T"])
    assert out.returncode != 0

    # The refusals did not take the daemon down.
    assert plain_node.running()
    echo = harness.echo_server()
    fwd = harness.forward(plain_node, "-L", f"127.0.0.1:{echo.port}")
    assert echo_through(fwd.port, b"x" * 100) == b"x" * 100


def test_target_half_close_still_carries_client_data(harness, plain_node):
    received = []

    def greet_then_listen(conn):
        # The target closes first: it greets, shuts down its sending side,
        # then reads what the client still has to say.
        conn.sendall(b"hello, send me the rest\n")
        conn.shutdown(socket.SHUT_WR)
        received.append(recv_all(conn))

    server = harness.serve(greet_then_listen)
    fwd = harness.forward(plain_node, "-L", f"127.0.0.1:{server.port}")

    with socket.create_connection(("127.0.0.1", fwd.port),
                                  timeout=WAIT) as sock:
        # The greeting ends with EOF while our side is still open.
        assert recv_all(sock) == b"hello, send me the rest\n"
        sock.sendall(b"late data\n" * 100)
        sock.shutdown(socket.SHUT_WR)
        wait_for(lambda: received, "the server to read to EOF")
    assert received == [b"late data\n" * 100]


@pytest.mark.skipif(not ipv6_available(), reason="no IPv6 loopback")
def test_ipv6_listener_and_target(harness):
    node = harness.start_node(mount=False, args=["--listen", "[::1]:0"])
    match = node.wait_log(r"^alknetd: listener added name=\S+ "
                          r"uri=tcp://\[::1\]:(\d+)\b")
    echo = harness.echo_server("::1")

    fwd = harness.forward(node, "-L", f"[::1]:{echo.port}",
                          port=int(match.group(1)), host="::1")

    assert echo_through(fwd.port, b"six\n") == b"six\n"
    node.wait_log(r"^alknetd: connection opened remote_addr=::1 ")
