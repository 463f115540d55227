"""Shared fixtures-as-functions for the super-resolution tests: small real rasters and
checkpoints saved in the layouts users bring (sharded safetensors with an index, plain
folders of chunks)."""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

S2 = ["B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12"]


def write_raster(path: Path, height: int, width: int, *, bands: Sequence[str] = S2, dtype: str = "uint16",
                 nodata: float | None = 0, seed: int = 0, descriptions: bool = True,
                 res: float = 10.0) -> np.ndarray:
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    data = np.stack([1500 + 800 * np.sin(xx / (5 + i)) * np.cos(yy / (7 + i))
                     + rng.normal(0, 60, (height, width)) for i in range(len(bands))]).clip(1, 10000)
    data = data.astype(dtype)
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=len(bands), dtype=dtype,
                       crs="EPSG:32632", transform=from_origin(600000, 5100000, res, res),
                       nodata=nodata) as dst:
        dst.write(data)
        if descriptions:
            for i, b in enumerate(bands, start=1):
                dst.set_band_description(i, b)
    return data


def save_sharded(state_dict: dict, folder: Path, n_chunks: int = 3, *, index: bool = True,
                 prefix: str = "", dtype=None) -> Path:
    """Split a state dict into ``n_chunks`` safetensors files (+ HF-style index json)."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    keys = list(state_dict)
    parts = np.array_split(np.arange(len(keys)), n_chunks)
    weight_map = {}
    for i, idx in enumerate(parts, start=1):
        name = f"model-{i:05d}-of-{n_chunks:05d}.safetensors"
        chunk = {}
        for j in idx:
            t = state_dict[keys[j]].detach().clone().contiguous()
            chunk[prefix + keys[j]] = t.to(dtype) if dtype is not None else t
            weight_map[prefix + keys[j]] = name
        save_file(chunk, str(folder / name))
    if index:
        (folder / "model.safetensors.index.json").write_text(
            json.dumps({"metadata": {"total_size": 0}, "weight_map": weight_map}))
    return folder
