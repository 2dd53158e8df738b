"""What one peer of the call protocol cannot do to a node: keep
subscriptions after it left, hold every call, take a worker's name, leave
its registration behind, or hold memory before it proved who it is."""

import os
import select
import socket
import struct
import time

from conftest import WAIT, wait_for
from test_calls import add_identity
from test_raw import Raw, login, node, request  # noqa: F401


def sockets(pid):
    fd_dir = f"/proc/{pid}/fd"
    n = 0
    for f in os.listdir(fd_dir):
        try:
            n += os.readlink(f"{fd_dir}/{f}").startswith("socket:")
        except FileNotFoundError:
            pass    # closed meanwhile
    return n


def call_status(node, call_id):
    return node.read("flowgraph", "calls", call_id, "status").strip()


def conn_of(answer_id, node, op):
    """The call id the node gave the last call of op with request id
    answer_id (call ids name the connection: conn<N>:<id>)."""
    calls = [c for c in os.listdir(node.path("flowgraph", "calls"))
             if c.endswith(":" + answer_id) and
             node.read("flowgraph", "calls", c, "op").strip() == op]
    assert calls, f"no call {answer_id} of {op}"
    return sorted(calls, key=lambda c: int(c[4:c.index(":")]))[-1]


def test_a_peer_that_leaves_ends_its_subscriptions(harness, node):
    reader = harness.make_key()
    add_identity(node, "reader", reader, "node:read")
    before = sockets(node.pid)

    c = login(node, reader)
    c.sock.sendall(request("s1", "/events/subscribe", {"types": ["x."]}))
    wait_for(lambda: any(n.endswith(":s1") for n in
                         os.listdir(node.path("flowgraph", "calls"))),
             "the subscription to start")
    call_id = conn_of("s1", node, "/events/subscribe")
    assert call_status(node, call_id) == "pending"

    # EOF: the peer can no longer give it up, so the node does.
    c.sock.shutdown(socket.SHUT_WR)
    answer = c.answer()
    assert answer["type"] == "call.error"
    assert answer["payload"]["code"] == "ABORTED"
    assert c.answer() is None
    c.close()
    assert call_status(node, call_id) == "aborted"
    wait_for(lambda: sockets(node.pid) <= before,
             "the connection's socket to close")


def test_one_peer_cannot_hold_every_call(harness, node):
    reader = harness.make_key()
    add_identity(node, "reader", reader, "node:read")
    c = login(node, reader)
    subs = b"".join(request(f"s{i}", "/events/subscribe", {"types": ["x."]})
                    for i in range(300))
    c.sock.sendall(subs)
    refused = []
    for _ in range(300 - 256):
        answer = c.answer()
        assert answer["type"] == "call.error", answer
        assert answer["payload"]["message"] == "too many calls"
        assert answer["payload"]["retryable"] is True
        refused.append(answer["id"])
    assert refused == [f"s{i}" for i in range(256, 300)]

    # The node still answers others, root through the mount included.
    other = login(node, reader)
    assert other.call("1", "/node/info")["type"] == "call.responded"
    other.close()
    assert node.read("node")
    c.close()


def test_a_registration_goes_with_its_raw_connection(harness, node):
    worker = harness.make_key()
    add_identity(node, "worker", worker, "relay:connect")
    c = login(node, worker)
    answer = c.call("r", "/head/services/register",
                    {"node": "x", "operations": [
                        {"name": "/node/info", "op_type": "query"}]})
    assert answer["payload"]["output"] == {"node": "x", "registered": 1}
    assert os.listdir(node.path("peers")) == ["x"]
    assert node.read("peers", "x", "session").strip() == "0"
    c.close()

    node.wait_log(r"^alknetd: peer removed node=x$")
    assert os.listdir(node.path("peers")) == []
    assert not os.path.exists(node.path("ops", "x"))


def test_another_identity_cannot_take_a_workers_name(harness, node):
    first, second = harness.make_key(), harness.make_key()
    add_identity(node, "first", first, "relay:connect")
    add_identity(node, "second", second, "relay:connect")
    offer = {"node": "w1", "operations": [{"name": "/node/info",
                                           "op_type": "query"}]}
    a = login(node, first)
    assert a.call("r", "/head/services/register",
                  offer)["type"] == "call.responded"

    b = login(node, second)
    answer = b.call("r", "/head/services/register", offer)
    assert answer["payload"]["code"] == "FORBIDDEN"
    assert "another identity" in answer["payload"]["message"]
    assert node.read("peers", "w1", "id").strip() == first.fingerprint

    # The same identity may register again (an upstream that came
    # back), from another connection.
    again = login(node, first)
    assert again.call("r", "/head/services/register",
                      offer)["type"] == "call.responded"
    for conn in (a, b, again):
        conn.close()


def test_an_unproven_peer_gets_one_small_frame(harness, node):
    c = Raw(node.raw_port)
    # A first frame that announces a megabyte is refused at its header.
    c.sock.sendall(struct.pack(">I", 1 << 20) + b"{")
    assert c.answer() is None
    c.close()

    # One that sends nothing is let go after a few seconds.
    idle = Raw(node.raw_port)
    idle.sock.settimeout(WAIT)
    start = time.monotonic()
    assert idle.sock.recv(1) == b""
    assert time.monotonic() - start < WAIT
    idle.close()
    node.wait_log(r"^alknetd: raw auth timed out remote_addr=127\.0\.0\.1 "
                  r"conn=conn\d+$")

    # A bad token is logged, without the token.
    bad = Raw(node.raw_port)
    bad.sock.sendall(request("a", "/auth/token", {"token": "x" * 139}))
    assert bad.answer()["payload"]["code"] == "FORBIDDEN"
    bad.close()
    node.wait_log(r"^alknetd: raw auth rejected remote_addr=127\.0\.0\.1 "
                  r"conn=conn\d+$")
    assert "x" * 20 not in node.log()

    # The listener still serves a peer that proves itself.
    good = login(node, harness.key)
    assert good.call("1", "/services/list", {})["type"] == "call.responded"
    good.close()


def test_a_reader_too_slow_loses_its_subscription_not_memory(harness,
                                                              node):
    fd = os.open(node.path("ops", "events", "subscribe", "call"),
                 os.O_RDWR)
    try:
        os.write(fd, b'{"types": ["policy."]}')
        admin = harness.make_key()
        add_identity(node, "admin", admin, "node:admin")
        c = login(node, admin)
        # Each change of the rules is an event of about 115 bytes: well
        # over a megabyte of them, unread.
        for start in range(0, 14000, 200):
            c.sock.sendall(b"".join(
                request(str(i), "/acl/listen/set",
                        {"rules": f"allow 127.0.0.1:{20000 + i % 2}\n"})
                for i in range(start, start + 200)))
            for _ in range(200):
                assert c.answer()["type"] == "call.responded"
        c.close()

        data = b""
        while True:
            ready, _, _ = select.select([fd], [], [], WAIT)
            assert ready, "the stream neither went on nor ended"
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            data += chunk
        lines = data.decode().splitlines()
        assert 1 << 20 <= len(data) < 2 << 20
        assert lines[-1] == ('{"error":{"code":"ABORTED","message":'
                             '"reader too slow","retryable":false}}')
        assert all('"policy.changed"' in line for line in lines[:-1])
    finally:
        os.close(fd)



def test_a_registration_is_checked(harness, node):
    worker = harness.make_key()
    add_identity(node, "worker", worker, "relay:connect")
    c = login(node, worker)
    answer = c.call("r", "/head/services/register",
                    {"node": "x", "operations": [
                        {"name": "/node/info", "op_type": "weird"}]})
    assert answer["payload"]["code"] == "INVALID_INPUT"
    assert "op_type" in answer["payload"]["message"]
    assert os.listdir(node.path("peers")) == []

    # A name given twice is one operation.
    info = {"name": "/node/info", "op_type": "query"}
    answer = c.call("r2", "/head/services/register",
                    {"node": "x", "operations": [info, info]})
    assert answer["payload"]["output"] == {"node": "x", "registered": 1}
    assert node.read("peers", "x", "operations") == "/node/info\n"
    c.close()


def test_raw_connections_share_the_ssh_limits(harness):
    node = harness.start_node(
        mount=False, penalty_exempt=None,
        args=["--listen-raw", "127.0.0.1:0", "--max-connections-per-ip", "2",
              "--penalties", "authfail:10 noauth:1 min:10 max:30"])
    port = int(node.wait_log(r"^alknetd: raw listener added "
                             r"uri=tcp://127\.0\.0\.1:(\d+)$").group(1))
    before = sockets(node.pid)

    # Two connections from one address, and a third refused at once.
    held = [Raw(port), Raw(port)]
    wait_for(lambda: sockets(node.pid) == before + 2, "two connections")
    third = Raw(port)
    assert third.answer() is None
    third.close()
    node.wait_log(r"^alknetd: connection rejected remote_addr=127\.0\.0\.1 "
                  r"transport=raw reason=too-many-per-ip$")
    for c in held:
        c.close()
    wait_for(lambda: sockets(node.pid) == before, "the connections to go")

    # A token of nobody's costs the source enough to be refused.
    bad = Raw(port)
    bad.sock.sendall(request("a", "/auth/token", {"token": "x" * 139}))
    assert bad.answer()["payload"]["code"] == "FORBIDDEN"
    bad.close()
    node.wait_log(r"^alknetd: penalty enforced remote_addr=127\.0\.0\.1 "
                  r"reason=authfail$")
    refused = Raw(port)
    assert refused.answer() is None
    refused.close()
    node.wait_log(r"^alknetd: connection rejected remote_addr=127\.0\.0\.1 "
                  r"transport=raw reason=penalty$")


def test_an_open_call_id_cannot_be_reused(harness, node):
    reader = harness.make_key()
    add_identity(node, "reader", reader, "node:read")
    c = login(node, reader)
    c.sock.sendall(request("s1", "/events/subscribe", {"types": ["x."]}))
    wait_for(lambda: any(n.endswith(":s1") for n in
                         os.listdir(node.path("flowgraph", "calls"))),
             "the subscription to start")

    # Two answers under one id could not be told apart: the connection
    # is closed, as for a malformed frame, and its calls end with it.
    c.sock.sendall(request("s1", "/node/info"))
    assert c.answer() is None
    c.close()
    node.wait_log(r"^alknetd: call id reused identity=SHA256:\S+ id=s1$")
    wait_for(lambda: call_status(node, conn_of("s1", node,
                                               "/events/subscribe"))
             == "aborted", "the subscription to end")

    # A finished call's id may be used again.
    c = login(node, reader)
    for _ in range(2):
        assert c.call("i1", "/node/info")["type"] == "call.responded"
    c.close()
