"""The docs' Redis examples (marked ``<!-- redis -->``) run against a real server and print what the page shows.

The server is started with the settings docs/deploying.md recommends (its ``# redis.conf`` block), which also
checks that Redis 7.4 and Valkey 9 accept them. ``redis://localhost:6379/0`` in an example is replaced by that
server's URL. See tests/unit/test_docs.py for how pages, marks and outputs are read.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from lix_integrations.testing.redis_servers import RedisServer, ServerUnavailable, start_plain, start_valkey
from tests.unit.test_docs import DOCS, examples, run_examples

PLACEHOLDER = "redis://localhost:6379/0"
REDIS_EXAMPLES = [e for page in sorted(DOCS.glob("*.md")) for e in examples(page) if e.mark == "redis"]


def recommended_settings() -> list[str]:
    """docs/deploying.md's redis.conf block as redis-server arguments (``--maxmemory-policy noeviction`` ...)."""
    text = (DOCS / "deploying.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```text\n# redis\.conf[^\n]*\n(.*?)```", text, flags=re.DOTALL)
    args = []
    for line in block.splitlines():
        if line.strip() and not line.startswith("#"):
            name, value = line.split(None, 1)
            args += [f"--{name}", value]
    return args


@pytest.fixture(scope="module", params=["redis", "valkey"])
def configured_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RedisServer]:
    start = start_plain if request.param == "redis" else start_valkey
    try:
        server = start(tmp_path_factory.mktemp(f"docs-{request.param}"), args=recommended_settings())
    except ServerUnavailable as exc:
        pytest.fail(f"{request.param} server with the recommended settings did not start: {exc}")
    yield server
    server.stop()


def test_the_recommended_settings_are_the_safe_ones() -> None:
    args = recommended_settings()
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    assert args[args.index("--appendonly") + 1] == "yes"


def test_there_are_redis_examples() -> None:
    assert REDIS_EXAMPLES, "no <!-- redis --> example in docs/"
    assert all(PLACEHOLDER in e.code for e in REDIS_EXAMPLES), [e.page for e in REDIS_EXAMPLES]


@pytest.mark.parametrize("page", sorted({e.page for e in REDIS_EXAMPLES}))
def test_redis_examples_run_and_print_what_the_page_shows(
    page: str, configured_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    chosen = [
        dataclasses.replace(e, code=e.code.replace(PLACEHOLDER, configured_server.url))
        for e in REDIS_EXAMPLES
        if e.page == page
    ]
    run_examples(chosen, {"__name__": f"docs_{Path(page).stem}_redis"})
