"""Install hints name the extra as a package index would (``pip install "lix-integrations[EXTRA]"``) and, as the
distribution is not on an index yet, the commands that work today: from a clone, or a wheel built there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lix_integrations import __version__
from lix_integrations.install import install_hint

ROOT = Path(__file__).resolve().parents[2]
#: ``pip install 'lix-integrations[...]'`` (or unquoted) asks a package index for a package it does not have yet.
INDEX_FORM = re.compile(r"pip install\s+['\"]?lix-integrations\b")
#: ... so a text naming it also names the install from a clone.
CLONE_FORM = re.compile(r"pip install\s+(-e\s+)?['\"]?(\.|/path/to/lix-integrations)\[")


def _texts() -> list[Path]:
    paths = [ROOT / "README.md", *ROOT.glob("docs/**/*.md"), *ROOT.glob("lix_integrations/**/*.py")]
    return [p for p in paths if p.is_file()]


def test_a_text_naming_the_index_install_also_names_the_clone_install() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in _texts()
        if INDEX_FORM.search(text := path.read_text(encoding="utf-8")) and not CLONE_FORM.search(text)
    ]
    assert offenders == []


def test_readme_says_how_to_install_into_ones_own_project() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme  # the repository's two commands stay
    assert "pip install '/path/to/lix-integrations[langchain,local]'" in readme
    assert f"lix_integrations-{__version__}-py3-none-any.whl[local]" in readme
    assert "pip wheel --no-deps -w dist ." in readme


@pytest.mark.parametrize("extra", ["langchain", "llama-index", "langgraph", "redis", "local", "plot", "otel"])
def test_hint_names_the_extra_the_clone_and_the_wheel(extra: str) -> None:
    hint = install_hint(extra)
    assert f'pip install "lix-integrations[{extra}]"' in hint
    assert f"pip install '.[{extra}]'" in hint
    assert f"lix_integrations-{__version__}-py3-none-any.whl[{extra}]" in hint


def test_the_plot_error_carries_the_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from lix_integrations.calibration import calibrate

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed: import raises ImportError
    result = calibrate(
        [{"q1": "a b", "q2": "b a", "label": 1}, {"q1": "c d", "q2": "e f", "label": 0}],
        0.5,
        embedder=__import__("lix_integrations.testing", fromlist=["FakeEmbedder"]).FakeEmbedder(),
    )
    with pytest.raises(ImportError, match=re.escape(install_hint("plot"))):
        result.plot()


@pytest.mark.parametrize(
    ("package", "framework", "extra"),
    [
        ("lix_integrations.langchain", "langchain_core", "langchain"),
        ("lix_integrations.llama_index", "llama_index.core", "llama-index"),
        ("lix_integrations.langgraph", "langgraph", "langgraph"),
        ("lix_integrations.backends.redis", "redis", "redis"),
    ],
)
def test_an_adapter_without_its_framework_names_its_extra(
    monkeypatch: pytest.MonkeyPatch, package: str, framework: str, extra: str
) -> None:
    """The installed-wheel version of this runs in tests/integration/test_extras_install.py; here the framework is
    hidden from this process (a ``None`` in ``sys.modules`` is what ``find_spec`` and ``import`` treat as absent)."""
    import importlib
    import sys

    monkeypatch.setitem(sys.modules, framework, None)
    monkeypatch.delitem(sys.modules, package, raising=False)
    with pytest.raises(ImportError, match=re.escape(f'pip install "lix-integrations[{extra}]"')):
        importlib.import_module(package)
