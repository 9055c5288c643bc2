"""The engine: one object per configuration, tiers inside, backends underneath."""

from .engine import AsyncEngine, Engine

__all__ = ["AsyncEngine", "Engine"]
