"""LlamaIndex adapters. Importing this subpackage imports ``llama_index.core``; ``import lix_integrations`` does not."""

from __future__ import annotations

from .chat_store import LixChatStore, LixDBChatStore
from .embeddings import LixCachedEmbedding
from .kvstore import LixKVStore
from .llm import LixCachedFunctionCallingLLM, LixCachedLLM
from .tools import LixCachedTool

__all__ = [
    "LixCachedEmbedding",
    "LixCachedFunctionCallingLLM",
    "LixCachedLLM",
    "LixCachedTool",
    "LixChatStore",
    "LixDBChatStore",
    "LixKVStore",
]
