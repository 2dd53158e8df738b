"""flowgraph/: the calls a node has seen and how they triggered each
other, as JSON, as DOT that Graphviz renders, and as a directory per call;
and the operations it offers, as JSON and DOT."""

import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import needs_fuse
from test_raw import frame, login
from test_raw import node  # noqa: F401  (the node with --listen-raw)

pytestmark = needs_fuse

SVG = "{http://www.w3.org/2000/svg}"


def reader_login(harness, node):
    """A raw-framing client whose key holds node:read; and the key."""
    reader = harness.make_key()
    kind, blob = reader.line().split()
    err, reply = node.ctl(f"identity add reader{harness.name('')} "
                          f"{kind} {blob} scopes=node:read")
    assert err == 0, reply
    return login(node, reader), reader


def call_with_parent(client, ident, op, parent):
    client.sock.sendall(frame("call.requested", ident,
                              {"operationId": op, "input": {},
                               "parentRequestId": parent}))
    return client.answer()


def calls_json(node):
    return json.loads(node.read("flowgraph", "calls.json"))


def by_id(graph):
    return {c["request_id"]: c for c in graph["calls"]}


def conn_of(graph, ident, op):
    """The call id a connection's request ident of op was given."""
    found = [c["request_id"] for c in graph["calls"]
             if c["operation"] == op and
             re.fullmatch(r"conn\d+:" + re.escape(ident), c["request_id"])]
    assert len(found) == 1, graph
    return found[0]


def dot_nodes(dot):
    """DOT node name of each call id, from the labels."""
    return {m.group(2): m.group(1) for m in
            re.finditer(r'^\t(c\d+) \[label="([^"\\]+)\\n', dot, re.M)}


def render(path):
    out = subprocess.run(["dot", "-Tsvg", path], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return ET.fromstring(out.stdout)


def svg_edges(svg):
    """(title, label) of each edge Graphviz drew."""
    edges = []
    for g in svg.iter(SVG + "g"):
        if g.get("class") == "edge":
            edges.append((g.find(SVG + "title").text,
                          "".join(t.text for t in g.iter(SVG + "text"))))
    return edges


def svg_texts(svg):
    return [t.text for t in svg.iter(SVG + "text")]


def test_call_and_nested_call(harness, node):
    client, reader = reader_login(harness, node)
    assert client.call("1", "/node/info")["type"] == "call.responded"
    answer = call_with_parent(client, "2", "/services/list", "1")
    assert answer["type"] == "call.responded"
    assert answer["id"] == "2"

    graph = calls_json(node)
    first = conn_of(graph, "1", "/node/info")
    second = conn_of(graph, "2", "/services/list")
    assert first.split(":")[0] == second.split(":")[0]
    calls = by_id(graph)
    assert calls[first]["status"] == "completed"
    assert calls[first]["parent_request_id"] is None
    assert calls[second]["status"] == "completed"
    assert calls[second]["parent_request_id"] == first
    assert calls[second]["identity"] == reader.fingerprint
    assert calls[second]["ended_ms"] >= calls[second]["started_ms"]
    assert {"from": first, "to": second, "type": "triggered"} in \
        graph["edges"]

    # The DOT text has the edge, and Graphviz draws it.
    dot = node.read("flowgraph", "calls.dot")
    names = dot_nodes(dot)
    edge = f'\t{names[first]} -> {names[second]} [label="triggered"];'
    assert edge in dot.splitlines()
    svg = render(node.path("flowgraph", "calls.dot"))
    assert (f"{names[first]}->{names[second]}", "triggered") in \
        svg_edges(svg)
    assert first in svg_texts(svg) and second in svg_texts(svg)

    # A directory per call, its fields one value a file.
    assert {first, second} <= set(node.ls("flowgraph", "calls"))

    def field(call, name):
        return node.read("flowgraph", "calls", call, name)
    assert field(second, "id") == second + "\n"
    assert field(second, "op") == "/services/list\n"
    assert field(second, "status") == "completed\n"
    assert field(second, "parent") == first + "\n"
    assert field(second, "identity") == reader.fingerprint + "\n"
    assert field(second, "error") == "\n"
    assert field(second, "lineage") == f"{first}\n{second}\n"
    assert field(second, "children") == ""
    assert field(first, "parent") == "\n"
    assert field(first, "children") == second + "\n"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\n",
                        field(second, "started"))
    assert re.fullmatch(r"\d+\n", field(second, "duration_ms"))
    whole = json.loads(field(second, "call.json"))
    assert whole["parent_request_id"] == first
    assert whole["lineage"] == [first, second]
    assert sorted(os.listdir(node.path("flowgraph", "calls", second))) == [
        "call.json", "children", "duration_ms", "ended", "error", "id",
        "identity", "lineage", "op", "parent", "started", "status"]
    client.close()


def test_same_request_id_on_two_connections(harness, node):
    a, _ = reader_login(harness, node)
    b, _ = reader_login(harness, node)
    assert a.call("7", "/node/info")["type"] == "call.responded"
    assert b.call("7", "/node/info")["type"] == "call.responded"
    # b's call names a parent: its own "7", not a's.
    assert call_with_parent(b, "8", "/services/list", "7")["type"] == \
        "call.responded"

    graph = calls_json(node)
    sevens = sorted(c["request_id"] for c in graph["calls"]
                    if c["request_id"].endswith(":7"))
    assert len(sevens) == 2 and sevens[0] != sevens[1]
    eight = conn_of(graph, "8", "/services/list")
    b_seven = eight.split(":")[0] + ":7"
    assert b_seven in sevens
    assert by_id(graph)[eight]["parent_request_id"] == b_seven
    for seven in sevens:
        assert node.read("flowgraph", "calls", seven, "status") == \
            "completed\n"
    a.close()
    b.close()


def test_failed_calls(harness, node):
    client, _ = reader_login(harness, node)
    assert client.call("1", "/no/such")["payload"]["code"] == "NOT_FOUND"
    assert client.call("2", "/sessions/close", {"id": 1})["payload"][
        "code"] == "FORBIDDEN"

    graph = calls_json(node)
    missing = by_id(graph)[conn_of(graph, "1", "/no/such")]
    refused = by_id(graph)[conn_of(graph, "2", "/sessions/close")]
    assert missing["status"] == "failed"
    assert missing["error"] == "NOT_FOUND"
    assert refused["status"] == "failed"
    assert refused["error"] == "FORBIDDEN"
    call = refused["request_id"]
    assert node.read("flowgraph", "calls", call, "status") == "failed\n"
    assert node.read("flowgraph", "calls", call, "error") == "FORBIDDEN\n"
    assert "failed FORBIDDEN" in node.read("flowgraph", "calls.dot")
    client.close()


def test_calls_of_the_filesystem(node):
    """A transaction file's call is recorded as fs-N, by local:root."""
    fd = os.open(node.path("ops", "node", "info", "call"), os.O_RDWR)
    try:
        os.write(fd, b"{}")
        assert json.loads(os.read(fd, 65536))["output"]["name"]
    finally:
        os.close(fd)
    graph = calls_json(node)
    mine = [c for c in graph["calls"] if c["operation"] == "/node/info" and
            re.fullmatch(r"fs-\d+", c["request_id"])]
    assert len(mine) == 1
    assert mine[0]["identity"] == "local:root"
    assert mine[0]["status"] == "completed"


def test_ops_graph(node):
    ops = json.loads(node.read("flowgraph", "ops.json"))
    names = [o["name"] for o in ops["operations"]]
    assert names == sorted(names)
    assert {"/node/info", "/services/list", "/sessions/close"} <= set(names)
    info = ops["operations"][names.index("/node/info")]
    assert info["output_schema"]["required"] == ["id", "name"]
    for e in ops["edges"]:
        assert e["type"] == "typed"
        assert e["from"] in names and e["to"] in names

    dot = node.read("flowgraph", "ops.dot")
    assert dot.startswith("digraph ops {")
    svg = render(node.path("flowgraph", "ops.dot"))
    assert "/sessions/close" in svg_texts(svg)
    assert len(svg_edges(svg)) == len(ops["edges"])


def test_tree(node):
    assert "flowgraph" in node.ls()
    assert node.ls("flowgraph") == sorted(
        ["calls", "calls.dot", "calls.json", "ops.dot", "ops.json"])

    def mode(*parts):
        return os.stat(node.path(*parts)).st_mode & 0o777
    assert mode("flowgraph") == 0o555
    assert mode("flowgraph", "calls") == 0o555
    assert mode("flowgraph", "calls.json") == 0o444
    assert not os.path.exists(node.path("flowgraph", "calls", "conn99:1"))
    with pytest.raises(OSError):
        os.mkdir(node.path("flowgraph", "calls", "x"))
