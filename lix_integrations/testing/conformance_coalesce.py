"""Miss coalescing scenarios every backend must pass: a crowd asking one new prompt, a failing leader, and
(on stores other processes see) a leader killed with SIGKILL.

Each runs real LangChain calls through `LixSemanticCache` and a
`ScriptedChatModel` that appends one line per LLM call to a file, so calls
made in worker processes are counted with the rest. Worker processes start, report ready, and wait for a "go"
file, so every caller asks at (nearly) the same moment.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["PROMPT", "ask_crowd", "calls_in", "check_leases", "kill_leader_then_ask"]

PROMPT = "What is the boiling point of water at sea level?"

_WORKER = r"""
import sys, time, pathlib
from lix_integrations import EngineConfig
from lix_integrations.langchain import LixSemanticCache
from lix_integrations.testing.agents import ScriptedChatModel
from lix_integrations.testing.fakes import FakeEmbedder
from lix_integrations.tiers.coalesce import CoalesceSettings

url, workdir, delay, lease, name, prompt = sys.argv[1:7]
work = pathlib.Path(workdir)
config = EngineConfig(coalesce=CoalesceSettings(lease_ttl=float(lease)))
cache = LixSemanticCache(url=url, embedder=FakeEmbedder(), config=config)
model = ScriptedChatModel(cache=cache, delay=float(delay), calls_file=str(work / "calls"))
(work / f"ready-{name}").write_text("1")
while not (work / "go").exists():
    time.sleep(0.002)
answer = model.invoke(prompt).text
(work / f"answer-{name}").write_text(answer)
"""


def calls_in(workdir: Path) -> int:
    path = workdir / "calls"
    return len(path.read_text().splitlines()) if path.exists() else 0


def _spawn(url: str, workdir: Path, name: str, *, delay: float, lease: float) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")])
    args = [sys.executable, "-c", _WORKER, url, str(workdir), str(delay), str(lease), name, PROMPT]
    return subprocess.Popen(args, env=env)


def _wait_for(
    path: Path, procs: list[subprocess.Popen[bytes]], timeout: float = 120.0, lines: int = 0
) -> None:
    """Until ``path`` exists and holds ``lines`` whole lines: a file opened for appending exists before its line
    is written, and a worker killed in between leaves it empty (a leader killed so was never counted)."""
    deadline = time.monotonic() + timeout
    while not path.exists() or (lines and path.read_bytes().count(b"\n") < lines):
        for proc in procs:
            if proc.poll() is not None and proc.returncode != 0:
                raise RuntimeError(f"worker exited with {proc.returncode} before {path.name}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path.name} never appeared")
        time.sleep(0.01)


def ask_crowd(
    url: str,
    workdir: Path,
    *,
    threads: int = 32,
    tasks: int = 32,
    processes: int = 2,
    delay: float = 1.0,
    fail_first: int = 0,
    coalesce: bool = True,
    **engine_options: Any,
) -> dict[str, Any]:
    """``threads`` threads and ``tasks`` asyncio tasks here, and one thread in each of ``processes`` worker
    processes, ask `PROMPT` at once. Returns the answers, errors, LLM calls and this process's stats."""
    from lix_integrations.langchain import LixSemanticCache
    from lix_integrations.testing.agents import ScriptedChatModel
    from lix_integrations.testing.fakes import FakeEmbedder

    procs = [_spawn(url, workdir, f"p{i}", delay=delay, lease=30.0) for i in range(processes)]
    cache = LixSemanticCache(url=url, embedder=FakeEmbedder(), coalesce=coalesce, **engine_options)
    model = ScriptedChatModel(
        cache=cache, delay=delay, fail_first=fail_first, calls_file=str(workdir / "calls")
    )
    answers: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    go, ready = threading.Event(), threading.Semaphore(0)

    def record(answer: str | None, error: BaseException | None) -> None:
        with lock:
            if error is not None:
                errors.append(error)
            else:
                assert answer is not None
                answers.append(answer)

    def in_thread() -> None:
        ready.release()
        go.wait()
        try:
            record(model.invoke(PROMPT).text, None)
        except Exception as exc:
            record(None, exc)

    async def in_task() -> None:
        try:
            record((await model.ainvoke(PROMPT)).text, None)
        except Exception as exc:
            record(None, exc)

    def in_loop() -> None:
        async def crowd() -> None:
            ready.release()
            await asyncio.to_thread(go.wait)
            await asyncio.gather(*(in_task() for _ in range(tasks)))

        asyncio.run(crowd())

    workers = [threading.Thread(target=in_thread) for _ in range(threads)]
    workers.append(threading.Thread(target=in_loop))
    for worker in workers:
        worker.start()
    for _ in workers:  # every caller here is about to ask: none starts after the leader's answer is stored
        ready.acquire(timeout=60)
    try:
        for i in range(processes):
            _wait_for(workdir / f"ready-p{i}", procs)
        (workdir / "go").write_text("1")
        go.set()
        for worker in workers:
            worker.join(timeout=300)
        for proc in procs:
            proc.wait(timeout=300)
    finally:
        go.set()
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for i in range(processes):
        answers.append((workdir / f"answer-p{i}").read_text())
    stats = cache.stats().semantic
    cache.engine.close()
    return {"answers": answers, "errors": errors, "calls": calls_in(workdir), "stats": stats}


def kill_leader_then_ask(url: str, workdir: Path, *, lease: float) -> dict[str, Any]:
    """A worker process takes the lead on `PROMPT` (its model takes an hour) and is killed with SIGKILL
    mid-call; then this process asks. Returns how long the ask took and how many calls were made."""
    from lix_integrations import EngineConfig
    from lix_integrations.langchain import LixSemanticCache
    from lix_integrations.testing.agents import ScriptedChatModel
    from lix_integrations.testing.fakes import FakeEmbedder
    from lix_integrations.tiers.coalesce import CoalesceSettings

    proc = _spawn(url, workdir, "leader", delay=3600.0, lease=lease)
    try:
        _wait_for(workdir / "ready-leader", [proc])
        (workdir / "go").write_text("1")
        _wait_for(workdir / "calls", [proc], lines=1)  # the leader holds the lease and is inside the LLM call
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    config = EngineConfig(coalesce=CoalesceSettings(lease_ttl=lease))
    cache = LixSemanticCache(url=url, embedder=FakeEmbedder(), config=config)
    model = ScriptedChatModel(cache=cache, calls_file=str(workdir / "calls"))
    started = time.monotonic()
    answer = model.invoke(PROMPT).text
    waited = time.monotonic() - started
    cache.engine.close()
    return {"answer": answer, "waited": waited, "calls": calls_in(workdir)}


def check_leases(backend: Any) -> None:
    """Lease semantics every backend must keep (expiry is exercised by `kill_leader_then_ask`)."""
    from lix_integrations.kernel.ops import ExactGet, Gather, LeaseAcquire, LeaseRelease

    ns, key = "lease-test", "k" * 64
    assert backend.execute(LeaseAcquire(ns, key, "a", 30.0)) is True
    assert backend.execute(LeaseAcquire(ns, key, "b", 30.0)) is False  # held by another token
    assert backend.execute(LeaseAcquire(ns, key, "a", 30.0)) is True  # its holder renews it
    assert backend.execute(LeaseRelease(ns, key, "b")) is False  # only the holder releases
    assert backend.execute(LeaseRelease(ns, key, "a")) is True
    assert backend.execute(LeaseRelease(ns, key, "a")) is False
    # Taken together with the record it guards, as a leader does (one round trip where the store has them).
    taken, record = backend.execute(Gather((LeaseAcquire(ns, key, "b", 30.0), ExactGet(ns, key))))
    assert taken is True and record is None
    assert backend.execute(LeaseAcquire("other-namespace", key, "a", 30.0)) is True  # namespaces apart
    backend.execute(LeaseRelease(ns, key, "b"))
    backend.execute(LeaseRelease("other-namespace", key, "a"))
