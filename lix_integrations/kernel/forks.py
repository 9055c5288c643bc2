"""This process's id, renewed in a forked child by the fork itself.

An engine made before a server forks its workers (gunicorn ``--preload``, Celery's prefork pool, multiprocessing's
default start method on Linux) is inherited by every child: each part that holds something a child must not share
(a connection, a worker thread's work, a lock file) compares the id it was made under with `pid` and lets the
parent's go. ``os.getpid()`` is a system call, a few percent of a sync call on the paths that check (2026-12-04,
py-spy on a loop of chat appends); reading `pid` is not. ``os.fork()`` from Python runs the hook below (``os.fork``,
multiprocessing, gunicorn and Celery all fork that way).
"""

from __future__ import annotations

import os

__all__ = ["pid"]

#: The id of this process (read as ``forks.pid``: a module attribute, renewed after a fork).
pid = os.getpid()


def _forked() -> None:
    global pid
    pid = os.getpid()


if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=_forked)
