"""Embedding cache: cold MiniLM embedding vs warm reads, lix against LangChain's CacheBackedEmbeddings.

For N distinct texts from ``benchmarks/data/pairs`` (default 10,000) this measures, in one run:

* cold: ``LixCachedEmbeddings(MiniLM, sqlite).embed_documents`` on an empty store (MiniLM computes everything);
* lix warm from the in-process front (same object, second call);
* lix warm from the memory store with the front disabled (the store path alone);
* lix warm from the SQLite store in a fresh process (empty front: every vector comes from disk);
* ``CacheBackedEmbeddings`` (langchain-classic) warm on ``InMemoryByteStore`` and on ``LocalFileStore``.

The peers' stores are filled with the vectors MiniLM computed in the cold run (computing 10k texts again per peer
would only measure MiniLM again). Every warm result is checked to equal the cold vectors (float32 for lix, JSON
float64 for the peers). Each in-process warm figure is the best of ``--repeat`` runs.

    .venv/bin/python benchmarks/embeddings.py            # 10,000 texts (~3 minutes, mostly MiniLM)
    .venv/bin/python benchmarks/embeddings.py --limit 1000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DATA = Path(__file__).resolve().parent / "data"


def load_texts(limit: int) -> list[str]:
    """Distinct questions from every pairs file, in file order."""
    seen: dict[str, None] = {}
    for path in sorted((DATA / "pairs").glob("*_dev.jsonl")):
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                row = json.loads(line)
                for text in (row["q1"], row["q2"]):
                    seen.setdefault(text, None)
                    if len(seen) >= limit:
                        return list(seen)
    return list(seen)


class MiniLMEmbeddings(Embeddings):
    """The offline all-MiniLM-L6-v2 as a LangChain ``Embeddings`` (batches of 64, unit vectors)."""

    def __init__(self) -> None:
        from lix_integrations.embedders import LocalEmbedder

        self._model = LocalEmbedder(threads=os.cpu_count() or 1)
        self.model = "sentence-transformers/all-MiniLM-L6-v2"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [np.asarray(v, dtype=np.float64).tolist() for v in self._model.embed_many(texts)]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


class Precomputed(Embeddings):
    """Serves vectors computed earlier, to fill the peers' stores without running MiniLM again."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self._vectors = vectors
        self.model = "sentence-transformers/all-MiniLM-L6-v2"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vectors[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vectors[text]


def best_of(repeat: int, fn) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def warm_sqlite_child(db: str, texts_file: str) -> None:
    """Run in a fresh process: read every vector back from the SQLite store (empty front)."""
    from lix_integrations.langchain import LixCachedEmbeddings
    from lix_integrations.testing import FakeEmbedder

    texts = json.loads(Path(texts_file).read_text(encoding="utf-8"))

    class NoCompute(Embeddings):
        model = "sentence-transformers/all-MiniLM-L6-v2"

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            raise AssertionError(f"{len(texts)} texts were not cached")

        def embed_query(self, text: str) -> list[float]:
            raise AssertionError("not cached")

    # The engine's own embedder only matters for the semantic tier; it must match the one the store was made with.
    cached = LixCachedEmbeddings(
        NoCompute(), f"sqlite:///{db}", model_name="minilm-bench", embedder=FakeEmbedder()
    )
    started = time.perf_counter()
    out = cached.embed_documents(texts)
    first = time.perf_counter() - started
    started = time.perf_counter()
    cached.embed_documents(texts)
    second = time.perf_counter() - started
    digest = float(np.asarray(out, dtype=np.float64).sum())
    print(
        json.dumps(
            {
                "first": first,
                "second": second,
                "checksum": digest,
                "stats": cached.embedding_stats().to_dict(),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--limit", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("DB", "TEXTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        warm_sqlite_child(*args.child)
        return

    from langchain_classic.embeddings import CacheBackedEmbeddings
    from langchain_classic.storage import InMemoryByteStore, LocalFileStore

    from lix_integrations import Engine
    from lix_integrations.langchain import LixCachedEmbeddings
    from lix_integrations.testing import FakeEmbedder
    from lix_integrations.tiers.embeddings import EmbeddingConfig

    texts = load_texts(args.limit)
    n = len(texts)
    tmp = Path(tempfile.mkdtemp(prefix="lix-emb-bench-"))
    db = tmp / "embeddings.db"
    print(f"{n} distinct texts from {DATA / 'pairs'}; stores under {tmp}", flush=True)

    rows: list[tuple[str, float]] = []
    minilm = MiniLMEmbeddings()
    minilm.embed_documents(["warm up the model"])  # load time is not embedding time
    lix = LixCachedEmbeddings(minilm, f"sqlite:///{db}", model_name="minilm-bench", embedder=FakeEmbedder())
    started = time.perf_counter()
    cold = np.asarray(lix.embed_documents(texts), dtype=np.float32)
    cold_seconds = time.perf_counter() - started
    rows.append(("cold: MiniLM computes + lix stores (SQLite)", cold_seconds))
    print(f"cold done in {cold_seconds:.1f}s", flush=True)

    seconds, out = best_of(args.repeat, lambda: lix.embed_documents(texts))
    assert np.array_equal(np.asarray(out, dtype=np.float32), cold)
    rows.append(("lix warm: in-process front", seconds))

    vectors = {t: cold[i].astype(np.float64).tolist() for i, t in enumerate(texts)}
    source = Precomputed(vectors)
    memory_engine = Engine(
        "memory://bench", embedder=FakeEmbedder(), embeddings=EmbeddingConfig(front_entries=0)
    )
    lix_memory = LixCachedEmbeddings(source, memory_engine, model_name="minilm-bench")
    lix_memory.embed_documents(texts)
    seconds, out = best_of(args.repeat, lambda: lix_memory.embed_documents(texts))
    assert np.array_equal(np.asarray(out, dtype=np.float32), cold)
    rows.append(("lix warm: memory store, front disabled", seconds))

    texts_file = tmp / "texts.json"
    texts_file.write_text(json.dumps(texts), encoding="utf-8")
    child = subprocess.run(
        [sys.executable, __file__, "--child", str(db), str(texts_file)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    if child.returncode:
        raise SystemExit(f"fresh-process run failed:\n{child.stderr}")
    fresh = json.loads(child.stdout.strip().splitlines()[-1])
    assert abs(fresh["checksum"] - float(cold.astype(np.float64).sum())) < 1e-3, (
        "fresh-process vectors differ"
    )
    assert fresh["stats"]["computed"] == 0 and fresh["stats"]["store_hits"] == n
    rows.append(("lix warm: SQLite store, fresh process (empty front)", fresh["first"]))
    rows.append(("lix warm: SQLite, same fresh process, 2nd call (front)", fresh["second"]))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer_memory = CacheBackedEmbeddings.from_bytes_store(
            source, InMemoryByteStore(), namespace="minilm", key_encoder="blake2b"
        )
        peer_files = CacheBackedEmbeddings.from_bytes_store(
            source, LocalFileStore(str(tmp / "peer-files")), namespace="minilm", key_encoder="blake2b"
        )
    expected64 = [vectors[t] for t in texts]
    for name, peer in (("InMemoryByteStore", peer_memory), ("LocalFileStore", peer_files)):
        peer.embed_documents(texts)
        seconds, out = best_of(args.repeat, lambda peer=peer: peer.embed_documents(texts))
        assert out == expected64
        rows.append((f"CacheBackedEmbeddings warm: {name}", seconds))

    table = dict(rows)
    recompute = cold_seconds
    peer_mem = table["CacheBackedEmbeddings warm: InMemoryByteStore"]
    peer_file = table["CacheBackedEmbeddings warm: LocalFileStore"]
    comparable = {
        "lix warm: in-process front": peer_mem,
        "lix warm: memory store, front disabled": peer_mem,
        "lix warm: SQLite store, fresh process (empty front)": peer_file,
        "lix warm: SQLite, same fresh process, 2nd call (front)": peer_file,
    }
    print()
    print(f"{'':58} {'seconds':>9} {'us/text':>9} {'vs MiniLM':>10} {'vs CacheBacked':>15}")
    for name, seconds in rows:
        speedup = f"{recompute / seconds:9.0f}x" if seconds < recompute else f"{'1.0x':>10}"
        peer = comparable.get(name)
        versus = f"{peer / seconds:14.1f}x" if peer else f"{'':>15}"
        print(f"{name:58} {seconds:9.3f} {seconds / n * 1e6:9.1f} {speedup:>10} {versus}")
    print()
    print("vs MiniLM = cold time / this time; vs CacheBacked = CacheBackedEmbeddings on the comparable store")
    print("(memory stores against InMemoryByteStore, SQLite against LocalFileStore) / this time.")
    print(f"fresh-process stats: {fresh['stats']}")


if __name__ == "__main__":
    main()
