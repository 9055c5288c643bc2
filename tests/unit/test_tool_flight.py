"""The tool tier's single flight when its leader fails before the tool runs (a store error under
``fail_open=False``): the callers that waited for it run the call themselves, blocking as awaiting."""

from __future__ import annotations

import threading
from typing import Any

from lix_integrations import Engine
from lix_integrations.errors import BackendError
from lix_integrations.kernel.ops import KvGet, WaitFlight
from lix_integrations.kernel.runtime import Handler
from lix_integrations.testing.fakes import FakeEmbedder
from lix_integrations.tiers.tools import ToolPolicy

POLICY = ToolPolicy(ttl=60)


def test_a_waiter_runs_the_call_itself_when_the_leader_failed_on_the_store() -> None:
    engine = Engine("memory://", embedder=FakeEmbedder(), fail_open=False)
    core = engine._core
    leader_in_lookup, waiter_waiting = threading.Event(), threading.Event()
    real_execute = core.backend.execute
    failed = []

    def execute(op: Any) -> Any:  # the leader's lookup fails once a second caller waits for it
        if isinstance(op, KvGet) and not failed:
            failed.append(op)
            leader_in_lookup.set()
            waiter_waiting.wait(5)
            raise BackendError("store down")
        return real_execute(op)

    wait = core.runtime.table[WaitFlight]

    def waiting(op: WaitFlight) -> bool:
        waiter_waiting.set()
        return bool(wait.call(op))

    core.backend.execute = execute  # type: ignore[method-assign]
    core.runtime.table[WaitFlight] = Handler(waiting, wait.acall)
    results: dict[str, Any] = {}

    def leader() -> None:
        try:
            engine.tools.call("search", {"q": 1}, lambda: "leader", policy=POLICY)
        except BackendError as exc:
            results["leader"] = exc

    def waiter() -> None:
        results["waiter"] = engine.tools.call("search", {"q": 1}, lambda: "waiter", policy=POLICY)

    first = threading.Thread(target=leader)
    first.start()
    assert leader_in_lookup.wait(5)
    second = threading.Thread(target=waiter)
    second.start()
    first.join(10)
    second.join(10)
    engine.close()
    assert isinstance(results["leader"], BackendError)
    assert results["waiter"] == "waiter"  # it was None: the flight's empty result was shared
