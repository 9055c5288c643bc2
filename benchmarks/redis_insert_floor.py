"""What a semantic insert costs the Redis server above a raw ``HSET`` of the same record, part by part, and whether
writing the record with a plain ``HSET`` beside a small bookkeeping script would cost it less.

Run from the repository root (about a minute; starts its own Redis Stack 7.4 server, see benchmarks/redis.py):

    .venv/bin/python benchmarks/redis_insert_floor.py [--rounds 10]

Every variant writes records shaped like lix's (the 11 fields of ``semantic.FIELDS`` that a record without a TTL
has, 384-dim ``vec`` and ``vh``: about 2.6 KB) under a prefix no index covers: an index's insert (the HNSW link,
100-300 us at 10k) is the same work whichever way the record arrives, and its variance would hide the differences
measured here. Figures are the server's CPU (``INFO cpu``, user + system) per record, medians over rounds of 100
records, the variants taking turns. Single inserts:

* ``raw HSET``: the floor, one record per round trip;
* ``EVALSHA noop`` / ``EVALSHA noop + record args``: a script that does nothing, without and with the record's
  values as arguments: what calling a script and copying the record into Lua cost;
* ``EVALSHA HSET only``: a script that writes the record and nothing else;
* ``lix upsert``: lix's own upsert script (``lua/sem_upsert.lua``) with the values lix sends;
* ``MULTI HSET staging + EVALSHA RENAME+bookkeeping EXEC``: the record sent as a plain ``HSET`` to a key no index
  covers, and a small script that gives it its id (``RENAME``, which the Query Engine indexes as a new document)
  and writes the same bookkeeping as lix's (ids, ticks, exact key, LRU, partition set and version), in one
  transaction: the alternative to carrying the record in the script's arguments.

Batches of 100 (``update_many``): lix's upsert script with 100 records, against ids reserved by one script and then
``MULTI``, 100 ``HSET``\\ s and one bookkeeping ``EVAL``, ``EXEC`` (two round trips), and raw ``HSET``\\ s
pipelined 100 per packet (the floor).

Measured 2026-12-05 (two runs, 10 and 20 rounds, on a loaded 2-core machine, which inflates every figure alike):
raw HSET 26-29 us, EVALSHA noop 15-16, noop + record args 26-28, HSET only 38-42, lix upsert 64-70, staged HSET +
bookkeeping 61-66; batches: raw 8-11, lix 19-22, reserved ids + MULTI 15-16. So carrying the record in the script's
arguments costs the server about 11 us, its bookkeeping about 27 (8 calls), and sending the record as a plain HSET
saves 4-5 us of the two together, single or batched, against a transaction, a second round trip per batch (ids
must be known before the records' keys) and a script outside the transaction's reach (EVALSHA's NOSCRIPT would
surface only at EXEC, after the HSETs ran). With the index insert (100-300 us at 10k) on top, that is 2-5% of
the server's time per insert: not done.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent  # this folder first on sys.path would shadow redis-py (see redis.py)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE)]

import argparse  # noqa: E402
import statistics  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from lix_integrations.backends.redis.semantic_index import QueryIndexes  # noqa: E402
from lix_integrations.backends.redis.semantic_upsert import UPSERT, Upserts  # noqa: E402
from lix_integrations.kernel.semantic_ops import SemanticRecord  # noqa: E402
from lix_integrations.testing.redis_servers import start_stack  # noqa: E402

DIM = 384
BASE = "bench_floor:{s/x}:"
NAMES = ("ek", "pt", "sc", "lk", "pr", "vec", "pl", "ca", "aa", "ph", "vh")

# The bookkeeping of lix's upsert for one new record (no TTL, Query Engine mode), after the record is in place.
BOOKKEEPING = """
local p = ARGV[1]
local state = redis.call('MGET', p .. 'qe', p .. 'vl')
local id = redis.call('INCRBY', p .. 'next', 1)
local tick = redis.call('INCRBY', p .. 'tick', 1)
local ek, ph = ARGV[2], ARGV[3]
local old = redis.call('HGET', p .. 'exact', ek)
redis.call('RENAME', KEYS[1], p .. 'r:' .. id)
redis.call('HSET', p .. 'exact', ek, id)
redis.call('ZADD', p .. 'lru', tick, id)
redis.call('ZADD', p .. 'pt:' .. ph, tick, id)
redis.call('HINCRBY', p .. 'pv', ph, 1)
return {id, 0, 0, state[1]}
"""
HSET_ONLY = """
redis.call('HSET', ARGV[1] .. 'r:' .. ARGV[2], 'ek', ARGV[2], 'pt', ARGV[3], 'sc', ARGV[4], 'lk', ARGV[5],
  'pr', ARGV[6], 'pl', ARGV[8], 'ca', ARGV[9], 'aa', ARGV[11], 'ph', ARGV[12], 'vec', ARGV[7], 'vh', ARGV[14])
return 1
"""
RESERVE = "local n = tonumber(ARGV[2]) return redis.call('INCRBY', ARGV[1] .. 'next', n) - n"
# A batch's bookkeeping once its records are in place (ids first + 1 .. first + n): lix's, without the records.
BATCH_BOOKKEEPING = """
local p, first = ARGV[1], tonumber(ARGV[2])
local n = (#ARGV - 2) / 2
local tick0 = redis.call('INCRBY', p .. 'tick', n) - n
local state = redis.call('MGET', p .. 'qe', p .. 'vl')
local exact, lru, pt = {}, {}, {}
for i = 3, #ARGV, 2 do
  local k = (i - 3) / 2 + 1
  local id, tick, ek = first + k, tick0 + k, ARGV[i]
  local old = redis.call('HGET', p .. 'exact', ek)
  exact[#exact + 1] = ek; exact[#exact + 1] = id
  lru[#lru + 1] = tick; lru[#lru + 1] = id
  pt[#pt + 1] = tick; pt[#pt + 1] = id
end
redis.call('HSET', p .. 'exact', unpack(exact))
redis.call('ZADD', p .. 'lru', unpack(lru))
redis.call('ZADD', p .. 'pt:' .. ARGV[4], unpack(pt))
redis.call('HINCRBY', p .. 'pv', ARGV[4], n)
return first
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="rounds of 100 records per variant")
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(1000, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    qe = QueryIndexes("bench_floor", "hnsw", 2000, 40)  # values as lix sends them on the Query Engine
    upserts = Upserts("bench_floor", qe, 0)
    server = start_stack()
    try:
        from redis import Redis

        client = Redis.from_url(server.url, protocol=2)
        client.set(BASE + "vl", "1")
        client.set(BASE + "qe", "hnsw")
        shas = {name: client.script_load(text) for name, text in (
            ("upsert", UPSERT.text), ("book", BOOKKEEPING), ("hset", HSET_ONLY), ("noop", "return 1"),
            ("reserve", RESERVE),
        )}  # fmt: skip
        counter = iter(range(10**9))

        def values(n: int) -> list[Any]:
            recs = []
            for _ in range(n):
                i = next(counter)
                recs.append(SemanticRecord(
                    f"{i:064x}", "p" * 64, "global", "l" * 64, f"what is entry number {i}?",
                    vectors[i % len(vectors)], f'{{"generations": [{{"text": "answer {i}"}}]}}' + "x" * 150,
                    1764900000.123456 + i, None, 1764900000.123456 + i,
                ))  # fmt: skip
            return upserts.values_of(recs)[0]

        def fields(v: list[Any]) -> dict[str, Any]:
            return dict(zip(NAMES, (*v[:7], v[7], v[9], v[10], v[12]), strict=True))

        def raw(_: int) -> None:
            v = values(1)
            client.hset(f"{BASE}raw:{v[0]}", mapping=fields(v))

        def noop(_: int) -> None:
            client.evalsha(shas["noop"], 0, BASE)

        def noop_args(_: int) -> None:
            client.evalsha(shas["noop"], 0, BASE, *values(1))

        def hset_only(_: int) -> None:
            client.evalsha(shas["hset"], 0, BASE, *values(1))

        def lix(_: int) -> None:
            client.evalsha(shas["upsert"], 1, BASE + "exact", BASE, 0, 0, *values(1))

        def staged(_: int) -> None:
            v = values(1)
            pipe = client.pipeline(transaction=True)
            pipe.hset(BASE + "w:staging", mapping=fields(v))
            pipe.evalsha(shas["book"], 1, BASE + "w:staging", BASE, v[0], v[10])
            pipe.execute()

        def lix_batch(_: int) -> None:
            client.evalsha(shas["upsert"], 1, BASE + "exact", BASE, 0, 0, *values(100))

        def reserved_batch(_: int) -> None:
            v = values(100)
            first = int(client.evalsha(shas["reserve"], 0, BASE, 100))
            pipe = client.pipeline(transaction=True)
            book: list[Any] = [BASE, first]
            for k in range(100):
                rec = v[13 * k : 13 * (k + 1)]
                pipe.hset(f"{BASE}r:{first + k + 1}", mapping=fields(rec))
                book += [rec[0], rec[10]]
            pipe.eval(BATCH_BOOKKEEPING, 0, *book)
            pipe.execute()

        def raw_batch(_: int) -> None:
            v = values(100)
            pipe = client.pipeline(transaction=False)
            for k in range(100):
                rec = v[13 * k : 13 * (k + 1)]
                pipe.hset(f"{BASE}raw:{rec[0]}", mapping=fields(rec))
            pipe.execute()

        singles: list[tuple[str, Callable[[int], None]]] = [
            ("raw HSET", raw),
            ("EVALSHA noop", noop),
            ("EVALSHA noop + record args", noop_args),
            ("EVALSHA HSET only", hset_only),
            ("lix upsert (lua/sem_upsert.lua)", lix),
            ("MULTI HSET staging + EVALSHA RENAME+bookkeeping EXEC", staged),
        ]
        batches: list[tuple[str, Callable[[int], None]]] = [
            ("raw HSET pipelined x100", raw_batch),
            ("lix upsert, 100 records a call", lix_batch),
            ("reserve ids, then MULTI HSET x100 + EVAL bookkeeping EXEC", reserved_batch),
        ]

        def cpu() -> float:
            info = client.info("cpu")
            return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

        def measure(variants: list[tuple[str, Callable[[int], None]]], calls: int, per_call: int) -> None:
            spent: dict[str, list[float]] = {name: [] for name, _ in variants}
            for r in range(args.rounds + 1):
                for name, run in variants[r % len(variants) :] + variants[: r % len(variants)]:
                    before = cpu()
                    for i in range(calls):
                        run(i)
                    if r:  # the first round warms up
                        spent[name].append((cpu() - before) / (calls * per_call) * 1e6)
            for name, values_ in spent.items():
                print(f"- {name}: {statistics.median(values_):.1f} us")

        print("Server CPU per record, us (medians over rounds; records under a prefix no index covers):\n")
        print("Single inserts:")
        measure(singles, 100, 1)
        print("\nBatches of 100:")
        measure(batches, 2, 100)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
