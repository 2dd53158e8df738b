"""Making a node a worker through its namespace: upstreams with
`connect`, forwards with ctl commands or mkdir, and their events."""

import errno
import os
import socket

import pytest

from conftest import (WAIT, echo_through, free_port, listens_on, needs_fuse,
                      parse_events, wait_for)
from worker import (HeadServer, curl, forward_field, forward_port,
                    socks_echo, wait_forward_state, wait_upstream_state,
                    write_value)

pytestmark = needs_fuse

PAGE = b"made in the namespace\n"


class Pair:
    """A head, and a node that is told to dial it through its ctl."""

    def __init__(self, harness):
        self.harness = harness
        self.head = harness.start_node()
        self.uri = f"tcp://127.0.0.1:{self.head.port}"
        self.node = harness.start_node()
        self.events = harness.watch(self.node, "events")

    def connect(self, name="h1", **options):
        opts = " ".join(f"{k}={v}" for k, v in options.items())
        err, reply = self.node.ctl(f"connect {self.uri} "
                                   f"identity={self.harness.key.path} "
                                   f"name={name} {opts}".rstrip())
        assert (err, reply) == (0, f"ok name={name}\n")
        wait_upstream_state(self.node, "up", name)

    def seen(self):
        """(type, upstream or forward) of the events read so far."""
        with open(self.events.log_path) as f:
            return [(e["type"], e.get("upstream") or e.get("forward"))
                    for e in parse_events(f.read())
                    if e["type"].startswith(("upstream.", "forward."))]


@pytest.fixture
def pair(harness):
    return Pair(harness)


def test_connect_and_disconnect(pair, harness):
    node = pair.node
    assert node.ls("upstreams") == []
    pair.connect(hostkey=HeadServer(pair.head).hostkey)
    assert node.ls("upstreams") == ["h1"]
    assert node.value("upstreams", "h1", "uri") == pair.uri
    assert node.value("upstreams", "h1", "identity") == harness.key.path
    session = node.value("upstreams", "h1", "session")
    assert node.value("sessions", session, "direction") == "out"
    assert len(pair.head.ls("sessions")) == 1

    assert node.ctl("disconnect", "upstreams", "h1", "ctl")[0] == 0
    assert node.ls("upstreams") == []
    wait_for(lambda: pair.head.ls("sessions") == [],
             "the head to see the session end")
    wait_for(lambda: pair.seen() == [("upstream.up", "h1"),
                                     ("upstream.down", "h1")],
             "upstream.up and upstream.down")

    # Once more, taken away with the node's disconnect this time.
    pair.connect("h2")
    assert node.ctl("disconnect h2") == (0, "ok\n")
    assert node.ls("upstreams") == []
    assert node.ctl("disconnect h2")[0] == errno.ENOENT


def test_connect_refusals(pair, harness):
    node = pair.node
    key = harness.key.path
    cases = [
        (f"connect {pair.uri}", errno.EINVAL),
        (f"connect {pair.uri} identity={os.path.basename(key)}",
         errno.EINVAL),
        (f"connect {pair.uri} identity={harness.dir}/no-such-key",
         errno.ENOENT),
        (f"connect {pair.uri} identity={key} hostkey=MD5:00", errno.EINVAL),
        (f"connect {pair.uri} identity={key} name=a/b", errno.EINVAL),
    ]
    for command, code in cases:
        err, reply = node.ctl(command)
        assert err == code, f"{command}: {os.strerror(err)} {reply}"
        assert reply.startswith("error: "), reply
    assert node.ls("upstreams") == []
    pair.connect("h1")
    err, reply = node.ctl(f"connect {pair.uri} identity={key} name=h1")
    assert err == errno.EEXIST
    assert node.ls("upstreams") == ["h1"]


def test_forward_commands(pair, harness):
    node = pair.node
    echo = harness.echo_server()
    web = harness.http_server({"index.html": PAGE})
    pair.connect()

    err, reply = node.ctl(f"forward local 127.0.0.1:0 127.0.0.1:{echo.port} "
                          f"via=h1 name=l1")
    assert (err, reply) == (0, "ok name=l1\n")
    assert forward_field(node, "l1", "state") == "up"
    assert forward_field(node, "l1", "via") == "h1"
    assert forward_field(node, "l1", "kind") == "local"
    port = forward_port(node, "l1")
    assert listens_on(node.pid, port)
    assert echo_through(port, b"local\n") == b"local\n"
    assert forward_field(node, "l1", "connections_total") == "1"

    # The ssh-style spec, named after its kind.
    err, reply = node.ctl(f"forward local 0:127.0.0.1:{web.port}")
    assert (err, reply) == (0, "ok name=local0\n")
    assert curl(f"http://127.0.0.1:{forward_port(node, 'local0')}/"
                "index.html") == PAGE

    # An upstream that does not exist is refused, and nothing is left.
    err, reply = node.ctl("socks 127.0.0.1:0 via=nope name=s9")
    assert (err, reply) == (errno.ENOENT, "error: no upstream nope\n")
    assert "s9" not in node.ls("forwards")

    err, reply = node.ctl("socks 127.0.0.1:0")
    assert (err, reply) == (0, "ok name=socks0\n")
    data = os.urandom(5000)
    assert socks_echo(forward_port(node, "socks0"), echo.port, data) == data

    HeadServer(pair.head).allow_listen()
    rport = free_port()
    err, reply = node.ctl(f"forward remote 127.0.0.1:{rport}:127.0.0.1:"
                          f"{echo.port} name=r1")
    assert (err, reply) == (0, "ok name=r1\n")
    wait_forward_state(node, "r1", "up")
    assert echo_through(rport, b"remote\n") == b"remote\n"

    assert node.ls("forwards") == ["l1", "local0", "r1", "socks0"]
    for name in ("l1", "local0", "r1", "socks0"):
        assert node.ctl(f"unforward {name}") == (0, "ok\n")
    assert node.ls("forwards") == []
    assert not listens_on(node.pid, port)
    wait_for(lambda: not listens_on(pair.head.pid, rport),
             "the head to close the remote port")
    assert node.ctl("unforward l1")[0] == errno.ENOENT

    wait_for(lambda: len(pair.seen()) == 9, "nine events")
    ups = [n for t, n in pair.seen() if t == "forward.up"]
    downs = [n for t, n in pair.seen() if t == "forward.down"]
    assert ups == ["l1", "local0", "socks0", "r1"]
    assert sorted(downs) == ["l1", "local0", "r1", "socks0"]


def test_forward_command_failures_leave_nothing(pair, harness):
    node = pair.node
    pair.connect()
    taken = socket.create_server(("127.0.0.1", 0))
    with taken:
        port = taken.getsockname()[1]
        cases = [
            (f"forward local 127.0.0.1:{port} 127.0.0.1:1 name=x",
             errno.EADDRINUSE),
            ("forward local 127.0.0.1:0 nowhere name=x", errno.EINVAL),
            ("forward local 1:2:3:4:5 name=x", errno.EINVAL),
            ("forward sideways 0 127.0.0.1:1 name=x", errno.EINVAL),
            ("forward local 0 127.0.0.1:1 name=../x", errno.EINVAL),
            ("socks 0 colour=blue", errno.EINVAL),
            ("forward remote 127.0.0.1:0 127.0.0.1:1 name=x", errno.EINVAL),
        ]
        for command, code in cases:
            err, reply = node.ctl(command)
            assert err == code, f"{command}: {os.strerror(err)} {reply}"
            assert reply.startswith("error: "), reply
            assert node.ls("forwards") == []
    assert node.ctl("socks 0 name=s")[0] == 0
    assert node.ctl("socks 0 name=s")[0] == errno.EEXIST


def test_forward_made_with_mkdir(pair, harness):
    node = pair.node
    echo = harness.echo_server()
    pair.connect()
    fwd = node.path("forwards", "x")

    os.mkdir(fwd)
    assert forward_field(node, "x", "state") == "down"
    assert forward_field(node, "x", "kind") == "local"
    # Not ready yet: up says what is missing.
    err, reply = node.ctl("up", "forwards", "x", "ctl")
    assert err == errno.EINVAL
    assert "listen" in reply
    assert "listen" in forward_field(node, "x", "error")

    assert write_value(os.path.join(fwd, "kind"), "local") == 0
    assert write_value(os.path.join(fwd, "listen"), "127.0.0.1:0") == 0
    assert write_value(os.path.join(fwd, "target"), f"127.0.0.1:{echo.port}") == 0
    assert write_value(os.path.join(fwd, "kind"), "sideways") == errno.EINVAL
    assert node.ctl("up", "forwards", "x", "ctl") == (0, "ok\n")
    assert forward_field(node, "x", "state") == "up"
    assert forward_field(node, "x", "error") == ""
    port = forward_port(node, "x")
    assert echo_through(port, b"mkdir\n") == b"mkdir\n"

    # Up, its fields are fixed.
    for field, value in (("listen", "127.0.0.1:0"),
                         ("target", "127.0.0.1:1"), ("kind", "socks"),
                         ("via", "h1")):
        assert write_value(os.path.join(fwd, field), value) == errno.EBUSY, field
    assert forward_field(node, "x", "listen") == f"127.0.0.1:{port}"

    # Down, they may change: the same forward becomes a SOCKS listener.
    assert node.ctl("down", "forwards", "x", "ctl") == (0, "ok\n")
    assert not listens_on(node.pid, port)
    assert write_value(os.path.join(fwd, "kind"), "socks") == 0
    assert node.ctl("up", "forwards", "x", "ctl") == (0, "ok\n")
    data = b"now through socks\n"
    assert socks_echo(forward_port(node, "x"), echo.port, data) == data

    # A forward keeps the name it was made with.
    with pytest.raises(PermissionError):
        os.rename(fwd, os.path.join(os.path.dirname(fwd), "y"))
    assert node.ls("forwards") == ["x"]

    port = forward_port(node, "x")
    os.rmdir(fwd)
    assert node.ls("forwards") == []
    assert not listens_on(node.pid, port)
    with pytest.raises(FileNotFoundError):
        os.stat(fwd)

    wait_for(lambda: len(pair.seen()) == 5, "five events")
    assert pair.seen() == [("upstream.up", "h1"), ("forward.up", "x"),
                           ("forward.down", "x"), ("forward.up", "x"),
                           ("forward.down", "x")]


def test_remote_forward_made_with_mkdir_waits_for_upstream(pair, harness):
    """A remote forward that names an upstream not yet there fails to come
    up; once the upstream exists it comes up and the head listens."""
    node = pair.node
    echo = harness.echo_server()
    HeadServer(pair.head).allow_listen()
    rport = free_port()
    fwd = node.path("forwards", "r")
    os.mkdir(fwd)
    assert write_value(os.path.join(fwd, "kind"), "remote") == 0
    assert write_value(os.path.join(fwd, "listen"), f"127.0.0.1:{rport}") == 0
    assert write_value(os.path.join(fwd, "target"), f"127.0.0.1:{echo.port}") == 0
    assert write_value(os.path.join(fwd, "via"), "later") == 0
    err, reply = node.ctl("up", "forwards", "r", "ctl")
    assert err == errno.ENOENT, reply
    assert forward_field(node, "r", "state") == "down"

    pair.connect("later")
    assert node.ctl("up", "forwards", "r", "ctl") == (0, "ok\n")
    wait_forward_state(node, "r", "up")
    assert listens_on(pair.head.pid, rport)
    assert echo_through(rport, b"late\n") == b"late\n"
    os.rmdir(fwd)
    wait_for(lambda: not listens_on(pair.head.pid, rport),
             "the head to close the remote port")


def test_local_forward_when_its_upstream_goes(pair, harness):
    """With its upstream disconnected a local forward stays bound and
    closes its connections at once; with a new upstream it serves
    again."""
    node = pair.node
    echo = harness.echo_server()
    pair.connect()
    assert node.ctl(f"forward local 0 127.0.0.1:{echo.port} name=l")[0] == 0
    port = forward_port(node, "l")

    assert node.ctl("disconnect h1")[0] == 0
    assert listens_on(node.pid, port)
    with socket.create_connection(("127.0.0.1", port),
                                  timeout=WAIT) as sock:
        sock.settimeout(WAIT)
        assert sock.recv(1) == b""

    pair.connect("h2")
    assert echo_through(port, b"back\n") == b"back\n"


def test_remote_forward_when_its_upstream_goes(pair, harness):
    """Disconnecting the upstream takes a remote forward out of "up"; with
    a new upstream it can be brought up again."""
    node = pair.node
    echo = harness.echo_server()
    HeadServer(pair.head).allow_listen()
    pair.connect()
    rport = free_port()
    assert node.ctl(f"forward remote {rport} 127.0.0.1:{echo.port} "
                    "name=r")[0] == 0
    wait_forward_state(node, "r", "up")

    assert node.ctl("disconnect h1")[0] == 0
    wait_for(lambda: not listens_on(pair.head.pid, rport),
             "the head to close the remote port")
    assert forward_field(node, "r", "state") != "up"
    assert forward_field(node, "r", "error") != ""

    pair.connect("h2")
    assert node.ctl("down", "forwards", "r", "ctl")[0] == 0
    assert node.ctl("up", "forwards", "r", "ctl")[0] == 0
    wait_forward_state(node, "r", "up")
    assert listens_on(pair.head.pid, rport)
    assert echo_through(rport, b"again\n") == b"again\n"
