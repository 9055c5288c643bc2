"""The Query Engine indexes of the semantic records: which one a namespace has, its dimension, and the switch from
FLAT to HNSW as a namespace grows.

Index modes (URL option ``index``, see `url`):

* ``hnsw`` / ``flat``: one index ``idx`` of that algorithm per namespace, made when its first vector is stored;
* ``adaptive`` (what ``auto`` becomes on a server with the Query Engine): a namespace starts with a FLAT index
  ``idxf`` and gets an HNSW index ``idx`` once it holds ``hnsw_from`` records. Below that size a FLAT scan is as
  fast as a graph walk and an insert costs the server a fraction of linking a vector into a graph (measured, see
  ``DEFAULT_HNSW_FROM``).

The switch, derived from server state only (several processes share one Redis, each deciding on its own):

1. an upsert's reply carries the namespace's record count and whether the key ``qe`` says "hnsw";
2. a process that sees the count at ``hnsw_from`` or above and no ``qe`` runs ``sem_grow.lua``, which makes
   ``idx`` (HNSW) with ``SKIPINITIALSCAN`` unless it exists (another process made it). Every later write is
   indexed into both indexes by the server. The existing records are not left to the server's background scan: measured on Redis
   Stack 7.4 (2026-12-04), that scan made no progress at all while writes kept coming (``percent_indexed`` 0 after
   8,000 more inserts), so a busy namespace would never switch;
3. instead that script, run once after each of its next upserts, rewrites the next ``GROW_CHUNK``
   records' ``ph`` field (the Query Engine indexes a hash again on any write) up to the id counter's value when
   the build began. Chunks advance a cursor on the server, so processes share the work and none is done twice.
   The upserts of one batch (``update_many``) share a round: the chunks they owe run one round each after it,
   so a namespace filled by one batch has switched when the batch returns;
4. the chunk that reaches the end sets ``qe``; that process drops ``idxf`` (its records are kept:
   ``FT.DROPINDEX`` without ``DD``). The search script reads ``qe`` in the same atomic step as its ``FT.SEARCH``,
   so every search until then runs on the complete FLAT index and every one after on the complete HNSW index;
5. a process that made ``idxf`` again in a race (it read no ``qe`` just before the switch) learns ``qe`` from its
   next upsert's reply and drops it.

Vector layout. A namespace made by this version (the key ``vl``, set with ``idxdim`` when it held no record yet)
stores each record's vector twice: ``vec`` (float32, what every reader decodes) and ``vh`` (float16), and its HNSW
index is made on ``vh`` as ``FLOAT16``: the server links a half-size vector into the graph, at the same recall
(see ``HNSW_TYPE``). FLAT indexes stay on ``vec``. A namespace without ``vl`` (made by an earlier version, or
written in plain mode first, so that its records lack ``vh``) keeps every index on ``vec``. Scripts read ``vl``
themselves (the search picks its field and query blob, the build its schema), so a process's stale view never
makes an index on the wrong field.

An index that vanishes (``FLUSHALL``, a restart without persistence, ``FT.DROPINDEX``) is made again by the next
search that finds it missing, following ``qe``: HNSW if the namespace had switched, else FLAT. An HNSW index
dropped during its build is made again by the next chunk, which starts the work over.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from redis.exceptions import ResponseError

from ...config.backends import DEFAULT_HNSW_M  # the defaults live with the options; why they are so, below
from ...errors import SettingsMismatchError
from .commands import Cmd, Lua, Plan, Step, b2s, fields_of, then
from .keys import sem_base
from .lua import script

logger = logging.getLogger(__name__)

GROW = script("sem_grow")
LAYOUT = script("sem_layout")

# Why DEFAULT_HNSW_FROM (config/backends.py), ``adaptive`` mode's size (records) for building the HNSW index, is
# 2000. Measured on Redis Stack 7.4, 384-dim vectors, the lookup script's KNN 4 with its 11 fields (server time, commandstats,
# 2026-12-04, /tmp sweeps recorded in docs/redis.md): FLAT 65 us and HNSW 88 us at 1k; FLAT overtaken by HNSW
# between 2k and 3k; an insert into FLAT costs the server about 30 us against 100-400 us into HNSW.

# Why DEFAULT_HNSW_M, DEFAULT_EF_CONSTRUCTION and DEFAULT_EF_RUNTIME (config/backends.py) are 12, 40 and 50: the
# HNSW graph parameters of the indexes lix makes (URL options ``hnsw_m``, ``ef_construction``, ``ef_runtime``).
# M is each node's links, EF_CONSTRUCTION the candidate list of an insert, EF_RUNTIME that of a search. The
# server's time per insert grows with the first two, recall with all three. Chosen from raw redis-py floors over
# a grid (benchmarks/redis_hnsw_grid.py, 2026-12-04, 10k 384-dim vectors, float16 graph, KNN 1; server CPU per
# insert, recall@1, lookup wall):
# - M 16, EF_CONSTRUCTION 100, EF_RUNTIME 20 (the defaults until then): 300 us, 0.987, 0.37 ms on random vectors;
#   168 us, 0.997, 0.29 ms on MiniLM vectors of real questions;
# - M 12, EF_CONSTRUCTION 40, EF_RUNTIME 50: 173 us, 0.990, 0.31 ms random; 94 us, 1.000, 0.23 ms MiniLM;
# - M 8 lost recall on random vectors (EF_CONSTRUCTION 24: 0.79 at EF_RUNTIME 50); EF_RUNTIME 20 on M 12: 0.89.
# At 100k random vectors (the hardest case) both default sets find about half (0.53 against 0.56); there
# ``hnsw_m=16&ef_construction=100&ef_runtime=200`` reaches 0.995 (M 12, EF_CONSTRUCTION 40: 0.85), at 743 against
# 310 us per insert (docs/redis.md).

#: The vector type of the HNSW indexes of namespaces with the ``vh`` layout. Measured on Redis Stack 7.4 with 10k
#: random unit 384-dim vectors, M 16, EF_CONSTRUCTION 100, EF_RUNTIME 20, 400 queries with noise sigma 0.02
#: (2026-12-04, raw redis-py, commandstats): FLOAT32 583 us of server time per insert, recall@1 0.968, 142 us
#: per KNN; FLOAT16 317 us, recall@1 0.978, 87 us (VecSim computes half-precision distances with SIMD and moves
#: half the bytes).
HNSW_TYPE = "FLOAT16"

#: Records indexed into the new HNSW index per upsert until the switch (each costs the server one insert into the
#: graph, 0.1-0.3 ms at 2k records: a chunk holds the server 5-15 ms).
GROW_CHUNK = 50
BUSY_SECONDS = 2.0


class QueryIndexes:
    """One backend's Query Engine indexes (see the module docstring). ``index`` is ``auto`` until `detect` has
    resolved it to ``adaptive`` or ``none``, or ``hnsw``/``flat``/``none`` as the URL forced it."""

    def __init__(
        self, prefix: str, index: str, hnsw_from: int, ef_construction: int, hnsw_m: int = DEFAULT_HNSW_M
    ) -> None:
        self.prefix = prefix
        self.index = index
        self.hnsw_from = hnsw_from
        self.ef_construction = ef_construction
        self.hnsw_m = hnsw_m
        self._ready: dict[str, int] = {}  # namespace -> dimension of its index
        self._algo: dict[str, str] = {}  # namespace -> "hnsw" or "flat": the index this process made or found
        self._half: dict[str, bool] = {}  # namespace -> whether it has the ``vh`` layout (key ``vl``)
        # adaptive: namespace -> until when a chunk of its build is under way
        self._busy: dict[str, float] = {}
        # adaptive: namespace -> records this process's upserts owe the build (GROW_CHUNK each) and no chunk did yet
        self._owed: dict[str, int] = {}

    # -- detection -----------------------------------------------------------------------------------------

    def detect(self) -> Plan:
        """Resolve ``auto`` once per backend: ``adaptive`` when the server has the search module, else plain."""
        if self.index != "auto":
            return None

        def found(modules: Any) -> None:
            names = set()
            for module in modules or []:
                fields = fields_of(module)
                names.add(b2s(fields.get("name", b"")).lower())
            self.index = "adaptive" if names & {"search", "ft", "searchlight"} else "none"

        # An ACL may forbid MODULE LIST; try the search command itself.
        try_search = Step(Cmd(("FT._LIST",)), lambda _: self._set("adaptive"), lambda _: self._set("none"))
        return Step(Cmd(("MODULE", "LIST")), found, lambda _: try_search)

    def _set(self, index: str) -> None:
        self.index = index

    @property
    def server(self) -> bool:
        """Whether the Query Engine searches (else plain mode ranks vectors in this process)."""
        return self.index in ("hnsw", "flat", "adaptive")

    # -- making and checking ---------------------------------------------------------------------------------

    def ensure(self, namespace: str, dim: int | None) -> Plan:
        """Create the namespace's index (idempotent) once its dimension is known; check it matches."""
        if namespace in self._ready:
            if dim is not None and self._ready[namespace] != dim:
                raise SettingsMismatchError("dimension (Redis vector index)", self._ready[namespace], dim)
            return None
        base = sem_base(self.prefix, namespace)
        read = Cmd(("MGET", base + "idxdim", base + "qe", base + "vl"))

        def create(stored: list[Any]) -> Plan:
            have = int(b2s(stored[0]))
            half = stored[2] is not None
            algo = "hnsw" if self.index == "hnsw" or b2s(stored[1] or b"") == "hnsw" else "flat"
            if self.index == "flat":
                algo = "flat"
            name = base + ("idxf" if self.index == "adaptive" and algo == "flat" else "idx")

            def made(_: Any = None) -> None:
                self._ready[namespace] = have
                self._algo[namespace] = algo
                self._half[namespace] = half
                if dim is not None and dim != have:
                    raise SettingsMismatchError("dimension (Redis vector index)", have, dim)

            make = Step(Cmd(self._create(base, name, algo, have, half=half)), made, _exists(made))
            if self.index != "adaptive" or algo == "hnsw":
                return make
            return Step(Cmd(("FT.INFO", base + "idx")), lambda info: adopt(info, make), lambda _: make)

        def adopt(info: Any, make: Step) -> Plan:
            """An index ``idx`` without ``qe``: made by an earlier version (``auto`` meant HNSW) or by
            ``index=hnsw``/``flat``. An HNSW one is adopted as the switched-to index (building a FLAT one beside
            it would scan every record again); a FLAT one is dropped (records kept) for ``idxf``."""
            if _vector_algorithm(info) == "HNSW":  # then read again: 'qe' now names it
                return Step(Cmd(("SET", base + "qe", "hnsw", "NX")), lambda _: Step(read, create))
            return Step(Cmd(("FT.DROPINDEX", base + "idx")), lambda _: make, lambda _: make)

        def stored_dim(stored: list[Any]) -> Plan:
            if stored[0] is not None:
                return create(stored)
            if dim is None:
                return None
            half = "0" if self.index == "flat" else "1"  # a FLAT-only namespace needs no float16 copies
            return Step(Lua(LAYOUT, (base + "lru",), (base, dim, half)), create)

        return Step(read, stored_dim)

    def _create(
        self, base: str, name: str, algo: str, dim: int, skip_scan: bool = False, half: bool = False
    ) -> tuple[Any, ...]:
        """``FT.CREATE`` of an index over the namespace's records (``skip_scan``: none indexed until written;
        ``half``: an HNSW index on the float16 ``vh``, see the module docstring). The partition's TAG ``ph`` is
        the only other field: searches filter on nothing else (indexes made by earlier versions also have the
        scope's TAG ``sh``, which records no longer carry)."""
        extra: tuple[Any, ...] = (
            ("M", self.hnsw_m, "EF_CONSTRUCTION", self.ef_construction) if algo == "hnsw" else ()
        )
        field, kind = ("vh", HNSW_TYPE) if half and algo == "hnsw" else ("vec", "FLOAT32")
        skip: tuple[str, ...] = ("SKIPINITIALSCAN",) if skip_scan else ()
        return (
            "FT.CREATE", name, "ON", "HASH", "PREFIX", 1, base + "r:", *skip,
            "SCHEMA", "ph", "TAG", field, "VECTOR", algo.upper(), 6 + len(extra),
            "TYPE", kind, "DIM", dim, "DISTANCE_METRIC", "COSINE", *extra,
        )  # fmt: skip

    def ready(self, namespace: str, dim: int) -> bool:
        """Whether the namespace is known to have an index of dimension ``dim`` (then `indexed` is True at once)."""
        return self._ready.get(namespace) == dim

    def indexed(self, namespace: str, query: np.ndarray[Any, Any]) -> Plan:
        """Whether the namespace has an index (False: nothing with a vector was ever stored here), once its
        dimension is checked against the query's."""

        def check(_: Any) -> bool:
            if namespace not in self._ready:
                return False
            if self._ready[namespace] != query.shape[0]:
                raise SettingsMismatchError(
                    "dimension (Redis vector index)", self._ready[namespace], int(query.shape[0])
                )
            return True

        return then(self.ensure(namespace, None), check)

    def search(self, namespace: str, dim: int, call: Lua, parse: Callable[[Any], Any]) -> Plan:
        """The search script's reply, parsed. When the index is gone, it is made again (with the query's dimension
        if its record is gone too: the engine's stored settings fix the dimension) and the search runs once
        more; the entries stored since the loss are indexed as FT.CREATE scans them."""

        def recover(exc: ResponseError) -> Plan:
            text = str(exc).lower()
            if "no such index" not in text and "unknown index" not in text:
                raise exc
            self._ready.pop(namespace, None)
            logger.info(
                "Redis search index of namespace %r was gone (FLUSHALL or a restart without persistence?): "
                "made it again",
                namespace,
            )
            return then(self.ensure(namespace, dim), lambda _: Step(call, parse))

        return Step(call, parse, recover)

    # -- adaptive: FLAT, then HNSW -----------------------------------------------------------------------------

    def after_upsert(self, namespace: str, count: int, switched: bool, upserts: int = 1) -> Plan:
        """The steps an upsert script's reply calls for in ``adaptive`` mode: none, almost always; from
        ``hnsw_from`` records on, a chunk of the HNSW build per upsert until the switch (see the module docstring).
        ``count``: the namespace's size after the script's ``upserts`` records.

        Each upsert from ``hnsw_from`` on owes the build one chunk. The upserts of a batch share a round, which
        runs one chunk: the chunks the others owe follow it, one round each, before the batch returns. Otherwise
        a namespace filled by one ``update_many`` and then only read searched its FLAT index for ever (one chunk
        ran in all)."""
        if self.index != "adaptive" or namespace not in self._ready:
            return None
        base = sem_base(self.prefix, namespace)
        if switched:
            self._owed.pop(namespace, None)
            if self._algo.get(namespace) == "hnsw":
                return None
            # A FLAT index this process made in a race with the switch: drop it.
            self._algo[namespace] = "hnsw"
            return Step(Cmd(("FT.DROPINDEX", base + "idxf")), _none, _none)
        if count < self.hnsw_from:
            return None
        owing = min(upserts, count - self.hnsw_from + 1)
        self._owed[namespace] = self._owed.get(namespace, 0) + GROW_CHUNK * owing
        if time.monotonic() < self._busy.get(namespace, 0.0):
            return None  # the chunk under way goes on with what is owed
        return self._grow(namespace, count)

    def _grow(self, namespace: str, count: int) -> Plan:
        """One chunk of the build, then the next while this process's upserts owe more. One chunk at a time per
        process; a reply lost with its connection frees the namespace after a while."""
        self._busy[namespace] = time.monotonic() + BUSY_SECONDS
        self._owed[namespace] = max(0, self._owed.get(namespace, 0) - GROW_CHUNK)
        base = sem_base(self.prefix, namespace)
        dim = self._ready[namespace]
        plain = self._create(base, base + "idx", "hnsw", dim, skip_scan=True)[2:]
        half = self._create(base, base + "idx", "hnsw", dim, skip_scan=True, half=True)[2:]

        def grown(reply: list[Any]) -> Plan:
            self._busy.pop(namespace, None)
            if not int(reply[0]):
                if self._owed.get(namespace, 0) > 0:
                    return self._grow(namespace, count)
                return None  # searches stay on the complete FLAT index; the next upsert does the next chunk
            self._owed.pop(namespace, None)
            self._algo[namespace] = "hnsw"
            logger.info(
                "Redis namespace %r passed %d records: searches now use its HNSW index", namespace, count
            )
            return Step(Cmd(("FT.DROPINDEX", base + "idxf")), _none, _none)

        def failed(exc: ResponseError) -> Plan:
            self._busy.pop(namespace, None)
            raise exc

        args = (base, GROW_CHUNK, base + "idx", len(plain), *plain, *half)
        return Step(Lua(GROW, (base + "lru",), args), grown, failed)


def _exists(then_: Callable[[], Plan]) -> Callable[[ResponseError], Plan]:
    """An ``FT.CREATE`` error handler: "already exists" is success (another process made it); else raise."""

    def handle(exc: ResponseError) -> Plan:
        if "already exists" not in str(exc).lower():
            raise exc
        return then_()

    return handle


def _vector_algorithm(info: Any) -> str | None:
    """The vector field's algorithm (``HNSW``/``FLAT``) in an ``FT.INFO`` reply (RESP2 lists or RESP3 maps)."""
    for attribute in fields_of(info).get("attributes") or []:
        fields = fields_of(attribute)
        if b2s(fields.get("type", b"")).upper() == "VECTOR":
            return b2s(fields.get("algorithm", b"")).upper()
    return None


def _none(_: Any) -> None:
    return None
