"""Local backend (``backend="local"``): Sentinel-2 as users download it.

``root`` (provider option; default ``RS_EMBED_LOCAL_DATA``, then the bundled sample)
is a folder, or one file: a STAC ``catalog.json``, an ItemCollection or item JSON,
a ``.SAFE.zip``, a raster. A folder is searched for

- SAFE products (``*.SAFE`` folders, ``*.SAFE.zip``): :mod:`.sentinel2.safe`;
- STAC JSON (catalogs, ItemCollections, loose items from Earth Search, the Planetary
  Computer, the Copernicus Data Space), read with the standard library:
  :mod:`.sentinel2.stac_items`; files their assets point at belong to them;
- the other rasters (``.tif``/``.tiff``/``.jp2``): multi-band stacks with band
  descriptions, and per-band files grouped into scenes: :mod:`.sentinel2.files`.

For an ROI the provider takes the scenes that intersect it inside the window
``[start, end)`` and pass ``cloudy_pct``, reads each onto the ROI's UTM grid at
``sensor.scale_m`` (reprojected from any tile and UTM zone; 20/60 m bands
resampled with ``resampling``, SCL with nearest), converts it to reflectance x
10000 without offset (:mod:`.sentinel2.radiometry`, recorded per scene in
``patch.meta["radiometry"]``), masks clouds with SCL, composites (``median`` or
``mosaic``, later scenes on top as in Earth Engine), fills gaps with
``fill_value`` and checks the result (:mod:`.sanity`).

:meth:`SceneProvider.fetch_many` reads a batch scene-major: the ROIs, ordered by
place, are split among at most ``num_workers`` readers that keep their files open,
so each file is opened once per reader rather than once per ROI.
:class:`RasterReader` is the one place pixels are read (through ``engine.geoio``:
rasterio headless, QGIS's own GDAL inside QGIS).
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from .. import budget, geoio
from ..errors import ProviderError, SpecError
from ..geo import RoiGrid, roi_grid, roi_grids
from ..progress import check_cancelled, in_scope
from ..specs import SensorSpec, SpatialSpec, TemporalSpec
from . import groups
from . import sanity as _sanity
from .bands import S2_REFLECTANCE, canonical_band, missing_bands_message
from .base import Patch, Provider
from .sentinel2.radiometry import IDENTITY, UNIT_DETECTED, Scaling, from_gdal, looks_unit_reflectance
from .sentinel2.scene import Scene

#: SCL classes masked as invalid: no data, saturated, cloud shadow, cloud (medium,
#: high probability), thin cirrus. Snow (11) is kept: it is a surface.
SCL_MASKED = (0, 1, 3, 8, 9, 10)
RESAMPLINGS = ("nearest", "bilinear", "cubic", "cubic_spline", "lanczos", "average", "mode")


def bundled_sample_dir() -> Path:
    """The sample data shipped with the plugin (``resources/sample_data``)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent / "resources" / "sample_data"
        if cand.is_dir():
            return cand
    return here.parents[3] / "resources" / "sample_data"


def default_root() -> Path:
    return Path(os.environ.get("RS_EMBED_LOCAL_DATA") or bundled_sample_dir())


def boxes_intersect(a: Sequence[float], b: Sequence[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


# -- pixel reading: the one place that reads pixels (through engine.geoio) ----------------------
class RasterReader:
    """Reads bands of raster files onto ROI grids, keeping each file open until
    :meth:`close` (at most ``max_open`` at a time), so a batch opens a file once.

    A grid aligned with the file's pixels (same CRS and pixel size, whole-pixel
    offset), or any grid in the file's CRS with nearest resampling (SCL at 20 m on a
    10 m grid), is picked from a window of the open file; any other grid is warped by
    GDAL (``geoio.warp_read``). Values equal to the file's nodata (0 where it declares
    none) and pixels outside the file are NaN. ``env``: GDAL options for the reads (the
    STAC backend's HTTP settings). Use one reader per thread, inside ``with reader:``.

    Scene-major groups: after :meth:`expect` (the grids of a group of nearby ROIs), the
    first window picked from a file reads the union of the group's windows in that file
    once, and every ROI of the group is cut from it; a group whose union would exceed
    ``max_group_px`` pixels reads ROI by ROI. Memory: one union window per (file, band set)
    of the current group.
    """

    #: largest union window (pixels) a group reads at once: 1024 x 1024, ~12 MB for six uint16 bands
    max_group_px = 1024 * 1024

    def __init__(self, env: dict[str, Any] | None = None, max_open: int = 64) -> None:
        self.env = dict(env or {})
        self.max_open = max_open
        self._open: OrderedDict[str, Any] = OrderedDict()
        self._session: contextlib.ExitStack | None = None
        self._group: list[RoiGrid] = []
        self._windows: dict[tuple[str, tuple[int, ...]], tuple[int, int, np.ndarray] | None] = {}

    def _config(self):
        """The reads' GDAL options: set for the reader's session (``with reader:``), else per call."""
        if self._session is not None:
            return contextlib.nullcontext()
        return geoio.gdal_config(**self.env)

    def _raster(self, path: str):
        r = self._open.get(path)
        if r is not None:
            self._open.move_to_end(path)
            return r
        r = geoio.open_raster(path)
        self._open[path] = r
        if len(self._open) > self.max_open:
            self._open.popitem(last=False)[1].close()
        return r

    def info(self, path: str) -> geoio.RasterInfo:
        with self._config():
            return self._raster(path).info

    def forget(self, path: str) -> None:
        """Close a file (after a failed read: the next attempt opens it afresh)."""
        r = self._open.pop(path, None)
        if r is not None:
            r.close()
        self._windows = {k: v for k, v in self._windows.items() if k[0] != path}

    def expect(self, grids: Sequence[RoiGrid]) -> None:
        """The grids the next reads are for (a scene-major group): each file is read once for them."""
        self._group = list(grids)
        self._windows.clear()

    def _group_window(self, path: str, indexes: list[int], r: Any, info: geoio.RasterInfo
                      ) -> tuple[int, int, np.ndarray] | None:
        """``(row0, col0, pixels)`` of the union of the group's windows in this file, read on first
        use; None without a group, or when the union is too large to read at once."""
        key = (path, tuple(indexes))
        if key not in self._windows:
            box = None
            for g in self._group:
                under = self._pixels_under(info, g)
                if under is None:
                    continue
                rows, cols, _ = under
                rows, cols = rows[(rows >= 0) & (rows < info.height)], cols[(cols >= 0) & (cols < info.width)]
                if not len(rows) or not len(cols):
                    continue
                b = (int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1)
                box = b if box is None else (min(box[0], b[0]), max(box[1], b[1]), min(box[2], b[2]),
                                             max(box[3], b[3]))
            if box is None or (box[1] - box[0]) * (box[3] - box[2]) > self.max_group_px:
                self._windows[key] = None
            else:
                r0, r1, c0, c1 = box
                self._windows[key] = (r0, c0, r.read(indexes, geoio.Window(c0, r0, c1 - c0, r1 - r0)))
        return self._windows[key]

    @staticmethod
    def _pixels_under(info: geoio.RasterInfo, grid: RoiGrid) -> tuple[np.ndarray, np.ndarray, bool] | None:
        """Rows and columns of the file's pixels under the grid's pixel centres, and whether
        the grid is the file's own pixel grid (same size, whole-pixel offset); None when the
        file is in another CRS or rotated (it needs warping)."""
        a, b, c, d, e, f = info.transform
        if info.crs != grid.crs or b or d or a <= 0 or e >= 0:
            return None
        x = (grid.left + (np.arange(grid.width) + 0.5) * grid.res - c) / a
        y = (f - grid.top + (np.arange(grid.height) + 0.5) * grid.yres) / -e
        cols, rows = np.floor(x + 1e-9).astype(np.int64), np.floor(y + 1e-9).astype(np.int64)
        col0, row0 = (grid.left - c) / a, (f - grid.top) / -e
        own = (abs(a - grid.res) < 1e-9 * a and abs(-e - grid.yres) < 1e-9 * a
               and abs(col0 - round(col0)) < 1e-6 and abs(row0 - round(row0)) < 1e-6)
        return rows, cols, own

    def read(self, path: str, indexes: Sequence[int], grid: RoiGrid, resampling: str) -> np.ndarray:
        """``(len(indexes), H, W)`` float32 on ``grid``, NaN where there is no data.

        On the file's own pixel grid, or with nearest resampling in the file's CRS, the
        pixels are picked from one window read; anything else is warped by GDAL.
        """
        indexes = list(indexes)
        with self._config():
            r = self._raster(path)
            info = r.info
            under = self._pixels_under(info, grid)
            if under is None or not (under[2] or resampling == "nearest"):
                # a file without a nodata value: 0 is Sentinel-2's "no data"
                return r.warp(indexes, grid, resampling=resampling,
                              nodata_if_unset=0).astype(np.float32, copy=False)
            nodata = info.nodata1 if info.nodata1 is not None else 0
            rows, cols, _ = under
            out = np.full((len(indexes), grid.height, grid.width), np.nan, np.float32)
            r_in, c_in = (rows >= 0) & (rows < info.height), (cols >= 0) & (cols < info.width)
            if r_in.any() and c_in.any():
                r0, r1 = int(rows[r_in].min()), int(rows[r_in].max()) + 1
                c0, c1 = int(cols[c_in].min()), int(cols[c_in].max()) + 1
                union = self._group_window(path, indexes, r, info) if self._group else None
                if (union is not None and union[0] <= r0 and r1 <= union[0] + union[2].shape[1]
                        and union[1] <= c0 and c1 <= union[1] + union[2].shape[2]):
                    raw, r0, c0 = union[2], union[0], union[1]   # cut from the group's one read
                else:
                    raw = r.read(indexes, geoio.Window(c0, r0, c1 - c0, r1 - r0))
                raw = raw[:, rows[r_in] - r0][:, :, cols[c_in] - c0]
                part = raw.astype(np.float32)
                part[(raw == nodata) | ~np.isfinite(part)] = np.nan
                out[:, np.flatnonzero(r_in)[:, None], np.flatnonzero(c_in)[None, :]] = part
            return out

    def close(self) -> None:
        self.expect(())
        while self._open:
            self._open.popitem()[1].close()
        if self._session is not None:
            session, self._session = self._session, None
            session.close()

    def __enter__(self) -> RasterReader:
        """One GDAL configuration for all the reads of this reader (in this thread)."""
        self._session = contextlib.ExitStack()
        self._session.enter_context(geoio.gdal_config(**self.env))
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def nanmedian_layers(stack: np.ndarray) -> np.ndarray:
    """``np.nanmedian(stack, axis=0)`` (all-NaN pixels stay NaN) for a stack of a few layers.

    numpy takes its masked-array path for fewer than 600 layers, ~10x slower than this sort:
    the median of the ``k`` valid values is the mean of the sorted values at ``(k-1)//2`` and
    ``k//2`` (NaN sorts last).
    """
    s = np.sort(stack, axis=0)
    k = np.count_nonzero(~np.isnan(stack), axis=0)[None]
    lo = np.take_along_axis(s, np.maximum(k - 1, 0) // 2, axis=0)[0]
    hi = np.take_along_axis(s, k // 2, axis=0)[0]
    return ((lo + hi) / 2).astype(stack.dtype, copy=False)


def _naming_roi(k: int, fetch):
    """``fetch()``, its provider errors prefixed with the ROI's index in the batch."""
    try:
        return fetch()
    except _sanity.InputSanityError as exc:
        raise _sanity.InputSanityError(f"ROI #{k}: {exc}", exc.patch, exc.facts) from None
    except ProviderError as exc:
        raise ProviderError(f"ROI #{k}: {exc}") from None


@dataclasses.dataclass(frozen=True)
class _Composite:
    """Per time bin, the composite of the bin's scenes on a grid (NaN: no valid value), the
    scenes of each bin and every scene's radiometry record; ``owned``: ``data`` is this
    composite's alone (a cut shares its group's and is copied before filling)."""

    bins: list[tuple[_dt.date, _dt.date]]
    members: list[list[Scene]]
    data: np.ndarray
    records: dict[str, Any]
    owned: bool

    def cut(self, row0: int, col0: int, height: int, width: int) -> _Composite:
        return dataclasses.replace(self, data=self.data[:, :, row0:row0 + height, col0:col0 + width],
                                   owned=False)


# -- scenes -> patches (the local and the STAC backend) -----------------------------------------
class SceneProvider(Provider):
    """Selected scenes -> a checked :class:`Patch`: reading, radiometry, SCL masking,
    compositing, sanity. Subclasses say which scenes an ROI has (:meth:`select_scenes`)."""

    name = "scenes"
    backend = "scenes"  # the backend name patches carry (the registry's: local, stac)
    resampling = "bilinear"
    num_workers = 4
    sanity = _sanity.SanityPolicy()

    def _configure(self, resampling: str, num_workers: int, min_valid_fraction: float | None,
                   on_implausible: str | None) -> None:
        if resampling not in RESAMPLINGS:
            raise SpecError(f"resampling must be one of {RESAMPLINGS}, got {resampling!r}")
        if int(num_workers) < 1:
            raise SpecError(f"num_workers must be >= 1, got {num_workers}")
        self.resampling = resampling
        self.num_workers = int(num_workers)
        self.sanity = _sanity.SanityPolicy.from_options(min_valid_fraction, on_implausible)
        self._batch = threading.local()  # the reader each thread of a fetch_many uses

    def select_scenes(self, spatial: SpatialSpec, temporal: TemporalSpec | None,
                      sensor: SensorSpec, grid: RoiGrid | None = None) -> list[Scene]:
        raise NotImplementedError

    def new_reader(self) -> RasterReader:
        return RasterReader()

    # -- selection helpers ------------------------------------------------------------------
    @staticmethod
    def in_window(hit: list[Scene], temporal: TemporalSpec | None, sensor: SensorSpec) -> list[Scene]:
        """Scenes of ``hit`` inside ``[start, end)`` and not cloudier than ``cloudy_pct``."""
        if temporal is not None:
            start, end = temporal.bounds()
            in_window = [s for s in hit if start <= s.date < end]
            if not in_window:
                dates = sorted({s.date.isoformat() for s in hit})
                raise ProviderError(
                    f"no scene in the window [{start}, {end}) over this ROI; "
                    f"scene dates available there: {dates}")
            hit = in_window
        ok = [s for s in hit if s.cloudy_pct is None or s.cloudy_pct <= sensor.cloudy_pct]
        if not ok:
            raise ProviderError(
                f"every scene in the window is cloudier than cloudy_pct={sensor.cloudy_pct} "
                f"(scene cloud percentages: {sorted(s.cloudy_pct for s in hit)})")
        return ok

    @staticmethod
    def check_bands(scenes: list[Scene], sensor: SensorSpec) -> None:
        """Every scene has every band the sensor asks for, else an error saying what is there."""
        for s in scenes:
            lacking = [b for b in sensor.bands if canonical_band(b) not in s.bands]
            if lacking:
                msg = missing_bands_message(s.where, s.bands, sensor.bands, s.meta.get("unrecognised", ()))
                gone = s.meta.get("missing") or {}
                msg += "".join(f"; {b}: {gone[canonical_band(b)]} is missing" for b in lacking
                               if canonical_band(b) in gone)
                raise ProviderError(msg)

    # -- fetching -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _reader(self) -> Iterator[RasterReader]:
        """This thread's reader: the one of the enclosing fetch or batch (kept open), else a
        fresh one for this block (closed after it)."""
        current = getattr(self._batch, "reader", None)
        if current is not None:
            yield current
            return
        with self.new_reader() as reader:
            self._batch.reader = reader
            try:
                yield reader
            finally:
                self._batch.reader = None

    def session(self):
        """This thread's reader kept open (its files with it) for the block: a lane of an
        export fetches every chunk through it."""
        return self._reader()

    def fetch(self, spatial: SpatialSpec, temporal: TemporalSpec | None,
              sensor: SensorSpec, *, frames: int | None = None) -> Patch:
        spatial, sensor, grid = self.checked(spatial, sensor)
        scenes = self.select_scenes(spatial, temporal, sensor, grid)
        with self._reader():
            return self._assemble(spatial, temporal, sensor, grid, scenes, frames)

    def fetch_many(self, spatials: Sequence[SpatialSpec], temporal: TemporalSpec | None,
                   sensor: SensorSpec, *, frames: int | None = None,
                   num_workers: int | None = None) -> list[Patch]:
        """Many ROIs, scene-major: the ROIs are ordered by place (west to east in bands north
        to south) and split among at most ``num_workers`` readers, each of which keeps its
        files open for all its ROIs, so a file is opened once per reader instead of once per
        ROI; and each reader takes its ROIs in groups of neighbours and reads each file once
        per group (:meth:`RasterReader.expect`), cutting every ROI from that one read."""
        from ..specs import validate_spatial

        spatials = [validate_spatial(s) for s in spatials]
        n = min(self.num_workers if num_workers is None else max(1, int(num_workers)), len(spatials))
        side_m = RasterReader.max_group_px ** 0.5 * float(sensor.scale_m)   # a group's extent
        order = groups.by_place(spatials, side_m / groups.METRES_PER_DEGREE)
        chunks = [order[i * len(order) // n:(i + 1) * len(order) // n] for i in range(n)] if n else []
        grids = dict(zip(range(len(spatials)), roi_grids(spatials, sensor.scale_m), strict=True))

        def run(chunk: list[int]) -> list[tuple[int, Patch]]:
            with self._reader() as reader:  # one reader for the whole chunk
                done = []
                for group in groups.neighbour_groups(chunk, grids, side_m):
                    reader.expect([grids[k] for k in group])
                    done += self._fetch_group(group, spatials, grids, temporal, sensor, frames, side_m)
                reader.expect(())
                return done

        if n <= 1:
            done = [r for c in chunks for r in run(c)]
        else:
            with ThreadPoolExecutor(max_workers=n, thread_name_prefix="scene-read") as pool:
                done = [r for rs in pool.map(in_scope(run), chunks) for r in rs]
        patches = dict(done)
        return [patches[k] for k in range(len(spatials))]

    def _fetch_roi(self, k: int, spatial: SpatialSpec, temporal: TemporalSpec | None,
                   sensor: SensorSpec, frames: int | None) -> Patch:
        check_cancelled()  # a cancel point before each ROI
        return _naming_roi(k, lambda: self.fetch(spatial, temporal, sensor, frames=frames))

    #: composite a group of neighbouring ROIs once on the grid that bounds them (see
    #: :meth:`_fetch_group`); off for readers whose scenes are not plain rasters (MODIS swaths)
    union_composites = False
    #: ... when that grid is at most this many times the ROIs' own pixels
    union_max_ratio = 1.5

    def composites_unions(self, sensor: SensorSpec) -> bool:
        """Whether :meth:`_fetch_group` may composite a group's ROIs once for ``sensor``."""
        return self.union_composites

    def _fetch_group(self, group: list[int], spatials: Sequence[SpatialSpec], grids: dict[int, RoiGrid],
                     temporal: TemporalSpec | None, sensor: SensorSpec, frames: int | None,
                     side: float) -> list[tuple[int, Patch]]:
        """A group of neighbouring ROIs (one CRS, pixel grids snapped to the same multiples of
        the scale). Those that select the same scenes and, together, cover most of the grid
        that bounds them (overlapping ROIs, a tiling of a study area: at most
        ``union_max_ratio`` times their own pixels; :func:`groups.fetch_by_unions`) are read,
        masked and composited once on that grid, and each ROI's patch is cut from it:
        compositing is per pixel, so a cut is the ROI's own composite, and the ROI-by-ROI work
        left is its check and its record. Any other ROI, a union with scene files in another
        CRS than the ROIs' (warped through an approximate transformer), too large for the read
        buffer, or whose shared read fails is fetched ROI by ROI (errors then name the ROI)."""
        def alone(ks: Sequence[int]) -> list[tuple[int, Patch]]:
            return [(k, self._fetch_roi(k, spatials[k], temporal, sensor, frames)) for k in ks]

        if len(group) < 2 or not self.composites_unions(sensor):
            return alone(group)
        lone: list[int] = []
        same: dict[tuple[str, ...], tuple[list[Scene], SensorSpec, list[tuple[int, SpatialSpec, RoiGrid]]]] = {}
        for k in group:
            try:
                sp, sn, g = self.checked(spatials[k], sensor)
                scenes = self.select_scenes(sp, temporal, sn, g)
            except (ProviderError, SpecError):
                lone.append(k)  # fetched alone, where the error is raised naming the ROI
                continue
            same.setdefault(tuple(s.id for s in scenes), (scenes, sn, []))[2].append((k, sp, g))
        out = alone(lone)
        for scenes, sn, members in same.values():
            bins = self._bins(scenes, temporal, frames)

            def read(union: RoiGrid, scenes=scenes, sn=sn, bins=bins) -> _Composite | None:
                if len(bins) * len(sn.bands) * union.width * union.height * 4 > self.read_buffer_bytes:
                    return None
                try:
                    with self._reader() as reader:
                        # a file in another CRS is warped through GDAL's approximate transformer,
                        # whose result depends on the extent warped: such ROIs are read alone, so
                        # an ROI's pixels do not depend on the batch it came in
                        if any(reader.info(f).crs != union.crs for sc in scenes for f in self._files_read(sc, sn)):
                            return None
                        return self._composite_grid(union, scenes, sn, bins)
                except ProviderError:
                    return None  # each alone: its error names it

            def cut(raw: _Composite | None, union: RoiGrid, m: int, members=members, sn=sn,
                    scenes=scenes) -> tuple[int, Patch] | None:
                if raw is None:
                    return None
                k, sp, g = members[m]
                check_cancelled()
                part = raw.cut(*groups.offset(union, g), g.height, g.width)
                return k, _naming_roi(k, lambda: self._patch(sp, temporal, sn, g, part, scenes))

            out += groups.fetch_by_unions(
                [sp for _, sp, _ in members], [g for _, _, g in members], side, side / groups.METRES_PER_DEGREE,
                read, cut, lambda ms, members=members: alone([members[m][0] for m in ms]), self.union_max_ratio)
        return out

    def _bins(self, scenes: list[Scene], temporal: TemporalSpec | None,
              frames: int | None) -> list[tuple[_dt.date, _dt.date]]:
        if frames is None:
            if temporal is not None:
                return [temporal.bounds()]
            return [(min(s.date for s in scenes), max(s.date for s in scenes) + _dt.timedelta(days=1))]
        if temporal is None:
            raise SpecError("a multi-frame fetch needs a temporal window, got temporal=None")
        return [(b.start, b.end) for b in temporal.split(frames)]

    #: memory for the scenes of one block of rows (and their stacked copy and the median's work):
    #: a large ROI is read and composited block by block, so its scenes never pile up whole
    read_buffer_bytes: int = budget.READ_BUFFER

    def block_rows(self, n_scenes: int, sensor: SensorSpec, grid: RoiGrid) -> int:
        """Rows of the ROI's grid read and composited at once. A row of one scene's bands costs
        about 9 times its float32 size while it is read, warped, masked, stacked and composited
        (measured: ``benchmarks/bench_memory.py``)."""
        per_row = max(1, n_scenes) * len(sensor.bands) * grid.width * 4 * 9
        return max(1, min(grid.height, int(self.read_buffer_bytes // per_row)))

    def _assemble(self, spatial: SpatialSpec, temporal: TemporalSpec | None, sensor: SensorSpec,
                  grid: RoiGrid, scenes: list[Scene], frames: int | None) -> Patch:
        raw = self._composite_grid(grid, scenes, sensor, self._bins(scenes, temporal, frames))
        return self._patch(spatial, temporal, sensor, grid, raw, scenes)

    def _composite_grid(self, grid: RoiGrid, scenes: list[Scene], sensor: SensorSpec,
                        bins: list[tuple[_dt.date, _dt.date]]) -> _Composite:
        """The scenes read onto ``grid``, masked and composited per time bin, NaN where no
        scene had valid data (``fill_value`` is put in by :meth:`_patch`)."""
        members = [[s for s in scenes if start <= s.date < end] for start, end in bins]
        data = np.empty((len(bins), len(sensor.bands), grid.height, grid.width), np.float32)
        records: dict[str, Any] = {}
        rows = self.block_rows(len(scenes), sensor, grid)
        for r0 in range(0, grid.height, rows):  # the composite is per pixel: blocks change nothing
            r1 = min(grid.height, r0 + rows)
            block = grid if rows >= grid.height else dataclasses.replace(
                grid, top=grid.top - r0 * grid.yres, height=r1 - r0)
            stacks = {}
            for s in scenes:
                check_cancelled()  # a long fetch stops between scenes (and blocks) when the caller cancels
                stacks[s.id], records[s.id] = self.scene_stack(s, block, sensor)
            for t, mem in enumerate(members):
                data[t, :, r0:r1] = self._composite([stacks[s.id] for s in mem], sensor, block)
            del stacks
        return _Composite(bins, members, data, records, owned=True)

    def _patch(self, spatial: SpatialSpec, temporal: TemporalSpec | None, sensor: SensorSpec,
               grid: RoiGrid, raw: _Composite, scenes: list[Scene]) -> Patch:
        """The checked patch of an ROI from its composite (its own, or cut from its group's)."""
        data = raw.data if raw.owned else raw.data.copy()
        gaps = np.isnan(data)
        valid_px = 1.0 - gaps.any(axis=1).mean(axis=(1, 2))   # per frame: pixels valid in every band
        data[gaps] = np.float32(sensor.fill_value)
        frame_info = []
        for (start, end), mem, valid in zip(raw.bins, raw.members, valid_px, strict=True):
            mid = start + (end - start) / 2
            frame_info.append({
                "start": start.isoformat(), "end": end.isoformat(), "mid": mid.isoformat(),
                "n_scenes": len(mem), "scenes": [s.id for s in mem],
                "scene_dates": [s.date.isoformat() for s in mem], "valid_fraction": float(valid),
                "radiometry": [raw.records[s.id]["summary"] for s in mem]})
        meta = {"composite": sensor.composite, "resampling": self.resampling,
                "radiometry": raw.records, **self.describe_source()}
        notes = sorted({s.meta["note"] for s in scenes if s.meta.get("note")})
        if notes:
            meta["notes"] = notes
        patch = Patch(data, tuple(sensor.bands), grid, frame_info,
                      sensor=sensor, temporal=temporal, backend=self.backend, meta=meta)
        return _sanity.check(patch, spatial, temporal, self.sanity)

    def describe_source(self) -> dict[str, Any]:
        """What the patch meta says about where the data came from."""
        return {}

    def scene_stack(self, scene: Scene, grid: RoiGrid, sensor: SensorSpec) -> tuple[np.ndarray, dict[str, Any]]:
        """A scene's bands on the grid and its radiometry record (the STAC backend caches this).

        ``_read_scene`` returns the pixels (its contract, which readers of other sensors
        override); what it applied travels beside them in this thread's ``applied``."""
        self._batch.applied = None
        arr = self._read_scene(scene, grid, sensor)
        applied, self._batch.applied = self._batch.applied, None
        return arr, self.radiometry_record(scene, applied or {})

    def read_file(self, reader: RasterReader, scene: Scene, path: str, indexes: list[int],
                  grid: RoiGrid, resampling: str) -> tuple[np.ndarray, geoio.RasterInfo]:
        """One file's bands on the grid; errors name the file and the scene."""
        try:
            return reader.read(path, indexes, grid, resampling), reader.info(path)
        except Exception as exc:  # noqa: BLE001 - GDAL fails in several ways
            raise ProviderError(f"cannot read raster {path!r} of scene {scene.id!r}: {exc}") from exc

    @staticmethod
    def _files_read(scene: Scene, sensor: SensorSpec) -> set[str]:
        """The files of ``scene`` that :meth:`_read_scene` reads for ``sensor`` (its bands and SCL)."""
        names = [canonical_band(b) for b in sensor.bands] + (["SCL"] if "SCL" in scene.bands else [])
        return {scene.bands[b][0] for b in names}

    def _read_scene(self, scene: Scene, grid: RoiGrid, sensor: SensorSpec) -> np.ndarray:
        """``(C, H, W)`` float32 reflectance x 10000 of the sensor's bands on the ROI grid, NaN
        where invalid (this thread's reader); the rules applied go to this thread's ``applied``."""
        with self._reader() as reader:
            want = [canonical_band(b) for b in sensor.bands]
            by_file: dict[tuple[str, bool], list[tuple[int, int]]] = {}
            for ci, b in enumerate(want):
                f, bi = scene.bands[b]
                by_file.setdefault((f, b == "SCL"), []).append((ci, bi))
            out = np.full((len(want), grid.height, grid.width), np.nan, np.float32)
            applied: dict[str, Scaling] = {}
            for (f, is_scl), pairs in by_file.items():
                arr, info = self.read_file(reader, scene, f, [bi for _, bi in pairs], grid,
                                           "nearest" if is_scl else self.resampling)
                rules = {}
                for k, (ci, bi) in enumerate(pairs):
                    if is_scl or want[ci] not in S2_REFLECTANCE:  # SCL, other products: as stored
                        out[ci] = arr[k]
                        continue
                    rule = scene.scaling.get(want[ci])
                    if rule is None or not rule.explicit:
                        rule = from_gdal(info.scales[bi - 1], info.offsets[bi - 1])
                    rules[k] = rule
                floats = [k for k, (_, bi) in enumerate(pairs) if k in rules and rules[k] is IDENTITY
                          and info.dtypes[bi - 1].startswith("float")]
                if floats and looks_unit_reflectance(arr[floats]):
                    rules.update({k: UNIT_DETECTED for k in floats})
                for k, rule in rules.items():
                    ci = pairs[k][0]
                    out[ci] = rule.apply(arr[k])
                    applied[want[ci]] = rule
            if "SCL" in scene.bands:
                f, bi = scene.bands["SCL"]
                scl, _ = self.read_file(reader, scene, f, [bi], grid, "nearest")
                bad = np.isin(scl[0], SCL_MASKED) | np.isnan(scl[0])
                # SCL is a mask for the reflectance bands; asked for as a band, it stays as it is.
                for ci, b in enumerate(want):
                    if b != "SCL":
                        out[ci][bad] = np.nan
            self._batch.applied = applied
            return out

    @staticmethod
    def radiometry_record(scene: Scene, applied: dict[str, Scaling]) -> dict[str, Any]:
        """JSON-friendly: what was applied to each band of a scene, and a one-line summary."""
        per_band = {b: r.describe() for b, r in applied.items()}
        kinds = sorted(set(per_band.values()))
        if not kinds:
            summary = "no Sentinel-2 reflectance band: values as the scene's reader gives them"
        elif len(kinds) == 1:
            summary = kinds[0]
        else:
            summary = "per band: " + "; ".join(f"{b}: {d}" for b, d in sorted(per_band.items()))
        rec: dict[str, Any] = {"summary": f"{scene.id}: {summary}", "bands": per_band,
                               "level": scene.meta.get("level"),
                               "processing_baseline": scene.meta.get("processing_baseline")}
        if scene.meta.get("note"):
            rec["note"] = scene.meta["note"]
        if not any(r.explicit for r in applied.values()) and any(b in S2_REFLECTANCE for b in applied):
            rec["warning"] = ("no product metadata gives this scene's radiometry: values were taken as "
                              "stored (if these are ESA digital numbers of processing baseline >= 04.00, "
                              "keep the product's MTD_MSIL2A.xml or STAC item with them)")
        return rec

    @staticmethod
    def _composite(stacks: list[np.ndarray], sensor: SensorSpec, grid: RoiGrid) -> np.ndarray:
        """The scenes' composite, NaN where none has a valid value."""
        shape = (len(sensor.bands), grid.height, grid.width)
        if not stacks:
            return np.full(shape, np.nan, np.float32)
        if len(stacks) == 1:  # one scene: median and mosaic are the scene itself
            return stacks[0]
        if sensor.composite == "mosaic":
            comp = np.full(shape, np.nan, np.float32)
            for arr in stacks:  # ascending dates: later scenes on top, as in Earth Engine
                ok = ~np.isnan(arr)
                comp[ok] = arr[ok]
            return comp
        return nanmedian_layers(np.stack(stacks))


class LocalProvider(SceneProvider):
    """Scenes from a local folder, a static STAC catalog / item file, or a SAFE product."""

    name = "local"
    backend = "local"  # also for the readers of other sensors it hands a fetch to (MODIS)
    cpu_bound = True   # decoding local files: readers share the worker's cores
    union_composites = True

    def __init__(self, root: str | None = None, catalog: str | None = None,
                 resampling: str = "bilinear", num_workers: int = 4,
                 min_valid_fraction: float = _sanity.MIN_VALID_FRACTION,
                 on_implausible: str = "raise") -> None:
        self.root = Path(root).expanduser() if root else default_root()
        self.catalog = Path(catalog).expanduser() if catalog else None
        self._configure(resampling, num_workers, min_valid_fraction, on_implausible)
        self._scenes: list[Scene] | None = None
        self._lock = threading.Lock()

    # -- the scene index ----------------------------------------------------------------
    def scenes(self) -> list[Scene]:
        with self._lock:
            if self._scenes is None:
                self._scenes = self._index()
            return self._scenes

    def _index(self) -> list[Scene]:
        from .sentinel2 import files, safe, stac_items

        if self.catalog is not None:
            if not self.catalog.is_file():
                raise ProviderError(f"STAC catalog not found: {str(self.catalog)!r}")
            scenes = self._stac_scenes([self.catalog], set())
        elif self.root.is_file():
            suffix = self.root.suffix.lower()
            if safe.is_safe_zip(self.root):
                scenes = safe.read_safe(self.root)
            elif suffix == ".json":
                if stac_items.stac_kind(stac_items.read_json(self.root)) is None:
                    raise ProviderError(f"{str(self.root)!r} is not a STAC catalog, item collection or item")
                scenes = self._stac_scenes([self.root], set())
            elif suffix in files.RASTER_SUFFIXES:
                scenes = files.scenes_from_rasters([self.root])
            else:
                raise ProviderError(
                    f"local data {str(self.root)!r} is a file of an unknown kind: expected a folder, a STAC "
                    "catalog.json, an ItemCollection or item JSON, a .SAFE.zip or a GeoTIFF/JPEG2000")
        elif self.root.is_dir():
            scenes = self._index_folder(self.root)
        else:
            raise ProviderError(f"local data folder not found: {str(self.root)!r}")
        if not scenes:
            raise ProviderError(
                f"no Sentinel-2 scenes found in {str(self.root)!r} (looked for SAFE products, STAC "
                "catalogs/items, GeoTIFF/JPEG2000 stacks and per-band files)")
        unique: dict[str, Scene] = {}
        for s in scenes:  # one product kept twice (a zip and its unzipped folder) counts once
            unique.setdefault(s.id, s)
        return sorted(unique.values(), key=lambda s: (s.date, s.id))

    @staticmethod
    def _stac_scenes(paths: list[Path], claimed: set[str]) -> list[Scene]:
        """Scenes of STAC JSON files, each item once; the files they use go to ``claimed``."""
        from .sentinel2 import stac_items

        out: dict[str, Scene] = {}
        for p in paths:
            for item, location in stac_items.load_items(p):
                s = stac_items.scene_from_item(item, location)
                if s.id in out:
                    continue
                out[s.id] = s
                claimed.update(str(Path(f).resolve()) for f, _ in s.bands.values())
        return list(out.values())

    def _index_folder(self, root: Path) -> list[Scene]:
        from .sentinel2 import files, safe, stac_items

        if safe.is_safe_dir(root):
            return safe.read_safe(root)
        products, jsons, rasters = [], [], []
        for d, dirs, names in os.walk(root):
            here = Path(d)
            for sub in list(dirs):
                if sub.startswith("."):
                    dirs.remove(sub)
                elif safe.is_safe_dir(here / sub):
                    products.append(here / sub)
                    dirs.remove(sub)  # a product is read as a whole
            for n in names:
                p = here / n
                low = n.lower()
                if low.endswith(".zip") and safe.is_safe_zip(p):
                    products.append(p)
                elif low.endswith(".json"):
                    jsons.append(p)
                elif low.endswith(files.RASTER_SUFFIXES):
                    rasters.append(p)
        scenes = [s for p in sorted(products) for s in safe.read_safe(p)]
        # catalogs first, so that items they link and loose copies are read once
        stac = [p for p in jsons if stac_items.stac_kind(stac_items.read_json(p)) is not None]
        stac.sort(key=lambda p: (p.name != "catalog.json", len(p.parts), str(p)))
        claimed: set[str] = set()
        scenes += self._stac_scenes(stac, claimed)
        loose = [p for p in rasters if str(p.resolve()) not in claimed]
        return scenes + files.scenes_from_rasters(loose)

    def extent_4326(self) -> tuple[float, float, float, float]:
        sc = self.scenes()
        return (min(s.bounds_4326[0] for s in sc), min(s.bounds_4326[1] for s in sc),
                max(s.bounds_4326[2] for s in sc), max(s.bounds_4326[3] for s in sc))

    def available_bands(self) -> list[str]:
        return sorted({b for s in self.scenes() for b in s.bands})

    def select_scenes(self, spatial: SpatialSpec, temporal: TemporalSpec | None,
                      sensor: SensorSpec, grid: RoiGrid | None = None) -> list[Scene]:
        grid = grid or roi_grid(spatial, sensor.scale_m)
        roi = grid.bounds_in("EPSG:4326")
        hit = [s for s in self.scenes() if boxes_intersect(s.bounds_4326, roi)]
        if not hit:
            from ..geo import roi_bounds_4326

            ext, roi = self.extent_4326(), roi_bounds_4326(spatial)
            raise ProviderError(
                "ROI is outside the local data: ROI lon/lat bounds "
                f"({roi[0]:.5f}, {roi[1]:.5f}, {roi[2]:.5f}, {roi[3]:.5f}), data extent "
                f"({ext[0]:.5f}, {ext[1]:.5f}, {ext[2]:.5f}, {ext[3]:.5f}) in {str(self.root)!r}")
        ok = self.in_window(hit, temporal, sensor)
        self.check_bands(ok, sensor)
        return ok

    def _reader_for(self, sensor: SensorSpec) -> LocalProvider:
        """The reader of ``sensor``'s collection in this folder: MODIS L1B has its own (providers/modis.py)."""
        from .modis import ModisProvider, is_modis_l1b

        if not (isinstance(sensor, SensorSpec) and is_modis_l1b(sensor.collection)):
            return self
        with self._lock:
            if getattr(self, "_modis", None) is None:
                self._modis = ModisProvider(str(self.root), resampling=self.resampling)
            return self._modis

    def composites_unions(self, sensor: SensorSpec) -> bool:
        return self.union_composites and self._reader_for(sensor) is self

    def fetch(self, spatial: SpatialSpec, temporal: TemporalSpec | None,
              sensor: SensorSpec, *, frames: int | None = None) -> Patch:
        reader = self._reader_for(sensor)
        if reader is not self:
            return reader.fetch(spatial, temporal, sensor, frames=frames)
        return super().fetch(spatial, temporal, sensor, frames=frames)

    def describe_source(self) -> dict[str, Any]:
        return {"root": str(self.catalog or self.root)}

    def describe(self) -> dict[str, Any]:
        sc = self.scenes()
        return {"backend": "local", "root": str(self.root), "n_scenes": len(sc),
                "dates": [s.date.isoformat() for s in sc], "bands": self.available_bands(),
                "extent_4326": list(self.extent_4326()),
                "sources": sorted({s.meta.get("source", "?") for s in sc})}


def write_stac_catalog(root: Path, scenes: Sequence[Scene], title: str = "rs-embed-qgis sample") -> Path:
    """A static, self-contained STAC catalog over local scene files (relative hrefs)."""
    import pystac

    cat = pystac.Catalog(id="rs-embed-qgis-sample", description=title)
    for s in scenes:
        b = s.bounds_4326
        geom = {"type": "Polygon", "coordinates": [[[b[0], b[1]], [b[2], b[1]], [b[2], b[3]],
                                                    [b[0], b[3]], [b[0], b[1]]]]}
        item = pystac.Item(id=s.id, geometry=geom, bbox=list(b),
                           datetime=_dt.datetime.combine(s.date, _dt.time(10, 30)),
                           properties={"eo:cloud_cover": s.cloudy_pct, "platform": "sentinel-2"})
        f = s.files()[0]
        names = sorted(s.bands, key=lambda n: s.bands[n][1])
        item.add_asset("data", pystac.Asset(
            href=str(Path(f).resolve()), media_type=pystac.MediaType.COG, roles=["data"],
            extra_fields={"eo:bands": [{"name": n} for n in names]}))
        cat.add_item(item)
    cat.normalize_hrefs(str(root))
    cat.make_all_asset_hrefs_relative()
    cat.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return root / "catalog.json"


__all__ = ["LocalProvider", "SceneProvider", "RasterReader", "Scene", "SCL_MASKED", "boxes_intersect",
           "bundled_sample_dir", "write_stac_catalog"]
