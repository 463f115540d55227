"""Shared fixtures: the bundled sample and small ROIs on it."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "resources" / "sample_data"

# the sample covers lon 9.000..9.040, lat 47.826..47.853 (EPSG:32632, 2022)
SAMPLE_CENTER = (9.02, 47.84)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Weights/cache lookups never touch the user's real cache."""
    monkeypatch.setenv("RS_EMBED_CACHE", str(tmp_path_factory.mktemp("rs_embed_cache")))
    monkeypatch.delenv("RS_EMBED_LOCAL_DATA", raising=False)
    yield


@pytest.fixture
def sample_dir() -> Path:
    return SAMPLE


@pytest.fixture
def summer():
    from rs_embed_qgis.engine import TemporalSpec

    return TemporalSpec.range("2022-06-01", "2022-09-01")


@pytest.fixture
def roi():
    from rs_embed_qgis.engine import PointBuffer

    return PointBuffer(lon=SAMPLE_CENTER[0], lat=SAMPLE_CENTER[1], buffer_m=500)


def pytest_report_header(config):
    return f"RS_EMBED_BLOCK_QGIS={os.environ.get('RS_EMBED_BLOCK_QGIS', '0')}"
