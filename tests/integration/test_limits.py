"""Abuse limits of a head: connections per address, failed logins per
connection, per-source penalties, and the fail2ban filter over the log
lines they leave."""

import errno
import json
import os
import re
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import paramiko
import pytest

from conftest import (REPO, SSH_OPTIONS, WAIT, daemon_env, echo_through,
                      parse_events, parse_kv, wait_for, ALKNETD)

FILTER = REPO / "scripts" / "fail2ban" / "alknetd.conf"

OPENED = re.compile(r"^alknetd: connection opened remote_addr=127\.0\.0\.1 "
                    r"transport=tcp session=(\d+)\b", re.M)
CLOSED = re.compile(r"^alknetd: connection closed remote_addr=127\.0\.0\.1 "
                    r"duration=\S+ session=(\d+)\b", re.M)


def rejected(reason):
    return re.compile(rf"^alknetd: connection rejected remote_addr=127\.0\.0"
                      rf"\.1 transport=tcp reason={reason}(?: |$)", re.M)


def first_bytes(port, hold=None):
    """Connects and reads what the head sends first: its banner line, or
    nothing before EOF.  With hold, a served socket is kept there."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    data = b""
    try:
        while b"\n" not in data:
            chunk = sock.recv(256)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    if hold is not None and data:
        hold.append(sock)
    else:
        sock.close()
    return data


def most_at_once(log):
    """The most sessions open at once, from the opened/closed lines."""
    events = sorted([(m.start(), 1) for m in OPENED.finditer(log)] +
                    [(m.start(), -1) for m in CLOSED.finditer(log)])
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def assert_login_works(harness, node, key=None):
    echo = harness.echo_server()
    fwd = harness.forward(node, "-L", f"127.0.0.1:{echo.port}", key=key)
    assert echo_through(fwd.port, b"still served\n") == b"still served\n"
    fwd.stop()


def ssh_with_keys(node, keys, *command):
    argv = ["ssh", *SSH_OPTIONS]
    for key in keys:
        argv += ["-i", key.path]
    argv += ["-p", str(node.port), "-l", "alk", "127.0.0.1", *command]
    return subprocess.run(argv, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=WAIT)


def test_connections_per_address_are_limited(harness):
    node = harness.start_node(args=["--max-connections-per-ip", "5"])
    assert parse_kv(node.read("acl", "limits"))[
        "max_connections_per_ip"] == "5"

    # 200 connections held open at once: 5 are served, the rest closed
    # before a byte of the banner.
    held = []
    firsts = [first_bytes(node.port, held) for _ in range(200)]
    served = [b for b in firsts if b]
    assert len(served) == 5
    assert all(b.startswith(b"SSH-2.0-") for b in served)
    assert firsts.count(b"") == 195
    assert len(node.ls("sessions")) == 5
    wait_for(lambda: len(rejected("too-many-per-ip").findall(node.log()))
             == 195, "195 rejections logged")

    # A close makes room for exactly one more.
    held.pop().close()
    wait_for(lambda: len(node.ls("sessions")) == 4, "a session to close")
    assert first_bytes(node.port, held).startswith(b"SSH-2.0-")
    assert first_bytes(node.port) == b""
    for sock in held:
        sock.close()
    wait_for(lambda: node.ls("sessions") == [], "every session to close")

    # Many clients come and go at once: never more than 5 are served.
    def client(results):
        for _ in range(10):
            results.append(first_bytes(node.port))

    results = []
    threads = [threading.Thread(target=client, args=(results,))
               for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 200
    assert all(b == b"" or b.startswith(b"SSH-2.0-") for b in results)
    wait_for(lambda: node.ls("sessions") == [], "every session to close")
    log = node.log()
    assert most_at_once(log) == 5
    assert len(OPENED.findall(log)) == len(CLOSED.findall(log))
    assert (len(OPENED.findall(log)) +
            len(rejected("too-many-per-ip").findall(log))) == 402

    # Afterwards service is normal.
    assert_login_works(harness, node)


def test_failed_logins_per_connection_are_limited(harness):
    node = harness.start_node(mount=False, args=["--max-auth-attempts", "3"])
    strangers = [harness.make_key() for _ in range(4)]

    # The authorized key comes fifth: the head hangs up after three.
    out = ssh_with_keys(node, strangers + [harness.key], "-N")
    assert out.returncode == 255, out.stderr
    assert re.search(r"Connection (?:closed|reset) by 127\.0\.0\.1",
                     out.stderr), out.stderr
    node.wait_log(r"^alknetd: connection closed ")
    log = node.log()
    rejects = re.findall(r"^alknetd: auth attempt remote_addr=127\.0\.0\.1 "
                         r"user=alk key_fingerprint=(\S+) result=reject",
                         log, re.M)
    assert rejects == [k.fingerprint for k in strangers[:3]]
    assert "result=accept" not in log

    # Two failures leave room for the third key to log in.
    argv = ["ssh", *SSH_OPTIONS]
    for key in strangers[:2] + [harness.key]:
        argv += ["-i", key.path]
    harness.spawn(argv + ["-N", "-p", str(node.port), "-l", "alk",
                          "127.0.0.1"])
    node.wait_log(r"^alknetd: auth attempt remote_addr=127\.0\.0\.1 user=alk "
                  rf"key_fingerprint={re.escape(harness.key.fingerprint)} "
                  r"result=accept\b")
    assert len(re.findall(r"result=reject\b", node.log())) == 5


def test_password_guesses_per_connection_are_limited(harness):
    node = harness.start_node(mount=False, args=["--max-auth-attempts", "2"])
    transport = paramiko.Transport(("127.0.0.1", node.port))
    tried = 0
    try:
        transport.start_client(timeout=WAIT)
        while tried < 10 and transport.is_active():
            try:
                transport.auth_password("guesser", f"guess-{tried}")
            except (paramiko.SSHException, EOFError, OSError):
                pass
            tried += 1
    finally:
        transport.close()

    assert tried <= 3
    node.wait_log(r"^alknetd: connection closed ")
    assert node.log().count("user=guesser method=password "
                            "result=reject") == 2


def failed_login(harness, node, stranger):
    out = ssh_with_keys(node, [stranger], "true")
    assert out.returncode == 255
    return out


def test_penalized_source_is_refused_until_it_expires(harness):
    node = harness.start_node(
        penalty_exempt=None,
        args=["--penalties", "authfail:5 noauth:1 min:8 max:10"])
    limits = parse_kv(node.read("acl", "limits"))
    assert limits["penalties"] == "yes"
    assert limits["penalty_authfail"] == "5"
    assert limits["penalty_min"] == "8"
    assert limits["penalty_max"] == "10"
    assert limits["penalty_exempt"] == "none"
    assert node.read("penalties") == ""
    stranger = harness.make_key()

    # One failure owes 5 s, below min: still let in.
    failed_login(harness, node, stranger)
    node.wait_log(r"^alknetd: connection closed ")
    assert node.read("penalties") == ""
    assert first_bytes(node.port).startswith(b"SSH-2.0-")

    # More pile up past min (what is owed runs down meanwhile).
    for _ in range(5):
        if node.read("penalties"):
            break
        failed_login(harness, node, stranger)
        time.sleep(0.2)
    line = node.read("penalties")
    match = re.fullmatch(r"127\.0\.0\.1/32 (\d+) authfail\n", line)
    assert match, line
    assert 1 <= int(match.group(1)) <= 10
    node.wait_log(r"^alknetd: penalty enforced remote_addr=127\.0\.0\.1 "
                  r"reason=authfail\b")
    penalized = time.monotonic()

    # Refused before the banner, even with the right key.
    assert first_bytes(node.port) == b""
    node.wait_log(rejected("penalty").pattern)
    out = harness.ssh_run(node, harness.key, "true")
    assert out.returncode == 255
    assert "Permission denied" not in out.stderr
    assert "auth attempt remote_addr=127.0.0.1 user=alk key_fingerprint=" \
        f"{harness.key.fingerprint}" not in node.log()

    # It runs out within max (and some slack for a slow build).
    wait_for(lambda: node.read("penalties") == "", "the penalty to expire",
             timeout=10 + WAIT)
    assert time.monotonic() - penalized <= 10 + WAIT
    assert first_bytes(node.port).startswith(b"SSH-2.0-")
    assert_login_works(harness, node)


def test_exempt_or_disabled_penalties_refuse_nobody(harness):
    exempt = harness.start_node(
        mount=True, args=["--penalties", "min:1"])
    off = harness.start_node(mount=True, penalty_exempt=None,
                             args=["--penalties", "no"])
    stranger = harness.make_key()
    assert parse_kv(exempt.read("acl", "limits"))["penalty_exempt"] == \
        "127.0.0.0/8,::1"
    assert parse_kv(off.read("acl", "limits"))["penalties"] == "no"

    for node in (exempt, off):
        for _ in range(3):
            failed_login(harness, node, stranger)
        assert node.read("penalties") == ""
        assert first_bytes(node.port).startswith(b"SSH-2.0-")
        assert not rejected("penalty").search(node.log())
        assert_login_works(harness, node)


BAD_FLAGS = [
    (["--max-connections-per-ip", "-1"],
     "--max-connections-per-ip -1: not a whole number from 0 to"),
    (["--max-connections-per-ip", "5x"], "--max-connections-per-ip 5x: "),
    (["--max-auth-attempts", "ten"], "--max-auth-attempts ten: "),
    (["--max-auth-attempts", "99999999999"], "--max-auth-attempts "),
    (["--penalties", "crash:90"],
     '--penalties crash:90: unknown keyword "crash"'),
    (["--penalties", "min:20 max:10"],
     "--penalties min:20 max:10: max must be at least 1 s and not below "
     "min"),
    (["--penalties", "authfail:soon"],
     '--penalties authfail:soon: bad duration "soon" for authfail'),
    (["--penalty-exempt", "127.0.0.1/33"],
     '--penalty-exempt 127.0.0.1/33: "127.0.0.1/33" is not an address'),
    (["--penalty-exempt", "localhost"], "--penalty-exempt localhost: "),
]


@pytest.mark.parametrize("flags,says", BAD_FLAGS)
def test_bad_limit_flags_exit_1(harness, flags, says):
    state = harness.dir / harness.name("state")
    status, output = harness.run_failing_daemon(
        ["--state-dir", str(state), "--listen", "127.0.0.1:0",
         "--no-mount", *flags])
    assert status == 1, output
    assert f"alknetd: error: {says}" in output
    assert not state.exists()


def test_bad_limit_from_environment_names_the_variable(harness):
    state = harness.dir / "state"
    env = dict(daemon_env(), ALKNET_MAX_AUTH_ATTEMPTS="many",
               ALKNET_PENALTIES="no")
    out = subprocess.run([ALKNETD, "--state-dir", str(state), "--listen",
                          "127.0.0.1:0", "--no-mount"],
                         stdin=subprocess.DEVNULL, capture_output=True,
                         text=True, env=env, timeout=WAIT)
    assert out.returncode == 1
    assert "alknetd: error: ALKNET_MAX_AUTH_ATTEMPTS many: not a whole " \
        "number" in out.stderr


def test_limits_from_environment(harness):
    env = dict(daemon_env(), ALKNET_MAX_CONNECTIONS_PER_IP="7",
               ALKNET_MAX_AUTH_ATTEMPTS="4", ALKNET_PENALTIES="min:30",
               ALKNET_PENALTY_EXEMPT="10.0.0.0/8")
    # The flag the harness passes wins over ALKNET_PENALTY_EXEMPT.
    node = harness.start_node(env=env, args=["--max-auth-attempts", "6"])
    limits = parse_kv(node.read("acl", "limits"))
    assert limits["max_connections_per_ip"] == "7"
    assert limits["max_auth_attempts"] == "6"
    assert limits["penalty_min"] == "30"
    assert limits["penalty_exempt"] == "127.0.0.0/8,::1"


def fail2ban_regex(log_path, *options):
    out = subprocess.run(["fail2ban-regex", *options, str(log_path),
                          str(FILTER)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_fail2ban_filter_matches_failures_only(harness):
    if not os.access("/usr/bin/fail2ban-regex", os.X_OK):
        pytest.skip("no fail2ban-regex (scripts/setup.sh installs it)")
    node = harness.start_node(
        mount=False, penalty_exempt=None,
        args=["--max-connections-per-ip", "2", "--max-auth-attempts", "2",
              "--penalties", "authfail:1 noauth:1 min:5 max:5",
              "--listen-raw", "127.0.0.1:0"])
    strangers = [harness.make_key() for _ in range(3)]
    raw_port = int(node.wait_log(r"^alknetd: raw listener added "
                                 r"uri=tcp://127\.0\.0\.1:(\d+)$").group(1))

    # A raw-framing peer with a token of nobody's key.
    raw = socket.create_connection(("127.0.0.1", raw_port), timeout=WAIT)
    body = json.dumps({"type": "call.requested", "id": "a", "payload": {
        "operationId": "/auth/token", "input": {"token": "x" * 139}}})
    raw.sendall(struct.pack(">I", len(body)) + body.encode())
    while raw.recv(65536):
        pass
    raw.close()
    node.wait_log(r"^alknetd: raw auth rejected remote_addr=127\.0\.0\.1 ")

    # Successes, failures, and connections refused over the limit.
    assert_login_works(harness, node)
    ssh_with_keys(node, strangers + [harness.key], "true")
    transport = paramiko.Transport(("127.0.0.1", node.port))
    try:
        transport.start_client(timeout=WAIT)
        with pytest.raises(paramiko.AuthenticationException):
            transport.auth_password("pwuser", "not-a-secret")
    finally:
        transport.close()
    held = []
    for _ in range(4):
        first_bytes(node.port, held)
    for sock in held:
        sock.close()
    wait_for(lambda: rejected("too-many-per-ip").search(node.log()),
             "a rejection over the per-address limit")
    node.stop()

    log = node.log()
    log_path = Path(node.log_path)
    failures = re.findall(r"^alknetd: (?:auth attempt .* result=reject|"
                          r"connection rejected .*|"
                          r"raw auth rejected .*)$", log, re.M)
    successes = re.findall(r"^alknetd: (?:auth attempt .* result=accept|"
                           r"connection (?:opened|closed) .*)$", log, re.M)
    assert len(failures) >= 5 and len(successes) >= 3
    lines = len(log.splitlines())

    out = fail2ban_regex(log_path, "--print-all-matched")
    match = re.search(r"^Failregex: (\d+) total$", out, re.M)
    assert match and int(match.group(1)) == len(failures), out
    assert re.search(rf"^Lines: {lines} lines, 0 ignored, {len(failures)} "
                     rf"matched, {lines - len(failures)} missed", out,
                     re.M), out
    matched = out.split("Matched line(s):")[1].split("`-")[0]
    assert "result=accept" not in matched
    assert "connection opened" not in matched
    assert "connection closed" not in matched

    # Every failure names the address to ban; the journal's prefix is
    # no obstacle.
    out = fail2ban_regex(log_path, "-o", "ip")
    assert set(out.split()) == {"127.0.0.1"}
    journal = harness.dir / "journal.log"
    journal.write_text("".join(f"host alknetd[{node.pid}]: {line}\n"
                               for line in log.splitlines()))
    out = fail2ban_regex(journal)
    assert re.search(rf"^Failregex: {len(failures)} total$", out, re.M), out


def write_limits(node, text):
    """Writes acl/limits in one write(); returns 0 or the errno."""
    fd = os.open(node.path("acl", "limits"), os.O_WRONLY)
    try:
        os.write(fd, text.encode())
        return 0
    except OSError as e:
        return e.errno
    finally:
        os.close(fd)


def test_limits_change_through_the_mount_and_stay(harness):
    node = harness.start_node()
    before = parse_kv(node.read("acl", "limits"))

    assert write_limits(node, "max_connections_per_ip 1\n") == 0
    after = parse_kv(node.read("acl", "limits"))
    assert after["max_connections_per_ip"] == "1"
    assert {k: v for k, v in after.items()
            if k != "max_connections_per_ip"} == {
        k: v for k, v in before.items() if k != "max_connections_per_ip"}
    events = [e for e in parse_events(node.read("events.log"))
              if e["type"] == "policy.changed"]
    assert events[-1]["policy"] == "limits"

    # In force for the next connection: a second one is refused.
    held = []
    assert first_bytes(node.port, hold=held).startswith(b"SSH-2.0-")
    assert first_bytes(node.port) == b""
    wait_for(lambda: rejected("too-many-per-ip").search(node.log()),
             "the refusal to be logged")
    for sock in held:
        sock.close()

    # What cat shows can be written back as it is.
    shown = node.read("acl", "limits")
    assert write_limits(node, shown) == 0
    assert node.read("acl", "limits") == shown

    # Bad lines change nothing and say which line.
    for text, says in [("penalty_min 3\nmax_auth_attempts lots\n",
                        "line 2: max_auth_attempts: not a whole number"),
                       ("max_auth_attempts 3\n\nmax_auth_attempts 4\n",
                        "line 3: max_auth_attempts given twice"),
                       ("penalty_min 100\npenalty_max 50\n",
                        "penalty_max must be at least 1 and not below"),
                       ("penalty_min 10\nflavour vanilla\n",
                        "line 2: unknown key flavour"),
                       ("penalty_exempt 300.0.0.0/8\n", "line 1: ")]:
        assert write_limits(node, text) == errno.EINVAL
        assert node.value("acl", "limits.error").startswith(says)
        assert node.read("acl", "limits") == shown

    # Kept across a kill -9: the write returned, so it is on disk.
    node.stop(signal.SIGKILL)
    again = harness.start_node(state=node.state, mount_dir=node.mount)
    kept = parse_kv(again.read("acl", "limits"))
    assert kept["max_connections_per_ip"] == "1"

    # A flag wins over what was stored, and is stored in turn.
    again.stop()
    third = harness.start_node(state=node.state, mount_dir=node.mount,
                               args=["--max-connections-per-ip", "3"])
    assert parse_kv(third.read("acl", "limits"))[
        "max_connections_per_ip"] == "3"
