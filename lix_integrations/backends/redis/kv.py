"""Key-value records on Redis: one table = one slot (``{k/<namespace>/<table>}``), every op one script.

Layout under the table's base: ``v:<key>`` one string per value, so a value with a TTL carries Redis expiry
(``PX``: its TTL on the engine's clock plus a minute of slack) and Redis frees it even if nothing ever purges;
``keys`` zset (score 0, ordered by key bytes, which for UTF-8 is code-point order, so scans come back sorted like
the embedded backends); ``lru`` zset key -> use tick; ``exp`` zset key -> expires_at; ``sz`` hash key -> value
size; ``tags`` hash key -> comma-separated tag hashes; ``t:<hash>`` set of keys carrying a tag; ``meta`` hash
(``bytes`` total, ``tick`` counter; its existence marks a table).

Reads still filter on ``expires_at`` against the engine's (injectable) clock, so an entry is never served past
its TTL while Redis's copy waits out the slack (tests run on a fake clock, and machines' clocks differ).
``KvPurgeExpired`` (the tiers run it periodically) removes expired entries from the indexes; a value Redis
expired first leaves index entries behind until then, and ``sz`` keeps the byte count right when they go.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...kernel import kv_ops as ops
from ...kernel.op import Op, bind_methods
from .commands import Lua, Plan, Scan, Script, Step, b2s, expiry_ms, num
from .keys import h, kv_base, kv_table_pattern
from .lua import script

# The scripts (lua/kv_*.lua): ``kv_remove`` defines remove() and expired(), ``kv_store`` defines store().
PUT = script("kv_put", "kv_remove", "kv_store")
#: KvPutIf: the items of KvPut after the condition (key, value, now); 1 if written.
PUT_IF = script("kv_put_if", "kv_remove", "kv_store")
GET = script("kv_get", "kv_remove")
DELETE = script("kv_delete", "kv_remove")
DELETE_WHERE = script("kv_delete_where", "kv_remove")
SCAN = script("kv_scan", "kv_remove")
EXPIRE = script("kv_expire", "kv_remove")
USAGE = script("kv_usage")
EVICT = script("kv_evict", "kv_remove")
PURGE = script("kv_purge", "kv_remove")


def _lex_range(prefix: str, after: str | None) -> tuple[bytes, bytes]:
    """ZRANGEBYLEX bounds for keys starting with ``prefix`` and greater than ``after``.

    Byte 0xFF never occurs in UTF-8, so ``prefix + 0xFF`` is above every key that starts with ``prefix``.
    """
    hi = b"+" if not prefix else b"[" + prefix.encode() + b"\xff"
    if after is not None and after >= prefix:
        return b"(" + after.encode(), hi
    return (b"-" if not prefix else b"[" + prefix.encode()), hi


class KvCommands:
    """The key-value operations of one Redis backend: each op becomes a `Step` (a script and its reply's parser)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def handlers(self) -> dict[type[Op], Callable[[Any], Plan]]:
        return bind_methods(self, ops.KV_METHODS)

    def _lua(self, script: Script, namespace: str, table: str, *args: object) -> Lua:
        base = kv_base(self.prefix, namespace, table)
        return Lua(script, (base + "meta",), (base, *args))

    def get(self, op: ops.KvGet) -> Plan:
        if not op.keys:
            return []
        call = self._lua(GET, op.namespace, op.table, num(op.now), "1" if op.touch else "0", *op.keys)
        return Step(call, lambda reply: [None if v is None else bytes(v) for v in reply])

    def put(self, op: ops.KvPut) -> Plan:
        call = self.put_call(op)
        return None if call is None else Step(call, _none)

    def put_call(self, op: ops.KvPut) -> Lua | None:
        """The one script storing ``op``'s items (the backend may defer it, see ``Deferred``)."""
        if not op.items:
            return None
        return self._lua(PUT, op.namespace, op.table, *self._items(op.now, op.items))

    @staticmethod
    def _items(now: float, items: tuple[ops.KvItem, ...]) -> list[object]:
        args: list[object] = []
        for item in items:
            exp = px = ""
            if item.expires_at is not None:
                exp, px = num(item.expires_at), str(expiry_ms(now, item.expires_at))
            args += [item.key, bytes(item.value), exp, ",".join(sorted({h(t) for t in item.tags})), px]
        return args

    def put_if(self, op: ops.KvPutIf) -> Plan:
        args = self._items(op.now, op.items)
        return Step(self._lua(PUT_IF, op.namespace, op.table, op.key, op.value, num(op.now), *args), bool)

    def delete(self, op: ops.KvDelete) -> Plan:
        if not op.keys:
            return 0
        return Step(self._lua(DELETE, op.namespace, op.table, *op.keys), int)

    def delete_where(self, op: ops.KvDeleteWhere) -> Plan:
        _, hi = _lex_range(op.prefix, None)
        tags = sorted({h(t) for t in op.tags})
        return Step(self._lua(DELETE_WHERE, op.namespace, op.table, op.prefix, hi, *tags), int)

    def scan(self, op: ops.KvScan) -> Plan:
        lo, hi = _lex_range(op.prefix, op.after)
        limit = -1 if op.limit is None else max(0, op.limit)
        if limit == 0:
            return []
        keys_only = "1" if op.keys_only else "0"
        call = self._lua(SCAN, op.namespace, op.table, num(op.now), lo, hi, limit, keys_only)
        return Step(call, lambda flat: [(b2s(flat[i]), bytes(flat[i + 1])) for i in range(0, len(flat), 2)])

    def expire(self, op: ops.KvExpire) -> Plan:
        if not op.items:
            return 0
        args: list[object] = []
        for key, expires_at in op.items:
            if expires_at is None:
                args += [key, "", ""]
            else:
                args += [key, num(expires_at), str(expiry_ms(op.now, expires_at))]
        return Step(self._lua(EXPIRE, op.namespace, op.table, num(op.now), *args), int)

    def usage(self, op: ops.KvUsage) -> Plan:
        return Step(self._lua(USAGE, op.namespace, op.table), lambda reply: (int(reply[0]), int(reply[1])))

    def evict(self, op: ops.KvEvict) -> Plan:
        max_n = -1 if op.max_entries is None else op.max_entries
        max_b = -1 if op.max_bytes is None else op.max_bytes
        if max_n < 0 and max_b < 0:
            return 0
        return Step(self._lua(EVICT, op.namespace, op.table, max_n, max_b), int)

    def purge_expired(self, op: ops.KvPurgeExpired) -> Plan:
        if op.table is not None:
            return Step(self._lua(PURGE, op.namespace, op.table, num(op.now)), int)
        now = num(op.now)

        def purge_from(meta_keys: list[str], total: int) -> Plan:
            """The tables one after the other, each one script on its own slot."""
            if not meta_keys:
                return total
            base = meta_keys[0][: -len("meta")]
            return Step(
                Lua(PURGE, (meta_keys[0],), (base, now)), lambda n: purge_from(meta_keys[1:], total + int(n))
            )

        pattern = kv_table_pattern(self.prefix, op.namespace)
        return Step(Scan(pattern), lambda found: purge_from(sorted({b2s(k) for k in found}), 0))


def _none(reply: Any) -> None:
    return None
