"""The Python examples in the docs run (the built site is checked by test_docs_site.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
FENCE = re.compile(r"(?P<before>^[^\n]*\n)?```python\n(?P<code>.*?)^```", re.MULTILINE | re.DOTALL)
SKIP_MARK = "<!-- skip -->"


def examples(page: Path) -> list[str]:
    """The page's ```python blocks, in order, except those after a `<!-- skip -->` line or needing a server."""
    found = []
    for match in FENCE.finditer(page.read_text(encoding="utf-8")):
        code = match.group("code")
        if SKIP_MARK in (match.group("before") or "") or re.search(r"rediss?(\+cluster)?://", code):
            continue  # Redis examples need a server: tests/integration covers that backend
        found.append(code)
    return found


PAGES = sorted(p for p in DOCS.glob("*.md") if examples(p))


def test_every_page_is_in_the_nav() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in DOCS.glob("*.md"):
        assert page.name in config, f"{page.name} is not in mkdocs.yml's nav"


def test_there_are_examples_to_run() -> None:
    assert len(PAGES) >= 8, [p.name for p in PAGES]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_examples_run(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # examples may write files (cache.db, curve.png)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for number, code in enumerate(examples(page), start=1):
        try:
            exec(compile(code, f"{page.name} example {number}", "exec"), namespace)
        except Exception as exc:  # name the page and block, which is what one needs to fix it
            pytest.fail(f"{page.name}, example {number} failed: {type(exc).__name__}: {exc}\n{code}")
    try:
        from langchain_core.globals import set_llm_cache

        set_llm_cache(None)  # a page that sets a global cache must not leak it into other tests
    except ImportError:
        pass
