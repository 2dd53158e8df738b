"""Workers for the integration tests: alknetd started with --connect,
the servers it dials (a stock OpenSSH sshd or an alknetd head), and a
small SOCKS5 client.

Everything here builds on conftest's Harness, so teardown stops what is
started here too.
"""

import http.server
import ipaddress
import os
import re
import signal
import socket
import struct
import subprocess
import threading
from pathlib import Path

from conftest import (ALKNETD, WAIT, Daemon, HttpServer, daemon_env,
                      free_port, fuse_available, listens_on, recv_all,
                      wait_for)

import pytest

SSHD = "/usr/sbin/sshd"


def curl(*args, timeout=WAIT):
    """Runs curl; returns the body, failing the test on any error."""
    out = subprocess.run(["curl", "-sS", "--fail", "--max-time", str(timeout),
                          *args], capture_output=True, timeout=timeout + 10)
    assert out.returncode == 0, (f"curl {' '.join(args)}: exit "
                                 f"{out.returncode}: "
                                 + out.stderr.decode(errors="replace"))
    return out.stdout


def fingerprint(pub_path):
    out = subprocess.run(["ssh-keygen", "-lf", str(pub_path)], check=True,
                         capture_output=True, text=True)
    return out.stdout.split()[1]


# The worker.

def start_worker(harness, uri, *, key=None, socks=(), forwards=(),
                 remote_forwards=(), hostkey=None, user=None, mount=True,
                 prefix=(), args=(), wait_up=True):
    """Starts alknetd --connect URI with its own state dir and mount.

    socks, forwards and remote_forwards are the values of --socks,
    --forward and --remote-forward.  Returns the Daemon once it is
    ready and, with wait_up, once its upstream is up.
    """
    if mount and not fuse_available():
        pytest.skip("needs /dev/fuse and root")
    key = key or harness.key
    name = harness.name("worker")
    state = harness.dir / name / "state"
    state.mkdir(parents=True, mode=0o700)
    argv = [*prefix, ALKNETD, "--connect", uri, "--identity", key.path,
            "--state-dir", str(state), "--name", name]
    if hostkey:
        argv += ["--hostkey", hostkey]
    if user:
        argv += ["--user", user]
    for spec in socks:
        argv += ["--socks", spec]
    for spec in forwards:
        argv += ["--forward", spec]
    for spec in remote_forwards:
        argv += ["--remote-forward", spec]
    mount_dir = None
    if mount:
        mount_dir = harness.dir / name / "mnt"
        mount_dir.mkdir()
        argv += ["--mount", str(mount_dir)]
    else:
        argv += ["--no-mount"]
    argv += list(args)
    worker = Daemon(harness, argv, str(harness.dir / f"{name}.log"),
                    str(mount_dir) if mount else None, daemon_env())
    worker.state = state
    harness.daemons.append(worker)

    worker.wait_log(rf"^alknetd: ready pid={worker.pid}\b")
    if mount:
        worker.wait_log(rf"^alknetd: mounted "
                        rf"dir={re.escape(str(mount_dir))}(?: |$)")
    if wait_up:
        worker.wait_log(r"^alknetd: upstream up name=\S+ session=\d+")
    return worker


def data_channels(node):
    """The node's channels but the control channel a worker keeps open
    to its head for calls."""
    ids = []
    for cid in node.ls("channels"):
        try:
            if node.value("channels", cid, "kind") != "control":
                ids.append(cid)
        except FileNotFoundError:
            pass
    return ids


def write_value(path, value):
    """Writes a value file in one write(); returns 0 or the errno."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode() + b"\n")
        return 0
    except OSError as e:
        return e.errno
    finally:
        os.close(fd)


def forward_field(worker, name, field):
    return worker.value("forwards", name, field)


def forward_port(worker, name):
    """The port a forward listens on (the real one once it is up)."""
    return int(forward_field(worker, name, "listen").rsplit(":", 1)[1])


def wait_forward_state(worker, name, state):
    wait_for(lambda: forward_field(worker, name, "state") == state,
             f"forwards/{name}/state to be {state}")


def upstream_state(worker, name="up0"):
    return worker.value("upstreams", name, "state")


def wait_upstream_state(worker, state, name="up0"):
    wait_for(lambda: upstream_state(worker, name) == state,
             f"upstreams/{name}/state to be {state}")


def count_lines(daemon, pattern):
    return len(re.findall(pattern, daemon.log(), re.M))


# The servers a worker dials.

class HeadServer:
    """An alknetd head as the server of a worker."""

    kind = "alknetd"

    def __init__(self, node):
        self.node = node
        self.uri = f"tcp://127.0.0.1:{node.port}"
        # ssh-keygen reads the public half out of the private key file.
        self.hostkey = fingerprint(node.state / "host_ed25519_key")
        self.user = None

    def allow_listen(self, rules="allow 127.0.0.1:*"):
        """Lets peers open remote forwards (the whole rule set)."""
        with open(self.node.path("acl", "listen"), "w") as f:
            f.write(rules + "\n")


class OpenSshServer:
    """A stock OpenSSH sshd on an ephemeral loopback port, letting in one
    key as root."""

    kind = "openssh"

    def __init__(self, harness, key):
        if not os.access(SSHD, os.X_OK):
            pytest.skip(f"no {SSHD}")
        if os.geteuid() != 0:
            pytest.skip("sshd needs root")
        # The privilege separation directory sshd insists on.
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self.dir = harness.dir / harness.name("sshd")
        self.dir.mkdir()
        host_key = self.dir / "host_ed25519_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "",
                        "-f", str(host_key)], check=True)
        self.hostkey = fingerprint(str(host_key) + ".pub")
        authorized = self.dir / "authorized_keys"
        authorized.write_text(key.line() + "\n")
        self.log_path = self.dir / "sshd.log"
        self.user = "root"
        self.proc = None

        for _ in range(5):
            self.port = free_port()
            config = self.dir / "sshd_config"
            config.write_text(
                f"Port {self.port}\n"
                "ListenAddress 127.0.0.1\n"
                f"HostKey {host_key}\n"
                f"AuthorizedKeysFile {authorized}\n"
                "StrictModes no\n"
                "UsePAM no\n"
                "PidFile none\n"
                "PermitRootLogin prohibit-password\n"
                "PasswordAuthentication no\n"
                "KbdInteractiveAuthentication no\n"
                "AllowTcpForwarding yes\n"
                "GatewayPorts no\n"
                "LogLevel VERBOSE\n")
            proc = harness.spawn([SSHD, "-D", "-f", str(config),
                                  "-E", str(self.log_path)],
                                 start_new_session=True)
            wait_for(lambda: proc.poll() is not None
                     or listens_on(proc.pid, self.port),
                     "sshd to listen")
            if proc.poll() is None:
                self.proc = proc
                break
            if "Address already in use" not in self.log():
                raise AssertionError(f"sshd exited with {proc.returncode}:"
                                     f"\n{self.log()}")
        else:
            raise AssertionError("could not find a free port for sshd")
        self.uri = f"tcp://127.0.0.1:{self.port}"

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def allow_listen(self, rules=None):
        """sshd lets any authenticated user listen on loopback."""

    def stop(self):
        """Kills sshd and the session processes it forked."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(WAIT)


# Local servers conftest does not have.

class _Http6Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


def http6_server(harness, files):
    root = harness.dir / harness.name("www6")
    root.mkdir()
    for name, content in files.items():
        (root / name).write_bytes(content)
    # Serves on [::1] only.
    server = HttpServer(root, ("::1", 0), _Http6Server)
    harness.servers.append(server)
    return server


def deep_backlog(server, backlog=1024):
    """Lets a conftest TcpServer queue many connections at once (a second
    listen() only changes the backlog)."""
    server.sock.listen(backlog)
    return server


# SOCKS5, spoken by hand.

def recv_exact(sock, n):
    """Reads n bytes, or fewer if the peer closes first."""
    data = b""
    while len(data) < n:
        try:
            chunk = sock.recv(n - len(data))
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def socks_address(host, port):
    """ATYP, address and port of a SOCKS5 request."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        name = host.encode()
        return bytes([3, len(name)]) + name + struct.pack(">H", port)
    atyp = 1 if ip.version == 4 else 4
    return bytes([atyp]) + ip.packed + struct.pack(">H", port)


def socks_request(host, port, cmd=1):
    return bytes([5, cmd, 0]) + socks_address(host, port)


def socks_open(proxy_port, host, port, timeout=WAIT, proxy_host="127.0.0.1"):
    """Greets, asks for CONNECT host:port; returns (sock, 10-byte reply).

    The reply is shorter if the proxy closed early; the caller checks.
    """
    sock = socket.create_connection((proxy_host, proxy_port),
                                    timeout=timeout)
    try:
        sock.sendall(b"\x05\x01\x00")
        method = recv_exact(sock, 2)
        if method != b"\x05\x00":
            return sock, method
        sock.sendall(socks_request(host, port))
        return sock, recv_exact(sock, 10)
    except BaseException:
        sock.close()
        raise


SOCKS_OK = b"\x05\x00\x00\x01" + bytes(6)


def socks_reply(rep):
    """The complete reply alknet sends: bound address 0.0.0.0:0."""
    return bytes([5, rep, 0, 1]) + bytes(6)


def exchange(sock, data, timeout=120):
    """Sends data and half-closes from a thread while reading to EOF;
    returns what came back."""
    sock.settimeout(timeout)

    def send():
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    sender = threading.Thread(target=send)
    sender.start()
    reply = recv_all(sock, limit=len(data) + 1)
    sender.join(WAIT)
    return reply


def socks_echo(proxy_port, echo_port, data, echo_host="127.0.0.1"):
    """Round-trips data through a SOCKS proxy to an echo server."""
    sock, reply = socks_open(proxy_port, echo_host, echo_port)
    with sock:
        assert reply == SOCKS_OK, f"SOCKS reply {reply.hex()}"
        return exchange(sock, data)


def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])
