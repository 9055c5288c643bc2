"""What a cache does when the embedder misbehaves: with ``fail_open`` (the default) it is a miss, never an error.

A cache must never make a call fail that would have succeeded without it. An embedder that returns NaN, an
infinity, the wrong dimension, no components or a zero vector, or an engine opened on a store written by another
embedder (``SettingsMismatchError``), used to raise out of ``model.invoke(...)`` (issue 14, defect 7). The policy,
written once for every tier that runs through ``run_cache`` (semantic lookups and updates, so LangChain's cache and
LlamaIndex's cached LLM; tool lookups and stores) and for the embedding wrappers:

* ``fail_open=True``: the cache step is skipped (a lookup is a miss, an update stores nothing), one WARNING per
  cause per engine names it, and ``stats().embedder_faults[cause]`` counts every occurrence.
* ``fail_open=False``: the error is raised as before.

Causes: ``nan_or_inf``, ``wrong_dimension``, ``empty``, ``zero``, ``invalid`` (any other unusable output) and
``settings_mismatch:<field>``. For the embedding wrappers the vector *is* the answer: when the wrapped model itself
returned the bad vector, the wrapper returns what the model returned, unchanged and not cached (what the caller
would have got without the cache), and counts and logs it the same way; see `EmbedderFaults.passthrough`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import InvalidVectorError, LixError, SettingsMismatchError
from ..kernel.counters import CounterSet, Counts

__all__ = ["EMBEDDER_FAULTS", "FAULTS", "EmbedderFaults", "fault_cause", "faults_by_cause"]

logger = logging.getLogger(__name__)

#: The errors a misbehaving embedder (or a store written by another one) raises inside a cache step.
EMBEDDER_FAULTS: tuple[type[LixError], ...] = (InvalidVectorError, SettingsMismatchError)


def fault_cause(exc: LixError) -> str:
    """A short, stable name for why the embedder's output could not be used (the key of the stat)."""
    if isinstance(exc, SettingsMismatchError):
        return f"settings_mismatch:{exc.field}"
    return getattr(exc, "cause", "invalid")


#: The counter faults are counted in, per cause (its label).
FAULTS = "faults"


def faults_by_cause(counts: Counts) -> dict[str, int]:
    """``stats().embedder_faults``: the count of each cause seen."""
    return {str(cause): int(n) for cause, n in counts.by_label(FAULTS).items()}


class EmbedderFaults:
    """Counts embedder faults per cause (in the engine's registered ``counters``) and logs the first of each
    cause once per engine."""

    def __init__(self, counters: CounterSet[dict[str, int]]) -> None:
        self._counters = counters
        self._lock = threading.Lock()
        self._logged: set[str] = set()

    def record(self, exc: LixError, what: str) -> str:
        cause = fault_cause(exc)
        self._counters.add(FAULTS, label=cause)
        with self._lock:
            first = cause not in self._logged
            self._logged.add(cause)
        if first:
            logger.warning(
                "embedder fault (%s) during %s; the cache is skipped for such calls (fail_open): %s",
                cause,
                what,
                exc,
            )
        return cause

    def handle(self, exc: LixError, fail_open: bool, fallback: Any, what: str) -> Any:
        """``fallback`` for a fault under ``fail_open``; the error itself otherwise."""
        if not fail_open:
            raise exc
        self.record(exc, what)
        return fallback

    def passthrough(
        self, exc: LixError, fail_open: bool, texts: list[str], compute: Callable[[list[str]], Any] | None
    ) -> Any:
        """For the embedding wrappers: the wrapped model's own output as a float32 matrix, uncached.

        The model's output travels on the error (``exc.output``) when the model itself produced the bad vector;
        on a settings mismatch the model is called here. Output that is not even a rectangular numeric array
        cannot be returned as vectors at all: the original error is raised.
        """
        if not fail_open:
            raise exc
        if not texts:  # nothing to embed (a wrapper validating its options): nothing went wrong yet
            return np.zeros((0, 0), dtype=np.float32)
        output = getattr(exc, "output", None)
        if output is None:
            if compute is None:
                raise exc
            output = compute(texts)
        try:
            matrix = np.asarray(list(output), dtype=np.float32)
        except (TypeError, ValueError):
            raise exc from None
        if matrix.ndim != 2 or matrix.shape[0] != len(texts):
            raise exc
        self.record(exc, "embedding")
        return matrix
