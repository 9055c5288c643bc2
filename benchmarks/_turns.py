"""Helpers shared by the benchmarks whose systems take turns on one server (redis.py, redis_chat.py)."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterable
from typing import Any

__all__ = ["close_all"]


def close_all(systems: Iterable[Any]) -> None:
    """``close()`` every system; one that fails is reported and the others are still closed."""
    for system in systems:
        try:
            system.close()
        except Exception:
            traceback.print_exc(file=sys.stderr)
