"""LangChain adapters. Importing this subpackage imports ``langchain_core``; ``import lix_integrations`` does not."""

from __future__ import annotations

from .cache import LixSemanticCache
from .embeddings import LixCachedEmbeddings

__all__ = ["LixCachedEmbeddings", "LixSemanticCache"]
