"""Issue 14, defect 3: no scope a user can write is "no scope".

A tenant named ``global`` read and overwrote every unscoped entry, and ``clear(scope="global")`` deleted them. Here,
on memory, SQLite and Redis: a hypothesis property over scope names (``global``, its near-misses, every reserved
word and prefix of the key scheme, the escape character, nestings, and arbitrary text) shows that a scoped entry
and an unscoped entry of the same prompt never see each other through lookups, ``clear`` or ``entries``, and that
stores written with the previous encoding keep their unscoped and scoped entries readable.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lix_integrations import Engine, InvalidIdError, lix_scope
from lix_integrations.kernel.keys import digest, normalize_prompt
from lix_integrations.kernel.ops import SemanticRecord, Upsert
from lix_integrations.kernel.scope import RESERVED_SCOPE_NAMES, RESERVED_SCOPE_PREFIXES, UNSCOPED
from lix_integrations.testing import FakeEmbedder
from lix_integrations.tiers.tools import ToolPolicy
from tests.integration.conftest import with_prefix

FIGURES = {"scopes": 0}

EDGE_NAMES = [
    "global",
    "Global",
    "GLOBAL",
    " global",
    "global ",
    "global\u200b",
    "glob",
    "globals",
    "~global",
    "~~global",
    "~",
    "~~",
    "run:",
    "run:x",
    "~run:x",
    "run",
    "thread:1",
    *RESERVED_SCOPE_NAMES,
    *(prefix + "x" for prefix in RESERVED_SCOPE_PREFIXES),
    *RESERVED_SCOPE_PREFIXES,
]
NAME = st.one_of(
    st.sampled_from(EDGE_NAMES),
    st.text(
        st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/"), min_size=1, max_size=12
    ),
)
SCOPE = st.lists(NAME, min_size=1, max_size=3).map("/".join)
INVALID = ["", "/", "global/", "/global", "global//x", "a\x00", "\x7f"]
PROMPT = "what is the capital of france"


@pytest.fixture(params=["memory", "sqlite", "redis"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "memory":
        url = f"memory://scopes-{uuid.uuid4().hex}"
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'x.db'}"
    else:
        url = with_prefix(request.getfixturevalue("redis_plain_url"))
    e = Engine(url, embedder=FakeEmbedder(), fail_open=False)
    yield e
    e.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scope=SCOPE)
def test_no_user_scope_is_the_unscoped_scope(engine: Engine, scope: str) -> None:
    llm = "llm-" + uuid.uuid4().hex  # hypothesis reuses the engine: each example gets its own model
    sem = engine.semantic
    sem.update(PROMPT, llm, "unscoped answer")
    sem.update(PROMPT, llm, f"answer of {scope!r}", scope=scope)
    hit = sem.lookup(PROMPT, llm)
    assert hit is not None and hit.payload == "unscoped answer"  # never overwritten by the scoped update
    hit = sem.lookup(PROMPT, llm, scope=scope)
    assert hit is not None and hit.payload == f"answer of {scope!r}"
    with lix_scope(scope):  # the request-scope path stores and reads the same scope
        hit = sem.lookup(PROMPT, llm)
        assert hit is not None and hit.payload == f"answer of {scope!r}"
    listed = sem.entries(llm_string=llm)
    assert sorted(e.scope for e in listed) == sorted(["", scope])  # entries() shows the scope as written
    assert [e.payload for e in sem.entries(scope=scope, llm_string=llm)] == [f"answer of {scope!r}"]
    # Clearing the scope leaves the unscoped entry; then nothing scoped is served.
    assert sem.clear(scope=scope, llm_string=llm) == 1
    hit = sem.lookup(PROMPT, llm)
    assert hit is not None and hit.payload == "unscoped answer"
    assert sem.lookup(PROMPT, llm, scope=scope) is None
    FIGURES["scopes"] += 1


@pytest.mark.parametrize("bad", INVALID)
def test_malformed_scopes_are_refused(engine: Engine, bad: str) -> None:
    with pytest.raises(InvalidIdError):
        engine.semantic.update(PROMPT, "llm", "x", scope=bad)
    with pytest.raises(InvalidIdError):
        engine.semantic.clear(scope=bad)


def test_tool_results_of_scope_global_are_not_the_unscoped_ones(engine: Engine) -> None:
    calls: list[str] = []

    def lookup(city: str) -> str:
        calls.append(city)
        return f"{city}-{len(calls)}"

    for policy in (ToolPolicy(ttl=None), ToolPolicy(ttl=None, scope="global")):  # type: ignore[arg-type]
        tool = f"weather-{uuid.uuid4().hex[:6]}"
        unscoped = engine.tools.call(tool, {"city": "paris"}, lambda: lookup("paris"), policy=policy)
        scoped = engine.tools.call(
            tool, {"city": "paris"}, lambda: lookup("paris"), policy=policy, scope="global"
        )
        assert scoped != unscoped  # a separate entry, computed again
        assert engine.tools.call(tool, {"city": "paris"}, lambda: lookup("x"), policy=policy) == unscoped
        assert engine.tools.invalidate(tool, scope="global") == 1  # only the "global" tenant's entry
        assert engine.tools.call(tool, {"city": "paris"}, lambda: lookup("x"), policy=policy) == unscoped


def _old_record(scope: str, llm: str, prompt: str, payload: str) -> SemanticRecord:
    """An entry exactly as the previous encoding stored it: the scope string as given ("global" when unscoped) in
    the record and in the partition and exact-key digests."""
    text = normalize_prompt(prompt)
    partition = digest("partition", scope, llm, "")
    vec = np.asarray(FakeEmbedder().embed(text), dtype=np.float32)
    now = time.time()
    return SemanticRecord(
        exact_key=digest("exact", partition, text),
        partition=partition,
        scope=scope,
        llm_key=digest("llm", llm),
        prompt=text,
        vector=vec / np.linalg.norm(vec),
        payload=payload,
        created_at=now,
        expires_at=None,
        accessed_at=now,
    )


def test_entries_stored_by_the_previous_encoding_stay_readable(engine: Engine) -> None:
    llm = "llm-old"
    backend = engine._core.backend
    backend.execute(Upsert(engine.namespace, _old_record(UNSCOPED, llm, PROMPT, "old unscoped")))
    backend.execute(Upsert(engine.namespace, _old_record("tenant-a", llm, PROMPT, "old tenant-a")))
    backend.execute(Upsert(engine.namespace, _old_record("tenant-a/u1", llm, PROMPT, "old nested")))
    hit = engine.semantic.lookup(PROMPT, llm)
    assert hit is not None and hit.payload == "old unscoped" and hit.kind == "exact"
    hit = engine.semantic.lookup("what's the capital of france", llm)  # semantic path, same partition
    assert hit is not None and hit.payload == "old unscoped"
    hit = engine.semantic.lookup(PROMPT, llm, scope="tenant-a")
    assert hit is not None and hit.payload == "old tenant-a"
    with lix_scope("tenant-a", "u1"):
        hit = engine.semantic.lookup(PROMPT, llm)
        assert hit is not None and hit.payload == "old nested"
    assert engine.semantic.lookup(PROMPT, llm, scope="global") is None  # the tenant "global" is someone else
    assert engine.semantic.clear(scope="global") == 0
    assert sorted(e.scope for e in engine.semantic.entries()) == ["", "tenant-a", "tenant-a/u1"]
