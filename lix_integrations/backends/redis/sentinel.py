"""Clients for ``redis+sentinel://`` URLs: the sentinels name the service's primary, redis-py follows failovers.

The primary's connection options (user, password, database, timeouts, no command retry) are those a
``redis://`` URL would give. The sentinels are offered the URL's user and password too, as langchain-community's
``get_client`` does: a sentinel may require the primary's password itself (Bitnami's Redis chart sets it so) or
require none, and one that refuses the credentials is asked again without them (see `_OfferedCredentials`). TLS
(``rediss+sentinel://``) applies to the primary's connections.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio.sentinel
import redis.connection
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
    asked.update({k: kwargs[k] for k in _CREDENTIALS if kwargs.get(k)})
    kind: Any = _AsyncSentinel if aio else _Sentinel
    sentinel = kind(list(opts.sentinels), sentinel_kwargs=asked, **kwargs)
    return sentinel.master_for(opts.service)


class _OfferedCredentials:
    """Which of the URL's credentials the sentinels are asked with, switched when no sentinel answers.

    redis-py asks each sentinel in turn and reports a refused AUTH (or a NOAUTH) only as "no master found". So
    when no sentinel named a primary, discovery is tried once more the other way (with the credentials when it
    went without them, and back); the way that worked is kept, and when neither did, the first way is restored
    so that a sentinel outage does not leave the wrong one in place.
    """

    sentinel_kwargs: dict[str, Any]
    sentinels: list[Any]

    def _switch_credentials(self) -> bool:
        """Rebuild the sentinel clients with the credentials dropped or given back; False when there are none."""
        offered = getattr(self, "_offered", None)
        if offered is None:
            offered = {k: self.sentinel_kwargs[k] for k in _CREDENTIALS if k in self.sentinel_kwargs}
            if not offered:
                return False
            self._offered = offered
        bare = {k: v for k, v in self.sentinel_kwargs.items() if k not in _CREDENTIALS}
        self.sentinel_kwargs = (
            bare if any(k in self.sentinel_kwargs for k in _CREDENTIALS) else bare | offered
        )
        self.sentinels = [self._ask(sentinel) for sentinel in self.sentinels]
        return True

    def _ask(self, sentinel: Any) -> Any:
        where = sentinel.connection_pool.connection_kwargs
        return type(sentinel)(host=where["host"], port=where["port"], **self.sentinel_kwargs)


class _Sentinel(_OfferedCredentials, redis.sentinel.Sentinel):
    def discover_master(self, service_name: str) -> Any:
        try:
            return super().discover_master(service_name)
        except redis.sentinel.MasterNotFoundError:
            if not self._switch_credentials():
                raise
        try:
            return super().discover_master(service_name)
        except redis.sentinel.MasterNotFoundError:
            self._switch_credentials()
            raise


class _AsyncSentinel(_OfferedCredentials, redis.asyncio.sentinel.Sentinel):
    async def discover_master(self, service_name: str) -> Any:
        try:
            return await super().discover_master(service_name)
        except redis.asyncio.sentinel.MasterNotFoundError:
            if not self._switch_credentials():
                raise
        try:
            return await super().discover_master(service_name)
        except redis.asyncio.sentinel.MasterNotFoundError:
            self._switch_credentials()
            raise
