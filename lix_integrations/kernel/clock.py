"""Time as an injected dependency, so TTL and idle expiry are tested with a fake clock instead of ``sleep``."""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    """Returns wall-clock seconds since the epoch; stored timestamps must survive restarts."""

    def now(self) -> float: ...


class SystemClock:
    """The real clock (``time.time``): timestamps are shared between processes through the store."""

    def now(self) -> float:
        return time.time()
