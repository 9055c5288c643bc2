"""One WARNING when an engine's cache store starts failing, one INFO when it works again.

Why one object for the whole engine: a cached LLM call touches the store through the embedding tier and the
semantic tier, and each used to log its own outage and its own recovery. A store failing some calls and
serving others (a lost search index failed every lookup while every update succeeded) then logged a warning
and a recovery per request: 257 in 15 s. Here a recovery counts only once no call has failed for
``quiet`` seconds, so an outage is logged once when it starts and once when it ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["OutageLog"]

logger = logging.getLogger(__name__)


class OutageLog:
    """Whether the store is failing, and the two log lines that say when that changes. Thread-safe."""

    def __init__(self, url: str, quiet: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url  # redacted by the backend
        self.quiet = quiet
        self._clock = clock
        self._lock = threading.Lock()
        self._failing = False
        self._last_failure = 0.0

    @property
    def failing(self) -> bool:
        return self._failing

    def failed(self, exc: BaseException, what: str = "") -> None:
        """A cache call failed and was served without the store (a miss, a computed embedding); ``what``
        names the call for the log line (only the first failure of an outage is logged)."""
        with self._lock:
            first, self._failing = not self._failing, True
            self._last_failure = self._clock()
        if first:
            logger.warning(
                "cache store %s failed%s; serving misses until it recovers: %s",
                self.url,
                f" ({what})" if what else "",
                exc,
            )

    def ok(self) -> None:
        """A cache call got through; the outage ends once none has failed for ``quiet`` seconds."""
        if not self._failing:
            return
        with self._lock:
            if not self._failing or self._clock() - self._last_failure < self.quiet:
                return
            self._failing = False
        logger.info("cache store %s recovered", self.url)
