"""Ops: the vocabulary tiers speak and the runtime carries out.

A tier never calls a backend or a model. It yields these small frozen objects from a flow (see `flows`)
and receives each result back; the engine's `runtime.Runtime` looks the op's type up in its handler
table and carries it out. That keeps policy (keys, TTL, what counts as a hit) in the tiers and I/O in the
backends, and lets one flow run both sync and async. Each op names its result type:
``class KvGet(Op[list[bytes | None]])``, and ``values = yield from KvGet(...)`` is typed by mypy.

Storage ops live by domain in `semantic_ops`, `kv_ops` and `list_ops` (a backend carries out
all of `STORAGE_OPS`); the ops below are carried out by the runtime itself (the model, local work, waits).
Every op is importable from here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from . import kv_ops, list_ops, semantic_ops
from .kv_ops import *  # noqa: F403  (every op is importable from here)
from .list_ops import *  # noqa: F403
from .op import Op, Vector
from .semantic_ops import *  # noqa: F403

__all__ = [
    *kv_ops.__all__,
    *list_ops.__all__,
    *semantic_ops.__all__,
    "Call",
    "Compute",
    "Deferred",
    "Embed",
    "EmbedBatch",
    "EmbedMany",
    "Gather",
    "LoadModel",
    "Op",
    "RunLocal",
    "STORAGE_OPS",
    "Sleep",
    "Vector",
    "Verify",
    "WaitFlight",
    "WithPromptVector",
]


@dataclass(frozen=True, slots=True)
class Embed(Op[Vector]):
    """Embed one text with the engine's embedder. Result: unit-length ``Vector``.

    Handled by the engine's driver, not by a backend, so a flow can skip the embedding entirely (exact hits).
    ``use_store=False`` keeps the vector in memory only: for an embedder cheaper than a store round trip.
    """

    text: str
    use_store: bool = True


@dataclass(frozen=True, slots=True)
class EmbedMany(Op[list[Vector]]):
    """`Embed` for several texts at once: one read of the store and one model call for those it lacks.
    Result: ``list[Vector]``, in order. Handled by the engine's driver (``update_many``)."""

    texts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WithPromptVector(Op[Any]):
    """Run ``op`` and, in the same round trip where the store can, load ``text``'s stored prompt vector.

    Handled by the engine's driver. A lookup must check the exact key before embedding (an exact hit needs no
    embedding), yet on a networked store each step is a round trip: this lets the exact check and the read of
    an already stored prompt vector share one, so the ``Embed`` that may follow needs no I/O. Result: ``op``'s.
    """

    op: Op
    text: str


@dataclass(frozen=True, slots=True)
class Gather(Op[list[Any]]):
    """Independent storage operations a backend may send together. Result: their results, in order.

    On Redis they share one pipelined round trip, which costs more than the work of most operations. Every
    operation runs; the first failure is raised afterwards.
    """

    ops: tuple[Op, ...]


@dataclass(frozen=True, slots=True)
class Deferred(Op[None]):
    """A write nobody waits for (a cache fill that only saves work later). Result: ``None``.

    A backend may hold it and send it with its next command, so it costs no round trip of its own; its
    failure is then logged, not raised. Embedded backends simply run it.
    """

    op: Op


@dataclass(frozen=True, slots=True)
class Verify(Op[list[float]]):
    """Score a lookup's candidates with the semantic tier's verifier: ``compute()``. Result: one score each.

    Handled by the engine's driver, not by a backend. ``blocking`` (a user's callable, which may call a model)
    makes the async driver run it in a worker thread; the bundled head is cheaper than that hop and runs inline.
    """

    compute: Callable[[], list[float]]
    blocking: bool


@dataclass(frozen=True, slots=True)
class WaitFlight(Op[bool]):
    """Wait up to ``timeout`` seconds for an in-process flight to finish. Result: ``bool`` (it finished).

    Handled by the engine's drivers (a blocking wait on a thread, an await on a task), not by a backend.
    """

    flight: Any
    timeout: float


@dataclass(frozen=True, slots=True)
class Sleep(Op[None]):
    """Pause ``seconds`` (``time.sleep`` / ``asyncio.sleep``). Result: ``None``. Handled by the drivers."""

    seconds: float


# -- embedding batches (embedding tier) -------------------------------------------------------------------------
#
# Like ``Embed``, handled by the engine's drivers rather than a backend: computing is not storage I/O. The tier
# passes the wrapped model's own batch functions, so the sync driver calls the sync one and the async driver
# awaits the async one (or runs the sync one in a worker thread), and the engine's embedder is only a default.


@dataclass(frozen=True, slots=True)
class EmbedBatch(Op[Any]):
    """Compute embeddings of ``texts`` with ``compute(list)`` / ``await acompute(list)``.

    Result: the model's raw output, one vector per text (the tier validates it).
    """

    texts: tuple[str, ...]
    compute: Callable[[list[str]], Any] | None
    acompute: Callable[[list[str]], Awaitable[Any]] | None


@dataclass(frozen=True, slots=True)
class LoadModel(Op[float]):
    """Load an embedding model before its first batch, so its load time is not counted as computing.

    ``load()`` blocks (the async driver runs it in a worker thread) and returns the seconds it spent loading
    (``0.0`` when the model was already loaded). Result: those seconds.
    """

    load: Callable[[], float]


# -- local work ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Call(Op[Any]):
    """Base of the ops that call ``fn()`` in the caller's process, in a worker thread under an event loop when
    ``blocking``. Result: ``fn()``'s. Never sent itself: the two kinds differ in how a cancelled caller ends."""

    fn: Callable[[], Any]
    blocking: bool = True


@dataclass(frozen=True, slots=True)
class RunLocal(Call):
    """Local blocking work (archive file I/O), which finishes even if the caller is cancelled (it may hold a lock).

    ``blocking=False`` marks calls that never wait (a non-blocking lock attempt), run inline by both loops.
    """


@dataclass(frozen=True, slots=True)
class Compute(Call):
    """User code (a callable scoring candidates, a model's loader)."""


#: Every op a backend carries out (the runtime sends each to the backend's ``execute`` / ``aexecute``): the ops
#: each storage module exports (its bases, such as `kv_ops.KvOp`, are never sent and not in its ``__all__``),
#: and the two that bundle others.
STORAGE_OPS: tuple[type[Op], ...] = (
    *(
        kind
        for module in (semantic_ops, kv_ops, list_ops)
        for kind in map(vars(module).get, module.__all__)
        if isinstance(kind, type) and issubclass(kind, Op)
    ),
    Gather,
    Deferred,
)
