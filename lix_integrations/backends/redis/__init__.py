"""The Redis backend (``redis://``, ``rediss://``, ``redis+cluster://``): plain Redis/Valkey, the Redis Query
Engine (Redis Stack, Redis 8) and Redis Cluster. See ``docs/redis.md``."""

from __future__ import annotations

from .backend import RedisBackend
from .url import RedisOptions, parse_redis_url, redact

__all__ = ["RedisBackend", "RedisOptions", "parse_redis_url", "redact"]
