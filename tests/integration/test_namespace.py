"""The mounted namespace: live state, ctl files and the event files."""

import json
import os
import re
import select
import signal
import socket
import subprocess
from pathlib import Path

from conftest import (WAIT, connection_closed, echo_through, needs_fuse,
                      parse_events, parse_kv, wait_for)

pytestmark = needs_fuse

# Targets live on their own loopback address so that a leak of the
# destination into events or logs is easy to spot.
TARGET_HOST = "127.0.0.77"

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def exchange(sock, data):
    """Sends data on an echo channel and reads it back."""
    sock.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = sock.recv(1 << 16)
        assert chunk, "channel closed early"
        got += chunk
    assert got == data


def only_entry(node, directory):
    entries = wait_for(lambda: node.ls(directory), f"an entry in {directory}")
    assert len(entries) == 1, entries
    return entries[0]


def wait_lines(proc, pattern, what):
    """Waits until the output of a watcher matches pattern."""
    def seen():
        text = Path(proc.log_path).read_text()
        return text if re.search(pattern, text) else None
    return wait_for(seen, what)


def host_key_fingerprint(node):
    out = subprocess.run(["ssh-keygen", "-lf",
                          str(node.state / "host_ed25519_key")],
                         check=True, capture_output=True, text=True)
    return out.stdout.split()[1]


def test_tunnel_in_namespace_and_events(harness, node):
    echo = harness.echo_server(TARGET_HOST)
    events = harness.watch(node, "events")
    tail = harness.watch(node, "events.log", argv=("tail", "-n", "0", "-f"))

    fwd = harness.forward(node, "-L", f"{TARGET_HOST}:{echo.port}")
    sock = socket.create_connection(("127.0.0.1", fwd.port), timeout=WAIT)
    exchange(sock, b"a" * 1000)

    sid = only_entry(node, "sessions")
    cid = only_entry(node, "channels")
    fp = harness.key.fingerprint
    assert node.value("sessions", sid, "identity") == fp
    assert node.value("sessions", sid, "user") == "alk"
    assert node.value("sessions", sid, "direction") == "in"
    assert node.value("sessions", sid, "transport") == "tcp"
    assert node.value("sessions", sid, "peer").startswith("127.0.0.1:")
    assert node.value("sessions", sid, "channels") == "1"
    assert node.value("channels", cid, "session") == sid
    assert node.value("channels", cid, "kind") == "direct-tcpip"
    assert node.value("channels", cid, "identity") == fp
    assert node.value("channels", cid, "state") == "open"
    target = node.value("channels", cid, "target")
    assert TARGET_HOST in target and str(echo.port) in target

    # Counters follow the traffic.
    def counters(*parts):
        return (int(node.value(*parts, "bytes_in")),
                int(node.value(*parts, "bytes_out")))
    before = wait_for(lambda: min(counters("channels", cid)) >= 1000 and
                      counters("channels", cid), "channel counters >= 1000")
    session_before = counters("sessions", sid)
    exchange(sock, os.urandom(50000))
    wait_for(lambda: all(now >= was + 50000 for now, was in
                         zip(counters("channels", cid), before)),
             "channel counters to grow by 50000")
    wait_for(lambda: all(now >= was + 50000 for now, was in
                         zip(counters("sessions", sid), session_before)),
             "session counters to grow by 50000")

    # Closing the channel from the namespace closes the client's socket.
    err, reply = node.ctl("close", "channels", cid, "ctl")
    assert err == 0, reply
    assert reply.startswith("ok")
    assert connection_closed(sock)
    sock.close()
    wait_for(lambda: node.ls("channels") == [], "channels/ to empty")
    assert fwd.proc.poll() is None
    assert node.ls("sessions") == [sid]

    fwd.stop()
    wait_for(lambda: node.ls("sessions") == [], "sessions/ to empty")

    # The stream and the log file saw the same lines, in order.
    streamed = wait_lines(events, r'"type":\s*"session.closed"',
                          "session.closed from cat events")
    logged = wait_lines(tail, r'"type":\s*"session.closed"',
                        "session.closed from tail -f events.log")
    assert logged == streamed
    found = parse_events(streamed)
    types = [e["type"] for e in found]
    for want in ("session.opened", "auth.accepted", "channel.opened",
                 "channel.closed", "session.closed"):
        assert want in types, types
    order = [types.index(t) for t in ("session.opened", "auth.accepted",
                                      "channel.opened", "channel.closed",
                                      "session.closed")]
    assert order == sorted(order), types
    seqs = [e["seq"] for e in found]
    assert seqs == sorted(set(seqs)), seqs
    assert all(TS.match(e["ts"]) for e in found), found

    # Destinations never appear in events or in the daemon's log.
    port = re.compile(rf"(?<!\d){echo.port}(?!\d)")
    for text in (streamed, logged, node.read("events.log"), node.log()):
        assert TARGET_HOST not in text
        assert not port.search(text), text


def test_session_close_from_namespace(harness, node):
    events = harness.watch(node, "events")
    fwd = harness.forward(node, "-D")
    sid = only_entry(node, "sessions")

    err, reply = node.ctl("close", "sessions", sid, "ctl")

    assert err == 0, reply
    assert fwd.proc.wait(WAIT) is not None
    wait_for(lambda: node.ls("sessions") == [], "sessions/ to empty")
    wait_lines(events, r'"type":\s*"session.closed"', "session.closed")
    node.wait_log(r"^alknetd: connection closed remote_addr=127\.0\.0\.1 "
                  rf"duration=[0-9.]+ session={sid}\b")


def test_auth_rejected_event(harness, node):
    events = harness.watch(node, "events")
    stranger = harness.make_key()

    out = harness.ssh_run(node, stranger, "true")

    assert "Permission denied" in out.stderr
    text = wait_lines(events, r'"type":\s*"auth.rejected"', "auth.rejected")
    assert "auth.accepted" not in text


def test_node_files(harness, node):
    info = parse_kv(node.read("node"))
    assert info["id"] == host_key_fingerprint(node)
    assert info["pid"] == str(node.pid)
    assert info["name"] == Path(node.state).parent.name
    assert info["mount"] == node.mount

    as_json = json.loads(node.read("node.json"))
    assert as_json["id"] == info["id"]

    # The host key was made on first start, private to root.
    mode = os.stat(node.state / "host_ed25519_key").st_mode & 0o777
    assert mode == 0o600


def test_stats_follow_sessions(harness, node):
    stats = parse_kv(node.read("stats"))
    assert stats["sessions"] == "0"
    assert stats["channels"] == "0"
    json.loads(node.read("stats.json"))

    echo = harness.echo_server()
    fwd = harness.forward(node, "-L", f"127.0.0.1:{echo.port}")
    with socket.create_connection(("127.0.0.1", fwd.port)) as sock:
        exchange(sock, b"count me\n")
        wait_for(lambda: parse_kv(node.read("stats"))["channels"] == "1",
                 "stats channels 1")
        assert parse_kv(node.read("stats"))["sessions"] == "1"

    # Each open sees a fresh snapshot.
    with open(node.path("stats")) as f:
        first = f.read()
    assert parse_kv(first)["sessions"] == "1"


def test_listeners_and_listen_ctl(harness, node):
    assert node.ls("listeners") == ["tcp0"]
    assert node.value("listeners", "tcp0", "uri") == \
        f"tcp://127.0.0.1:{node.port}"
    assert node.value("listeners", "tcp0", "transport") == "tcp"
    accepted = int(node.value("listeners", "tcp0", "accepted"))

    err, reply = node.ctl("listen tcp://127.0.0.1:0 name=extra")
    assert err == 0, reply
    uri = node.value("listeners", "extra", "uri")
    match = re.fullmatch(r"tcp://127\.0\.0\.1:(\d+)", uri)
    assert match and match.group(1) != "0", uri
    extra_port = int(match.group(1))

    echo = harness.echo_server()
    fwd = harness.forward(node, "-L", f"127.0.0.1:{echo.port}",
                          port=extra_port)
    assert echo_through(fwd.port, b"via extra\n") == b"via extra\n"
    assert int(node.value("listeners", "extra", "accepted")) >= 1
    assert int(node.value("listeners", "tcp0", "accepted")) == accepted

    err, reply = node.ctl("unlisten extra")
    assert err == 0, reply
    assert node.ls("listeners") == ["tcp0"]
    refused = socket.socket()
    try:
        assert refused.connect_ex(("127.0.0.1", extra_port)) != 0
    finally:
        refused.close()
    # The session that came in on it is not cut off.
    assert echo_through(fwd.port, b"again\n") == b"again\n"


def test_blocked_event_reader_can_be_interrupted(harness, node):
    reader = harness.watch(node, "events")

    reader.send_signal(signal.SIGINT)

    reader.wait(WAIT)
    assert node.running()
    assert node.ls("channels") == []


def test_event_readers_have_own_cursors(harness, node):
    first = harness.watch(node, "events")
    harness.forward(node, "-D").stop()
    wait_lines(first, r'"type":\s*"session.closed"', "first reader")

    second = harness.watch(node, "events")
    harness.forward(node, "-D").stop()
    text = wait_lines(second, r'"type":\s*"session.closed"', "second reader")

    # The second reader starts at "now": one session, not two.
    assert len(re.findall(r'"type":\s*"session.opened"', text)) == 1
    text = wait_lines(first, r'(?s)session.closed.*session.closed',
                      "both sessions in the first reader")
    assert len(re.findall(r'"type":\s*"session.opened"', text)) == 2


def test_events_work_with_poll(harness, node):
    fd = os.open(node.path("events"), os.O_RDONLY)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        assert poller.poll(0) == []

        harness.ssh_run(node, harness.make_key(), "true")

        assert poller.poll(WAIT * 1000) == [(fd, select.POLLIN)]
        lines = os.read(fd, 1 << 16).decode()
        assert lines.endswith("\n")
        assert parse_events(lines)[0]["type"] == "session.opened"
    finally:
        os.close(fd)


def test_modes_and_identities(harness, node):
    echo = harness.echo_server()
    fwd = harness.forward(node, "-L", f"127.0.0.1:{echo.port}")
    with socket.create_connection(("127.0.0.1", fwd.port)) as sock:
        exchange(sock, b"mode\n")
        cid = only_entry(node, "channels")
        sid = only_entry(node, "sessions")

        def mode(*parts):
            return os.stat(node.path(*parts)).st_mode & 0o777
        # Anyone may write a command; the operation ACL decides.
        assert mode("ctl") == 0o666
        assert mode("sessions", sid, "ctl") == 0o666
        assert mode("channels", cid, "ctl") == 0o666
        # Destinations are for root's eyes only.
        assert mode("channels", cid, "target") == 0o400
        assert mode("stats") == 0o444

    # The authorized key is an identity; its directory name is safe and
    # the fingerprint is a file inside.
    names = node.ls("identities")
    assert len(names) == 1
    ident = names[0]
    assert "/" not in ident
    assert node.value("identities", ident, "id") == harness.key.fingerprint
    assert node.value("identities", ident, "key").split()[:2] == \
        harness.key.pub.split()[:2]
    assert node.value("identities", ident, "kind") == "key"
    assert node.value("identities", ident, "source") == "file"


def read_available(fd):
    """Reads what a stream file holds now, without waiting for more."""
    os.set_blocking(fd, False)
    data = b""
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return data
        if not chunk:
            return data
        data += chunk


def test_slow_event_reader_gets_dropped_marker(harness, node):
    echo = harness.echo_server()
    fwd = harness.forward(node, "-L", f"127.0.0.1:{echo.port}")
    connections = 2200      # two events each, more than a reader may lag

    fd = os.open(node.path("events"), os.O_RDONLY)
    try:
        for _ in range(connections):
            with socket.create_connection(("127.0.0.1", fwd.port)) as sock:
                exchange(sock, b"x")
        wait_for(lambda: parse_kv(node.read("stats"))["channels"] == "0",
                 "every channel to close")
        lines = read_available(fd).decode().splitlines()
    finally:
        os.close(fd)

    events = [json.loads(line) for line in lines]
    assert events[0]["type"] == "events.dropped"
    dropped = events[0]["count"]
    assert dropped > 0
    assert dropped + len(events) - 1 == 2 * connections
    # What is kept is the newest, without gaps.
    seqs = [e["seq"] for e in events[1:]]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert events[-1]["type"] == "channel.closed"
    assert int(parse_kv(node.read("stats"))["events_dropped"]) >= dropped
