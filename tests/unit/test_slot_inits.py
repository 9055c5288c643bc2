"""`set_init`: the hand-written ``__init__`` of the objects made on every chat append (`ListAppend`,
`ListAppended`, `Lua`, `Step`) makes the same objects as the generated one (fields, defaults, equality,
hashing, frozenness), and one that does not take the class's fields is refused when the class is built."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest

from lix_integrations.backends.redis.commands import Cmd, Lua, Script, Step
from lix_integrations.kernel.list_ops import ListAppend, ListAppended
from lix_integrations.kernel.op import set_init, slot_setters


@pytest.mark.parametrize("cls", [ListAppend, ListAppended, Lua, Step])
def test_the_signature_is_the_fields(cls: type) -> None:
    params = list(inspect.signature(cls).parameters.values())
    assert [(p.name, p.default) for p in params] == [
        (f.name, inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default)
        for f in dataclasses.fields(cls)
    ]
    assert cls.__init__.__qualname__ == f"{cls.__qualname__}.__init__"


def test_made_objects_equal_the_dataclass_ones_and_stay_frozen() -> None:
    op = ListAppend("ns", "k", (b"{}",), 1.5, create=False)
    assert (op.namespace, op.key, op.values, op.now, op.min_seq, op.create, op.archived_through) == (
        "ns", "k", (b"{}",), 1.5, 1, False, 0,
    )  # fmt: skip
    assert op == ListAppend(namespace="ns", key="k", values=(b"{}",), now=1.5, min_seq=1, create=False)
    assert hash(op) == hash(ListAppend("ns", "k", (b"{}",), 1.5, 1, False, 0))
    assert repr(op).startswith("ListAppend(namespace='ns', key='k'")
    with pytest.raises(dataclasses.FrozenInstanceError):
        op.key = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        ListAppend("ns", "k")  # type: ignore[call-arg]
    result = ListAppended((3,), 3, version="a")
    assert (result.seqs, result.length, result.missing, result.created, result.recovered) == (
        (3,),
        3,
        False,
        False,
        0,
    )
    assert (result.version, result.previous) == ("a", "")
    assert result == ListAppended((3,), 3, version="b")  # the stamps are not part of equality
    script = Script("s", "return 1")
    lua = Lua(script, ("k",), (1,))
    assert (lua.script, lua.keys, lua.args) == (script, ("k",), (1,)) and lua == Lua(
        script, keys=("k",), args=(1,)
    )
    step = Step(lua, int)
    assert (step.call, step.parse, step.on_error) == (lua, int, None)
    assert Step(Cmd(("PING",)), str, on_error=repr).on_error is repr


def test_an_init_that_does_not_take_the_fields_is_refused() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Pair:
        a: int
        b: int = 2

    a_, b_ = slot_setters(Pair)

    def swapped(self: Any, b: int, a: int = 2) -> None:
        a_(self, a)
        b_(self, b)

    with pytest.raises(TypeError, match="Pair"):
        set_init(Pair, swapped)

    def other_default(self: Any, a: int, b: int = 3) -> None:
        a_(self, a)
        b_(self, b)

    with pytest.raises(TypeError, match="Pair"):
        set_init(Pair, other_default)

    def good(self: Any, a: int, b: int = 2) -> None:
        a_(self, a)
        b_(self, b)

    assert set_init(Pair, good)(1) == Pair(1, 2)

    @dataclasses.dataclass(frozen=True, slots=True)
    class Listed:
        items: list[int] = dataclasses.field(default_factory=list)

    with pytest.raises(TypeError, match="items"):
        set_init(Listed, good)


def test_a_class_with_a_post_init_is_refused() -> None:
    """The generated __init__ calls __post_init__ and a hand-written one would not (review of aab07ce)."""

    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            if self.a < 0:
                raise ValueError("a < 0")

    (a_,) = slot_setters(Checked)

    def init(self: Any, a: int) -> None:
        a_(self, a)

    with pytest.raises(TypeError, match="__post_init__"):
        set_init(Checked, init)
