"""The Redis backend (``redis://``, ``rediss://``, ``redis+cluster://``): plain Redis/Valkey, the Redis Query
Engine (Redis Stack, Redis 8) and Redis Cluster. See ``docs/redis.md``."""

# ruff: noqa: E402 (the extra is checked before the modules below import their framework)
from __future__ import annotations

from ...install import require

require("redis", "a redis://, rediss:// or valkey:// URL")

from .backend import RedisBackend
from .url import RedisOptions, parse_redis_url, redact

__all__ = ["RedisBackend", "RedisOptions", "parse_redis_url", "redact"]
