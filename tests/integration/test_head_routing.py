"""A worker registers its operations with the head it dials; the head
makes them callable as /<worker>/..., relays calls and answers, and
forgets them when the worker goes."""

import json
import os
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, WAIT, parse_kv, wait_for
from worker import fingerprint, start_worker

BUILD = Path(os.environ.get("ALKNET_BUILD") or REPO / "build")
ALKNET = BUILD / "fs" / "alknet"


def call(node, op, data="{}"):
    out = subprocess.run([str(ALKNET), "call", op, data, "--mount",
                          node.mount], capture_output=True, text=True,
                         timeout=WAIT)
    return out.returncode, out.stdout, out.stderr


@pytest.fixture
def pair(harness):
    head = harness.start_node()
    worker = start_worker(harness, f"tcp://127.0.0.1:{head.port}")
    worker.name = parse_kv(worker.read("node"))["name"]
    head.wait_log(rf"^alknetd: peer registered node={worker.name} "
                  r"operations=\d+$")
    worker.wait_log(r"^alknetd: upstream registered name=up0 "
                    r"operations=\d+$")
    return head, worker


def test_worker_operations_callable_on_the_head(harness, pair):
    head, worker = pair

    rc, out, err = call(head, f"/{worker.name}/services/list")
    assert rc == 0, err
    assert '"/node/info"' in out

    rc, out, err = call(head, f"/{worker.name}/node/info")
    assert rc == 0, err
    assert parse_kv(worker.read("node"))["id"] in out
    assert parse_kv(head.read("node"))["id"] not in out

    # The head's own operations are its own.
    rc, out, _ = call(head, "/node/info")
    assert parse_kv(head.read("node"))["id"] in out

    # Errors come back as the worker gave them.
    rc, out, err = call(head, f"/{worker.name}/sessions/close",
                        '{"id": 424242}')
    assert rc == 1
    assert "NOT_FOUND" in err and "424242" in err

    # The worker's operations show up in the head's ops/.
    assert "services" in os.listdir(head.path("ops", worker.name))


def test_worker_gone_takes_its_operations(harness, pair):
    head, worker = pair
    assert os.path.isdir(head.path("ops", worker.name))

    worker.stop(signal.SIGKILL)
    head.wait_log(rf"^alknetd: peer removed node={worker.name}$")
    wait_for(lambda: not os.path.exists(head.path("ops", worker.name)),
             "the worker's operations to go")
    rc, _, err = call(head, f"/{worker.name}/node/info")
    assert rc == 1
    assert "NOT_FOUND" in err or "no operation" in err


def test_reserved_and_bad_node_names(harness):
    head = harness.start_node()
    worker = start_worker(harness, f"tcp://127.0.0.1:{head.port}",
                          args=["--name", "node"])
    worker.wait_log(r"^alknetd: upstream not registered name=up0 "
                    r"reason=\"cannot register node node\"$")
    assert not os.path.exists(head.path("ops", "node", "services"))


class CallFile:
    """An open ops/.../call handle: one call, answers read as lines."""

    def __init__(self, node, op, data):
        parts = op.strip("/").split("/")
        self.fd = os.open(node.path("ops", *parts, "call"), os.O_RDWR)
        os.write(self.fd, data.encode())
        self.buf = b""

    def line(self, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            assert left > 0, "no answer on the call file"
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                chunk = os.read(self.fd, 65536)
                assert chunk, "the call ended without an answer"
                self.buf += chunk
        text, _, self.buf = self.buf.partition(b"\n")
        return json.loads(text)

    def close(self):
        os.close(self.fd)


def set_listen_rules(node, text):
    with open(node.path("acl", "listen"), "w") as f:
        f.write(text)


def change_listen_rules(node):
    """Changes the rules (a write of the same rules announces nothing)."""
    now = node.read("acl", "listen")
    port = 40000 if "40000" not in now else 40001
    set_listen_rules(node, f"allow 127.0.0.1:{port}\n")


def test_subscription_streams_events_on_the_mount(harness):
    node = harness.start_node()
    sub = CallFile(node, "/events/subscribe", '{"types": ["policy."]}')
    try:
        set_listen_rules(node, "allow 127.0.0.1:40000\n")
        ev = sub.line()["output"]
        assert ev["type"] == "policy.changed"
        assert ev["policy"] == "listen"
        set_listen_rules(node, "default deny\n")
        assert sub.line()["output"]["type"] == "policy.changed"
    finally:
        sub.close()


def test_subscription_with_alknet_call(harness):
    node = harness.start_node()
    proc = subprocess.Popen([str(ALKNET), "call", "/events/subscribe",
                             '{"types": ["policy."]}', "--mount",
                             node.mount], stdout=subprocess.PIPE, text=True)
    try:
        # Events from before the call opens are not its own: keep
        # changing the rules until one line comes.
        def changed():
            change_listen_rules(node)
            return select.select([proc.stdout], [], [], 0.2)[0]
        wait_for(changed, "a value of the subscription")
        assert json.loads(proc.stdout.readline())["type"] == \
            "policy.changed"
    finally:
        proc.kill()
        proc.wait()


def test_head_aborts_a_worker_call_when_its_handle_closes(harness, pair):
    head, worker = pair
    sub = CallFile(head, f"/{worker.name}/events/subscribe",
                   '{"types": ["policy."]}')
    try:
        # The subscription runs on the worker: its events come through.
        def through():
            change_listen_rules(worker)
            return select.select([sub.fd], [], [], 0.2)[0]
        wait_for(through, "a worker event through the head")
        assert sub.line()["output"]["type"] == "policy.changed"
    finally:
        sub.close()
    # Closing the head's handle aborts the call on the worker.
    worker.wait_log(r"^alknetd: call aborted by peer identity=SHA256:\S+ "
                    r"id=c\d+$")


def test_killed_worker_fails_the_head_call_and_leaves_peers(harness, pair):
    head, worker = pair
    assert os.listdir(head.path("peers")) == [worker.name]
    key = worker.read("upstreams", "up0", "identity").strip()
    assert head.read("peers", worker.name, "id").strip() == \
        fingerprint(key + ".pub")
    ops = head.read("peers", worker.name, "operations").split()
    assert "/node/info" in ops and "/events/subscribe" in ops
    session = head.read("peers", worker.name, "session").strip()
    assert os.path.isdir(head.path("sessions", session))

    sub = CallFile(head, f"/{worker.name}/events/subscribe", "{}")
    try:
        worker.stop(signal.SIGKILL)
        answer = sub.line()
        assert answer["error"]["code"] == "INTERNAL"
        assert answer["error"]["message"] == "connection closed"
    finally:
        sub.close()
    wait_for(lambda: not os.path.exists(head.path("peers", worker.name)),
             "peers/<worker> to go")
    assert os.listdir(head.path("peers")) == []
