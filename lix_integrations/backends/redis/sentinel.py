"""Clients for ``redis+sentinel://`` URLs: the sentinels name the service's primary, redis-py follows failovers.

The primary's connection options (user, password, database, timeouts, no command retry) are those a
``redis://`` URL would give; the sentinels are asked with the timeouts only (no credentials: see
`url`). TLS (``rediss+sentinel://``) applies to the primary's connections.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio.sentinel
import redis.connection
import redis.sentinel

from .url import RedisOptions

__all__ = ["sentinel_client"]


def sentinel_client(opts: RedisOptions, common: dict[str, Any], aio: bool) -> Any:
    """A client of ``opts.service``'s current primary, built with ``common`` (timeouts, retry) as every client."""
    parse: Any = redis.connection.parse_url  # untyped in redis-py
    kwargs = dict(parse(opts.client_url))
    for placeholder in ("host", "port"):  # the primary's address comes from the sentinels
        kwargs.pop(placeholder, None)
    if kwargs.pop("connection_class", None) is not None or opts.tls:
        kwargs["ssl"] = True  # SentinelConnectionPool picks its TLS connection class from this
    kwargs.update(common)
    asked = {k: v for k, v in common.items() if k.startswith("socket_")}
    module: Any = redis.asyncio.sentinel if aio else redis.sentinel
    sentinel = module.Sentinel(list(opts.sentinels), sentinel_kwargs=asked, **kwargs)
    return sentinel.master_for(opts.service)
