"""The core path in a Python that has only what a stock QGIS ships (numpy, osgeo): rasterio,
pyproj, shapely, scipy, pystac, xarray, pandas and torch (and qgis) are made absent, as if
not installed (``importlib.util.find_spec`` gives None, ``import`` raises ModuleNotFoundError).

    python tests/engine/core_without_optional_job.py OUT_DIR DATA_ROOT|bundled

Imports the engine, runs MOSAIKS (grid) on the sample with ``backend="local"``, writes the
GeoTIFF and ``embedding.npy`` into OUT_DIR and prints a JSON summary.
"""
from __future__ import annotations

import importlib.abc
import json
import os
import sys

ABSENT = ("rasterio", "pyproj", "shapely", "scipy", "pystac", "xarray", "pandas", "torch", "qgis")


class _Absent(importlib.abc.MetaPathFinder):
    """Wraps a finder so that it finds nothing of the absent packages."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ABSENT:
            return None
        return self.inner.find_spec(name, path, target)

    def invalidate_caches(self) -> None:
        getattr(self.inner, "invalidate_caches", lambda: None)()


ROI = (9.02, 47.84, 400)
OPTIONS = {"num_features": 64}


def run(out_dir: str, root: str | None):
    import numpy as np

    from rs_embed_qgis.engine import OutputSpec, PointBuffer, TemporalSpec, get_embedding
    from rs_embed_qgis.engine.io import write_embedding_geotiff

    os.makedirs(out_dir, exist_ok=True)
    emb = get_embedding("mosaiks", spatial=PointBuffer(*ROI), temporal=TemporalSpec.range("2022-06-01", "2022-09-01"),
                        output=OutputSpec.grid(), backend="local", model_options=OPTIONS,
                        provider_options={"root": root} if root else None)
    np.save(os.path.join(out_dir, "embedding.npy"), emb.array)
    write_embedding_geotiff(emb, os.path.join(out_dir, "embedding.tif"))
    return emb


if __name__ == "__main__":
    sys.meta_path[:] = [_Absent(f) for f in sys.meta_path]  # before anything imports them
    out_dir, data = sys.argv[1], sys.argv[2]
    from rs_embed_qgis.engine import ProviderError
    from rs_embed_qgis.engine.geoio import backend_name

    try:
        run(out_dir, None if data == "bundled" else data)
        res = {"ok": True}
    except ProviderError as exc:  # the static STAC reader without pystac is the s2data branch's
        res = {"ok": False, "error": str(exc)}
    res["io_backend"] = backend_name()
    res["loaded"] = sorted({m.split(".")[0] for m in sys.modules} & set(ABSENT))
    print(json.dumps(res))
