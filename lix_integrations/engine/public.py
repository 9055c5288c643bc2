"""The types and helpers adapters use, re-exported from the tiers and the kernel at the facade.

Adapters (``langchain/``, ``langgraph/``, ``llama_index/``, ``memoize``) import the facade and these public types
only, never ``tiers``, ``backends`` or ``kernel`` modules, so a tier can be split or a kernel module moved without
touching an adapter; ``tests/unit/test_import_layers.py`` holds them to it.
"""

from __future__ import annotations

from ..config import CheckpointConfig, ToolPolicy, ToolScope
from ..config.tools import validate_tool_name
from ..kernel.flight import caller_probe
from ..kernel.keys import digest
from ..kernel.scope import lix_scope, scope_path, validate_scope, validate_scope_part
from ..tiers.checkpoint_records import BlobValue, ListValue, NewCheckpoint, StoredCheckpoint, Typed
from ..tiers.embeddings import EmbeddingModel, EmbeddingStats
from ..tiers.kv import KvStats
from ..tiers.semantic import Candidate, SemanticHit
from ..tiers.session_ttl import check_ttl as check_session_ttl
from ..tiers.sessions import SmartContext, validate_session_id
from ..tiers.tools import NOT_CACHED, tool_run

__all__ = [
    "NOT_CACHED",
    "BlobValue",
    "Candidate",
    "CheckpointConfig",
    "EmbeddingModel",
    "EmbeddingStats",
    "KvStats",
    "ListValue",
    "NewCheckpoint",
    "SemanticHit",
    "SmartContext",
    "StoredCheckpoint",
    "ToolPolicy",
    "ToolScope",
    "Typed",
    "caller_probe",
    "check_session_ttl",
    "digest",
    "lix_scope",
    "scope_path",
    "tool_run",
    "validate_scope",
    "validate_scope_part",
    "validate_session_id",
    "validate_tool_name",
]
