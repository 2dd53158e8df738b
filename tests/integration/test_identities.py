"""Identities added and removed through the mount, kept in the database.

Keys stored at run time log in at once, carry the scopes written for
them, stop letting new logins in once removed while sessions that logged
in stay, are announced without key material, and outlive a restart and a
kill -9 in the middle of a burst of additions.
"""

import errno
import os
import signal
import sqlite3
import threading

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import \
    Ed25519PrivateKey

from conftest import echo_through, parse_events, wait_for
from worker import write_value


def set_field(node, *parts, value):
    """Writes one value file of the mount; returns 0 or the errno."""
    return write_value(node.path(*parts), value)


def tunnel(harness, node, key):
    echo = harness.echo_server()
    fwd = harness.forward(node, "-L", f"127.0.0.1:{echo.port}", key=key)
    assert echo_through(fwd.port, b"hello\n") == b"hello\n"
    return fwd


def assert_refused(harness, node, key):
    out = harness.ssh_run(node, key, "true")
    assert out.returncode == 255, out.stderr
    assert "Permission denied" in out.stderr


def session_identities(node):
    return [node.value("sessions", s, "identity")
            for s in node.ls("sessions")]


def events_of(node, kind):
    return [e for e in parse_events(node.read("events.log"))
            if e["type"] == kind]


def test_mkdir_and_key_write_log_in_without_restart(harness, node):
    key = harness.make_key()
    assert_refused(harness, node, key)

    os.mkdir(node.path("identities", "alice"))
    assert "alice" in node.ls("identities")
    assert node.value("identities", "alice", "source") == "pending"
    assert node.value("identities", "alice", "kind") == "key"
    assert node.value("identities", "alice", "scopes") == "relay:connect"
    assert_refused(harness, node, key)

    assert set_field(node, "identities", "alice", "scopes",
                     value="relay:connect,ops:read") == 0
    assert set_field(node, "identities", "alice", "key",
                     value=key.line("laptop")) == 0

    assert node.value("identities", "alice", "source") == "store"
    assert node.value("identities", "alice", "id") == key.fingerprint
    assert node.value("identities", "alice", "key") == key.line("laptop")
    assert node.value("identities", "alice", "scopes") == \
        "relay:connect,ops:read"
    tunnel(harness, node, key)
    assert key.fingerprint in session_identities(node)


def test_ctl_add_logs_in(harness, node):
    key = harness.make_key()

    err, reply = node.ctl(f"identity add bob {key.line('c')} "
                          f"scopes=relay:connect,x:y")

    assert (err, reply) == (0, "ok name=bob\n")
    assert node.value("identities", "bob", "source") == "store"
    assert node.value("identities", "bob", "scopes") == "relay:connect,x:y"
    assert node.value("identities", "bob", "id") == key.fingerprint
    tunnel(harness, node, key)
    assert key.fingerprint in session_identities(node)

    # The same key, or the same name, a second time.
    err, reply = node.ctl(f"identity add bob2 {key.line()}")
    assert err == errno.EEXIST and "bob" in reply
    err, _ = node.ctl(f"identity add bob {harness.make_key().line()}")
    assert err == errno.EEXIST


@pytest.mark.parametrize("how", ["rmdir", "ctl"])
def test_removal_refuses_new_logins_and_keeps_sessions(harness, node, how):
    key = harness.make_key()
    assert node.ctl(f"identity add gone {key.line()}")[0] == 0
    fwd = tunnel(harness, node, key)

    if how == "rmdir":
        os.rmdir(node.path("identities", "gone"))
    else:
        err, reply = node.ctl("remove", "identities", "gone", "ctl")
        assert (err, reply) == (0, "ok\n")

    assert "gone" not in node.ls("identities")
    assert_refused(harness, node, key)
    assert fwd.proc.poll() is None
    assert echo_through(fwd.port, b"still\n") == b"still\n"
    assert key.fingerprint in session_identities(node)


def test_file_identity_cannot_be_removed_here(harness, node):
    (name,) = node.ls("identities")

    assert node.value("identities", name, "source") == "file"
    with pytest.raises(OSError) as e:
        os.rmdir(node.path("identities", name))
    assert e.value.errno == errno.EPERM
    err, _ = node.ctl(f"identity remove {name}")
    assert err == errno.EPERM
    tunnel(harness, node, harness.key)


def test_bad_key_line_is_refused_and_changes_nothing(harness, node):
    before = node.ls("identities")
    os.mkdir(node.path("identities", "bad"))

    rc = set_field(node, "identities", "bad", "key",
                   value="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAInvalid x")

    assert rc == errno.EINVAL
    assert node.value("identities", "bad", "source") == "pending"
    reason = node.value("identities", "bad", "error")
    assert "does not decode" in reason and "AAAA" not in reason
    assert set_field(node, "identities", "bad", "key",
                     value="not a key") == errno.EINVAL
    assert set_field(node, "identities", "bad", "kind",
                     value="sometimes") == errno.EINVAL
    err, reply = node.ctl("identity add other ssh-ed25519 AAAAjunk")
    assert err == errno.EINVAL and reply.startswith("error: ")

    # One key a line: a second line cannot ride in on the comment.
    other = harness.make_key()
    assert set_field(node, "identities", "bad", "key",
                     value=f"{harness.make_key().line()} a\n"
                           f"{other.line()} b") == errno.EINVAL
    assert "one line" in node.value("identities", "bad", "error")
    assert node.value("identities", "bad", "source") == "pending"

    os.rmdir(node.path("identities", "bad"))
    assert node.ls("identities") == before
    assert events_of(node, "identity.added") == []


def test_events_carry_no_key_material(harness, node):
    key = harness.make_key()
    blob = key.line().split()[1]

    assert node.ctl(f"identity add ev {key.line('secretcomment')}")[0] == 0
    assert set_field(node, "identities", "ev", "scopes",
                     value="relay:connect,ops:*") == 0
    os.rmdir(node.path("identities", "ev"))

    added = events_of(node, "identity.added")
    changed = events_of(node, "identity.changed")
    removed = events_of(node, "identity.removed")
    assert [(e["name"], e["id"], e["kind"]) for e in added] == \
        [("ev", key.fingerprint, "key")]
    assert [(e["name"], e["scopes"]) for e in changed] == \
        [("ev", "relay:connect,ops:*")]
    assert [(e["name"], e["id"]) for e in removed] == \
        [("ev", key.fingerprint)]
    log = node.read("events.log")
    assert blob not in log and blob[20:40] not in log
    assert "secretcomment" not in log


def test_identities_survive_restart(harness, node):
    one, two = harness.make_key(), harness.make_key()
    assert node.ctl(f"identity add one {one.line()} scopes=relay:connect,a:b"
                    )[0] == 0
    os.mkdir(node.path("identities", "two"))
    assert set_field(node, "identities", "two", "key", value=two.line()) == 0
    assert node.stop() == 0

    again = harness.start_node(state=node.state, mount_dir=node.mount)

    assert {"one", "two"} <= set(again.ls("identities"))
    assert again.value("identities", "one", "source") == "store"
    assert again.value("identities", "one", "scopes") == "relay:connect,a:b"
    assert again.value("identities", "two", "id") == two.fingerprint
    tunnel(harness, again, one)
    tunnel(harness, again, two)
    assert {one.fingerprint, two.fingerprint} <= \
        set(session_identities(again))

    # A reload of the file keeps them.
    assert again.ctl("reload")[0] == 0
    assert again.value("identities", "one", "source") == "store"


def public_line():
    key = Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH,
                            serialization.PublicFormat.OpenSSH).decode()


def test_kill9_during_burst_loses_nothing_acknowledged(harness, node):
    lines = [public_line() for _ in range(1000)]
    acked = []
    done = threading.Event()

    def add_all():
        try:
            for i, line in enumerate(lines):
                err, _ = node.ctl(f"identity add k{i} {line}")
                if err != 0:
                    break
                acked.append(i)
        except OSError:
            pass
        finally:
            done.set()

    def killer():
        wait_for(lambda: len(acked) >= 300 or done.is_set(),
                 "300 acknowledged additions", timeout=120)
        os.kill(node.pid, signal.SIGKILL)

    writer = threading.Thread(target=add_all)
    kill = threading.Thread(target=killer)
    writer.start()
    kill.start()
    kill.join()
    writer.join(60)
    assert not writer.is_alive()
    node.wait_exit()
    assert 300 <= len(acked) < 1000

    db = sqlite3.connect(str(node.state / "alknet.db"))
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        names = {r[0] for r in db.execute("SELECT name FROM identities")}
    finally:
        db.close()
    assert {f"k{i}" for i in acked} <= names

    again = harness.start_node(state=node.state, mount_dir=node.mount)
    listed = set(again.ls("identities"))
    assert {f"k{i}" for i in acked} <= listed
    last = acked[-1]
    assert again.value("identities", f"k{last}", "source") == "store"
    assert again.value("identities", f"k{last}", "key") == lines[last]
