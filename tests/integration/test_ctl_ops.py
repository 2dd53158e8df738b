"""Every command and writable file of the mount is an operation: the same
action through `echo ... > ctl`, through `alknet call`, and over raw
framing as a node:admin identity leaves the same state; a local user
other than root may do it once acl/operations grants node:admin; bad
input is refused naming the path that failed."""

import errno
import json
import os
import socket

import pytest

from conftest import free_port, needs_fuse, parse_kv, wait_for
from test_ops_fs import (NOBODY, admin_login, call_cli, open_to_nobody,
                         sh)
from test_raw import login, token
from test_raw import node  # noqa: F401  (the node with --listen-raw)

pytestmark = needs_fuse


class Ways:
    """One node driven three ways: the mount, the CLI and raw framing."""

    def __init__(self, harness, node):
        self.node = node
        self.raw = admin_login(harness, node)
        self.n = 0

    def cli(self, op, data):
        code, out, err = call_cli(self.node, op, json.dumps(data))
        assert code == 0, (op, data, err)
        return json.loads(out)

    def cli_error(self, op, data):
        code, out, err = call_cli(self.node, op, json.dumps(data))
        assert code == 1, (op, data, out)
        return err

    def by_raw(self, op, data):
        """The output, or ("error", payload)."""
        self.n += 1
        answer = self.raw.call(str(self.n), op, data)
        if answer["type"] == "call.responded":
            return answer["payload"]["output"]
        return "error", answer["payload"]

    def ctl(self, command, *parts):
        return self.node.ctl(command, *parts)


def test_every_command_is_an_operation(harness, node):
    ops = {f"/{d}/{o}" for d in node.ls("ops")
           for o in (node.ls("ops", d) if d not in ("acl", "node") else [])}
    for name in ("/forwards/add", "/forwards/create", "/forwards/remove",
                 "/forwards/up", "/forwards/down", "/forwards/set",
                 "/forwards/list", "/listeners/add", "/listeners/remove",
                 "/listeners/list", "/upstreams/connect",
                 "/upstreams/disconnect", "/upstreams/list",
                 "/channels/close", "/channels/list", "/identities/add",
                 "/identities/create", "/identities/remove",
                 "/identities/set", "/identities/list", "/auth/token"):
        assert name in ops, name
    assert {"reload", "shutdown", "info"} <= set(node.ls("ops", "node"))
    assert {"get", "set"} <= set(node.ls("ops", "acl", "limits"))

    spec = json.loads(node.read("ops", "forwards", "add", "spec"))
    assert spec["op_type"] == "mutation"
    assert spec["access"]["scopes"] == ["node:admin"]
    assert spec["input_schema"]["required"] == ["kind", "listen"]
    assert spec["input_schema"]["properties"]["kind"]["enum"] == \
        ["local", "remote", "socks"]
    spec = json.loads(node.read("ops", "forwards", "list", "spec"))
    assert spec["op_type"] == "query"
    assert spec["access"]["scopes"] == ["node:read"]


def key_words(harness):
    key = harness.make_key()
    kind, blob = key.line().split()
    return key, kind, blob


def forward_state(node, name):
    return node.value("forwards", name, "state")


def test_forwards_three_ways(harness, node):
    w = Ways(harness, node)
    ports = {n: free_port() for n in "abc"}

    err, reply = w.ctl(f"forward local 127.0.0.1:{ports['a']} 127.0.0.1:9 "
                       f"name=a")
    assert (err, reply) == (0, "ok name=a\n")
    assert w.cli("/forwards/add", {
        "kind": "local", "listen": f"127.0.0.1:{ports['b']}",
        "target": "127.0.0.1:9", "name": "b"}) == {"name": "b"}
    assert w.by_raw("/forwards/add", {
        "kind": "local", "listen": f"127.0.0.1:{ports['c']}",
        "target": "127.0.0.1:9", "name": "c"}) == {"name": "c"}

    # The three are alike, whoever made them.
    assert node.ls("forwards") == ["a", "b", "c"]
    listed = {f["name"]: f for f in w.by_raw("/forwards/list", {})[
        "forwards"]}
    for name, port in ports.items():
        assert forward_state(node, name) == "up"
        assert node.value("forwards", name, "target") == "127.0.0.1:9"
        assert listed[name]["listen"] == f"127.0.0.1:{port}"
        assert listed[name]["state"] == "up"
        assert listed[name]["target"] == "127.0.0.1:9"
        socket.create_connection(("127.0.0.1", port), timeout=5).close()

    # Destinations are for node:admin, as they are for root's eyes.
    key, kind, blob = key_words(harness)
    assert w.ctl(f"identity add reader {kind} {blob} scopes=node:read") == \
        (0, "ok name=reader\n")
    reader = login(node, key)
    seen = reader.call("l", "/forwards/list", {})["payload"]["output"]
    assert sorted(f["name"] for f in seen["forwards"]) == ["a", "b", "c"]
    assert not any("target" in f for f in seen["forwards"])
    assert reader.call("d", "/forwards/down", {"name": "a"})["payload"][
        "code"] == "FORBIDDEN"
    reader.close()

    # Down and up again, each a different way.
    assert w.ctl("down", "forwards", "a", "ctl") == (0, "ok\n")
    assert w.cli("/forwards/down", {"name": "b"}) == {}
    assert w.by_raw("/forwards/down", {"name": "c"}) == {}
    assert [forward_state(node, n) for n in "abc"] == ["down"] * 3
    assert w.ctl("up", "forwards", "a", "ctl") == (0, "ok\n")
    assert w.cli("/forwards/up", {"name": "b"}) == {}
    assert w.by_raw("/forwards/up", {"name": "c"}) == {}
    assert [forward_state(node, n) for n in "abc"] == ["up"] * 3

    # A port in use: the same errno on the mount, the reason everywhere.
    err, reply = w.ctl(f"forward local 127.0.0.1:{ports['a']} 127.0.0.1:9 "
                       f"name=d")
    assert err == errno.EADDRINUSE
    assert reply.startswith("error: ")
    failed = w.by_raw("/forwards/add", {
        "kind": "local", "listen": f"127.0.0.1:{ports['a']}",
        "target": "127.0.0.1:9", "name": "d"})
    assert failed[0] == "error"
    assert failed[1]["code"] == "INTERNAL"
    assert failed[1]["message"] == reply[len("error: "):].rstrip("\n")
    assert node.ls("forwards") == ["a", "b", "c"]

    # Removed three ways.
    assert w.ctl("unforward a") == (0, "ok\n")
    assert w.cli("/forwards/remove", {"name": "b"}) == {}
    assert w.by_raw("/forwards/remove", {"name": "c"}) == {}
    assert node.ls("forwards") == []
    assert w.ctl("unforward a") == (errno.ENOENT,
                                    "error: no forward named a\n")
    assert w.by_raw("/forwards/remove", {"name": "a"}) == (
        "error", {"code": "NOT_FOUND", "message": "no forward named a",
                  "retryable": False})
    w.raw.close()


def test_forward_made_field_by_field(harness, node):
    w = Ways(harness, node)

    # mkdir and the field files on the mount...
    os.mkdir(node.path("forwards", "m"))
    with open(node.path("forwards", "m", "listen"), "w") as f:
        f.write(f"127.0.0.1:{free_port()}\n")
    with open(node.path("forwards", "m", "target"), "w") as f:
        f.write("127.0.0.1:9\n")
    # ...or the operations they are.
    assert w.by_raw("/forwards/create", {"name": "r"}) == {}
    for field, value in (("listen", f"127.0.0.1:{free_port()}"),
                         ("target", "127.0.0.1:9")):
        assert w.by_raw("/forwards/set", {"name": "r", "field": field,
                                          "value": value}) == {}
    assert w.by_raw("/forwards/create", {"name": "r"})[1]["code"] == \
        "INVALID_INPUT"
    for name in "mr":
        assert node.value("forwards", name, "target") == "127.0.0.1:9"
        assert node.value("forwards", name, "kind") == "local"
    assert w.ctl("up", "forwards", "m", "ctl") == (0, "ok\n")
    assert w.by_raw("/forwards/up", {"name": "r"}) == {}
    assert forward_state(node, "m") == forward_state(node, "r") == "up"

    # While up a field is EBUSY on the mount and refused over raw.
    fd = os.open(node.path("forwards", "m", "via"), os.O_WRONLY)
    with pytest.raises(OSError) as e:
        os.write(fd, b"x\n")
    os.close(fd)
    assert e.value.errno == errno.EBUSY
    busy = w.by_raw("/forwards/set", {"name": "r", "field": "via",
                                      "value": "x"})
    assert busy[1]["code"] == "INVALID_INPUT"

    os.rmdir(node.path("forwards", "m"))
    assert w.cli("/forwards/remove", {"name": "r"}) == {}
    assert node.ls("forwards") == []
    with pytest.raises(OSError) as e:
        os.mkdir(node.path("forwards", "a b"))
    assert e.value.errno == errno.EINVAL
    w.raw.close()


def test_listeners_three_ways(harness, node):
    w = Ways(harness, node)
    err, reply = w.ctl("listen tcp://127.0.0.1:0 name=l1")
    assert err == 0
    detail = parse_kv(reply.replace(" ", "\n").replace("=", " "))
    assert detail["name"] == "l1"
    assert detail["uri"].startswith("tcp://127.0.0.1:")
    out = w.cli("/listeners/add", {"uri": "tcp://127.0.0.1:0",
                                   "name": "l2"})
    assert out["name"] == "l2" and out["uri"] != detail["uri"]
    assert w.by_raw("/listeners/add", {"uri": "tcp://127.0.0.1:0",
                                       "name": "l3"})["name"] == "l3"

    assert {"l1", "l2", "l3"} <= set(node.ls("listeners"))
    listed = {x["name"]: x for x in w.by_raw("/listeners/list", {})[
        "listeners"]}
    assert listed["l1"]["uri"] == detail["uri"]
    assert listed["l2"]["uri"] == node.value("listeners", "l2", "uri")
    err, reply = w.ctl("listen tcp://127.0.0.1:0 name=l1")
    assert err == errno.EEXIST

    assert w.ctl("close", "listeners", "l1", "ctl") == (0, "ok\n")
    assert w.cli("/listeners/remove", {"name": "l2"}) == {}
    assert w.by_raw("/listeners/remove", {"name": "l3"}) == {}
    assert not {"l1", "l2", "l3"} & set(node.ls("listeners"))
    assert w.ctl("unlisten l1") == (errno.ENOENT,
                                    "error: no listener named l1\n")
    w.raw.close()


def test_identities_three_ways(harness, node):
    w = Ways(harness, node)
    k1, kind1, blob1 = key_words(harness)
    k2, kind2, blob2 = key_words(harness)
    k3, kind3, blob3 = key_words(harness)

    assert w.ctl(f"identity add i1 {kind1} {blob1} scopes=node:read") == \
        (0, "ok name=i1\n")
    assert w.cli("/identities/add", {"name": "i2",
                                     "key": f"{kind2} {blob2}",
                                     "scopes": "node:read"}) == \
        {"name": "i2"}
    assert w.by_raw("/identities/add", {"name": "i3",
                                        "key": f"{kind3} {blob3}",
                                        "scopes": "node:read"}) == \
        {"name": "i3"}
    listed = {x["name"]: x for x in w.by_raw("/identities/list", {})[
        "identities"]}
    for name, key in (("i1", k1), ("i2", k2), ("i3", k3)):
        assert node.value("identities", name, "id") == key.fingerprint
        assert node.value("identities", name, "source") == "store"
        assert listed[name]["id"] == key.fingerprint
        assert listed[name]["scopes"] == "node:read"

    # A key that is an identity already: EEXIST, INVALID_INPUT.
    err, reply = w.ctl(f"identity add again {kind1} {blob1}")
    assert err == errno.EEXIST
    again = w.by_raw("/identities/add", {"name": "again",
                                         "key": f"{kind1} {blob1}"})
    assert again[1]["code"] == "INVALID_INPUT"
    assert again[1]["message"] == reply[len("error: "):].rstrip("\n")

    # Scopes changed through the file and through the operation.
    with open(node.path("identities", "i1", "scopes"), "w") as f:
        f.write("node:read,x:y\n")
    assert w.by_raw("/identities/set", {"name": "i2", "field": "scopes",
                                        "value": "node:read,x:y"}) == {}
    assert node.value("identities", "i1", "scopes") == \
        node.value("identities", "i2", "scopes") == "node:read,x:y"

    assert w.ctl("remove", "identities", "i1", "ctl") == (0, "ok\n")
    assert w.cli("/identities/remove", {"name": "i2"}) == {}
    assert w.by_raw("/identities/remove", {"name": "i3"}) == {}
    assert not {"i1", "i2", "i3"} & set(node.ls("identities"))

    # The file's key is the file's: EPERM on the mount, FORBIDDEN here.
    filekey = [i for i in node.ls("identities")
               if node.value("identities", i, "source") == "file"][0]
    err, reply = w.ctl(f"identity remove {filekey}")
    assert err == errno.EPERM
    assert w.by_raw("/identities/remove", {"name": filekey})[1][
        "code"] == "FORBIDDEN"
    w.raw.close()


def test_channels_and_sessions_closed_three_ways(harness, node):
    w = Ways(harness, node)
    echo = harness.echo_server()
    with open(node.path("acl", "forwarding"), "w") as f:
        f.write("allow *\n")
    fwd = harness.forward(node, "-L", f"127.0.0.1:{echo.port}")
    socks = [socket.create_connection(("127.0.0.1", fwd.port), timeout=5)
             for _ in range(3)]
    for s in socks:
        s.sendall(b"x")
        assert s.recv(1) == b"x"

    def tunnels():
        return [c for c in node.ls("channels")
                if node.value("channels", c, "kind") == "direct-tcpip"]
    ids = wait_for(lambda: len(tunnels()) == 3 and tunnels(),
                   "three channels")
    listed = {str(c["id"]) for c in w.by_raw("/channels/list", {})[
        "channels"]}
    assert set(ids) <= listed

    assert w.ctl("close", "channels", ids[0], "ctl") == (0, "ok\n")
    assert w.cli("/channels/close", {"id": int(ids[1])}) == {}
    assert w.by_raw("/channels/close", {"id": int(ids[2])}) == {}
    wait_for(lambda: tunnels() == [], "the channels to close")
    for s in socks:
        s.settimeout(5)
        assert s.recv(1) == b""
        s.close()
    assert w.by_raw("/channels/close", {"id": int(ids[0])})[1][
        "code"] == "NOT_FOUND"

    # The session the tunnels ran in, closed over raw framing.
    sid = [s for s in node.ls("sessions")
           if node.value("sessions", s, "identity") ==
           harness.key.fingerprint][0]
    assert w.by_raw("/sessions/close", {"id": int(sid)}) == {}
    assert fwd.proc.wait(30) is not None
    w.raw.close()


def limits(node):
    return parse_kv(node.read("acl", "limits"))


def test_limits_three_ways(harness, node):
    w = Ways(harness, node)
    with open(node.path("acl", "limits"), "w") as f:
        f.write("max_auth_attempts 4\n")
    assert limits(node)["max_auth_attempts"] == "4"
    assert w.cli("/acl/limits/set", {"limits": "max_auth_attempts 5"}) == {}
    assert limits(node)["max_auth_attempts"] == "5"
    assert w.by_raw("/acl/limits/set", {"limits": "max_auth_attempts 6"}) == {}
    assert limits(node)["max_auth_attempts"] == "6"
    got = w.by_raw("/acl/limits/get", {})["limits"]
    assert got + "\n" == node.read("acl", "limits")

    # A bad line: EINVAL and the reason kept on the mount, the same
    # reason as INVALID_INPUT over raw; nothing changes either way.
    fd = os.open(node.path("acl", "limits"), os.O_WRONLY)
    with pytest.raises(OSError) as e:
        os.write(fd, b"max_auth_attempts many\n")
    os.close(fd)
    assert e.value.errno == errno.EINVAL
    reason = node.value("acl", "limits.error")
    assert reason.startswith("line 1: ")
    bad = w.by_raw("/acl/limits/set", {"limits": "max_auth_attempts many"})
    assert bad[1] == {"code": "INVALID_INPUT", "message": reason,
                      "retryable": False}
    assert limits(node)["max_auth_attempts"] == "6"
    w.raw.close()


def test_token_as_operation(harness, node):
    text = token(harness.key)
    err, reply = node.ctl(f"token {text}")
    assert err == 0
    out = call_cli(node, "/auth/token", json.dumps({"token": text}))
    assert out[0] == 0, out
    answer = json.loads(out[1])
    assert answer["identity"] == harness.key.fingerprint
    assert reply == (f"ok identity={answer['identity']} "
                     f"name={answer['name']} scopes={answer['scopes']}\n")
    assert node.ctl("token nonsense")[0] == errno.EINVAL


def test_local_user_needs_node_admin(harness, node):
    open_to_nobody(harness)
    port = free_port()
    ctl = node.path("ctl")
    command = f"forward local 127.0.0.1:{port} 127.0.0.1:9 name=n"

    # The files open; the operation ACL refuses, with who and what.
    done = sh(f"echo '{command}' > {ctl}", NOBODY)
    assert "Permission denied" in done.stderr
    done = sh(f"exec 3<>{ctl}; echo '{command}' >&3; cat <&3", NOBODY)
    assert done.stdout == ("error: access denied: local:nobody may not "
                           "call /forwards/add\n"), done
    done = sh(f"mkdir {node.path('forwards', 'n')}", NOBODY)
    assert "Permission denied" in done.stderr
    done = sh(f"echo 'max_auth_attempts 2' > "
              f"{node.path('acl', 'limits')}", NOBODY)
    assert "Permission denied" in done.stderr
    assert node.ls("forwards") == []
    assert limits(node)["max_auth_attempts"] != "2"
    # A refused caller leaves no reason behind for root to read.
    assert node.read("acl", "limits.error") == ""

    with open(node.path("acl", "operations"), "w") as f:
        f.write("local:nobody node:admin\n")
    done = sh(f"exec 3<>{ctl}; echo '{command}' >&3; cat <&3", NOBODY)
    assert done.stdout == "ok name=n\n", done
    assert forward_state(node, "n") == "up"
    done = sh(f"echo down > {node.path('forwards', 'n', 'ctl')} && "
              f"rmdir {node.path('forwards', 'n')} && "
              f"mkdir {node.path('forwards', 'o')} && "
              f"echo 'max_auth_attempts 2' > {node.path('acl', 'limits')}",
              NOBODY)
    assert done.returncode == 0, done.stderr
    assert node.ls("forwards") == ["o"]
    assert limits(node)["max_auth_attempts"] == "2"

    # Errnos are the action's, whoever asks.
    done = sh(f"echo 'unforward nope' > {ctl}", NOBODY)
    assert "No such file or directory" in done.stderr


def test_bad_input_names_the_path(harness, node):
    w = Ways(harness, node)
    cases = [
        ("/forwards/add", {"kind": "sideways", "listen": "1"}, "input.kind"),
        ("/forwards/add", {"kind": "local"}, "listen"),
        ("/forwards/set", {"name": "x", "field": "state", "value": "up"},
         "input.field"),
        ("/listeners/add", {"uri": 5}, "input.uri"),
        ("/channels/close", {"id": "seven"}, "input.id"),
        ("/identities/add", {"name": "x", "key": "k", "colour": "red"},
         "colour"),
    ]
    for op, data, path in cases:
        answer = w.by_raw(op, data)
        assert answer[0] == "error", (op, answer)
        assert answer[1]["code"] == "INVALID_INPUT", (op, answer)
        assert path in answer[1]["message"], (op, answer)
        err = w.cli_error(op, data)
        assert err.startswith("alknet: error: INVALID_INPUT: "), err
        assert path in err, err
    w.raw.close()
