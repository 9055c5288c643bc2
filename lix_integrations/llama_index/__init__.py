"""LlamaIndex adapters. Importing this subpackage imports ``llama_index.core``; ``import lix_integrations`` does not."""

# ruff: noqa: E402 (the extra is checked before the modules below import their framework)
from __future__ import annotations

from ..install import require

require("llama-index", "lix_integrations.llama_index")

from ..config import EmbeddingConfig, EngineConfig, KvConfig, SessionConfig, ToolPolicy, ToolsConfig
from .chat_store import LixChatStore, LixDBChatStore
from .embeddings import LixCachedEmbedding
from .kvstore import LixKVStore
from .llm import LixCachedFunctionCallingLLM, LixCachedLLM
from .tools import LixCachedTool

# The configuration objects users pass to these adapters' engines are exported here too, so one import line serves.
__all__ = [
    "EmbeddingConfig",
    "EngineConfig",
    "KvConfig",
    "LixCachedEmbedding",
    "LixCachedFunctionCallingLLM",
    "LixCachedLLM",
    "LixCachedTool",
    "LixChatStore",
    "LixDBChatStore",
    "LixKVStore",
    "SessionConfig",
    "ToolPolicy",
    "ToolsConfig",
]
