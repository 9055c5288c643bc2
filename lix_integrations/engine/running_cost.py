"""What the engine learns about the costs it weighs: seconds per prompt embedding and per store round trip
(`EngineCore.embed_first` compares them), and which storage ops are timed as one round trip."""

from __future__ import annotations

from ..kernel.ops import Gather, Op, Upsert

__all__ = ["RunningCost", "one_write"]


class RunningCost:
    """An exponentially weighted mean of a measured duration (``None`` until the first measurement).

    Updates from several threads may interleave; a lost update only delays the mean by one sample.
    """

    _WEIGHT = 0.1

    def __init__(self) -> None:
        self.value: float | None = None

    def add(self, seconds: float) -> None:
        self.value = seconds if self.value is None else self.value + self._WEIGHT * (seconds - self.value)

    def add_batch(self, seconds: float, count: int) -> None:
        self.add(seconds / count)


def one_write(op: Op) -> bool:
    """An upsert, alone or with its bound check: one store round trip, timed as the trip cost."""
    if isinstance(op, Gather):
        return len(op.ops) <= 2 and isinstance(op.ops[0], Upsert)
    return isinstance(op, Upsert)
