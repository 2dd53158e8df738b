"""Raw framing: a TCP listener of its own whose connections are one
stream of call-protocol frames, the first proving who the peer is with a
token. The same operations answer the same way as over SSH."""

import json
import os
import socket
import struct
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, WAIT, parse_kv

BUILD = Path(os.environ.get("ALKNET_BUILD") or REPO / "build")
ALKNET = BUILD / "fs" / "alknet"


def frame(kind, ident, payload):
    body = json.dumps({"type": kind, "id": ident,
                       "payload": payload}).encode()
    return struct.pack(">I", len(body)) + body


def request(ident, op, data=None):
    payload = {"operationId": op}
    if data is not None:
        payload["input"] = data
    return frame("call.requested", ident, payload)


class Raw:
    """A few lines of client: length-prefixed JSON over a socket."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=WAIT)
        self.buf = b""

    def answer(self):
        while True:
            if len(self.buf) >= 4:
                (n,) = struct.unpack(">I", self.buf[:4])
                if len(self.buf) >= 4 + n:
                    body, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
                    return json.loads(body)
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk

    def call(self, ident, op, data=None):
        self.sock.sendall(request(ident, op, data))
        return self.answer()

    def close(self):
        self.sock.close()


def token(key):
    out = subprocess.run([str(ALKNET), "token", key.path],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.fixture
def node(harness):
    node = harness.start_node(args=["--listen-raw", "127.0.0.1:0"])
    match = node.wait_log(r"^alknetd: raw listener added "
                          r"uri=tcp://127\.0\.0\.1:(\d+)$")
    node.raw_port = int(match.group(1))
    return node


def login(node, key):
    c = Raw(node.raw_port)
    answer = c.call("auth", "/auth/token", {"token": token(key)})
    assert answer["type"] == "call.responded", answer
    assert answer["payload"]["output"]["identity"] == key.fingerprint
    return c


def test_token_first_then_calls(harness, node):
    reader = harness.make_key()
    kind, blob = reader.line().split()
    err, reply = node.ctl(f"identity add reader {kind} {blob} "
                          f"scopes=node:read")
    assert err == 0, reply

    c = login(node, reader)
    answer = c.call("1", "/node/info")
    assert answer["type"] == "call.responded"
    assert answer["payload"]["output"]["id"] == parse_kv(
        node.read("node"))["id"]
    answer = c.call("2", "/sessions/close", {"id": 1})
    assert answer["payload"]["code"] == "FORBIDDEN"
    c.close()

    # A key of authorized_keys: relay:connect only.
    c = login(node, harness.key)
    assert c.call("3", "/node/info")["payload"]["code"] == "FORBIDDEN"
    listed = c.call("4", "/services/list", {})
    assert listed["type"] == "call.responded"
    c.close()


def test_without_a_good_token_nothing_answers(harness, node):
    stranger = harness.make_key()
    cases = [request("a", "/services/list", {}),
             request("b", "/auth/token", {"token": token(stranger)}),
             request("c", "/auth/token", {"token": "x" * 139}),
             request("d", "/auth/token", {})]
    for first in cases:
        c = Raw(node.raw_port)
        c.sock.sendall(first + request("e", "/services/list", {}))
        answer = c.answer()
        assert answer["type"] == "call.error"
        assert answer["payload"]["code"] == "FORBIDDEN"
        assert answer["payload"]["message"] == "authentication required"
        # Nothing more: the connection ends.
        assert c.answer() is None
        c.close()


def test_frames_split_and_together(harness, node):
    c = Raw(node.raw_port)
    data = (request("auth", "/auth/token", {"token": token(harness.key)}) +
            request("1", "/services/list", {}) +
            request("2", "/services/schema", {"name": "/node/info"}))
    for i in range(len(data)):
        c.sock.sendall(data[i:i + 1])
    assert c.answer()["id"] == "auth"
    assert c.answer()["id"] == "1"
    schema = c.answer()
    assert schema["id"] == "2"
    assert schema["payload"]["output"]["namespace"] == "node"
    c.close()


def test_bad_frames_close_the_connection_only(harness, node):
    for junk in (struct.pack(">I", 0), struct.pack(">I", (64 << 20) + 1),
                 struct.pack(">I", 3) + b"{]}"):
        c = login(node, harness.key)
        c.sock.sendall(junk)
        assert c.answer() is None
        c.close()

    c = login(node, harness.key)
    assert c.call("ok", "/services/list", {})["type"] == "call.responded"
    c.close()
