"""Helpers for testing lix-integrations and code built on it: fakes and the backend conformance suites."""

from .fakes import FakeClock, FakeEmbedder

__all__ = ["FakeClock", "FakeEmbedder"]
