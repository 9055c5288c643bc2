"""`quick_init`: a frozen slots dataclass made through slot descriptors is the same object as one made by the
generated ``__init__`` (fields, defaults, equality, hashing, frozenness)."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from lix_integrations.kernel.list_ops import ListAppend, ListAppended
from lix_integrations.kernel.op import quick_init


def test_made_objects_equal_the_dataclass_ones_and_stay_frozen() -> None:
    op = ListAppend("ns", "k", (b"{}",), 1.5, create=False)
    assert (op.namespace, op.key, op.values, op.now, op.min_seq, op.create, op.archived_through) == (
        "ns", "k", (b"{}",), 1.5, 1, False, 0,
    )  # fmt: skip
    assert op == ListAppend(namespace="ns", key="k", values=(b"{}",), now=1.5, min_seq=1, create=False)
    assert hash(op) == hash(ListAppend("ns", "k", (b"{}",), 1.5, 1, False, 0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        op.key = "other"  # type: ignore[misc]
    result = ListAppended((3,), 3, version="a")
    assert (result.missing, result.created, result.recovered, result.version, result.previous) == (
        False, False, 0, "a", "",
    )  # fmt: skip
    assert list(inspect.signature(ListAppend).parameters) == [f.name for f in dataclasses.fields(ListAppend)]
    with pytest.raises(TypeError):
        ListAppend("ns", "k")  # type: ignore[call-arg]


def test_fields_it_cannot_make_are_refused() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Listed:
        items: list[int] = dataclasses.field(default_factory=list)

    with pytest.raises(TypeError, match="items"):
        quick_init(Listed)
