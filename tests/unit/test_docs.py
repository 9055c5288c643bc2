"""Every Python example in the docs and the README runs, and prints what the page shows under it.

A ```python block is followed by the output it prints, in a ```text title="Output" block; the suite runs the
page's blocks in order in one namespace (from a scratch directory) and compares what each printed with that block
(doctest rules: ``...`` stands for any text, and any run of whitespace, a line break included, matches any other,
so a long output line may be wrapped on the page). A line right before a block may say
``<!-- skip: why -->`` (the block is not run: say why, e.g. "URL forms only") or ``<!-- redis -->`` (the block
needs a server: tests/integration/test_docs_redis.py runs it against the fixtures' Redis, with
``redis://localhost:6379/0`` replaced by the server's URL). The built site is checked by test_docs_site.py.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import os
import re
import shlex
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
FENCE = re.compile(
    r"^(?P<ticks>`{3,})(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=ticks)[ \t]*$", re.MULTILINE | re.DOTALL
)
MARK = re.compile(r"<!--\s*(?P<kind>skip|redis)\b:?\s*(?P<why>.*?)\s*-->\s*$")
OUTPUT_INFO = re.compile(r'^text(?:\s+title="Output")?\s*$')
FILE_INFO = re.compile(r'^\w+\s+title="(?P<name>[\w.-]+\.\w+)"\s*$')  # ```text title="chat.jsonl": a file
CHECKER = doctest.OutputChecker()
OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@dataclass
class Example:
    page: str
    number: int
    code: str
    output: str | None  # the Output block right after it, if any
    mark: str  # "", "skip" or "redis"
    why: str


def examples(page: Path) -> list[Example]:
    """The page's ```python blocks, each with the Output block that follows it and the mark on the line before."""
    text = page.read_text(encoding="utf-8")
    fences = list(FENCE.finditer(text))
    found = []
    for index, fence in enumerate(fences):
        if fence.group("info").strip() != "python":
            continue
        before = text[: fence.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mark = MARK.search(before)
        output = None
        following = fences[index + 1] if index + 1 < len(fences) else None
        if (
            following is not None
            and OUTPUT_INFO.match(following.group("info").strip())
            and not text[fence.end() : following.start()].strip()
        ):
            output = following.group("body")
        found.append(
            Example(
                page=page.name,
                number=len(found) + 1,
                code=fence.group("body"),
                output=output,
                mark=mark.group("kind") if mark else "",
                why=mark.group("why") if mark else "",
            )
        )
    return found


def page_files() -> list[Path]:
    return [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]


PAGES = [p for p in page_files() if any(not e.mark for e in examples(p))]
ALL = [e for p in page_files() for e in examples(p)]


def check_output(example: Example, printed: str) -> None:
    want = example.output if example.output is not None else ""
    if not CHECKER.check_output(want, printed, OPTIONS):
        diff = CHECKER.output_difference(doctest.Example(example.code, want), printed, OPTIONS)
        pytest.fail(
            f"{example.page}, example {example.number} printed something else than the page shows:\n{diff}"
        )


def run_examples(chosen: list[Example], namespace: dict[str, object]) -> None:
    for example in chosen:
        printed = io.StringIO()
        where = f"{example.page} example {example.number}"
        try:
            with contextlib.redirect_stdout(printed), warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", DeprecationWarning)
                exec(compile(example.code, where, "exec"), namespace)
        except Exception as exc:  # name the page and block, which is what one needs to fix it
            pytest.fail(f"{where} failed: {type(exc).__name__}: {exc}\n{example.code}")
        # An example must not teach what lix itself has deprecated (the warning points at the example's line).
        deprecated = [
            str(w.message) for w in caught if w.category is DeprecationWarning and w.filename == where
        ]
        assert not deprecated, f"{where} uses a deprecated call: {deprecated[0]}"
        check_output(example, printed.getvalue())


def readme_stand_ins() -> dict[str, object]:
    """What the README's short examples take as given: the reader's own model, messages and ids."""
    from langchain_core.language_models import FakeListChatModel
    from langchain_core.messages import AIMessage
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.core.llms import MockLLM

    from lix_integrations.testing.agents import ScriptedChatModel

    return {
        "chat_model": FakeListChatModel(responses=["Paris."]),
        "model": ScriptedChatModel(respond=lambda messages, tools: AIMessage("Hello! How can I help?")),
        "tools": [],
        "messages": [("user", "What is the capital of France?")],
        "user_id": 42,
        "my_llm": MockLLM(max_tokens=8),
        "my_embed_model": MockEmbedding(embed_dim=8),
    }


def test_there_are_examples_to_run() -> None:
    assert len(PAGES) >= 8, [p.name for p in PAGES]


def test_every_page_is_in_the_nav() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in DOCS.glob("*.md"):
        assert page.name in config, f"{page.name} is not in mkdocs.yml's nav"


@pytest.mark.parametrize("example", ALL, ids=lambda e: f"{e.page}-{e.number}")
def test_every_example_shows_its_output_or_says_why_it_is_not_run(example: Example) -> None:
    if example.mark == "skip":
        assert example.why, (
            f"{example.page}, example {example.number}: say why it is skipped (<!-- skip: why -->)"
        )
    else:
        assert example.output is not None, (
            f'{example.page}, example {example.number}: show what it prints in a ```text title="Output" block '
            "right after it"
        )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_examples_run_and_print_what_the_page_shows(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # examples may write files (cache.db, curve.png)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    if page.name == "README.md":
        namespace.update(readme_stand_ins())
    try:
        run_examples([e for e in examples(page) if not e.mark], namespace)
    finally:
        try:
            from langchain_core.globals import set_llm_cache

            set_llm_cache(None)  # a page that sets a global cache must not leak it into other tests
        except ImportError:
            pass


def console_sessions(page: Path) -> list[tuple[dict[str, str], list[tuple[str, str]]]]:
    """The page's ```console blocks: the files shown before each (titled blocks), and ($ lix ..., output) pairs."""
    files: dict[str, str] = {}
    sessions = []
    for fence in FENCE.finditer(page.read_text(encoding="utf-8")):
        info = fence.group("info").strip()
        named = FILE_INFO.match(info)
        if named and named.group("name") != "Output":
            files[named.group("name")] = fence.group("body")
        elif info == "console":
            steps: list[tuple[str, str]] = []
            for line in fence.group("body").splitlines():
                if line.startswith("$ "):
                    steps.append((line[2:], ""))
                elif steps:
                    steps[-1] = (steps[-1][0], steps[-1][1] + line + "\n")
            sessions.append((dict(files), steps))
    return sessions


CONSOLE_PAGES = [p for p in page_files() if console_sessions(p)]


@pytest.mark.parametrize("page", CONSOLE_PAGES, ids=lambda p: p.name)
def test_console_sessions_print_what_the_page_shows(page: Path, tmp_path: Path) -> None:
    """``$ lix ...`` lines run through the real console script's module, in a scratch directory."""
    for files, steps in console_sessions(page):
        for name, content in files.items():
            (tmp_path / name).write_text(content, encoding="utf-8")
        for command, shown in steps:
            args = shlex.split(command)
            assert args[0] == "lix", f"{page.name}: only lix commands run in a console block: {command}"
            result = subprocess.run(
                [sys.executable, "-m", "lix_integrations.cli", *args[1:]],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "86", "NO_COLOR": "1"},
                timeout=120,
            )
            assert result.returncode == 0, f"{page.name}: {command}\n{result.stderr[-2000:]}"
            example = Example(page.name, 0, command, shown, "", "")
            check_output(example, result.stdout)
