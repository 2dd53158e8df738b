"""A worker and an alknetd head: remote forwards under the head's
acl/listen rules, and what the head shows of them."""

import errno
import socket

from conftest import (WAIT, connection_closed, echo_through, free_port,
                      listens_on, needs_fuse, parse_events, wait_for)
from worker import (HeadServer, curl, data_channels, forward_field,
                    start_worker, wait_forward_state, write_value)

pytestmark = needs_fuse

PAGE = b"remote forward page\n"


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=WAIT).close()
    except ConnectionRefusedError:
        return True
    return False


def reup(worker, name):
    assert worker.ctl("down", "forwards", name, "ctl")[0] == 0
    assert worker.ctl("up", "forwards", name, "ctl")[0] == 0


def test_remote_forward_needs_the_heads_listen_rules(harness):
    head = HeadServer(harness.start_node())
    web = harness.http_server({"index.html": PAGE})
    rport = free_port()
    worker = start_worker(
        harness, head.uri,
        remote_forwards=[f"127.0.0.1:{rport}:127.0.0.1:{web.port}"])

    # A new head allows no listening at all.
    assert head.node.value("acl", "listen") == "default deny"
    head.node.wait_log(r"^alknetd: remote forward refused session=\d+")
    assert forward_field(worker, "remote0", "state") == "waiting"
    assert "refused" in forward_field(worker, "remote0", "error")
    assert not listens_on(head.node.pid, rport)
    assert refused(rport)
    # Waiting is not down: its fields stay fixed.
    assert write_value(worker.path("forwards", "remote0", "listen"),
                       "127.0.0.1:1") == errno.EBUSY

    # A rule for another port changes nothing.
    head.allow_listen(f"allow 127.0.0.1:{rport + 1 if rport < 65535 else 1}")
    reup(worker, "remote0")
    wait_for(lambda: head.node.log().count("remote forward refused") == 2,
             "the second refusal")
    assert forward_field(worker, "remote0", "state") == "waiting"
    assert refused(rport)

    # Once allowed, the forward comes up when it is asked for again.
    head.allow_listen(f"allow 127.0.0.1:{rport}")
    reup(worker, "remote0")
    wait_forward_state(worker, "remote0", "up")
    assert forward_field(worker, "remote0", "error") == ""
    head.node.wait_log(r"^alknetd: remote forward added session=\d+")
    assert listens_on(head.node.pid, rport)
    assert curl(f"http://127.0.0.1:{rport}/index.html") == PAGE

    # Taken down on the worker, the head stops listening.
    assert worker.ctl("down", "forwards", "remote0", "ctl")[0] == 0
    wait_for(lambda: not listens_on(head.node.pid, rport),
             "the head to stop listening")


def test_head_lists_forwarded_channel_while_open(harness):
    head = HeadServer(harness.start_node())
    echo = harness.echo_server()
    rport = free_port()
    head.allow_listen("allow *")
    worker = start_worker(
        harness, head.uri,
        remote_forwards=[f"127.0.0.1:{rport}:127.0.0.1:{echo.port}"])
    wait_forward_state(worker, "remote0", "up")
    assert data_channels(head.node) == []
    events = harness.watch(head.node, "events")

    with socket.create_connection(("127.0.0.1", rport), timeout=WAIT) as c:
        c.sendall(b"ping\n")
        assert c.recv(5) == b"ping\n"
        [cid] = data_channels(head.node)
        assert head.node.value("channels", cid, "kind") == "forwarded-tcpip"
        assert head.node.value("channels", cid, "state") == "open"
        session = head.node.value("channels", cid, "session")
        assert head.node.ls("sessions") == [session]

        # The worker sees the same channel coming in.
        [wcid] = data_channels(worker)
        assert worker.value("channels", wcid, "kind") == "forwarded-tcpip"

    wait_for(lambda: data_channels(head.node) == [],
             "the head's channel to close")
    wait_for(lambda: data_channels(worker) == [],
             "the worker's channel to close")
    events.terminate()
    events.wait(WAIT)
    seen = parse_events(open(events.log_path).read())
    opened = [e for e in seen if e["type"] == "channel.opened"]
    assert [e["kind"] for e in opened] == ["forwarded-tcpip"]
    # Events never name where a channel goes.
    assert str(echo.port) not in open(events.log_path).read()


def test_worker_counts_remote_forward_connections(harness):
    head = HeadServer(harness.start_node())
    echo = harness.echo_server()
    rport = free_port()
    head.allow_listen("allow *")
    worker = start_worker(
        harness, head.uri,
        remote_forwards=[f"127.0.0.1:{rport}:127.0.0.1:{echo.port}"])
    wait_forward_state(worker, "remote0", "up")

    with socket.create_connection(("127.0.0.1", rport), timeout=WAIT) as c:
        c.sendall(b"ping\n")
        assert c.recv(5) == b"ping\n"
        assert forward_field(worker, "remote0", "connections") == "1"
    assert echo_through(rport, b"again\n") == b"again\n"
    wait_for(lambda: forward_field(worker, "remote0", "connections") == "0",
             "connections back to 0")
    assert forward_field(worker, "remote0", "connections_total") == "2"


def test_remote_forward_target_refusing(harness):
    """A connection to the head's port whose target on the worker refuses
    is closed; the forward stays up and serves the next one."""
    head = HeadServer(harness.start_node())
    echo = harness.echo_server()
    dead = harness.refused_port()
    rdead, rlive = free_port(), free_port()
    head.allow_listen("allow 127.0.0.1:*")
    worker = start_worker(
        harness, head.uri,
        remote_forwards=[f"127.0.0.1:{rdead}:127.0.0.1:{dead}",
                         f"127.0.0.1:{rlive}:127.0.0.1:{echo.port}"])
    wait_forward_state(worker, "remote0", "up")
    wait_forward_state(worker, "remote1", "up")

    with socket.create_connection(("127.0.0.1", rdead), timeout=WAIT) as c:
        assert connection_closed(c)
    assert echo_through(rlive, b"still here\n") == b"still here\n"
    assert forward_field(worker, "remote0", "state") == "up"
    wait_for(lambda: data_channels(head.node) == [], "channels to close")
