"""Shared pieces of the AnySat tests: the lazily imported adapter, the official key list,
(the clean-environment fixture ``anysat_env`` is in conftest.py)."""
from __future__ import annotations

import importlib
import json
from pathlib import Path

from rs_embed_qgis.engine.specs import TemporalSpec


class _LazyAdapter:
    """The adapter module, imported at first use (collecting tests must not import models)."""

    def __getattr__(self, name):
        if name.startswith(("_", "pytest")):  # pytest probes objects while collecting
            raise AttributeError(name)
        return getattr(importlib.import_module("rs_embed_qgis.engine.embedders.anysat"), name)


A = _LazyAdapter()
OFFICIAL = json.loads((Path(__file__).parent / "data" / "anysat_official_keys.json").read_text())
YEAR = TemporalSpec.range("2022-01-01", "2023-01-01")
