"""LangChain adapters. Importing this subpackage imports ``langchain_core``; ``import lix_integrations`` does not."""

from __future__ import annotations

from .cache import LixSemanticCache
from .tools import LixCachedTool, cache_tools

__all__ = ["LixCachedTool", "LixSemanticCache", "cache_tools"]
