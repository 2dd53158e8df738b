"""The worker's SOCKS5 listener against odd and hostile clients, spoken
byte by byte from Python.  Every client gets the RFC 1928 answer or a
prompt close, never a hang, and the listener serves normally after."""

import os
import socket
import struct
import threading
import time

import pytest

from conftest import WAIT, connection_closed, needs_fuse, recv_all, wait_for
from worker import (SOCKS_OK, curl, exchange, forward_port, recv_exact,
                    socks_open, socks_reply, socks_request, start_worker)

pytestmark = needs_fuse

PAGE = b"socks still serving\n"

# The daemon gives a client 10 s from connecting to a complete request.
HANDSHAKE_TIMEOUT = 10

GREETING = b"220 target speaks first\r\n"


class Proxy:
    def __init__(self, harness):
        self.head = harness.start_node(mount=False)
        self.worker = start_worker(harness,
                                   f"tcp://127.0.0.1:{self.head.port}",
                                   socks=["127.0.0.1:0"])
        self.port = forward_port(self.worker, "socks0")
        self.web = harness.http_server({"index.html": PAGE})
        self.echo = harness.echo_server()

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.port),
                                        timeout=WAIT)

    def greeted(self):
        """A connection past the method negotiation."""
        sock = self.connect()
        sock.sendall(b"\x05\x01\x00")
        assert recv_exact(sock, 2) == b"\x05\x00"
        return sock

    def still_serves(self):
        url = f"http://127.0.0.1:{self.web.port}/index.html"
        assert curl("--socks5-hostname", f"127.0.0.1:{self.port}",
                    url) == PAGE
        wait_for(lambda: self.worker.value(
            "forwards", "socks0", "connections") == "0",
            "no SOCKS connection left open")


@pytest.fixture
def proxy(harness):
    return Proxy(harness)


def test_no_acceptable_method(proxy):
    with proxy.connect() as sock:
        # Username/password and GSSAPI only: neither is offered.
        sock.sendall(b"\x05\x02\x01\x02")
        assert recv_exact(sock, 3) == b"\x05\xff"
        assert connection_closed(sock)
    proxy.still_serves()


def test_not_socks5_is_closed(proxy):
    with proxy.connect() as sock:
        # A SOCKS4 CONNECT.
        sock.sendall(b"\x04\x01" + struct.pack(">H", proxy.echo.port)
                     + b"\x7f\x00\x00\x01user\x00")
        assert connection_closed(sock)
    proxy.still_serves()


@pytest.mark.parametrize("cmd, name", [(2, "bind"), (3, "udp-associate")])
def test_other_commands_not_supported(proxy, cmd, name):
    with proxy.greeted() as sock:
        sock.sendall(socks_request("127.0.0.1", proxy.echo.port, cmd=cmd))
        assert recv_exact(sock, 11) == socks_reply(7)
        assert connection_closed(sock)
    assert proxy.echo.accepted == 0
    proxy.still_serves()


def test_unknown_address_type(proxy):
    with proxy.greeted() as sock:
        sock.sendall(b"\x05\x01\x00\x05" + b"\x7f\x00\x00\x01"
                     + struct.pack(">H", proxy.echo.port))
        assert recv_exact(sock, 11) == socks_reply(8)
        assert connection_closed(sock)
    assert proxy.echo.accepted == 0
    proxy.still_serves()


def test_zero_length_domain(proxy):
    with proxy.greeted() as sock:
        sock.sendall(b"\x05\x01\x00\x03\x00"
                     + struct.pack(">H", proxy.echo.port))
        reply = recv_exact(sock, 11)
        assert len(reply) == 10 and reply[:1] == b"\x05"
        assert reply[1] != 0, "an empty name was connected"
        assert connection_closed(sock)
    proxy.still_serves()


def test_longest_domain(proxy):
    # 255 bytes, the most a request can carry; a single label that long
    # is not a valid DNS name, so nothing is asked of a resolver.
    name = "a" * 255
    with proxy.greeted() as sock:
        sock.sendall(socks_request(name, proxy.echo.port))
        reply = recv_exact(sock, 11)
        assert len(reply) == 10 and reply[:1] == b"\x05"
        assert reply[1] != 0
        assert connection_closed(sock)
    proxy.still_serves()


def test_port_zero(proxy):
    with proxy.greeted() as sock:
        sock.sendall(socks_request("127.0.0.1", 0))
        reply = recv_exact(sock, 11)
        assert len(reply) == 10 and reply[1] != 0
        assert connection_closed(sock)
    proxy.still_serves()


def test_refused_target_gets_connection_refused(proxy, harness):
    port = harness.refused_port()
    sock, reply = socks_open(proxy.port, "127.0.0.1", port)
    with sock:
        assert reply == socks_reply(5)
        assert connection_closed(sock)
    proxy.still_serves()


def test_stalled_clients_are_closed(proxy):
    """One client stops inside its greeting, one inside its request; both
    are let go after the handshake timeout (waited for with a generous
    margin: this checks that they end, not how fast)."""
    bound = HANDSHAKE_TIMEOUT + WAIT
    mid_greeting = proxy.connect()
    mid_greeting.sendall(b"\x05")
    mid_request = proxy.greeted()
    mid_request.sendall(socks_request("127.0.0.1", proxy.echo.port)[:5])
    results = {}

    def outcome(name, sock):
        sock.settimeout(bound)
        data = b""
        try:
            while True:
                chunk = sock.recv(64)
                if not chunk:
                    results[name] = ("closed", data)
                    return
                data += chunk
        except ConnectionResetError:
            results[name] = ("closed", data)
        except socket.timeout:
            results[name] = ("still open", data)

    threads = [threading.Thread(target=outcome, args=item)
               for item in (("greeting", mid_greeting),
                            ("request", mid_request))]
    for t in threads:
        t.start()
    # Meanwhile the listener serves others.
    proxy.still_serves()
    for t in threads:
        t.join(bound + WAIT)
    mid_greeting.close()
    mid_request.close()

    assert results["greeting"] == ("closed", b"")
    state, data = results["request"]
    assert state == "closed"
    # A client that chose a method may be told why: then in full.
    assert data in (b"", socks_reply(1))
    assert proxy.echo.accepted == 0
    proxy.still_serves()


def test_one_byte_writes(proxy):
    data = os.urandom(300)
    message = (b"\x05\x01\x00" + socks_request("127.0.0.1", proxy.echo.port))
    with proxy.connect() as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        received = b""
        for i, byte in enumerate(message):
            sock.sendall(bytes([byte]))
            time.sleep(0.01)
            if i == 2:
                received = recv_exact(sock, 2)
                assert received == b"\x05\x00"
        assert recv_exact(sock, 10) == SOCKS_OK
        for i in range(0, 30):
            sock.sendall(data[i:i + 1])
            time.sleep(0.01)
        assert exchange(sock, data[30:]) == data
    proxy.still_serves()


def test_request_and_data_in_one_write(proxy):
    """A client that does not wait for the answers: greeting, request and
    payload arrive together, and nothing of the payload is lost."""
    data = os.urandom(4000)
    with proxy.connect() as sock:
        sock.sendall(b"\x05\x01\x00"
                     + socks_request("127.0.0.1", proxy.echo.port) + data)
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(WAIT)
        assert recv_exact(sock, 2) == b"\x05\x00"
        assert recv_exact(sock, 10) == SOCKS_OK
        assert recv_exact(sock, len(data) + 1) == data
    proxy.still_serves()



def greet_and_close(conn):
    conn.sendall(GREETING)


def greet_and_wait(conn):
    conn.sendall(GREETING)
    conn.recv(1)


@pytest.mark.parametrize("then", ["closes", "waits"])
def test_target_that_speaks_first(proxy, harness, then):
    """What a target sends before its client says anything (as SSH, SMTP
    or FTP servers do) reaches the client, also when it comes right
    behind the open confirmation, and with the target's close."""
    server = harness.serve(
        greet_and_close if then == "closes" else greet_and_wait)
    for _ in range(100):
        sock, reply = socks_open(proxy.port, "127.0.0.1", server.port)
        with sock:
            assert reply == SOCKS_OK
            sock.settimeout(5)
            if then == "closes":
                assert recv_all(sock) == GREETING
            else:
                assert recv_exact(sock, len(GREETING)) == GREETING
    proxy.still_serves()
