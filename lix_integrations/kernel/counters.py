"""One generic set of counters for every tier, and the registry through which an engine reads and resets them.

A tier declares its counters once, by name (the fields of its stats dataclass: ``KvStats`` has ``gets``,
``hits`` ...), and counts them in a `CounterSet`: under a lock (LangChain and LlamaIndex call sync methods from
worker threads), optionally per label (the tool tier counts per tool, the semantic tier its saved tokens per
model and its similarity histogram per bin), with an optional bounded series of samples (lookup latencies) and a
bounded log (shadow decisions). ``snapshot()`` hands the counts to the tier's stats dataclass, which derives what
is derived (hit rates, costs, medians), so a counter class is never written by hand again.

The engine builds every counter set through one `CounterRegistry`, by tier name: ``stats()`` and ``reset_stats()``
iterate over the registry, so neither can forget a tier (that is how ``reset_stats`` once forgot the sessions).

Counters live in the process that served the calls (like ``functools.lru_cache.cache_info``); they are not stored,
so reading them costs nothing and they can never leak another process's traffic.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields, is_dataclass
from typing import Any, ClassVar, Generic, TypeVar, cast

__all__ = ["CounterRegistry", "CounterSet", "Counts", "Snapshot"]

S = TypeVar("S")


@dataclass(frozen=True)
class Counts:
    """What a `CounterSet` counted, copied under its lock: totals by name, the labelled part by name and label,
    the samples and the log, oldest first."""

    totals: Mapping[str, float]
    labelled: Mapping[str, Mapping[Hashable, float]]
    samples: tuple[float, ...] = ()
    log: tuple[Any, ...] = ()

    def __getitem__(self, name: str) -> Any:
        return self.totals[name]

    def by_label(self, name: str) -> Mapping[Hashable, float]:
        """``name``'s counts per label (only what was counted with a label)."""
        return self.labelled.get(name, {})


class Snapshot:
    """Base of the tiers' stats dataclasses: ``to_dict()`` gives every field, then each property in ``DERIVED``
    (hit rates and the like), for scripts and dashboards."""

    DERIVED: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(cast(Any, self))
        data.update((name, getattr(self, name)) for name in self.DERIVED)
        return data


class CounterSet(Generic[S]):
    """Thread-safe counters of one tier, by name and optional label, snapshot as the tier's stats.

    ``names`` are the counters (a dataclass of numbers: its fields); counting another name raises ``KeyError``,
    so a typo fails at once. ``build`` turns `Counts` into the stats object (default: the dataclass built from
    the totals). ``samples`` / ``log`` bound the series kept by ``add(..., sample=)`` / ``add(..., note=)``.
    """

    def __init__(
        self,
        names: type[S] | Iterable[str],
        build: Callable[[Counts], S] | None = None,
        *,
        samples: int = 0,
        log: int = 0,
    ) -> None:
        if isinstance(names, type) and is_dataclass(names):
            stats = names
            self._names = tuple(f.name for f in fields(stats))
            self._build: Callable[[Counts], S] = build or (lambda c: stats(**c.totals))
        elif build is None:
            raise TypeError("a CounterSet over plain names needs build=")
        else:
            self._names = tuple(names)  # type: ignore[arg-type]
            self._build = build
        self._lock = threading.Lock()
        self._totals: dict[str, float] = dict.fromkeys(self._names, 0)
        self._labelled: dict[str, dict[Hashable, float]] = {}
        self._samples: deque[float] = deque(maxlen=samples)
        self._log: deque[Any] = deque(maxlen=log)

    def add(
        self,
        name: str,
        amount: float = 1,
        *,
        label: Hashable = None,
        sample: float | None = None,
        note: Any = None,
    ) -> None:
        """Count ``amount`` under ``name`` (and ``label``); keep ``sample`` and ``note`` in their bounded series."""
        with self._lock:
            self._totals[name] += amount
            if label is not None:
                by_label = self._labelled.setdefault(name, {})
                by_label[label] = by_label.get(label, 0) + amount
            if sample is not None:
                self._samples.append(sample)
            if note is not None:
                self._log.append(note)

    def add_each(self, *names: str) -> None:
        """Count one under each of ``names``: several counters of one event under one lock, with no keyword
        dictionary (the embedding front counts a lookup and a hit on every warm semantic lookup). An unknown
        name raises ``KeyError`` and counts nothing, as in `update`."""
        with self._lock:
            totals = self._totals
            for name in names:
                if name not in totals:
                    raise KeyError(name)
            for name in names:
                totals[name] += 1

    def update(self, **amounts: float) -> None:
        """Count several names at once (``update(hits=2, misses=1)``)."""
        with self._lock:
            for name in amounts:
                if name not in self._totals:
                    raise KeyError(name)
            for name, amount in amounts.items():
                self._totals[name] += amount

    def reset(self) -> None:
        with self._lock:
            self._totals = dict.fromkeys(self._names, 0)
            self._labelled = {}
            self._samples.clear()
            self._log.clear()

    def counts(self) -> Counts:
        with self._lock:
            return Counts(
                dict(self._totals),
                {name: dict(by_label) for name, by_label in self._labelled.items()},
                tuple(self._samples),
                tuple(self._log),
            )

    def snapshot(self) -> S:
        return self._build(self.counts())


class CounterRegistry:
    """The counter sets of one engine, by tier name, in the order they were made."""

    def __init__(self) -> None:
        self._sets: dict[str, CounterSet[Any]] = {}

    def new(
        self,
        tier: str,
        names: type[S] | Iterable[str],
        build: Callable[[Counts], S] | None = None,
        *,
        samples: int = 0,
        log: int = 0,
    ) -> CounterSet[S]:
        """A counter set for ``tier``, registered: the engine's ``stats()`` shows it, ``reset_stats()`` zeroes it."""
        if tier in self._sets:
            raise ValueError(f"counters of tier {tier!r} are already registered")
        counters = CounterSet(names, build, samples=samples, log=log)
        self._sets[tier] = counters
        return counters

    def __iter__(self) -> Iterator[tuple[str, CounterSet[Any]]]:
        return iter(self._sets.items())

    def __contains__(self, counters: object) -> bool:
        return any(c is counters for c in self._sets.values())

    def snapshot(self) -> dict[str, Any]:
        """Every tier's stats, by tier name."""
        return {tier: counters.snapshot() for tier, counters in self._sets.items()}

    def reset(self) -> None:
        for counters in self._sets.values():
            counters.reset()
