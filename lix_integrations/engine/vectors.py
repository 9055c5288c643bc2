"""Validation of embeddings at the boundary, so a bad embedder fails loudly instead of poisoning the store."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InvalidVectorError
from .ops import Vector

__all__ = ["to_unit_vector"]


def to_unit_vector(raw: Sequence[float] | np.ndarray, dim: int | None = None) -> Vector:
    """Validate and L2-normalize one embedding as float32.

    Normalizing once at write time makes every later similarity a plain dot product, identical on the sync and
    async paths and on every backend.
    """
    try:
        vec = np.asarray(raw, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidVectorError(f"embedding is not a sequence of numbers: {exc}") from exc
    if vec.ndim != 1 or vec.size == 0:
        raise InvalidVectorError(f"embedding must be a non-empty 1-D sequence, got shape {vec.shape}")
    if dim is not None and vec.shape[0] != dim:
        raise InvalidVectorError(f"embedding has dimension {vec.shape[0]}, expected {dim}")
    if not np.all(np.isfinite(vec)):
        raise InvalidVectorError("embedding contains NaN or infinite values")
    norm = float(np.linalg.norm(vec))
    if norm == 0.0 or not np.isfinite(norm):
        raise InvalidVectorError("embedding has zero (or overflowing) length and no direction")
    return (vec / norm).astype(np.float32, copy=False)
