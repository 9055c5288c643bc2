"""The base of every op: a small frozen object a flow yields, naming the type of the result it gets back.

``class KvGet(Op[list[bytes | None]])`` says what the runtime sends back for a ``KvGet``. A flow that writes
``values = yield from KvGet(...)`` has ``values`` typed by mypy; a bare ``yield`` still works (typed ``Any``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, Generic

import numpy as np
import numpy.typing as npt
from typing_extensions import TypeVar

__all__ = ["NamespaceOp", "Op", "R", "Vector", "bind_methods"]

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


@dataclass(frozen=True, slots=True)
class NamespaceOp(Op[R]):
    """Base of the storage ops: each reads or writes the records of one ``namespace`` and of no other, so the
    namespace is always an op's first field (``KvGet(namespace, table, ...)``). A base, never sent itself."""

    namespace: str


def bind_methods(
    store: object, methods: Mapping[type[Op], str], prefix: str = ""
) -> dict[type[Op], Callable[[Any], Any]]:
    """A backend's handler table for one domain of ops: ``store.<prefix><name>`` for each op type in ``methods``.

    Each storage domain names the method that carries out each of its ops once (``LIST_METHODS`` and its
    siblings), so every backend registers the same ops and a store lacking a method fails when it is built,
    not when a tier first sends the op. ``prefix="_"`` binds a backend's private handler methods.
    """
    return {kind: getattr(store, prefix + name) for kind, name in methods.items()}
