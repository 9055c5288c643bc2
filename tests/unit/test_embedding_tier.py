"""The embedding tier's conformance suite on both embedded backends (sync and async), plus its pure parts."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from lix_integrations.errors import ConfigError, InvalidVectorError
from lix_integrations.testing.conformance_embeddings import EmbeddingConformance
from lix_integrations.tiers.embeddings import (
    EmbeddingConfig,
    EmbeddingModel,
    decode_vector,
    encode_vector,
    text_hash,
)


class TestMemoryEmbeddings(EmbeddingConformance):
    @pytest.fixture
    def backend_url(self) -> str:
        return f"memory://emb-{uuid.uuid4().hex}"


class TestSQLiteEmbeddings(EmbeddingConformance):
    @pytest.fixture
    def backend_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'emb.db'}"


def test_vectors_are_float32_bytes() -> None:
    vec = np.asarray([0.5, -1.25, 3.0], dtype=np.float32)
    raw = encode_vector(vec)
    assert raw == vec.astype("<f4").tobytes() and len(raw) == 12
    np.testing.assert_array_equal(decode_vector(raw, 3), vec)
    with pytest.raises(InvalidVectorError, match="dimension 3, expected 4"):
        decode_vector(raw, 4)
    with pytest.raises(InvalidVectorError, match="whole number"):
        decode_vector(raw[:-1], None)


def test_model_identity_is_in_the_key() -> None:
    base = EmbeddingModel("m", dimension=8)
    keys = {
        base.key(),
        EmbeddingModel("m2", dimension=8).key(),
        EmbeddingModel("m", dimension=16).key(),
        EmbeddingModel("m", dimension=8, normalize=True).key(),
        base.key("tenant"),
    }
    assert len(keys) == 5
    assert text_hash("a") != text_hash("a ") and len(text_hash("a")) == 64  # exact text, 256-bit BLAKE2b


@pytest.mark.parametrize(
    "options",
    [
        {"ttl": 0},
        {"max_entries": 0},
        {"max_bytes": -1},
        {"front_entries": -1},
        {"evict_every": 0},
        {"table": ""},
    ],
)
def test_config_is_validated(options: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        EmbeddingConfig(**options)  # type: ignore[arg-type]


def test_model_is_validated() -> None:
    with pytest.raises(ConfigError, match="name"):
        EmbeddingModel("")
    with pytest.raises(ConfigError, match="dimension"):
        EmbeddingModel("m", dimension=0)
