"""The process's Redis clients, shared by every backend opened with the same URL, and their circuit breakers.

One sync client per process and URL (its connection pool is shared by every backend of that URL), and one
``redis.asyncio`` client per process, URL and event loop (asyncio connections belong to the loop that made them).
The last backend of a URL to close closes them.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any
from weakref import WeakKeyDictionary

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from .breaker import Breaker
from .sentinel import sentinel_client
from .url import RedisOptions

__all__ = ["async_client", "breaker", "client_kwargs", "release", "retain", "sync_client"]

_sync_clients: dict[tuple[int, str, bool], Any] = {}
_async_clients: dict[tuple[int, str, bool], WeakKeyDictionary[asyncio.AbstractEventLoop, Any]] = {}
#: Open backends per client key: the last one to close closes the clients (and their pools) it shared.
_client_users: dict[tuple[int, str, bool], int] = {}
_breakers: dict[tuple[int, str, bool], Breaker] = {}
#: Re-entrant: a garbage collection inside a locked block may run an engine's finalizer, which closes a backend.
_clients_lock = threading.RLock()


def _client_key(opts: RedisOptions) -> tuple[int, str, bool]:
    # A forked child must not share its parent's sockets; a sentinel URL's client_url names no host.
    where = (
        f"{opts.client_url}#sentinel={opts.sentinels!r}/{opts.service}" if opts.sentinels else opts.client_url
    )
    return (os.getpid(), where, opts.cluster)


def retain(opts: RedisOptions) -> None:
    with _clients_lock:
        key = _client_key(opts)
        _client_users[key] = _client_users.get(key, 0) + 1


def release(opts: RedisOptions) -> tuple[Any, list[tuple[asyncio.AbstractEventLoop, Any]]]:
    """Drop one user; when none is left, take the clients out: (sync client or None, [(loop, async client)])."""
    with _clients_lock:
        key = _client_key(opts)
        left = _client_users.get(key, 1) - 1
        if left > 0:
            _client_users[key] = left
            return None, []
        _client_users.pop(key, None)
        _breakers.pop(key, None)
        per_loop = _async_clients.pop(key, None)
        return _sync_clients.pop(key, None), list(per_loop.items()) if per_loop is not None else []


def breaker(opts: RedisOptions, url: str) -> Breaker:
    """The breaker shared by every backend of this URL in this process (they share its connection pools)."""
    key = _client_key(opts)
    with _clients_lock:
        breaker = _breakers.get(key)
        if breaker is None:
            breaker = _breakers[key] = Breaker(url)
        return breaker


def client_kwargs(opts: RedisOptions, aio: bool = False) -> dict[str, Any]:
    """What every client is built with: timeouts, and no retry of any command.

    redis-py retries commands by default on newer versions (10 times on a cluster with redis-py 8), and a
    retried append whose first attempt ran is stored twice. Clusters take the same ``retry`` object and give
    their nodes' connections none. redis-py 6.0 is the oldest version this runs on (``pyproject.toml``).
    """
    return {
        "retry": AsyncRetry(NoBackoff(), 0) if aio else Retry(NoBackoff(), 0),
        "socket_timeout": opts.socket_timeout,
        "socket_connect_timeout": opts.connect_timeout,
    }


#: Connections an async client's pool makes unless the URL's ``max_connections`` says otherwise (what redis-py's
#: asyncio ``ConnectionPool`` allows by default; its ``BlockingConnectionPool`` would allow 50).
_ASYNC_MAX_CONNECTIONS = 100


def _waiting_client(opts: RedisOptions) -> Any:
    """An asyncio client whose pool, once all its connections are in use, waits for one to come back (up to the
    read timeout) rather than refusing the call. Auto-pipelining sends each loop turn's packet on a connection of
    its own, and packets of turns in flight together went past a capped pool: redis-py's default pool raised
    MaxConnectionsError, which failed the calls and opened the breaker (46 of 100 appends spread over loop turns
    failed at ``max_connections=2``, 2026-12-05, /tmp harness). The URL's ``max_connections`` wins over the
    default here (query string arguments win in redis-py's ``from_url``)."""
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        opts.client_url,
        max_connections=_ASYNC_MAX_CONNECTIONS,
        timeout=opts.socket_timeout,
        **client_kwargs(opts, True),
    )
    client = redis.asyncio.Redis(connection_pool=pool)
    client.auto_close_connection_pool = True  # as from_url sets it: closing the client closes its pool
    return client


def sync_client(opts: RedisOptions) -> Any:
    """The process's client for ``opts``. Built outside the lock: a cluster client talks to the cluster while
    it is built, and a garbage collection in between may run an engine's finalizer, which closes a backend
    and takes this lock (it deadlocked when the build held it)."""
    key = _client_key(opts)
    client = _sync_clients.get(key)
    if client is not None:
        return client
    if opts.sentinels:
        built: Any = sentinel_client(opts, client_kwargs(opts), aio=False)
    elif opts.cluster:
        built = redis.cluster.RedisCluster.from_url(opts.client_url, **client_kwargs(opts))
    else:
        built = redis.Redis.from_url(opts.client_url, **client_kwargs(opts))
    with _clients_lock:
        client = _sync_clients.setdefault(key, built)
    if client is not built:
        built.close()  # another thread built one first
    return client


def async_client(opts: RedisOptions) -> Any:
    loop = asyncio.get_running_loop()
    key = _client_key(opts)
    with _clients_lock:
        client = _async_clients.setdefault(key, WeakKeyDictionary()).get(loop)
    if client is not None:
        return client
    if opts.sentinels:
        built: Any = sentinel_client(opts, client_kwargs(opts, True), aio=True)
    elif opts.cluster:  # builds without I/O (it connects at its first command), but outside the lock as above
        built = redis.asyncio.cluster.RedisCluster.from_url(opts.client_url, **client_kwargs(opts, True))
    else:
        built = _waiting_client(opts)
    with _clients_lock:
        client = _async_clients.setdefault(key, WeakKeyDictionary()).setdefault(loop, built)
    return client  # an async client built twice holds no connection yet: nothing to close
