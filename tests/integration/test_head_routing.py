"""A worker registers its operations with the head it dials; the head
makes them callable as /<worker>/..., relays calls and answers, and
forgets them when the worker goes."""

import os
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, WAIT, parse_kv, wait_for
from worker import start_worker

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
