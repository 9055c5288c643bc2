"""Test-wide settings: models load offline only, and nothing touches the user's real default store."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"


@pytest.fixture(autouse=True)
def _private_default_store(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Point the embedded default store at a temporary directory for every test."""
    directory = tmp_path_factory.mktemp("lix-default")
    monkeypatch.setenv("LIX_CACHE_DIR", str(directory))
    yield directory
