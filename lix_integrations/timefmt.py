"""Times as people read them: reprs show ISO 8601 in UTC (``2026-12-04T10:15:00Z``), not epoch floats."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

__all__ = ["iso_repr", "iso_time"]


def iso_time(ts: float | None) -> str | None:
    """``ts`` (seconds since the epoch) as ISO 8601 UTC to the second; ``None`` stays ``None``."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def iso_repr(*time_fields: str) -> Callable[[Any], str]:
    """A dataclass ``__repr__`` showing ``time_fields`` (epoch seconds) as ISO 8601 UTC strings."""

    def __repr__(self: Any) -> str:
        parts = []
        for spec in dataclasses.fields(self):
            if not spec.repr:
                continue
            value = getattr(self, spec.name)
            shown = iso_time(value) if spec.name in time_fields else value
            parts.append(f"{spec.name}={shown!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    return __repr__
