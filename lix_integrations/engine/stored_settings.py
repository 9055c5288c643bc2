"""The settings a namespace's data was written with, each checked where the data it describes is used.

One record per namespace holds them (`EnsureSettings`: SQLite's ``lix_settings`` rows, the ``settings`` hash
beside Redis's semantic keys, the memory store's dict), laid out as every release has written it. Two groups:

* ``serialization``: how every record is laid out. Every operation of every tier waits until it was checked
  (once per engine; a session flow before each of its ops, so a store unreachable at open fails that op only).
* ``embedder``, ``metric``, ``dimension``: what the vectors kept in the namespace mean (the semantic entries,
  and the vectors of indexed documents). They are checked before the engine's embedder computes a vector that is
  stored there or compared with what is stored there, and at open when the engine was *given* an embedder
  (``Engine(url, embedder=m)`` refuses a store written by another model at once, as documented). The embedding
  tier needs neither: every key of it carries the model's name and dimension (see `embedding_model`).

So key-value data, sessions, checkpoints, tool results, the node cache, documents without an index and the CLI's
admin commands open any store with no embedder, whatever model wrote it, and never load a model. Before this
(issue 16 item 6) the engine checked all four settings before any operation, and such code had to present a
stand-in embedder carrying the stored name and dimension.

A store written by an earlier release holds all four settings even if only key-value data was ever written (that
release stored the engine's embedder at every open). They are honoured: the semantic tier of an engine whose
embedder differs is refused with `SettingsMismatchError`, and nothing stored is rewritten.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import SettingsMismatchError
from ..kernel.flows import Flow
from ..kernel.ops import EnsureSettings, Vector

__all__ = ["METRIC", "SERIALIZATION_VERSION", "StoredSettings"]

#: Version of how payloads and vectors are laid out in a store; stored with the data and checked on open.
SERIALIZATION_VERSION = "1"
#: How the semantic tier compares vectors.
METRIC = "cosine"


class StoredSettings:
    """One engine's view of its namespace's stored settings: what was checked so far, and the vector size.

    ``identity()`` gives the engine's embedder's name and declared dimension; it is called only when the
    vector settings are checked (it may build the default embedder, never load its model). ``adopt(stored)``
    takes what else is stored with them (an applied calibration's thresholds).
    """

    def __init__(
        self,
        namespace: str,
        identity: Callable[[], tuple[str, int | None]],
        adopt: Callable[[dict[str, str]], None],
    ) -> None:
        self._namespace = namespace
        self._identity = identity
        self._adopt = adopt
        #: The size of the engine's vectors: declared by the embedder, learnt from its first vector, or read from
        #: the store (an embedder that declares none); ``None`` until the vector settings were checked.
        self.dimension: int | None = None
        self.data_checked = False
        self.vectors_checked = False
        self.dimension_checked = False

    def check(self, *, vectors: bool) -> Flow[None]:
        """Store our settings where none are stored yet, and refuse a store written with different ones: the
        serialization, and with ``vectors`` the embedder, metric and (once known) dimension."""
        wanted: dict[str, str] = {}
        if vectors:
            name, declared = self._identity()
            if self.dimension is None:
                self.dimension = declared
            wanted["embedder"], wanted["metric"] = name, METRIC
        wanted["serialization"] = SERIALIZATION_VERSION
        if vectors and self.dimension is not None:
            wanted["dimension"] = str(self.dimension)
        stored = yield EnsureSettings(self._namespace, wanted)
        for field, value in wanted.items():
            if stored.get(field, value) != value:
                raise SettingsMismatchError(field, stored[field], value)
        if vectors and self.dimension is None and "dimension" in stored:
            self.dimension = int(stored["dimension"])
        self._adopt(stored)
        self.data_checked = True
        if vectors:
            self.vectors_checked = True
            self.dimension_checked = "dimension" in wanted

    def data(self) -> Flow[None]:
        """Before any operation: the serialization checked (once)."""
        if not self.data_checked:
            yield from self.check(vectors=False)

    def vectors(self) -> Flow[None]:
        """Before the engine's embedder computes a vector the namespace keeps or compares: its settings checked."""
        if not self.vectors_checked:
            yield from self.check(vectors=True)

    def remember(self, vec: Vector) -> Flow[Vector]:
        """``vec`` (validated and normalized by the embedding tier), after its size was checked: the first vector
        of an embedder that declared no size fixes the dimension, which the store then checks."""
        if not self.sized(vec):
            yield from self.check(vectors=True)
        return vec

    def sized(self, vec: Vector) -> bool:
        """`remember`'s size check, with no flow: True when the dimension is checked against the store already
        (else `remember` must run its check)."""
        size = int(vec.shape[0])
        if self.dimension is None:
            self.dimension = size
        elif size != self.dimension:  # declared, or read from the store's settings
            raise SettingsMismatchError("dimension", str(self.dimension), str(size))
        return self.dimension_checked
