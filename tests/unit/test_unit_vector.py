"""`unit_vector`, one text's output checked and normalized without a matrix, gives what `normalized(as_matrix(...))`
gives: the same vector, bit for bit, and the same error with the same cause (pure, no backend)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from lix_integrations.errors import InvalidVectorError
from lix_integrations.tiers.embedding_vectors import as_matrix, normalized, unit_vector

DIM = 8


def general(raw: Any, dimension: int | None) -> np.ndarray:
    return normalized(as_matrix(raw, 1, dimension, "m"), "m")[0]


def outputs() -> dict[str, Any]:
    rng = np.random.default_rng(3)
    vec = (rng.normal(size=DIM) * 7).astype(np.float32)
    return {
        "float32": [vec],
        "float32-unit": [vec / np.float32(np.linalg.norm(vec))],
        "float64": [vec.astype(np.float64)],
        "list": [[float(x) for x in vec]],
        "tuple": ([float(x) for x in vec],),
        "2d-array": vec.reshape(1, DIM),
        "big-endian": [vec.astype(">f4")],
        "strided": [np.repeat(vec, 2)[::2]],
        "huge": [np.full(DIM, 3e38, dtype=np.float32)],  # finite values whose norm overflows
        "tiny": [np.full(DIM, 1e-30, dtype=np.float32)],
        "nan": [np.full(DIM, np.nan, dtype=np.float32)],
        "one-nan": [np.where(np.arange(DIM) == 3, np.float32(np.nan), vec).astype(np.float32)],
        "inf": [np.where(np.arange(DIM) == 0, np.float32(np.inf), vec).astype(np.float32)],
        "minus-inf": [np.where(np.arange(DIM) == 0, np.float32(-np.inf), vec).astype(np.float32)],
        "zero": [np.zeros(DIM, dtype=np.float32)],
        "wrong-dim": [np.ones(DIM + 3, dtype=np.float32)],
        "empty": [np.zeros(0, dtype=np.float32)],
        "two-rows": [vec, vec],
        "no-rows": [],
        "2d-row": [vec.reshape(2, DIM // 2)],
        "not-a-list": 3,
        "nan-list": [[math.nan] * DIM],
    }


@pytest.mark.parametrize("dimension", [DIM, None], ids=["declared", "undeclared"])
@pytest.mark.parametrize("kind", list(outputs()))
def test_one_row_is_what_the_matrix_path_gives(kind: str, dimension: int | None) -> None:
    raw = outputs()[kind]
    try:
        expected: Any = general(raw, dimension)
    except InvalidVectorError as exc:
        expected = exc
    if isinstance(expected, InvalidVectorError):
        with pytest.raises(InvalidVectorError) as caught:
            unit_vector(raw, dimension, "m")
        assert str(caught.value) == str(expected) and caught.value.cause == expected.cause
        return
    got = unit_vector(raw, dimension, "m")
    assert got.dtype == np.float32 and got.shape == expected.shape
    assert got.tobytes() == expected.tobytes()


def test_the_vector_is_a_new_array() -> None:
    """The front keeps what is returned read-only: it must not be the embedder's own array."""
    vec = np.arange(1, DIM + 1, dtype=np.float32)
    got = unit_vector([vec], DIM, "m")
    assert not np.shares_memory(got, vec)
    got.flags.writeable = False
    vec[0] = 100.0  # the embedder may reuse its buffer
    assert got[0] == pytest.approx(1 / np.linalg.norm(np.arange(1, DIM + 1)))


def test_strided_rows_of_a_real_size_match_bit_for_bit() -> None:
    """Regression (review of 31a4cf1): a row taken from a matrix's column is strided, and numpy's dot product of a
    strided 384-dim row rounds differently from the matrix path (342 of 3000 rows differed by up to 2 ulp). Such
    rows take the general path now."""
    rng = np.random.default_rng(11)
    matrix = rng.normal(size=(384, 300)).astype(np.float32)
    for column in range(matrix.shape[1]):
        row = matrix[:, column]
        assert not row.flags.c_contiguous
        assert unit_vector([row], 384, "m").tobytes() == general([row], 384).tobytes()
