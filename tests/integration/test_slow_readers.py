"""Flow control with a slow reader at the end of a tunnel: a fast sender
on one side, a reader that takes its time on the other.  Every byte
arrives, in order; the sender is held back, the channel is never
dropped, and the daemons let go of what they buffered afterwards."""

import hashlib
import os
import re
import socket
import threading
import time

from conftest import WAIT, needs_fuse, recv_all, sha256, wait_for
from worker import (SOCKS_OK, exchange, forward_port, recv_exact,
                    socks_request, start_worker)

pytestmark = needs_fuse

SIZE = 16 << 20
# The reader takes 32 KiB every 5 ms, at most some 6 MiB/s: slower than
# either daemon can send.
READ_SIZE = 32 << 10
READ_PAUSE = 0.005
# A small receive buffer, so that the kernel does not soak up the
# difference.
RCVBUF = 16 << 10


class SlowRead:
    """What a slow reader got: its length and digest."""

    def __init__(self):
        self.size = 0
        self.digest = hashlib.sha256()
        self.done = threading.Event()

    def read(self, sock):
        sock.settimeout(120)
        try:
            while True:
                chunk = sock.recv(READ_SIZE)
                if not chunk:
                    break
                self.size += len(chunk)
                self.digest.update(chunk)
                time.sleep(READ_PAUSE)
        except (ConnectionResetError, socket.timeout):
            pass
        self.done.set()


def slow_connect(port):
    """A connection to 127.0.0.1:port with a small receive buffer."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    sock.settimeout(WAIT)
    sock.connect(("127.0.0.1", port))
    return sock


def socks_connect(sock, port):
    """Asks the SOCKS5 proxy sock is connected to for 127.0.0.1:port."""
    sock.sendall(b"\x05\x01\x00")
    assert recv_exact(sock, 2) == b"\x05\x00"
    sock.sendall(socks_request("127.0.0.1", port))
    assert recv_exact(sock, 10) == SOCKS_OK


def test_socks_download_to_slow_client(harness):
    data = os.urandom(SIZE)

    def send_all(conn):
        conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
        recv_all(conn)

    source = harness.serve(send_all)
    head = harness.start_node(mount=False)
    worker = start_worker(harness, f"tcp://127.0.0.1:{head.port}",
                          socks=["127.0.0.1:0"])
    port = forward_port(worker, "socks0")

    got = SlowRead()
    with slow_connect(port) as sock:
        socks_connect(sock, source.port)
        got.read(sock)

    assert got.size == SIZE
    assert got.digest.hexdigest() == sha256(data)
    wait_for(lambda: worker.value("forwards", "socks0", "connections")
             == "0", "the SOCKS connection to end")


def test_forward_upload_to_slow_target(harness, node):
    got = SlowRead()

    def read_slowly(conn):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        got.read(conn)

    target = harness.serve(read_slowly)
    fwd = harness.forward(node, "-L", f"127.0.0.1:{target.port}")
    data = os.urandom(SIZE)

    with socket.create_connection(("127.0.0.1", fwd.port),
                                  timeout=WAIT) as sock:
        sock.settimeout(120)
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        assert got.done.wait(120), "the target to read everything"
        assert recv_all(sock) == b""

    assert got.size == SIZE
    assert got.digest.hexdigest() == sha256(data)
    wait_for(lambda: node.ls("channels") == [], "channels/ to empty")


STALLED = 250


def test_stalled_targets_do_not_cut_a_flowing_one(harness, node):
    """Targets that never read make the head hold more than its backlog
    limit: the ones that took nothing for longest are closed, and say
    so in the log; a flow whose target keeps up, on another session,
    is never among them."""
    never = socket.create_server(("127.0.0.1", 0), backlog=STALLED)
    never.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    harness.reserved.append(never)
    held = []
    threading.Thread(target=lambda: held.extend(
        never.accept()[0] for _ in range(STALLED)), daemon=True).start()

    fwd = harness.forward(node, "-L", f"127.0.0.1:{never.getsockname()[1]}")
    clients = []
    for _ in range(STALLED):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, RCVBUF)
        sock.connect(("127.0.0.1", fwd.port))
        sock.setblocking(False)
        clients.append(sock)

    # Fill every stalled channel until the head has had to close some.
    chunk = bytes(64 << 10)
    deadline = time.monotonic() + 120
    while "reason=\"node backlog\"" not in node.log():
        assert time.monotonic() < deadline, "the head to shed a channel"
        sent = 0
        for sock in clients:
            try:
                sent += sock.send(chunk)
            except (BlockingIOError, OSError):
                pass
        if sent == 0:
            time.sleep(0.05)

    # A flow on another session, through a worker, to an echo server.
    echo = harness.echo_server()
    worker = start_worker(harness, f"tcp://127.0.0.1:{node.port}",
                          socks=["127.0.0.1:0"])
    data = os.urandom(SIZE)
    with socket.create_connection(
            ("127.0.0.1", forward_port(worker, "socks0")),
            timeout=WAIT) as sock:
        socks_connect(sock, echo.port)
        assert sha256(exchange(sock, data)) == sha256(data)

    shed = re.findall(r"^alknetd: channel closed channel=\d+ session=(\d+) "
                      r"reason=\"node backlog\" backlog=\d+$",
                      node.log(), re.M)
    assert set(shed) == {node.ls("sessions")[0]}
    assert fwd.proc.poll() is None
    for sock in clients:
        sock.close()
