"""Load: 8 threads in each of 2 processes doing mixed semantic lookups/updates, KV reads/writes and chat appends
for 60 seconds (``LIX_LOAD_SECONDS``), on SQLite and on Redis; and the resident memory of a process whose cache
sits at its maximum size.

Checked afterwards: no exception in any thread; every acknowledged message is in its session, once, in order
(per-thread sessions exactly; a session shared by all 16 writers keeps each writer's order); every hit's payload
is the one stored for the prompt it reports; each process's statistics equal what its threads counted.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import random
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import pytest

from lix_integrations import Engine
from lix_integrations.testing import FakeEmbedder
from lix_integrations.tiers.embeddings import EmbeddingConfig
from lix_integrations.tiers.sessions import SessionConfig
from tests.integration.conftest import with_prefix

SECONDS = float(os.environ.get("LIX_LOAD_SECONDS", "60"))
PROCESSES = 2
THREADS = 8
FIGURES: dict[str, Any] = {}


def _answer(prompt: str) -> str:
    return f"answer to {prompt}"


def _engine(url: str, archive: str) -> Engine:
    config = SessionConfig(hot_window=10, archive_batch=10, archive_dir=archive)
    return Engine(url, embedder=FakeEmbedder(), sessions=config)


def _thread(engine: Engine, p: int, t: int, deadline: float, out: dict[str, Any]) -> None:
    rng = random.Random(p * 100 + t)
    counts = dict.fromkeys(["lookups", "hits", "updates", "kv_gets", "kv_puts", "appends", "reads"], 0)
    own: list[str] = []
    shared: list[str] = []
    session = f"own-{p}-{t}"
    n = 0
    try:
        while time.monotonic() < deadline:
            n += 1
            roll = rng.random()
            prompt = f"w{rng.randrange(200)}x{p}y{t}" if rng.random() < 0.5 else f"shared{rng.randrange(300)}"
            if roll < 0.35:
                hit = engine.semantic.lookup(prompt, "llm")
                counts["lookups"] += 1
                if hit is not None:
                    counts["hits"] += 1
                    assert hit.payload == _answer(hit.prompt), (prompt, hit)
                    assert hit.kind != "exact" or hit.prompt == prompt
            elif roll < 0.55:
                engine.semantic.update(prompt, "llm", _answer(prompt))
                counts["updates"] += 1
            elif roll < 0.65:
                key = f"k{rng.randrange(50)}"
                value = engine.kv.get(key, "load")
                counts["kv_gets"] += 1
                assert value is None or value == {"key": key, "v": value["v"]}
            elif roll < 0.75:
                key = f"k{rng.randrange(50)}"
                engine.kv.put(key, {"key": key, "v": n}, "load")
                counts["kv_puts"] += 1
            elif roll < 0.97:
                text = f"{p}:{t}:{n}"
                if rng.random() < 0.5:
                    engine.sessions.add_message(session, {"content": text})
                    own.append(text)
                else:
                    engine.sessions.add_message("shared", {"content": text})
                    shared.append(text)
                counts["appends"] += 1
            else:
                history = [m["content"] for m in engine.sessions.get_full_history(session)]
                assert history == own, f"{session}: {len(history)} read, {len(own)} acknowledged"
                counts["reads"] += 1
    except BaseException:
        out["errors"].append(traceback.format_exc())
    out["threads"].append({"t": t, "counts": counts, "own": own, "shared": shared})


def _process(url: str, archive: str, p: int, seconds: float, result_path: str) -> None:
    engine = _engine(url, archive)
    out: dict[str, Any] = {"errors": [], "threads": []}
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=_thread, args=(engine, p, t, deadline, out)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out["stats"] = engine.stats().to_dict()
    engine.close()
    Path(result_path).write_text(json.dumps(out))


def _run_load(url: str, tmp_path: Path, name: str) -> None:
    archive = str(tmp_path / "archive")
    _engine(url, archive).close()  # create the store once, before two processes race to
    ctx = multiprocessing.get_context("spawn")
    paths = [tmp_path / f"result-{p}.json" for p in range(PROCESSES)]
    procs = [
        ctx.Process(target=_process, args=(url, archive, p, SECONDS, str(paths[p]))) for p in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(SECONDS + 180)
        assert proc.exitcode == 0
    results = [json.loads(path.read_text()) for path in paths]
    assert [e for r in results for e in r["errors"]] == []

    engine = _engine(url, archive)
    shared_acked: list[str] = []
    totals: dict[str, int] = {}
    for p, result in enumerate(results):
        counts = {k: sum(th["counts"][k] for th in result["threads"]) for k in result["threads"][0]["counts"]}
        for k, v in counts.items():
            totals[k] = totals.get(k, 0) + v
        stats = result["stats"]
        semantic = stats["semantic"]
        # statistics add up: what the engine counted is what the threads did
        assert semantic["exact_hits"] + semantic["semantic_hits"] == counts["hits"]
        assert semantic["exact_hits"] + semantic["semantic_hits"] + semantic["misses"] == counts["lookups"]
        assert semantic["updates"] == counts["updates"]
        assert stats["kv"]["gets"] == counts["kv_gets"] and stats["kv"]["puts"] == counts["kv_puts"]
        assert stats["sessions"]["appended"] == counts["appends"]
        for th in result["threads"]:
            history = [m["content"] for m in engine.sessions.get_full_history(f"own-{p}-{th['t']}")]
            assert history == th["own"]
            shared_acked += th["shared"]
    shared = [m["content"] for m in engine.sessions.get_full_history("shared")]
    assert sorted(shared) == sorted(shared_acked) and len(shared) == len(set(shared))
    for p in range(PROCESSES):  # each writer's messages keep their order in the shared session
        for t in range(THREADS):
            mine = [int(m.split(":")[2]) for m in shared if m.startswith(f"{p}:{t}:")]
            assert mine == sorted(mine)
    engine.close()
    FIGURES[name] = {
        "seconds": SECONDS,
        "operations": sum(totals.values()),
        **totals,
        "messages_verified": totals["appends"],
    }
    print(f"\nload {name}: {FIGURES[name]}")


@pytest.mark.slow
def test_load_sqlite(tmp_path: Path) -> None:
    _run_load(f"sqlite:///{tmp_path / 'x.db'}", tmp_path, "sqlite")


@pytest.mark.slow
def test_load_redis(tmp_path: Path, redis_plain_url: str) -> None:
    _run_load(with_prefix(redis_plain_url), tmp_path, "redis")


# -- memory at the maximum cache size ---------------------------------------------------------------------------


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_rss_bounded_at_max_entries(backend: str, tmp_path: Path) -> None:
    url = f"memory://rss-{os.getpid()}" if backend == "memory" else f"sqlite:///{tmp_path / 'x.db'}"
    max_entries = 2000
    # Every tier at a small maximum: the semantic entries, and the prompt vectors the embedding tier caches for
    # them (its own bounds, 1,000,000 stored and 100,000 in the in-process front by default).
    embeddings = EmbeddingConfig(max_entries=max_entries, front_entries=max_entries, evict_every=128)
    engine = Engine(url, embedder=FakeEmbedder(), max_entries=max_entries, embeddings=embeddings)
    payload = "x" * 1000

    def fill(start: int, count: int) -> None:
        for i in range(start, start + count):
            engine.semantic.update(f"prompt {i} word{i}", "llm", payload)
            engine.semantic.lookup(f"prompt {i - 7} word{i - 7}", "llm")

    fill(0, 3 * max_entries)  # well past the maximum: evicting from here on
    gc.collect()
    settled = _rss_kb()
    fill(3 * max_entries, 10 * max_entries)  # 20,000 more entries through a 2,000-entry cache
    gc.collect()
    after = _rss_kb()
    assert engine.semantic.count() <= max_entries
    growth_mb = (after - settled) / 1024
    # 20,000 entries of 1 KB would be 20+ MB if kept; a bounded cache stays flat (measured: memory +0.1 MB, SQLite +2 MB of page cache).
    assert growth_mb < 8, f"RSS grew {growth_mb:.1f} MB at the maximum size"
    FIGURES[f"rss_{backend}"] = {
        "entries_written": 13 * max_entries,
        "max_entries": max_entries,
        "rss_settled_mb": round(settled / 1024, 1),
        "rss_after_mb": round(after / 1024, 1),
        "growth_mb": round(growth_mb, 2),
    }
    print(f"\nrss {backend}: {FIGURES[f'rss_{backend}']}")
    engine.close()
