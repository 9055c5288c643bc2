"""Append-only list conformance on both embedded backends, sync and async."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from lix_integrations.testing.conformance_lists import ListConformance


class TestMemoryLists(ListConformance):
    @pytest.fixture
    def backend_url(self) -> str:
        return f"memory://lists-{uuid.uuid4().hex}"


class TestSQLiteLists(ListConformance):
    @pytest.fixture
    def backend_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'lists.db'}"
