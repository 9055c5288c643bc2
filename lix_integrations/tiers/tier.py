"""What the engine hands every tier: its own configuration, the namespace, the clock and its registered counters.

A tier never receives the engine's whole configuration (tests/unit/test_tier_configs.py), and its counters are
a set the engine registered (so ``stats()`` and ``reset_stats()`` cannot forget it): this base holds that
contract once instead of each tier assigning the same four attributes.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from ..kernel.clock import Clock
from ..kernel.counters import CounterSet

__all__ = ["Tier"]

C = TypeVar("C")
S = TypeVar("S")


class Tier(Generic[C, S]):
    """A tier's configuration (``C``), namespace, clock and counters (snapshots of type ``S``)."""

    def __init__(self, config: C, namespace: str, clock: Clock, counters: CounterSet[S]) -> None:
        self.config = config
        self.namespace = namespace
        self.clock = clock
        self.counters = counters
