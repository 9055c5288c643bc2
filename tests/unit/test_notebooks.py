"""The notebooks are committed with the outputs of their last run (the docs site shows them), and those outputs
are current: the suite runs every notebook again, offline on a scratch store, and compares what each cell shows
(timings, memory addresses and temporary paths aside). Refresh them with scripts/execute_notebooks.py."""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
NAMES = [
    "langchain_quickstart.ipynb",
    "llama_index_quickstart.ipynb",
    "threshold_tuning.ipynb",
    "langgraph_agent.ipynb",
]
TEMP = re.escape(tempfile.gettempdir())
# What may differ between two runs of the same code: durations (printed with all their digits), addresses in
# reprs, the scratch directories a notebook creates.
VOLATILE = [
    (re.compile(r"\d+\.\d{5,}(?:e-?\d+)?"), "<float>"),
    (re.compile(r"0x[0-9a-f]{6,}"), "<address>"),
    (re.compile(rf"(?:/private)?{TEMP}/[\w.\-]+"), "<tmp>"),
]


def shown(notebook: Any) -> list[list[tuple[str, str]]]:
    """Per code cell, what it shows: (kind, text), consecutive stream chunks joined, volatile parts masked."""
    cells = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        items: list[tuple[str, str]] = []
        for output in cell.outputs:
            if output.output_type == "stream":
                kind, text = output.name, output.text
            elif output.output_type == "error":
                kind, text = "error", f"{output.ename}: {output.evalue}"
            elif "image/png" in output.get("data", {}):
                kind, text = (
                    "image",
                    "",
                )  # a plot's pixels vary with fonts and versions; its presence does not
            else:
                kind, text = "result", output.get("data", {}).get("text/plain", "")
            if items and kind == items[-1][0] and kind in ("stdout", "stderr"):
                items[-1] = (kind, items[-1][1] + text)
            else:
                items.append((kind, text))
        for pattern, mask in VOLATILE:
            items = [(kind, pattern.sub(mask, text)) for kind, text in items]
        cells.append(items)
    return cells


@pytest.mark.parametrize("name", NAMES)
def test_committed_with_the_outputs_of_a_clean_run(name: str) -> None:
    """Run top to bottom in one kernel, no error, nothing on stderr (no progress bars, no IProgress warning)."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1)), (
        f"{name}: run it with scripts/execute_notebooks.py before committing"
    )
    for number, items in enumerate(shown(notebook), start=1):
        for kind, text in items:
            assert kind not in ("error", "stderr"), f"{name}, code cell {number} shows {kind}: {text[:300]}"
    assert any(items for items in shown(notebook)), f"{name} shows no output at all"


def test_the_threshold_notebook_shows_its_plot() -> None:
    notebook = nbformat.read(NOTEBOOKS / "threshold_tuning.ipynb", as_version=4)
    assert any(kind == "image" for items in shown(notebook) for kind, _ in items)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_committed_outputs_are_current(name: str) -> None:
    committed = nbformat.read(NOTEBOOKS / name, as_version=4)
    fresh = runpy.run_path(str(ROOT / "scripts" / "execute_notebooks.py"))["execute"](
        NOTEBOOKS / name
    )  # raises CellExecutionError naming the failing cell
    for number, (old, new) in enumerate(zip(shown(committed), shown(fresh)), start=1):
        assert new == old, (
            f"{name}, code cell {number} now shows something else: run scripts/execute_notebooks.py"
        )


@pytest.mark.slow
def test_loading_the_default_model_shows_no_progress_bar(tmp_path: Path) -> None:
    """Scripts and notebooks that load MiniLM print no "Loading weights" bar (transformers 5 draws one)."""
    pytest.importorskip("sentence_transformers")
    code = "from lix_integrations.embedders import LocalEmbedder; print(len(LocalEmbedder().embed('hi')))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "384"
    assert "Loading weights" not in result.stderr and "it/s" not in result.stderr, result.stderr[-2000:]
