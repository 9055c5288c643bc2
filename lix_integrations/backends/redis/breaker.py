"""The circuit breaker in front of one Redis URL, and which failures are an outage rather than an error.

Why: a stalled server (SIGSTOP, a saturated network) answers nothing, so every call waits for its read timeout;
a cached LLM call makes several Redis calls (lookup, update), and every caller would pay that wait on every call
of the stall. Once a call times out or the connection fails, the breaker *opens*: calls fail at once with a
`BackendError` (caches serve misses, session writes raise) for a cool-down. After
it, one call is let through as a *probe* (half-open) while the others still fail at once; its success closes the
breaker, its failure opens it again for twice as long.

The cool-down follows what the failure cost: a refused connection (a restart in progress) costs nothing to
retry, so its cool-down starts at 50 ms and stays at most 0.2 s, and callers are back on Redis within 0.2 s
of it answering; a timeout cost a caller the whole read timeout, so its cool-down starts at 0.5 s and
doubles up to 8 s, and a long stall costs one probe per cool-down, not one wait per call. Only a timeout is
slow: a refused or reset connection that took long (redis-py retries a refused connect itself, and a loaded
machine stretches any call) is as cheap to retry as any other, and counting it slow kept callers off a restarted
server for up to 5 s after it answered (tests/reliability/test_redis_faults.py, 2 runs in 8).

One breaker serves every backend of a URL in a process (they share the connection pools it protects).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from redis.exceptions import AuthenticationError, ClusterDownError, RedisError, SlotNotCoveredError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ...errors import BackendError

__all__ = ["Breaker", "is_outage"]

#: A failure that took less than this is "cheap" (refused, reset): its cool-down stays short.
CHEAP_SECONDS = 0.25
#: (first cool-down, longest cool-down) in seconds, for cheap failures and for timeouts.
CHEAP_COOLDOWN = (0.05, 0.2)
SLOW_COOLDOWN = (0.5, 8.0)


def is_outage(exc: BaseException | None) -> bool:
    """True when ``exc`` (or what it wraps) says the server could not be reached or did not answer in time;
    an error reply (``ResponseError``) is an answer, not an outage."""
    seen = 0
    while exc is not None and seen < 8:
        if getattr(exc, "unavailable", False) is True:
            return True
        if isinstance(exc, AuthenticationError) or type(exc).__name__ == "AuthorizationError":
            return False  # the server answered: a refused password is not an outage
        if isinstance(exc, (RedisConnectionError, RedisTimeoutError, ClusterDownError, SlotNotCoveredError)):
            return True
        if isinstance(exc, OSError) and not isinstance(exc, RedisError):
            return True
        exc = exc.__cause__
        seen += 1
    return False


def _timed_out(exc: BaseException | None) -> bool:
    """True when ``exc`` (or what it wraps) is a timeout: the caller waited for an answer that did not come."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, (RedisTimeoutError, TimeoutError)):
            return True
        exc = exc.__cause__
        seen += 1
    return False


class Breaker:
    """Closed, open until a time, or half-open with one probe in flight. Thread-safe; never blocks."""

    def __init__(self, url: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url  # redacted: it goes into error messages
        self._clock = clock
        self._lock = threading.RLock()  # re-entrant: a finalizer run by a GC inside may close a backend
        #: Consecutive failed attempts; 0: closed. Read without the lock by the executors: while it is 0 a
        #: call neither enters nor reports (see `enter`, `succeeded`), so a closed breaker costs no call.
        self.failures = 0
        self._open_until = 0.0
        self._probing = False
        self._last_error = ""

    @property
    def is_open(self) -> bool:
        return self.failures > 0

    def enter(self) -> bool:
        """Before a call: ``False`` to go ahead normally, ``True`` to go ahead as the probe; raises
        `BackendError` at once while the breaker is open (or another caller is probing)."""
        if not self.failures:  # the common case reads one int, no lock
            return False
        with self._lock:
            if not self.failures:
                return False
            now = self._clock()
            if now >= self._open_until and not self._probing:
                self._probing = True
                return True
            wait = max(0.0, self._open_until - now)
            error = self._last_error
        when = "a probe is in flight" if wait == 0 else f"next try in {wait:.2f} s"
        raise BackendError(
            f"Redis at {self.url} is unavailable ({error}); skipping it, {when}", unavailable=True
        )

    def succeeded(self, probe: bool) -> bool:
        """A call got its replies: the breaker closes. True when this closed it."""
        if not self.failures and not probe:
            return False
        with self._lock:
            if probe:
                self._probing = False
            closed, self.failures = self.failures > 0, 0
        return closed

    def failed(self, probe: bool, cost: float, error: BaseException) -> bool:
        """A call failed with an outage (see `is_outage`) after ``cost`` seconds. True when this opened
        the breaker (it was closed)."""
        with self._lock:
            now = self._clock()
            if probe:
                self._probing = False
            elif self.failures and now < self._open_until:
                return False  # in flight when the breaker opened: the same outage, no further back-off
            self.failures += 1
            slow = cost >= CHEAP_SECONDS and _timed_out(error)
            first, cap = SLOW_COOLDOWN if slow else CHEAP_COOLDOWN
            self._open_until = now + min(cap, first * 2 ** min(self.failures - 1, 16))
            self._last_error = f"{type(error).__name__}: {error}"
            return self.failures == 1

    def released(self, probe: bool) -> None:
        """A call ended with neither verdict (an error of ours, a cancellation): let another caller probe."""
        if probe:
            with self._lock:
                self._probing = False

    def cooldown(self) -> float:
        """Seconds until the next probe may go (0 when closed): for tests and diagnostics."""
        with self._lock:
            return max(0.0, self._open_until - self._clock()) if self.failures else 0.0
