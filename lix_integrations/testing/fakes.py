"""Deterministic stand-ins for tests and examples: an embedder that needs no model, and a clock you move by hand."""

from __future__ import annotations

import hashlib
import re
import threading

import numpy as np

from ..embedders import Named

__all__ = ["FakeClock", "FakeEmbedder"]

_TOKEN = re.compile(r"\w+", re.UNICODE)


class FakeEmbedder(Named):
    """Hashed bag-of-words vectors: texts sharing most words are close, unrelated texts are far apart.

    Good enough to make paraphrase-vs-unrelated tests meaningful without loading a model; ``calls`` counts
    embeddings so tests can assert that an exact hit computed none.
    """

    def __init__(self, dimension: int = 64, *, name: str | None = None) -> None:
        super().__init__(name or f"lix-fake-bow-{dimension}", dimension)
        self._size = dimension
        self._lock = threading.Lock()
        self.calls = 0

    def embed(self, text: str) -> list[float]:
        with self._lock:
            self.calls += 1
        vec = np.zeros(self._size, dtype=np.float64)
        for token in _TOKEN.findall(text.lower()):
            h = hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=8).digest()
            vec[int.from_bytes(h[:4], "big") % self._size] += 1.0 if h[4] & 1 else -1.0
        if not vec.any():
            vec[0] = 1.0
        return [float(x) for x in vec]

    async def aembed(self, text: str) -> list[float]:
        return self.embed(text)


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
