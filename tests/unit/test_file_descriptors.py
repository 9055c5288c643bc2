"""Issue 14, defect 4: file descriptors do not leak, and an open error names its real cause.

Descriptors are counted in ``/proc/self/fd``. The loops run in a child process: the count must not see this test
process's other engines and fixtures, and the EMFILE test lowers the child's own descriptor limit.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lix_integrations import Engine
from lix_integrations.engine.resolve import resolve_engines
from lix_integrations.errors import BackendError
from lix_integrations.testing import FakeEmbedder
from lix_integrations.tiers.sessions import SessionConfig

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts descriptors in /proc")

ROOT = Path(__file__).resolve().parents[2]


def _child(code: str, tmp_path: Path, *extra_env: tuple[str, str]) -> str:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "LIX_CACHE_DIR": str(tmp_path / "default"),
        **dict(extra_env),
    }
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


_LOOPS = """
import gc, os, sys
from langchain_core.messages import AIMessage, HumanMessage
from lix_integrations import Engine
from lix_integrations.langchain import LixChatMessageHistory
from lix_integrations.tiers.sessions import SessionConfig
from lix_integrations.testing import FakeEmbedder

def fds():
    return len(os.listdir("/proc/self/fd"))

tmp = sys.argv[1] if len(sys.argv) > 1 else os.environ["LIX_CACHE_DIR"]
spill = SessionConfig(hot_window=2, archive_batch=2)  # every request below spills to the archive
embedder = FakeEmbedder()
LixChatMessageHistory("warm-up", embedder=embedder, sessions=spill).add_messages([HumanMessage("x")])
gc.collect()

start = fds()
for i in range(1000):  # per-request histories on the default store, as RunnableWithMessageHistory makes them
    history = LixChatMessageHistory(f"request-{i % 97}", embedder=embedder, sessions=spill)
    history.add_messages([HumanMessage(f"q{i}"), AIMessage(f"a{i}"), HumanMessage("more"), AIMessage("ok")])
    assert history.messages[-1].content == "ok"
gc.collect()
print("histories", start, fds())

start = fds()
for i in range(100):
    engine = Engine(f"sqlite:///{os.environ['LIX_CACHE_DIR']}/cycle-{i % 3}.db", embedder=embedder, sessions=spill)
    engine.sessions.add_messages(f"s{i}", [{"content": str(k)} for k in range(6)])  # spills twice
    assert len(engine.sessions.get_full_history(f"s{i}")) == 6
    engine.close()
gc.collect()
print("engines", start, fds())
"""


def test_per_request_histories_and_engine_cycles_do_not_leak_descriptors(tmp_path: Path) -> None:
    out = _child(_LOOPS, tmp_path)
    figures = {line.split()[0]: tuple(map(int, line.split()[1:])) for line in out.splitlines()}
    for loop in ("histories", "engines"):
        before, after = figures[loop]
        print(f"{loop}: {before} descriptors before, {after} after")
        assert after - before <= 10, (loop, before, after)


def test_archive_locks_hold_no_descriptor_between_spills_or_after_close(tmp_path: Path) -> None:
    def fds() -> set[str]:
        return set(os.listdir("/proc/self/fd"))

    before = fds()
    config = SessionConfig(hot_window=1, archive_batch=1, archive_dir=str(tmp_path / "archive"))
    engine = Engine(f"sqlite:///{tmp_path / 'x.db'}", embedder=FakeEmbedder(), sessions=config)
    engine.sessions.add_messages("warm", [{"content": "a"}, {"content": "b"}, {"content": "c"}])
    opened = fds()
    for i in range(40):  # 40 sessions over many of the 256 lock stripes, each spilling
        engine.sessions.add_messages(f"s{i}", [{"content": "a"}, {"content": "b"}, {"content": "c"}])
        assert len(engine.sessions.get_full_history(f"s{i}")) == 3
    assert len(fds() - opened) <= 1  # no lock file stays open (before: one per stripe used, up to 256)
    engine.close()
    gc.collect()
    assert not (fds() - before)


def test_adapters_of_one_url_share_one_engine_until_the_last_goes(tmp_path: Path) -> None:
    from lix_integrations.engine.resolve import shared_engine_count
    from lix_integrations.langchain import LixChatMessageHistory, LixSemanticCache

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    embedder = FakeEmbedder()
    baseline = shared_engine_count()
    a = LixChatMessageHistory("a", url=url, embedder=embedder)
    b = LixChatMessageHistory("b", url=url, embedder=embedder)
    assert a.engine._core is b.engine._core and shared_engine_count() == baseline + 1
    core = a.engine._core
    a.engine.close()  # gives back a's share: b still works
    b.add_messages([])
    assert not core._closed
    del b
    gc.collect()  # the finalizer gives back b's share: the last one closes the engine
    assert core._closed and shared_engine_count() == baseline
    # Other options, or a private memory store, get their own engine.
    c = LixSemanticCache(url=url, embedder=embedder, namespace="n1")
    d = LixSemanticCache(url=url, embedder=embedder, namespace="n2")
    assert c.engine._core is not d.engine._core
    e, f = resolve_engines(None, {"url": "memory://"}), resolve_engines(None, {"url": "memory://"})
    assert e[0]._core is not f[0]._core
    for closing in (c.engine, d.engine, e[0], f[0]):
        closing.close()


async def test_async_views_keep_the_share_alive(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    sync, aio = resolve_engines(None, {"url": url, "embedder": FakeEmbedder()})
    core = sync._core
    del sync
    gc.collect()
    assert not core._closed  # the awaitable view an adapter keeps still holds the share
    await aio.sessions.add_messages("s", [{"content": "x"}])
    await aio.aclose()
    assert core._closed


# -- open errors name their cause ------------------------------------------------------------------------------


def test_out_of_descriptors_is_named_emfile_not_corrupt(tmp_path: Path) -> None:
    out = _child(
        """
        import os, resource
        from lix_integrations import Engine
        from lix_integrations.errors import BackendError
        from lix_integrations.testing import FakeEmbedder
        os.makedirs(os.environ["LIX_CACHE_DIR"], exist_ok=True)
        path = os.path.join(os.environ["LIX_CACHE_DIR"], "c.db")
        Engine(f"sqlite:///{path}", embedder=FakeEmbedder()).close()  # a healthy store
        used = len(os.listdir("/proc/self/fd"))
        resource.setrlimit(resource.RLIMIT_NOFILE, (used + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        try:
            Engine(f"sqlite:///{path}", embedder=FakeEmbedder())
        except BackendError as exc:
            print(exc)
        """,
        tmp_path,
    )
    assert "EMFILE" in out and "corrupt" not in out, out


def test_permission_denied_is_named_eacces_not_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "locked" / "c.db"
    path.parent.mkdir()
    Engine(f"sqlite:///{path}", embedder=FakeEmbedder()).close()
    for name in os.listdir(path.parent):
        os.chmod(path.parent / name, 0o600)
    os.chmod(path.parent, 0o700)
    # As root, permissions do not apply: the child drops to an unprivileged user first (after its imports).
    out = _child(
        f"""
        import os
        from lix_integrations import Engine
        from lix_integrations.errors import BackendError
        from lix_integrations.testing import FakeEmbedder
        # Everything an open imports lazily, imported while the files of the interpreter are still readable.
        Engine({f"sqlite:///{tmp_path / 'warm.db'}"!r}, embedder=FakeEmbedder()).close()
        if os.getuid() == 0:
            os.setgid(65534)
            os.setuid(65534)
        try:
            Engine({f"sqlite:///{path}"!r}, embedder=FakeEmbedder())
        except BackendError as exc:
            print(exc)
        """,
        tmp_path,
    )
    assert "EACCES" in out and "corrupt" not in out, out


def test_full_disk_is_named_enospc_not_corrupt(tmp_path: Path) -> None:
    """A new store on a full file system (a 64 KiB tmpfs: needs the right to mount, as root in a container)."""
    mount = tmp_path / "full"
    mount.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        (mount / "filler").write_bytes(b"\0" * 60_000)  # what is left cannot hold a new store's schema
        with pytest.raises(BackendError) as info:
            Engine(f"sqlite:///{mount / 'c.db'}", embedder=FakeEmbedder())
        assert "ENOSPC" in str(info.value) and "corrupt" not in str(info.value)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_real_corrupt_file_is_still_called_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    path.write_bytes(b"this is not a SQLite file, just text" * 200)
    with pytest.raises(BackendError, match="corrupt or not SQLite"):
        Engine(f"sqlite:///{path}", embedder=FakeEmbedder())
