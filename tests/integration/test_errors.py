"""Bad input: ctl commands the daemon cannot run, and start-up errors."""

import errno
import subprocess

import pytest

from conftest import mounted, needs_fuse


@needs_fuse
def test_unknown_ctl_verb_is_einval(harness, node):
    err, reply = node.ctl("frobnicate now")

    assert err == errno.EINVAL
    assert reply.startswith("error: "), reply


def shell(shell_name, command, path):
    return subprocess.run([shell_name, "-c", f'echo {command} > "$1"',
                           shell_name, path], capture_output=True, text=True)


@needs_fuse
def test_shell_echo_to_ctl_fails_visibly(harness, node):
    ctl = node.path("ctl")

    assert shell("sh", "frobnicate", ctl).returncode != 0
    # dash reports any write error as "I/O error"; bash names the errno.
    bad = shell("bash", "frobnicate", ctl)
    assert bad.returncode != 0
    assert "Invalid argument" in bad.stderr
    good = shell("sh", "reload", ctl)
    assert good.returncode == 0, good.stderr


@needs_fuse
@pytest.mark.parametrize("command, code", [
    ("unlisten no-such-listener", errno.ENOENT),
    ("listen", errno.EINVAL),
    ("listen tcp://127.0.0.1:notaport", errno.EINVAL),
    ("reload extra-argument", errno.EINVAL),
])
def test_bad_node_commands(harness, node, command, code):
    err, reply = node.ctl(command)

    assert err == code, reply
    assert reply.startswith("error: "), reply
    assert node.ls("listeners") == ["tcp0"]


@needs_fuse
def test_unknown_verb_on_session_and_channel(harness, node):
    echo = harness.echo_server()
    harness.forward(node, "-L", f"127.0.0.1:{echo.port}")
    sid = node.ls("sessions")[0]

    err, reply = node.ctl("explode", "sessions", sid, "ctl")

    assert err == errno.EINVAL
    assert reply.startswith("error: ")
    assert node.ls("sessions") == [sid]


def start_error(harness, *args):
    """Runs alknetd expected to refuse to start; returns its error line."""
    state = harness.dir / harness.name("state")
    state.mkdir(mode=0o700)
    argv = ["--listen", "127.0.0.1:0", "--state-dir", str(state),
            "--no-mount", *args]
    status, output = harness.run_failing_daemon(argv)
    assert status == 1, output
    errors = [line for line in output.splitlines()
              if line.startswith("alknetd: error: ")]
    assert errors, output
    return "\n".join(errors)


def test_missing_host_key_directory(harness):
    path = harness.dir / "no-such-dir" / "host_key"

    line = start_error(harness, "--host-key", str(path))

    assert str(path) in line or "host key" in line


def test_pem_host_key_is_refused(harness):
    path = harness.dir / "pem_host_key"
    subprocess.run(["ssh-keygen", "-q", "-m", "PEM", "-t", "rsa", "-b",
                    "2048", "-N", "", "-f", str(path)], check=True)
    assert path.read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")

    line = start_error(harness, "--host-key", str(path))

    assert str(path) in line or "host key" in line


def test_missing_authorized_keys_file(harness):
    path = harness.dir / "absent_authorized_keys"

    line = start_error(harness, "--authorized-keys", str(path))

    assert str(path) in line or "authorized" in line


@pytest.mark.parametrize("listen", [
    "127.0.0.1",
    "127.0.0.1:notaport",
    "127.0.0.1:70000",
    "udp://127.0.0.1:0",
    "[::1:0",
    "",
])
def test_unparsable_listen(harness, listen):
    line = start_error(harness, "--listen", listen)

    assert "listen" in line or (listen and listen in line)


def test_listen_port_in_use(harness):
    taken = harness.echo_server()

    line = start_error(harness, "--listen", f"127.0.0.1:{taken.port}")

    assert str(taken.port) in line


@needs_fuse
def test_failed_start_leaves_no_mount(harness):
    state = harness.dir / "state"
    state.mkdir(mode=0o700)
    mnt = harness.dir / "mnt"
    mnt.mkdir()
    missing = harness.dir / "absent_authorized_keys"

    status, output = harness.run_failing_daemon([
        "--listen", "127.0.0.1:0", "--state-dir", str(state),
        "--mount", str(mnt), "--authorized-keys", str(missing)])

    assert status == 1, output
    assert "alknetd: error: " in output
    assert not mounted(mnt)


def test_unknown_option(harness):
    status, output = harness.run_failing_daemon(["--no-such-option"])

    assert status != 0
    assert "no-such-option" in output or "usage" in output.lower()
