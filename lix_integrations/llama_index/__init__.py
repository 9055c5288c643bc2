"""LlamaIndex adapters. Importing this subpackage imports ``llama_index.core``; ``import lix_integrations`` does not."""

from __future__ import annotations

from .embeddings import LixCachedEmbedding
from .kvstore import LixKVStore
from .llm import LixCachedLLM

__all__ = ["LixCachedEmbedding", "LixCachedLLM", "LixKVStore"]
