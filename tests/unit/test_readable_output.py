"""What people read (issue 21): ``print(engine.stats())``, ``stats.plot()``, ISO times in reprs, and ``lix
inspect`` with model names, answers as text, the context an entry belongs to and a paging hint."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from langchain_core.globals import set_llm_cache
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from lix_integrations import Engine
from lix_integrations.install import install_hint
from lix_integrations.langchain import LixSemanticCache
from lix_integrations.testing import FakeClock, FakeEmbedder
from lix_integrations.tiers.semantic_labels import answer_text, model_label


def _used_engine(url: str = "memory://") -> Engine:
    engine = Engine(url, embedder=FakeEmbedder(), clock=FakeClock(1_780_000_000.0))
    engine.semantic.update("a b c", "m", "x", usage={"input_tokens": 10, "output_tokens": 3})
    engine.semantic.lookup("a b c", "m")  # exact hit
    engine.semantic.lookup("a b c d", "m")  # semantic hit
    engine.semantic.lookup("zz", "m")  # miss
    engine.sessions.add_messages("s", [{"role": "user", "content": "hi"}])
    return engine


def test_stats_print_as_a_few_readable_lines() -> None:
    text = str(_used_engine().stats())
    assert "semantic cache: 3 lookups, hit rate 66.7% (1 exact, 1 semantic, 1 miss); 1 answer stored" in text
    assert "saved: 20 input and 6 output tokens" in text  # two hits of a 10 + 3 token answer
    assert "sessions: appended 1" in text
    assert "key-value" not in text and "tools" not in text  # unused tiers are left out
    assert "lookup yet" in str(Engine("memory://", embedder=FakeEmbedder()).stats())


def test_stats_plot_saves_a_figure(tmp_path: Path) -> None:
    path = tmp_path / "stats.png"
    figure = _used_engine().stats().plot(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and len(figure.axes) == 2


def test_stats_plot_without_matplotlib_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    stats = _used_engine().stats()
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=re.escape(install_hint("plot"))):
        stats.plot()


def test_entry_reprs_show_iso_times() -> None:
    (entry,) = _used_engine().semantic.entries()
    shown = repr(entry)
    assert "created_at='2026-05-28T20:26:40Z'" in shown and "expires_at=None" in shown
    assert "1780000000" not in shown


@pytest.mark.parametrize(
    ("llm_string", "name"),
    [
        (
            '{"lc": 1, "kwargs": {"model_name": "gpt-4o-mini", "temperature": 0}}---[("stop", None)]',
            "gpt-4o-mini",
        ),
        ("[('_type', 'openai-chat'), ('model', 'gpt-4.1'), ('stop', None)]", "gpt-4.1"),
        ("[('_type', 'fake-list-chat-model'), ('stop', None)]", "fake-list-chat-model"),
        ("my-own-llm   v2", "my-own-llm v2"),
    ],
)
def test_model_label(llm_string: str, name: str) -> None:
    assert model_label(llm_string) == name


def test_answer_text_reads_framework_payloads() -> None:
    assert answer_text('["{\\"lc\\": 1, \\"kwargs\\": {\\"text\\": \\"Paris.\\"}}"]') == "Paris."
    assert answer_text('{"message": {"role": "assistant", "blocks": [{"text": "Rome."}]}}') == "Rome."
    assert answer_text("plain answer") == "plain answer"
    assert answer_text('{"no": "text"}') == '{"no": "text"}'


def test_lix_inspect_is_readable(tmp_path: Path) -> None:
    from tests.unit.test_cli import lix, ok_json

    url = f"sqlite:///{tmp_path / 'c.db'}"
    with Engine(url, embedder=FakeEmbedder()) as engine:
        set_llm_cache(LixSemanticCache(engine=engine))
        try:
            model = FakeListChatModel(responses=["Paris is the capital.", "Madrid.", "Rome."])
            model.invoke([SystemMessage("You are terse."), HumanMessage("capital of France?")])
            model.invoke([HumanMessage("capital of Spain?")])
            model.invoke(
                [
                    SystemMessage("You are terse."),
                    HumanMessage("capital of France?"),
                    AIMessage("Paris"),
                    HumanMessage("What about Italy?"),
                ]
            )
        finally:
            set_llm_cache(None)
    shown = lix("inspect", "--url", url, "--limit", "2")
    assert shown.returncode == 0, shown.stderr
    assert "fake-list-chat-model" in shown.stdout and "Paris is the capital." in shown.stdout
    assert "system: You are terse." in shown.stdout and '"lc"' not in shown.stdout
    assert shown.stdout.rstrip().endswith("more: --after-id 2")
    rest = lix("inspect", "--url", url, "--after-id", "2", "--limit", "2")
    assert "Rome." in rest.stdout and "more:" not in rest.stdout
    rows = ok_json("inspect", "--url", url)
    assert [r["answer"] for r in rows] == ["Paris is the capital.", "Madrid.", "Rome."]
    assert rows[2]["context"] == "system: You are terse. | human: capital of France? | ai: Paris"


def test_archive_reprs_show_iso_times() -> None:
    from lix_integrations.archive.huff import HuffHeader

    shown = repr(HuffHeader(1_780_000_000.0, 1_780_000_060.5, 3, 100))
    assert (
        shown
        == "HuffHeader(created_at='2026-05-28T20:26:40Z', updated_at='2026-05-28T20:27:40Z', turns=3, size=100)"
    )
