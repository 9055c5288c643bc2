"""A warm semantic lookup on SQLite through LangChain's ``LixSemanticCache.lookup``: its latency, and its path.

Run from the repository root:

    .venv/bin/python benchmarks/lookup_path.py [--lookups 2000] [--repeats 5]      # median latency
    .venv/bin/python benchmarks/lookup_path.py --trace                             # the modules it crosses
    .venv/bin/python benchmarks/lookup_path.py --compare /path/to/other/checkout   # both trees, interleaved

The cache holds 1,000 answers in a SQLite file; each timed lookup is a paraphrase of a stored prompt (a
semantic hit: the exact key misses, the prompt is embedded, the vector index answers, the record is read back),
after every query was embedded once, so the embedding tier serves its vector from memory (warm). The embedder is
the repository's fake bag-of-words one, so the model's time does not drown what the engine does.

``--trace`` follows one warm lookup with ``sys.setprofile``: the Python calls it makes inside
``lix_integrations``, the modules (files) they live in, the hops between modules, and the modules on the stack
when the ``sqlite3`` query runs (the path from the adapter to the store, the count docs/architecture.md gives).

``--compare DIR`` runs this script against this checkout and against ``DIR`` (another checkout, e.g. an older
commit in a throwaway worktree) in alternating child processes, ``--repeats`` times each, and prints both
medians and their ratio: before/after in the same run on the same machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

LLM = "[('_type', 'bench-chat'), ('model', 'bench'), ('temperature', 0.0)]"
ENTRIES = 1000


def _prompt(i: int) -> str:
    return f"how do I reset the password of account number {i} on the billing portal"


def _paraphrase(i: int) -> str:
    return f"how can I reset the password of account number {i} on the billing portal"


def _cache(directory: str) -> Any:
    from langchain_core.outputs import Generation

    from lix_integrations.langchain import LixSemanticCache
    from lix_integrations.testing.fakes import FakeEmbedder

    cache = LixSemanticCache(
        url=f"sqlite:///{directory}/cache.db", embedder=FakeEmbedder(256), threshold=0.8, coalesce=False
    )
    for i in range(ENTRIES):
        cache.update(_prompt(i), LLM, [Generation(text=f"answer {i}")])
    for i in range(ENTRIES):  # warm: every query's vector is in the embedding tier's memory
        assert cache.lookup(_paraphrase(i), LLM) is not None
    return cache


def median_lookup_us(lookups: int) -> float:
    with tempfile.TemporaryDirectory() as directory:
        cache = _cache(directory)
        samples = []
        for n in range(lookups):
            prompt = _paraphrase(n % ENTRIES)
            start = time.perf_counter()
            hit = cache.lookup(prompt, LLM)
            samples.append(time.perf_counter() - start)
            assert hit is not None
        cache.clear()
        return statistics.median(samples) * 1e6


def trace() -> dict[str, Any]:
    import lix_integrations

    root = str(Path(lix_integrations.__file__ or "").parent)
    with tempfile.TemporaryDirectory() as directory:
        cache = _cache(directory)
        calls: list[str] = []
        at_sqlite: list[list[str]] = []

        def module_of(frame: Any) -> str | None:
            path = frame.f_code.co_filename
            return os.path.relpath(path, root) if path.startswith(root) else None

        def profile(frame: Any, event: str, arg: Any) -> None:
            if event == "call":
                module = module_of(frame)
                if module is not None:
                    calls.append(module)
            elif (
                event == "c_call"
                and getattr(arg, "__module__", None) == "sqlite3"
                or (event == "c_call" and type(getattr(arg, "__self__", None)).__module__ == "sqlite3")
            ):
                stack, f = [], frame
                while f is not None:
                    module = module_of(f)
                    if module is not None and (not stack or stack[-1] != module):
                        stack.append(module)
                    f = f.f_back
                at_sqlite.append(stack[::-1])

        sys.setprofile(profile)
        try:
            cache.lookup(_paraphrase(7), LLM)
        finally:
            sys.setprofile(None)
        cache.clear()
    hops = sum(1 for a, b in zip(calls, calls[1:]) if a != b)
    deepest = max(at_sqlite, key=len) if at_sqlite else []
    return {
        "calls": len(calls),
        "files": sorted(set(calls)),
        "hops": hops,
        "sqlite_calls": len(at_sqlite),
        "path_to_sqlite": deepest,
    }


def _child(tree: str, lookups: int) -> float:
    env = {**os.environ, "PYTHONPATH": tree}
    out = subprocess.run(
        [sys.executable, __file__, "--lookups", str(lookups), "--repeats", "1", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=tree,
    )
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--compare", metavar="DIR")
    parser.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.trace:
        found = trace()
        print(f"calls inside lix_integrations: {found['calls']}")
        print(f"modules touched: {len(found['files'])}: {', '.join(found['files'])}")
        print(f"hops between modules: {found['hops']}")
        print(f"sqlite3 calls: {found['sqlite_calls']}")
        path = found["path_to_sqlite"]
        print(f"modules on the stack at the deepest sqlite3 call: {len(path)}: {' -> '.join(path)}")
        return
    if args.compare:
        here = str(Path(__file__).resolve().parents[1])
        results: dict[str, list[float]] = {here: [], args.compare: []}
        for _ in range(args.repeats):
            for tree in results:
                results[tree].append(_child(tree, args.lookups))
        base, other = statistics.median(results[args.compare]), statistics.median(results[here])
        print(
            f"warm semantic lookup on SQLite, LixSemanticCache.lookup, median of {args.repeats} runs x {args.lookups}"
        )
        print(
            f"  {args.compare}: {base:.1f} us  (runs: {', '.join(f'{v:.1f}' for v in results[args.compare])})"
        )
        print(f"  {here}: {other:.1f} us  (runs: {', '.join(f'{v:.1f}' for v in results[here])})")
        print(f"  ratio this/other: {other / base:.3f}")
        return
    runs = [median_lookup_us(args.lookups) for _ in range(args.repeats)]
    if args.quiet:
        print(statistics.median(runs))
    else:
        print(
            f"warm semantic lookup on SQLite: median {statistics.median(runs):.1f} us over {args.repeats} runs"
        )


if __name__ == "__main__":
    main()
