"""Channels opened together: a libssh call made for one of them reads the
confirmations of the others, and each must still be answered."""

import asyncio
import time

import pytest

from conftest import needs_fuse
from worker import deep_backlog, forward_port, start_worker
import test_worker_load as load

pytestmark = needs_fuse

ROUNDS = 60
FLOWS = 5


async def opened_together(port, target_port):
    all_open, opened = asyncio.Event(), []
    flows = [asyncio.ensure_future(
        load.socks_flow(port, target_port, b"x", all_open, opened))
        for _ in range(FLOWS)]
    deadline = time.monotonic() + 30
    while len(opened) < FLOWS:
        for f in flows:
            if f.done():
                f.result()
        assert time.monotonic() < deadline, \
            f"only {len(opened)} of {FLOWS} SOCKS connects were answered"
        await asyncio.sleep(0.02)
    all_open.set()
    return await asyncio.gather(*flows)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_simultaneous_opens_are_all_answered(harness, round_):
    head = harness.start_node()
    echo = deep_backlog(harness.echo_server())
    worker = start_worker(harness, f"tcp://127.0.0.1:{head.port}",
                          socks=["127.0.0.1:0"])
    port = forward_port(worker, "socks0")
    assert asyncio.run(opened_together(port, echo.port)) == [b"x"] * FLOWS
