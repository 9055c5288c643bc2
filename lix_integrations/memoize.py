"""``@memoize`` and ``@cached_tool``: the tool tier for plain Python functions.

* ``@memoize(ttl=60)`` always caches the function (the decorator *is* the opt-in) under the policy it is given.
* ``@cached_tool`` leaves the decision to the engine's `ToolsConfig`, by
  tool name: a tool not enabled there runs uncached, and a tool named as the writer of an invalidation rule
  clears the reads it invalidates each time it runs. Use it for the functions an agent calls, so one config
  decides what is cached.

Both handle sync and ``async def`` functions (identical concurrent calls share one execution), generators and
async generators (stored only once fully consumed; a replay yields the same items, the generator's return value
is not kept), and with ``batch=True`` functions whose first parameter is a list of items and which return one
result per item (only the items not cached are computed, each distinct item once). Arguments are bound to the
signature, so ``f(1)``, ``f(x=1)`` and ``f(1.0)`` share an entry; ``exclude=`` names arguments left out of the key.
A method's ``self`` is not JSON: exclude it only if every instance gives the same answers.

``engine=`` takes an `Engine` / `AsyncEngine`, a URL, or nothing
(the embedded default store); a URL or nothing opens the engine at the first call, not at import.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from .engine.engine import AsyncEngine, Engine
from .engine.public import NOT_CACHED, ToolPolicy, ToolScope, tool_run, validate_tool_name
from .engine.tools_api import AsyncToolsAPI, ToolsAPI
from .errors import ConfigError, InvalidInputError

__all__ = ["NOT_CACHED", "EngineRef", "cached_tool", "memoize", "tool_run"]

F = TypeVar("F", bound=Callable[..., Any])


class EngineRef:
    """An engine given as an instance, a URL or nothing, opened on first use and shared by sync and async."""

    def __init__(self, engine: Engine | AsyncEngine | str | None) -> None:
        if not (engine is None or isinstance(engine, (Engine, AsyncEngine, str))):
            raise ConfigError(
                f"engine must be an Engine, an AsyncEngine, a URL string or None, got {type(engine).__name__}"
            )
        self._spec = engine
        self._engine: Engine | None = None
        if isinstance(engine, Engine):
            self._engine = engine
        elif isinstance(engine, AsyncEngine):
            self._engine = engine.sync
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    spec = self._spec
                    self._engine = Engine(spec if isinstance(spec, str) else None)
        return self._engine

    @property
    def tools(self) -> ToolsAPI:
        return self.engine.tools

    @property
    def atools(self) -> AsyncToolsAPI:
        return self.engine.aio.tools


def _binder(func: Callable[..., Any]) -> Callable[[tuple[Any, ...], dict[str, Any]], dict[str, Any]]:
    signature = inspect.signature(func)

    def bind(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{func.__qualname__}(): {exc}") from None
        bound.apply_defaults()
        out: dict[str, Any] = {}
        for name, value in bound.arguments.items():
            kind = signature.parameters[name].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                out.update(value)  # **kwargs are arguments like any other (and can be matched by rules)
            elif kind is inspect.Parameter.VAR_POSITIONAL:
                out[name] = list(value)
            else:
                out[name] = value
        return out

    return bind


def _decorate(
    func: Callable[..., Any],
    *,
    name: str,
    ref: EngineRef,
    policy: ToolPolicy | None,
    exclude: tuple[str, ...],
    batch: bool,
) -> Callable[..., Any]:
    validate_tool_name(name)
    bind = _binder(func)
    options: dict[str, Any] = {"policy": policy, "exclude": exclude}
    wrapper: Callable[..., Any]

    if batch:
        wrapper = _batch_wrapper(func, name, ref, options)
    elif inspect.isasyncgenfunction(func):

        async def agen_wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            arguments = bind(args, kwargs)
            api = ref.atools
            hit = await api.lookup(name, arguments, **options)
            if hit is not NOT_CACHED:
                for item in hit:
                    yield item
                return
            items: list[Any] = []
            started = time.perf_counter()
            async for item in func(*args, **kwargs):
                items.append(item)
                yield item
            await api.store(name, arguments, items, duration=time.perf_counter() - started, **options)

        wrapper = agen_wrapper
    elif inspect.isgeneratorfunction(func):

        def gen_wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
            arguments = bind(args, kwargs)
            api = ref.tools
            hit = api.lookup(name, arguments, **options)
            if hit is not NOT_CACHED:
                yield from hit
                return
            items: list[Any] = []
            started = time.perf_counter()
            for item in func(*args, **kwargs):  # a consumer that stops early leaves nothing stored
                items.append(item)
                yield item
            api.store(name, arguments, items, duration=time.perf_counter() - started, **options)

        wrapper = gen_wrapper
    elif inspect.iscoroutinefunction(func):

        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            arguments = bind(args, kwargs)
            return await ref.atools.call(name, arguments, lambda: func(*args, **kwargs), **options)

        wrapper = async_wrapper
    else:

        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            arguments = bind(args, kwargs)
            return ref.tools.call(name, arguments, lambda: func(*args, **kwargs), **options)

        wrapper = sync_wrapper

    functools.update_wrapper(wrapper, func)

    def invalidate(**arguments: Any) -> int:
        """Forget this function's cached results (those whose arguments include ``arguments``)."""
        return ref.tools.invalidate(name, arguments=arguments or None)

    target: Any = wrapper
    target.cache_name = name
    target.invalidate = invalidate
    target.cache_stats = lambda: ref.tools.stats().tools.get(name)
    return wrapper


def _batch_wrapper(
    func: Callable[..., Any], name: str, ref: EngineRef, options: dict[str, Any]
) -> Callable[..., Any]:
    if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
        raise ConfigError("batch=True needs a function returning a list, not a generator")
    params = list(inspect.signature(func).parameters.values())
    if not params or params[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        raise ConfigError("batch=True needs the list of items as the function's first positional parameter")
    item_name = params[0].name
    bind = _binder(func)

    def split(
        args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[list[Any], list[dict[str, Any]], Callable]:  # type: ignore[type-arg]
        arguments = bind(args, kwargs)
        items = arguments.pop(item_name)
        if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Sequence):
            raise InvalidInputError(f"argument {item_name!r} of a batch function must be a list of items")
        items = list(items)
        per_item = [{**arguments, item_name: item} for item in items]
        rest_args, rest_kwargs = args[1:], dict(kwargs)
        if not args:
            rest_kwargs.pop(item_name, None)

        def call_with(indices: list[int]) -> Any:
            return func([items[i] for i in indices], *rest_args, **rest_kwargs)

        return items, per_item, call_with

    if inspect.iscoroutinefunction(func):

        async def abatch(*args: Any, **kwargs: Any) -> list[Any]:
            _, per_item, call_with = split(args, kwargs)

            async def compute(indices: list[int]) -> Sequence[Any]:
                return list(await call_with(indices))

            return await ref.atools.call_batch(name, per_item, compute, **options)

        return abatch

    def sbatch(*args: Any, **kwargs: Any) -> list[Any]:
        _, per_item, call_with = split(args, kwargs)
        return ref.tools.call_batch(name, per_item, lambda indices: list(call_with(indices)), **options)

    return sbatch


def memoize(
    func: F | None = None,
    *,
    name: str | None = None,
    engine: Engine | AsyncEngine | str | None = None,
    ttl: float | None = None,
    scope: ToolScope | str = ToolScope.SESSION,
    exclude: Sequence[str] = (),
    batch: bool = False,
) -> Any:
    """Cache a function's results in the tool tier (see the module docstring). ``name`` defaults to the
    function's module-qualified name; ``scope`` is ``"session"``, ``"global"`` or ``"run"``."""
    policy = ToolPolicy(ttl=ttl, scope=scope)  # type: ignore[arg-type]
    ref = EngineRef(engine)
    excluded = tuple(exclude)

    def decorate(f: F) -> F:
        tool = name or f"{f.__module__}.{f.__qualname__}"
        return _decorate(f, name=tool, ref=ref, policy=policy, exclude=excluded, batch=batch)  # type: ignore[return-value]

    return decorate(func) if func is not None else decorate


def cached_tool(
    func: F | None = None,
    *,
    name: str | None = None,
    engine: Engine | AsyncEngine | str | None = None,
    policy: ToolPolicy | None = None,
    exclude: Sequence[str] = (),
    batch: bool = False,
) -> Any:
    """An agent tool whose caching the engine's ``ToolsConfig`` decides by ``name`` (default: the function's
    ``__name__``); ``policy`` overrides it for this tool. Write tools apply their invalidation rules."""
    ref = EngineRef(engine)
    excluded = tuple(exclude)

    def decorate(f: F) -> F:
        return _decorate(  # type: ignore[return-value]
            f, name=name or f.__name__, ref=ref, policy=policy, exclude=excluded, batch=batch
        )

    return decorate(func) if func is not None else decorate
