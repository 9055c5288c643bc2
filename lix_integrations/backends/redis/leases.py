"""Leases on Redis: ``SET key token NX PX ttl`` to take one, a compare-and-delete script to give it back.

The key sits in the namespace's semantic slot (``{s/<namespace>}``), next to the exact-key index, so taking a
lease and reading the record it guards travel in one pipeline, on a Cluster too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...kernel.op import Op
from ...kernel.semantic_ops import LeaseAcquire, LeaseRelease
from .commands import Cmd, Lua, Plan, Script, Step
from .keys import h, sem_base

__all__ = ["LeaseCommands"]

RELEASE = Script(
    "lease_release",
    """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
""",
)


class LeaseCommands:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def handlers(self) -> dict[type[Op], Callable[[Any], Plan]]:
        return {LeaseAcquire: self.acquire, LeaseRelease: self.release}

    def _key(self, namespace: str, key: str) -> str:
        return sem_base(self.prefix, namespace) + "lease:" + h(key)

    def acquire(self, op: LeaseAcquire) -> Plan:
        ms = max(1, int(op.ttl * 1000))
        key = self._key(op.namespace, op.key)
        # A holder renewing its own lease: SET ... NX fails, so check the token and extend.
        renew = Step(Lua(RENEW, (key,), (op.token, ms)), bool)
        return Step(Cmd(("SET", key, op.token, "NX", "PX", ms)), lambda taken: True if taken else renew)

    def release(self, op: LeaseRelease) -> Plan:
        return Step(Lua(RELEASE, (self._key(op.namespace, op.key),), (op.token,)), bool)


RENEW = Script(
    "lease_renew",
    """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
""",
)
