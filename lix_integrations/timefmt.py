"""Times as people read them: reprs show ISO 8601 in UTC (``2026-12-04T10:15:00Z``), not epoch floats."""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["iso_time"]


def iso_time(ts: float | None) -> str | None:
    """``ts`` (seconds since the epoch) as ISO 8601 UTC to the second; ``None`` stays ``None``."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
