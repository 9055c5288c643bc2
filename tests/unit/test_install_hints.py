"""Install hints name commands that work: the package installs from its repository, not from a package index."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lix_integrations import __version__
from lix_integrations.install import install_hint

ROOT = Path(__file__).resolve().parents[2]
#: ``pip install 'lix-integrations[...]'`` (or unquoted) asks a package index for a package it does not have.
UNINSTALLABLE = re.compile(r"pip install\s+['\"]?lix-integrations\b")


def _texts() -> list[Path]:
    paths = [ROOT / "README.md", *ROOT.glob("docs/**/*.md"), *ROOT.glob("lix_integrations/**/*.py")]
    return [p for p in paths if p.is_file()]


def test_no_hint_names_a_package_index_install() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in _texts()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if UNINSTALLABLE.search(line)
    ]
    assert offenders == []


def test_readme_says_how_to_install_into_ones_own_project() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme  # the repository's two commands stay
    assert "pip install '/path/to/lix-integrations[local]'" in readme
    assert f"lix_integrations-{__version__}-py3-none-any.whl[local]" in readme
    assert "pip wheel --no-deps -w dist ." in readme


@pytest.mark.parametrize("extra", ["local", "plot", "otel"])
def test_hint_names_the_clone_and_the_wheel(extra: str) -> None:
    hint = install_hint(extra)
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
