"""Operations in the mount: ops/<path>/spec and call, `alknet call`, the
filesystem's own writes as calls of the writer's local identity, and
acl/operations granting scopes to local users."""

import errno
import json
import os
import subprocess

import pytest

from conftest import needs_fuse, parse_kv, wait_for
from test_raw import ALKNET, login
from test_raw import node  # noqa: F401  (the node with --listen-raw)

pytestmark = needs_fuse

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def call_cli(node, op, data, user=()):
    """alknet call: (exit status, stdout, stderr)."""
    argv = [*user, str(ALKNET), "call", op, data, "--mount", node.mount]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    return out.returncode, out.stdout, out.stderr


def call_file(node, op, data):
    """The transaction file by hand: one write, then read the answer."""
    fd = os.open(node.path("ops", *op.strip("/").split("/"), "call"),
                 os.O_RDWR)
    try:
        os.write(fd, json.dumps(data).encode())
        text = b""
        while chunk := os.read(fd, 4096):
            text += chunk
    finally:
        os.close(fd)
    return json.loads(text)


def sh(command, user=()):
    return subprocess.run([*user, "bash", "-c", command], capture_output=True,
                          text=True, timeout=30)


def admin_login(harness, node):
    """A raw-framing client whose key holds node:admin."""
    admin = harness.make_key()
    kind, blob = admin.line().split()
    err, reply = node.ctl(f"identity add admin {kind} {blob} "
                          f"scopes=node:read,node:admin")
    assert err == 0, reply
    return login(node, admin)


def test_ops_tree_and_spec(node):
    assert {"acl", "node", "services", "sessions"} <= set(node.ls("ops"))
    assert node.ls("ops", "sessions") == ["close", "list"]
    assert node.ls("ops", "sessions", "close") == ["call", "spec"]
    assert node.ls("ops", "acl", "forwarding") == ["get", "set"]
    # A path that is no operation has no files of its own.
    assert not os.path.exists(node.path("ops", "sessions", "spec"))
    assert not os.path.exists(node.path("ops", "nothing"))

    spec = json.loads(node.read("ops", "sessions", "close", "spec"))
    assert spec["name"] == "/sessions/close"
    assert spec["op_type"] == "mutation"
    assert spec["input_schema"]["required"] == ["id"]
    assert spec["access"]["scopes"] == ["node:admin"]
    assert spec["access"]["public"] is False

    def mode(*parts):
        return os.stat(node.path(*parts)).st_mode & 0o777
    assert mode("ops", "sessions", "close", "spec") == 0o444
    assert mode("ops", "sessions", "close", "call") == 0o666
    assert mode("ops", "sessions") == 0o555


def test_same_result_through_file_cli_and_raw(harness, node):
    raw = admin_login(harness, node)

    def everywhere():
        """The rules as the file, the CLI, a transaction and raw see
        them."""
        code, out, err = call_cli(node, "/acl/forwarding/get", "{}")
        assert code == 0, err
        by_raw = raw.call("g", "/acl/forwarding/get", {})
        assert by_raw["type"] == "call.responded", by_raw
        by_file = call_file(node, "/acl/forwarding/get", {})
        rules = json.loads(out)["rules"]
        assert by_raw["payload"]["output"]["rules"] == rules
        assert by_file == {"output": {"rules": rules}}
        assert node.read("acl", "forwarding") == rules + "\n"
        return rules

    # echo on the mount is /acl/forwarding/set.
    done = sh(f"echo 'allow 10.0.0.0/8:22' > {node.path('acl', 'forwarding')}")
    assert done.returncode == 0, done.stderr
    assert everywhere() == "allow 10.0.0.0/8:22\ndefault deny"

    code, out, err = call_cli(node, "/acl/forwarding/set",
                              json.dumps({"rules": "allow db.internal:5432"}))
    assert (code, out, err) == (0, "{}\n", "")
    assert everywhere() == "allow db.internal:5432\ndefault deny"

    answer = raw.call("s", "/acl/forwarding/set",
                      {"rules": "deny *:25\nallow *"})
    assert answer["type"] == "call.responded", answer
    assert everywhere() == "deny *:25\nallow *\ndefault deny"

    # A refused set through the file: EINVAL, the reason kept, nothing
    # changed.
    done = sh(f"echo 'allow nowhere:99999' > "
              f"{node.path('acl', 'forwarding')}")
    assert done.returncode != 0
    assert "Invalid argument" in done.stderr
    assert node.read("acl", "forwarding.error").startswith("line 1: ")
    assert everywhere() == "deny *:25\nallow *\ndefault deny"

    # The same question asked of /node/info answers the same.
    by_raw = raw.call("n", "/node/info", {})["payload"]["output"]
    assert call_file(node, "/node/info", {}) == {"output": by_raw}
    code, out, err = call_cli(node, "node/info", "null")
    assert json.loads(out) == by_raw
    raw.close()


def open_to_nobody(harness):
    """Lets uid 65534 walk to the mount (the harness's dir is 0700)."""
    os.chmod(harness.dir, 0o755)


def test_local_user_needs_the_acl(harness, node):
    open_to_nobody(harness)
    fwd = harness.forward(node, "-D")
    sid = wait_for(lambda: node.ls("sessions"), "a session")[0]
    ctl = node.path("sessions", sid, "ctl")

    # Public state reads as before; the session's ctl opens, and the
    # operation ACL refuses local:nobody.
    assert sh(f"cat {node.path('node')}", NOBODY).returncode == 0
    assert sh(f"ls {node.path('sessions')}", NOBODY).stdout.split() == [sid]
    done = sh(f"echo close > {ctl}", NOBODY)
    assert done.returncode != 0
    assert "Permission denied" in done.stderr
    assert node.ls("sessions") == [sid]
    code, out, err = call_cli(node, "/sessions/list", "{}", NOBODY)
    assert code == 1
    assert err.startswith("alknet: error: FORBIDDEN: "), err
    # Discovery is public: anyone may ask what there is.
    code, out, err = call_cli(node, "/services/list", "{}", NOBODY)
    assert code == 0, err
    # Root's files stay root's.
    done = sh(f"echo 'allow *' > {node.path('acl', 'forwarding')}", NOBODY)
    assert "Permission denied" in done.stderr

    # A bad rule set, written at once, is refused whole.
    acl = node.path("acl", "operations")
    fd = os.open(acl, os.O_WRONLY | os.O_TRUNC)
    with pytest.raises(OSError) as e:
        os.write(fd, b"local:nobody node:admin\nnobody x\n")
    os.close(fd)
    assert e.value.errno == errno.EINVAL
    assert node.read("acl", "operations.error").startswith("line 2: ")
    assert node.read("acl", "operations") == ""

    done = sh(f"echo 'local:nobody node:admin' > {acl}")
    assert done.returncode == 0, done.stderr
    assert node.read("acl", "operations") == "local:nobody node:admin\n"
    assert node.read("acl", "operations.error") == ""

    done = sh(f"echo close > {ctl}", NOBODY)
    assert done.returncode == 0, done.stderr
    assert fwd.proc.wait(30) is not None
    wait_for(lambda: node.ls("sessions") == [], "sessions/ to empty")
    # node:admin is no node:read: the grant is what it says.
    code, out, err = call_cli(node, "/sessions/list", "{}", NOBODY)
    assert err.startswith("alknet: error: FORBIDDEN: "), err
    code, out, err = call_cli(node, "/sessions/close",
                              json.dumps({"id": int(sid)}), NOBODY)
    assert err == f"alknet: error: NOT_FOUND: no session {sid}\n"


def test_root_closes_as_before(harness, node):
    fwd = harness.forward(node, "-D")
    sid = wait_for(lambda: node.ls("sessions"), "a session")[0]
    err, reply = node.ctl("close", "sessions", sid, "ctl")
    assert (err, reply) == (0, "ok\n")
    assert fwd.proc.wait(30) is not None
    wait_for(lambda: node.ls("sessions") == [], "sessions/ to empty")
    # Gone: the operation answers NOT_FOUND, the file ENOENT.
    err, reply = node.ctl("close", "sessions", sid, "ctl") \
        if os.path.exists(node.path("sessions", sid)) else (errno.ENOENT, "")
    assert err == errno.ENOENT
    code, out, err = call_cli(node, "/sessions/close",
                              json.dumps({"id": int(sid)}))
    assert code == 1
    assert err == f"alknet: error: NOT_FOUND: no session {sid}\n"


def test_operations_acl_is_kept(harness, node):
    acl = node.path("acl", "operations")
    rules = "local:alice node:read\nSHA256:" + "A" * 43 + " node:admin\n"
    with open(acl, "w") as f:
        f.write(rules)
    state = node.state
    node.stop()
    again = harness.start_node(state=state)
    assert again.read("acl", "operations") == rules


def test_transaction_file_rules(node):
    call = node.path("ops", "node", "info", "call")
    # Read-write only: the answer is read where the input was written.
    for flags in (os.O_RDONLY, os.O_WRONLY):
        with pytest.raises(OSError) as e:
            os.open(call, flags)
        assert e.value.errno == errno.EINVAL

    fd = os.open(call, os.O_RDWR)
    with pytest.raises(OSError) as e:
        os.read(fd, 100)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:
        os.write(fd, b"{not json")
    assert e.value.errno == errno.EINVAL
    os.write(fd, b"{}")
    with pytest.raises(OSError) as e:
        os.write(fd, b"{}")
    assert e.value.errno == errno.EBUSY
    answer = json.loads(os.read(fd, 65536))
    os.close(fd)
    assert answer["output"]["id"] == parse_kv(node.read("node"))["id"]

    # Errors come in the answer, not as errno.
    assert call_file(node, "/sessions/close", {"id": "x"})["error"][
        "code"] == "INVALID_INPUT"

    # Closing before reading gives up the call; many of them leave
    # nothing behind, and the node answers on.
    before = node.fd_count()
    for _ in range(200):
        fd = os.open(call, os.O_RDWR)
        os.write(fd, b"{}")
        os.close(fd)
    assert node.fd_count() == before
    assert "output" in call_file(node, "/node/info", {})


def test_cli_bad_inputs(node):
    cases = [
        (["/node/info", "{nope"], "alknet: error: bad JSON input: "),
        (["/no/such/op", "{}"], "alknet: error: no operation /no/such/op "),
        (["../../etc", "{}"], "alknet: error: bad operation name ../../etc"),
        (["/node/info"], "alknet: error: expected OP and JSON: "),
        (["/sessions/close", '{"id": 0}'],
         "alknet: error: INVALID_INPUT: "),
    ]
    for args, want in cases:
        out = subprocess.run([str(ALKNET), "call", *args, "--mount",
                              node.mount], capture_output=True, text=True,
                             timeout=30)
        assert out.returncode == 1, (args, out)
        assert out.stderr.startswith(want), (args, out.stderr)
        assert out.stdout == ""
