"""alknetd with alknet-secretd: keys/ in the mount, the host key of the
seed, the node's identity, and what must never leave the secret daemon.

A real alknet-secretd runs on a socket in the test's directory and is
unlocked with `alknet unlock --fd`.  Expected keys are derived here from
the mnemonic with hashlib (BIP39, SLIP-0010) and cryptography, and the
host key is compared with what ssh-keyscan and a real ssh client see.
"""

import base64
import errno
import hashlib
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import SSH_OPTIONS, WAIT, needs_fuse, parse_events, wait_for
from test_secretd import (ALKNET, HOST, IDENTITY, MNEMONIC, PASSPHRASE,
                          SECRETD, Daemon as SecretDaemon, bip39_seed,
                          raw_public, slip10, ssh_line)

pytestmark = needs_fuse

SEED = bip39_seed(MNEMONIC, PASSPHRASE)


def device_path(n):
    return f"m/74'/0'/0'/{n}'"


def public_line(path):
    return ssh_line(raw_public(slip10(SEED, path)))


def fingerprint(line):
    blob = base64.b64decode(line.split()[1])
    digest = base64.b64encode(hashlib.sha256(blob).digest())
    return "SHA256:" + digest.decode().rstrip("=")


def secrets():
    """Everything the daemons hold that must show up nowhere else."""
    found = {"the mnemonic": MNEMONIC, "a mnemonic word": "abandon",
             "the passphrase": PASSPHRASE,
             "the seed (hex)": SEED.hex(),
             "the seed (base64)": base64.b64encode(SEED).decode()}
    for name, path in (("identity", IDENTITY), ("host", HOST)):
        key = slip10(SEED, path)
        found[f"the {name} key (hex)"] = key.hex()
        found[f"the {name} key (base64)"] = \
            base64.b64encode(key).decode().rstrip("=")
    return found


@pytest.fixture
def secretd(harness):
    for program in (SECRETD, ALKNET):
        if not os.access(program, os.X_OK):
            pytest.fail(f"no {program} (build it, or set ALKNET_BUILD)",
                        pytrace=False)
    root = harness.dir / "secretd"
    root.mkdir()
    d = SecretDaemon(root)
    yield d
    d.stop()


def start(harness, secretd, *args):
    return harness.start_node(args=["--secretd", secretd.socket, *args])


def file_host_key(node):
    out = subprocess.run(["ssh-keygen", "-y", "-f",
                          str(node.state / "host_ed25519_key")],
                         check=True, capture_output=True, text=True)
    return " ".join(out.stdout.split()[:2])


def keyscan(node):
    out = subprocess.run(["ssh-keyscan", "-t", "ed25519", "-p",
                          str(node.port), "127.0.0.1"],
                         capture_output=True, text=True, timeout=WAIT)
    lines = [l for l in out.stdout.splitlines() if not l.startswith("#")]
    assert len(lines) == 1, out
    return " ".join(lines[0].split()[1:3])


def wait_status(node, state):
    wait_for(lambda: node.value("keys", "status") == state,
             f"keys/status to be {state}")


def wait_event(proc, kind):
    def seen():
        events = parse_events(Path(proc.log_path).read_text())
        return [e for e in events if e["type"] == kind]
    return wait_for(seen, f"a {kind} event")[0]


def assert_value_file(node, *parts):
    """Its size is its content's, read whole in one go."""
    with open(node.path(*parts), "rb") as f:
        data = f.read()
        assert os.fstat(f.fileno()).st_size == len(data)
    assert os.stat(node.path(*parts)).st_size == len(data)
    return data.decode()


def test_locked_unlocked_locked_unavailable(harness, secretd):
    node = start(harness, secretd)
    assert node.ls("keys") == ["devices", "host.pub", "host.pub.fp",
                               "host_key", "identity.pub",
                               "identity.pub.fp", "status"]
    assert node.value("keys", "status") == "locked"
    assert node.value("keys", "host_key") == "file"
    assert node.value("keys", "host.pub") == file_host_key(node)
    assert node.value("keys", "host.pub") == keyscan(node)
    assert node.value("keys", "host.pub.fp") == \
        fingerprint(file_host_key(node))
    assert node.read("keys", "identity.pub") == "\n"
    assert node.read("keys", "devices", "1.pub") == "\n"
    assert "alknetd: keys state=locked host_key=file" in node.log()
    events = harness.watch(node, "events")

    # A file opened while locked keeps what it showed then.
    held = open(node.path("keys", "identity.pub"))
    secretd.unlock()
    wait_status(node, "unlocked")
    wait_event(events, "keys.unlocked")
    assert held.read() == "\n"
    held.close()
    assert node.value("keys", "identity.pub") == public_line(IDENTITY)
    assert assert_value_file(node, "keys", "identity.pub.fp") == \
        fingerprint(public_line(IDENTITY)) + "\n"
    for n in range(1, 5):
        assert node.value("keys", "devices", f"{n}.pub") == \
            public_line(device_path(n))
        assert node.value("keys", "devices", f"{n}.pub.fp") == \
            fingerprint(public_line(device_path(n)))
    # The host key and the id stay what they were at start.
    assert node.value("keys", "host_key") == "file"
    assert node.value("keys", "host.pub") == keyscan(node)

    proc = secretd.cli("lock")
    assert proc.returncode == 0, proc.stderr
    wait_status(node, "locked")
    wait_event(events, "keys.locked")
    assert node.read("keys", "identity.pub") == "\n"
    assert node.read("keys", "devices", "4.pub.fp") == "\n"

    secretd.stop()
    wait_status(node, "unavailable")
    wait_event(events, "keys.unavailable")

    # A daemon that comes back on the same socket is noticed.
    again = SecretDaemon(Path(secretd.socket).parent)
    try:
        wait_status(node, "locked")
    finally:
        again.stop()
    lines = Path(events.log_path).read_text()
    for secret in secrets().values():
        assert secret not in lines


def test_started_unlocked(harness, secretd):
    secretd.unlock()
    node = start(harness, secretd, "--device-keys", "2")
    assert node.value("keys", "status") == "unlocked"
    assert node.value("keys", "host_key") == "seed"

    host = node.value("keys", "host.pub")
    assert host == keyscan(node)
    assert host == public_line(HOST)
    assert host != file_host_key(node)
    assert node.value("keys", "host.pub.fp") == fingerprint(host)

    out = subprocess.run(["ssh-keygen", "-lf",
                          node.path("keys", "identity.pub")],
                         check=True, capture_output=True, text=True)
    fp = out.stdout.split()[1]
    assert fp == node.value("keys", "identity.pub.fp")
    assert fp == fingerprint(public_line(IDENTITY))
    assert node.read("node").splitlines()[0] == f"id {fp}"
    assert node.ls("keys", "devices") == ["1.pub", "1.pub.fp", "2.pub",
                                          "2.pub.fp"]
    assert not os.path.exists(node.path("keys", "devices", "3.pub"))
    assert node.value("keys", "devices", "2.pub") == \
        public_line(device_path(2))

    # A client that knows only the seed's host key logs in and is served.
    known = harness.dir / "known_hosts"
    known.write_text(f"[127.0.0.1]:{node.port} {host}\n")
    echo = harness.echo_server()
    argv = ["ssh", "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={known}", *SSH_OPTIONS,
            "-i", harness.key.path, "-p", str(node.port), "-l", "alk",
            "-W", f"127.0.0.1:{echo.port}", "127.0.0.1"]
    proc = subprocess.run(argv, input=b"through the seed's host key\n",
                          capture_output=True, timeout=WAIT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"through the seed's host key\n"

    assert_nothing_escapes(harness, node, secretd)


def assert_nothing_escapes(harness, node, secretd):
    """Every file of the mount but the event stream (events.log holds
    the same lines), the logs, the database and what /proc shows of
    both daemons: none holds a secret."""
    places = {}
    for top, dirs, files in os.walk(node.mount):
        for name in files:
            path = os.path.join(top, name)
            if path == node.path("events"):
                continue
            try:
                with open(path, "rb") as f:
                    places[path] = f.read()
            except OSError as e:
                # A file that cannot be opened to read shows nothing.
                if e.errno not in (errno.EISDIR, errno.EINVAL):
                    raise
    assert node.path("keys", "devices", "1.pub") in places
    places["alknetd's log"] = Path(node.log_path).read_bytes()
    places["alknet-secretd's log"] = secretd.log_path.read_bytes()
    places["alknet.db"] = (node.state / "alknet.db").read_bytes()
    for d in (node, secretd):
        for what in ("environ", "cmdline"):
            places[f"/proc/{d.pid}/{what}"] = \
                Path(f"/proc/{d.pid}/{what}").read_bytes()
    for where, data in places.items():
        for what, secret in secrets().items():
            assert secret.encode() not in data, f"{what} in {where}"


def test_without_secretd(harness):
    node = harness.start_node(args=["--device-keys", "1"])
    assert node.value("keys", "status") == "unavailable"
    assert node.value("keys", "host_key") == "file"
    assert node.value("keys", "host.pub") == keyscan(node)
    assert node.read("keys", "identity.pub") == "\n"
    assert node.ls("keys", "devices") == ["1.pub", "1.pub.fp"]
    assert node.read("keys", "devices", "1.pub") == "\n"
    assert node.read("node").splitlines()[0] == \
        "id " + fingerprint(file_host_key(node))

    # Nothing polls a daemon that was never named.
    time.sleep(2.5)
    assert "keys state=unavailable host_key=file" in node.log()
    assert "keys state=" not in node.log().split("host_key=file", 1)[1]


def test_secretd_not_there(harness):
    """A socket nobody answers on: the node starts on its file key."""
    node = harness.start_node(
        args=["--secretd", str(harness.dir / "nobody.sock")])
    assert node.value("keys", "status") == "unavailable"
    assert node.value("keys", "host_key") == "file"
    assert node.ls("keys", "devices") == [f"{n}.pub{s}" for n in range(1, 5)
                                          for s in ("", ".fp")]


def test_secretd_that_never_answers(harness):
    """A socket that takes the connection and says nothing: the node
    starts on its file key, well within the harness's wait."""
    path = harness.dir / "silent.sock"
    silent = socket.socket(socket.AF_UNIX)
    silent.bind(str(path))
    silent.listen(16)
    harness.reserved.append(silent)

    node = harness.start_node(args=["--secretd", str(path)])
    assert node.value("keys", "status") == "unavailable"
    assert node.value("keys", "host_key") == "file"
    assert node.value("keys", "host.pub") == keyscan(node)


def test_bad_device_count(harness):
    status, out = harness.run_failing_daemon(["--device-keys", "65",
                                              "--no-mount"])
    assert status != 0
    assert "--device-keys 65: not a whole number from 0 to 64" in out
