"""The Redis circuit breaker, the outage log and the timeout URL options, on a fake clock (no server)."""

from __future__ import annotations

import logging

import pytest
from redis.exceptions import AuthenticationError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from lix_integrations.backends.redis import parse_redis_url
from lix_integrations.backends.redis.breaker import CHEAP_COOLDOWN, SLOW_COOLDOWN, Breaker, is_outage
from lix_integrations.backends.redis.clients import client_kwargs
from lix_integrations.errors import BackendError, ConfigError
from lix_integrations.kernel.outage import OutageLog


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_timeout_opens_the_breaker_and_one_probe_goes_per_cool_down() -> None:
    clock = Clock()
    breaker = Breaker("redis://h:1/0", clock)
    assert breaker.enter() is False  # closed: go ahead
    assert breaker.failed(False, 2.0, RedisTimeoutError("Timeout reading from socket")) is True
    with pytest.raises(BackendError, match="redis://h:1/0 is unavailable .*Timeout reading") as info:
        breaker.enter()
    assert info.value.unavailable
    # the other callers that were in flight when it opened time out too: the same outage, no extra back-off
    assert breaker.failed(False, 2.0, RedisTimeoutError("t")) is False
    assert breaker.cooldown() == pytest.approx(SLOW_COOLDOWN[0])

    clock.now += SLOW_COOLDOWN[0]
    assert breaker.enter() is True  # half-open: this caller is the probe ...
    with pytest.raises(BackendError, match="probe is in flight"):
        breaker.enter()  # ... and everyone else still fails at once
    breaker.failed(True, 2.0, RedisTimeoutError("t"))
    assert breaker.cooldown() == pytest.approx(2 * SLOW_COOLDOWN[0])  # backing off

    for _ in range(10):  # a long stall: the cool-down doubles up to its cap
        clock.now += breaker.cooldown()
        assert breaker.enter() is True
        breaker.failed(True, 2.0, RedisTimeoutError("t"))
    assert breaker.cooldown() == pytest.approx(SLOW_COOLDOWN[1])

    clock.now += breaker.cooldown()
    assert breaker.enter() is True
    assert breaker.succeeded(True) is True  # the probe got through: closed
    assert breaker.enter() is False
    assert not breaker.is_open


def test_refused_connections_keep_the_cool_down_short() -> None:
    clock = Clock()
    breaker = Breaker("redis://h:1/0", clock)
    breaker.failed(False, 0.001, RedisConnectionError("Connection refused"))
    assert breaker.cooldown() == pytest.approx(CHEAP_COOLDOWN[0])
    for _ in range(20):
        clock.now += breaker.cooldown()
        assert breaker.enter() is True
        breaker.failed(True, 0.001, RedisConnectionError("Connection refused"))
    assert breaker.cooldown() == pytest.approx(
        CHEAP_COOLDOWN[1]
    )  # back on Redis within 0.2 s of it answering


def test_a_refused_connection_that_took_long_keeps_the_cool_down_short() -> None:
    # redis-py retries a refused connect itself, and a loaded machine stretches any call: the attempt can take
    # longer than CHEAP_SECONDS. It was counted slow, so a short restart backed callers off for up to 5 s after
    # the server answered (tests/reliability/test_redis_faults.py failed 2 runs in 8).
    clock = Clock()
    breaker = Breaker("redis://h:1/0", clock)
    refused = RedisConnectionError("Error 111 connecting to h:1. Connection refused.")
    breaker.failed(False, 1.0, refused)
    assert breaker.cooldown() == pytest.approx(CHEAP_COOLDOWN[0])
    for _ in range(20):
        clock.now += breaker.cooldown()
        assert breaker.enter() is True
        breaker.failed(True, 1.0, refused)
    assert breaker.cooldown() == pytest.approx(CHEAP_COOLDOWN[1])
    wrapped = BackendError("x")
    wrapped.__cause__ = RedisTimeoutError("Timeout reading from socket")
    other = Breaker("redis://h:1/0", clock)
    other.failed(False, 1.0, wrapped)  # a timeout, however wrapped, is still slow
    assert other.cooldown() == pytest.approx(SLOW_COOLDOWN[0])


def test_a_probe_that_ends_without_a_verdict_lets_another_caller_probe() -> None:
    clock = Clock()
    breaker = Breaker("redis://h:1/0", clock)
    breaker.failed(False, 0.001, RedisConnectionError("refused"))
    clock.now += 1
    assert breaker.enter() is True
    breaker.released(True)  # cancelled, or an error of ours
    assert breaker.enter() is True


def test_what_counts_as_an_outage() -> None:
    assert is_outage(RedisTimeoutError("t"))
    assert is_outage(RedisConnectionError("refused"))
    assert is_outage(ConnectionResetError())
    wrapped = BackendError("x")
    wrapped.__cause__ = RedisTimeoutError("t")
    assert is_outage(wrapped)
    assert is_outage(BackendError("breaker open", unavailable=True))
    assert not is_outage(ResponseError("WRONGTYPE"))  # the server answered
    assert not is_outage(AuthenticationError("invalid password"))
    assert not is_outage(BackendError("x"))


def test_outage_log_warns_once_and_reports_recovery_once(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    log = OutageLog("redis://h:1/0", quiet=1.0, clock=clock)
    caplog.set_level(logging.INFO, logger="lix_integrations")
    for _ in range(50):  # lookups failing while updates succeed: the flapping of issue 14, defect 2
        log.failed(BackendError("no such index"))
        clock.now += 0.01
        log.ok()
        clock.now += 0.01
    clock.now += 1.0
    log.ok()
    log.ok()
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in messages] == [logging.WARNING, logging.INFO]
    assert "failed; serving misses" in messages[0][1] and "recovered" in messages[1][1]


def test_timeout_options_are_parsed_with_defaults() -> None:
    default = parse_redis_url("redis://h:1/0")
    assert (default.socket_timeout, default.connect_timeout) == (2.0, 2.0)
    tuned = parse_redis_url("redis://h:1/0?socket_timeout=0.25&socket_connect_timeout=none&db=0")
    assert (tuned.socket_timeout, tuned.connect_timeout) == (0.25, None)
    assert "timeout" not in tuned.client_url
    kwargs = client_kwargs(tuned)
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (0.25, None)
    assert kwargs["retry"].get_retries() == 0
    assert client_kwargs(parse_redis_url("redis+cluster://h:1"))["retry"].get_retries() == 0


@pytest.mark.parametrize(
    "query", ["socket_timeout=0", "socket_timeout=-1", "socket_timeout=soon", "socket_connect_timeout=nan"]
)
def test_bad_timeouts_are_config_errors(query: str) -> None:
    with pytest.raises(ConfigError, match=query.split("=")[0]):
        parse_redis_url(f"redis://h:1/0?{query}")
