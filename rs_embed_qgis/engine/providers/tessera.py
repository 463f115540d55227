"""GeoTessera tiles (Feng et al. 2025, ucam-eo/geotessera): annual 128-d embeddings at 10 m,
read from the folder layout geotessera writes, onto the ROI's grid.

The product is cut into 0.1-degree tiles centred on 0.05-degree offsets, each a raster in
its own UTM zone. The layout (``geotessera download --format npy`` and the
``embeddings_dir`` of ``geotessera.GeoTessera``; the same paths as the server's)::

    <root>/global_0.1_degree_representation/<year>/<tile>/<tile>.npy         int8 (H, W, 128)
    <root>/global_0.1_degree_representation/<year>/<tile>/<tile>_scales.npy  float32 (H, W) or (H, W, 128)
    <root>/global_0.1_degree_tiff_all/<tile>.tiff      the tile's UTM grid (CRS, transform)

with ``<tile>`` = ``grid_<lon>_<lat>``, the tile centre to two decimals. geotessera's
``--format tiff`` (``.../<year>/<tile>/<tile>_<year>.tiff``: 128 float32 bands, already
dequantised) is read too. Dequantisation is geotessera's ``dequantize_embedding``:
``int8 * scales`` (scales broadcast over the 128 dimensions when 2-D).

Sampling is geotessera's ``sample_embeddings_at_points`` rule for every pixel centre of
the ROI grid: the tile whose 0.1-degree cell contains the point, the point projected to
that tile's CRS, ``rowcol`` (floor) in its transform - nearest neighbour, values never
blended - so an ROI across tiles and UTM zones is one seamless grid in the ROI's zone.
Pixels no tile covers (sea, tiles absent) get the sensor's fill value. A batch samples
neighbouring ROIs once on the grid that bounds them (:mod:`.groups`) and cuts each ROI from
it: every tile is opened and gathered once for them, and the pixels are those of ROI by ROI.

Missing tiles are downloaded when allowed: with the ``geotessera`` package where it is
installed, else from the same server (``https://dl2.geotessera.org/v1``) with the sha256
of each file from its ``registry.parquet`` / ``landmasks.parquet``.
"""
from __future__ import annotations

import datetime as _dt
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import budget
from ..errors import ProviderError, SpecError
from ..geo import RoiGrid
from ..specs import SensorSpec, SpatialSpec, TemporalSpec
from . import groups
from .base import Patch, Provider

EMBEDDINGS_DIR = "global_0.1_degree_representation"
LANDMASKS_DIR = "global_0.1_degree_tiff_all"
BASE_URL = "https://dl2.geotessera.org"
DATASET_VERSION = "v1"
DIM = 128
BANDS = tuple(f"T{i:03d}" for i in range(DIM))
COLLECTION = "GEOTESSERA/V1"
TILE_DEG = 0.1


def tile_index(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer tile indices (``floor(lon * 10)``, ``floor(lat * 10)``) of points."""
    return np.floor(np.asarray(lon) * 10).astype(np.int64), np.floor(np.asarray(lat) * 10).astype(np.int64)


def tile_centre(ix: int, iy: int) -> tuple[float, float]:
    """geotessera's ``tile_from_world``: the 0.05-degree centre of tile ``(ix, iy)``."""
    return round(ix / 10 + 0.05, 2), round(iy / 10 + 0.05, 2)


def tile_name(lon: float, lat: float) -> str:
    return f"grid_{lon:.2f}_{lat:.2f}"


def tile_files(root: Path, year: int, lon: float, lat: float) -> dict[str, Path]:
    name = tile_name(lon, lat)
    folder = root / EMBEDDINGS_DIR / str(year) / name
    return {"npy": folder / f"{name}.npy", "scales": folder / f"{name}_scales.npy",
            "landmask": root / LANDMASKS_DIR / f"{name}.tiff", "tiff": folder / f"{name}_{year}.tiff"}


def product_year(temporal: TemporalSpec | None, model: str, available: list[int]) -> int:
    """The one year an annual product is read for: the window's calendar year."""
    have = f"; years in the local data: {available}" if available else ""
    if temporal is None:
        raise SpecError(f"{model} is an annual product: pass temporal=TemporalSpec.year(YYYY){have}")
    start, end = temporal.bounds()
    last = end - _dt.timedelta(days=1)
    if start.year != last.year:
        raise SpecError(f"{model} is an annual product: the window {start}..{end} spans the years "
                        f"{start.year}..{last.year}; pass one year (TemporalSpec.year(YYYY)){have}")
    return start.year


@dataclass
class _Tile:
    """One tile's embedding source (quantised npy or dequantised GeoTIFF) and its UTM grid."""

    name: str
    crs: str
    transform: tuple[float, ...]
    shape: tuple[int, int]
    fmt: str
    files: dict[str, Path]

    def sample(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Dequantised vectors ``(N, 128)`` at tile-CRS points, and which points fall inside."""
        a, _, c, _, e, f = self.transform[:6]
        col = np.floor((x - c) / a).astype(np.int64)
        row = np.floor((y - f) / e).astype(np.int64)
        inside = (row >= 0) & (row < self.shape[0]) & (col >= 0) & (col < self.shape[1])
        row, col = row[inside], col[inside]
        if self.fmt == "npy":
            q = np.load(self.files["npy"], mmap_mode="r")
            scales = np.load(self.files["scales"], mmap_mode="r")
            if q.dtype != np.int8 or q.ndim != 3 or q.shape[:2] != self.shape:
                raise ProviderError(f"tile {str(self.files['npy'])!r} is {q.dtype} {q.shape}, expected int8 "
                                    f"{(*self.shape, DIM)} (the grid of its landmask {self.files['landmask'].name})")
            s = np.asarray(scales[row, col], np.float32)
            vec = np.asarray(q[row, col], np.float32) * (s[:, None] if s.ndim == 1 else s)
        else:
            vec = self._read_tiff(row, col)
        return vec, inside

    def _read_tiff(self, row: np.ndarray, col: np.ndarray) -> np.ndarray:
        from ..geoio import Window, open_raster

        if row.size == 0:
            return np.zeros((0, DIM), np.float32)
        r0, c0 = int(row.min()), int(col.min())
        win = Window(c0, r0, int(col.max()) - c0 + 1, int(row.max()) - r0 + 1)
        with open_raster(self.files["tiff"]) as src:
            block = src.read(window=win, dtype="float32")        # (128, h, w)
        return block[:, row - r0, col - c0].T


def tile_key(ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
    """One int64 per tile index pair, ordered as the pairs ``(ix, iy)`` are (|ix|, |iy| < 2048)."""
    return (np.asarray(ix, np.int64) + 2048) * 4096 + (np.asarray(iy, np.int64) + 2048)


def key_tile(key: int) -> tuple[int, int]:
    return key // 4096 - 2048, key % 4096 - 2048


@dataclass
class _Sample:
    """The product sampled on a grid: the pixel centres' coordinates, each pixel's tile (key)
    and the vectors ``(128, H, W)`` (NaN where no tile has data); ``tiles``: the tiles met
    (None: absent); ``owned``: ``data`` is this sample's alone (a cut shares its union's)."""

    xs: np.ndarray
    ys: np.ndarray
    keys: np.ndarray
    data: np.ndarray
    tiles: dict[int, _Tile | None]
    owned: bool = True

    def cut(self, union: RoiGrid, grid: RoiGrid) -> _Sample | None:
        """The part of this sample (on ``union``) under ``grid``; None unless ``grid``'s pixel
        centres are exactly those of the union there (so the cut is what ``grid`` samples)."""
        r0, c0 = groups.offset(union, grid)
        xs, ys = self.xs[c0:c0 + grid.width], self.ys[r0:r0 + grid.height]
        if not (np.array_equal(xs, grid.left + (np.arange(grid.width) + 0.5) * grid.res)
                and np.array_equal(ys, grid.top - (np.arange(grid.height) + 0.5) * grid.yres)):
            return None
        rows, cols = slice(r0, r0 + grid.height), slice(c0, c0 + grid.width)
        return _Sample(xs, ys, self.keys[rows, cols], self.data[:, rows, cols], self.tiles, owned=False)

    def tiles_under(self) -> tuple[list[_Tile], list[tuple[float, float]]]:
        """The tiles under this sample's pixels (in tile order), and the centres of those missing."""
        found = [(key, self.tiles[key]) for key in np.unique(self.keys).tolist()]
        return ([t for _, t in found if t is not None],
                [tile_centre(*key_tile(key)) for key, t in found if t is None])


class TesseraProvider(Provider):
    """GeoTessera tiles from a local folder (downloading missing ones when allowed)."""

    name = "tessera"
    #: ROIs read one after the other: a tile read is a memory-mapped gather of milliseconds,
    #: which threads only slow down (measured: benchmarks/bench_models.py)
    num_workers = 1

    def __init__(self, root: str | os.PathLike, *, download: bool = False, base_url: str | None = None,
                 registry_dir: str | os.PathLike | None = None) -> None:
        self.root = Path(root).expanduser()
        self.download = bool(download)
        self.base_url = (base_url or os.environ.get("RS_EMBED_TESSERA_URL") or BASE_URL).rstrip("/")
        self.registry_dir = Path(registry_dir) if registry_dir else self.root
        self._lock = threading.Lock()
        self._registries: dict[str, Any] = {}
        self._tiles: dict[tuple[int, float, float], _Tile] = {}  # opened tiles (grid read once)

    # -- what is here -----------------------------------------------------------------------
    def years_available(self) -> list[int]:
        base = self.root / EMBEDDINGS_DIR
        if not base.is_dir():
            return []
        return sorted(int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit() and any(p.iterdir()))

    def _open_tile(self, year: int, lon: float, lat: float) -> _Tile | None:
        tile = self._tiles.get((year, lon, lat))
        if tile is None:
            tile = self._find_tile(year, lon, lat)
            if tile is not None:
                self._tiles[(year, lon, lat)] = tile
        return tile

    def _find_tile(self, year: int, lon: float, lat: float) -> _Tile | None:
        files = tile_files(self.root, year, lon, lat)
        if not (files["npy"].exists() and files["scales"].exists() and files["landmask"].exists()) \
                and not files["tiff"].exists() and self.download:
            self._download(year, lon, lat, files)
        if files["npy"].exists() and files["scales"].exists() and files["landmask"].exists():
            fmt, grid_file = "npy", files["landmask"]
        elif files["tiff"].exists():
            fmt, grid_file = "tiff", files["tiff"]
        else:
            return None
        from ..geoio import raster_info

        info = raster_info(grid_file)
        if info.crs is None:
            raise ProviderError(f"GeoTessera tile grid {str(grid_file)!r} has no CRS")
        return _Tile(tile_name(lon, lat), info.crs, tuple(info.transform), info.shape, fmt, files)

    # -- fetching ------------------------------------------------------------------------------
    def fetch(self, spatial: SpatialSpec, temporal: TemporalSpec | None, sensor: SensorSpec, *,
              frames: int | None = None) -> Patch:
        spatial, sensor, grid = self.checked(spatial, sensor)
        year = product_year(temporal, "tessera", self.years_available())
        return self._patch(spatial, temporal, sensor, grid, year, self._sample(grid, year))

    def fetch_many(self, spatials: Sequence[SpatialSpec], temporal: TemporalSpec | None, sensor: SensorSpec, *,
                   frames: int | None = None, num_workers: int = 1) -> list[Patch]:
        """Many ROIs, tile-major: neighbouring ROIs (:mod:`.groups`) are sampled once on the grid
        that bounds them, each tile opened and gathered once for all of them, and every ROI cut
        from that sample: the same pixels as ROI by ROI (each pixel centre is sampled by the same
        rule from the same coordinates), and the same record of tiles used and missing. ROIs
        without neighbours, or whose bounding grid would be mostly empty, are fetched one by one."""
        from ..geo import roi_grids
        from ..specs import validate_spatial

        spatials = [validate_spatial(s) for s in spatials]
        if len(spatials) < 2:
            return super().fetch_many(spatials, temporal, sensor, frames=frames, num_workers=num_workers)
        _, sensor, _ = self.checked(spatials[0], sensor)
        year = product_year(temporal, "tessera", self.years_available())
        grids = roi_grids(spatials, sensor.scale_m)
        side = (self.max_union_bytes / (DIM * 4 + 48)) ** 0.5 * float(sensor.scale_m)   # float32 bands + coordinates

        def cut(sampled: _Sample, union: RoiGrid, k: int) -> Patch | None:
            part = sampled.cut(union, grids[k])   # None: its pixel centres are not exactly the union's
            return None if part is None else self._patch(spatials[k], temporal, sensor, grids[k], year, part)

        def alone(ks: list[int]) -> list[Patch]:
            return Provider.fetch_many(self, [spatials[k] for k in ks], temporal, sensor, frames=frames,
                                       num_workers=num_workers)

        return groups.fetch_by_unions(spatials, grids, side, side / groups.METRES_PER_DEGREE,
                                      lambda union: self._sample(union, year), cut, alone, self.union_max_ratio)

    #: largest grid of neighbouring ROIs sampled at once (its 128 float32 bands and coordinates)
    max_union_bytes = budget.READ_BUFFER
    #: a group is sampled once when its bounding grid has at most this share of its ROIs' pixels:
    #: sampling costs per pixel (and a cut is a copy), so it pays where ROIs overlap; ROIs side
    #: by side (a bounding grid of 1.07x their pixels) measured ~13 % slower than one by one
    union_max_ratio = 0.8

    def _sample(self, grid: RoiGrid, year: int) -> _Sample:
        """Every pixel centre of ``grid`` sampled from the tile whose 0.1-degree cell holds it."""
        from ..geoio import same_crs, transform_points

        xs = grid.left + (np.arange(grid.width) + 0.5) * grid.res
        ys = grid.top - (np.arange(grid.height) + 0.5) * grid.yres
        gx, gy = (a.reshape(-1) for a in np.meshgrid(xs, ys))
        lon, lat = transform_points(gx, gy, grid.crs, "EPSG:4326")
        ix, iy = tile_index(lon, lat)
        keys = tile_key(ix, iy)
        out = np.full((DIM, grid.height * grid.width), np.nan, np.float32)
        tiles: dict[int, _Tile | None] = {}
        for key in np.unique(keys).tolist():
            tile = tiles[key] = self._open_tile(year, *tile_centre(*key_tile(key)))
            if tile is None:
                continue
            sel = np.flatnonzero(keys == key)
            px, py = gx[sel], gy[sel]
            if not same_crs(tile.crs, grid.crs):
                px, py = transform_points(px, py, grid.crs, tile.crs)
            vec, inside = tile.sample(np.asarray(px), np.asarray(py))
            out[:, sel[inside]] = vec.T
        return _Sample(xs, ys, keys.reshape(grid.height, grid.width), out.reshape(DIM, grid.height, grid.width),
                       tiles)

    def _patch(self, spatial: SpatialSpec, temporal: TemporalSpec | None, sensor: SensorSpec, grid: RoiGrid,
               year: int, sampled: _Sample) -> Patch:
        """The ROI's patch from its sample (its own, or cut from its group's and then copied)."""
        used, missing = sampled.tiles_under()
        if not used:
            raise ProviderError(self._no_tiles_message(year, missing, spatial))
        data = sampled.data if sampled.owned else sampled.data.copy()
        hole = np.isnan(data[0])
        valid = float(1.0 - hole.mean())
        data[:, hole] = np.float32(sensor.fill_value)
        names = [t.name for t in used]
        frame = {"start": f"{year}-01-01", "end": f"{year + 1}-01-01", "mid": f"{year}-07-02",
                 "n_scenes": len(used), "scenes": names, "valid_fraction": valid}
        meta = {"product": "GeoTessera", "root": str(self.root), "year": year, "tiles": names,
                "tiles_missing": [tile_name(*t) for t in missing], "tile_crs": sorted({t.crs for t in used}),
                "dequantisation": "int8 * scales (geotessera.dequantize_embedding)",
                "sampling": "nearest: each pixel centre from the tile whose 0.1-degree cell holds it"}
        return Patch(data[None], BANDS, grid, [frame], sensor=sensor, temporal=temporal, backend="local:tessera",
                     meta=meta)

    def _no_tiles_message(self, year: int, missing: list[tuple[float, float]], spatial: SpatialSpec) -> str:
        from ..geo import roi_bounds_4326

        b = roi_bounds_4326(spatial)
        first = tile_files(self.root, year, *missing[0]) if missing else {}
        where = f" (e.g. {first['npy']}, its _scales.npy and {first['landmask']})" if first else ""
        how = ("downloading is off (model_options={'download': True} allows it)" if not self.download
               else "the server has none for this ROI and year (sea, or outside the product's coverage)")
        return (f"no GeoTessera tiles for {year} over this ROI in {str(self.root)!r}{where}; {how}. "
                f"Get them with geotessera: geotessera download --bbox '{b[0]:.4f},{b[1]:.4f},{b[2]:.4f},"
                f"{b[3]:.4f}' --year {year} --format npy --output {self.root}. "
                f"Years in this folder: {self.years_available()}")

    # -- downloading ---------------------------------------------------------------------------
    def _download(self, year: int, lon: float, lat: float, files: dict[str, Path]) -> None:
        """Fetch a tile's three files into the layout; a tile the server lacks stays absent."""
        with self._lock:
            try:
                import geotessera  # noqa: F401 - the official client, where installed
            except ImportError:
                geotessera = None
            if geotessera is not None and self.base_url == BASE_URL:
                self._download_with_geotessera(year, lon, lat)
            else:
                self._download_direct(year, lon, lat, files)

    def _download_with_geotessera(self, year: int, lon: float, lat: float) -> None:
        from geotessera import GeoTessera

        gt = self._registries.get("geotessera")
        if gt is None:
            gt = self._registries["geotessera"] = GeoTessera(embeddings_dir=str(self.root))
        try:
            gt.registry.fetch(year=year, lon=lon, lat=lat, is_scales=False, progressbar=False)
            gt.registry.fetch(year=year, lon=lon, lat=lat, is_scales=True, progressbar=False)
            gt.registry.fetch_landmask(lon=lon, lat=lat, progressbar=False)
        except Exception as exc:  # noqa: BLE001 - a tile the registry lacks: left absent
            if "not found" not in str(exc).lower() and "404" not in str(exc):
                raise ProviderError(f"geotessera could not download tile {tile_name(lon, lat)} ({year}): {exc}") \
                    from exc

    def _registry(self, name: str):
        """``registry.parquet`` / ``landmasks.parquet`` of the server, indexed by tile (downloaded once)."""
        if name in self._registries:
            return self._registries[name]
        from ..weights import fetch_file

        path = self.registry_dir / f"{DATASET_VERSION}_{name}.parquet"
        try:
            if not path.exists():
                fetch_file(f"{self.base_url}/{DATASET_VERSION}/{name}.parquet", path)
            import pandas as pd

            df = pd.read_parquet(path)
        except Exception as exc:  # noqa: BLE001 - offline, no pyarrow, corrupt file
            raise ProviderError(f"cannot read the GeoTessera {name} registry ({self.base_url}): {exc}") from exc
        index: dict[tuple, dict[str, Any]] = {}
        for row in df.to_dict("records"):
            key = (int(round(row["lon"] * 100)), int(round(row["lat"] * 100)))
            index[(int(row["year"]), *key) if "year" in row else key] = row
        self._registries[name] = index
        return index

    def _download_direct(self, year: int, lon: float, lat: float, files: dict[str, Path]) -> None:
        from ..weights import fetch_file

        key = (int(round(lon * 100)), int(round(lat * 100)))
        row = self._registry("registry").get((year, *key))
        if row is None:
            return  # not in the product (sea, outside coverage): the pixels stay empty
        mask_row = self._registry("landmasks").get(key) or {}
        name = tile_name(lon, lat)
        base = f"{self.base_url}/{DATASET_VERSION}"
        wanted = [(files["npy"], f"{base}/{EMBEDDINGS_DIR}/{year}/{name}/{name}.npy", row.get("hash")),
                  (files["scales"], f"{base}/{EMBEDDINGS_DIR}/{year}/{name}/{name}_scales.npy", row.get("scales_hash")),
                  (files["landmask"], f"{base}/{LANDMASKS_DIR}/{name}.tiff", mask_row.get("hash"))]
        for dest, url, sha in wanted:
            if dest.exists():
                continue
            try:
                fetch_file(url, dest, sha256=sha or None)
            except OSError as exc:
                raise ProviderError(f"could not download GeoTessera file {url}: {exc}") from exc

