"""Tokens minted by `alknet token` speak for the same identity as an SSH
login with the key, within five minutes, and for nothing else."""

import errno
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, wait_for

BUILD = Path(os.environ.get("ALKNET_BUILD") or REPO / "build")
ALKNET = BUILD / "fs" / "alknet"


def mint(key, when=None):
    argv = [str(ALKNET), "token", key.path]
    if when is not None:
        argv += ["--time", str(when)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def whose(node, token):
    err, reply = node.ctl(f"token {token}")
    return err, reply.strip()


@pytest.fixture
def node(harness):
    return harness.start_node()


def test_token_is_the_ssh_identity(harness, node):
    token = mint(harness.key)
    err, reply = whose(node, token)
    assert err == 0, reply
    assert reply.startswith(f"ok identity={harness.key.fingerprint} ")
    assert reply.endswith(" scopes=relay:connect")

    # The same identity a login with the key gets.
    fwd = harness.forward(node, "-D")
    wait_for(lambda: node.ls("sessions"), "the session")
    session = node.ls("sessions")[0]
    assert node.value("sessions", session, "identity") == \
        harness.key.fingerprint
    fwd.stop()

    # Tokens are secrets: never written to the log.
    assert token not in node.log()
    assert token[:40] not in node.log()


def test_five_minutes_either_way(harness, node):
    now = int(time.time())

    for offset in (-299, 0, 240):
        err, reply = whose(node, mint(harness.key, now + offset))
        assert err == 0, (offset, reply)
    for offset in (-301, 360):
        err, reply = whose(node, mint(harness.key, now + offset))
        assert err == errno.EACCES, (offset, reply)
        assert reply == "error: out of its time window"


def test_tampered_or_foreign_tokens(harness, node):
    token = mint(harness.key)

    # A changed character in the signature part.
    i = len(token) - 10
    bad = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]
    err, reply = whose(node, bad)
    assert err == errno.EACCES
    assert reply == "error: bad signature"

    stranger = harness.make_key()
    err, reply = whose(node, mint(stranger))
    assert err == errno.EACCES
    assert reply == "error: no identity holds its key"

    for junk in (token + "A", token[:-1], token.replace("-", "+"), "x"):
        if junk == token:
            continue
        err, reply = whose(node, junk)
        assert err == errno.EINVAL, junk
        assert reply == "error: not a token"


def test_token_keys_sign_tokens_but_do_not_log_in(harness, node):
    signer = harness.make_key()
    kind, blob = signer.line().split()
    err, reply = node.ctl(f"identity add robot {kind} {blob} "
                          f"kind=token-key scopes=ops")
    assert err == 0, reply

    err, reply = whose(node, mint(signer))
    assert err == 0, reply
    assert reply == (f"ok identity={signer.fingerprint} name=robot "
                     f"scopes=ops")

    out = harness.ssh_run(node, signer, options=("-N",), timeout=20)
    assert out.returncode == 255
    assert "Permission denied" in out.stderr

    # Only an Ed25519 key can sign a token.
    rsa = harness.dir / "rsa_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "1024", "-N", "",
                    "-f", str(rsa)], check=True)
    kind, blob = rsa.with_suffix(".pub").read_text().split()[:2]
    err, reply = node.ctl(f"identity add rsa {kind} {blob} kind=token-key")
    assert (err, reply) == (errno.EINVAL, "error: a token key must be an "
                            "ssh-ed25519 key\n")
    assert "rsa" not in node.ls("identities")
