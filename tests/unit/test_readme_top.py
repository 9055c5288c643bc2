"""The README's first lines: what it is, one install line, one example whose printed output is the block under it,
then the repository's two commands (issue 21)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
TOP = README.split("\n## ", 1)[0]


def test_the_top_has_one_install_line_one_example_and_the_two_commands() -> None:
    blocks = re.findall(r"```(\w+)\n(.*?)```", TOP, flags=re.S)
    assert [lang for lang, _ in blocks] == ["bash", "python", "text", "bash"]
    install = blocks[0][1].strip().splitlines()
    assert len(install) == 1 and install[0].startswith('pip install "lix-integrations[')
    commands = [line.split("#")[0].strip() for line in blocks[3][1].strip().splitlines()]
    assert commands == ["make demo", "make test"]


def test_the_example_prints_what_the_readme_shows() -> None:
    (code,) = re.findall(r"```python\n(.*?)```", TOP, flags=re.S)
    (shown,) = re.findall(r"```text\n(.*?)```", TOP, flags=re.S)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    assert out.getvalue() == shown


def test_the_install_line_names_extras_pyproject_declares() -> None:
    import tomllib

    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    (line,) = re.findall(r'pip install "lix-integrations\[([^\]]+)\]"', TOP)
    assert set(line.split(",")) <= extras
    assert {"langchain", "llama-index", "langgraph", "redis", "local", "all"} <= extras


def test_the_make_targets_install_every_extra() -> None:
    """The repository's own install (Makefile, so .ci/run and the README's two commands) keeps installing
    everything, torch's CPU build first."""
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet -e '.[all,test]'" in makefile
    assert makefile.index("torch==2.13.0") < makefile.index(".[all,test]")
