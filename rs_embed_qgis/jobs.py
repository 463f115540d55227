"""One code path for the dock, the QgsTasks and the Processing algorithms.

Plain Python (no qgis import): a request names everything a run needs; ``run``
calls the engine and writes the outputs atomically. GUI and toolbox build
requests from their widgets/parameters and hand progress/cancel callbacks in.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from .engine import Embedding, OutputSpec, SensorSpec, TemporalSpec
from .engine.errors import RsEmbedError

Progress = Callable[[float, str], None]
Cancelled = Callable[[], bool]


class JobCancelled(RsEmbedError):
    """The user cancelled; nothing was written."""


@dataclass
class EmbedRequest:
    model: str
    spatials: List[Any]
    temporal: Optional[TemporalSpec]
    output: OutputSpec
    sensor: Optional[SensorSpec] = None
    backend: str = "local"
    device: str = "auto"
    input_prep: str = "resize"
    model_options: Dict[str, Any] = field(default_factory=dict)
    provider_options: Dict[str, Any] = field(default_factory=dict)

    def describe(self) -> Dict[str, Any]:
        return {
            "model": self.model, "spatials": [s.to_dict() for s in self.spatials],
            "temporal": self.temporal.to_dict() if self.temporal else None,
            "output": self.output.to_dict(), "sensor": self.sensor.to_dict() if self.sensor else None,
            "backend": self.backend, "device": self.device, "input_prep": self.input_prep,
            "model_options": self.model_options, "provider_options": self.provider_options,
        }


def run_embed(req: EmbedRequest, progress: Optional[Progress] = None,
              is_cancelled: Optional[Cancelled] = None, chunk: int = 8) -> List[Embedding]:
    """Embeddings for every ROI of the request, in batches, honouring cancel between batches."""
    from .engine import get_embeddings_batch

    out: List[Embedding] = []
    n = len(req.spatials)
    for i in range(0, n, chunk):
        if is_cancelled and is_cancelled():
            raise JobCancelled("cancelled by the user")
        if progress:
            progress(i / n, f"embedding ROIs {i + 1}-{min(n, i + chunk)} of {n} with {req.model}")
        out.extend(get_embeddings_batch(
            req.model, spatials=req.spatials[i:i + chunk], temporal=req.temporal, sensor=req.sensor,
            output=req.output, backend=req.backend, device=req.device, input_prep=req.input_prep,
            model_options=req.model_options or None, provider_options=req.provider_options or None))
    if progress:
        progress(1.0, "done")
    return out


def save_grid(emb: Embedding, path: str | Path, quicklook: Optional[str | Path] = None) -> Dict[str, Any]:
    """Write a grid embedding as GeoTIFF (and optionally its PCA quick-look PNG)."""
    from .engine.io import write_embedding_geotiff, write_pca_quicklook

    t0 = time.perf_counter()
    tif = write_embedding_geotiff(emb, path)
    res: Dict[str, Any] = {"geotiff": str(tif)}
    if quicklook:
        res["quicklook"] = str(write_pca_quicklook(emb, quicklook, upscale=max(1, 256 // max(emb.array.shape[1:]))))
    res["write_s"] = time.perf_counter() - t0
    return res
