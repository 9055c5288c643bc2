"""Which scripts the server behind a connection has run, so that a packet never meets one it has not loaded.

Calls in one packet must run in their order: a deferred write (a lookup's use of a record) rides in front of the
next call (an insert that evicts the least recently used record). EVALSHA of a script the server has not loaded
(its first use after a server start, a failover or ``SCRIPT FLUSH``) answers NOSCRIPT while the packet's later
calls run; running it again by its text afterwards put it after them, and the record just used was the one
evicted. So a packet sends its scripts by their text (EVAL, which also loads them) unless the server has answered
a call of each on that connection, and then all by SHA (`wire.pack`): never some one way and some the other, so
that a record gone stale behind this process's back (below) makes every call answer NOSCRIPT and run again in
order, as before. Within a packet a script's later calls go by SHA once its text went first. That holds when the
server forgot all of a packet's scripts, or none: a server that forgot some only (another client loaded one
again after a flush, or Redis 7.4 evicted some scripts loaded by EVAL) can still run a packet's later call
before an earlier one answered NOSCRIPT, once, as before this module.

What a connection has run is kept with its socket: a reconnect (a restart, a failover) starts from nothing. A
NOSCRIPT reply that still comes back (``SCRIPT FLUSH`` under live connections; Redis 7.4 also evicts scripts
loaded by EVAL beyond a few hundred of them) loses that packet's order once, as before, and every connection of
this process starts from nothing again. A connection of a kind that shows no socket (none lix makes) sends by
SHA as before. On a cluster, whose pipeline picks its connections itself, a script is loaded (``SCRIPT LOAD``)
on each primary a packet's calls of it go to, before the first such packet; a primary that cannot be reached
for it gets the script by its text.

A call alone in its packet needs none of this (nothing runs after it): it is sent by SHA and run by its text
on NOSCRIPT, as before, and what it runs is not recorded (no cost on the path of single calls); its NOSCRIPT makes
every record stale like a packet's.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from redis.exceptions import NoScriptError, RedisClusterException

from .commands import Lua, Script

__all__ = ["ClusterScripts", "forget_all", "learn", "scripts_run"]

#: Bumped whenever a server answers NOSCRIPT: what every connection (and cluster) recorded before is stale.
_generation = [0]
_NONE: frozenset[str] = frozenset()
_ABSENT = object()


class _Every(Collection[str]):
    """Every script counts as run (a connection whose socket cannot be told: sent by SHA, as before). Its length
    is 0, but ``in`` is always true, so `wire.pack` never asks whether it is empty."""

    def __contains__(self, item: object) -> bool:
        return True

    def __iter__(self) -> Any:
        return iter(())

    def __len__(self) -> int:
        return 0


_EVERY = _Every()


def _link(conn: Any) -> Any:
    """What the connection is connected through now (the sync client's socket, the async client's stream
    writer): a new object after every reconnect, ``None`` while not connected, `_ABSENT` for a connection
    class that has neither."""
    sock = getattr(conn, "_sock", _ABSENT)
    return getattr(conn, "_writer", _ABSENT) if sock is _ABSENT else sock


def scripts_run(conn: Any) -> tuple[int, Collection[str]]:
    """The generation of the records now, and the SHAs of the scripts the server has answered on ``conn``'s
    current socket (to hand back to `learn`)."""
    generation = _generation[0]
    link = _link(conn)
    if link is _ABSENT:
        return generation, _EVERY
    kept = getattr(conn, "_lix_scripts", None)
    if kept is not None and kept[1] == generation and kept[0] is link and link is not None:
        return generation, kept[2]
    return generation, _NONE


def forget_all() -> None:
    """Trust no record any more (a NOSCRIPT reply; a test that flushes scripts behind this process's back)."""
    _generation[0] += 1


def learn(
    conn: Any, generation: int, sent_by_text: Sequence[tuple[int, str]], replies: Sequence[Any]
) -> None:
    """After a packet: the scripts it sent by text that answered are loaded on ``conn``'s server; a NOSCRIPT
    reply means a server forgot its scripts, so no record is trusted any more. ``generation``: `scripts_run`'s,
    read before the packet was sent (a flush seen by another thread since then makes this packet's news stale)."""
    if NoScriptError in map(type, replies):
        forget_all()
        return
    if not sent_by_text or generation != _generation[0]:
        return
    link = _link(conn)
    if link is None or link is _ABSENT:
        return
    kept = getattr(conn, "_lix_scripts", None)
    if kept is None or kept[0] is not link or kept[1] != generation:
        kept = (link, generation, set())
        conn._lix_scripts = kept
    shas: set[str] = kept[2]
    for at, sha in sent_by_text:
        if not isinstance(replies[at], BaseException):  # BUSY, OOM...: maybe never loaded; sent by text again
            shas.add(sha)


class ClusterScripts:
    """The scripts an executor has loaded on which primaries of its cluster (see the module docstring)."""

    def __init__(self) -> None:
        self._kept: tuple[int, set[tuple[str, str]]] = (_generation[0], set())

    def _loaded(self) -> set[tuple[str, str]]:
        generation, pairs = self._kept
        if generation != _generation[0]:
            pairs = set()
            self._kept = (_generation[0], pairs)
        return pairs

    def plan(
        self, client: Any, pending: Sequence[Lua], calls: Sequence[Any]
    ) -> tuple[dict[str, tuple[Script, list[Any]]], set[str]]:
        """SHA -> (its script, the primaries its calls in this packet go to that have not loaded it yet), and the
        SHAs whose primary the client cannot name yet (an asyncio cluster client learns its slots on its first
        command): those go by their text."""
        loaded = self._loaded()
        plan: dict[str, tuple[Script, list[Any]]] = {}
        unplaced: set[str] = set()
        for call in (*pending, *calls):
            if type(call) is not Lua:
                continue
            script = call.script
            entry = plan.setdefault(script.sha, (script, []))
            try:
                node = client.get_node_from_key(call.keys[0])
            except RedisClusterException:  # SlotNotCoveredError included
                unplaced.add(script.sha)
                continue
            if node is None:
                unplaced.add(script.sha)
            elif (node.name, script.sha) not in loaded and node not in entry[1]:
                entry[1].append(node)
        return plan, unplaced

    def loaded(self, node: Any, script: Script) -> None:
        self._loaded().add((node.name, script.sha))

    @staticmethod
    def known(plan: dict[str, tuple[Script, list[Any]]], failed: Collection[str]) -> set[str]:
        """The SHAs every primary of this packet has now: all but those a load failed for."""
        return {sha for sha in plan if sha not in failed}
