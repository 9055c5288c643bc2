"""LangGraph's checkpointer conformance suite (``langgraph-checkpoint-conformance``) run on a lix backend.

Registers a factory with the suite's ``@checkpointer_test`` entry point, runs ``validate`` on every base and
extended capability (put, put_writes, get_tuple, list, delete_thread, delete_for_runs, copy_thread, prune) and
returns the report; `assert_all_passed` fails naming each failed test. Each capability suite gets a fresh
saver on its own key prefix / namespace, as the suite expects.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Callable
from typing import Any

__all__ = ["ALL_CAPABILITIES", "assert_all_passed", "run_checkpoint_conformance"]

ALL_CAPABILITIES = (
    "put",
    "put_writes",
    "get_tuple",
    "list",
    "delete_thread",
    "delete_for_runs",
    "copy_thread",
    "prune",
)


async def run_checkpoint_conformance(make_saver: Callable[[], Any], name: str | None = None) -> Any:
    """Run the whole suite against savers from ``make_saver()``; returns the suite's ``CapabilityReport``."""
    from langgraph.checkpoint.conformance import checkpointer_test, validate

    async def factory() -> AsyncGenerator[Any, None]:
        saver = make_saver()
        try:
            yield saver
        finally:
            saver.close()

    registered = checkpointer_test(name=name or f"lix-{uuid.uuid4().hex[:8]}")(factory)
    return await validate(registered)


def assert_all_passed(report: Any) -> None:
    """Every capability detected and passed; otherwise an assertion naming each failure."""
    problems = []
    for capability in ALL_CAPABILITIES:
        result = report.results.get(capability)
        if result is None or not result.detected:
            problems.append(f"{capability}: not detected")
        elif not result.passed or result.tests_failed:
            problems += [f"{capability}: {failure}" for failure in (result.failures or ["failed"])]
        elif not result.tests_passed:
            problems.append(f"{capability}: ran no test")
    assert not problems, "\n".join(str(p)[:2000] for p in problems)
