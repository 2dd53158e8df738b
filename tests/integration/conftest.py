"""Harness for the integration tests.

Every test gets a Harness: a fresh directory under /tmp holding the state
directory and mount point of each alknetd it starts, the client keys it
makes and the logs of the programs it runs.  Daemons listen on
127.0.0.1 port 0; the bound port is read from their stderr.  Teardown
always kills what the test started and unmounts what is still mounted,
then fails the test if a daemon did not stop cleanly, left its mount
behind or printed a sanitizer report.
"""

import hashlib
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ALKNETD = os.environ.get("ALKNETD") or str(
    next((p for p in (REPO / "build" / "alknetd",
                      REPO / "build" / "fs" / "alknetd") if p.exists()),
         REPO / "build" / "alknetd"))

# Generous bound for anything we wait for; the ASan build is slow.
WAIT = 30

# A test still running after this long is stuck: the watchdog kills its
# daemons so that reads blocked on their mounts return and the test fails.
TEST_LIMIT = 300

SSH_OPTIONS = [
    "-F", "/dev/null",
    "-o", "IdentitiesOnly=yes",
    "-o", "IdentityAgent=none",
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null",
    "-o", "ExitOnForwardFailure=yes",
    "-o", "ConnectTimeout=20",
    "-o", "LogLevel=INFO",    # INFO shows "channel N: open failed"
]

# Tests fail logins from loopback on purpose: by default their daemons
# exempt it from per-source penalties (which are on, as in OpenSSH).
LOOPBACK = "127.0.0.0/8,::1"

SANITIZER_REPORT = re.compile(
    r"ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:")


def daemon_env():
    """Our environment without ALKNET_* settings, which alknetd reads."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("ALKNET_")}


def ipv6_available():
    try:
        with socket.create_server(("::1", 0), family=socket.AF_INET6):
            return True
    except OSError:
        return False


def fuse_available():
    return os.path.exists("/dev/fuse") and os.geteuid() == 0


needs_fuse = pytest.mark.skipif(
    not fuse_available(), reason="needs /dev/fuse and root")


def wait_for(predicate, what, timeout=WAIT, interval=0.05):
    """Polls predicate until it returns something true and returns that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for "
                                 f"{what}")
        time.sleep(interval)


def free_port(host="127.0.0.1"):
    """A port that was free a moment ago (nothing listens on it now)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def listens_on(pid, port):
    """True if process pid has a socket in LISTEN state on this TCP port
    (another program may have taken a port we thought was free)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.split(":")[1], 16) == port:
                inodes.add(f"socket:[{inode}]")
    if not inodes:
        return False
    fd_dir = f"/proc/{pid}/fd"
    try:
        fds = os.listdir(fd_dir)
    except FileNotFoundError:
        return False
    for fd in fds:
        try:
            if os.readlink(os.path.join(fd_dir, fd)) in inodes:
                return True
        except OSError:
            pass
    return False


def mount_points():
    """Every mount point, read from mountinfo (which never blocks)."""
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4].replace("\\040", " ") for line in f]


def mounted(path):
    return os.path.realpath(path) in mount_points()


def mounts_under(directory):
    prefix = os.path.realpath(directory) + "/"
    return [m for m in mount_points() if m.startswith(prefix)]


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def recv_all(sock, limit=64 << 20):
    """Reads until EOF; a reset after some data counts as EOF."""
    chunks = []
    size = 0
    while size < limit:
        try:
            chunk = sock.recv(1 << 16)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def connection_closed(sock, timeout=WAIT):
    """True if the peer closes sock (EOF or reset) without sending data."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def echo_through(port, data, host="127.0.0.1"):
    """Sends data to an echo service, half-closes, returns what came back."""
    with socket.create_connection((host, port), timeout=WAIT) as sock:
        sock.settimeout(120)
        sender = threading.Thread(target=_send_and_shut, args=(sock, data))
        sender.start()
        reply = recv_all(sock, limit=len(data) + 1)
        sender.join(WAIT)
    return reply


def _send_and_shut(sock, data):
    try:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass        # the reader sees the short reply and the test fails


def parse_kv(text):
    """Parses 'key value' lines into a dict."""
    result = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        result[key] = value
    return result


def parse_events(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class Key:
    """An SSH key pair made with ssh-keygen."""

    def __init__(self, path):
        self.path = str(path)
        self.pub = Path(self.path + ".pub").read_text().strip()
        out = subprocess.run(["ssh-keygen", "-lf", self.path + ".pub"],
                             check=True, capture_output=True, text=True)
        self.fingerprint = out.stdout.split()[1]

    def line(self, comment=None):
        """The authorized_keys line, optionally with another comment."""
        kind, blob = self.pub.split()[:2]
        if comment is None:
            return f"{kind} {blob}"
        return f"{kind} {blob} {comment}"


class Daemon:
    """One alknetd process and what it printed."""

    def __init__(self, harness, argv, log_path, mount, env):
        self.harness = harness
        self.argv = argv
        self.log_path = log_path
        self.mount = mount
        self.port = None
        self.stopped_by_teardown = False
        # Should the test run itself be killed (a ctest timeout), the
        # daemon is told to stop, and unmounts, instead of staying on.
        # setpriv execs the daemon: the pid is the daemon's.
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(
                ["setpriv", "--pdeathsig", "TERM", "--", *argv],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
        self.pid = self.proc.pid

    def log(self):
        return Path(self.log_path).read_text(errors="replace")

    def wait_log(self, pattern, timeout=WAIT):
        """Waits for a stderr line matching pattern; returns the match."""
        regex = re.compile(pattern, re.M)

        def found():
            match = regex.search(self.log())
            if match is None and self.proc.poll() is not None:
                # One last look: the line may have come with the exit.
                match = regex.search(self.log())
                if match is None:
                    raise AssertionError(
                        f"alknetd exited with {self.proc.returncode} "
                        f"before printing /{pattern}/:\n{self.log()}")
            return match

        return wait_for(found, f"/{pattern}/ in {self.log_path}", timeout)

    def wait_ready(self):
        match = self.wait_log(r"^alknetd: listener added name=\S+ "
                              r"uri=tcp://127\.0\.0\.1:(\d+)\b")
        self.port = int(match.group(1))
        self.wait_log(rf"^alknetd: ready pid={self.pid}\b")
        if self.mount:
            self.wait_log(rf"^alknetd: mounted "
                          rf"dir={re.escape(self.mount)}(?: |$)")
            assert mounted(self.mount)
        return self

    def running(self):
        return self.proc.poll() is None

    # The mount.

    def path(self, *parts):
        return os.path.join(self.mount, *parts)

    def read(self, *parts):
        with open(self.path(*parts)) as f:
            return f.read()

    def value(self, *parts):
        """A single-value file without its newline."""
        return self.read(*parts).rstrip("\n")

    def ls(self, *parts):
        return sorted(os.listdir(self.path(*parts)))

    def ctl(self, command, *parts):
        """Writes one command to a ctl file (the node's by default).

        Returns (errno or 0, what a read on the same handle returns).
        """
        path = self.path(*parts) if parts else self.path("ctl")
        fd = os.open(path, os.O_RDWR)
        try:
            try:
                os.write(fd, command.encode() + b"\n")
                err = 0
            except OSError as e:
                err = e.errno
            try:
                reply = os.read(fd, 4096).decode(errors="replace")
            except OSError as e:
                reply = f"<read failed: {os.strerror(e.errno)}>"
        finally:
            os.close(fd)
        return err, reply

    # The process.

    def fd_count(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def stop(self, sig=signal.SIGTERM, timeout=WAIT):
        """Sends sig and waits for the exit; returns the exit status."""
        if self.running():
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"alknetd did not exit within {timeout}s "
                                 f"after {signal.Signals(sig).name}")

    def wait_exit(self, timeout=WAIT):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"alknetd still running after {timeout}s")


class Forward:
    """A running `ssh -N -L` or `ssh -N -D` and its local port."""

    def __init__(self, proc, ports, log_path):
        self.proc = proc
        self.ports = ports
        self.port = ports[0]
        self.log_path = log_path

    def log(self):
        return Path(self.log_path).read_text(errors="replace")

    def stop(self, timeout=WAIT):
        """Ends ssh with SIGTERM and waits for it.  OpenSSH 9.2's client
        looks for a signal before it enters poll(); one that comes in
        between is seen only when poll returns, which may be minutes
        later.  So the signal is repeated until ssh has gone."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError("ssh still running after SIGTERM")
            self.proc.terminate()
            try:
                self.proc.wait(0.2)
            except subprocess.TimeoutExpired:
                pass
        return self.proc.returncode


class Harness:
    """Everything one test starts, and its cleanup."""

    def __init__(self):
        if not os.access(ALKNETD, os.X_OK):
            pytest.fail(f"no alknetd at {ALKNETD} (build it, or set ALKNETD)",
                        pytrace=False)
        self.dir = Path(tempfile.mkdtemp(prefix="alknet-it-", dir="/tmp"))
        self.daemons = []
        self.procs = []
        self.servers = []
        self.reserved = []
        self.counter = 0
        self._key = None
        self.watchdog_fired = False
        self.watchdog = threading.Timer(TEST_LIMIT, self._watchdog)
        self.watchdog.daemon = True
        self.watchdog.start()

    def _watchdog(self):
        self.watchdog_fired = True
        for d in self.daemons:
            if d.running():
                d.proc.kill()
        for p in self.procs:
            if p.poll() is None:
                p.kill()

    def name(self, prefix):
        self.counter += 1
        return f"{prefix}{self.counter}"

    # Keys and files.

    def make_key(self, kind="ed25519", comment=None):
        path = self.dir / self.name(f"id_{kind}_")
        bits = ["-b", "2048"] if kind == "rsa" else []
        subprocess.run(["ssh-keygen", "-q", "-t", kind, *bits, "-N", "",
                        "-C", comment or f"{path.name}@alknet-test",
                        "-f", str(path)], check=True)
        return Key(path)

    @property
    def key(self):
        """The default client key, authorized on nodes started by default."""
        if self._key is None:
            self._key = self.make_key()
        return self._key

    # Daemons.

    def start_node(self, keys=None, authorized_keys=None, mount=True,
                   args=(), env=None, wait=True, state=None, mount_dir=None,
                   prefix=(), listen="127.0.0.1:0", forwarding=("allow *",),
                   penalty_exempt=LOOPBACK):
        """Starts alknetd on 127.0.0.1:0 with its own state dir and mount.

        keys: the keys written to STATE/authorized_keys (default: the
        harness key); authorized_keys: the file's whole text instead, or
        False to write no file;
        state: an existing state dir to reuse; prefix: a command that
        execs alknetd (it must keep the pid); listen: another address,
        such as a port picked by the test to start a node on again;
        forwarding: the --forwarding-rule flags (default: everywhere, so
        that tests reach their local servers);
        penalty_exempt: the --penalty-exempt flag, None for none (by
        default loopback, where tests fail logins on purpose).
        """
        if mount and not fuse_available():
            pytest.skip("needs /dev/fuse and root")
        name = self.name("node")
        if state is None:
            state = self.dir / name / "state"
            state.mkdir(parents=True, mode=0o700)
            if authorized_keys is None:
                if keys is None:
                    keys = [self.key]
                authorized_keys = "".join(k.line() + "\n" for k in keys)
            if authorized_keys is not False:
                (state / "authorized_keys").write_text(authorized_keys)
        argv = [*prefix, ALKNETD, "--listen", listen,
                "--state-dir", str(state), "--name", name]
        if mount:
            if mount_dir is None:
                mount_dir = self.dir / name / "mnt"
                mount_dir.mkdir(parents=True)
            argv += ["--mount", str(mount_dir)]
        else:
            argv += ["--no-mount"]
        for rule in forwarding:
            argv += ["--forwarding-rule", rule]
        if penalty_exempt is not None:
            argv += ["--penalty-exempt", penalty_exempt]
        argv += list(args)
        daemon = Daemon(self, argv, str(self.dir / f"{name}.log"),
                        str(mount_dir) if mount else None,
                        env if env is not None else daemon_env())
        daemon.state = Path(state)
        self.daemons.append(daemon)
        if wait:
            daemon.wait_ready()
        return daemon

    def run_failing_daemon(self, args, timeout=WAIT):
        """Runs alknetd expecting it to exit; returns (status, stderr)."""
        proc = subprocess.Popen([ALKNETD, *args], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                env=daemon_env())
        self.procs.append(proc)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise AssertionError(f"alknetd {args} still running after "
                                 f"{timeout}s")
        return proc.returncode, out + err

    # Client programs.

    def spawn(self, argv, log_name=None, **kwargs):
        """Starts a program that teardown kills; output goes to a file."""
        if log_name is None:
            log_name = self.name(Path(argv[0]).name + "-") + ".log"
        log_path = self.dir / log_name
        with open(log_path, "wb") as log:
            kwargs.setdefault("stdin", subprocess.DEVNULL)
            kwargs.setdefault("stdout", log)
            kwargs.setdefault("stderr", log)
            proc = subprocess.Popen(argv, **kwargs)
        proc.log_path = log_path
        self.procs.append(proc)
        return proc

    def ssh_argv(self, node, key, *options, command=(), user="alk",
                 port=None, host="127.0.0.1"):
        return ["ssh", *SSH_OPTIONS, "-i", key.path,
                "-p", str(port or node.port), "-l", user, *options,
                host, *command]

    def ssh_run(self, node, key, *command, options=(), timeout=WAIT):
        """Runs ssh to completion; returns the CompletedProcess."""
        argv = self.ssh_argv(node, key, *options, command=command)
        return subprocess.run(argv, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True,
                              timeout=timeout)

    def forward(self, node, kind, *targets, key=None, user="alk", port=None,
                host="127.0.0.1"):
        """Runs `ssh -N -L` (kind "-L", one local port per target) or
        `ssh -N -D` (kind "-D", no targets) and waits until every local
        port accepts.  Returns a Forward (ports in .ports, first in .port).
        """
        key = key or self.key
        for _ in range(5):
            ports = [free_port() for _ in (targets or [None])]
            specs = []
            for lport, target in zip(ports, targets or [None]):
                spec = f"127.0.0.1:{lport}"
                specs += [kind, spec + (f":{target}" if target else "")]
            proc = self.spawn(self.ssh_argv(node, key, "-N", *specs,
                                            user=user, port=port, host=host))
            fwd = Forward(proc, ports, proc.log_path)

            def ready():
                return (proc.poll() is not None or
                        all(listens_on(proc.pid, p) for p in ports))

            wait_for(ready, "ssh forwarding ports to listen")
            if proc.poll() is None:
                return fwd
            # Another process may have taken one of our ports: try again.
            if "Address already in use" not in fwd.log():
                raise AssertionError(
                    f"ssh exited with {proc.returncode}:\n{fwd.log()}")
        raise AssertionError("could not find free local ports for ssh")

    def watch(self, node, *parts, argv=("cat",)):
        """Starts a reader (cat, tail -f ...) on a mount file and waits
        until it has the file open.  Returns the process; its output is
        in proc.log_path."""
        path = node.path(*parts)
        proc = self.spawn([*argv, path])

        def has_open():
            try:
                fds = os.listdir(f"/proc/{proc.pid}/fd")
            except FileNotFoundError:
                return False
            for fd in fds:
                try:
                    if os.readlink(f"/proc/{proc.pid}/fd/{fd}") == path:
                        return True
                except OSError:
                    pass
            if proc.poll() is not None:
                raise AssertionError(f"{argv[0]} {path} exited early: "
                                     f"{Path(proc.log_path).read_text()}")
            return False

        wait_for(has_open, f"{argv[0]} to open {path}")
        return proc

    # Local servers.

    def refused_port(self):
        """A port on 127.0.0.1 that refuses connections for the whole
        test: bound, so nobody else takes it, but never listening."""
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.reserved.append(sock)
        return sock.getsockname()[1]

    def serve(self, handler, host="127.0.0.1"):
        server = TcpServer(handler, host)
        self.servers.append(server)
        return server

    def echo_server(self, host="127.0.0.1"):
        return self.serve(echo_handler, host)

    def half_close_server(self):
        return self.serve(half_close_handler)

    def http_server(self, files):
        """Serves the given {name: bytes} over HTTP on 127.0.0.1:0."""
        root = self.dir / self.name("www")
        root.mkdir()
        for name, content in files.items():
            (root / name).write_bytes(content)
        server = HttpServer(root)
        server.root = root
        self.servers.append(server)
        return server

    # Cleanup.

    def cleanup(self):
        """Stops everything; returns a list of problems found."""
        self.watchdog.cancel()
        problems = []
        if self.watchdog_fired:
            problems.append(f"test ran longer than {TEST_LIMIT}s; "
                            "its daemons were killed")

        for p in self.procs:
            if p.poll() is None:
                p.kill()
        # Last started, first stopped: a later daemon may depend on an
        # earlier one's state or mount point.
        stopped_mounts = set()
        for d in reversed(self.daemons):
            problems += self._stop_daemon(d)
            if d.mount and d.stopped_by_teardown:
                stopped_mounts.add(d.mount)
        # Checked once all are stopped, as daemons may share a mount point.
        for path in sorted(stopped_mounts):
            if mounted(path):
                problems.append(f"{path} still mounted after SIGTERM")
        for p in self.procs:
            try:
                p.wait(WAIT)
            except subprocess.TimeoutExpired:
                problems.append(f"pid {p.pid} ({p.args[0]}) would not die")
        for s in self.servers:
            s.close()
        for sock in self.reserved:
            sock.close()

        # Mounts may be stacked on one point: unmount until none is left.
        for _ in range(10):
            if not mounts_under(self.dir):
                break
            for path in mounts_under(self.dir):
                subprocess.run(["umount", "-l", path], capture_output=True)
        if not mounts_under(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)
        return problems

    def _stop_daemon(self, d):
        problems = []
        if d.running():
            d.proc.send_signal(signal.SIGTERM)
            try:
                status = d.proc.wait(WAIT)
                if status != 0:
                    problems.append(f"alknetd exited with {status} "
                                    "after SIGTERM")
            except subprocess.TimeoutExpired:
                d.proc.kill()
                d.proc.wait()
                problems.append("alknetd ignored SIGTERM")
            d.stopped_by_teardown = True
        # Shown by pytest only when the test failed.
        print(f"--- {d.log_path} (exit status {d.proc.returncode})")
        print(d.log())
        report = SANITIZER_REPORT.search(d.log())
        if report:
            problems.append(f"sanitizer report in {d.log_path}:\n"
                            + d.log()[report.start():][:4000])
        return problems


class TcpServer:
    """Accepts TCP connections and runs handler(conn) for each in a
    thread."""

    def __init__(self, handler, host="127.0.0.1"):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.create_server((host, 0), family=family)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.accepted = 0
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.conns.append(conn)
            threading.Thread(target=self._handle, args=(conn,),
                             daemon=True).start()

    def _handle(self, conn):
        try:
            self.handler(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        # shutdown() wakes the thread blocked in accept().
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for conn in self.conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.thread.join(5)


def echo_handler(conn):
    while True:
        data = conn.recv(1 << 16)
        if not data:
            break
        conn.sendall(data)
    conn.shutdown(socket.SHUT_WR)


def half_close_handler(conn):
    """Reads until the client shuts down its side, then answers."""
    data = recv_all(conn)
    conn.sendall(f"got {len(data)} bytes sha256 {sha256(data)}\n".encode())


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class HttpServer:
    def __init__(self, root, address=("127.0.0.1", 0),
                 server_class=http.server.ThreadingHTTPServer):
        handler = partial(QuietHandler, directory=str(root))
        self.httpd = server_class(address, handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def harness():
    h = Harness()
    try:
        yield h
    finally:
        problems = h.cleanup()
    if problems:
        pytest.fail("teardown: " + "\n".join(problems), pytrace=False)


@pytest.fixture
def node(harness):
    """A daemon with its namespace mounted; harness.key may log in."""
    return harness.start_node()


@pytest.fixture
def plain_node(harness):
    """A daemon without a mount (runs without FUSE); harness.key may log
    in."""
    return harness.start_node(mount=False)
