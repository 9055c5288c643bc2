"""LangChain adapters. Importing this subpackage imports ``langchain_core``; ``import lix_integrations`` does not."""

from __future__ import annotations

from .cache import LixSemanticCache
from .chat_history import LixChatMessageHistory
from .embeddings import LixCachedEmbeddings
from .tools import LixCachedTool, cache_tools

__all__ = ["LixCachedEmbeddings", "LixCachedTool", "LixChatMessageHistory", "LixSemanticCache", "cache_tools"]
