"""How a blocking call waits for the first bytes of its reply: asleep in the socket's read, or polling the socket
first (URL option ``busy_poll_us``), whichever has been making that connection's exchanges faster.

Why both: a thread that sleeps until the reply comes is woken by the scheduler, and what that costs depends on
the machine's state, which changes under a process (a shared host's load). Measured 2026-12-05 on the shared
2-core machine, one kept plain-Redis connection, RPUSH: one hour a sleeping round trip took 59-75 us and a polled
one 24-36 us (a sleeping process's core idles, and waking it is slow); another, 21-23 us asleep and 27-33 polled
(the cores awake anyway, a polling client taking CPU from the server). A fixed choice loses in one state or the
other, so each connection times its exchanges both ways and keeps to the faster, trying the other now and then:
with it, one thread's LlamaIndex chat adds ran 1.31x as fast as sleeping on the quiet machine and 1.04x with two
more processes spinning (benchmarks/redis_poll.py, medians of 5).

What it costs is bounded: a poll lasts at most ``busy_poll_us``; it is tried only for the first wait of an
exchange (the rest of a large reply is read as usual); a connection that sleeps tries a poll every 16th wait, and
half as often after each poll that loses (down to every 256th: a server farther away than a poll lasts costs one
poll in 256 waits); a poll that loses the CPU or the GIL between two tries stops there, and is timed as a poll;
and no thread polls for 5 ms after threads of the process took turns waiting (each try of a poll gives the GIL up
and would wake another thread that wants it, on the core the server needs: with 4 threads, polling unless the last
wait was another thread's within 1 ms ran at 0.84x the throughput of sleeping; with this rule 0.98x, where the
same engine with polls turned off measured 0.99x: 8 alternations, 2026-12-05, scratch harness).
"""

from __future__ import annotations

import errno
import os
from threading import get_ident
from time import perf_counter as _clock
from typing import Any

__all__ = ["exchanged", "first_read", "pollable"]

_readv: Any = getattr(os, "readv", None)  # posix only, like the descriptors it reads
#: A try of a poll that took longer than this (seconds) lost the CPU or the GIL to someone else: the poll stops.
_GAP = 20e-6
#: Polling is kept while its mean wait is below this share of the sleeping one's: a poll spends CPU, so a tie goes
#: to sleeping.
_MARGIN = 0.85
#: Waits between two tries of the way not in use: polls every `_EXPLORE` waits at first, doubling up to
#: `_EXPLORE_MAX` while they keep losing; sleeps every `_EXPLORE` waits while polling wins.
_EXPLORE = 16
_EXPLORE_MAX = 256
#: Errors of ``readv`` that say the socket is no descriptor it takes (the socket's own read then works).
_NOT_READV = frozenset({errno.EBADF, errno.ENOTSOCK, errno.EINVAL})
#: The thread that last waited, and when a wait was last another thread's than the one before it.
_last_thread = 0
_last_switch = -1.0
_SHARED = 5e-3


class _Waits:
    """A connection's mean first-byte wait asleep and polled (seconds; 0.0 until measured, and polled infinite
    after a poll the reply did not come within), and when to try the way not in use."""

    __slots__ = ("asleep", "count", "every", "polled", "way")

    def __init__(self) -> None:
        self.asleep = 0.0
        self.polled = 0.0
        self.count = 0
        self.every = _EXPLORE
        self.way: str | None = None  # how the exchange under way waited: _ASLEEP, _POLLED, _LOST

    def poll_now(self) -> bool:
        self.count += 1
        if not self.asleep:
            return False  # both ways measured once, sleeping first
        if not self.polled:
            return True
        polling = self.polled < self.asleep * _MARGIN
        return polling != (self.count % (_EXPLORE if polling else self.every) == 0)

    def slept(self, seconds: float) -> None:
        self.asleep = seconds if not self.asleep else self.asleep + (seconds - self.asleep) / 8

    def poll_answered(self, seconds: float) -> None:
        """A poll's time to the reply (alone after a lost poll: their times are not comparable)."""
        before = self.polled
        self.polled = seconds if not before or before == _LOST_TIME else before + (seconds - before) / 8
        if self.polled < self.asleep * _MARGIN:
            self.every = _EXPLORE
        elif before and before != _LOST_TIME:
            self.every = min(self.every * 2, _EXPLORE_MAX)

    def poll_lost(self) -> None:
        """A poll gave up (the reply was later than it lasts, or it lost the CPU): polling loses outright, and
        is tried half as often. Comparing times instead, a reply milliseconds away made the two ways a coin toss
        (a poll is worth at most the scheduler's wake-up, tens of microseconds)."""
        self.polled = _LOST_TIME
        self.every = min(self.every * 2, _EXPLORE_MAX)


_LOST_TIME = float("inf")
_ASLEEP, _POLLED, _LOST = "asleep", "polled", "lost"


def pollable(sock: Any) -> bool:
    """Whether ``sock`` can be polled: a standard-library socket (not gevent's or eventlet's, whose spin would hold
    up their other tasks) with a timeout (non-blocking underneath: ``readv`` of a blocking one would sleep), on a
    platform with ``os.readv``."""
    return _readv is not None and type(sock).__module__ == "socket" and sock.gettimeout() is not None


def first_read(conn: Any, sock: Any, buffer: Any, seconds: float) -> int:
    """The first bytes of ``conn``'s reply read into ``buffer`` (0 at the end of the stream): polled for up to
    ``seconds``, or slept for, as the connection's waits say (see the module docstring). `exchanged` then gives
    the exchange's time, which counts for the way taken."""
    global _last_thread, _last_switch
    began = _clock()
    me = get_ident()
    if me != _last_thread:
        if _last_thread:  # the process's first wait is no turn taken
            _last_switch = began
        _last_thread = me
    waits: _Waits | None = conn.__dict__.get("_lix_waits")
    if waits is None:
        waits = conn.__dict__["_lix_waits"] = _Waits()
    if began - _last_switch < _SHARED or not waits.poll_now() or not pollable(sock):
        waits.way = _ASLEEP
        return sock.recv_into(buffer)  # type: ignore[no-any-return]
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
            # busy machine makes polling lose by its times (a lone interruption, 2% of polls here, does not).
            waits.way = _POLLED
            return sock.recv_into(buffer)  # type: ignore[no-any-return]
        except OSError as exc:
            if exc.errno not in _NOT_READV:
                raise
            break  # no descriptor readv takes: read as usual, and tried ever less often
        waits.way = _POLLED
        return size
    waits.way = _LOST
    return sock.recv_into(buffer)  # type: ignore[no-any-return]


def exchanged(conn: Any, seconds: float) -> None:
    """``conn``'s exchange took ``seconds`` from its write to its last reply: counted for the way its first wait
    took (the whole exchange, not the wait alone: how a wait is spent can slow what follows it)."""
    waits: _Waits | None = conn.__dict__.get("_lix_waits")
    if waits is None:
        return
    way, waits.way = waits.way, None
    if way is _ASLEEP:
        waits.slept(seconds)
    elif way is _POLLED:
        waits.poll_answered(seconds)
    elif way is _LOST:
        waits.poll_lost()
