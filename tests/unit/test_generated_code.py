"""Files generated from another (the blocking Redis executor from the awaitable one) are current."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _unasync() -> object:
    spec = importlib.util.spec_from_file_location("unasync", ROOT / "scripts" / "unasync.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["unasync"] = module
    spec.loader.exec_module(module)
    return module


UNASYNC = _unasync()


@pytest.mark.parametrize("source, target", UNASYNC.FILES)  # type: ignore[attr-defined]
def test_generated_file_is_current(source: str, target: str) -> None:
    expected = UNASYNC.generate(source, target)  # type: ignore[attr-defined]
    assert (ROOT / target).read_text(encoding="utf-8") == expected, (
        f"{target} is stale: run `python scripts/unasync.py` after changing {source}"
    )


@pytest.mark.parametrize("source, target", UNASYNC.FILES)  # type: ignore[attr-defined]
def test_generated_file_says_so_first(source: str, target: str) -> None:
    head = (ROOT / target).read_text(encoding="utf-8").splitlines()[:3]
    assert any("Generated from" in line and source in line for line in head)
