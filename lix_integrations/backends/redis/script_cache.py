"""Which scripts the server behind a connection has run, so that a packet never meets one it has not loaded.

Calls in one packet must run in their order: a deferred write (a lookup's use of a record) rides in front of the
next call (an insert that evicts the least recently used record). EVALSHA of a script the server has not loaded
(its first use after a server start, a failover or ``SCRIPT FLUSH``) answers NOSCRIPT while the packet's later
calls run; running it again by its text afterwards put it after them, and the record just used was the one
evicted. So a packet sends a script by its text (EVAL, which also loads it) until the server has answered a call
of it on that connection, and by its SHA after that.

What a connection has run is kept with its socket: a reconnect (a restart, a failover) starts from nothing. A
``SCRIPT FLUSH`` under live connections is seen only when a NOSCRIPT reply comes back: that packet's order is
lost once (as before), and every connection of this process starts from nothing again. On a cluster, whose
pipeline picks its connections itself, a script is loaded on every primary (``SCRIPT LOAD``) before the first
packet that uses it; a NOSCRIPT reply there starts that over too.

A call alone in its packet needs none of this (nothing runs after it): it is sent by SHA and run by its text
on NOSCRIPT, as before, and what it runs is not recorded (no cost on the path of single calls).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from redis.exceptions import NoScriptError

from .commands import Lua, Script

__all__ = ["ClusterScripts", "forget_all", "learn", "scripts_run", "unknown_scripts"]

#: Bumped whenever a server answers NOSCRIPT: what every connection (and cluster) recorded before is stale.
_generation = [0]
_NONE: frozenset[str] = frozenset()


def _link(conn: Any) -> object | None:
    """What the connection is connected through now (the sync client's socket, the async client's stream
    writer): a new object after every reconnect, ``None`` while not connected."""
    return getattr(conn, "_sock", None) or getattr(conn, "_writer", None)


def scripts_run(conn: Any) -> Collection[str]:
    """The SHAs of the scripts the server has answered on ``conn``'s current socket."""
    kept = getattr(conn, "_lix_scripts", None)
    if kept is not None and kept[1] == _generation[0] and kept[0] is _link(conn) and kept[0] is not None:
        shas: set[str] = kept[2]
        return shas
    return _NONE


def forget_all() -> None:
    _generation[0] += 1


def learn(conn: Any, sent_by_text: Sequence[tuple[int, str]], replies: Sequence[Any]) -> None:
    """After a packet: the scripts it sent by text that answered are loaded on ``conn``'s server; a NOSCRIPT
    reply means a server forgot its scripts, so no record is trusted any more."""
    if any(type(reply) is NoScriptError for reply in replies):
        forget_all()
        return
    if not sent_by_text:
        return
    link = _link(conn)
    if link is None:
        return
    kept = getattr(conn, "_lix_scripts", None)
    if kept is None or kept[0] is not link or kept[1] != _generation[0]:
        kept = (link, _generation[0], set())
        conn._lix_scripts = kept
    shas: set[str] = kept[2]
    for at, sha in sent_by_text:
        if not isinstance(replies[at], BaseException):  # BUSY, OOM...: maybe never loaded; sent by text again
            shas.add(sha)


def unknown_scripts(pending: Sequence[Lua], calls: Sequence[Any], known: Collection[str]) -> list[Script]:
    """The scripts of a packet not in ``known``, each once."""
    out: dict[str, Script] = {}
    for call in (*pending, *calls):
        if type(call) is Lua and call.script.sha not in known:
            out[call.script.sha] = call.script
    return list(out.values())


class ClusterScripts:
    """The scripts an executor has loaded on every primary of its cluster (see the module docstring)."""

    def __init__(self) -> None:
        self._kept: tuple[int, set[str]] = (_generation[0], set())

    def known(self) -> Collection[str]:
        generation, shas = self._kept
        if generation != _generation[0]:
            self._kept = (_generation[0], set())
            return _NONE
        return shas

    def loaded(self, script: Script) -> None:
        generation, shas = self._kept
        if generation == _generation[0]:
            shas.add(script.sha)
