"""What MCP-style tool annotations mean for caching (policy, so it lives with the tool tier).

MCP tools describe themselves with hints (``readOnlyHint``, ``destructiveHint``, ``idempotentHint``); LangChain
tools loaded from MCP servers carry them in ``tool.metadata``, and hand-written tools may use the short names
``read_only``, ``destructive``, ``idempotent``. The rules:

* **destructive** -> never cached, whatever a policy says: serving a deletion from cache would skip it.
* an explicit policy (by name or glob, in the engine's ``ToolsConfig`` or given per tool) -> that policy.
* **read only** -> cached with the caller's read-only policy (``None`` turns this off).
* **idempotent** alone -> not cached: an idempotent write is still a write.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any

from .tools import ToolPolicy, ToolTier

__all__ = ["annotation", "policy_for_annotated"]

_NAMES = {
    "read_only": ("read_only", "readOnlyHint", "readonly"),
    "destructive": ("destructive", "destructiveHint"),
    "idempotent": ("idempotent", "idempotentHint"),
}


def annotation(metadata: Mapping[str, Any] | None, name: str) -> bool:
    """Whether ``metadata`` (or its nested ``annotations`` mapping, as MCP adapters store it) sets hint ``name``."""
    if not metadata:
        return False
    sources = [metadata]
    nested = metadata.get("annotations")
    if isinstance(nested, Mapping):
        sources.append(nested)
    return any(source.get(key) is True for source in sources for key in _NAMES[name])


def policy_for_annotated(
    tier: ToolTier,
    tool: str,
    metadata: Mapping[str, Any] | None,
    *,
    explicit: ToolPolicy | None = None,
    read_only: ToolPolicy | None = None,
) -> ToolPolicy | None:
    """The policy a tool with these annotations is cached with, or ``None`` (run it uncached)."""
    if annotation(metadata, "destructive"):
        return None
    configured = (
        explicit is not None
        or tool in tier.config.policies
        or any(fnmatch.fnmatchcase(tool, pattern) for pattern, _ in tier.config.rules)
    )
    if configured or tier.is_writer(tool):  # an explicit opt-out wins over the hints too
        return tier.policy_for(tool, explicit)
    if read_only is not None and annotation(metadata, "read_only"):
        return tier.policy_for(tool, read_only)
    return None
