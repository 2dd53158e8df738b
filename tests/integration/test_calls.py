"""The call protocol over SSH: direct-tcpip to alknet-control:0 carries
length-prefixed JSON frames to the node's operations, as the peer's
identity and scopes allow."""

import json
import struct

import paramiko
import pytest

from conftest import WAIT, parse_kv, wait_for


def frame(kind, ident, payload):
    body = json.dumps({"type": kind, "id": ident,
                       "payload": payload}).encode()
    return struct.pack(">I", len(body)) + body


def request(ident, op, data=None):
    payload = {"operationId": op}
    if data is not None:
        payload["input"] = data
    return frame("call.requested", ident, payload)


def read_frames(data):
    """Splits bytes into decoded frames."""
    out = []
    while len(data) >= 4:
        (n,) = struct.unpack(">I", data[:4])
        if len(data) < 4 + n:
            break
        out.append(json.loads(data[4:4 + n]))
        data = data[4 + n:]
    return out


class Control:
    """A control channel opened with paramiko, kept open."""

    def __init__(self, node, key):
        self.transport = paramiko.Transport(("127.0.0.1", node.port))
        self.transport.start_client(timeout=WAIT)
        self.transport.auth_publickey(
            "alk", paramiko.Ed25519Key.from_private_key_file(key.path))
        self.chan = self.transport.open_channel(
            "direct-tcpip", ("alknet-control", 0), ("127.0.0.1", 0))
        self.chan.settimeout(WAIT)
        self.buf = b""

    def send(self, data):
        self.chan.sendall(data)

    def answer(self):
        while True:
            frames = read_frames(self.buf)
            if frames:
                n = struct.unpack(">I", self.buf[:4])[0]
                self.buf = self.buf[4 + n:]
                return frames[0]
            chunk = self.chan.recv(65536)
            if not chunk:
                return None
            self.buf += chunk

    def call(self, ident, op, data=None):
        self.send(request(ident, op, data))
        return self.answer()

    def close(self):
        self.transport.close()


@pytest.fixture
def node(harness):
    return harness.start_node()


def add_identity(node, name, key, scopes):
    kind, blob = key.line().split()
    err, reply = node.ctl(f"identity add {name} {kind} {blob} "
                          f"scopes={scopes}")
    assert err == 0, reply


def test_requests_then_eof_get_every_answer(harness, node):
    """OpenSSH's ssh -W refuses port 0, so paramiko is the client: it
    sends two requests and its EOF at once, and reads both answers."""
    c = Control(node, harness.key)
    c.send(request("1", "/services/list", {}) +
           request("2", "/services/schema", {"name": "/sessions/close"}))
    c.chan.shutdown_write()
    data = b""
    while True:
        chunk = c.chan.recv(65536)
        if not chunk:
            break
        data += chunk
    c.close()
    answers = read_frames(data)

    assert [a["id"] for a in answers] == ["1", "2"]
    assert answers[0]["type"] == "call.responded"
    names = [op["name"] for op in answers[0]["payload"]["output"][
        "operations"]]
    assert "/services/list" in names and "/sessions/close" in names
    schema = answers[1]["payload"]["output"]
    assert schema["namespace"] == "sessions"
    assert schema["op_type"] == "mutation"
    assert schema["input_schema"]["required"] == ["id"]


def test_scopes_decide(harness, node):
    reader, admin = harness.make_key(), harness.make_key()
    add_identity(node, "reader", reader, "relay:connect,node:read")
    add_identity(node, "admin", admin, "node:read,node:admin")

    # Keys of authorized_keys hold relay:connect only.
    plain = Control(node, harness.key)
    answer = plain.call("a", "/node/info", {})
    assert answer["type"] == "call.error"
    assert answer["payload"]["code"] == "FORBIDDEN"
    assert answer["payload"]["message"] == "access denied"

    ro = Control(node, reader)
    answer = ro.call("b", "/node/info")
    assert answer["type"] == "call.responded"
    info = parse_kv(node.read("node"))
    assert answer["payload"]["output"]["id"] == info["id"]
    assert answer["payload"]["output"]["name"] == info["name"]
    assert ro.call("c", "/sessions/close", {"id": 1})["payload"][
        "code"] == "FORBIDDEN"

    # An admin closes the reader's session; its channel ends with it.
    rw = Control(node, admin)
    sessions = rw.call("d", "/sessions/list")["payload"]["output"][
        "sessions"]
    mine = [s["id"] for s in sessions if s["identity"] == reader.fingerprint]
    assert len(mine) == 1
    answer = rw.call("e", "/sessions/close", {"id": mine[0]})
    assert answer["type"] == "call.responded", answer
    assert ro.answer() is None
    wait_for(lambda: str(mine[0]) not in node.ls("sessions"),
             "the session to go")

    for c in (plain, ro, rw):
        c.close()


def test_bad_input_and_unknown_operations(harness, node):
    admin = harness.make_key()
    add_identity(node, "admin", admin, "node:read,node:admin")
    c = Control(node, admin)

    answer = c.call("1", "/sessions/close", {"id": "seven"})
    assert answer["payload"]["code"] == "INVALID_INPUT"
    answer = c.call("2", "/no/such/op", {})
    assert answer["payload"]["code"] == "NOT_FOUND"
    assert "/no/such/op" in answer["payload"]["message"]
    answer = c.call("3", "/sessions/close", {"id": 999999})
    assert answer["payload"]["code"] == "NOT_FOUND"
    c.close()


def test_the_same_rules_through_a_call_and_the_file(harness, node):
    admin = harness.make_key()
    add_identity(node, "admin", admin, "node:read,node:admin")
    c = Control(node, admin)

    answer = c.call("1", "/acl/forwarding/set",
                    {"rules": "allow localhost:22\ndeny *\n"})
    assert answer["type"] == "call.responded", answer
    assert node.value("acl", "forwarding") == (
        "allow localhost:22\ndeny *\ndefault deny")
    answer = c.call("2", "/acl/forwarding/get")
    assert answer["payload"]["output"]["rules"] == (
        "allow localhost:22\ndeny *\ndefault deny")

    answer = c.call("3", "/acl/forwarding/set", {"rules": "maybe *"})
    assert answer["payload"]["code"] == "INVALID_INPUT"
    assert answer["payload"]["message"].startswith("line 1: ")
    assert node.value("acl", "forwarding") == (
        "allow localhost:22\ndeny *\ndefault deny")
    c.close()


def test_a_malformed_frame_closes_that_channel_only(harness, node):
    c = Control(node, harness.key)
    other = c.transport.open_channel(
        "direct-tcpip", ("alknet-control", 0), ("127.0.0.1", 0))
    other.settimeout(WAIT)

    c.send(struct.pack(">I", 5) + b"nope!")
    assert c.answer() is None

    # The session and its other channel go on.
    other.sendall(request("x", "/services/list", {}))
    data = b""
    while not read_frames(data):
        chunk = other.recv(65536)
        assert chunk
        data += chunk
    assert read_frames(data)[0]["type"] == "call.responded"

    # A length over the bound is refused before any body comes.
    c2 = c.transport.open_channel(
        "direct-tcpip", ("alknet-control", 0), ("127.0.0.1", 0))
    c2.settimeout(WAIT)
    c2.sendall(struct.pack(">I", (64 << 20) + 1))
    assert c2.recv(10) == b""
    c.close()


def test_other_alknet_names_are_refused(harness, node):
    c = Control(node, harness.key)
    for host, port in (("alknet-control", 1), ("alknet-other", 0)):
        with pytest.raises(paramiko.ChannelException):
            c.transport.open_channel("direct-tcpip", (host, port),
                                     ("127.0.0.1", 0))
    c.close()
