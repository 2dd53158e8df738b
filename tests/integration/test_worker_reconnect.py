"""A worker whose head is killed and started again on the same port."""

import re
import signal
import socket

from conftest import (WAIT, connection_closed, echo_through, free_port,
                      listens_on, needs_fuse, parse_events, wait_for)
from worker import (HeadServer, count_lines, forward_field, forward_port,
                    socks_echo, socks_open, socks_reply, start_worker,
                    wait_forward_state, wait_upstream_state)

pytestmark = needs_fuse

DOWN = re.compile(r'^alknetd: upstream down name=up0 reason="([^"]*)" '
                  r'retry_ms=(\d+)', re.M)
UP = r"^alknetd: upstream up name=up0 session=\d+"
LISTEN_RULES = "allow 127.0.0.1:*"


def retries(worker):
    """The retry_ms of every "upstream down" line so far."""
    return [int(m.group(2)) for m in DOWN.finditer(worker.log())]


def assert_backoff(values, seconds):
    """Each wait is the step's seconds plus at most 10 % of jitter."""
    assert len(values) == len(seconds), values
    for ms, s in zip(values, seconds):
        assert s * 1000 <= ms <= s * 1100, f"{values} against {seconds} s"


def kill_head(head):
    head.proc.send_signal(signal.SIGKILL)
    head.proc.wait(WAIT)


def restart_head(harness, head, port):
    """Starts a new head with the old one's state on the same port, and
    lets it hold remote forwards.  Its rules are not kept across
    restarts, so they are written again; a worker that got in before
    that is sent away to ask again."""
    new = harness.start_node(state=head.state, listen=f"127.0.0.1:{port}")
    early = new.ls("sessions")
    HeadServer(new).allow_listen(LISTEN_RULES)
    for sid in early:
        new.ctl("close", "sessions", sid, "ctl")
    return new


def assert_tunnels_work(worker, echo, rport):
    data = b"through the worker again\n" * 100
    assert socks_echo(forward_port(worker, "socks0"), echo.port, data) == data
    assert echo_through(forward_port(worker, "local0"), data) == data
    assert echo_through(rport, data) == data


def test_head_restart(harness):
    port = free_port()
    head = harness.start_node(listen=f"127.0.0.1:{port}")
    HeadServer(head).allow_listen(LISTEN_RULES)
    echo = harness.echo_server()
    rport = free_port()
    worker = start_worker(
        harness, f"tcp://127.0.0.1:{port}",
        hostkey=HeadServer(head).hostkey, socks=["127.0.0.1:0"],
        forwards=[f"0:127.0.0.1:{echo.port}"],
        remote_forwards=[f"127.0.0.1:{rport}:127.0.0.1:{echo.port}"])
    wait_forward_state(worker, "remote0", "up")
    assert_tunnels_work(worker, echo, rport)
    socks_port = forward_port(worker, "socks0")
    local_port = forward_port(worker, "local0")
    events = harness.watch(worker, "events")

    kill_head(head)
    # Three failed attempts in a row: 1, 2 and 4 s apart.
    wait_for(lambda: len(retries(worker)) >= 3, "three retries", timeout=60)
    assert_backoff(retries(worker)[:3], [1, 2, 4])
    # Waiting 4 s for the next attempt.
    wait_upstream_state(worker, "backoff")
    assert worker.value("upstreams", "up0", "session") == "0"
    assert forward_field(worker, "remote0", "state") == "waiting"

    # Meanwhile the worker's listeners stay bound and refuse at once.
    sock, reply = socks_open(socks_port, "127.0.0.1", echo.port)
    with sock:
        assert reply == socks_reply(1)
    with socket.create_connection(("127.0.0.1", local_port),
                                  timeout=WAIT) as sock:
        assert connection_closed(sock)
    assert not listens_on(head.pid, rport)

    head = restart_head(harness, head, port)
    worker.wait_log(UP + r"(?s:.*)" + UP, timeout=60)
    wait_upstream_state(worker, "up")
    # Each wait was followed by one attempt.
    values = retries(worker)
    assert int(worker.value("upstreams", "up0", "reconnects")) == len(values)
    assert worker.value("upstreams", "up0", "session") != "0"

    # Nothing done on the worker: the same ports serve again, and the
    # remote forward is asked for again on the new head.
    wait_forward_state(worker, "remote0", "up")
    assert listens_on(head.pid, rport)
    assert forward_port(worker, "socks0") == socks_port
    assert forward_port(worker, "local0") == local_port
    assert_tunnels_work(worker, echo, rport)

    events.terminate()
    events.wait(WAIT)
    seen = [(e["type"], e.get("upstream") or e.get("forward"))
            for e in parse_events(open(events.log_path).read())
            if e["type"].startswith(("upstream.", "forward."))]
    # (More ups and downs between them if the worker got in before the
    # new head's rules were written.)
    assert seen[:2] == [("upstream.down", "up0"), ("forward.down", "remote0")]
    assert seen[-2:] == [("upstream.up", "up0"), ("forward.up", "remote0")]

    # A success starts the waits over at 1 s.
    before = len(retries(worker))
    kill_head(head)
    wait_for(lambda: len(retries(worker)) > before, "the next retry")
    assert_backoff(retries(worker)[before:before + 1], [1])


def test_head_down_at_start(harness):
    """A worker started before its head keeps trying and comes up once the
    head is there."""
    port = free_port()
    echo = harness.echo_server()
    worker = start_worker(harness, f"tcp://127.0.0.1:{port}",
                          socks=["127.0.0.1:0"], wait_up=False)
    wait_for(lambda: len(retries(worker)) >= 2, "two retries")
    assert all(m.group(1) == "cannot connect"
               for m in DOWN.finditer(worker.log()))
    assert count_lines(worker, UP) == 0
    harness.start_node(listen=f"127.0.0.1:{port}")
    worker.wait_log(UP, timeout=60)
    data = b"late head\n"
    assert socks_echo(forward_port(worker, "socks0"), echo.port, data) == data
