"""Super-resolve a GeoTIFF of any size, 10x, in overlapping tiles with smooth blending.

How it keeps memory flat as the raster grows:

* tiles of ``tile`` input pixels overlap by ``overlap``; each tile's output is
  weighted by a cosine ramp across the overlap and the weighted sums and
  weights are accumulated in a row ring buffer kept **on disk** (one tile row
  high, full width) next to the output;
* as soon as no later tile can touch a band of output rows, those rows are
  normalised, cast and written to the GeoTIFF in whole 256x256 blocks, in
  row-major order; chunks are at most 256 x 1024 output pixels.

So memory holds one tile (input, model activations, output) and one chunk,
whatever the raster's size.

Exact tiling: the outer quarter of each overlap (``guard = overlap // 4`` input
pixels) gets weight 0 and the middle half is cross-faded. A model whose
receptive-field radius is <= guard therefore gives exactly the untiled result
(tested); for a wider receptive field the cross-fade hides the seams.

Output: tiled, DEFLATE-compressed (``compress=`` e.g. ``"zstd"``) band-interleaved
GeoTIFF, pixel size / 10 on the same CRS and
origin, band descriptions, nodata, and tags recording the model, the weights
status (user file / random / baseline) and every parameter. Written block by block
through the engine's one raster writer (``geoio.raster_writer``): a temp file in the
destination folder, checked and renamed at the end, so a cancelled or failed run
(a full disk included) leaves no partial output.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np

from ..errors import (
    Cancelled,  # noqa: F401 - the engine's one cancel class, importable here as before
    ProviderError,
    RsEmbedError,
    SpecError,
)
from ..progress import ProgressFn, as_feedback, cancel_scope
from ..providers.bands import canonical_band
from .constants import S2_BANDS

BLOCK = 256            # output GeoTIFF block size, and the row granularity of writes
#: default tile and overlap (input pixels): the model covers ~1.14x the raster's area, and a CPU
#: tile of the full network holds ~3 GB (output, blending window, activations); see docs/superres.md
TILE, OVERLAP = 384, 24
CHUNK_W = 4 * BLOCK    # output columns per write
BandRef = Union[int, str]  # noqa: UP007 - a runtime alias, kept readable on Python 3.9


# --- tiling ---------------------------------------------------------------------------

def tile_starts(n: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of ``tile`` pixels covering ``n`` with overlaps >= ``overlap``.

    Tiles are spread evenly between 0 and ``n - tile``; a raster smaller than a
    tile is one tile of its own size.
    """
    if n <= tile:
        return [0]
    count = math.ceil((n - overlap) / (tile - overlap))
    if count < 2:
        count = 2
    return [int(round(i * (n - tile) / (count - 1))) for i in range(count)]


def tile_size(n: int, tile: int, overlap: int) -> int:
    """The tile side (<= ``tile``) whose tiles cover ``n`` pixels overlapping by ``overlap``, no more.

    As many tiles as ``tile`` needs, each shrunk so that neighbours overlap by ``overlap``
    (not by whatever spreading full-size tiles would leave): the covered length is
    ``n + (count - 1) * overlap``, so the overlap's cost stays ``~ tile / (tile - overlap)``
    per axis at any raster size instead of up to one extra tile per row.
    """
    if n <= tile:
        return n
    count = max(2, math.ceil((n - overlap) / (tile - overlap)))
    return min(tile, math.ceil((n + (count - 1) * overlap) / count))


def ramp(d: np.ndarray, overlap: int) -> np.ndarray:
    """Weight at distance ``d`` (input pixels) from an interior tile edge.

    0 in the guard band ``d < overlap // 4``, a raised-cosine rise over the
    middle of the overlap, 1 from ``overlap - overlap // 4`` on.
    """
    if overlap <= 0:
        return np.ones_like(d)
    g = overlap // 4
    width = overlap - 2 * g
    t = np.clip((d - g) / width, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * t)


def axis_weights(length: int, scale: int, overlap: int, lo_interior: bool, hi_interior: bool
                 ) -> np.ndarray:
    """Blend weights along one axis of a tile's output (``length * scale`` pixels)."""
    p = (np.arange(length * scale, dtype=np.float64) + 0.5) / scale
    w = np.ones_like(p)
    if lo_interior:
        w *= ramp(p, overlap)
    if hi_interior:
        w *= ramp(length - p, overlap)
    return w.astype(np.float32)


class _RowRing:
    """Accumulators (sum of weighted values per band + sum of weights) for a band of
    output rows, in a file on disk addressed row modulo ``rows``.

    Plain positioned reads/writes, no memory map: the process never holds more
    than the window it works on.
    """

    def __init__(self, path: Path, rows: int, width: int, channels: int) -> None:
        from ..io import folder_error

        self.path, self.rows, self.width, self.ch = path, rows, width, channels
        try:
            self.fd = os.open(str(path), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as exc:
            raise folder_error(path.parent, exc) from exc
        os.ftruncate(self.fd, rows * width * channels * 4)  # sparse zeros

    def _off(self, y: int, x0: int) -> int:
        return ((y % self.rows) * self.width + x0) * self.ch * 4

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        out = np.empty((y1 - y0, x1 - x0, self.ch), np.float32)
        n = (x1 - x0) * self.ch * 4
        for i, y in enumerate(range(y0, y1)):
            buf = os.pread(self.fd, n, self._off(y, x0))
            out[i] = np.frombuffer(buf, np.float32).reshape(x1 - x0, self.ch)
        return out

    def write(self, y0: int, x0: int, arr: np.ndarray) -> None:
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        for i in range(arr.shape[0]):
            os.pwrite(self.fd, arr[i].tobytes(), self._off(y0 + i, x0))

    def zero(self, y0: int, y1: int) -> None:
        z = bytes(self.width * self.ch * 4)
        for y in range(y0, y1):
            os.pwrite(self.fd, z, self._off(y, 0))

    def close(self) -> None:
        """Close and delete; a failure here is logged, never raised over the run's own error."""
        from ..io import discard

        try:
            os.close(self.fd)
        except OSError:
            pass  # already closed
        discard(self.path)


# --- bands and nodata -------------------------------------------------------------------

def resolve_band_map(descriptions: Sequence[str | None], count: int,
                     model_bands: Sequence[str] | None,
                     band_map: Sequence[BandRef] | None,
                     prefer: Sequence[str] | None = None) -> list[int]:
    """1-based source band for each model band (or the bands a band-agnostic model uses).

    ``band_map`` entries are 1-based band numbers or band names matched against
    the raster's band descriptions (``B02`` == ``B2``). Without it, bands are
    found by description, else a raster with exactly the model's band count is
    taken in order. A band-agnostic model (a baseline) takes the ``prefer``
    bands when the raster names them all (so a scene-class band such as SCL is
    not interpolated), else every band.
    """
    desc = [canonical_band(d) if d else None for d in descriptions]
    want = len(model_bands) if model_bands is not None else None
    if band_map is None:
        if model_bands is None:
            if prefer and all(canonical_band(b) in desc for b in prefer):
                return [desc.index(canonical_band(b)) + 1 for b in prefer]
            return list(range(1, count + 1))
        if all(canonical_band(b) in desc for b in model_bands):
            return [desc.index(canonical_band(b)) + 1 for b in model_bands]
        if count == want:
            return list(range(1, count + 1))
        raise SpecError(
            f"the raster has {count} bands (descriptions {list(descriptions)}) but the model needs "
            f"{want} bands {list(model_bands)}; give band_map: one source band (number or name) per "
            f"model band, in that order")
    out: list[int] = []
    for ref in band_map:
        if isinstance(ref, (int, np.integer)) and not isinstance(ref, bool):
            if not 1 <= int(ref) <= count:
                raise SpecError(f"band_map entry {ref!r} is not a band of this raster (1..{count})")
            out.append(int(ref))
        elif isinstance(ref, str) and ref.strip().isdigit():
            return resolve_band_map(descriptions, count, model_bands,
                                    [int(r) if str(r).strip().isdigit() else r for r in band_map])
        elif isinstance(ref, str):
            c = canonical_band(ref)
            if c not in desc:
                raise SpecError(f"band_map entry {ref!r} matches no band description of the raster "
                                f"({list(descriptions)})")
            out.append(desc.index(c) + 1)
        else:
            raise SpecError(f"band_map entries must be band numbers or names, got {ref!r}")
    if want is not None and len(out) != want:
        raise SpecError(f"band_map has {len(out)} entries {list(band_map)}, the model needs {want} "
                        f"(one per band {list(model_bands)})")
    if not out:
        raise SpecError("band_map is empty")
    return out


def _fill_invalid(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Give nodata pixels the value of the nearest valid pixel (limits edge ringing)."""
    if valid.all() or not valid.any():
        return np.where(valid[None], x, 0).astype(np.float32)
    from scipy.ndimage import distance_transform_edt

    _, (iy, ix) = distance_transform_edt(~valid, return_indices=True)
    return x[:, iy, ix].astype(np.float32)


# --- the main entry point ------------------------------------------------------------------

def super_resolve_raster(src_path: str | Path, dst_path: str | Path, *,
                         model: Any = "bicubic", band_map: Sequence[BandRef] | None = None,
                         tile: int = TILE, overlap: int = OVERLAP, device: str | None = "auto",
                         weights: str | Path | None = None, random_weights: bool = False,
                         precision: str = "auto", out_dtype: str | None = None,
                         progress: ProgressFn | None = None,
                         is_cancelled: Callable[[], bool] | None = None,
                         scratch_dir: str | Path | None = None,
                         compress: str = "deflate") -> dict[str, Any]:
    """Super-resolve ``src_path`` 10x into ``dst_path`` (GeoTIFF); returns a summary dict.

    ``model``: ``"s2x10"`` (the learned network; needs ``weights`` = a .safetensors
    file or folder of chunks, or ``random_weights=True``, marked as random),
    ``"bicubic"``/``"lanczos"`` (interpolation baselines), or a ready
    :class:`~.models.SuperResolver`. ``band_map``: source band (1-based number or
    name) for each model band B2, B3, B4, B5, B6, B7, B8, B8A, B11, B12.
    ``tile``/``overlap`` in input pixels: the largest tile, shrunk so neighbours overlap by
    ``overlap`` (:func:`tile_size`); the defaults (384 / 24) keep the overlap's cost (the area
    the model covers, ``meta["covered_area"]``) near ``(384 / 360)^2 = 1.14`` at any raster size.
    ``precision``: ``"auto"`` (bf16, or fp16, under autocast on a GPU; fp32 on a CPU),
    ``"fp32"``, ``"bf16"``, ``"fp16"`` (GPU). ``progress(fraction, message)`` is called after
    each tile; ``is_cancelled()`` is polled between tiles, between written chunks and, inside
    a tile's forward, between the network's blocks, and a True raises
    :class:`~..errors.Cancelled` with no output left behind.
    """
    import torch

    from ..geoio import Window, open_raster, raster_driver, raster_writer
    from ..io import make_folder, remove_empty
    from .models import SuperResolver, load_superres_model

    src_path, dst_path = Path(src_path), Path(dst_path)
    if not src_path.exists():
        raise ProviderError(f"input raster {str(src_path)!r} does not exist")
    if dst_path.resolve() == src_path.resolve():
        raise SpecError(f"output {str(dst_path)!r} must differ from the input")
    tile, overlap = int(tile), int(overlap)
    if tile < 8:
        raise SpecError(f"tile must be >= 8 input pixels, got {tile}")
    if overlap < 0 or 2 * overlap >= tile:
        raise SpecError(f"overlap must be >= 0 and less than half the tile ({tile}), got {overlap}")
    raster_driver(dst_path)  # a .tif/.tiff name, or a SpecError naming the extension
    fb = as_feedback(progress, is_cancelled)

    if isinstance(model, SuperResolver):
        sr = model
        if weights or random_weights:
            raise SpecError("weights/random_weights apply to a model name, not to a loaded model")
    else:
        with cancel_scope(fb):  # building the full network takes seconds: it stops between blocks
            sr = load_superres_model(str(model), weights=weights, random_weights=random_weights,
                                     device=device, precision=precision)
    s = int(sr.scale)
    t0 = time.perf_counter()
    uid = uuid.uuid4().hex[:8]
    ring_dir = Path(scratch_dir) if scratch_dir else dst_path.parent
    ring: _RowRing | None = None
    made = make_folder(dst_path.parent)  # an unwritable folder: a SpecError naming it, before any work
    made += make_folder(ring_dir) if ring_dir != dst_path.parent else []
    try:
        # the network checks for a cancel between its blocks too (a tile's forward takes seconds)
        with cancel_scope(fb), open_raster(src_path) as src:
            info = src.info
            bands = resolve_band_map(info.descriptions, info.count, sr.bands, band_map, prefer=S2_BANDS)
            C = len(bands)
            H, W = info.height, info.width
            in_dtype = np.dtype(info.dtypes[bands[0] - 1])
            dtype = np.dtype(out_dtype) if out_dtype else in_dtype
            if dtype.kind not in "uif":
                raise SpecError(f"out_dtype must be an integer or float type, got {out_dtype!r}")
            nodata = next((v for i, v in enumerate(info.nodata) if i + 1 in bands and v is not None), None)
            masked = any(info.masked[b - 1] for b in bands)
            if nodata is not None and dtype.kind in "ui" and (
                    not np.isfinite(nodata) or not np.iinfo(dtype).min <= nodata <= np.iinfo(dtype).max):
                nodata = 0
            if nodata is None and (masked or dtype.kind == "f"):
                nodata = float("nan") if dtype.kind == "f" else 0
            check_nan = in_dtype.kind == "f"

            th, tw = tile_size(H, tile, overlap), tile_size(W, tile, overlap)
            ys, xs = tile_starts(H, th, overlap), tile_starts(W, tw, overlap)
            Ho, Wo = H * s, W * s
            guard = overlap // 4
            out_bands = list(sr.bands) if sr.bands else [info.descriptions[b - 1] or f"band {b}" for b in bands]
            meta: dict[str, Any] = dict(sr.describe())
            meta.update({
                "source": str(src_path), "band_map": bands, "bands": out_bands,
                "tile": tile, "overlap": overlap, "blend": f"cosine, guard {guard} px",
                "tiles": len(ys) * len(xs), "tile_hw": [th, tw],
                # what the overlap costs: the model runs on this many times the raster's area
                "covered_area": round(len(ys) * th * len(xs) * tw / (H * W), 4),
                "exact_tiling": sr.receptive_field_radius() <= guard,
                "input_size": [H, W], "output_size": [Ho, Wo], "dtype": dtype.name,
                "nodata": None if nodata is None else (None if np.isnan(nodata) else nodata)})
            a, b, c, d, e, f = info.transform
            options = {"BIGTIFF": "IF_SAFER", "NUM_THREADS": "ALL_CPUS"}
            if compress.lower() == "deflate":
                options["ZLEVEL"] = 1  # same size within 1-2 % here, twice as fast as the default 6
            ring_bytes = (th * s + BLOCK) * Wo * (C + 1) * 4
            # made first (sparse: no space yet): a folder we cannot write to is said as such, never as
            # a lack of space
            ring = _RowRing(ring_dir / f".{dst_path.stem}.{uid}.ring", th * s + BLOCK, Wo, C + 1)
            free = shutil.disk_usage(ring_dir).free
            if ring_bytes > free:
                raise SpecError(
                    f"the blending buffer needs {ring_bytes / 2**30:.1f} GiB in {str(ring_dir)!r} but only "
                    f"{free / 2**30:.1f} GiB are free; pass scratch_dir= (another disk) or a smaller tile")
            n_tiles = len(ys) * len(xs)
            done = 0
            # band interleaving: the predictor compresses 2x faster
            with raster_writer(dst_path, width=Wo, height=Ho, count=C, dtype=dtype.name, crs=info.crs,
                               transform=(a / s, b / s, c, d / s, e / s, f), nodata=nodata,
                               band_names=[str(n) for n in out_bands], tags=_tags(meta, dst_path.parent),
                               band_tags=[{"source_band": bi} for bi in bands], compress=compress,
                               predictor=3 if dtype.kind == "f" else 2, tiled=True, blocksize=BLOCK,
                               interleave="band", options=options, stream=True) as dst:
                finalized = 0
                for r, y0 in enumerate(ys):
                    wy = axis_weights(th, s, overlap, r > 0, r < len(ys) - 1)
                    for c_, x0 in enumerate(xs):
                        fb.check("super-resolution cancelled")
                        win = Window(x0, y0, tw, th)
                        x = src.read(bands, win, dtype="float32")
                        valid = src.valid(bands, win, x if check_nan else None)
                        wx = axis_weights(tw, s, overlap, c_ > 0, c_ < len(xs) - 1)
                        acc = ring.read(y0 * s, (y0 + th) * s, x0 * s, (x0 + tw) * s)
                        wgt = wy[:, None] * wx[None, :]
                        if valid.any():
                            xin = torch.from_numpy(_fill_invalid(x, valid))[None]
                            y = sr(xin)[0].float().cpu().numpy()
                            if y.shape != (C, th * s, tw * s):
                                raise RsEmbedError(f"model {sr.name!r} returned {y.shape} for a "
                                                   f"{(C, th, tw)} tile, expected {(C, th * s, tw * s)}")
                            acc[..., :C] += np.moveaxis(y, 0, -1) * wgt[..., None]
                            del y
                        acc[..., C] += wgt
                        ring.write(y0 * s, x0 * s, acc)
                        del acc
                        done += 1
                        fb.report(0.98 * done / n_tiles, f"tile {done}/{n_tiles}")
                    end = Ho if r == len(ys) - 1 else (ys[r + 1] * s // BLOCK) * BLOCK
                    if end > finalized:
                        _finalize(src, dst, ring, bands, finalized, end, Wo, s, C, dtype, nodata, fb.check)
                        finalized = end
    finally:
        if ring is not None:
            ring.close()
        remove_empty(made)
    meta["seconds"] = round(time.perf_counter() - t0, 3)
    meta["path"] = str(dst_path)
    fb.report(1.0, f"wrote {dst_path.name}")
    return meta


def _finalize(src, dst, ring: _RowRing, bands, y_start: int, y_end: int, Wo: int, s: int, C: int,
              dtype: np.dtype, nodata, check_cancel: Callable[[str], None]) -> None:
    """Normalise, mask, cast and write output rows [y_start, y_end); then clear them in the ring.

    ``check_cancel(message)`` raises :class:`Cancelled` when the caller asked to stop."""
    from ..geoio import Window

    for ry in range(y_start, y_end, BLOCK):
        ry1 = min(ry + BLOCK, y_end)
        ly0, ly1 = ry // s, -(-ry1 // s)
        for cx in range(0, Wo, CHUNK_W):
            check_cancel("super-resolution cancelled")
            cx1 = min(cx + CHUNK_W, Wo)
            acc = ring.read(ry, ry1, cx, cx1)
            wsum = acc[..., C]
            if not (wsum > 0).all():
                raise RsEmbedError(f"internal error: output rows {ry}..{ry1} have pixels no tile covered")
            val = np.moveaxis(acc[..., :C] / wsum[..., None], -1, 0)
            del acc
            lx0, lx1 = cx // s, -(-cx1 // s)
            lwin = Window(lx0, ly0, lx1 - lx0, ly1 - ly0)
            valid = src.valid(bands, lwin)
            yy = np.arange(ry, ry1) // s - ly0
            xx = np.arange(cx, cx1) // s - lx0
            hv = valid[yy][:, xx]
            out = _cast(val, dtype, nodata)
            if nodata is not None:
                out[:, ~hv] = nodata
            dst.write(out, row_off=ry, col_off=cx)
        ring.zero(ry, ry1)


def _cast(val: np.ndarray, dtype: np.dtype, nodata) -> np.ndarray:
    if dtype.kind == "f":
        return val.astype(dtype)
    info = np.iinfo(dtype)
    out = np.clip(np.rint(val), info.min, info.max).astype(dtype)
    if nodata is not None:  # a valid pixel must never read as nodata
        nd = dtype.type(nodata)
        out[out == nd] = nd + 1 if nd < info.max else nd - 1
    return out


def _tags(meta: dict[str, Any], out_dir: Path) -> dict[str, str]:
    """The output's tags: no credentials, no private paths (see :mod:`..provenance`)."""
    from ..provenance import public

    meta = public(meta, out_dir=out_dir.absolute())
    w = meta.get("weights", {})
    return {
        "SR_MODEL": str(meta.get("model")),
        "SR_WEIGHTS_STATUS": str(w.get("status")),
        "SR_WEIGHTS_PATH": str(w.get("path") or ""),
        "SR_RANDOM_WEIGHTS": str(bool(meta.get("random_weights"))),
        "SR_SCALE": str(meta.get("scale")),
        "SR_TILE": str(meta.get("tile")),
        "SR_OVERLAP": str(meta.get("overlap")),
        "SR_BLEND": str(meta.get("blend")),
        "SR_DEVICE": str(meta.get("device")),
        "SR_PRECISION": str(meta.get("precision")),
        "SR_SOURCE": str(meta.get("source")),
        "SR_BAND_MAP": ",".join(str(b) for b in meta.get("band_map", [])),
        "SR_META": json.dumps({k: v for k, v in meta.items() if k not in ("path", "seconds")},
                              default=str),
    }
