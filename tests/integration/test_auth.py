"""Who may log in: publickey only, and only keys in authorized_keys."""

import re
import signal

import paramiko
import pytest

from conftest import WAIT, echo_through, needs_fuse, wait_for


def auth_line(fingerprint, result, user="alk"):
    return (rf"^alknetd: auth attempt remote_addr=127\.0\.0\.1 "
            rf"user={user} key_fingerprint={re.escape(fingerprint)} "
            rf"result={result}(?: |$)")


def assert_refused(harness, node, key):
    out = harness.ssh_run(node, key, "true")
    assert out.returncode == 255, out.stderr
    assert "Permission denied" in out.stderr
    node.wait_log(auth_line(key.fingerprint, "reject"))
    assert not re.search(auth_line(key.fingerprint, "accept"), node.log(),
                         re.M)


def assert_tunnel_works(harness, node, key):
    echo = harness.echo_server()
    fwd = harness.forward(node, "-L", f"127.0.0.1:{echo.port}", key=key)
    assert echo_through(fwd.port, b"hello\n") == b"hello\n"
    fwd.stop()


def test_authorized_key_is_accepted_and_logged(harness, plain_node):
    assert_tunnel_works(harness, plain_node, harness.key)

    plain_node.wait_log(auth_line(harness.key.fingerprint, "accept"))
    plain_node.wait_log(r"^alknetd: connection opened remote_addr=127\.0\.0"
                        r"\.1 transport=tcp session=\d+\b")


def test_unknown_ed25519_key_is_refused(harness, plain_node):
    stranger = harness.make_key()

    assert_refused(harness, plain_node, stranger)


def test_rsa_key_without_entry_is_refused(harness, plain_node):
    rsa = harness.make_key("rsa")

    assert_refused(harness, plain_node, rsa)


def test_password_is_refused(harness, plain_node):
    transport = paramiko.Transport(("127.0.0.1", plain_node.port))
    try:
        transport.start_client(timeout=WAIT)
        with pytest.raises(paramiko.AuthenticationException):
            transport.auth_password("pwuser", "hunter2-not-a-secret")
    finally:
        transport.close()

    plain_node.wait_log(r"^alknetd: auth attempt remote_addr=127\.0\.0\.1 "
                        r"user=pwuser method=password result=reject\b")
    assert "hunter2" not in plain_node.log()


def test_only_publickey_is_offered(harness, plain_node):
    transport = paramiko.Transport(("127.0.0.1", plain_node.port))
    try:
        transport.start_client(timeout=WAIT)
        with pytest.raises(paramiko.BadAuthenticationType) as refused:
            transport.auth_none("nobody")
    finally:
        transport.close()

    assert refused.value.allowed_types == ["publickey"]


GARBAGE = [
    "# alknet authorized keys",
    "",
    "   ",
    "\t",
    "this line is not a key at all",
    "ssh-ed25519",
    "ssh-ed25519 !!!not-base64!!! broken",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA truncated",
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ== short",
    "# ssh-ed25519 AAAA commented out",
]


@pytest.mark.parametrize("comment", [None, "laptop", "other comment, with "
                                     "spaces and = signs"])
def test_messy_authorized_keys_still_admit_valid_key(harness, comment):
    key = harness.key
    stranger = harness.make_key()
    text = "\n".join(GARBAGE[:5] + [key.line(comment) + "  "] + GARBAGE[5:])
    node = harness.start_node(mount=False, authorized_keys=text + "\n")

    assert_tunnel_works(harness, node, key)
    assert_refused(harness, node, stranger)


def test_several_keys_each_admitted(harness):
    keys = [harness.make_key(), harness.make_key()]
    node = harness.start_node(mount=False, keys=keys)

    for key in keys:
        assert_tunnel_works(harness, node, key)
        node.wait_log(auth_line(key.fingerprint, "accept"))


@needs_fuse
def test_reload_picks_up_authorized_keys(harness):
    node = harness.start_node(authorized_keys="")
    key = harness.key
    assert_refused(harness, node, key)

    (node.state / "authorized_keys").write_text(key.line("added") + "\n")
    err, reply = node.ctl("reload")
    assert err == 0, reply
    assert reply.startswith("ok")
    assert_tunnel_works(harness, node, key)

    # A session that is up keeps working after its key is removed; new
    # logins with that key are refused.
    echo = harness.echo_server()
    fwd = harness.forward(node, "-L", f"127.0.0.1:{echo.port}", key=key)
    (node.state / "authorized_keys").write_text("")
    err, reply = node.ctl("reload")
    assert err == 0, reply
    out = harness.ssh_run(node, key, "true")
    assert "Permission denied" in out.stderr
    assert echo_through(fwd.port, b"still up\n") == b"still up\n"


def password_attempts(node, user, count):
    """Tries up to count passwords on one connection; returns how many
    attempts were made before the server closed the connection."""
    transport = paramiko.Transport(("127.0.0.1", node.port))
    tried = 0
    try:
        transport.start_client(timeout=WAIT)
        while tried < count and transport.is_active():
            try:
                transport.auth_password(user, f"guess-{tried}")
            except (paramiko.SSHException, EOFError, OSError):
                pass
            tried += 1
    finally:
        transport.close()
    return tried


def test_peer_user_name_cannot_forge_log_lines(harness, plain_node):
    user = 'eve result=accept\nalknetd: auth attempt forged "x\\'

    password_attempts(plain_node, user, 1)

    line = plain_node.wait_log(r"^alknetd: auth attempt remote_addr=127\.0"
                               r"\.0\.1 user=eve\S* method=password "
                               r"result=reject\b").group(0)
    assert "result=accept" not in line
    assert "forged" not in plain_node.log().replace(line, "")
    assert not re.search(r"^alknetd: auth attempt forged", plain_node.log(),
                         re.M)


def test_connection_closed_after_too_many_failures(harness, plain_node):
    tried = password_attempts(plain_node, "guesser", 30)

    assert tried < 30
    plain_node.wait_log(r"^alknetd: connection closed ")
    log = plain_node.log()
    assert log.count("user=guesser method=password result=reject") <= 10


def test_sighup_rereads_authorized_keys(harness):
    node = harness.start_node(mount=False, authorized_keys="")
    key = harness.key
    assert_refused(harness, node, key)

    (node.state / "authorized_keys").write_text(key.line() + "\n")
    node.proc.send_signal(signal.SIGHUP)

    # The reload happens on the daemon's loop; keep trying until it has.
    def admitted():
        return "Permission denied" not in \
            harness.ssh_run(node, key, "true").stderr
    wait_for(admitted, "the key to be admitted after SIGHUP")
    assert_tunnel_works(harness, node, key)
