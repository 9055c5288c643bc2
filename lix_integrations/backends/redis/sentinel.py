"""Clients for ``redis+sentinel://`` URLs: the sentinels name the service's primary, redis-py follows failovers.

The primary's connection options (user, password, database, timeouts, no command retry) are those a
``redis://`` URL would give. The sentinels are offered the URL's user and password too, as langchain-community's
``get_client`` does: a sentinel may require the primary's password itself (Bitnami's Redis chart sets it so) or
require none, and one that refuses the credentials is asked again without them (see `_Ways`). TLS
(``rediss+sentinel://``) applies to the primary's connections.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio.sentinel
import redis.connection
import redis.exceptions
import redis.sentinel

from .url import RedisOptions

__all__ = ["sentinel_client"]

_CREDENTIALS = ("username", "password")


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
    offered = {k: kwargs[k] for k in _CREDENTIALS if kwargs.get(k)}
    module: Any = redis.asyncio.sentinel if aio else redis.sentinel
    sentinel = module.Sentinel(list(opts.sentinels), sentinel_kwargs=asked | offered, **kwargs)
    if offered:  # each sentinel asked with the credentials, and without them once it refuses them
        bare = {k: v for k, v in sentinel.sentinel_kwargs.items() if k not in _CREDENTIALS}
        ways: Any = _AsyncWays if aio else _Ways
        sentinel.sentinels = [ways(client, _bare(client, bare)) for client in sentinel.sentinels]
    return sentinel.master_for(opts.service)


#: A sentinel's refusal of the credentials: NOAUTH, WRONGPASS, or AUTH given to one that has no password.
_REFUSED = redis.exceptions.AuthenticationError


def _bare(client: Any, bare: dict[str, Any]) -> Any:
    where = client.connection_pool.connection_kwargs
    return type(client)(host=where["host"], port=where["port"], **bare)


class _Ways:
    """One sentinel's two clients, with the URL's credentials and without; the one it refused goes second.

    Per sentinel and switched only on a refusal (never on an outage or a primary being failed over), so that
    concurrent discoveries cannot switch each other's way back."""

    __slots__ = ("ways",)

    def __init__(self, offered: Any, bare: Any) -> None:
        self.ways = (offered, bare)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ways[0], name)

    def __repr__(self) -> str:
        return repr(self.ways[0])

    def _refused(self, first: Any) -> Any:
        if self.ways[0] is first:
            self.ways = (self.ways[1], first)
        return self.ways[0]

    def sentinel_masters(self) -> Any:
        first = self.ways[0]
        try:
            return first.sentinel_masters()
        except _REFUSED:
            return self._refused(first).sentinel_masters()


class _AsyncWays(_Ways):
    __slots__ = ()

    async def sentinel_masters(self) -> Any:  # type: ignore[override]
        first = self.ways[0]
        try:
            return await first.sentinel_masters()
        except _REFUSED:
            return await self._refused(first).sentinel_masters()
