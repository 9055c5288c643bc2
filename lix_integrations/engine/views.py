"""Each facade operation written once, served blocking by one view and awaitable by the other.

A facade method only builds the tier flow for its arguments; *how* the flow runs is the view's mode. Writing the
method as ``@runs`` (data: a store failure raises) or ``@runs_cache(fallback)`` (a cache: under ``fail_open`` a
store failure or an embedder fault gives ``fallback()``) makes it a blocking method on a `Blocking` view
and a coroutine method on an `Awaiting` view:

    class _Kv(View):
        @runs
        def get(self, key: str, collection: str) -> Flow[dict[str, Any] | None]:
            return self._core.kv.get(collection, key)

    class KvAPI(_Kv, Blocking): ...       # engine.kv.get(key, c) -> dict | None
    class AsyncKvAPI(_Kv, Awaiting): ...  # await aengine.kv.get(key, c)

Before this, every facade class had a hand-written async twin repeating each signature (issue 16: 119 pairs of
duplicated places in the package, most of them these twins); a twin that drifts is a bug only one mode has.
The builder runs when the method is called (argument errors raise there), the flow when it is awaited or run.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any, ClassVar, Concatenate, Generic, ParamSpec, TypeVar, overload

from ..kernel.flows import Flow

if TYPE_CHECKING:
    from .core import EngineCore

__all__ = [
    "Awaiting",
    "Blocking",
    "Done",
    "OrElse",
    "View",
    "mapped",
    "runs",
    "runs_cache",
    "runs_steps",
    "single",
]

P = ParamSpec("P")
R = TypeVar("R")
U = TypeVar("U")


class View:
    """A facade over one engine core; `Blocking` and `Awaiting` say how its flows run."""

    awaiting: ClassVar[bool] = False

    def __init__(self, core: EngineCore) -> None:
        self._core = core

    def _drive(self, flow: Flow[R]) -> Any:
        raise NotImplementedError

    def _drive_cache(self, flow: Flow[R], fallback: R) -> Any:
        raise NotImplementedError

    def _drive_steps(self, flow: Flow[R]) -> Any:
        raise NotImplementedError


class Blocking(View):
    """Flows run to completion on the calling thread."""

    awaiting = False

    def _drive(self, flow: Flow[R]) -> R:
        return self._core.run(flow)

    def _drive_cache(self, flow: Flow[R], fallback: R) -> R:
        return self._core.run_cache(flow, fallback)

    def _drive_steps(self, flow: Flow[R]) -> R:
        self._core._ensure_open()
        return self._core.runtime.run(flow)


class Awaiting(View):
    """Flows run on the event loop, never blocking it."""

    awaiting = True

    def _drive(self, flow: Flow[R]) -> Coroutine[Any, Any, R]:
        return self._core.arun(flow)

    def _drive_cache(self, flow: Flow[R], fallback: R) -> Coroutine[Any, Any, R]:
        return self._core.arun_cache(flow, fallback)

    def _drive_steps(self, flow: Flow[R]) -> Coroutine[Any, Any, R]:
        self._core._ensure_open()
        return self._core.runtime.arun(flow)


_NO_FALLBACK: Any = object()
_STEPS: Any = object()  # not a fallback: the flow fails open step by step itself (`runs_steps`)


class Done(Generic[R]):
    """What a builder returns when the call needs no flow at all (nothing to do): the result, run nowhere.

    An empty flow would still go through the driver, which checks the store's settings first."""

    __slots__ = ("value",)

    def __init__(self, value: R) -> None:
        self.value = value


class OrElse(Generic[R]):
    """What a ``@runs_cache`` builder returns when its fail-open result depends on the arguments (one ``None``
    per item of a batch): the flow, and what a store failure gives instead."""

    __slots__ = ("flow", "fallback")

    def __init__(self, flow: Flow[R], fallback: R) -> None:
        self.flow, self.fallback = flow, fallback


class runs(Generic[P, R]):
    """A facade method from a flow builder; see the module docstring. Bound once per view instance."""

    def __init__(
        self,
        build: Callable[Concatenate[Any, P], Flow[R] | Done[R] | OrElse[R]],
        fallback: Callable[[], Any] = _NO_FALLBACK,
    ) -> None:
        self._build = build
        self._fallback = fallback
        self._name = build.__name__
        functools.update_wrapper(self, build)  # type: ignore[arg-type]

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> runs[P, R]: ...

    @overload
    def __get__(self, obj: Awaiting, owner: type | None = None) -> Callable[P, Coroutine[Any, Any, R]]: ...

    @overload
    def __get__(self, obj: Blocking, owner: type | None = None) -> Callable[P, R]: ...

    def __get__(self, obj: View | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        method = self._bind(obj)
        # Cached on the instance (this is a non-data descriptor): later lookups are a plain attribute read.
        obj.__dict__[self._name] = method
        return method

    def _bind(self, obj: View) -> Callable[..., Any]:
        call = (
            _awaiting(self._build, obj, self._fallback)
            if obj.awaiting
            else _blocking(self._build, obj, self._fallback)
        )
        functools.update_wrapper(call, self._build)
        call.__wrapped__ = types.MethodType(self._build, obj)  # type: ignore[attr-defined]  # signature without self
        return call


def _blocking(build: Callable[..., Any], obj: View, fallback: Callable[[], Any]) -> Callable[..., Any]:
    if fallback is _NO_FALLBACK or fallback is _STEPS:
        drive = obj._drive if fallback is _NO_FALLBACK else obj._drive_steps

        def call(*args: Any, **kwargs: Any) -> Any:
            flow = build(obj, *args, **kwargs)
            return flow.value if type(flow) is Done else drive(flow)

        return call
    drive_cache = obj._drive_cache

    def call_cache(*args: Any, **kwargs: Any) -> Any:
        flow = build(obj, *args, **kwargs)
        if type(flow) is OrElse:
            return drive_cache(flow.flow, flow.fallback)
        return flow.value if type(flow) is Done else drive_cache(flow, fallback())

    return call_cache


def _awaiting(build: Callable[..., Any], obj: View, fallback: Callable[[], Any]) -> Callable[..., Any]:
    if fallback is _NO_FALLBACK or fallback is _STEPS:
        drive = obj._drive if fallback is _NO_FALLBACK else obj._drive_steps

        async def call(*args: Any, **kwargs: Any) -> Any:
            flow = build(obj, *args, **kwargs)
            return flow.value if type(flow) is Done else await drive(flow)

        return call
    drive_cache = obj._drive_cache

    async def call_cache(*args: Any, **kwargs: Any) -> Any:
        flow = build(obj, *args, **kwargs)
        if type(flow) is OrElse:
            return await drive_cache(flow.flow, flow.fallback)
        return flow.value if type(flow) is Done else await drive_cache(flow, fallback())

    return call_cache


def runs_cache(
    fallback: Callable[[], Any],
) -> Callable[[Callable[Concatenate[Any, P], Flow[R] | Done[R] | OrElse[R]]], runs[P, R]]:
    """Like `runs` for a cache step: under ``fail_open`` a store failure gives ``fallback()``."""

    def decorate(build: Callable[Concatenate[Any, P], Flow[R] | Done[R] | OrElse[R]]) -> runs[P, R]:
        return runs(build, fallback)

    return decorate


def runs_steps(build: Callable[Concatenate[Any, P], Flow[R] | Done[R]]) -> runs[P, R]:
    """Like `runs` for a flow made of several cache steps that each fail open on their own (a tool call: a
    failed lookup is a miss, the tool still runs, a failed store still returns its result). The flow wraps each
    step in the core's ``_fail_open`` (which checks the stored settings first), so the driver checks nothing itself."""
    return runs(build, _STEPS)


def single(op: Any) -> Flow[Any]:
    """A flow of one operation."""
    result = yield op
    return result


def mapped(flow: Flow[U], convert: Callable[[U], R]) -> Generator[Any, Any, R]:
    """``flow`` with its result passed through ``convert``."""
    return convert((yield from flow))
