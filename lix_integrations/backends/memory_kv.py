"""Key-value records for the in-process backend (embedding, tool and framework key-value tiers)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..kernel import kv_ops
from ..kernel.op import Op, bind_methods

__all__ = ["MemoryKv"]


@dataclass(slots=True)
class _Record:
    value: bytes
    expires_at: float | None
    tags: tuple[str, ...]


class _Table:
    """Records in least- to most-recently-used order, with a tag index for group deletes."""

    def __init__(self) -> None:
        self.records: OrderedDict[str, _Record] = OrderedDict()
        self.by_tag: dict[str, set[str]] = {}
        self.bytes = 0

    def remove(self, key: str) -> bool:
        record = self.records.pop(key, None)
        if record is None:
            return False
        self.bytes -= len(record.value)
        for tag in record.tags:
            keys = self.by_tag.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self.by_tag[tag]
        return True

    def put(self, key: str, record: _Record) -> None:
        self.remove(key)
        self.records[key] = record
        self.bytes += len(record.value)
        for tag in record.tags:
            self.by_tag.setdefault(tag, set()).add(key)


def _live(record: _Record, now: float) -> bool:
    return record.expires_at is None or record.expires_at > now


class MemoryKv:
    """The KV handlers; the owning backend holds the lock around every call."""

    def __init__(self) -> None:
        self._tables: dict[tuple[str, str], _Table] = {}

    def _table(self, namespace: str, table: str) -> _Table:
        found = self._tables.get((namespace, table))
        if found is None:
            found = self._tables[(namespace, table)] = _Table()
        return found

    def handlers(self) -> dict[type[Op], Callable[[Any], Any]]:
        return bind_methods(self, kv_ops.KV_METHODS)

    def get(self, op: kv_ops.KvGet) -> list[bytes | None]:
        table = self._table(op.namespace, op.table)
        out: list[bytes | None] = []
        for key in op.keys:
            record = table.records.get(key)
            if record is None or not _live(record, op.now):
                out.append(None)
                continue
            if op.touch:
                table.records.move_to_end(key)
            out.append(record.value)
        return out

    def put(self, op: kv_ops.KvWrite[object]) -> None:
        table = self._table(op.namespace, op.table)
        for item in op.items:
            table.put(item.key, _Record(bytes(item.value), item.expires_at, tuple(item.tags)))

    def put_if(self, op: kv_ops.KvPutIf) -> bool:
        (held,) = self.get(kv_ops.KvGet(op.namespace, op.table, (op.key,), op.now, touch=False))
        if held != op.value:
            return False
        self.put(op)
        return True

    def expire(self, op: kv_ops.KvExpire) -> int:
        table = self._table(op.namespace, op.table)
        changed = 0
        for key, expires_at in op.items:
            record = table.records.get(key)
            if record is not None and _live(record, op.now):
                record.expires_at = expires_at
                changed += 1
        return changed

    def delete(self, op: kv_ops.KvDelete) -> int:
        table = self._table(op.namespace, op.table)
        return sum(table.remove(key) for key in op.keys)

    def delete_where(self, op: kv_ops.KvDeleteWhere) -> int:
        table = self._table(op.namespace, op.table)
        if op.tags:
            candidates = set(table.by_tag.get(op.tags[0], set()))
            for tag in op.tags[1:]:
                candidates &= table.by_tag.get(tag, set())
        else:
            candidates = set(table.records)
        doomed = [key for key in candidates if key.startswith(op.prefix)]
        return sum(table.remove(key) for key in doomed)

    def scan(self, op: kv_ops.KvScan) -> list[tuple[str, bytes]]:
        table = self._table(op.namespace, op.table)
        keys = sorted(
            key
            for key, record in table.records.items()
            if key.startswith(op.prefix) and _live(record, op.now) and (op.after is None or key > op.after)
        )
        if op.limit is not None:
            keys = keys[: op.limit]
        return [(key, b"" if op.keys_only else table.records[key].value) for key in keys]

    def usage(self, op: kv_ops.KvUsage) -> tuple[int, int]:
        table = self._table(op.namespace, op.table)
        return len(table.records), table.bytes

    def evict(self, op: kv_ops.KvEvict) -> int:
        table = self._table(op.namespace, op.table)
        evicted = 0
        while table.records and (
            (op.max_entries is not None and len(table.records) > op.max_entries)
            or (op.max_bytes is not None and table.bytes > op.max_bytes)
        ):
            table.remove(next(iter(table.records)))
            evicted += 1
        return evicted

    def purge_expired(self, op: kv_ops.KvPurgeExpired) -> int:
        removed = 0
        for (namespace, name), table in self._tables.items():
            if namespace != op.namespace or (op.table is not None and name != op.table):
                continue
            doomed = [key for key, record in table.records.items() if not _live(record, op.now)]
            removed += sum(table.remove(key) for key in doomed)
        return removed
