"""Miss coalescing (single flight) for the semantic tier, written once for sync and async callers.

When N callers ask the same uncached prompt at once (same exact key: same prompt, context, model settings and
scope), one of them, the *leader*, calls the LLM; the others wait for its answer and are served it from the
store. Policy, in the order a lookup meets it:

* **In process.** The first caller to miss a key opens a `Flight`;
  threads and asyncio tasks that miss the same key while it is open wait on it. When the leader stores its
  answer (``update``) they look the key up again and get it. When the leader fails (``abandon``, or its
  framework call is seen to have ended without an ``update``), they are released and call the LLM themselves:
  an error is never shared as an answer.
* **Across processes** (stores other processes see: SQLite files, Redis). The in-process leader also takes a
  *lease* on the key (``SET NX PX`` / a lease row) and checks the key once more in the same round trip, so a
  process that missed just before another stored the answer is served it. A leader that finds the lease taken
  polls (50 ms, growing to 250 ms) until the answer appears, or the lease is free (released after a failure, or
  expired because its holder died) and it takes it. A lease lives ``lease_ttl`` seconds: the most a crashed
  process can delay the others.
* **Bounded waits.** Nobody waits longer than ``timeout`` (default: the mean time leaders took to fill a miss,
  plus 30 s); then it calls the LLM itself.
* **Not coalesced:** lookups the sampling policy bypasses and shadow mode (nothing is served there).

Counters: ``coalesced`` (callers served a leader's answer instead of calling), ``coalesce_timeouts``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

from ..config.tiers import CoalesceSettings
from ..kernel.flight import Flight, current_caller
from ..kernel.flows import Flow
from ..kernel.ops import ExactGet, Gather, LeaseAcquire, LeaseRelease, SemanticRecord, Sleep, WaitFlight
from .semantic import PreparedQuery, SemanticHit, SemanticTier

__all__ = ["CoalesceSettings", "Coalescer"]

#: Seconds a waiter sleeps between checks of a leader it cannot be told about (another process, or a LangChain
#: model call that may have raised).
_TICK = 0.05
_POLL = 0.05
_POLL_MAX = 0.25
#: Added to the mean leader time for the default wait bound.
_SLACK = 30.0


class Coalescer:
    """The registry of open flights of one engine and the flows that join, lead and end them."""

    def __init__(self, tier: SemanticTier, *, shared: bool, settings: CoalesceSettings) -> None:
        self._tier = tier
        self._counters = tier.counters  # the semantic tier's: a coalesced miss is a lookup outcome
        self._shared = shared
        self.settings = settings
        self._lock = threading.Lock()
        self._flights: dict[str, Flight] = {}
        self._mean: float | None = None  # seconds leaders took from miss to stored answer

    # -- registry --------------------------------------------------------------------------------------------

    def _join(self, key: str, alive: Callable[[], bool] | None) -> tuple[Flight, bool]:
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None and flight.outcome is None:
                if flight.owner == current_caller():
                    flight.alive = alive  # the leader asks again (it never called, or is retrying)
                    return flight, True
                if flight.alive is None or flight.alive():
                    return flight, False
                flight.finish("failed")  # its leader ended without an answer: nobody is filling it
            stale, flight = flight, Flight(alive)
            if stale is not None:
                flight.token = stale.token  # this process's lease passes to the new leader
            self._flights[key] = flight
            return flight, True

    def _pop(self, key: str, flight: Flight | None = None) -> Flight | None:
        with self._lock:
            current = self._flights.get(key)
            if current is None or (flight is not None and current is not flight):
                return None
            del self._flights[key]
            return current

    def in_flight(self, key: str) -> bool:
        return key in self._flights  # a read without the lock: a stale answer only costs one extra check

    def _timeout(self, flight: Flight) -> float:
        if self.settings.timeout is not None:
            return flight.started + self.settings.timeout
        return flight.started + (self._mean or 0.0) + _SLACK

    # -- flows -----------------------------------------------------------------------------------------------

    def lookup(
        self, query: PreparedQuery, *, threshold: float | None, alive: Callable[[], bool] | None = None
    ) -> Flow[SemanticHit | None]:
        """A lookup that, on a miss, waits for an identical call in flight or becomes the one others wait for.

        ``None`` means: call the LLM (and then ``filled`` or ``abandon``).
        """
        hit = yield from self._tier.lookup(query, threshold=threshold)
        if hit is not None or not self._tier.coalescable(query):
            return hit
        flight, leader = self._join(query.exact_key, alive)
        if not leader:
            return (yield from self._follow(flight, query))
        hit = yield from self._lead(flight, query)
        if hit is not None:  # another process filled it meanwhile: this process's waiters read it too
            if self._pop(query.exact_key, flight) is not None:
                flight.finish("filled")
        return hit

    def _follow(self, flight: Flight, query: PreparedQuery) -> Flow[SemanticHit | None]:
        deadline = self._timeout(flight)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self._counters.add("coalesce_timeouts")
                return None
            if (yield WaitFlight(flight, min(_TICK, left) if flight.alive is not None else left)):
                break
            if flight.alive is not None and not flight.alive():
                # The leader's framework call ended without storing an answer (it raised).
                yield from self._end(query.exact_key, flight, "failed")
                return None
        if flight.outcome != "filled":
            return None
        return (yield from self._served(query))

    def _lead(self, flight: Flight, query: PreparedQuery) -> Flow[SemanticHit | None]:
        ns, key = self._tier.namespace, query.exact_key
        if not self._shared:
            # A flight that finished just before this one opened may have stored the answer already.
            record = yield ExactGet(ns, key)
            return self._serve(record)
        token = flight.token or uuid.uuid4().hex
        deadline = self._timeout(flight)
        delay = _POLL
        while True:
            taken, record = yield Gather(
                (LeaseAcquire(ns, key, token, self.settings.lease_ttl), ExactGet(ns, key))
            )
            hit = self._serve(record)
            if hit is not None:
                if taken:
                    yield LeaseRelease(ns, key, token)
                return hit
            if taken:
                flight.token = token
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                self._counters.add("coalesce_timeouts")
                return None
            yield Sleep(min(delay, left))
            delay = min(delay * 1.5, _POLL_MAX)

    def _served(self, query: PreparedQuery) -> Flow[SemanticHit | None]:
        record = yield ExactGet(self._tier.namespace, query.exact_key)
        return self._serve(record)

    def _serve(self, record: SemanticRecord | None) -> SemanticHit | None:
        hit = self._tier.serve_filled(record)
        if hit is not None:
            # The lookup that missed is, in the end, served from the cache.
            self._counters.add("misses", -1)
            self._counters.add("exact_hits")
            self._counters.add("coalesced")
        return hit

    def filled(self, key: str) -> Flow[None]:
        """The answer for ``key`` is stored: wake this process's waiters and give the lease back."""
        flight = self._pop(key)
        if flight is None:
            return None
        if flight.finish("filled"):
            took = time.monotonic() - flight.started
            self._mean = took if self._mean is None else self._mean + 0.1 * (took - self._mean)
        if flight.token is not None:
            yield LeaseRelease(self._tier.namespace, key, flight.token)
        return None

    def abandon(self, key: str) -> Flow[None]:
        """The call for ``key`` failed: release the waiters (they call the LLM themselves) and the lease."""
        flight = self._pop(key)
        if flight is not None:
            yield from self._end(key, flight, "failed")
        return None

    def _end(self, key: str, flight: Flight, outcome: str) -> Flow[None]:
        self._pop(key, flight)
        flight.finish(outcome)
        if flight.token is not None:
            yield LeaseRelease(self._tier.namespace, key, flight.token)
        return None
