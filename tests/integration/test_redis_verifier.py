"""The semantic tier's verifier on Redis (plain: client-side search; Stack: Query Engine) and Valkey: candidates
reach it with their vectors (read from the store when the search does not return them), and ``verifier=`` in a
store URL is an engine option that leaves the backend's own options (``prefix=``) in place."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from lix_integrations import Engine
from lix_integrations.tiers.verifier import Verifier, VerifierCandidate

from .conftest import with_prefix


def unit_at(cos: float) -> list[float]:
    return [cos, math.sqrt(max(0.0, 1.0 - cos * cos))]


VECTORS = {"stored question": unit_at(1.0), "near question": unit_at(0.97), "fair question": unit_at(0.9)}


class TableEmbedder:
    name = "table-2d"
    dimension = 2

    def embed(self, text: str) -> list[float]:
        return VECTORS[text]

    async def aembed(self, text: str) -> list[float]:
        return self.embed(text)


class CosineJudge(Verifier):
    """Scores each candidate by the cosine of the vectors it is given, so a wrong or missing vector shows."""

    name = "cosine-judge"
    threshold = 0.95
    needs_vectors = True
    blocking = False

    def score(self, prompt: str, vector: object, candidates: Sequence[VerifierCandidate]) -> list[float]:
        query = np.asarray(vector, dtype=np.float64)
        return [float(query @ np.asarray(c.vector, dtype=np.float64)) for c in candidates]


@pytest.fixture(params=["plain", "stack", "valkey"])
def store_url(request: pytest.FixtureRequest) -> str:
    name = "valkey_url" if request.param == "valkey" else f"redis_{request.param}_url"
    return str(request.getfixturevalue(name))


def test_candidates_reach_the_verifier_with_their_vectors(store_url: str) -> None:
    with Engine(
        with_prefix(store_url), embedder=TableEmbedder(), threshold=0.8, verifier=CosineJudge()
    ) as engine:
        engine.semantic.update("stored question", "llm", "A")
        assert engine.semantic.lookup("fair question", "llm") is None  # cosine 0.9: rejected by the judge
        hit = engine.semantic.lookup("near question", "llm")
        assert hit is not None and hit.payload == "A" and hit.verifier_score == pytest.approx(0.97, abs=1e-4)
        stats = engine.stats().semantic
        assert (stats.verified_candidates, stats.verifier_rejections) == (2, 1)


def test_verifier_in_the_url_keeps_the_backend_options(store_url: str) -> None:
    url = with_prefix(store_url, verifier="off")
    with Engine(url, embedder=TableEmbedder(), threshold=0.8) as engine:
        assert engine._core.semantic.verifier is None and "verifier" not in engine.url
        engine.semantic.update("stored question", "llm", "A")
        prefix = url.split("prefix=")[1].split("&")[0]
        with Engine(with_prefix(store_url, prefix=prefix), embedder=TableEmbedder(), threshold=0.8) as same:
            assert same.semantic.count() == 1  # the prefix survived: both engines see one entry
