"""How a connection's record of one kind of command chooses between polling and sleeping (`reply_wait.Waits`),
driven with made-up exchange times: it keeps to the faster way, follows a change, and gives up on polls that run
out of time. The random trials of the other way come from a seeded generator."""

from __future__ import annotations

import random

import pytest

from lix_integrations.backends.redis import reply_wait
from lix_integrations.backends.redis.reply_wait import Waits, exchanged


@pytest.fixture(autouse=True)
def seeded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reply_wait, "random", random.Random(7).random)


def _run(waits: Waits, times: dict[bool, float], count: int) -> list[bool]:
    """``count`` exchanges, each taking ``times[polled]`` for the way the record chose: the ways chosen."""
    chosen = []
    for _ in range(count):
        polled = waits.poll_now()
        waits.polling = polled
        exchanged(waits, times[polled])
        chosen.append(polled)
    return chosen


def test_a_new_record_sleeps_once_then_polls_once() -> None:
    assert _run(Waits(), {True: 25e-6, False: 60e-6}, 2) == [False, True]


@pytest.mark.parametrize(
    ("polled", "asleep", "low", "high"), [(25e-6, 60e-6, 0.9, 1.0), (40e-6, 25e-6, 0.0, 0.1)]
)
def test_it_keeps_to_the_faster_way_and_tries_the_other_now_and_then(
    polled: float, asleep: float, low: float, high: float
) -> None:
    chosen = _run(Waits(), {True: polled, False: asleep}, 2000)[2:]
    share = sum(chosen) / len(chosen)
    assert low <= share <= high, share
    assert 0 < share < 1  # the other way is still tried


def test_it_follows_a_change_of_the_faster_way() -> None:
    waits = Waits()
    assert sum(_run(waits, {True: 25e-6, False: 60e-6}, 500)[-100:]) >= 90  # polling faster (a quiet machine)
    assert sum(_run(waits, {True: 40e-6, False: 22e-6}, 300)[-100:]) <= 15  # then sleeping (cores kept awake)
    assert sum(_run(waits, {True: 25e-6, False: 60e-6}, 600)[-100:]) >= 85  # and polling again


def test_a_poll_that_runs_out_of_time_loses_until_one_is_answered() -> None:
    waits = Waits()
    _run(waits, {True: 25e-6, False: 60e-6}, 50)
    assert waits.every == 16
    waits.poll_lost()
    assert waits.polled == float("inf") and waits.every == 32 and not waits.poll_now()
    waits.poll_lost()
    assert waits.every == 64
    waits.polling = True
    exchanged(waits, 30e-6)  # one answered poll: its time alone, and polling wins again
    assert waits.polled == 30e-6 and waits.every == 16 and waits.poll_now() in (True, False)
    assert sum(_run(waits, {True: 25e-6, False: 60e-6}, 200)[-100:]) >= 90


def test_an_exchange_not_timed_changes_nothing() -> None:
    waits = Waits()
    _run(waits, {True: 25e-6, False: 60e-6}, 10)
    before = (waits.asleep, waits.polled, waits.every)
    waits.polling = None  # a wait of threads taking turns, or a poll that ran out of time (counted as lost)
    exchanged(waits, 1.0)
    assert (waits.asleep, waits.polled, waits.every) == before


def test_kinds_of_command_are_timed_apart() -> None:
    """A lookup that takes milliseconds beside an append that takes microseconds: one record for both made the
    slow kind's lost polls turn polling off for the fast one."""

    class Conn:
        pass

    conn = Conn()
    fast, slow = reply_wait.waits_of(conn, "sha-append"), reply_wait.waits_of(conn, "FT.SEARCH")
    assert fast is not slow and reply_wait.waits_of(conn, "sha-append") is fast
    for _ in range(300):
        _run(fast, {True: 25e-6, False: 60e-6}, 1)
        if slow.poll_now():
            slow.poll_lost()  # 2 ms replies: no 100 us poll hears them
        else:
            slow.polling = False
            exchanged(slow, 2e-3)
    assert sum(_run(fast, {True: 25e-6, False: 60e-6}, 100)) >= 90
    assert slow.polled == float("inf") and slow.every == 256


def test_a_call_is_timed_by_its_last_command_and_a_script_by_its_sha() -> None:
    """Deferred writes ride in front of the caller's call: the packet is the call's kind. A script sent by its
    text (once per script and connection) is not timed."""
    assert reply_wait.kind_of(("EVALSHA", "sha1", 1, "k", "v")) == "sha1"
    assert reply_wait.kind_of(("EVAL", "return 1", 0)) is None
    assert reply_wait.kind_of(("GET", "k")) == "GET"


def test_a_connection_keeps_at_most_64_kinds_dropping_the_oldest() -> None:
    class Conn:
        pass

    conn = Conn()
    first = reply_wait.waits_of(conn, "kind-0")
    kept = [reply_wait.waits_of(conn, f"kind-{i}") for i in range(1, 64)]
    assert reply_wait.waits_of(conn, "kind-1") is kept[0]
    reply_wait.waits_of(conn, "kind-64")  # a 65th: the oldest goes, the others stay
    assert reply_wait.waits_of(conn, "kind-1") is kept[0] and reply_wait.waits_of(conn, "kind-0") is not first
