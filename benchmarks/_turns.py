"""Helpers shared by the benchmarks whose systems take turns on one server (redis.py, redis_chat.py)."""

from __future__ import annotations

import random
import sys
import traceback
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

__all__ = ["close_all", "turn_order"]

T = TypeVar("T")


def turn_order(items: Sequence[T], rng: random.Random) -> list[T]:
    """The systems in the order of one turn: shuffled anew at each turn, so that each follows every other one
    about equally often. The call after a CPU-heavy one (a FLAT scan of 10k vectors on the server, a numpy ranking
    in this process) runs slower: a lix lookup at 10k took ~100 us longer right after a raw FLAT ``FT.SEARCH``
    than after another lookup (MiniLM vectors, /tmp harness, 2026-12-05). A rotating order did not spread that:
    rotating a fixed list by one at each turn keeps each system behind the same neighbour in all turns but the
    ones where the list wraps, so one system paid for its neighbour's scan almost every time."""
    order = list(items)
    rng.shuffle(order)
    return order


def close_all(systems: Iterable[Any]) -> None:
    """``close()`` every system; one that fails is reported and the others are still closed."""
    for system in systems:
        try:
            system.close()
        except Exception:
            traceback.print_exc(file=sys.stderr)
