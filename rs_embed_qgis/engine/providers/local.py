"""Local backend: Sentinel-2 scenes from a folder of GeoTIFF/COG files or from a
static STAC catalog whose assets point at local files.

A scene is one acquisition: one multi-band file whose band descriptions name
the bands (B2..B12, SCL), or a STAC item with one asset per band (or one
multi-band asset with ``eo:bands``). Its date comes from the STAC item, the
``ACQUISITION_DATE``/``TIFFTAG_DATETIME`` tag, or a ``YYYYMMDD`` in the name.

For an ROI the provider reprojects every scene that intersects it inside the
window onto the ROI's UTM grid at ``sensor.scale_m`` (GDAL's warper, through
``engine.geoio``), masks clouds with SCL when present, composites (``median`` or
``mosaic``, later scenes on top as in Earth Engine), fills gaps with ``fill_value``
and returns the bands in the order the sensor asks for.
"""
from __future__ import annotations

import datetime as _dt
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ProviderError, SpecError
from ..geo import RoiGrid, roi_grid, transform_bounds
from ..geoio import raster_info, warp_read
from ..progress import check_cancelled
from ..specs import SensorSpec, SpatialSpec, TemporalSpec, date_in_text
from .bands import canonical_band
from .base import Patch, Provider

#: SCL classes masked as invalid: no data, saturated, cloud shadow, cloud (medium,
#: high probability), thin cirrus. Snow (11) is kept: it is a surface.
SCL_MASKED = (0, 1, 3, 8, 9, 10)


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


@dataclass
class Scene:
    """One acquisition: band name -> (file, 1-based band index)."""

    id: str
    date: _dt.date
    bands: dict[str, tuple[str, int]]
    bounds_4326: tuple[float, float, float, float]
    cloudy_pct: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def files(self) -> list[str]:
        return sorted({f for f, _ in self.bands.values()})


def _intersects(a: Sequence[float], b: Sequence[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


class LocalProvider(Provider):
    """Scenes from a local folder or static STAC catalog."""

    name = "local"

    def __init__(self, root: str | None = None, catalog: str | None = None,
                 resampling: str = "bilinear") -> None:
        self.root = Path(root).expanduser() if root else default_root()
        self.catalog = Path(catalog).expanduser() if catalog else None
        self.resampling = resampling
        self._scenes: list[Scene] | None = None
        self._lock = threading.Lock()

    # -- the scene index ----------------------------------------------------------------
    def scenes(self) -> list[Scene]:
        with self._lock:
            if self._scenes is None:
                self._scenes = self._index()
            return self._scenes

    def _index(self) -> list[Scene]:
        cat = self.catalog or (self.root / "catalog.json")
        if self.catalog is not None and not cat.exists():
            raise ProviderError(f"STAC catalog not found: {str(cat)!r}")
        if cat.exists():
            scenes = self._index_stac(cat)
        else:
            if not self.root.is_dir():
                raise ProviderError(f"local data folder not found: {str(self.root)!r}")
            scenes = self._index_folder(self.root)
        if not scenes:
            raise ProviderError(f"no Sentinel-2 scenes (GeoTIFF/COG or STAC items) found in {str(self.root)!r}")
        return sorted(scenes, key=lambda s: (s.date, s.id))

    def _index_folder(self, root: Path) -> list[Scene]:
        scenes = []
        for path in sorted(list(root.rglob("*.tif")) + list(root.rglob("*.tiff"))):
            info = raster_info(path)
            if info.crs is None:
                raise ProviderError(f"raster {str(path)!r} has no CRS; assign one (e.g. with gdal_edit -a_srs)")
            tags = info.tags
            names = [canonical_band(d) if d else "" for d in info.descriptions]
            b4326 = transform_bounds(info.bounds, info.crs, "EPSG:4326")
            if not all(names):
                raise ProviderError(
                    f"raster {str(path)!r} has bands without descriptions {list(info.descriptions)}; "
                    f"name each band (B2, B3, ..., SCL) in its band descriptions")
            date = (date_in_text(tags.get("ACQUISITION_DATE", "")) or
                    date_in_text(tags.get("TIFFTAG_DATETIME", "").replace(":", "-", 2)) or
                    date_in_text(path.name))
            if date is None:
                raise ProviderError(
                    f"raster {str(path)!r} has no date: set the ACQUISITION_DATE tag or put "
                    f"YYYYMMDD in its file name")
            cp = tags.get("CLOUDY_PIXEL_PERCENTAGE")
            scenes.append(Scene(
                id=path.stem, date=date,
                bands={n: (str(path), i + 1) for i, n in enumerate(names)},
                bounds_4326=tuple(b4326), cloudy_pct=float(cp) if cp not in (None, "") else None,
                meta={"path": str(path)}))
        return scenes

    def _index_stac(self, cat_path: Path) -> list[Scene]:
        try:
            import pystac
        except ImportError as exc:  # pragma: no cover - pystac is a core dependency
            raise ProviderError(f"reading a STAC catalog needs pystac: {exc}") from exc
        try:
            catalog = pystac.Catalog.from_file(str(cat_path))
            items = list(catalog.get_items(recursive=True))
        except Exception as exc:  # noqa: BLE001
            raise ProviderError(f"cannot read STAC catalog {str(cat_path)!r}: {exc}") from exc
        scenes = []
        for item in items:
            date = (item.datetime or _dt.datetime.fromisoformat(
                str(item.properties.get("start_datetime", "")).replace("Z", "+00:00"))).date()
            bands: dict[str, tuple[str, int]] = {}
            for key, asset in item.assets.items():
                href = asset.get_absolute_href()
                if href is None or href.startswith(("http://", "https://", "s3://")):
                    continue  # the local backend reads local files only
                eo = asset.extra_fields.get("eo:bands")
                if eo:
                    for i, b in enumerate(eo):
                        bands[canonical_band(b.get("name", key))] = (href, i + 1)
                elif asset.media_type is None or "tiff" in (asset.media_type or ""):
                    bands[canonical_band(key)] = (href, 1)
            if not bands:
                continue
            bbox = item.bbox or [-180, -90, 180, 90]
            cp = item.properties.get("eo:cloud_cover")
            scenes.append(Scene(id=item.id, date=date, bands=bands, bounds_4326=tuple(bbox),
                                cloudy_pct=float(cp) if cp is not None else None,
                                meta={"stac_item": item.id}))
        return scenes

    def extent_4326(self) -> tuple[float, float, float, float]:
        sc = self.scenes()
        return (min(s.bounds_4326[0] for s in sc), min(s.bounds_4326[1] for s in sc),
                max(s.bounds_4326[2] for s in sc), max(s.bounds_4326[3] for s in sc))

    def available_bands(self) -> list[str]:
        return sorted({b for s in self.scenes() for b in s.bands})

    # -- fetching -----------------------------------------------------------------------
    def select_scenes(self, spatial: SpatialSpec, temporal: TemporalSpec | None,
                      sensor: SensorSpec, grid: RoiGrid | None = None) -> list[Scene]:
        grid = grid or roi_grid(spatial, sensor.scale_m)
        roi = grid.bounds_in("EPSG:4326")
        scenes = self.scenes()
        hit = [s for s in scenes if _intersects(s.bounds_4326, roi)]
        if not hit:
            from ..geo import roi_bounds_4326

            ext, roi = self.extent_4326(), roi_bounds_4326(spatial)
            raise ProviderError(
                "ROI is outside the local data: ROI lon/lat bounds "
                f"({roi[0]:.5f}, {roi[1]:.5f}, {roi[2]:.5f}, {roi[3]:.5f}), data extent "
                f"({ext[0]:.5f}, {ext[1]:.5f}, {ext[2]:.5f}, {ext[3]:.5f}) in {str(self.root)!r}")
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
        for s in ok:
            for b in sensor.bands:
                if canonical_band(b) not in s.bands:
                    raise ProviderError(
                        f"band {b!r} is missing from scene {s.id!r} "
                        f"({', '.join(s.files())}); it has {sorted(s.bands)}")
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

    def fetch(self, spatial: SpatialSpec, temporal: TemporalSpec | None,
              sensor: SensorSpec, *, frames: int | None = None) -> Patch:
        reader = self._reader_for(sensor)
        if reader is not self:
            return reader.fetch(spatial, temporal, sensor, frames=frames)
        spatial, sensor, grid = self.checked(spatial, sensor)
        scenes = self.select_scenes(spatial, temporal, sensor, grid)
        if frames is None:
            start = min(s.date for s in scenes)
            end = max(s.date for s in scenes) + _dt.timedelta(days=1)
            if temporal is not None:
                start, end = temporal.bounds()
            bins = [(start, end)]
        else:
            if temporal is None:
                raise SpecError("a multi-frame fetch needs a temporal window, got temporal=None")
            bins = [(b.start, b.end) for b in temporal.split(frames)]
        stacks = {}
        for s in scenes:
            check_cancelled()  # a long fetch stops between scenes when the caller cancels
            stacks[s.id] = self._read_scene(s, grid, sensor)
        data, frame_info = [], []
        for start, end in bins:
            members = [s for s in scenes if start <= s.date < end]
            comp, valid = self._composite([stacks[s.id] for s in members], sensor, grid)
            data.append(comp)
            mid = start + (end - start) / 2
            frame_info.append({
                "start": start.isoformat(), "end": end.isoformat(), "mid": mid.isoformat(),
                "n_scenes": len(members), "scenes": [s.id for s in members],
                "scene_dates": [s.date.isoformat() for s in members], "valid_fraction": valid})
        arr = np.stack(data).astype(np.float32)
        return Patch(arr, tuple(sensor.bands), grid, frame_info, sensor=sensor, temporal=temporal,
                     backend="local", meta={"root": str(self.root), "composite": sensor.composite})

    def _read_scene(self, scene: Scene, grid: RoiGrid, sensor: SensorSpec) -> np.ndarray:
        """``(C, H, W)`` float32 of the sensor's bands on the ROI grid, NaN where invalid."""
        want = [canonical_band(b) for b in sensor.bands]
        by_file: dict[str, list[tuple[int, int]]] = {}
        for ci, b in enumerate(want):
            f, bi = scene.bands[b]
            by_file.setdefault(f, []).append((ci, bi))
        out = np.full((len(want), grid.height, grid.width), np.nan, np.float32)
        for f, pairs in by_file.items():
            # a file without a nodata value: 0 is Sentinel-2's "no data"
            arr = warp_read(f, [bi for _, bi in pairs], grid, resampling=self.resampling, nodata_if_unset=0)
            for k, (ci, _) in enumerate(pairs):
                out[ci] = arr[k]
        if "SCL" in scene.bands:
            f, bi = scene.bands["SCL"]
            scl = warp_read(f, [bi], grid, resampling="nearest", nodata_if_unset=0)[0]
            bad = np.isnan(scl) | np.isin(scl, SCL_MASKED)
            # SCL is a mask for the reflectance bands; asked for as a band, it stays as it is.
            for ci, b in enumerate(want):
                if b != "SCL":
                    out[ci][bad] = np.nan
        return out

    @staticmethod
    def _composite(stacks: list[np.ndarray], sensor: SensorSpec,
                   grid: RoiGrid) -> tuple[np.ndarray, float]:
        shape = (len(sensor.bands), grid.height, grid.width)
        if not stacks:
            return np.full(shape, sensor.fill_value, np.float32), 0.0
        if sensor.composite == "mosaic":
            comp = np.full(shape, np.nan, np.float32)
            for arr in stacks:  # ascending dates: later scenes on top, as in Earth Engine
                ok = ~np.isnan(arr)
                comp[ok] = arr[ok]
        else:
            st = np.stack(stacks)
            with np.errstate(all="ignore"):
                import warnings

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    comp = np.nanmedian(st, axis=0).astype(np.float32)
        valid = float(np.mean(~np.isnan(comp).any(axis=0)))
        comp = np.where(np.isnan(comp), np.float32(sensor.fill_value), comp)
        return comp, valid

    def describe(self) -> dict[str, Any]:
        sc = self.scenes()
        return {"backend": "local", "root": str(self.root), "n_scenes": len(sc),
                "dates": [s.date.isoformat() for s in sc], "bands": self.available_bands(),
                "extent_4326": list(self.extent_4326())}


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


__all__ = ["LocalProvider", "Scene", "SCL_MASKED", "bundled_sample_dir", "write_stac_catalog"]
