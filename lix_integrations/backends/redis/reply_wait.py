"""How a blocking call waits for the first bytes of its reply: asleep in the socket's read, or polling the socket
first (URL option ``busy_poll_us``), whichever has been making that connection's exchanges faster.

Why both: a thread that sleeps until the reply comes is woken by the scheduler, and what that costs depends on
the machine's state, which changes under a process (a shared host's load). Measured 2026-12-05 on the shared
2-core machine, one kept plain-Redis connection, RPUSH: one hour a sleeping round trip took 59-75 us and a polled
one 24-36 us (a sleeping process's core idles, and waking it is slow); another, 21-23 us asleep and 27-33 polled
(the cores awake anyway, a polling client taking CPU from the server). A fixed choice loses in one state or the
other, so each connection times its exchanges both ways, per kind of call (the packet's last command, or its
script: an append script and a vector search differ by milliseconds), and keeps to the faster way, trying the
other now and then at random waits: with it, one thread's LlamaIndex chat adds ran 1.25x as fast as sleeping with
the machine as it was and 1.14x with every core kept awake by low-priority spinners (2026-12-05 13:05 UTC,
7ad25bf, benchmarks/redis_poll.py, medians of 5).

What it costs is bounded: a poll lasts at most ``busy_poll_us``; it is tried only for the first wait of an
exchange (the rest of a large reply is read as usual); a kind that sleeps tries a poll at one wait in 16, half as
often after each poll that runs out of time or is answered but still the slower way (down to one in 256: a
server farther away than a poll lasts costs one poll in 256 waits); a poll that loses the CPU or the GIL between
two tries stops there, and is timed as a poll (as a lost one if the reply came after the poll would have ended);
and no thread polls for 5 ms after threads of the process took turns waiting (each try of a poll gives the GIL up
and would wake another thread that wants it, on the core the server needs: with 4 threads, polling unless the last
wait was another thread's within 1 ms ran at 0.84x the throughput of sleeping; with this rule 0.98x, where the
same engine with polls turned off measured 0.99x: 8 alternations, 2026-12-05, scratch harness). The rule also
keeps a thread pool that hands one call at a time to different threads (a threaded web server) from polling
for 5 ms after each change of thread.
"""

from __future__ import annotations

import errno
import os
from random import random
from threading import get_ident
from time import perf_counter as _clock
from typing import Any

__all__ = ["exchanged", "first_read", "pollable"]

_readv: Any = getattr(os, "readv", None)  # posix only, like the descriptors it reads
#: A try of a poll that took longer than this (seconds) lost the CPU or the GIL to someone else: the poll stops.
_GAP = 20e-6
#: Polling is kept while its mean exchange is below this share of the sleeping one's: a poll spends CPU, so a
#: tie goes to sleeping.
_MARGIN = 0.85
#: One wait in `_EXPLORE` tries the way not in use (at random: a fixed period met the same command of a repeated
#: sequence every time); polls one wait in up to `_EXPLORE_MAX` while they keep running out of time.
_EXPLORE = 16
_EXPLORE_MAX = 256
#: Kinds of command timed per connection, at most (then forgotten and measured again).
_KINDS = 64
#: Errors of ``readv`` that say the socket is no descriptor it takes (the socket's own read then works).
_NOT_READV = frozenset({errno.EBADF, errno.ENOTSOCK, errno.EINVAL})
#: The thread that last waited, and when a wait was last another thread's than the one before it.
_last_thread = 0
_last_switch = -1.0
_SHARED = 5e-3
_LOST = float("inf")


class Waits:
    """One kind of command's mean exchange time on a connection, asleep and polled (seconds; 0.0 until measured;
    polled infinite after a poll the reply came later than), when to try the way not in use, and how the exchange
    under way waited (True polled, False slept, ``None`` not to be timed)."""

    __slots__ = ("asleep", "every", "polled", "polling")

    def __init__(self) -> None:
        self.asleep = 0.0
        self.polled = 0.0
        self.every = _EXPLORE
        self.polling: bool | None = None

    def poll_now(self) -> bool:
        if not self.asleep:
            return False  # both ways measured once, sleeping first
        if not self.polled:
            return True
        polling = self.polled < self.asleep * _MARGIN
        return polling != (random() * (_EXPLORE if polling else self.every) < 1.0)

    def slept(self, seconds: float) -> None:
        self.asleep = seconds if not self.asleep else self.asleep + (seconds - self.asleep) / 8

    def poll_answered(self, seconds: float) -> None:
        """A poll's exchange time (alone after a lost poll: their times are not comparable)."""
        before = self.polled
        self.polled = seconds if not before or before == _LOST else before + (seconds - before) / 8
        if self.polled < self.asleep * _MARGIN:
            self.every = _EXPLORE
        elif before and before != _LOST:
            self.every = min(self.every * 2, _EXPLORE_MAX)

    def poll_lost(self) -> None:
        """A poll ran out of time (the reply was later than it lasts): polling loses outright, and is tried half
        as often. Comparing times instead, a reply milliseconds away made the two ways a coin toss (a poll is
        worth at most the scheduler's wake-up, tens of microseconds)."""
        self.polled = _LOST
        self.every = min(self.every * 2, _EXPLORE_MAX)


def pollable(sock: Any) -> bool:
    """Whether ``sock`` can be polled: a standard-library socket (not gevent's or eventlet's, whose spin would hold
    up their other tasks) with a timeout (non-blocking underneath: ``readv`` of a blocking one would sleep), on a
    platform with ``os.readv``."""
    return _readv is not None and type(sock).__module__ == "socket" and sock.gettimeout() is not None


def kind_of(cmd: tuple[Any, ...]) -> Any:
    """What an exchange whose last command is ``cmd`` is timed under (the caller's call: deferred writes ride in
    front of it): the command's name, or the script's SHA for ``EVALSHA``; ``None`` (not timed, never polled) for
    a script sent by its text, which happens once per script and connection."""
    name = cmd[0]
    if name == "EVALSHA":
        return cmd[1]
    return None if name == "EVAL" else name


def waits_of(conn: Any, kind: Any) -> Waits:
    """``conn``'s record of ``kind`` (made on first use; a connection keeps at most `_KINDS`)."""
    table: dict[Any, Waits] | None = conn.__dict__.get("_lix_waits")
    if table is None:
        table = conn.__dict__["_lix_waits"] = {}
    waits = table.get(kind)
    if waits is None:
        if len(table) >= _KINDS:
            del table[next(iter(table))]  # the kind timed first
        waits = table[kind] = Waits()
    return waits


def first_read(sock: Any, buffer: Any, seconds: float, waits: Waits) -> int:
    """The first bytes of a reply read from ``sock`` into ``buffer`` (0 at the end of the stream): polled for up
    to ``seconds``, or slept for, as ``waits`` (the exchange's kind on its connection, `waits_of`) says.
    `exchanged` then gives the exchange's time, which counts for the way taken."""
    global _last_thread, _last_switch
    began = _clock()
    me = get_ident()
    if me != _last_thread:
        if _last_thread:  # the process's first wait is no turn taken
            _last_switch = began
        _last_thread = me
    if began - _last_switch < _SHARED:
        waits.polling = None  # not timed: threads taking turns wait longer for the GIL than for the server
        return sock.recv_into(buffer)  # type: ignore[no-any-return]
    if not waits.poll_now() or not pollable(sock):
        waits.polling = False
        return sock.recv_into(buffer)  # type: ignore[no-any-return]
    waits.polling = True
    fd = sock.fileno()
    give_up = began + seconds
    last = began
    tried = False
    while True:
        try:
            size: int = _readv(fd, (buffer,))
        except BlockingIOError:
            now = _clock()
            if now >= give_up:  # the reply is later than a poll lasts
                break
            # The first try is not timed: on loopback it may carry the kernel's delivery of the packet just
            # written (the sender's system calls do it).
            if now - last < _GAP or not tried:
                last, tried = now, True
                continue
            # Interrupted (another thread or process had the CPU): finished asleep, and timed as a poll, so a
            # busy machine makes polling lose by its times (a lone interruption, 2% of polls here, does not);
            # unless the reply came after the poll would have ended: then the poll lost, as one that ran out.
            size = sock.recv_into(buffer)
            if _clock() >= give_up:
                waits.polling = None
                waits.poll_lost()
            return size
        except OSError as exc:
            if exc.errno not in _NOT_READV:
                raise
            break  # no descriptor readv takes: read as usual, and tried ever less often
        return size
    waits.polling = None
    waits.poll_lost()
    return sock.recv_into(buffer)  # type: ignore[no-any-return]


def exchanged(waits: Waits, seconds: float) -> None:
    """The exchange took ``seconds`` from its write to its last reply: counted for the way its first wait took
    (the whole exchange, not the wait alone: how a wait is spent can slow what follows it)."""
    polling, waits.polling = waits.polling, None
    if polling:
        waits.poll_answered(seconds)
    elif polling is not None:
        waits.slept(seconds)
