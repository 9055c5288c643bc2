"""Shared benchmark data: the labelled dev pairs and their MiniLM embeddings (computed once, cached on disk)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA = Path(os.environ.get("LIX_DATA_DIR", Path(__file__).resolve().parent / "data"))
CACHE = Path(__file__).resolve().parent / ".cache"
FILES = ("qqp", "paws", "mrpc", "gptcache")


@dataclass(frozen=True)
class Pairs:
    name: str
    q1: list[str]
    q2: list[str]
    labels: list[int]


def load_pairs(name: str) -> Pairs:
    q1, q2, labels = [], [], []
    with open(DATA / "pairs" / f"{name}_dev.jsonl", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                q1.append(row["q1"])
                q2.append(row["q2"])
                labels.append(int(row["label"]))
    return Pairs(name, q1, q2, labels)


def embed_texts(texts: list[str]) -> dict[str, np.ndarray]:
    """Unit MiniLM vectors of ``texts`` from the offline model, cached under benchmarks/.cache."""
    unique = sorted(set(texts))
    tag = hashlib.blake2b("\n".join(unique).encode(), digest_size=8).hexdigest()
    path = CACHE / f"minilm-{tag}.npy"
    if path.exists():
        matrix = np.load(path)
    else:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from lix_integrations.embedders import LocalEmbedder

        matrix = np.asarray(LocalEmbedder().embed_many(unique), dtype=np.float32)
        CACHE.mkdir(exist_ok=True)
        np.save(path, matrix)
    return dict(zip(unique, matrix, strict=True))


class PrecomputedEmbedder:
    """Serves precomputed vectors under the default embedder's name, so benchmarks time everything but the model."""

    def __init__(
        self, vectors: dict[str, np.ndarray], name: str = "sentence-transformers/all-MiniLM-L6-v2"
    ) -> None:
        self.vectors = vectors
        self.name = name
        self.dimension = 384

    def embed(self, text: str) -> np.ndarray:
        return self.vectors[text]

    async def aembed(self, text: str) -> np.ndarray:
        return self.vectors[text]
