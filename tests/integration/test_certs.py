"""OpenSSH user certificates: made by the real ssh-keygen -s, presented by
the real ssh client, each accepted or refused by the head's own checks."""

import base64
import re
import subprocess
from pathlib import Path

import paramiko
import pytest

from conftest import WAIT

PING = b"certificate-ping\n"


class Ca:
    """A certificate authority: an ssh-keygen key that signs."""

    def __init__(self, harness, kind="ed25519"):
        self.key = harness.make_key(kind)
        self.harness = harness

    def line(self, options=None):
        pub = self.key.line()
        return f"{options} {pub}" if options else pub

    def sign(self, key, *options, principals="alk", validity="-5m:+1h",
             host=False):
        """Certifies key; returns the certificate's path."""
        argv = ["ssh-keygen", "-q", "-s", self.key.path, "-I", "test-id",
                "-V", validity]
        if principals is not None:
            argv += ["-n", principals]
        if host:
            argv += ["-h"]
        for opt in options:
            argv += ["-O", opt]
        subprocess.run([*argv, key.path + ".pub"], check=True,
                       capture_output=True)
        return key.path + "-cert.pub"


def login(harness, node, key, cert=None, user="alk"):
    """Opens a channel to an echo server with `ssh -W`; True when the
    head let the key (with the certificate, if given) in."""
    echo = harness.echo_server()
    options = ["-o", f"CertificateFile={cert}"] if cert else []
    argv = harness.ssh_argv(node, key, *options,
                            "-W", f"127.0.0.1:{echo.port}", user=user)
    out = subprocess.run(argv, input=PING, capture_output=True,
                         timeout=WAIT)
    if out.returncode == 0 and out.stdout == PING:
        return True
    assert b"Permission denied" in out.stderr, out.stderr
    return False


def paramiko_login(node, key, cert):
    """Offers the certificate as it is, which the real ssh client will not
    do for one it finds broken or not meant for users."""
    pkey = paramiko.Ed25519Key.from_private_key_file(key.path)
    pkey.load_certificate(cert)
    transport = paramiko.Transport(("127.0.0.1", node.port))
    try:
        transport.start_client(timeout=WAIT)
        transport.auth_publickey("alk", pkey)
        return True
    except paramiko.AuthenticationException:
        return False
    finally:
        transport.close()


def refused(harness, node, key, cert, reason, client=None):
    """The head refused the certificate, saying why."""
    line = (f'alknetd: certificate refused remote_addr=127.0.0.1 '
            f'reason="{reason}"\n')
    before = node.log().count(line)
    if client is None:
        assert not login(harness, node, key, cert)
    else:
        assert not client(node, key, cert)
    assert node.log().count(line) > before, node.log()
    return True


@pytest.fixture
def ca(harness):
    return Ca(harness)


@pytest.fixture
def head(harness, ca):
    """A head that trusts ca through --cert-authority and has no user
    keys at all."""
    ca_file = harness.dir / harness.name("ca")
    ca_file.write_text(ca.line() + "\n")
    return harness.start_node(authorized_keys="", mount=False,
                              args=["--cert-authority", str(ca_file)])


def test_valid_certificate_logs_in(harness, ca, head):
    key = harness.make_key()
    cert = ca.sign(key)

    assert login(harness, head, key, cert)
    # The identity is the certified key; the log names it.
    head.wait_log(rf"^alknetd: auth attempt remote_addr=127\.0\.0\.1 "
                  rf"user=alk key_fingerprint={re.escape(key.fingerprint)} "
                  rf"result=accept")


def test_a_key_without_certificate_is_refused(harness, head):
    assert not login(harness, head, harness.make_key())


def test_principals(harness, ca, head):
    key = harness.make_key()

    assert login(harness, head, key, ca.sign(key, principals="bob,alk"))
    assert refused(harness, head, key, ca.sign(key, principals="bob"),
                   "principal not listed")
    assert not login(harness, head, key, ca.sign(key, principals="alk"),
                     user="Alk")
    # An empty list is refused, as OpenSSH does.
    assert refused(harness, head, key, ca.sign(key, principals=None),
                   "no principals")


@pytest.mark.parametrize("validity,reason", [("-2d:-1d", "expired"),
                                             ("+1d:+2d", "not yet valid")])
def test_outside_validity_window(harness, ca, head, validity, reason):
    key = harness.make_key()

    assert refused(harness, head, key, ca.sign(key, validity=validity),
                   reason)


def test_source_address(harness, ca, head):
    key = harness.make_key()

    assert refused(harness, head, key,
                   ca.sign(key, "source-address=10.0.0.0/8"),
                   "source address not allowed")
    assert login(harness, head, key,
                 ca.sign(key, "source-address=10.0.0.0/8,127.0.0.1/32"))


def test_critical_options(harness, ca, head):
    key = harness.make_key()

    assert login(harness, head, key, ca.sign(key, "force-command=/bin/true"))
    assert refused(harness, head, key,
                   ca.sign(key, "critical:unknown-option@example=x"),
                   "unknown critical option")


def test_host_certificate_refused(harness, ca, head):
    key = harness.make_key()
    # The same client gets in with a good certificate.
    assert paramiko_login(head, key, ca.sign(key))

    assert refused(harness, head, key, ca.sign(key, host=True),
                   "host certificate", client=paramiko_login)


def test_untrusted_ca_refused(harness, head):
    key = harness.make_key()
    other = Ca(harness)

    assert refused(harness, head, key, other.sign(key), "untrusted ca")


def test_corrupted_signature_refused(harness, ca, head):
    key = harness.make_key()
    cert = Path(ca.sign(key))
    kind, blob, *rest = cert.read_text().split()
    raw = bytearray(base64.b64decode(blob))
    raw[-5] ^= 0x01     # inside the CA's signature
    cert.write_text(" ".join([kind, base64.b64encode(raw).decode(), *rest]))

    assert refused(harness, head, key, str(cert), "bad signature",
                   client=paramiko_login)


@pytest.mark.parametrize("kind", ["rsa", "ecdsa"])
def test_other_ca_key_types(harness, kind):
    other = Ca(harness, kind)
    ca_file = harness.dir / harness.name("ca")
    ca_file.write_text(other.line() + "\n")
    node = harness.start_node(authorized_keys="", mount=False,
                              args=["--cert-authority", str(ca_file)])
    key = harness.make_key()

    assert login(harness, node, key, other.sign(key))


def test_cert_authority_line_in_authorized_keys(harness, ca):
    """A cert-authority line trusts the CA; the CA's own key is not a
    user key; permit-port-forwarding on the line needs the extension."""
    node = harness.start_node(
        authorized_keys=ca.line("cert-authority") + "\n", mount=False)
    key = harness.make_key()
    assert login(harness, node, key, ca.sign(key))

    assert not login(harness, node, ca.key)

    strict = harness.start_node(
        authorized_keys=ca.line("cert-authority,permit-port-forwarding")
        + "\n", mount=False)
    assert login(harness, strict, key, ca.sign(key))
    assert refused(harness, strict, key,
                   ca.sign(key, "no-port-forwarding"),
                   "port forwarding not permitted")


def test_bare_ca_file_line_is_no_user_key(harness, ca, head):
    assert not login(harness, head, ca.key)


def test_missing_ca_file_exits(harness, tmp_path):
    status, err = harness.run_failing_daemon(
        ["--no-mount", "--state-dir", str(tmp_path / "state"),
         "--cert-authority", str(tmp_path / "nope.pub")])

    assert status == 1
    assert str(tmp_path / "nope.pub") in err


def test_certificate_without_port_forwarding_forwards_nothing(
        harness, ca, head):
    """As with sshd: the login is let in, every forward refused."""
    key = harness.make_key()
    cert = ca.sign(key, "no-port-forwarding")
    echo = harness.echo_server()
    argv = harness.ssh_argv(head, key, "-o", f"CertificateFile={cert}",
                            "-W", f"127.0.0.1:{echo.port}")

    out = subprocess.run(argv, input=PING, capture_output=True,
                         timeout=WAIT)
    assert out.returncode != 0
    assert out.stdout == b""
    assert echo.accepted == 0
    head.wait_log(rf"^alknetd: auth attempt remote_addr=127\.0\.0\.1 "
                  rf"user=alk key_fingerprint={re.escape(key.fingerprint)} "
                  rf"result=accept")
    head.wait_log(r"^alknetd: channel denied session=\d+ identity=")
