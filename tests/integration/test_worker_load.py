"""The worker under load: many SOCKS flows at once, and more clients than
it has descriptors."""

import asyncio
import os
import socket
import time

from conftest import WAIT, echo_through, needs_fuse, parse_kv, wait_for
from worker import (SOCKS_OK, cpu_ticks, curl, data_channels, deep_backlog,
                    forward_port, socks_echo, socks_request, start_worker)

pytestmark = needs_fuse

FLOWS = 500
FLOW_SIZE = 64 << 10
# Flows of a big batch may queue behind each other under ASan on two
# cores: this bounds a stuck test, not a slow one.
BATCH_LIMIT = 120


async def socks_flow(port, target_port, payload, all_open, opened):
    """One SOCKS CONNECT that waits until every flow is open, then sends
    its payload and reads back the echo."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"\x05\x01\x00" + socks_request("127.0.0.1",
                                                     target_port))
        method = await reader.readexactly(2)
        assert method == b"\x05\x00", f"method answer {method.hex()}"
        reply = await reader.readexactly(10)
        assert reply == SOCKS_OK, f"SOCKS reply {reply.hex()}"
        opened.append(1)
        await all_open.wait()

        async def send():
            writer.write(payload)
            await writer.drain()
            writer.write_eof()

        sender = asyncio.ensure_future(send())
        echoed = await reader.read(-1)
        await sender
        return echoed
    finally:
        writer.close()


async def socks_batch(port, target_port, payloads, held):
    """Opens one flow per payload; once all are open, calls held() and
    lets the data flow.  Returns what each flow got back."""
    all_open = asyncio.Event()
    opened = []
    flows = [asyncio.ensure_future(
        socks_flow(port, target_port, p, all_open, opened))
        for p in payloads]
    deadline = time.monotonic() + BATCH_LIMIT
    while len(opened) < len(payloads):
        done = [f for f in flows if f.done()]
        for f in done:
            f.result()    # a flow that failed raises here
        assert time.monotonic() < deadline, \
            f"only {len(opened)} of {len(payloads)} flows opened"
        await asyncio.sleep(0.05)
    await asyncio.get_running_loop().run_in_executor(None, held)
    all_open.set()
    return await asyncio.wait_for(asyncio.gather(*flows),
                                  deadline - time.monotonic())


def settle(node, baseline, what):
    try:
        wait_for(lambda: node.fd_count() == baseline,
                 f"{what} fd count back to {baseline}", timeout=60)
    except AssertionError:
        fds = os.listdir(f"/proc/{node.pid}/fd")
        raise AssertionError(f"{what}: {len(fds)} fds open, baseline "
                             f"{baseline}")


def test_five_hundred_concurrent_socks_flows(harness):
    head = harness.start_node()
    echo = deep_backlog(harness.echo_server())
    worker = start_worker(harness, f"tcp://127.0.0.1:{head.port}",
                          socks=["127.0.0.1:0"])
    port = forward_port(worker, "socks0")

    # A first small batch lets lazily made things exist before the
    # baselines are taken.
    small = [os.urandom(1000) for _ in range(5)]
    assert asyncio.run(socks_batch(port, echo.port, small,
                                   lambda: None)) == small
    wait_for(lambda: data_channels(head) == [], "the head's channels")
    wait_for(lambda: data_channels(worker) == [], "the worker's channels")
    head_fds, worker_fds = head.fd_count(), worker.fd_count()

    payloads = [os.urandom(FLOW_SIZE) for _ in range(FLOWS)]
    counts = {}

    def held():
        # Every flow is open at this moment, on both nodes.
        counts["head"] = len(data_channels(head))
        counts["worker"] = len(data_channels(worker))
        counts["socks0"] = int(worker.value("forwards", "socks0",
                                            "connections"))

    echoed = asyncio.run(socks_batch(port, echo.port, payloads, held))
    assert counts == {"head": FLOWS, "worker": FLOWS, "socks0": FLOWS}
    bad = [i for i, (got, sent) in enumerate(zip(echoed, payloads))
           if got != sent]
    assert not bad, (f"{len(bad)} flows came back wrong, e.g. flow "
                     f"{bad[0]}: {len(echoed[bad[0]])} bytes")

    wait_for(lambda: data_channels(head) == [], "the head's channels",
             timeout=60)
    wait_for(lambda: data_channels(worker) == [], "the worker's channels",
             timeout=60)
    settle(head, head_fds, "head")
    settle(worker, worker_fds, "worker")
    assert worker.value("forwards", "socks0", "connections") == "0"
    assert int(worker.value("forwards", "socks0",
                            "connections_total")) == FLOWS + len(small)


def test_more_clients_than_descriptors(harness):
    head = harness.start_node()
    echo = deep_backlog(harness.echo_server())
    web = harness.http_server({"index.html": b"served again\n"})
    worker = start_worker(harness, f"tcp://127.0.0.1:{head.port}",
                          socks=["127.0.0.1:0"],
                          forwards=[f"0:127.0.0.1:{echo.port}"],
                          prefix=["prlimit", "--nofile=64:64"])
    assert parse_kv(worker.read("stats"))["fd_limit"] == "64"
    port = forward_port(worker, "socks0")
    local = forward_port(worker, "local0")
    assert socks_echo(port, echo.port, b"warm\n") == b"warm\n"
    wait_for(lambda: data_channels(worker) == [], "the warm-up channel")
    baseline = worker.fd_count()

    # Clients that ask for a flow and then hang on to it.
    clients = []
    for _ in range(150):
        sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        sock.sendall(b"\x05\x01\x00" + socks_request("127.0.0.1",
                                                     echo.port))
        clients.append(sock)
    wait_for(lambda: worker.fd_count() >= 60, "the worker to run short")
    time.sleep(1)

    # A busy loop would burn a whole CPU; sleeping in the backlog costs
    # next to nothing.  The bound is generous.
    ticks = os.sysconf("SC_CLK_TCK")
    before, start = cpu_ticks(worker.pid), time.monotonic()
    time.sleep(3)
    used = (cpu_ticks(worker.pid) - before) / ticks
    elapsed = time.monotonic() - start
    assert used < 0.5 * elapsed, \
        f"worker used {used:.2f} s of CPU in {elapsed:.2f} s"
    assert worker.running()

    # Each client was served in full or not at all: none got half an
    # answer or someone else's bytes.
    served = 0
    for sock in clients:
        sock.setblocking(False)
        try:
            got = sock.recv(64)
        except BlockingIOError:
            got = b""
        assert got in (b"", b"\x05\x00" + SOCKS_OK), got
        served += got != b""
    assert 0 < served < len(clients)
    # The namespace still answers.
    assert worker.value("upstreams", "up0", "state") == "up"

    for sock in clients:
        sock.close()
    assert socks_echo(port, echo.port, b"after\n") == b"after\n"
    assert echo_through(local, b"local after\n") == b"local after\n"
    assert curl("--socks5-hostname", f"127.0.0.1:{port}",
                f"http://localhost:{web.port}/index.html") == \
        b"served again\n"
    settle(worker, baseline, "worker")
