"""The old name of the model catalog, kept as thin aliases while callers move to
:mod:`rs_embed_qgis.engine.catalog` (``get_spec`` -> ``get_entry``, ``ModelSpec`` ->
``ModelEntry``, ``MODEL_SPECS`` -> ``ENTRIES``). New code imports ``catalog``.
"""
from __future__ import annotations

from .catalog import ENTRIES as MODEL_SPECS
from .catalog import describe_model, list_models, load_embedder_class, missing_requirements, register
from .catalog import get_entry as get_spec
from .catalog.entry import S2_10, S2_SR
from .catalog.entry import ModelEntry as ModelSpec

__all__ = ["MODEL_SPECS", "ModelSpec", "S2_10", "S2_SR", "describe_model", "get_spec", "list_models",
           "load_embedder_class", "missing_requirements", "register"]
