"""Configuration, environment variables, the default store, and pure key derivation."""

from __future__ import annotations

import hashlib
import random
import re
import unicodedata
from pathlib import Path

import pytest

from lix_integrations import ConfigError, Engine, EngineConfig, InvalidIdError, SamplingPolicy, lix_scope
from lix_integrations.config import default_store_path
from lix_integrations.kernel.keys import digest, is_sampling, normalize_prompt
from lix_integrations.kernel.scope import current_scope, resolve_scope
from lix_integrations.testing import FakeEmbedder
from lix_integrations.tiers.semantic import prepare_query


def test_from_env_reads_every_option(tmp_path: Path) -> None:
    env = {
        "APP_URL": f"sqlite:///{tmp_path / 'env.db'}",
        "APP_NAMESPACE": "tenant-a",
        "APP_THRESHOLD": "0.85",
        "APP_TTL": "3600",
        "APP_IDLE_TTL": "60",
        "APP_MAX_ENTRIES": "none",
        "APP_SAMPLING": "exact_only",
        "APP_MAX_PROMPT_BYTES": "2048",
    }
    config = EngineConfig.from_env("APP_", environ=env)
    assert config.url == env["APP_URL"] and config.namespace == "tenant-a"
    assert (config.threshold, config.ttl, config.idle_ttl, config.max_entries) == (0.85, 3600.0, 60.0, None)
    assert config.sampling is SamplingPolicy.EXACT_ONLY and config.max_prompt_bytes == 2048


def test_engine_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MYAPP_URL", f"sqlite:///{tmp_path / 'fromenv.db'}")
    monkeypatch.setenv("MYAPP_THRESHOLD", "0.9")
    engine = Engine.from_env("MYAPP_", embedder=FakeEmbedder())
    assert engine.url.endswith("fromenv.db") and engine.semantic.threshold == 0.9


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"X_THRESHOLD": "high"}, "X_THRESHOLD"),
        ({"X_THRESHOLD": "1.5"}, "threshold"),
        ({"X_TTL": "-1"}, "ttl"),
        ({"X_MAX_ENTRIES": "0"}, "max_entries"),
        ({"X_SAMPLING": "sometimes"}, "sampling"),
    ],
)
def test_bad_environment_values_name_the_option(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        EngineConfig.from_env("X_", environ=env)


def test_unknown_option_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown option"):
        EngineConfig().with_overrides(treshold=0.5)


def test_default_store_lives_in_the_overridable_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LIX_CACHE_DIR", str(tmp_path / "lixhome"))
    assert default_store_path() == tmp_path / "lixhome" / "cache.db"
    engine = Engine(embedder=FakeEmbedder())
    engine.semantic.update("hello there", "m", "hi")
    engine.close()
    assert (tmp_path / "lixhome" / "cache.db").exists()


def test_default_store_without_override_is_per_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIX_CACHE_DIR", raising=False)
    path = default_store_path()
    assert path.name == "cache.db" and "lix-integrations" in str(path) and str(Path.home()) in str(path)


def test_normalization_and_digests() -> None:
    assert normalize_prompt("  Hello \n\t world  ") == "Hello world"
    assert normalize_prompt("cafe\u0301") == normalize_prompt("caf\u00e9")
    assert normalize_prompt("Hello") != normalize_prompt("hello")  # case is meaningful to an LLM
    assert digest("ab", "c") != digest("a", "bc")
    assert len(digest("x")) == 32


#: Whitespace ``\s`` matches in a str pattern, ASCII and not (NBSP, NEL, ideographic space, the separators
#: 0x1c-0x1f), and characters that look blank but are not whitespace (zero-width space, BOM).
_BLANKS = " \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2028\u3000\u200b\ufeff"


@pytest.mark.parametrize("seed", range(5))
def test_keys_are_what_earlier_versions_derived(seed: int) -> None:
    """Stored exact keys and partitions stay valid: normalization and digests give what the regular expression
    and the streaming BLAKE2b of earlier versions gave, on prompts made of whitespace of every kind."""

    def digest_before(*parts: str) -> str:
        h = hashlib.blake2b(digest_size=16)
        for part in parts:
            raw = part.encode("utf-8", "surrogatepass")
            h.update(len(raw).to_bytes(8, "big"))
            h.update(raw)
        return h.hexdigest()

    rng = random.Random(seed)
    alphabet = _BLANKS + "abc\u00e9e\u0301"
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        normalized = re.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).strip()
        assert normalize_prompt(text) == normalized
        assert digest("exact", text, normalized) == digest_before("exact", text, normalized)
    assert digest() == digest_before()


@pytest.mark.parametrize(
    ("llm_string", "sampling"),
    [
        ("[('_type', 'fake'), ('temperature', 0.0)]", False),
        ("[('_type', 'fake'), ('temperature', 0.7)]", True),
        ('{"kwargs": {"model_name": "gpt", "temperature": 1}, "lc": 1}---[(\'stop\', None)]', True),
        ('{"kwargs": {"model_name": "gpt", "n": 3, "temperature": 0}}---[]', True),
        ('{"kwargs": {"model_name": "gpt", "n": 1, "temperature": 0}}---[]', False),
        ("[('_type', 'fake-list'), ('responses', ['a'])]", False),
    ],
)
def test_sampling_detection(llm_string: str, sampling: bool) -> None:
    assert is_sampling(llm_string) is sampling


def test_partition_and_exact_keys_separate_every_dimension() -> None:
    base = prepare_query("What is up?", "m", context="c", scope="s", max_prompt_bytes=10_000)
    variants = [
        prepare_query("What is up?", "m2", context="c", scope="s", max_prompt_bytes=10_000),
        prepare_query("What is up?", "m", context="c2", scope="s", max_prompt_bytes=10_000),
        prepare_query("What is up?", "m", context="c", scope="s2", max_prompt_bytes=10_000),
    ]
    for other in variants:
        assert other.partition != base.partition and other.exact_key != base.exact_key
    same = prepare_query(" What  is up? ", "m", context="c", scope="s", max_prompt_bytes=10_000)
    assert same.exact_key == base.exact_key


def test_scopes_nest_and_validate() -> None:
    assert current_scope() == "global" and resolve_scope(None) == "global"
    with lix_scope("tenant") as outer:
        assert outer == "tenant"
        with lix_scope("user-1"):
            assert resolve_scope("app") == "app/tenant/user-1"
    assert resolve_scope("app") == "app"
    for bad in ["", "a//b", "/a", "a/", "nul\x00", "x" * 300, "ok/" + "x" * 300]:
        with pytest.raises(InvalidIdError):
            resolve_scope(bad)
        with pytest.raises(InvalidIdError), lix_scope(bad):
            pass


def test_nested_scopes_follow_one_rule() -> None:
    # Issue 15, trap 13: scope="tenant-b/user-1" was refused while lix inspect showed and accepted that form.
    assert resolve_scope("tenant-b/user-1") == "tenant-b/user-1"
    with lix_scope("tenant-b/user-1") as joined:
        assert joined == "tenant-b/user-1" and resolve_scope("app") == "app/tenant-b/user-1"
    with Engine("memory://", embedder=FakeEmbedder()) as engine:
        engine.semantic.update("what is the plan", "m", "B1", scope="tenant-b/user-1")
        with lix_scope("tenant-b", "user-1"):
            hit = engine.semantic.lookup("what is the plan", "m")
        assert hit is not None and hit.payload == "B1"
        assert engine.semantic.lookup("what is the plan", "m", scope="tenant-b") is None
        assert engine.semantic.lookup("what is the plan", "m") is None
        listed = engine.semantic.entries(scope="tenant-b")
        assert [e.scope for e in listed] == ["tenant-b/user-1"]
        again = engine.semantic.lookup("what is the plan", "m", scope=listed[0].scope)
        assert again is not None and again.payload == "B1"
        for bad in ["a//b", "/a", "a/", "a\x00"]:
            with pytest.raises(InvalidIdError):
                engine.semantic.entries(scope=bad)
            with pytest.raises(InvalidIdError):
                engine.semantic.clear(scope=bad)
        assert engine.semantic.clear(scope="tenant-b") == 1


def test_an_explicit_none_keyword_is_a_value_where_none_means_something() -> None:
    """``Engine(max_entries=None)`` is unbounded, as ``LIX_MAX_ENTRIES=none`` is: the keyword used to be taken for
    "not given" and silently kept the 100,000 default (benchmarks/sqlite_scale.py evicted on every insert into its
    100k store because of it). ``None`` for an option where it means nothing (``namespace``) is still ignored."""
    engine = Engine("memory://", embedder=FakeEmbedder(), max_entries=None, namespace=None, ttl=None)  # type: ignore[arg-type]
    assert (engine.config.max_entries, engine.config.namespace, engine.config.ttl) == (None, "default", None)
    configured = EngineConfig(ttl=60.0, max_entries=10)
    assert configured.with_overrides(ttl=None, max_entries=None, url=None) == EngineConfig(max_entries=None)
    engine.close()
