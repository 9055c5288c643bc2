"""Storage backends, chosen by URL scheme; the tiers never know which one they run on."""

from __future__ import annotations

from ..errors import ConfigError
from ..redaction import redact_url
from .base import Backend

__all__ = ["Backend", "open_backend", "redact_url"]

_SCHEMES = (
    "memory://, sqlite:///path/to/file.db, redis://host:6379/0 (rediss://, redis+cluster://, redis+sentinel://; "
    "valkey://, valkeys://)"
)


def open_backend(url: str) -> Backend:
    """Open the backend a URL names; an unknown scheme is an error that lists the known ones."""
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError(
            f"backend URL must look like scheme://..., got {redact_url(url)!r}; known: {_SCHEMES}"
        )
    scheme = url.split("://", 1)[0].lower()
    if scheme == "memory":
        from .memory import MemoryBackend

        return MemoryBackend(url.split("://", 1)[1])
    if scheme == "sqlite":
        from .sqlite import SQLiteBackend

        return SQLiteBackend.from_url(url)
    if scheme.partition("+")[0] in ("redis", "rediss", "valkey", "valkeys"):
        from .redis import RedisBackend

        return RedisBackend(url)
    raise ConfigError(f"unknown backend URL scheme {scheme!r} in {redact_url(url)!r}; known: {_SCHEMES}")
