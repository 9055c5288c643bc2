"""Session archive locks: one session at a time in a process, and sessions sharing a lock file's stripe locked
at once by one process (they share its ``flock``), while another open file of the stripe (as another process
has) waits until the last of them is unlocked."""

from __future__ import annotations

from pathlib import Path

from lix_integrations.archive.store import SessionArchive, archive_name


def _same_stripe(count: int) -> list[str]:
    first = "session-0"
    stripe = SessionArchive._stripe(archive_name(first))
    found = [first]
    n = 1
    while len(found) < count:
        candidate = f"session-{n}"
        if SessionArchive._stripe(archive_name(candidate)) == stripe:
            found.append(candidate)
        n += 1
    return found


def test_sessions_of_one_stripe_lock_at_once_in_a_process_and_exclude_other_holders(tmp_path: Path) -> None:
    one, two, three = _same_stripe(3)
    ours = SessionArchive(tmp_path)
    other = SessionArchive(tmp_path)  # its own open file of the stripe, as another process's
    assert ours.try_lock(one)
    assert not ours.try_lock(one)  # a session is held once
    assert ours.try_lock(two)  # another session of the stripe does not wait for the first
    assert not other.try_lock(three)
    ours.unlock(one)
    assert not other.try_lock(three)  # the stripe's flock stays while a session of ours holds it
    ours.unlock(two)
    assert ours._lock_fds == {}  # the last one closed the descriptor
    assert other.try_lock(three)
    assert not ours.try_lock(one)
    other.unlock(three)
    assert ours.try_lock(one)
    ours.unlock(one)


def test_close_lets_go_of_the_locks_still_held(tmp_path: Path) -> None:
    one, two = _same_stripe(2)
    ours = SessionArchive(tmp_path)
    assert ours.try_lock(one) and ours.try_lock(two)
    ours.close()
    other = SessionArchive(tmp_path)
    assert other.try_lock(one)
    other.unlock(one)
