"""acl/forwarding: which targets peers' channels may reach, decided before
anything is dialled, driven through a real `ssh -D` and `ssh -L`."""

import errno
import ipaddress
import re
import signal
import socket
import struct

import pytest

from conftest import (WAIT, ipv6_available, parse_events, parse_kv,
                      wait_for)

PING = b"policy-ping\n"


def socks_echo(proxy_port, host, port):
    """Opens host:port through the SOCKS5 proxy of `ssh -D`, sends PING and
    returns what came back (b"" when the channel was refused: OpenSSH
    answers the SOCKS request at once and closes when the open fails)."""
    with socket.create_connection(("127.0.0.1", proxy_port),
                                  timeout=WAIT) as sock:
        sock.sendall(b"\x05\x01\x00")
        assert sock.recv(2) == b"\x05\x00"
        try:
            addr = b"\x04" + ipaddress.IPv6Address(host).packed
        except ValueError:
            try:
                addr = b"\x01" + ipaddress.IPv4Address(host).packed
            except ValueError:
                name = host.encode()
                addr = b"\x03" + bytes([len(name)]) + name
        sock.sendall(b"\x05\x01\x00" + addr + struct.pack(">H", port))
        reply = b""
        got = b""
        try:
            while len(reply) < 10:
                chunk = sock.recv(10 - len(reply))
                if not chunk:
                    return b""
                reply += chunk
            sock.sendall(PING)
            while len(got) < len(PING):
                chunk = sock.recv(len(PING) - len(got))
                if not chunk:
                    break
                got += chunk
        except (ConnectionResetError, BrokenPipeError):
            return b""
        return got


class Head:
    """A head without forwarding rules, a SOCKS proxy into it per key, and
    the counter of refused channels."""

    def __init__(self, harness, keys=None, forwarding=()):
        self.harness = harness
        self.keys = keys or [harness.key]
        self.node = harness.start_node(keys=self.keys, forwarding=forwarding)
        self.proxies = {}

    def rules(self, text):
        with open(self.node.path("acl", "forwarding"), "w") as f:
            f.write(text)

    def proxy(self, key=None):
        key = key or self.keys[0]
        if key.path not in self.proxies:
            self.proxies[key.path] = self.harness.forward(
                self.node, "-D", key=key).port
        return self.proxies[key.path]

    def denied(self):
        return int(parse_kv(self.node.read("stats"))["channels_denied"])

    def reaches(self, host, port, key=None):
        """True when a channel to host:port is let through; a refusal
        must come from the rules (counted), not from a failed connect."""
        before = self.denied()
        got = socks_echo(self.proxy(key), host, port)
        if got == PING:
            assert self.denied() == before
            return True
        wait_for(lambda: self.denied() == before + 1,
                 f"a denied channel to be counted ({host}:{port})")
        return False


@pytest.fixture
def head(harness):
    return Head(harness)


def test_new_head_allows_nothing(harness, head):
    echo = harness.echo_server()

    assert head.node.value("acl", "forwarding") == "default deny"
    assert not head.reaches("127.0.0.1", echo.port)
    assert echo.accepted == 0


def test_localhost_allowed_other_address_refused(harness, head):
    echo = harness.echo_server()
    other = harness.echo_server("127.0.0.2")
    head.rules("allow localhost:*\n")

    assert head.reaches("localhost", echo.port)
    assert not head.reaches("127.0.0.2", other.port)
    assert other.accepted == 0


def test_default_allow_with_one_denied_host(harness, head):
    echo = harness.echo_server()
    head.rules("default allow\ndeny blocked.example.com\n")

    assert head.reaches("127.0.0.1", echo.port)
    # Refused by name: never looked up, never dialled.
    assert not head.reaches("blocked.example.com", echo.port)


def test_first_match_wins(harness, head):
    echo = harness.echo_server()
    head.rules("allow *\ndeny 127.0.0.1\n")
    assert head.reaches("127.0.0.1", echo.port)

    head.rules("deny 127.0.0.1\nallow *\n")
    assert not head.reaches("127.0.0.1", echo.port)
    assert head.reaches("localhost", echo.port)


def test_host_patterns_are_case_sensitive(harness, head):
    echo = harness.echo_server()
    head.rules("allow local*\n")
    assert head.reaches("localhost", echo.port)
    assert not head.reaches("LOCALHOST", echo.port)

    head.rules("allow *host\n")
    assert head.reaches("localhost", echo.port)
    assert not head.reaches("127.0.0.1", echo.port)


def test_cidr_matches_literal_addresses_only(harness, head):
    echo = harness.echo_server()
    head.rules("allow 127.0.0.0/8\n")

    assert head.reaches("127.0.0.1", echo.port)
    assert not head.reaches("localhost", echo.port)
    assert not head.reaches("192.168.1.1", echo.port)


def test_ipv6_cidr(harness, head):
    if not ipv6_available():
        pytest.skip("no IPv6 loopback")
    echo = harness.echo_server("::1")
    head.rules("allow ::1/128\n")

    assert head.reaches("::1", echo.port)
    assert not head.reaches("127.0.0.1", echo.port)


def test_port_ranges_are_inclusive(harness, head):
    echo = harness.echo_server()
    p = echo.port

    head.rules(f"allow 127.0.0.1:{p - 2}-{p}\n")
    assert head.reaches("127.0.0.1", p)
    head.rules(f"allow 127.0.0.1:{p}-{p + 2}\n")
    assert head.reaches("127.0.0.1", p)
    head.rules(f"allow 127.0.0.1:{p + 1}-{p + 3}\n")
    assert not head.reaches("127.0.0.1", p)


def test_single_port_and_cidr_with_port(harness, head):
    echo = harness.echo_server()
    other = harness.echo_server()

    head.rules(f"allow *:{echo.port}\n")
    assert head.reaches("127.0.0.1", echo.port)
    assert head.reaches("localhost", echo.port)
    assert not head.reaches("127.0.0.1", other.port)

    head.rules(f"allow 127.0.0.0/8:{echo.port}\n")
    assert head.reaches("127.0.0.1", echo.port)
    assert not head.reaches("127.0.0.1", other.port)


def test_principals(harness):
    alice, bob = harness.make_key(), harness.make_key()
    head = Head(harness, keys=[alice, bob])
    echo = harness.echo_server()

    head.rules(f"allow * principals={alice.fingerprint}\n")
    assert head.reaches("127.0.0.1", echo.port, key=alice)
    assert not head.reaches("127.0.0.1", echo.port, key=bob)

    # Keys of authorized_keys hold the scope relay:connect.
    head.rules("allow * principals=admin\n")
    assert not head.reaches("127.0.0.1", echo.port, key=alice)
    head.rules("allow * principals=relay:connect\n")
    assert head.reaches("127.0.0.1", echo.port, key=bob)
    head.rules("allow * principals=*\n")
    assert head.reaches("127.0.0.1", echo.port, key=alice)


def test_transports(harness, head):
    echo = harness.echo_server()

    head.rules("allow * transports=tls\n")
    assert not head.reaches("127.0.0.1", echo.port)
    head.rules("allow * transports=tcp,tls\n")
    assert head.reaches("127.0.0.1", echo.port)


def test_denial_is_logged_without_target(harness, head):
    head.rules("deny *\n")
    port = 40000 + harness.echo_server().port % 20000

    assert not head.reaches("refused-target.example", port)

    line = head.node.wait_log(r"^alknetd: channel denied session=\d+ "
                              r"identity=SHA256:\S+$")
    assert harness.key.fingerprint in line.group(0)
    log = head.node.log()
    assert "refused-target" not in log
    assert str(port) not in log


def test_actions_any_case_and_bad_rules_change_nothing(harness, head):
    echo = harness.echo_server()
    head.rules("DENY 127.0.0.2\nAllow 127.0.0.1\n")
    assert head.node.value("acl", "forwarding") == (
        "deny 127.0.0.2\nallow 127.0.0.1\ndefault deny")
    assert head.reaches("127.0.0.1", echo.port)

    with pytest.raises(OSError) as err:
        head.rules("allow 127.0.0.1\nmaybe 127.0.0.1\n")
    assert err.value.errno == errno.EINVAL
    assert re.match(r"line 2: ", head.node.value("acl", "forwarding.error"))
    assert head.node.value("acl", "forwarding") == (
        "deny 127.0.0.2\nallow 127.0.0.1\ndefault deny")
    assert head.reaches("127.0.0.1", echo.port)


def test_new_rules_apply_to_the_next_open_only(harness, head):
    echo = harness.echo_server()
    head.rules("allow 127.0.0.1\n")
    fwd = harness.forward(head.node, "-L", f"127.0.0.1:{echo.port}")
    with socket.create_connection(("127.0.0.1", fwd.port),
                                  timeout=WAIT) as sock:
        sock.sendall(PING)
        assert sock.recv(len(PING)) == PING

        head.rules("default deny\n")
        assert not head.reaches("127.0.0.1", echo.port)

        # The channel opened before the change keeps working.
        sock.sendall(PING)
        assert sock.recv(len(PING)) == PING


def test_rules_from_flags(harness):
    echo = harness.echo_server()
    head = Head(harness, forwarding=("allow localhost", "deny *"))

    assert head.node.value("acl", "forwarding") == (
        "allow localhost\ndeny *\ndefault deny")
    assert head.reaches("localhost", echo.port)
    assert not head.reaches("127.0.0.1", echo.port)


def test_bad_rule_flag_exits(harness, tmp_path):
    status, err = harness.run_failing_daemon(
        ["--no-mount", "--state-dir", str(tmp_path / "state"),
         "--forwarding-rule", "allow *", "--forwarding-rule",
         "maybe localhost"])

    assert status == 1
    assert "--forwarding-rule: line 2:" in err
    assert not (tmp_path / "state").exists()


def test_rules_survive_kill_and_restart(harness, head):
    echo = harness.echo_server()
    head.rules(f"allow 127.0.0.1:{echo.port}\n")
    with open(head.node.path("acl", "listen"), "w") as f:
        f.write("allow 127.0.0.1:20000-20010\n")
    # The writes returned: they are on disk, whatever happens next.
    head.node.stop(signal.SIGKILL)

    again = harness.start_node(state=head.node.state,
                               mount_dir=head.node.mount, forwarding=())
    assert again.value("acl", "forwarding") == (
        f"allow 127.0.0.1:{echo.port}\ndefault deny")
    assert again.value("acl", "listen") == (
        "allow 127.0.0.1:20000-20010\ndefault deny")
    changes = [e for e in parse_events(again.read("events.log"))
               if e["type"] == "policy.changed" and e["policy"] != "limits"]
    assert [(e["policy"], e["rules"]) for e in changes] == [
        ("forwarding", 1), ("listen", 1)]

    # Flags replace a stored set, and are stored in turn.
    again.stop()
    third = harness.start_node(state=head.node.state,
                               mount_dir=head.node.mount,
                               forwarding=("deny *",))
    assert third.value("acl", "forwarding") == "deny *\ndefault deny"


def test_unspecified_address_is_never_dialled(harness, head):
    """0.0.0.0 (or "0", or ::) would reach the head's own services past a
    rule that denies loopback: it is never dialled."""
    echo = harness.echo_server()
    head.rules("deny 127.0.0.0/8\ndeny ::1\nallow *\n")

    for target in ("0.0.0.0", "0", "::"):
        assert socks_echo(head.proxy(), target, echo.port) == b""
    assert echo.accepted == 0
