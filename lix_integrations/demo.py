"""A LangChain app with a semantic cache, in one screen: ``python -m lix_integrations.demo``.

The "LLM" is a local fake that sleeps like a real one, so the demo needs no key and no network, and the latency
column shows what a cache hit saves. The cache is the embedded default store with the default embedder (exactly
what ``LixSemanticCache()`` gives), in its own namespace cleared at start so every run prints the same table.
That namespace is named after the embedder (``lix-demo`` for the default one, ``lix-demo-<name>`` for another):
a namespace keeps the model settings it was written with, so a run with another embedder (``lix bench
--embedder fake``) must not land in the namespace the default demo filled, nor the other way round.

This module is a script: it is the one place in the package that prints.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.globals import get_llm_cache, set_llm_cache
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import Generation

from .langchain.cache import LixSemanticCache
from .testing.agents import ReplyChatModel, last_user_text

__all__ = ["CannedChatModel", "DemoRow", "main"]

DEMO_NAMESPACE = "lix-demo"


def demo_namespace(embedder: Any = None) -> str:
    """The demo's namespace for ``embedder`` (``None``: the default embedder): one per model."""
    if embedder is None:
        return DEMO_NAMESPACE
    slug = re.sub(r"[^a-z0-9]+", "-", str(getattr(embedder, "name", type(embedder).__name__)).lower()).strip(
        "-"
    )
    return f"{DEMO_NAMESPACE}-{slug[:64] or 'custom'}"


HELPFUL = "You are a concise, helpful assistant."
PIRATE = "You are a pirate. Answer every question in pirate speak."

# (keyword that identifies the question, plain answer, pirate answer)
_CANNED: tuple[tuple[str, str, str], ...] = (
    ("capital", "Paris.", "Arr, 'tis Paris, matey!"),
    (
        "reverse",
        "Use my_list.reverse() in place, or my_list[::-1] for a copy.",
        "Flip it with [::-1], ye landlubber!",
    ),
    ("legs", "Eight.", "Eight, same as me octopus friend... nearly."),
    ("boiling", "100 °C (212 °F).", "Hot enough to cook the cabin boy: 100 °C!"),
)

#: (system prompt, question) in the order asked; each paraphrase is rated above 0.9 by all-MiniLM-L6-v2, well
#: clear of the default threshold, so the table does not change when the threshold is recalibrated.
SCRIPT: tuple[tuple[str, str], ...] = (
    (HELPFUL, "What is the capital of France?"),
    (HELPFUL, "How do I reverse a list in Python?"),
    (HELPFUL, "How many legs does a spider have?"),
    (HELPFUL, "What is the boiling point of water at sea level?"),
    (HELPFUL, "Which city is the capital of France?"),
    (HELPFUL, "How can I reverse a list in Python?"),
    (HELPFUL, "How many legs does a spider have in total?"),
    (HELPFUL, "At sea level, what is the boiling point of water?"),
    (HELPFUL, "What is the capital of France?"),
    (PIRATE, "What is the capital of France?"),
)


class CannedChatModel(ReplyChatModel):
    """Stands in for a hosted chat model: answers from a small table after a realistic delay."""

    model_name: str = "canned-demo-1"
    latency: float = 0.8
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "canned-demo"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        # What defines the answers goes into LangChain's llm_string; the delay does not.
        return {"model_name": self.model_name}

    def _reply(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        self.calls += 1
        if self.latency > 0:
            time.sleep(self.latency)
        question = last_user_text(messages).lower()
        pirate = any(isinstance(m, SystemMessage) and "pirate" in m.text.lower() for m in messages)
        answer = "I do not know." if not pirate else "Arr, I know not."
        for keyword, plain, pirate_answer in _CANNED:
            if keyword in question:
                answer = pirate_answer if pirate else plain
                break
        return AIMessage(content=answer, response_metadata={"model_name": self.model_name})


class _RecordingCache(LixSemanticCache):
    """Remembers the last key LangChain looked up, so the demo can ``explain()`` a hit afterwards."""

    last_key: tuple[str, str] | None = None

    def lookup(self, prompt: str, llm_string: str) -> list[Generation] | None:
        self.last_key = (prompt, llm_string)
        return super().lookup(prompt, llm_string)


@dataclass(frozen=True)
class DemoRow:
    """One question of the demo and what the cache did with it."""

    system: str
    question: str
    outcome: str  # "miss", "exact hit" or "semantic hit"
    similarity: float | None
    latency_ms: float
    answer: str


def main(
    *,
    embedder: Any = None,
    latency: float = 0.8,
    threshold: float | None = None,
    output: Callable[[str], None] | None = print,
    url: str | None = None,
    namespace: str | None = None,
) -> list[DemoRow]:
    """Run the script of questions through a cached chat model; print and return what happened.

    ``embedder``, ``latency`` and ``threshold`` exist so tests can run the same demo fast and without the model;
    ``output=None`` prints nothing. ``url`` and ``namespace`` (default: the embedded default store and
    `demo_namespace`) say where; the namespace is cleared first.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the default embedder is bundled; never reach the network
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    cache = _RecordingCache(
        url, namespace=namespace or demo_namespace(embedder), embedder=embedder, threshold=threshold
    )
    previous = get_llm_cache()
    try:
        cache.clear()
        # Load the embedding model now, so the first row times the LLM rather than loading the model.
        cache.explain("warm up", "lix-demo-warm-up", k=1)
        cache.engine.reset_stats()
        set_llm_cache(cache)
        rows = _run(CannedChatModel(latency=latency), cache)
        if output is not None:
            _report(rows, cache, output)
        return rows
    finally:
        set_llm_cache(previous)
        cache.engine.close()


def _run(model: CannedChatModel, cache: _RecordingCache) -> list[DemoRow]:
    rows: list[DemoRow] = []
    for system, question in SCRIPT:
        before = cache.stats().semantic
        started = time.perf_counter()
        reply = model.invoke([SystemMessage(content=system), HumanMessage(content=question)])
        elapsed_ms = (time.perf_counter() - started) * 1e3
        after = cache.stats().semantic
        if after.exact_hits > before.exact_hits:
            outcome = "exact hit"
        elif after.semantic_hits > before.semantic_hits:
            outcome = "semantic hit"
        else:
            outcome = "miss"
        similarity = None
        if outcome != "miss" and cache.last_key is not None:
            # A hit changes no entry, so explaining the same key now shows the candidate that was served.
            served = [c for c in cache.explain(*cache.last_key, k=1) if c.served]
            similarity = served[0].similarity if served else None
        rows.append(
            DemoRow(
                "pirate" if system == PIRATE else "helpful",
                question,
                outcome,
                similarity,
                elapsed_ms,
                reply.text,
            )
        )
    return rows


def _report(rows: Sequence[DemoRow], cache: LixSemanticCache, output: Callable[[str], None]) -> None:
    stats = cache.stats().semantic
    llm_calls = sum(row.outcome == "miss" for row in rows)
    summary = [
        f"lookups {stats.lookups}: {stats.exact_hits} exact hits, {stats.semantic_hits} semantic hits, "
        f"{stats.misses} misses (hit rate {stats.hit_rate:.0%})",
        f"LLM calls {llm_calls} of {len(rows)} questions; median lookup {stats.latency.median_ms:.2f} ms "
        f"(embedding excluded), p99 {stats.latency.p99_ms:.2f} ms",
        f"store {cache.engine.url}  namespace {cache.engine.namespace!r}  threshold {cache.engine.semantic.threshold}",
    ]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        output(_plain_table(rows))
        for line in summary:
            output(line)
        return
    table = Table(title="LixSemanticCache demo")
    table.add_column("system")
    table.add_column("question")
    table.add_column("cache")
    table.add_column("similarity", justify="right")
    table.add_column("ms", justify="right")
    for row in rows:
        style = {"miss": "red", "exact hit": "green", "semantic hit": "cyan"}[row.outcome]
        table.add_row(
            row.system,
            row.question,
            f"[{style}]{row.outcome}[/{style}]",
            _similarity(row),
            f"{row.latency_ms:.1f}",
        )
    console = Console(width=max(Console().width, 110))
    with console.capture() as captured:
        console.print(table)
        for line in summary:
            console.print(line, highlight=False, markup=False)
    output(captured.get().rstrip("\n"))


def _similarity(row: DemoRow) -> str:
    return "-" if row.similarity is None else f"{row.similarity:.3f}"


def _plain_table(rows: Sequence[DemoRow]) -> str:
    header = f"{'system':<8} {'question':<52} {'cache':<13} {'similarity':>10} {'ms':>8}"
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row.system:<8} {row.question:<52} {row.outcome:<13} {_similarity(row):>10} {row.latency_ms:>8.1f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
