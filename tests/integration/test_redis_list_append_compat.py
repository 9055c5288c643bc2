"""Lists written by the earlier append script keep working with the current one, in both directions.

The script's arguments changed (2026-12-05: the list's base is read from its ``meta`` key, ``create`` and
``archived_through`` are one argument), not the layout it keeps: processes of both versions sharing a namespace
append to the same lists, and every stamp an append reports is still the one a snapshot then finds. The earlier
script's path for one value is kept here verbatim (main at e0179f4) and run as an older process would run it,
on lists made as that script made them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from redis import Redis, RedisCluster

from lix_integrations.backends import open_backend
from lix_integrations.backends.redis.backend import RedisBackend
from lix_integrations.backends.redis.keys import list_base
from lix_integrations.kernel.list_ops import ListAppend, ListRange, ListSnapshot

from .conftest import with_prefix

NS = "chat"

# The straight path of main's append script at e0179f4 (one value on a list that exists), verbatim; its other
# paths are the current script's but for where they find their arguments: ARGV = base, now, min_seq, create
# ('1'/'0'), archived_through, the value.
OLD_APPEND = """
local p = ARGV[1]
local m, sk, vk = p .. 'meta', p .. 'seqs', p .. 'vals'
local st = redis.call('HMGET', m, 'vid', 'ver', 'next', 'base')
local zc, hl = redis.call('ZCARD', sk), redis.call('HLEN', vk)
if st[3] and #ARGV == 6 and (zc > 0 or hl == 0) then
  local start, ver = tonumber(st[3]), st[2] or '0'
  local min_seq = tonumber(ARGV[3])
  if min_seq > start then start = min_seq end
  redis.call('ZADD', sk, start, start)
  redis.call('HSET', vk, start, ARGV[6])
  redis.call('HSET', m, 'next', start + 1, 'upd', ARGV[2], 'ver', ver + 1)
  return {start, zc + 1, 0, 0, st[1] or '', ver, st[3], st[4] or '', zc, hl}
end
return redis.error_reply('not on the paths these tests take')
"""


class Store:
    """The current backend and an older process's raw client on one fresh prefix."""

    def __init__(self, url: str, raw_url: str, cluster: bool) -> None:
        self.prefix = "t" + uuid.uuid4().hex[:16]
        backend = open_backend(with_prefix(url, prefix=self.prefix))
        assert isinstance(backend, RedisBackend)
        self.backend = backend
        self.raw: Redis | RedisCluster = (RedisCluster if cluster else Redis).from_url(raw_url)

    def old_made(self, key: str, value: bytes) -> None:
        """The list as the e0179f4 script made it with its first value."""
        base = list_base(self.prefix, NS, key)
        self.raw.zadd(base + "seqs", {"1": 1})
        self.raw.hset(base + "vals", "1", value)
        meta = {"next": 2, "upd": 1.0, "base": 0, "arch": 0, "vid": uuid.uuid4().int % 10**16, "ver": 1}
        self.raw.hset(base + "meta", mapping=meta)

    def old_append(self, key: str, value: bytes) -> Any:
        base = list_base(self.prefix, NS, key)
        return self.raw.eval(OLD_APPEND, 1, base + "meta", base, 1.0, 1, "1", 0, value)

    def append(self, key: str, *values: bytes, min_seq: int = 1, create: bool = True) -> Any:
        return self.backend.execute(ListAppend(NS, key, values, 2.0, min_seq, create=create))

    def stamp(self, key: str) -> str:
        return str(self.backend.execute(ListSnapshot(NS, key, "")).version)

    def unchanged(self, key: str, version: str) -> bool:
        return self.backend.execute(ListSnapshot(NS, key, version)).items is None

    def items(self, key: str) -> list[tuple[int, bytes | None]]:
        return list(self.backend.execute(ListRange(NS, key)))

    def drop(self, key: str, part: str) -> None:
        self.raw.delete(list_base(self.prefix, NS, key) + part)


@pytest.fixture(params=["plain", "valkey", "cluster"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    fixture = {"plain": "redis_plain_url", "valkey": "valkey_url", "cluster": "redis_cluster_url"}[
        request.param
    ]
    url = str(request.getfixturevalue(fixture))
    raw_url = url.replace("valkey://", "redis://").replace("redis+cluster://", "redis://")
    made = Store(url, raw_url, request.param == "cluster")
    yield made
    made.raw.close()
    made.backend.close()


def test_old_and_new_appends_interleave_on_one_list(store: Store) -> None:
    """An older process made the list and both keep appending: seqs stay consecutive, values in order, and each
    new append's stamps are the ones a snapshot finds before and after it."""
    store.old_made("s", b"1")
    store.old_append("s", b"2")
    for old_values, new_values in (((b"4",), (b"3",)), ((b"7",), (b"5", b"6")), ((b"8",), ())):
        if new_values:
            before = store.stamp("s")
            result = store.append("s", *new_values)
            assert result.previous == before and store.unchanged("s", result.version)
        start, *_ = store.old_append("s", *old_values)  # one value: the paths an older process takes
        assert start == int(old_values[0])
        if new_values:
            assert not store.unchanged("s", result.version)  # the older process's append is seen
    assert store.items("s") == [(i, str(i).encode()) for i in range(1, 9)]


def test_a_list_made_by_the_new_script_takes_old_appends(store: Store) -> None:
    made = store.append("s", b"1")
    assert made.created and store.unchanged("s", made.version)
    assert store.old_append("s", b"2")[0] == 2
    later = store.append("s", b"3")
    assert later.seqs == (3,) and later.previous != made.version and store.unchanged("s", later.version)
    assert store.items("s") == [(1, b"1"), (2, b"2"), (3, b"3")]


def test_a_seq_above_next_takes_the_general_path_with_the_same_stamps(store: Store) -> None:
    """``min_seq`` past the list's ``next`` (a session whose archive runs ahead of it) leaves the straight path;
    the seq and the stamps are the same as ever, and the next append is straight again."""
    store.old_made("s", b"1")
    before = store.stamp("s")
    jumped = store.append("s", b"10", min_seq=10)
    assert jumped.seqs == (10,) and jumped.length == 2 and jumped.previous == before
    assert store.unchanged("s", jumped.version)
    after = store.append("s", b"11", min_seq=10)
    assert after.seqs == (11,) and after.previous == jumped.version and store.unchanged("s", after.version)


@pytest.mark.parametrize("part", ["seqs", "vals", "meta"])
def test_each_key_lost_from_an_old_list_is_handled_by_the_next_append(store: Store, part: str) -> None:
    """Redis drops a key of a list an older process wrote (eviction): the next append by the current script
    heals a lost seq index, reports a changed stamp and the lost values after a lost values key, and after a
    lost status continues after the seqs still held, only when asked to create."""
    store.old_made("s", b"1")
    store.old_append("s", b"2")
    store.old_append("s", b"3")
    before = store.stamp("s")
    store.drop("s", part)
    if part == "meta":
        assert store.append("s", b"4", create=False).missing
    result = store.append("s", b"4")
    assert result.seqs == (4,) and store.unchanged("s", result.version)
    # A healed seq index lost nothing: the stamp before the append is the one read before the loss.
    assert (result.previous == before) == (part == "seqs")
    if part == "meta":
        assert result.created and result.recovered == 3
    lost = part == "vals"
    assert store.items("s") == [
        (1, None if lost else b"1"),
        (2, None if lost else b"2"),
        (3, None if lost else b"3"),
        (4, b"4"),
    ]
