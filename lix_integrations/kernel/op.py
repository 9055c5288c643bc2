"""The base of every op: a small frozen object a flow yields, naming the type of the result it gets back.

``class KvGet(Op[list[bytes | None]])`` says what the runtime sends back for a ``KvGet``. A flow that writes
``values = yield from KvGet(...)`` has ``values`` typed by mypy; a bare ``yield`` still works (typed ``Any``).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Generic

import numpy as np
import numpy.typing as npt
from typing_extensions import TypeVar

__all__ = ["Op", "R", "Vector"]

#: A unit-length float32 embedding, so the dot product of two is their cosine.
Vector = npt.NDArray[np.float32]

#: The result type of an op. Defaults to ``Any``, so ``Op`` alone means "any op" in annotations.
R = TypeVar("R", covariant=True, default=Any)


class Op(Generic[R]):
    """Base of all ops (storage, model, local work): what a flow yields and a runtime handler carries out."""

    __slots__ = ()

    def __iter__(self) -> Generator[Op, Any, R]:
        """``result = yield from op``: yield this op and return its result, typed ``R``."""
        result: R = yield self
        return result
