"""A small export job run as a subprocess by the export tests (killed and resumed).

    python tests/engine/export_job.py OUT LAYOUT N_ROIS

Two models: MOSAIKS on RGB and a second MOSAIKS variant registered under its
own id with NIR/SWIR bands (so the run has two models sharing one fetch).
"""
from __future__ import annotations

import dataclasses
import sys

from rs_embed_qgis.engine import OutputSpec, PointBuffer, TemporalSpec
from rs_embed_qgis.engine.catalog import ENTRIES, get_entry, register

TEMPORAL = TemporalSpec.range("2022-06-01", "2022-09-01")
OPTIONS = {"mosaiks": {"num_features": 16}, "mosaiks_nir": {"num_features": 8, "seed": 3}}


def register_second_model() -> str:
    if "mosaiks_nir" not in ENTRIES:
        base = get_entry("mosaiks")
        register(dataclasses.replace(
            base, id="mosaiks_nir", aliases=(),
            default_sensor=dataclasses.replace(base.default_sensor, bands=("B8", "B11", "B4"))))
    return "mosaiks_nir"


def rois(n: int):
    """Small PointBuffers on the bundled sample (lon 9.00-9.04, lat 47.827-47.853)."""
    out = []
    for i in range(n):
        lon = 9.004 + (i % 8) * 0.0045
        lat = 47.831 + (i // 8 % 5) * 0.0045
        out.append(PointBuffer(lon, lat, 150 + 10 * (i % 3)))
    return out


def run(out: str, layout: str, n: int, executor: str = "threads", **kw):
    from rs_embed_qgis.engine.export import export_batch

    register_second_model()
    args = dict(spatials=rois(n), temporal=TEMPORAL, models=["mosaiks", "mosaiks_nir"], out=out,
                layout=layout, backend="local", device="cpu", output=OutputSpec.pooled(), chunk_size=2,
                num_workers=2, model_options=OPTIONS, resume=True, show_progress=False,
                executor=executor, names=[f"roi_{i:03d}" for i in range(n)])
    args.update(kw)
    return export_batch(**args)


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2], int(sys.argv[3]))
