"""The alknet command line, offline commands: keys made by one tool are
read by the other (ssh-keygen), tokens are checked with an independent
Ed25519 implementation (the cryptography package), and bad input ends
with a message naming the problem.  No output ever holds key material.
"""

import base64
import hashlib
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey)

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("ALKNET_BUILD") or REPO / "build")
ALKNET = str(BUILD / "fs" / "alknet")


class Cli:
    """Runs alknet and ssh-keygen in one directory and checks that
    nothing they print contains a secret of the keys made there."""

    def __init__(self, root):
        self.root = root
        self.outputs = []

    def path(self, name):
        return str(self.root / name)

    def run(self, *args, tool=ALKNET):
        proc = subprocess.run([tool, *args], capture_output=True,
                              text=True, cwd=self.root, timeout=60)
        self.outputs.append(proc.stdout + proc.stderr)
        return proc

    def ok(self, *args, tool=ALKNET):
        proc = self.run(*args, tool=tool)
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == "", proc.stderr
        return proc.stdout

    def fails(self, *args):
        proc = self.run(*args)
        assert proc.returncode == 1, (proc.stdout, proc.stderr)
        assert proc.stdout == ""
        assert proc.stderr.startswith("alknet: error: "), proc.stderr
        assert proc.stderr.count("\n") == 1, proc.stderr
        return proc.stderr

    def ssh_keygen(self, name, *args):
        self.ok("-q", "-N", "", "-C", name, "-f", self.path(name), *args,
                tool="ssh-keygen")
        return self.path(name)

    def secrets(self):
        """Every private key here, as text lines and as raw seeds."""
        found = []
        for f in self.root.iterdir():
            data = f.read_bytes()
            if b"PRIVATE KEY" not in data:
                continue
            found += [line for line in data.decode().splitlines()
                      if "-----" not in line and len(line) > 16]
            try:
                key = serialization.load_ssh_private_key(data, None)
            except (ValueError, TypeError):
                continue
            if isinstance(key, Ed25519PrivateKey):
                seed = private_raw(key)
                found += [seed.hex(), base64.b64encode(seed).decode()[:40],
                          base64.urlsafe_b64encode(seed).decode()[:40]]
        return found


@pytest.fixture
def cli(tmp_path):
    c = Cli(tmp_path)
    yield c
    secrets = c.secrets()
    for out in c.outputs:
        for secret in secrets:
            assert secret not in out, "key material in the output"


def private_raw(key):
    return key.private_bytes(serialization.Encoding.Raw,
                             serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())


def public_raw(pub_line):
    """The 32 key bytes of an "ssh-ed25519 BASE64 ..." line."""
    blob = base64.b64decode(pub_line.split()[1])
    assert blob[:15] == b"\0\0\0\x0bssh-ed25519"
    assert blob[15:19] == b"\0\0\0\x20"
    assert len(blob) == 19 + 32
    return blob[19:]


def fingerprints_by_ssh_keygen(cli, path):
    """The second field of each line ssh-keygen -lf prints."""
    return [line.split()[1]
            for line in cli.ok("-lf", path, tool="ssh-keygen").splitlines()]


def decode_token(token):
    assert len(token) == 139
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "abcdefghijklmnopqrstuvwxyz0123456789-_")
    raw = base64.urlsafe_b64decode(token + "=")
    assert len(raw) == 104
    return raw[:32], int.from_bytes(raw[32:40], "big"), raw[40:], raw


def test_keygen_is_read_by_ssh_keygen(cli):
    key = cli.path("id")
    printed = cli.ok("keygen", key).strip()

    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    pub = Path(key + ".pub").read_text()
    assert pub.endswith("\n") and pub.count("\n") == 1
    assert pub.split()[0] == "ssh-ed25519"

    # ssh-keygen reads the private key and derives the same public key.
    derived = cli.ok("-y", "-f", key, tool="ssh-keygen")
    assert derived.split()[:2] == pub.split()[:2]

    # One fingerprint, whichever file and whichever tool.
    want = fingerprints_by_ssh_keygen(cli, key + ".pub")
    assert len(want) == 1 and want[0].startswith("SHA256:")
    assert printed == want[0]
    assert cli.ok("fingerprint", key + ".pub").splitlines() == want
    assert cli.ok("fingerprint", key).splitlines() == want

    # The private key is the one the public file names.
    priv = serialization.load_ssh_private_key(Path(key).read_bytes(), None)
    raw = priv.public_key().public_bytes(serialization.Encoding.Raw,
                                         serialization.PublicFormat.Raw)
    assert raw == public_raw(pub)


def test_keygen_makes_a_new_key_each_time(cli):
    cli.ok("keygen", cli.path("a"))
    cli.ok("keygen", cli.path("b"))

    assert Path(cli.path("a.pub")).read_text().split()[1] != \
        Path(cli.path("b.pub")).read_text().split()[1]


def test_keygen_refuses_to_overwrite(cli):
    key = cli.path("id")
    cli.ok("keygen", key)
    before = Path(key).read_bytes(), Path(key + ".pub").read_bytes()

    err = cli.fails("keygen", key)

    assert key in err and "overwrit" in err
    assert (Path(key).read_bytes(), Path(key + ".pub").read_bytes()) == \
        before

    # A lone FILE.pub also stops it, before FILE is made.
    other = cli.path("other")
    Path(other + ".pub").write_text("ssh-ed25519 AAAA mine\n")
    err = cli.fails("keygen", other)
    assert other + ".pub" in err
    assert not os.path.exists(other)
    assert Path(other + ".pub").read_text() == "ssh-ed25519 AAAA mine\n"


def test_token_of_an_ssh_keygen_key(cli):
    key = cli.ssh_keygen("id", "-t", "ed25519")
    pk = public_raw(Path(key + ".pub").read_text())
    when = 1700000000

    token = cli.ok("token", key, "--time", str(when))

    assert token.endswith("\n") and token.count("\n") == 1
    key_id, ts, sig, raw = decode_token(token.strip())
    assert key_id == hashlib.sha256(pk).digest()
    assert ts == when
    serialization.load_ssh_public_key(
        Path(key + ".pub").read_bytes()).verify(sig, raw[:40])

    # Ed25519 is deterministic: the whole token is fixed by key and time.
    priv = serialization.load_ssh_private_key(Path(key).read_bytes(), None)
    want = key_id + when.to_bytes(8, "big")
    want = base64.urlsafe_b64encode(want + priv.sign(want)).rstrip(b"=")
    assert token.strip() == want.decode()


def test_token_is_for_now_by_default(cli):
    key = cli.ssh_keygen("id", "-t", "ed25519")

    before = int(time.time())
    token = cli.ok("token", key).strip()
    after = int(time.time())

    _, ts, _, _ = decode_token(token)
    assert before <= ts <= after


def test_token_flag_may_come_first(cli):
    key = cli.ssh_keygen("id", "-t", "ed25519")

    assert cli.ok("token", "--time", "5", key) == \
        cli.ok("token", key, "--time=5")
    _, ts, _, _ = decode_token(cli.ok("token", key, "--time", "5").strip())
    assert ts == 5


def test_fingerprint_of_authorized_keys(cli):
    keys = [cli.ssh_keygen("ed", "-t", "ed25519"),
            cli.ssh_keygen("rsa", "-t", "rsa", "-b", "2048"),
            cli.ssh_keygen("ecdsa", "-t", "ecdsa")]
    lines = [Path(k + ".pub").read_text().strip() for k in keys]
    Path(cli.path("authorized_keys")).write_text(
        "# peers\n\n"
        f"{lines[0]}\n"
        f'command="date",no-pty {lines[1]}\n'
        f"  {lines[2].rsplit(' ', 1)[0]}\n")

    got = cli.ok("fingerprint", cli.path("authorized_keys")).splitlines()

    want = fingerprints_by_ssh_keygen(cli, cli.path("authorized_keys"))
    assert len(want) == 3
    assert got == want
    for k, fp in zip(keys, want):
        assert cli.ok("fingerprint", k + ".pub").strip() == fp


def test_fingerprint_notes_lines_it_skipped(cli):
    key = cli.ssh_keygen("id", "-t", "ed25519")
    line = Path(key + ".pub").read_text()
    Path(cli.path("ak")).write_text(line + "ssh-ed25519 notbase64\n")

    proc = cli.run("fingerprint", cli.path("ak"))

    assert proc.returncode == 0
    assert proc.stdout.splitlines() == fingerprints_by_ssh_keygen(
        cli, key + ".pub")
    assert proc.stderr.startswith("alknet: 1 line of ")
    assert cli.path("ak") in proc.stderr


def write_pem_ed25519(path):
    key = Ed25519PrivateKey.generate()
    Path(path).write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    os.chmod(path, 0o600)


@pytest.mark.parametrize("command", ["token", "fingerprint"])
def test_refused_private_keys(cli, command):
    missing = cli.path("missing")
    assert "No such file" in cli.fails(command, missing)
    assert missing in cli.fails(command, missing)

    pem = cli.path("pem")
    write_pem_ed25519(pem)
    err = cli.fails(command, pem)
    assert pem in err and "PEM" in err

    rsa = cli.ssh_keygen("rsa", "-t", "rsa", "-b", "2048")
    err = cli.fails(command, rsa)
    assert rsa in err and "ssh-rsa" in err and "not Ed25519" in err

    locked = cli.path("locked")
    cli.ok("-q", "-t", "ed25519", "-N", "a passphrase", "-f", locked,
           tool="ssh-keygen")
    err = cli.fails(command, locked)
    assert locked in err and "passphrase" in err


def test_fingerprint_of_a_file_without_keys(cli):
    junk = cli.path("junk")
    Path(junk).write_text("# nothing\nhello world\n")

    err = cli.fails("fingerprint", junk)

    assert junk in err and "no public key" in err


@pytest.mark.parametrize("args, names", [
    ([], "no command"),
    (["frobnicate"], "unknown command frobnicate"),
    (["--frobnicate"], "unknown option --frobnicate"),
    (["token"], "missing argument"),
    (["token", "KEY", "--bogus"], "unknown option --bogus"),
    (["token", "KEY", "-x"], "unknown option -x"),
    (["token", "KEY", "--time"], "--time needs a value"),
    (["token", "KEY", "--time", "soon"], "bad --time soon"),
    (["token", "KEY", "--time", "-1"], "bad --time -1"),
    (["token", "KEY", "--time", "99999999999999999999"],
     "bad --time 99999999999999999999"),
    (["token", "KEY", "KEY"], "unexpected argument KEY"),
    (["fingerprint", "KEY", "--time", "5"], "unknown option --time"),
    (["keygen"], "missing argument"),
    (["keygen", "--help=yes"], "--help=yes takes no value"),
])
def test_bad_command_lines(cli, args, names):
    cli.ssh_keygen("KEY", "-t", "ed25519")

    err = cli.fails(*args)

    assert names in err


def test_help_and_version(cli):
    out = cli.ok("--help")
    for name in ("token", "fingerprint", "keygen"):
        assert f"  {name} " in out
    assert cli.ok("-h") == out
    assert cli.ok("--version").startswith("alknet ")
    assert cli.ok("token", "--help").startswith(
        "usage: alknet token KEYFILE [--time UNIX]\n")
    assert not os.path.exists(cli.path("--help"))
