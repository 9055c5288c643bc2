"""Configuration of the backends: the HNSW graph of the in-process vector index and what a Redis URL means to lix.

They live with the other configuration objects (issue 16: every configuration dataclass in ``config``), below the
backends that read them, so a backend imports its settings from a leaf module and nothing else of the package.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DEFAULT_BUSY_POLL_US", "DEFAULT_TIMEOUT", "HnswConfig", "RedisOptions"]

#: Seconds a Redis reply or connection may take by default. A semantic lookup is a few milliseconds and the
#: slowest scripts (clearing a large namespace) well under a second; 2 s bounds what a stalled server costs
#: the one call per cool-down that still waits for it.
DEFAULT_TIMEOUT = 2.0


@dataclass(frozen=True)
class HnswConfig:
    """HNSW graph parameters, tuned on MiniLM embeddings for top-1 recall >= 0.99 at 100k rows.

    The defaults measured top-1 recall 0.996 against an exact scan at 10k and 100k rows (1.0 and
    0.999 for queries whose best match has cosine >= 0.8, the ones a cache hit depends on) at
    about 0.13 ms per query. ``ef_construction=200`` gained only 0.001 recall for 2.5x the build
    time, which matters because a large partition is built when a process first searches it.
    ``ef_search`` is the query's candidate-list size: raising it to 96 buys 0.998 recall for
    +40% latency. ``num_threads`` (-1 = all cores) only applies to bulk adds.
    """

    m: int = 16
    ef_construction: int = 100
    ef_search: int = 64
    num_threads: int = -1


#: The Query Engine index defaults (URL options ``hnsw_from``, ``hnsw_m``, ``ef_construction``, ``ef_runtime``):
#: backends/redis/semantic_index.py gives the measurements they were chosen by.
DEFAULT_HNSW_FROM = 2000
DEFAULT_HNSW_M = 12
DEFAULT_EF_CONSTRUCTION = 40
DEFAULT_EF_RUNTIME = 50
#: At most how many microseconds a blocking call polls its socket for the reply before it sleeps, where polling
#: has been faster (URL option ``busy_poll_us``; backends/redis/reply_wait.py gives the measurements).
DEFAULT_BUSY_POLL_US = 100


@dataclass(frozen=True, kw_only=True, slots=True)
class RedisOptions:
    """What a Redis URL means to lix; ``client_url`` is what redis-py is given."""

    client_url: str = field(repr=False)  # may hold the password: never printed
    cluster: bool
    index: str
    prefix: str
    partition_limit: int
    tls: bool
    ef_runtime: int = DEFAULT_EF_RUNTIME
    hnsw_from: int = DEFAULT_HNSW_FROM  # adaptive index mode: HNSW from this many records
    ef_construction: int = DEFAULT_EF_CONSTRUCTION
    hnsw_m: int = DEFAULT_HNSW_M
    autopipeline: bool = True
    busy_poll_us: int = DEFAULT_BUSY_POLL_US
    socket_timeout: float | None = DEFAULT_TIMEOUT
    connect_timeout: float | None = DEFAULT_TIMEOUT
    #: Sentinel URLs: the sentinels' (host, port) and the monitored service's name; ``client_url`` then names
    #: only the primary's credentials, database and options (its host is asked of the sentinels).
    sentinels: tuple[tuple[str, int], ...] = ()
    service: str = ""
