"""A worker's SOCKS, local and remote forwards, against a stock OpenSSH
sshd and against an alknetd head: the same tests pass with both."""

import os
import socket

import pytest

from conftest import (WAIT, connection_closed, echo_through, free_port,
                      listens_on)
from worker import (HeadServer, OpenSshServer, curl, forward_port,
                    socks_echo, socks_open, socks_reply, start_worker,
                    upstream_state, wait_forward_state)

PAGE = b"<html><body>through the worker</body></html>\n"


@pytest.fixture(params=["openssh", "alknetd"])
def server(request, harness):
    if request.param == "openssh":
        sshd = OpenSshServer(harness, harness.key)
        yield sshd
        sshd.stop()
    else:
        yield HeadServer(harness.start_node())


def worker_for(harness, server, *, socks=(), forwards=(),
               remote_forwards=(), **kwargs):
    # The head must allow the remote forwards before they are asked for.
    if remote_forwards:
        server.allow_listen()
    return start_worker(harness, server.uri, hostkey=server.hostkey,
                        user=server.user, socks=socks, forwards=forwards,
                        remote_forwards=remote_forwards, **kwargs)


def test_curl_through_socks_local_and_remote_forwards(harness, server):
    web = harness.http_server({"index.html": PAGE})
    rport = free_port()
    worker = worker_for(
        harness, server, socks=["127.0.0.1:0"],
        forwards=[f"127.0.0.1:0:127.0.0.1:{web.port}"],
        remote_forwards=[f"127.0.0.1:{rport}:127.0.0.1:{web.port}"])
    assert upstream_state(worker) == "up"

    proxy = f"127.0.0.1:{forward_port(worker, 'socks0')}"
    url = f"http://127.0.0.1:{web.port}/index.html"
    assert curl("--socks5", proxy, url) == PAGE
    assert curl("--socks5-hostname", proxy,
                f"http://localhost:{web.port}/index.html") == PAGE

    lport = forward_port(worker, "local0")
    assert curl(f"http://127.0.0.1:{lport}/index.html") == PAGE

    wait_forward_state(worker, "remote0", "up")
    if server.kind == "alknetd":
        assert listens_on(server.node.pid, rport)
    assert curl(f"http://127.0.0.1:{rport}/index.html") == PAGE

    assert int(worker.value("forwards", "socks0", "connections_total")) == 2
    assert int(worker.value("forwards", "local0", "connections_total")) == 1


@pytest.mark.parametrize("path", ["socks", "local", "remote"])
def test_megabyte_round_trips_exactly(harness, server, path):
    echo = harness.echo_server()
    data = os.urandom(1 << 20)
    if path == "socks":
        worker = worker_for(harness, server, socks=["127.0.0.1:0"])
        reply = socks_echo(forward_port(worker, "socks0"), echo.port, data)
    elif path == "local":
        worker = worker_for(harness, server,
                            forwards=[f"0:127.0.0.1:{echo.port}"])
        reply = echo_through(forward_port(worker, "local0"), data)
    else:
        rport = free_port()
        worker = worker_for(
            harness, server,
            remote_forwards=[f"{rport}:127.0.0.1:{echo.port}"])
        wait_forward_state(worker, "remote0", "up")
        reply = echo_through(rport, data)
    assert len(reply) == len(data)
    assert reply == data


def test_pinned_host_key_must_match(harness, server):
    echo = harness.echo_server()
    wrong = "SHA256:" + "A" * 43
    worker = start_worker(harness, server.uri, hostkey=wrong,
                          user=server.user, socks=["127.0.0.1:0"],
                          forwards=[f"0:127.0.0.1:{echo.port}"],
                          wait_up=False)
    worker.wait_log(r'^alknetd: upstream down name=up0 '
                    r'reason="host key does not match the pin"')
    assert upstream_state(worker) != "up"
    assert "upstream up" not in worker.log()

    # With nowhere to go, SOCKS answers "general failure" and the local
    # forward closes its connection at once.
    sock, reply = socks_open(forward_port(worker, "socks0"), "127.0.0.1",
                             echo.port)
    with sock:
        assert reply == socks_reply(1)
        assert connection_closed(sock)
    with socket.create_connection(
            ("127.0.0.1", forward_port(worker, "local0")),
            timeout=WAIT) as sock:
        assert connection_closed(sock)

    if server.kind == "alknetd":
        assert "auth attempt" not in server.node.log()


def test_upstream_session_is_listed_on_the_worker(harness, server):
    worker = worker_for(harness, server)
    session = worker.value("upstreams", "up0", "session")
    assert worker.ls("sessions") == [session]
    assert worker.value("sessions", session, "direction") == "out"
    assert worker.value("upstreams", "up0", "uri") == server.uri
    assert worker.value("upstreams", "up0", "hostkey") == server.hostkey
    assert worker.value("upstreams", "up0", "reconnects") == "0"
    rtt = int(worker.value("upstreams", "up0", "rtt_ms"))
    assert rtt >= 0
