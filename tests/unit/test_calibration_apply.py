"""Applying a calibration (issue 21): ``Engine(threshold=result)``, ``engine.semantic.set_threshold(result)`` and
``lix calibrate --apply``, which stores the threshold with the data for every engine that opens the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lix_integrations import DEFAULT_THRESHOLD, ConfigError, Engine
from lix_integrations.calibration import Calibration, calibrate
from lix_integrations.engine.engine import AsyncEngine
from lix_integrations.testing import FakeEmbedder

PAIRS = [
    {"q1": "alpha beta gamma", "q2": "gamma beta alpha", "label": 1},
    {"q1": "red green blue", "q2": "blue red green", "label": 1},
    {"q1": "one two three", "q2": "seven eight nine", "label": 0},
]


@pytest.fixture(scope="module")
def result() -> Calibration:
    calibration = calibrate(PAIRS, 0.99, embedder=FakeEmbedder())
    assert calibration.threshold == 0.5 != DEFAULT_THRESHOLD
    return calibration


def test_engine_takes_a_calibration_as_its_threshold(result: Calibration) -> None:
    with Engine("memory://", embedder=FakeEmbedder(), threshold=result) as engine:
        assert engine.semantic.threshold == 0.5


def test_set_threshold_changes_what_is_served(result: Calibration) -> None:
    with Engine("memory://", embedder=FakeEmbedder(), threshold=0.99) as engine:
        engine.semantic.update("alpha beta gamma delta", "m", "A")
        assert engine.semantic.lookup("alpha beta gamma", "m") is None  # below 0.99
        assert engine.semantic.set_threshold(result) == 0.5
        hit = engine.semantic.lookup("alpha beta gamma", "m")
        assert hit is not None and hit.payload == "A" and 0.5 <= hit.similarity < 0.99


def test_a_stored_threshold_is_used_by_engines_opening_the_store(tmp_path: Path, result: Calibration) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    with Engine(url, embedder=FakeEmbedder()) as engine:
        assert engine.semantic.threshold == DEFAULT_THRESHOLD
        engine.semantic.set_threshold(result, store=True)
    with Engine(url, embedder=FakeEmbedder()) as reopened:
        assert reopened.semantic.threshold == 0.5
    with Engine(url, embedder=FakeEmbedder(), threshold=0.9) as explicit:  # an explicit threshold wins
        assert explicit.semantic.threshold == 0.9
    with Engine(url, embedder=FakeEmbedder(), namespace="other") as other:  # stored per namespace
        assert other.semantic.threshold == DEFAULT_THRESHOLD
    with Engine(url, embedder=FakeEmbedder()) as engine:  # a later calibration replaces the stored one
        engine.semantic.set_threshold(0.7, store=True)
    with Engine(url, embedder=FakeEmbedder()) as reopened:
        assert reopened.semantic.threshold == 0.7


async def test_async_set_threshold_stores_too(tmp_path: Path, result: Calibration) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    engine = AsyncEngine(url, embedder=FakeEmbedder())
    assert await engine.semantic.set_threshold(result, store=True) == 0.5
    await engine.aclose()
    with Engine(url, embedder=FakeEmbedder()) as reopened:
        assert reopened.semantic.threshold == 0.5


def test_a_calibration_of_another_embedder_is_refused(result: Calibration) -> None:
    other = FakeEmbedder(dimension=32)
    with Engine("memory://", embedder=other) as engine:
        with pytest.raises(ConfigError, match="measured with embedder 'lix-fake-bow-64'"):
            engine.semantic.set_threshold(result)
        assert engine.semantic.threshold == DEFAULT_THRESHOLD


def test_a_bad_threshold_is_refused_and_nothing_is_stored(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    with Engine(url, embedder=FakeEmbedder()) as engine:
        with pytest.raises(ConfigError, match="threshold must be a number between 0 and 1"):
            engine.semantic.set_threshold(1.5, store=True)
    with Engine(url, embedder=FakeEmbedder()) as reopened:
        assert reopened.semantic.threshold == DEFAULT_THRESHOLD


def test_lix_calibrate_apply_stores_the_threshold_with_the_data(tmp_path: Path) -> None:
    from tests.unit.test_cli import lix

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(r) + "\n" for r in PAIRS))
    url = f"sqlite:///{tmp_path / 'cache.db'}"
    args = ["calibrate", str(pairs), "--embedder", "fake", "--target-precision", "0.99", "--url", url]
    done = lix(*args, "--apply", "--apply-to", "app")
    assert done.returncode == 0, done.stderr
    assert "applied: stored with namespace 'app'" in done.stdout
    with Engine(url, embedder=FakeEmbedder(), namespace="app") as engine:
        assert engine.semantic.threshold == 0.5
    with Engine(url, embedder=FakeEmbedder()) as untouched:  # only the namespace named was changed
        assert untouched.semantic.threshold == DEFAULT_THRESHOLD
