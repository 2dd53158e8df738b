"""IPv6 through the worker: literal addresses, a SOCKS listener on ::1,
and names with both an AAAA and an A record."""

import os
import socket
import subprocess

import pytest

from conftest import ipv6_available, needs_fuse
from worker import (SOCKS_OK, curl, exchange, forward_port, http6_server,
                    socks_open, start_worker)

pytestmark = [
    needs_fuse,
    pytest.mark.skipif(not ipv6_available(), reason="no IPv6 on ::1"),
]

PAGE = b"served over IPv6\n"
DUAL_NAME = "dual-stack.test"


def worker_through(harness, head, socks="127.0.0.1:0"):
    return start_worker(harness, f"tcp://127.0.0.1:{head.port}",
                        socks=[socks])


def test_socks_to_ipv6_only_server(harness):
    web6 = http6_server(harness, {"index.html": PAGE})
    head = harness.start_node(mount=False)
    worker = worker_through(harness, head)
    port = forward_port(worker, "socks0")
    url = f"http://[::1]:{web6.port}/index.html"

    assert curl("-x", f"socks5h://127.0.0.1:{port}", url) == PAGE
    assert curl("-x", f"socks5://127.0.0.1:{port}", url) == PAGE

    # An IPv6 address in the request itself (ATYP 4).
    echo6 = harness.echo_server("::1")
    sock, reply = socks_open(port, "::1", echo6.port)
    with sock:
        assert reply == SOCKS_OK
        data = os.urandom(1000)
        assert exchange(sock, data) == data


def test_socks_listener_on_ipv6(harness):
    web = harness.http_server({"index.html": PAGE})
    head = harness.start_node(mount=False)
    worker = worker_through(harness, head, socks="[::1]:0")
    assert worker.value("forwards", "socks0", "listen").startswith("[::1]:")
    port = forward_port(worker, "socks0")
    assert curl("-x", f"socks5h://[::1]:{port}",
                f"http://127.0.0.1:{web.port}/index.html") == PAGE
    # Bound to ::1 only.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def resolves_both(name):
    try:
        infos = socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return False
    families = {info[0] for info in infos}
    return {socket.AF_INET, socket.AF_INET6} <= families


def private_hosts_prefix(harness):
    """A command that runs the head with its own /etc/hosts, in which
    DUAL_NAME has both addresses, or None where that cannot be done."""
    hosts = harness.dir / "hosts"
    hosts.write_text(f"::1 {DUAL_NAME}\n127.0.0.1 {DUAL_NAME}\n")
    prefix = ["unshare", "-m", "sh", "-c",
              'mount --bind "$0" /etc/hosts && exec "$@"', str(hosts)]
    probe = subprocess.run([*prefix, "getent", "ahostsv6", DUAL_NAME],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return None
    probe = subprocess.run([*prefix, "getent", "ahosts", DUAL_NAME],
                           capture_output=True, text=True)
    if "::1" not in probe.stdout or "127.0.0.1" not in probe.stdout:
        return None
    return prefix


@pytest.fixture
def dual_name_head(harness):
    """A head on which a name resolves to ::1 and 127.0.0.1: localhost
    where the system says so, else a name in a private /etc/hosts."""
    if resolves_both("localhost"):
        return "localhost", harness.start_node(mount=False)
    prefix = private_hosts_prefix(harness)
    if prefix is None:
        pytest.skip("localhost has no AAAA and A here, and no private "
                    "/etc/hosts can be mounted")
    return DUAL_NAME, harness.start_node(mount=False, prefix=prefix)


@pytest.mark.parametrize("listening", ["ipv4", "ipv6"])
def test_name_with_both_addresses(harness, dual_name_head, listening):
    """Only one family listens: the other address refuses and the next
    one is tried."""
    name, head = dual_name_head
    if listening == "ipv4":
        web = harness.http_server({"index.html": PAGE})
    else:
        web = http6_server(harness, {"index.html": PAGE})
    worker = worker_through(harness, head)
    port = forward_port(worker, "socks0")
    assert curl("--socks5-hostname", f"127.0.0.1:{port}",
                f"http://{name}:{web.port}/index.html") == PAGE
