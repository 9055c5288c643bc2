"""LangGraph adapters: a checkpointer, a store and a node cache on the lix engine.

The names are exported lazily: ``import lix_integrations.langgraph`` imports no LangGraph module, and each
adapter's module (which does) is imported on first attribute access. ``import lix_integrations`` never imports
this subpackage at all. Install the framework with the ``[langgraph]`` extra.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ..install import require

require("langgraph", "lix_integrations.langgraph")

if TYPE_CHECKING:
    from .cache import LixNodeCache
    from .checkpoint import LixCheckpointSaver
    from .migrate import amigrate_history_to_thread, migrate_history_to_thread
    from .store import LixStore

# public name -> module (relative to this package) that defines it
_EXPORTS: dict[str, str] = {
    "LixCheckpointSaver": ".checkpoint",
    "migrate_history_to_thread": ".migrate",
    "amigrate_history_to_thread": ".migrate",
    "LixStore": ".store",
    "LixNodeCache": ".cache",
}

__all__ = [
    "LixCheckpointSaver",
    "LixNodeCache",
    "LixStore",
    "amigrate_history_to_thread",
    "migrate_history_to_thread",
]


def __getattr__(name: str) -> Any:
    """Import the adapter module that defines ``name`` on first use (PEP 562), so importing is cheap."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
