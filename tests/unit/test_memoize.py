"""@memoize and @cached_tool on plain functions: sync, async, generators, batches, exclude, engine arguments."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from lix_integrations import Engine
from lix_integrations.errors import ConfigError, InvalidInputError
from lix_integrations.memoize import cached_tool, memoize
from lix_integrations.testing import FakeClock, FakeEmbedder
from lix_integrations.tiers.tools import InvalidationRule, ToolsConfig


@pytest.fixture(params=["memory", "sqlite"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = (
        f"memory://memo-{uuid.uuid4().hex}" if request.param == "memory" else f"sqlite:///{tmp_path / 'm.db'}"
    )
    config = ToolsConfig(
        tools=["read_file"],
        invalidations=(InvalidationRule(writer="write_file", clears=("read_file",), match=("path",)),),
    )
    e = Engine(url, embedder=FakeEmbedder(), clock=FakeClock(), tools=config)
    yield e
    e.close()


def test_sync_function_binds_arguments(engine: Engine) -> None:
    calls: list[tuple[int, int]] = []

    @memoize(engine=engine)
    def add(a: int, b: int = 2) -> int:
        calls.append((a, b))
        return a + b

    assert add(1) == add(a=1) == add(1, 2) == add(1.0, b=2.0) == 3
    assert calls == [(1, 2)]
    assert add.cache_name.endswith("test_sync_function_binds_arguments.<locals>.add")
    assert add.cache_stats().hits == 3
    assert add.invalidate(a=1) == 1
    add(1)
    assert len(calls) == 2


def test_exclude_and_kwargs(engine: Engine) -> None:
    calls = []

    @memoize(engine=engine, exclude=("verbose",))
    def fetch(url: str, *, verbose: bool = False, **headers: str) -> str:
        calls.append(url)
        return url.upper()

    fetch("u", verbose=True, accept="json")
    fetch("u", verbose=False, accept="json")
    fetch("u", accept="xml")
    assert calls == ["u", "u"]


def test_unserializable_argument_is_a_clear_error(engine: Engine) -> None:
    @memoize(engine=engine)
    def f(x: Any) -> Any:
        return x

    with pytest.raises(InvalidInputError, match="'x'"):
        f({1, 2})


async def test_async_function_single_flight(engine: Engine) -> None:
    calls = []

    @memoize(engine=engine)
    async def slow(q: str) -> list[str]:
        calls.append(q)
        await asyncio.sleep(0.2)
        return [q]

    results = await asyncio.gather(*(slow("x") for _ in range(16)))
    assert results == [["x"]] * 16 and calls == ["x"]
    assert await slow("x") == ["x"] and calls == ["x"]


def test_generator_cached_only_when_fully_consumed(engine: Engine) -> None:
    runs = []

    @memoize(engine=engine)
    def numbers(n: int) -> Iterator[int]:
        runs.append(n)
        yield from range(n)

    gen = numbers(3)
    assert next(gen) == 0
    gen.close()  # stopped early: nothing stored
    assert list(numbers(3)) == [0, 1, 2]
    assert list(numbers(3)) == [0, 1, 2]
    assert runs == [3, 3]


async def test_async_generator(engine: Engine) -> None:
    runs = []

    @memoize(engine=engine)
    async def letters(word: str) -> AsyncIterator[str]:
        runs.append(word)
        for ch in word:
            yield ch

    assert [c async for c in letters("ab")] == ["a", "b"]
    assert [c async for c in letters("ab")] == ["a", "b"]
    assert runs == ["ab"]


def test_batch_function_computes_missing_items(engine: Engine) -> None:
    seen: list[list[int]] = []

    @memoize(engine=engine, batch=True)
    def squares(ids: list[int], power: int = 2) -> list[int]:
        seen.append(list(ids))
        return [i**power for i in ids]

    assert squares([1, 2]) == [1, 4]
    assert squares([2, 3, 3, 1]) == [4, 9, 9, 1]
    assert squares(ids=[3], power=3) == [27]
    assert seen == [[1, 2], [3], [3]]


async def test_async_batch(engine: Engine) -> None:
    seen: list[list[str]] = []

    @memoize(engine=engine, batch=True)
    async def upper(words: list[str]) -> list[str]:
        seen.append(list(words))
        return [w.upper() for w in words]

    assert await upper(["a", "b"]) == ["A", "B"]
    assert await upper(["b", "c"]) == ["B", "C"]
    assert seen == [["a", "b"], ["c"]]


def test_batch_needs_a_list_parameter() -> None:
    with pytest.raises(ConfigError):

        @memoize(engine="memory://x", batch=True)
        def gen(ids: list[int]) -> Iterator[int]:
            yield from ids


def test_cached_tool_follows_config_and_write_rules(engine: Engine) -> None:
    reads: list[str] = []
    files = {"a": "1"}

    @cached_tool(engine=engine)
    def read_file(path: str) -> str:
        reads.append(path)
        return files[path]

    @cached_tool(engine=engine)
    def write_file(path: str, text: str) -> None:
        files[path] = text

    @cached_tool(engine=engine)
    def list_dir() -> list[str]:  # not enabled in the config
        reads.append("ls")
        return sorted(files)

    assert read_file("a") == "1" and read_file("a") == "1"
    write_file("a", "2")
    assert read_file("a") == "2"
    list_dir()
    list_dir()
    assert reads == ["a", "a", "ls", "ls"]


def test_engine_from_url_opened_lazily(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lazy.db'}"

    @memoize(engine=url)
    def f(x: int) -> int:
        return x * 2

    assert not (tmp_path / "lazy.db").exists()
    assert f(2) == 4 and f(2) == 4
    assert (tmp_path / "lazy.db").exists()


def test_default_engine_is_the_embedded_store(_private_default_store: Path) -> None:
    @memoize
    def f(x: int) -> int:
        return x + 1

    assert f(1) == 2 and f(1) == 2
    assert (_private_default_store / "cache.db").exists()
