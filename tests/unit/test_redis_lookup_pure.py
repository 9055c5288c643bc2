"""Pure parts of a Redis lookup, no server: the query vector it sends (the embedding tier's own array when it is
already flat float32, no numpy conversion per lookup; a converted copy of anything else), and the refusal of an op
the backend does not carry out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from lix_integrations.backends import open_backend
from lix_integrations.backends.redis.semantic import _flat_f32
from lix_integrations.errors import LixError
from lix_integrations.kernel.op import Op


def test_a_flat_float32_vector_is_used_as_it_is() -> None:
    vec = np.arange(4, dtype=np.float32)
    assert _flat_f32(vec) is vec
    read = np.frombuffer(vec.tobytes(), dtype="<f4")  # read-only, as the embedding front hands them out
    assert _flat_f32(read) is read


def test_anything_else_becomes_a_contiguous_flat_float32_copy() -> None:
    for given in (
        np.arange(8, dtype=np.float32)[::2],
        np.arange(4, dtype=np.float64),
        [[0.0, 1.0, 2.0, 3.0]],
    ):
        out = _flat_f32(given)
        assert out.dtype == np.float32 and out.ndim == 1 and out.flags.c_contiguous
        assert out.tolist() == np.asarray(given, dtype=np.float32).reshape(-1).tolist()


@dataclass(frozen=True, slots=True)
class _Unknown(Op[None]):
    namespace: str


def test_an_op_the_backend_lacks_is_refused_by_name() -> None:
    backend = open_backend("redis://127.0.0.1:1/0")  # nothing is sent: the op is refused before any I/O
    try:
        with pytest.raises(LixError, match="does not support _Unknown"):
            backend.execute(_Unknown("ns"))
    finally:
        backend.close()
