"""Sentinel-2 10x super-resolution: S2DR3 backbone, S2x10NetS decoder, streamed loader, tiled rasters.

Imports torch lazily through the submodules; ``from rs_embed_qgis.engine.superres
import super_resolve_raster`` is the entry point for QGIS code.
"""
from __future__ import annotations

__all__ = ["S2DR3Backbone", "BackboneConfig", "load_backbone_from_safetensors",
           "S2x10NetS", "S2x10Config", "load_s2x10_from_chunks",
           "load_pipeline", "S2DR3Pipeline", "load_superres_model",
           "InterpolationUpsampler", "LearnedUpsampler", "super_resolve_raster", "Cancelled"]

_WHERE = {
    "S2DR3Backbone": "backbone", "BackboneConfig": "backbone", "load_backbone_from_safetensors": "backbone",
    "S2x10NetS": "decoder", "S2x10Config": "decoder", "load_s2x10_from_chunks": "loader",
    "load_pipeline": "pipeline", "S2DR3Pipeline": "pipeline", "load_superres_model": "models",
    "InterpolationUpsampler": "models", "LearnedUpsampler": "models",
    "super_resolve_raster": "raster", "Cancelled": "raster",
}


def __getattr__(name: str):
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(name)
