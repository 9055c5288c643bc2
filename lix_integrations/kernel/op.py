"""The base of every op: a small frozen object a flow yields, naming the type of the result it gets back.

``class KvGet(Op[list[bytes | None]])`` says what the runtime sends back for a ``KvGet``. A flow that writes
``values = yield from KvGet(...)`` has ``values`` typed by mypy; a bare ``yield`` still works (typed ``Any``).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, Generic

import numpy as np
import numpy.typing as npt
from typing_extensions import TypeVar

__all__ = ["NamespaceOp", "Op", "R", "Vector", "bind_methods", "set_init", "slot_setters"]

#: A unit-length float32 embedding, so the dot product of two is their cosine.
Vector = npt.NDArray[np.float32]

#: The result type of an op. Defaults to ``Any``, so ``Op`` alone means "any op" in annotations.
R = TypeVar("R", covariant=True, default=Any)
C = TypeVar("C", bound=type)


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


def slot_setters(cls: type) -> tuple[Callable[[Any, Any], None], ...]:
    """The ``__set__`` of the slot descriptor of each field of a frozen slots dataclass, in field order: what a
    hand-written ``__init__`` (`set_init`) sets its fields with."""
    return tuple(inspect.getattr_static(cls, f.name).__set__ for f in dataclasses.fields(cls))


def set_init(cls: C, init: Callable[..., None]) -> C:
    """``cls`` (a frozen slots dataclass) with ``init`` as its ``__init__``: a hand-written one that sets each
    slot through its descriptor (`slot_setters`), for the few objects made on every chat append. The generated
    ``__init__`` of a frozen class calls ``object.__setattr__`` per field (the class refuses assignment): seven
    fields cost 1.5 against 0.8 us (`ListAppend`, 2026-12-05, timeit, loaded machine). Refused (``TypeError``,
    at import) unless ``init`` takes the class's fields in order, with the same defaults, so that a field added
    to the class without its ``__init__`` fails at once."""
    if hasattr(cls, "__post_init__"):  # the generated __init__ calls it; a hand-written one would not
        raise TypeError(f"{cls.__name__} has a __post_init__: set_init would skip it")
    wanted = []
    for f in dataclasses.fields(cls):
        if not f.init or f.default_factory is not dataclasses.MISSING or f.kw_only:
            raise TypeError(f"{cls.__name__}.{f.name}: set_init takes plain fields only")
        wanted.append((f.name, f.default))
    empty = inspect.Parameter.empty
    params = list(inspect.signature(init).parameters.values())[1:]
    got = [(p.name, dataclasses.MISSING if p.default is empty else p.default) for p in params]
    if got != wanted or any(p.kind is not p.POSITIONAL_OR_KEYWORD for p in params):
        raise TypeError(f"the __init__ given to {cls.__name__} does not take its fields {wanted}: {got}")
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[misc]
    return cls
