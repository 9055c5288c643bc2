"""Redis URLs: ``redis://``, ``rediss://`` (TLS), ``redis+cluster://``, ``redis+sentinel://`` and the options lix
reads from the query. ``valkey://``, ``valkeys://`` (TLS), ``valkey+cluster://`` and ``valkey+sentinel://`` are the
same URLs for a Valkey server (the protocol is Redis's).

Sentinel: ``redis+sentinel://[user:password@]host:port[,host2:port2...]/service_name[/db]`` (the form of
langchain-community's ``get_client`` and of the ``Redis-Sentinel-Url`` package; port 26379 and service
``mymaster`` by default). The sentinels are asked for the service's current primary, and every connection goes
there, following a failover. The user and password are the primary's (the sentinels are offered them: `sentinel`).

Options (query string, removed before the URL reaches redis-py):

* ``cluster=true`` - same as the ``redis+cluster://`` scheme: connect with ``RedisCluster``.
* ``index=auto|adaptive|hnsw|flat|none`` - the semantic tier's vector search. ``auto`` (default) is
  ``adaptive`` when the server has the Redis Query Engine (``MODULE LIST`` at first use) and client-side search
  otherwise. ``adaptive``: a FLAT index while a namespace is small, an HNSW index from ``hnsw_from`` records on
  (built in the background, switched to once complete: see `semantic_index`); ``hnsw``/``flat`` use that one
  index from the start; these three force the Query Engine (an error if it is missing); ``none`` forces
  client-side.
* ``hnsw_from=2000`` - adaptive only: the namespace size (records) from which searches use an HNSW index.
* ``hnsw_m=12`` and ``ef_construction=40`` - HNSW only: each node's links and the candidate list size of each
  insert into the graph, for indexes made from now on. The server's time per insert grows with both, recall
  too (see `semantic_index` and docs/redis.md: at 100k entries of hard-to-separate vectors,
  ``hnsw_m=16&ef_construction=100&ef_runtime=200``).
* ``prefix=lix`` - first part of every key, so several applications can share one database.
* ``ef_runtime=50`` - HNSW only: the candidate list size of a search. With the default graph it found the true
  nearest neighbour of every near-duplicate MiniLM query at 10k entries, and of 99% of random-vector ones
  (`semantic_index`); raise it for large partitions or workloads served far below similarity 0.8.
* ``autopipeline=true`` - async clients send the commands of all tasks issued in one event-loop turn as one
  packet (not on a cluster); ``false`` sends each call on its own.
* ``busy_poll_us=100`` - blocking (sync) calls on plain TCP and unix sockets: at most how many microseconds the
  first wait for a reply polls the socket before the thread sleeps, where polling has been the faster way on that
  connection (`reply_wait`); ``0`` never polls.
* ``partition_limit=2048`` - plain mode only: at most this many vectors per semantic partition (least recently
  used ones are evicted inside the partition), which bounds what one lookup transfers.
* ``socket_timeout=2`` and ``socket_connect_timeout=2`` - seconds a reply (or a connection) may take before the
  call fails (``none``: wait forever). Set on every redis-py version: redis-py before 8 waits forever by
  default, so a stalled server (SIGSTOP, a full network buffer) made every call wait for the whole stall.
  After a timeout the backend's circuit breaker answers at once for a cool-down (see `breaker`).

Everything else (``db`` path, user and password, ``ssl_cert_reqs``...) is passed to redis-py as is.
"""

from __future__ import annotations

import functools
import inspect
import re
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit

from ...config.backends import (
    DEFAULT_BUSY_POLL_US,
    DEFAULT_EF_CONSTRUCTION,
    DEFAULT_EF_RUNTIME,
    DEFAULT_HNSW_FROM,
    DEFAULT_HNSW_M,
    RedisOptions,
)
from ...errors import ConfigError
from ...redaction import redact_url

__all__ = ["RedisOptions", "parse_redis_url", "redact"]

_PREFIX_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_TIMEOUTS = {"socket_timeout": "socket_timeout", "socket_connect_timeout": "connect_timeout"}


def redact(url: str) -> str:
    """The URL with every credential (userinfo password, ``password=``/``token=``-like options) replaced by ``***``
    (safe for logs, errors and ``Backend.url``); see `lix_integrations.redaction`."""
    return redact_url(url)


def parse_redis_url(url: str) -> RedisOptions:
    """Split lix's options from a Redis URL; bad values are a `ConfigError` naming the option."""
    parts = urlsplit(url)
    scheme, _, topology = parts.scheme.lower().partition("+")
    scheme = _VALKEY.get(scheme, scheme)
    if scheme not in ("redis", "rediss") or topology not in ("", "cluster", "sentinel"):
        raise ConfigError(f"not a Redis URL: {redact(url)!r}")
    cluster = topology == "cluster"
    sentinels: tuple[tuple[str, int], ...] = ()
    service = ""
    if topology == "sentinel":
        parts, sentinels, service = _sentinel_parts(parts, url)
    kept: list[tuple[str, str]] = []
    index, prefix, limit, ef_runtime, autopipeline = "auto", "lix", 2048, DEFAULT_EF_RUNTIME, True
    ints = {
        "hnsw_from": DEFAULT_HNSW_FROM,
        "ef_construction": DEFAULT_EF_CONSTRUCTION,
        "hnsw_m": DEFAULT_HNSW_M,
        "busy_poll_us": DEFAULT_BUSY_POLL_US,
    }
    timeouts: dict[str, float | None] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        low = value.lower()
        if key == "cluster":
            if low not in _TRUE | _FALSE:
                raise ConfigError(f"cluster must be true or false, got {value!r} in {redact(url)!r}")
            cluster = cluster or low in _TRUE
        elif key == "index":
            if low not in ("auto", "adaptive", "hnsw", "flat", "none"):
                raise ConfigError(f"index must be auto, adaptive, hnsw, flat or none, got {value!r}")
            index = low
        elif key == "prefix":
            if not _PREFIX_RE.match(value):
                raise ConfigError(f"prefix must be 1-64 characters of [A-Za-z0-9_.-], got {value!r}")
            prefix = value
        elif key == "partition_limit":
            try:
                limit = int(value)
            except ValueError:
                raise ConfigError(f"partition_limit must be an integer, got {value!r}") from None
            if limit < 1:
                raise ConfigError(f"partition_limit must be at least 1, got {limit}")
        elif key == "autopipeline":
            if low not in _TRUE | _FALSE:
                raise ConfigError(f"autopipeline must be true or false, got {value!r}")
            autopipeline = low in _TRUE
        elif key == "ef_runtime":
            try:
                ef_runtime = int(value)
            except ValueError:
                raise ConfigError(f"ef_runtime must be an integer, got {value!r}") from None
            if not 1 <= ef_runtime <= 4096:
                raise ConfigError(f"ef_runtime must be between 1 and 4096, got {ef_runtime}")
        elif key in ints:
            ints[key] = _bounded_int(key, value, *_INT_BOUNDS[key])
        elif key in _TIMEOUTS:
            timeouts[_TIMEOUTS[key]] = _timeout(key, value)
        elif key == "pass":  # a common spelling of the password option, which redis-py would refuse
            kept.append(("password", value))
        else:
            kept.append((key, value))
    unknown = sorted({key for key, _ in kept} - _client_options(cluster))
    if unknown:
        # redis-py passes an unknown option on to its connection class, which raised a bare TypeError on the
        # first command (issue 14: `?pass=`, `?auth_token=`); the value may be a secret, so only names are shown.
        raise ConfigError(f"unknown Redis URL option(s) {', '.join(map(repr, unknown))} in {redact(url)!r}")
    if cluster and index in ("hnsw", "flat", "adaptive"):
        raise ConfigError(
            "index=adaptive/hnsw/flat needs the Query Engine, which open-source Redis Cluster lacks"
        )
    if cluster and parts.path not in ("", "/", "/0"):
        raise ConfigError(f"Redis Cluster has only database 0, got {parts.path!r}")
    if cluster and sentinels:
        raise ConfigError("a URL names Redis Cluster or Sentinel, not both (cluster=true on a sentinel URL)")
    client_url = parts._replace(scheme=scheme, query=urlencode(kept)).geturl()
    return RedisOptions(
        client_url=client_url,
        cluster=cluster,
        index="none" if cluster else index,
        prefix=prefix,
        partition_limit=limit,
        tls=scheme == "rediss",
        ef_runtime=ef_runtime,
        hnsw_from=ints["hnsw_from"],
        ef_construction=ints["ef_construction"],
        hnsw_m=ints["hnsw_m"],
        busy_poll_us=ints["busy_poll_us"],
        autopipeline=autopipeline,
        sentinels=sentinels,
        service=service,
        **timeouts,
    )


#: Valkey's URL schemes, the same as Redis's (Valkey speaks the Redis protocol).
_VALKEY = {"valkey": "redis", "valkeys": "rediss"}
_SERVICE_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


def _sentinel_parts(parts: SplitResult, url: str) -> tuple[SplitResult, tuple[tuple[str, int], ...], str]:
    """``redis+sentinel://[user:pw@]h1:p1[,h2:p2]/service[/db]``: the primary's URL parts (credentials, db,
    query; host ``localhost`` as a placeholder), the sentinels and the service name."""
    userinfo, at, hosts = parts.netloc.rpartition("@")
    sentinels: list[tuple[str, int]] = []
    for item in hosts.split(","):
        host, colon, port = item.strip().rpartition(":") if ":" in item else (item.strip(), "", "")
        host = host.strip("[]")
        if not host:
            raise ConfigError(f"a sentinel URL needs host:port[,host:port...], got {redact(url)!r}")
        try:
            number = int(port) if colon else 26379
        except ValueError:
            raise ConfigError(f"sentinel port must be a number, got {port!r} in {redact(url)!r}") from None
        if not 0 < number < 65536:
            raise ConfigError(f"sentinel port must be 1-65535, got {number} in {redact(url)!r}")
        sentinels.append((host, number))
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) > 2:
        raise ConfigError(f"a sentinel URL's path is /service_name[/db], got {parts.path!r}")
    service = segments[0] if segments else "mymaster"
    if not _SERVICE_RE.match(service):
        raise ConfigError(
            f"sentinel service name must be 1-128 characters of [A-Za-z0-9_.:-], got {service!r}"
        )
    db = segments[1] if len(segments) > 1 else "0"
    if not db.isdigit():
        raise ConfigError(f"a sentinel URL's database must be a number, got {db!r}")
    primary = parts._replace(netloc=f"{userinfo}{at}localhost", path=f"/{int(db)}")
    return primary, tuple(sentinels), service


@functools.cache
def _client_options(cluster: bool) -> frozenset[str]:
    """The query options redis-py's ``from_url`` accepts: its parsed ones and its connection (and pool, and
    cluster client) keyword arguments, read from the installed redis-py so that a newer version's options work."""
    import redis.cluster
    import redis.connection

    names = set(redis.connection.URL_QUERY_ARGUMENT_PARSERS)
    classes: list[Any] = [
        redis.connection.AbstractConnection,
        redis.connection.Connection,
        redis.connection.SSLConnection,
        redis.connection.ConnectionPool,
    ]
    if cluster:
        classes.append(redis.cluster.RedisCluster)
    for cls in classes:
        names |= set(inspect.signature(cls.__init__).parameters)
    return frozenset(names - {"self", "kwargs", "args"})


#: The integer options' accepted ranges. HNSW M: the server takes 1 to at least 100,000 (checked 2026-12-04 on
#: Redis Stack 7.4), but a graph of one link per node is a list, and each link costs memory on every record.
_INT_BOUNDS = {
    "hnsw_from": (1, 1_000_000),
    "ef_construction": (1, 4096),
    "hnsw_m": (2, 512),
    "busy_poll_us": (0, 10_000),
}


def _bounded_int(key: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{key} must be an integer, got {value!r}") from None
    if not low <= number <= high:
        raise ConfigError(f"{key} must be between {low} and {high}, got {number}")
    return number


def _timeout(key: str, value: str) -> float | None:
    """A timeout option: positive seconds, or ``none`` for no timeout."""
    if value.lower() == "none":
        return None
    try:
        seconds = float(value)
    except ValueError:
        raise ConfigError(f"{key} must be a number of seconds or none, got {value!r}") from None
    if not 0 < seconds < float("inf"):
        raise ConfigError(f"{key} must be a positive number of seconds or none, got {value!r}")
    return seconds
