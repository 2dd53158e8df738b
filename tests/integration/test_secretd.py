"""alknet-secretd and the alknet commands that talk to it.

A few lines of Python speak the wire format (a 4-byte big-endian length,
then the JSON envelope) to a daemon on a socket in a temporary
directory.  Keys are checked against independent implementations: the
seed and SLIP-0010 derivation are recomputed here with hashlib and hmac,
public keys and signatures with the cryptography package, the host key
with ssh-keygen, envelopes with cryptography's AESGCM.  After each test
the daemon's log, environment and command line are searched for every
secret it was given.
"""

import base64
import hashlib
import hmac
import json
import os
import pty
import re
import select
import signal
import socket
import stat
import struct
import subprocess
import tempfile
import time
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey, Ed25519PublicKey)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives import serialization

from conftest import REPO, SANITIZER_REPORT, WAIT, wait_for

BUILD = Path(os.environ.get("ALKNET_BUILD") or REPO / "build")
SECRETD = str(BUILD / "secretd" / "alknet-secretd")
ALKNET = str(BUILD / "fs" / "alknet")

MNEMONIC = " ".join(["abandon"] * 11 + ["about"])
PASSPHRASE = "TREZOR"
SEED_HEX = ("c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e5349553"
            "1f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04")

IDENTITY = "m/74'/0'/0'/0'"
HOST = "m/74'/0'/1'/0'"
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root to run as another uid")


# Independent derivations.

def bip39_seed(mnemonic, passphrase=""):
    return hashlib.pbkdf2_hmac("sha512", mnemonic.encode(),
                               ("mnemonic" + passphrase).encode(), 2048)


def slip10(seed, path):
    """The SLIP-0010 Ed25519 private key at path (hardened only)."""
    i = hmac.new(b"ed25519 seed", seed, hashlib.sha512).digest()
    key, chain = i[:32], i[32:]
    for part in path.split("/")[1:]:
        index = int(part.rstrip("'h")) + 0x80000000
        i = hmac.new(chain, b"\0" + key + struct.pack(">I", index),
                     hashlib.sha512).digest()
        key, chain = i[:32], i[32:]
    return key


def raw_public(private):
    return Ed25519PrivateKey.from_private_bytes(private).public_key() \
        .public_bytes(serialization.Encoding.Raw,
                      serialization.PublicFormat.Raw)


def ssh_line(public):
    blob = (struct.pack(">I", 11) + b"ssh-ed25519" +
            struct.pack(">I", 32) + public)
    return "ssh-ed25519 " + base64.b64encode(blob).decode()


# The wire format.

def frame(obj):
    body = json.dumps(obj).encode()
    return struct.pack(">I", len(body)) + body


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def read_frame(sock):
    head = read_exact(sock, 4)
    if head is None:
        return None
    body = read_exact(sock, struct.unpack(">I", head)[0])
    assert body is not None, "connection closed inside a frame"
    return json.loads(body)


def closed(sock):
    """True if the daemon closes sock without sending anything more."""
    sock.settimeout(WAIT)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


class Failed(Exception):
    def __init__(self, payload):
        super().__init__(f"{payload['code']}: {payload['message']}")
        self.code = payload["code"]
        self.message = payload["message"]


class Daemon:
    def __init__(self, root, args=(), prefix=()):
        self.root = root
        self.socket = str(root / "secretd.sock")
        self.log_path = root / "secretd.log"
        self.ids = 0
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [*prefix, SECRETD, "--socket", self.socket, *args],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        self.pid = self.proc.pid
        wait_for(lambda: self.proc.poll() is not None or
                 re.search(r"^alknet-secretd: ready pid=\d+$", self.log(),
                           re.M),
                 "alknet-secretd to start")
        assert self.proc.poll() is None, self.log()

    def log(self):
        return self.log_path.read_text(errors="replace")

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(WAIT)
        sock.connect(self.socket)
        return sock

    def request(self, sock, op, inp=None):
        self.ids += 1
        rid = f"r{self.ids}"
        payload = {"operationId": op}
        if inp is not None:
            payload["input"] = inp
        sock.sendall(frame({"type": "call.requested", "id": rid,
                            "payload": payload}))
        return rid

    def call(self, op, inp=None):
        """The output of op, or Failed with the daemon's error."""
        with self.connect() as sock:
            rid = self.request(sock, op, inp)
            reply = read_frame(sock)
        assert reply is not None, "connection closed without an answer"
        assert reply["id"] == rid, reply
        if reply["type"] == "call.error":
            assert set(reply["payload"]) == {"code", "message",
                                             "retryable"}
            raise Failed(reply["payload"])
        assert reply["type"] == "call.responded", reply
        return reply["payload"]["output"]

    def fails(self, op, inp=None, code="INVALID_INPUT"):
        with pytest.raises(Failed) as info:
            self.call(op, inp)
        assert info.value.code == code, info.value
        return info.value.message

    def alive(self):
        """Still answering: the test of 'keeps serving'."""
        assert self.call("status")["state"] in ("locked", "unlocked")

    def cli(self, *args, fd_text=None):
        """Runs alknet against this daemon; fd_text comes in on --fd."""
        argv = [ALKNET, *args, "--socket", self.socket]
        fds = ()
        if fd_text is not None:
            r, w = os.pipe()
            os.write(w, fd_text.encode())
            os.close(w)
            argv += ["--fd", str(r)]
            fds = (r,)
        try:
            return subprocess.run(argv, stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True,
                                  timeout=WAIT, pass_fds=fds)
        finally:
            for fd in fds:
                os.close(fd)

    def unlock(self, mnemonic=MNEMONIC, passphrase=PASSPHRASE):
        proc = self.cli("unlock", fd_text=f"{mnemonic}\n{passphrase}\n")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == "unlocked\n"
        assert proc.stderr == ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("alknet-secretd ignored SIGTERM")


class Env:
    """A temporary directory, the daemons started in it, and the secrets
    that must never show up in what they leave readable."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="alknet-secretd-",
                                          dir="/tmp"))
        self.daemons = []
        self.secrets = {}

    def start(self, *args, prefix=(), root=None):
        d = Daemon(root or self.root, args, prefix)
        self.daemons.append(d)
        return d

    def keep_secret(self, name, value):
        self.secrets[name] = value

    def leaks(self, d):
        """Every (place, secret) where a secret shows up."""
        places = {"log": d.log_path.read_bytes()}
        for name in ("environ", "cmdline"):
            try:
                places[name] = Path(f"/proc/{d.pid}/{name}").read_bytes()
            except (FileNotFoundError, ProcessLookupError):
                pass
        found = []
        for where, data in places.items():
            for what, secret in self.secrets.items():
                if secret.encode() in data:
                    found.append((where, what))
        return found

    def cleanup(self):
        problems = []
        for d in self.daemons:
            problems += [f"{what} in the daemon's {where}"
                         for where, what in self.leaks(d)]
            try:
                status = d.stop()
                if status != 0:
                    problems.append(f"alknet-secretd exited {status}")
            except AssertionError as e:
                problems.append(str(e))
            if SANITIZER_REPORT.search(d.log()):
                problems.append("sanitizer report:\n" + d.log())
        shutil.rmtree(self.root, ignore_errors=True)
        return problems


def plant_known_secrets(env, mnemonic=MNEMONIC, passphrase=PASSPHRASE):
    """Adds what a daemon unlocked with mnemonic and passphrase must never
    show.  Single words are searched for only in the fixed test phrase:
    a random one may hold a word that a log line uses ("only", "lock"),
    so there adjacent pairs stand for the words."""
    seed = bip39_seed(mnemonic, passphrase)
    identity = slip10(seed, IDENTITY)
    words = mnemonic.split()
    env.keep_secret("the mnemonic", mnemonic)
    if mnemonic == MNEMONIC:
        env.keep_secret("a mnemonic word", "abandon")
        env.keep_secret("the last mnemonic word", "about")
    for i in range(len(words) - 1):
        env.keep_secret(f"mnemonic words {i}-{i + 1}",
                        f"{words[i]} {words[i + 1]}")
    if passphrase:
        env.keep_secret("the passphrase", passphrase)
    env.keep_secret("the seed (hex)", seed.hex())
    env.keep_secret("the seed (base64)", base64.b64encode(seed).decode())
    env.keep_secret("the identity key (hex)", identity.hex())
    env.keep_secret("the identity key (base64)",
                    base64.b64encode(identity).decode().rstrip("="))
    return seed


@pytest.fixture
def env():
    for program in (SECRETD, ALKNET):
        if not os.access(program, os.X_OK):
            pytest.fail(f"no {program} (build it, or set ALKNET_BUILD)",
                        pytrace=False)
    e = Env()
    try:
        yield e
    finally:
        problems = e.cleanup()
    if problems:
        pytest.fail("teardown: " + "\n".join(problems), pytrace=False)


@pytest.fixture
def daemon(env):
    return env.start()


@pytest.fixture
def unlocked(env, daemon):
    """A daemon unlocked with the Trezor test mnemonic, through alknet."""
    plant_known_secrets(env)
    daemon.unlock()
    return daemon


# Locked and unlocked.

def test_starts_locked_and_refuses_key_operations(daemon):
    assert daemon.call("status") == {"state": "locked"}
    assert daemon.cli("status").stdout == "locked\n"
    for op, inp in (("public", {"path": IDENTITY}),
                    ("sign", {"path": IDENTITY, "data": ""}),
                    ("encrypt", {"plaintext": "x"}),
                    ("decrypt", {"envelope": {}}),
                    ("rotate", {"envelope": {}, "to": 3}),
                    ("hostkey", None)):
        assert daemon.fails(op, inp, code="LOCKED") == "locked: unlock first"
    assert stat.S_IMODE(os.stat(daemon.socket).st_mode) == 0o600


def test_unlock_through_the_cli(env, daemon):
    plant_known_secrets(env)
    # Blanks and capitals as a person may type them.
    proc = daemon.cli("unlock", fd_text="  Abandon " + MNEMONIC[8:]
                      .replace(" ", "  \t") + "  \r\nTREZOR\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "unlocked\n"
    assert daemon.call("status") == {"state": "unlocked"}
    assert daemon.cli("status").stdout == "unlocked\n"
    assert re.search(r"^alknet-secretd: unlocked$", daemon.log(), re.M)

    # The keys are those of the mnemonic and passphrase given.
    seed = bytes.fromhex(SEED_HEX)
    assert daemon.call("public", {"path": IDENTITY})["key"] == \
        ssh_line(raw_public(slip10(seed, IDENTITY)))


def read_until(fd, text, seen):
    """Reads the terminal's output into seen until it ends in text."""
    while not seen.decode(errors="replace").endswith(text):
        ready, _, _ = select.select([fd], [], [], WAIT)
        assert ready, f"no {text!r} on the terminal; saw {seen!r}"
        try:
            chunk = os.read(fd, 1024)
        except OSError:     # EIO: the other side has gone
            chunk = b""
        assert chunk, f"terminal closed before {text!r}; saw {seen!r}"
        seen += chunk
    return seen


def test_unlock_from_the_terminal_without_echo(env, daemon):
    plant_known_secrets(env)
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(ALKNET, [ALKNET, "unlock", "--socket", daemon.socket])
    try:
        seen = read_until(fd, "mnemonic: ", b"")
        os.write(fd, MNEMONIC.encode() + b"\n")
        seen = read_until(fd, "passphrase (empty for none): ", seen)
        os.write(fd, PASSPHRASE.encode() + b"\n")
        seen = read_until(fd, "unlocked\r\n", seen)
    finally:
        # A failed read above must not leave the child waiting on input.
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == 0:
            time.sleep(1)
            done, status = os.waitpid(pid, os.WNOHANG)
        if done == 0:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    # What was typed never appeared on the terminal.
    assert b"abandon" not in seen and PASSPHRASE.encode() not in seen
    assert daemon.call("status") == {"state": "unlocked"}
    seed = bytes.fromhex(SEED_HEX)
    assert daemon.call("public", {"path": IDENTITY})["key"] == \
        ssh_line(raw_public(slip10(seed, IDENTITY)))


def test_unlock_without_passphrase_gives_other_keys(env, daemon):
    plant_known_secrets(env, passphrase="")
    proc = daemon.cli("unlock", fd_text=MNEMONIC + "\n")
    assert proc.returncode == 0, proc.stderr
    seed = bip39_seed(MNEMONIC)
    key = daemon.call("public", {"path": IDENTITY})["key"]
    assert key == ssh_line(raw_public(slip10(seed, IDENTITY)))
    assert key != ssh_line(raw_public(slip10(bytes.fromhex(SEED_HEX),
                                             IDENTITY)))


def test_second_unlock_refused_and_lock(unlocked):
    before = unlocked.call("public", {"path": IDENTITY})
    proc = unlocked.cli("unlock", fd_text=MNEMONIC + "\n\n")
    assert proc.returncode == 1
    assert proc.stderr == "alknet: error: already unlocked; lock first\n"
    assert unlocked.fails("generate", {"words": 12}) == \
        "already unlocked; lock first"
    assert unlocked.call("public", {"path": IDENTITY}) == before

    proc = unlocked.cli("lock")
    assert (proc.returncode, proc.stdout) == (0, "locked\n")
    assert re.search(r"^alknet-secretd: locked$", unlocked.log(), re.M)
    assert unlocked.fails("public", {"path": IDENTITY}, "LOCKED")
    assert unlocked.call("lock") == {"state": "locked"}  # a no-op

    # The same words unlock the same keys again.
    unlocked.unlock()
    assert unlocked.call("public", {"path": IDENTITY}) == before


def test_generate(env, daemon):
    proc = daemon.cli("generate", "--words", "12", fd_text="a phrase\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    words = proc.stdout.strip()
    assert re.fullmatch(r"[a-z]+( [a-z]+){11}", words), words
    plant_known_secrets(env, words, "a phrase")

    seed = bip39_seed(words, "a phrase")
    assert daemon.call("public", {"path": IDENTITY})["key"] == \
        ssh_line(raw_public(slip10(seed, IDENTITY)))

    # The generated words are a valid mnemonic: they unlock again.
    daemon.call("lock")
    daemon.unlock(words, "a phrase")
    assert daemon.call("public", {"path": IDENTITY})["key"] == \
        ssh_line(raw_public(slip10(seed, IDENTITY)))

    daemon.call("lock")
    out = daemon.call("generate", {"words": 24})["mnemonic"]
    assert len(out.split()) == 24 and out != words
    daemon.call("lock")
    for n in (11, 13, 25, 0):
        assert daemon.fails("generate", {"words": n}) == \
            "words must be 12, 15, 18, 21 or 24"
    proc = daemon.cli("generate", "--words", "13", fd_text="\n")
    assert proc.returncode == 1
    assert "want 12, 15, 18, 21 or 24" in proc.stderr
    assert daemon.call("status") == {"state": "locked"}


# Keys, signatures and envelopes.

def test_hostkey_matches_public_and_ssh_keygen(env, unlocked):
    pub = unlocked.call("public", {"path": HOST})
    pem = unlocked.call("hostkey")["private_key"]
    assert pem.startswith("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    key = env.root / "host_key"
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, pem.encode())
    os.close(fd)

    out = subprocess.run(["ssh-keygen", "-y", "-f", str(key)], check=True,
                         capture_output=True, text=True).stdout
    assert out.split()[:2] == pub["key"].split()
    out = subprocess.run(["ssh-keygen", "-lf", str(key)], check=True,
                         capture_output=True, text=True).stdout
    assert out.split()[1] == pub["fingerprint"]

    seed = bytes.fromhex(SEED_HEX)
    assert pub["key"] == ssh_line(raw_public(slip10(seed, HOST)))
    assert pub["key"] != unlocked.call("public", {"path": IDENTITY})["key"]
    # ' and h mark the same hardened index.
    assert unlocked.call("public", {"path": "m/74h/0h/1h/0h"}) == pub


def test_sign_verifies(unlocked):
    data = os.urandom(200)
    sig = base64.b64decode(unlocked.call(
        "sign", {"path": IDENTITY,
                 "data": base64.b64encode(data).decode()})["signature"])
    line = unlocked.call("public", {"path": IDENTITY})["key"]
    pub = Ed25519PublicKey.from_public_bytes(
        base64.b64decode(line.split()[1])[-32:])
    pub.verify(sig, data)
    with pytest.raises(Exception):
        pub.verify(sig, data + b"x")

    # Another path signs with another key.
    other = base64.b64decode(unlocked.call(
        "sign", {"path": "m/74'/0'/0'/1'",
                 "data": base64.b64encode(data).decode()})["signature"])
    with pytest.raises(Exception):
        pub.verify(other, data)


def test_encrypt_decrypt_rotate(unlocked):
    seed = bytes.fromhex(SEED_HEX)
    for text in ("", "plain ascii", "h\u00e9llo w\u00f6rld \u2713 \u6f22"):
        env = unlocked.call("encrypt", {"plaintext": text})
        assert set(env) == {"key_version", "salt", "iv", "data"}
        assert env["key_version"] == 2
        assert len(base64.b64decode(env["iv"])) == 12
        assert len(base64.b64decode(env["salt"])) == 32
        assert unlocked.call("decrypt", {"envelope": env}) == \
            {"plaintext": text}
        # Another AES-GCM, with the key derived here, agrees.
        key = slip10(seed, "m/74'/2'/0'/0'")
        assert AESGCM(key).decrypt(base64.b64decode(env["iv"]),
                                   base64.b64decode(env["data"]),
                                   None).decode() == text

    a = unlocked.call("encrypt", {"plaintext": "same"})
    b = unlocked.call("encrypt", {"plaintext": "same"})
    assert a["iv"] != b["iv"]

    v3 = unlocked.call("rotate", {"envelope": a, "to": 3})
    assert v3["key_version"] == 3
    assert unlocked.call("decrypt", {"envelope": v3}) == {"plaintext": "same"}
    v5 = unlocked.call("encrypt", {"plaintext": "five", "key_version": 5})
    assert unlocked.call("decrypt", {"envelope": v5}) == {"plaintext": "five"}

    # Megabytes arrive in many reads and leave in one answer.
    big = "\u00e9" * (3 << 20)
    env = unlocked.call("encrypt", {"plaintext": big})
    assert unlocked.call("decrypt", {"envelope": env}) == {"plaintext": big}


def test_tampered_envelopes_give_one_error(unlocked):
    env = unlocked.call("encrypt", {"plaintext": "secret text"})
    data = base64.b64decode(env["data"])
    iv = base64.b64decode(env["iv"])
    flipped = bytes([data[0] ^ 1]) + data[1:]
    bad = [
        {**env, "data": base64.b64encode(flipped).decode()},
        {**env, "data": base64.b64encode(data[:-1]).decode()},
        {**env, "data": base64.b64encode(data[:-16]).decode()},
        {**env, "iv": base64.b64encode(bytes([iv[0] ^ 1]) + iv[1:])
         .decode()},
        {**env, "key_version": 3},
        {**env, "key_version": 1},
        {**env, "data": "not base64!"},
        {k: v for k, v in env.items() if k != "iv"},
        {},
    ]
    for blob in bad:
        assert unlocked.fails("decrypt", {"envelope": blob}) == \
            "the envelope does not decrypt"
        assert unlocked.fails("rotate", {"envelope": blob, "to": 3}) == \
            "the envelope does not decrypt"
    unlocked.alive()


# Bad input: a clear error, and the daemon serves on.

def test_bad_mnemonics(daemon):
    cases = [
        (" ".join(["abandon"] * 12), "the BIP39 checksum does not match"),
        (" ".join(["abandon"] * 11 + ["zzzz"]),
         "a word is not in the BIP39 English list"),
        (" ".join(["abandon"] * 11), "a BIP39 mnemonic is 12, 15, 18, 21 "
         "or 24 words separated by single spaces"),
    ]
    for words, message in cases:
        assert daemon.fails("unlock", {"mnemonic": words}) == message
        proc = daemon.cli("unlock", fd_text=words + "\nphrase\n")
        assert proc.returncode == 1
        assert proc.stderr == f"alknet: error: {message}\n"
        assert "abandon" not in proc.stderr
        daemon.alive()
    assert daemon.call("status") == {"state": "locked"}
    assert "abandon" not in daemon.log()
    assert "zzzz" not in daemon.log()

    assert daemon.fails("unlock", {"mnemonic": MNEMONIC,
                                   "passphase": "x"}) == \
        "unexpected member passphase"
    assert daemon.fails("unlock", {"mnemonic": 12}) == \
        "mnemonic must be a string"
    assert daemon.fails("unlock", {"mnemonic": ["abandon"]}) == \
        "mnemonic must be a string"
    assert daemon.fails("unlock", {}) == "missing mnemonic"
    assert daemon.fails("unlock", [MNEMONIC]) == "input must be an object"
    assert daemon.call("status") == {"state": "locked"}


def test_bad_paths_and_data(unlocked):
    cases = [
        ("74'/0'/0'/0'", "path must be m/"),
        ("m/74/0'/0'/0'", "path must be m/"),
        ("m/74'/0'/0'/x'", "path must be m/"),
        ("m/2147483648'", "path must be m/"),
        ("m" + "/1'" * 17, "path is deeper than 16 levels"),
    ]
    for path, message in cases:
        assert unlocked.fails("public", {"path": path}).startswith(message)
        assert unlocked.fails("sign", {"path": path, "data": ""}) \
            .startswith(message)
    assert unlocked.fails("sign", {"path": IDENTITY, "data": "a*b="}) == \
        "data must be standard base64"
    assert unlocked.fails("public", {"path": 5}) == "path must be a string"
    assert unlocked.fails("encrypt", {"plaintext": "x", "key_version": 1}) \
        == "key_version must be from 2 to 2147483649"
    assert unlocked.fails("rotate", {"envelope": {}, "to": 0}) == \
        "to must be from 2 to 2147483649"
    assert unlocked.fails("nosuch", None, "NOT_FOUND") == \
        "unknown operation nosuch"
    assert unlocked.call("/status") == {"state": "unlocked"}
    unlocked.alive()


def test_malformed_frames_close_only_that_connection(daemon):
    bystander = daemon.connect()
    cases = [
        struct.pack(">I", (64 << 20) + 1),            # over 64 MiB
        struct.pack(">I", 0xffffffff) + b"{",
        struct.pack(">I", 0),                         # empty
        struct.pack(">I", 9) + b"{garbage!",          # not JSON
        frame(["a list"]),
        frame({"type": "call.nothing", "id": "1", "payload": {}}),
        frame({"type": "call.responded", "id": "1", "payload": {}}),
        # JSON allows \u0000; the frame decoder does not.
        frame({"type": "call.requested", "id": "1",
               "payload": {"operationId": "unlock",
                           "input": {"mnemonic": "abandon\u0000"}}}),
    ]
    for data in cases:
        with daemon.connect() as sock:
            sock.sendall(data)
            assert closed(sock), data
        daemon.alive()

    # The connection opened before all that still works.
    rid = daemon.request(bystander, "status")
    assert read_frame(bystander)["id"] == rid
    bystander.close()

    # A payload without operationId is answered, not dropped.
    with daemon.connect() as sock:
        sock.sendall(frame({"type": "call.requested", "id": "x",
                            "payload": {"input": {}}}))
        reply = read_frame(sock)
        assert reply["type"] == "call.error" and reply["id"] == "x"
        assert reply["payload"]["code"] == "INVALID_INPUT"


def test_pipelined_calls_answered_in_order(daemon):
    with daemon.connect() as sock:
        data = b"".join(frame({"type": "call.requested", "id": str(i),
                               "payload": {"operationId": "status"}})
                        for i in range(50))
        # Split anywhere: one byte, then the rest in uneven pieces.
        sock.sendall(data[:1])
        for i in range(1, len(data), 37):
            sock.sendall(data[i:i + 37])
        ids = [read_frame(sock)["id"] for _ in range(50)]
    assert ids == [str(i) for i in range(50)]


# Who may call.

@needs_root
def test_other_uid_refused(env, daemon):
    # Mode 0600: another uid cannot even connect.
    os.chmod(daemon.root, 0o755)
    probe = ("import socket,sys;s=socket.socket(socket.AF_UNIX);"
             "s.connect(sys.argv[1])")
    proc = subprocess.run([*NOBODY, "/usr/bin/python3", "-c", probe,
                           daemon.socket], capture_output=True, text=True,
                          timeout=WAIT)
    assert proc.returncode != 0 and "PermissionError" in proc.stderr

    # Opened up by mistake, the peer check still refuses it.
    os.chmod(daemon.socket, 0o666)
    proc = subprocess.run([*NOBODY, ALKNET, "status", "--socket",
                           daemon.socket], capture_output=True, text=True,
                          timeout=WAIT)
    assert proc.returncode == 1
    assert proc.stderr == ("alknet: error: access denied: this uid may not "
                           "use alknet-secretd\n")
    assert re.search(r"^alknet-secretd: connection refused uid=65534$",
                     daemon.log(), re.M)
    daemon.alive()


@needs_root
def test_allowed_uid_list(env):
    os.chmod(env.root, 0o755)
    d = env.start("--allow-uid", "0,65534")
    os.chmod(d.socket, 0o666)
    proc = subprocess.run([*NOBODY, ALKNET, "status", "--socket", d.socket],
                          capture_output=True, text=True, timeout=WAIT)
    assert (proc.returncode, proc.stdout) == (0, "locked\n"), proc.stderr

    # Root is not let in when the list leaves it out.
    other = env.root / "other"
    other.mkdir()
    d2 = env.start("--allow-uid", "65534", root=other)
    proc = subprocess.run([ALKNET, "status", "--socket", d2.socket],
                          capture_output=True, text=True, timeout=WAIT)
    assert proc.returncode == 1 and "access denied" in proc.stderr


# The socket file.

def test_socket_file_handling(env, daemon):
    # A live daemon's socket is not taken over.
    proc = subprocess.run([SECRETD, "--socket", daemon.socket],
                          capture_output=True, text=True, timeout=WAIT)
    assert proc.returncode == 1
    assert "another alknet-secretd answers there" in proc.stderr
    daemon.alive()

    # A stale one (nobody listening) is replaced.
    stale = env.root / "stale"
    stale.mkdir()
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(stale / "secretd.sock"))
    s.close()
    d = env.start(root=stale)
    d.alive()

    # Any other file is left alone.
    plain = env.root / "plain"
    plain.mkdir()
    (plain / "secretd.sock").write_text("keep me")
    proc = subprocess.run([SECRETD, "--socket", str(plain / "secretd.sock")],
                          capture_output=True, text=True, timeout=WAIT)
    assert proc.returncode == 1 and "not a socket" in proc.stderr
    assert (plain / "secretd.sock").read_text() == "keep me"

    # A stopped daemon removes its socket.
    assert d.stop() == 0
    assert not (stale / "secretd.sock").exists()


def test_cli_refuses_secrets_elsewhere(daemon):
    proc = daemon.cli("unlock", MNEMONIC)
    assert proc.returncode == 1
    assert proc.stderr.startswith("alknet: error: alknet unlock takes no "
                                  "arguments")
    assert "abandon" not in proc.stderr
    # No terminal and no --fd: nothing to read from.
    proc = subprocess.run(["setsid", ALKNET, "unlock", "--socket",
                           daemon.socket], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=WAIT)
    assert proc.returncode == 1
    assert proc.stderr.startswith("alknet: error: no terminal to read from")
    proc = daemon.cli("unlock", "--fd", "99")
    assert proc.returncode == 1 and "--fd 99" in proc.stderr
    assert daemon.call("status") == {"state": "locked"}


# What nothing may show.

def test_no_secret_escapes(env, unlocked):
    # Use every key operation, so that any of them could leak.
    unlocked.call("public", {"path": IDENTITY})
    unlocked.call("sign", {"path": IDENTITY, "data": "aGk="})
    envl = unlocked.call("encrypt", {"plaintext": "x"})
    unlocked.call("decrypt", {"envelope": envl})
    unlocked.call("hostkey")
    unlocked.fails("unlock", {"mnemonic": MNEMONIC})
    unlocked.fails("unlock", {"mnemonic": MNEMONIC + " abandon"})

    assert env.secrets  # the search below is not vacuous
    assert unlocked.log().count("\n") >= 3
    assert env.leaks(unlocked) == []

    limits = Path(f"/proc/{unlocked.pid}/limits").read_text()
    assert re.search(r"^Max core file size\s+0\s+0\s", limits, re.M), limits


@needs_root
def test_not_dumpable(env):
    """A process that is not dumpable has its /proc files owned by root,
    whoever it runs as; a dumpable one run the same way does not."""
    os.chmod(env.root, 0o777)
    d = env.start(prefix=NOBODY)
    assert os.stat(f"/proc/{d.pid}").st_uid == 65534
    for name in ("status", "environ", "mem"):
        assert os.stat(f"/proc/{d.pid}/{name}").st_uid == 0, name

    sleeper = subprocess.Popen([*NOBODY, "sleep", "30"])
    try:
        wait_for(lambda: os.stat(f"/proc/{sleeper.pid}/status").st_uid ==
                 65534, "sleep to run as nobody")
    finally:
        sleeper.kill()
        sleeper.wait()
