"""ScanEntries conformance on both embedded backends, sync and async."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from lix_integrations.testing.conformance_scan import ScanConformance


class TestMemoryScan(ScanConformance):
    @pytest.fixture
    def backend_url(self) -> str:
        return f"memory://scan-{uuid.uuid4().hex}"


class TestSQLiteScan(ScanConformance):
    @pytest.fixture
    def backend_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'scan.db'}"
