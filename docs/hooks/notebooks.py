"""MkDocs hook: each notebooks/*.ipynb becomes a page, notebooks/<name>.md, with its committed outputs and plots.

The outputs are the ones committed with the notebook (scripts/execute_notebooks.py writes them;
tests/unit/test_notebooks.py runs the notebooks again and fails when they differ), so building the site runs no
code and needs no Jupyter plugin. Code and output lines are kept within the column the site shows.
"""

from __future__ import annotations

import base64
import json
import textwrap
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
WIDTH = 86  # docs/ruff.toml's line length: what a code block shows without scrolling


def _text(value: str | list[str]) -> str:
    return "".join(value) if isinstance(value, list) else value


def _wrapped(text: str) -> str:
    """Output lines longer than the column, wrapped as a terminal would (continuations indented)."""
    lines = []
    for line in text.rstrip("\n").splitlines():
        lines.extend(
            textwrap.wrap(
                line,
                WIDTH,
                subsequent_indent="  ",
                drop_whitespace=False,
                replace_whitespace=False,
            )
            or [""]
        )
    return "\n".join(lines)


def _fence(text: str, language: str, title: str = "") -> str:
    ticks = "````" if "```" in text else "```"
    attributes = f' title="{title}"' if title else ""
    return f"{ticks}{language}{attributes}\n{text.rstrip()}\n{ticks}\n"


def _joined(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive chunks of one stream as one output (the kernel splits them where it flushed)."""
    joined: list[dict[str, Any]] = []
    for output in outputs:
        previous = joined[-1] if joined else None
        if previous and output["output_type"] == previous["output_type"] == "stream":
            if output["name"] == previous["name"]:
                previous["text"] = _text(previous["text"]) + _text(output["text"])
                continue
        joined.append(dict(output))
    return joined


def render(path: Path) -> tuple[str, dict[str, bytes]]:
    """The page's Markdown and the images it shows (file name -> PNG bytes)."""
    notebook: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    parts = [
        f"<!-- Rendered from notebooks/{path.name} by docs/hooks/notebooks.py: edit the notebook, then run "
        "scripts/execute_notebooks.py. -->\n"
    ]
    images: dict[str, bytes] = {}
    for number, cell in enumerate(notebook["cells"], start=1):
        source = _text(cell["source"])
        if cell["cell_type"] == "markdown":
            parts.append(source + "\n")
            if number == 1:
                parts.append(
                    f"*This page is the notebook `notebooks/{path.name}` with the outputs of its last run; "
                    "run it yourself with `jupyter lab notebooks/`.*\n"
                )
            continue
        if cell["cell_type"] != "code":
            continue
        parts.append(_fence(source, "python"))
        for output in _joined(cell.get("outputs", [])):
            kind = output["output_type"]
            if kind == "stream":
                parts.append(
                    _fence(
                        _wrapped(_text(output["text"])),
                        "text",
                        "stderr" if output["name"] == "stderr" else "Output",
                    )
                )
            elif kind in ("execute_result", "display_data"):
                data = output.get("data", {})
                if "image/png" in data:
                    name = f"{path.stem}-{len(images) + 1}.png"
                    images[name] = base64.b64decode(_text(data["image/png"]))
                    parts.append(f"![a figure the notebook draws]({name})\n")
                elif "text/plain" in data:
                    parts.append(
                        _fence(_wrapped(_text(data["text/plain"])), "text", "Output")
                    )
            elif kind == "error":
                parts.append(
                    _fence(
                        _wrapped("\n".join(output.get("traceback", []))),
                        "text",
                        "Error",
                    )
                )
    return "\n".join(parts), images


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        page, images = render(path)
        files.append(
            File.generated(config, f"notebooks/{path.stem}.md", content=page)
        )
        for name, data in images.items():
            files.append(File.generated(config, f"notebooks/{name}", content=data))
    return files
