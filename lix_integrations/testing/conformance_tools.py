"""Conformance of the tool tier on a backend, through the blocking and the awaitable engine.

Subclass `ToolConformance` and provide a ``backend_url`` fixture returning a fresh store's URL (shared by
every engine opened with it). Every test runs in ``sync`` mode (``Engine.tools``) and ``async`` mode
(``AsyncEngine.tools``, each call in its own event loop except the concurrency tests, whose tasks share one).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from ..engine.engine import Engine
from ..errors import ConfigError, InvalidInputError
from ..kernel.ops import KvItem, KvPut
from ..kernel.scope import lix_scope
from ..tiers.tools import (
    NOT_CACHED,
    TABLE,
    InvalidationRule,
    ToolPolicy,
    ToolsConfig,
    tool_run,
)
from .drivers import ApiDriver
from .fakes import FakeClock, FakeEmbedder
from .suite import BackendSuite

__all__ = ["ToolConformance", "ToolDriver"]

CONFIG = ToolsConfig(
    tools={
        "search": ToolPolicy(),
        "file_read": ToolPolicy(),
        "file_stat": ToolPolicy(),
        "git_status": ToolPolicy(),
        "git_log": ToolPolicy(),
        "short": ToolPolicy(ttl=10),
        "public": ToolPolicy(scope="global"),  # type: ignore[arg-type]
        "per_run": ToolPolicy(scope="run"),  # type: ignore[arg-type]
        "blocked": ToolPolicy(enabled=False),
    },
    rules=(("read_*", ToolPolicy(ttl=100)), ("*_write", ToolPolicy())),
    invalidations=(
        InvalidationRule(writer="file_write", clears=("file_read", "file_stat"), match=("path",)),
        InvalidationRule(writer="file_move", clears=("file_read",), match={"dest": "path"}),
        InvalidationRule(writer="git_commit", clears=("git_status", "git_log")),
    ),
)


class Counter:
    """A tool body that counts its executions (thread-safe) and returns ``result``."""

    def __init__(self, result: Any = "ok", *, fail: BaseException | None = None, delay: float = 0.0) -> None:
        self.result = result
        self.fail = fail
        self.delay = delay
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> Any:
        with self._lock:
            self.calls += 1
        if self.fail is not None:
            raise self.fail
        return self.result


class ToolDriver(ApiDriver):
    """The tool API of one engine, blocking or awaited."""

    def __init__(self, engine: Engine, mode: str) -> None:
        super().__init__(mode, lambda: self.engine.tools, lambda: self.engine.aio.tools)
        self.engine = engine

    def call(self, tool: str, arguments: dict[str, Any], body: Counter, **kwargs: Any) -> Any:
        if self.mode == "sync":

            def compute() -> Any:
                if body.delay:
                    time.sleep(body.delay)
                return body()

            return self.engine.tools.call(tool, arguments, compute, **kwargs)

        async def acompute() -> Any:
            if body.delay:
                await asyncio.sleep(body.delay)
            return body()

        return asyncio.run(self.engine.aio.tools.call(tool, arguments, acompute, **kwargs))

    def concurrent(self, n: int, tool: str, arguments: dict[str, Any], body: Counter) -> list[Any]:
        """``n`` identical calls at once (threads or tasks); each result or exception, in order."""
        if self.mode == "sync":
            results: list[Any] = [None] * n
            start = threading.Barrier(n)

            def worker(i: int) -> None:
                start.wait()
                try:
                    results[i] = self.call(tool, arguments, body)
                except BaseException as exc:
                    results[i] = exc

            threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return results

        async def main() -> list[Any]:
            async def acompute() -> Any:
                await asyncio.sleep(body.delay)
                return body()

            api = self.engine.aio.tools
            return list(
                await asyncio.gather(
                    *(api.call(tool, arguments, acompute) for _ in range(n)), return_exceptions=True
                )
            )

        return asyncio.run(main())

    def twice_then_elsewhere(
        self,
        tool: str,
        body: Counter,
        same: AbstractContextManager[object],
        other: AbstractContextManager[object],
    ) -> None:
        """The step of the isolation tests: ``tool`` on ``{"q": "x"}`` twice under ``same`` (a scope, a run: a
        miss, then a hit), then once under ``other``, which must not see ``same``'s entry."""
        with same:
            self.call(tool, {"q": "x"}, body)
            self.call(tool, {"q": "x"}, body)
        with other:
            self.call(tool, {"q": "x"}, body)

    def invalidate(self, tool: str | None = None, **kwargs: Any) -> int:
        return self._call("invalidate", tool, **kwargs)  # type: ignore[no-any-return]

    def lookup(self, tool: str, arguments: dict[str, Any], **kwargs: Any) -> Any:
        return self._call("lookup", tool, arguments, **kwargs)

    def store(self, tool: str, arguments: dict[str, Any], result: Any, **kwargs: Any) -> bool:
        return self._call("store", tool, arguments, result, **kwargs)  # type: ignore[no-any-return]

    def clear(self) -> int:
        return self._call("clear")  # type: ignore[no-any-return]

    def call_batch(
        self, tool: str, items: list[dict[str, Any]], fn: Callable[[list[int]], list[Any]]
    ) -> list[Any]:
        if self.mode == "sync":
            return self.engine.tools.call_batch(tool, items, fn)

        async def afn(indices: list[int]) -> list[Any]:
            return fn(indices)

        return asyncio.run(self.engine.aio.tools.call_batch(tool, items, afn))


class ToolConformance(BackendSuite):
    """Behaviour of the tool tier that must hold on every backend, blocking and awaited."""

    @pytest.fixture
    def tools(self, mode: str, backend_url: str, clock: FakeClock) -> Iterator[ToolDriver]:
        engine = Engine(backend_url, embedder=FakeEmbedder(), clock=clock, tools=CONFIG)
        yield ToolDriver(engine, mode)
        engine.close()

    # -- what is cached ------------------------------------------------------------------------------------------

    def test_enabled_tool_runs_once(self, tools: ToolDriver) -> None:
        body = Counter({"answer": [1, 2, "three"]})
        assert tools.call("search", {"q": "x"}, body) == {"answer": [1, 2, "three"]}
        assert tools.call("search", {"q": "x"}, body) == {"answer": [1, 2, "three"]}
        assert body.calls == 1
        assert tools.call("search", {"q": "y"}, body) == {"answer": [1, 2, "three"]}
        assert body.calls == 2
        stats = tools.engine.stats().tools
        assert stats is not None
        assert (stats.tools["search"].hits, stats.tools["search"].misses) == (1, 2)

    def test_tools_not_enabled_are_never_cached(self, tools: ToolDriver) -> None:
        for tool in ("unknown_tool", "blocked"):
            body = Counter()
            tools.call(tool, {"q": "x"}, body)
            tools.call(tool, {"q": "x"}, body)
            assert body.calls == 2
            assert tools.engine.stats().tools.tools[tool].bypassed == 2  # type: ignore[union-attr]
        assert tools.engine.tools.policy("unknown_tool") is None

    def test_rules_enable_by_pattern_but_never_a_writer(self, tools: ToolDriver) -> None:
        body = Counter()
        tools.call("read_page", {"url": "u"}, body)
        tools.call("read_page", {"url": "u"}, body)
        assert body.calls == 1
        writes = Counter()
        tools.call("file_write", {"path": "a", "text": "t"}, writes)  # matches "*_write" but is a writer
        tools.call("file_write", {"path": "a", "text": "t"}, writes)
        assert writes.calls == 2

    def test_writer_cannot_be_enabled_by_name(self) -> None:
        with pytest.raises(ConfigError, match="writes"):
            ToolsConfig(tools=["w"], invalidations=(InvalidationRule(writer="w", clears=("r",)),))

    def test_none_is_a_hit(self, tools: ToolDriver) -> None:
        body = Counter(None)
        assert tools.call("search", {"q": "nothing"}, body) is None
        assert tools.call("search", {"q": "nothing"}, body) is None
        assert body.calls == 1
        assert tools.lookup("search", {"q": "nothing"}) is None
        assert tools.lookup("search", {"q": "other"}) is NOT_CACHED

    def test_tuple_result_stays_a_tuple(self, tools: ToolDriver) -> None:
        body = Counter(("content", {"artifact": [1, 2]}))
        tools.call("search", {"q": "t"}, body)
        assert tools.call("search", {"q": "t"}, body) == ("content", {"artifact": [1, 2]})
        assert body.calls == 1

    def test_errors_are_never_cached(self, tools: ToolDriver) -> None:
        failing = Counter(fail=RuntimeError("service down"))
        for _ in range(2):
            with pytest.raises(RuntimeError, match="service down"):
                tools.call("search", {"q": "e"}, failing)
        assert failing.calls == 2
        ok = Counter("fine")
        assert tools.call("search", {"q": "e"}, ok) == "fine"
        assert tools.engine.stats().tools.tools["search"].errors == 2  # type: ignore[union-attr]

    def test_unstorable_result_is_returned_not_cached(self, tools: ToolDriver) -> None:
        marker = object()
        for i, result in enumerate((marker, {"x": math.nan}, {1: "int key"})):
            body = Counter(result)
            assert tools.call("search", {"q": i}, body) is result
            assert tools.call("search", {"q": i}, body) is result
            assert body.calls == 2
        assert tools.engine.stats().tools.tools["search"].not_stored == 6  # type: ignore[union-attr]

    def test_ttl_with_injected_clock(self, tools: ToolDriver, clock: FakeClock) -> None:
        body = Counter()
        tools.call("short", {"q": 1}, body)
        clock.advance(9.9)
        tools.call("short", {"q": 1}, body)
        assert body.calls == 1
        clock.advance(0.2)
        tools.call("short", {"q": 1}, body)
        assert body.calls == 2

    def test_explicit_policy_overrides_config(self, tools: ToolDriver) -> None:
        body = Counter()
        tools.call("unknown_tool", {"q": 1}, body, policy=ToolPolicy())
        tools.call("unknown_tool", {"q": 1}, body, policy=ToolPolicy())
        assert body.calls == 1

    # -- keys ---------------------------------------------------------------------------------------------------

    def test_equal_arguments_share_a_key(self, tools: ToolDriver) -> None:
        body = Counter()
        nfc = unicodedata.normalize("NFC", "café")
        nfd = unicodedata.normalize("NFD", "café")
        assert nfc != nfd
        variants = [
            {"a": 1, "b": {"x": [1, 2], "y": nfc}, "c": 0.0, "d": 2.5},
            {"d": 2.5, "c": -0.0, "b": {"y": nfd, "x": (1.0, 2)}, "a": 1.0},
        ]
        for args in variants:
            tools.call("search", args, body)
        assert body.calls == 1

    def test_different_arguments_do_not(self, tools: ToolDriver) -> None:
        body = Counter()
        for args in ({"a": 1}, {"a": True}, {"a": "1"}, {"a": [1]}, {"a": None}, {"a": 1.5}, {"b": 1}, {}):
            tools.call("search", args, body)
        assert body.calls == 8

    def test_excluded_arguments_are_not_in_the_key(self, tools: ToolDriver) -> None:
        body = Counter()
        tools.call("search", {"q": "x", "request_id": 1}, body, exclude=("request_id",))
        tools.call("search", {"q": "x", "request_id": 2}, body, exclude=("request_id",))
        assert body.calls == 1

    @pytest.mark.parametrize(
        ("value", "fragment"),
        [(math.nan, "NaN"), (math.inf, "NaN"), ({1, 2}, "set"), (b"raw", "bytes"), (object(), "object")],
    )
    def test_arguments_json_cannot_hold_are_refused(
        self, tools: ToolDriver, value: Any, fragment: str
    ) -> None:
        body = Counter()
        with pytest.raises(InvalidInputError, match=fragment) as info:
            tools.call("search", {"query": {"deep": [value]}}, body)
        assert "query.deep[0]" in str(info.value)
        assert body.calls == 0

    # -- invalidation ---------------------------------------------------------------------------------------------

    def test_write_clears_matching_reads_only(self, tools: ToolDriver) -> None:
        reads = Counter("content")
        for path in ("a", "b"):
            tools.call("file_read", {"path": path}, reads)
            tools.call("file_stat", {"path": path}, reads)
        assert reads.calls == 4
        tools.call("file_write", {"path": "a", "text": "new"}, Counter())
        for path in ("a", "b"):
            tools.call("file_read", {"path": path}, reads)
            tools.call("file_stat", {"path": path}, reads)
        assert reads.calls == 6  # only path a was read again, by both tools

    def test_write_with_renamed_argument(self, tools: ToolDriver) -> None:
        reads = Counter()
        tools.call("file_read", {"path": "dst"}, reads)
        tools.call("file_read", {"path": "src"}, reads)
        tools.call("file_move", {"src": "src", "dest": "dst"}, Counter())
        tools.call("file_read", {"path": "dst"}, reads)
        tools.call("file_read", {"path": "src"}, reads)
        assert reads.calls == 3

    def test_write_clears_across_scopes_and_even_when_it_fails(self, tools: ToolDriver) -> None:
        reads = Counter()
        for user in ("u1", "u2"):
            with lix_scope(user):
                tools.call("git_status", {}, reads)
                tools.call("git_log", {"n": 5}, reads)
        with pytest.raises(OSError):
            tools.call("git_commit", {"message": "m"}, Counter(fail=OSError("disk full")))
        for user in ("u1", "u2"):
            with lix_scope(user):
                tools.call("git_status", {}, reads)
                tools.call("git_log", {"n": 5}, reads)
        assert reads.calls == 8

    def test_invalidate_by_tool_arguments_and_scope(self, tools: ToolDriver) -> None:
        body = Counter()

        def fill() -> None:
            for user in ("u1", "u2"):
                with lix_scope(user):
                    tools.call("search", {"q": "x", "lang": "en"}, body)
                    tools.call("search", {"q": "y", "lang": "en"}, body)
                    tools.call("file_read", {"path": "p"}, body)

        fill()
        assert body.calls == 6
        assert tools.invalidate("search", arguments={"q": "x"}) == 2
        assert tools.invalidate(scope="u1") == 2
        assert tools.invalidate("file_read") == 1
        fill()
        assert body.calls == 6 + 2 + 2 + 1
        assert tools.invalidate("search", arguments={"lang": "en"}, scope="u2") == 2
        assert tools.clear() == 4

    # -- scopes ----------------------------------------------------------------------------------------------------

    def test_session_scope_isolation(self, tools: ToolDriver) -> None:
        body = Counter()
        tools.twice_then_elsewhere("search", body, lix_scope("u1"), lix_scope("u2"))
        tools.call("search", {"q": "x"}, body, scope="tenant")
        with lix_scope("u1"):  # nested inside the fixed scope: tenant/u1, not u1
            tools.call("search", {"q": "x"}, body, scope="tenant")
        assert body.calls == 4

    def test_global_scope_is_shared_by_request_scopes(self, tools: ToolDriver) -> None:
        body = Counter()
        with lix_scope("u1"):
            tools.call("public", {"q": "x"}, body)
        with lix_scope("u2"):
            tools.call("public", {"q": "x"}, body)
        assert body.calls == 1
        tools.call("public", {"q": "x"}, body, scope="tenant-b")  # a fixed scope still separates
        assert body.calls == 2

    def test_run_scope(self, tools: ToolDriver) -> None:
        body = Counter()
        tools.twice_then_elsewhere("per_run", body, tool_run("r1"), tool_run("r2"))
        tools.call("per_run", {"q": "x"}, body, run_id="r1")
        assert body.calls == 2
        tools.call("per_run", {"q": "x"}, body)  # no run: never cached
        tools.call("per_run", {"q": "x"}, body)
        assert body.calls == 4

    # -- concurrency ------------------------------------------------------------------------------------------------

    def test_single_flight_16_callers(self, tools: ToolDriver) -> None:
        body = Counter({"v": 1}, delay=0.5)
        results = tools.concurrent(16, "search", {"q": "slow"}, body)
        assert body.calls == 1
        assert results == [{"v": 1}] * 16
        assert len({id(r) for r in results}) == 16  # each caller got its own copy
        stats = tools.engine.stats().tools.tools["search"]  # type: ignore[union-attr]
        assert stats.misses == 1 and stats.hits == 15 and stats.coalesced == 15
        # Waiters saved executions, not wall time; a later hit saves the whole run time of the stored result.
        assert tools.call("search", {"q": "slow"}, body) == {"v": 1}
        assert tools.engine.stats().tools.tools["search"].time_saved_s > 0.3  # type: ignore[union-attr]

    def test_single_flight_shares_the_error(self, tools: ToolDriver) -> None:
        body = Counter(fail=ValueError("boom"), delay=0.5)
        results = tools.concurrent(16, "search", {"q": "bad"}, body)
        assert body.calls == 1
        assert all(isinstance(r, ValueError) for r in results)
        ok = Counter("now fine")
        assert tools.call("search", {"q": "bad"}, ok) == "now fine"

    # -- batches, storage --------------------------------------------------------------------------------------------

    def test_batch_computes_only_missing_items_once(self, tools: ToolDriver) -> None:
        computed: list[list[int]] = []
        items = [{"id": i} for i in (1, 2, 3, 2, 4)]

        def fn(indices: list[int]) -> list[Any]:
            computed.append([items[i]["id"] for i in indices])
            return [{"square": items[i]["id"] ** 2} for i in indices]

        assert tools.call_batch("search", items[:2], fn) == [{"square": 1}, {"square": 4}]
        assert tools.call_batch("search", items, fn) == [{"square": n * n} for n in (1, 2, 3, 2, 4)]
        assert computed == [[1, 2], [3, 4]]

    def test_unreadable_entry_is_a_miss_and_replaced(self, tools: ToolDriver) -> None:
        body = Counter("fresh")
        tools.call("search", {"q": "c"}, body)
        core = tools.engine._core
        key = core.tools.prepare("search", {"q": "c"}).key  # type: ignore[union-attr]
        core.backend.execute(KvPut(core.config.namespace, TABLE, (KvItem(key, b"\x80not json"),), 0.0))
        assert tools.call("search", {"q": "c"}, body) == "fresh"
        assert body.calls == 2
        assert tools.call("search", {"q": "c"}, body) == "fresh"
        assert body.calls == 2

    def test_entries_are_shared_through_the_store(self, tools: ToolDriver, backend_url: str) -> None:
        body = Counter([1, 2])
        tools.call("search", {"q": "shared"}, body)
        other = Engine(backend_url, embedder=FakeEmbedder(), tools=CONFIG)
        try:
            assert other.tools.call("search", {"q": "shared"}, body) == [1, 2]
        finally:
            other.close()
        assert body.calls == 1
