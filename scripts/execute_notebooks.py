"""Execute notebooks/*.ipynb in place, so the committed outputs (and plots) are what the code prints today.

Run from the repository root after changing a notebook or anything it shows:

    .venv/bin/python scripts/execute_notebooks.py [NAME.ipynb ...]

Each runs offline in a fresh kernel on a scratch store (LIX_CACHE_DIR in a temporary directory, removed after).
tests/unit/test_notebooks.py executes them again and fails when an output differs from the committed one (see
``normalized`` there for what may differ: timings and memory addresses), and the docs site renders the
committed outputs (docs/hooks/notebooks.py).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import nbclient
import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def execute(path: Path, timeout: int = 600) -> nbformat.NotebookNode:
    """Run a notebook in a fresh kernel on a scratch store and return it with its outputs (the file is unchanged)."""
    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="lix-notebook-") as scratch:
        saved = {
            k: os.environ.get(k)
            for k in ("LIX_CACHE_DIR", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "MPLBACKEND")
        }
        os.environ.update(LIX_CACHE_DIR=scratch, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        os.environ.pop("MPLBACKEND", None)  # the kernel's inline backend, so plots become outputs
        try:
            client = nbclient.NotebookClient(
                notebook,
                timeout=timeout,
                kernel_name="python3",
                resources={"metadata": {"path": str(NOTEBOOKS)}},
            )
            client.execute()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    notebook.metadata.pop("widgets", None)
    return notebook


def main(argv: list[str]) -> int:
    names = argv or sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    for name in names:
        path = NOTEBOOKS / name
        nbformat.write(execute(path), path)
        print(f"executed {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
