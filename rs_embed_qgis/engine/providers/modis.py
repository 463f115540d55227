"""MODIS Level 1B top-of-atmosphere input for the local backend: MOD021KM / MYD021KM
granules (HDF4, read through GDAL's HDF4 driver) and GeoTIFF stacks of calibrated bands.

What a fetch returns, per band, on the ROI's UTM grid at ``sensor.scale_m`` (1 km):

- reflective solar bands (1-19, 26): TOA reflectance factor x 10000, from the granule's
  digital numbers as ``(DN - reflectance_offsets[i]) * reflectance_scales[i]`` (the
  attributes of the band's SDS; the MODIS L1B user guide, as SatPy and pytorch-caney do);
- emissive bands (20-25, 27-36): brightness temperature in kelvin: radiance
  ``(DN - radiance_offsets[i]) * radiance_scales[i]`` inverted with Planck's law at the
  band's effective central wavenumber, then ``(T - tci) / tcs`` (the MODIS temperature
  correction), with the constants pytorch-caney publishes for SatVision-TOA.

DNs above 32767 (fill and the L1B flag values) are no-data. Granules are swaths: they are
resampled onto the ROI grid by GDAL's warper with the granule's own geolocation arrays
(``Latitude``/``Longitude``, every 5th pixel from the 3rd in a 1 km granule), nearest
neighbour, before calibration. Band names are MODIS band numbers as strings ("1", "26",
"13lo"). A granule's date and time come from its name (``MOD021KM.AYYYYDDD.HHMM...``).

GeoTIFF stacks: bands described by MODIS band numbers, physical values as stored times
the band's scale plus offset (GDAL's per-band scale/offset): reflectance factor for
reflective bands (turned into x 10000 here), kelvin for emissive bands.

MODIS files belong in their own folder (the local backend's Sentinel-2 index reads every
GeoTIFF of its folder). Compositing, time bins and cloud-free selection are the local
backend's (``LocalProvider``); only indexing and reading are MODIS-specific here. GeoTIFF
stacks are read through ``engine.geoio`` like every raster; granules through ``osgeo.gdal``
directly, as geoio has no geolocation-array warp (both are the process's one GDAL).
"""
from __future__ import annotations

import datetime as _dt
import math
import re
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ProviderError
from ..geo import RoiGrid, transform_bounds
from ..geoio import raster_info
from ..specs import SensorSpec, date_in_text
from .bands import canonical_band
from .local import LocalProvider, Scene

MOD021KM = "MODIS/061/MOD021KM"
L1B_COLLECTIONS = (MOD021KM, "MODIS/061/MYD021KM")

#: the Earth-view SDS of a 1 km granule and the bands each holds, in order
SDS_BANDS: dict[str, tuple[str, ...]] = {
    "EV_250_Aggr1km_RefSB": ("1", "2"),
    "EV_500_Aggr1km_RefSB": ("3", "4", "5", "6", "7"),
    "EV_1KM_RefSB": ("8", "9", "10", "11", "12", "13lo", "13hi", "14lo", "14hi", "15", "16", "17", "18", "19",
                     "26"),
    "EV_1KM_Emissive": ("20", "21", "22", "23", "24", "25", "27", "28", "29", "30", "31", "32", "33", "34",
                        "35", "36"),
}
EMISSIVE = SDS_BANDS["EV_1KM_Emissive"]
#: per emissive band: effective central wavenumber (cm^-1), temperature correction slope and
#: intercept (K) (SatPy's MODIS L1B reader; pytorch-caney README)
CWN = (2.641775e3, 2.505277e3, 2.518028e3, 2.465428e3, 2.235815e3, 2.200346e3, 1.477967e3, 1.362737e3,
       1.173190e3, 1.027715e3, 9.080884e2, 8.315399e2, 7.483394e2, 7.308963e2, 7.188681e2, 7.045367e2)
TCS = (9.993411e-1, 9.998646e-1, 9.998584e-1, 9.998682e-1, 9.998819e-1, 9.998845e-1, 9.994877e-1, 9.994918e-1,
       9.995495e-1, 9.997398e-1, 9.995608e-1, 9.997256e-1, 9.999160e-1, 9.999167e-1, 9.999191e-1, 9.999281e-1)
TCI = (4.770532e-1, 9.262664e-2, 9.757996e-2, 8.929242e-2, 7.310901e-2, 7.060415e-2, 2.204921e-1, 2.046087e-1,
       1.599191e-1, 8.253401e-2, 1.302699e-1, 7.181833e-2, 1.972608e-2, 1.913568e-2, 1.817817e-2, 1.583042e-2)
H_PLANCK, C_LIGHT, K_BOLTZMANN = 6.6260755e-34, 2.9979246e8, 1.380658e-23
VALID_MAX_DN = 32767
#: geolocation of a 1 km granule: every 5th line and sample, from the 3rd (0-based 2)
TIE_OFFSET, TIE_STEP = 2, 5
_GRANULE = re.compile(r"^(MOD|MYD)021KM\.A(\d{4})(\d{3})\.(\d{2})(\d{2})\.", re.IGNORECASE)


def is_modis_l1b(collection: str) -> bool:
    return str(collection).strip().upper() in {c.upper() for c in L1B_COLLECTIONS}


def modis_band(name: str) -> str | None:
    """``"B01"``, ``"band_26"``, ``"13LO"`` -> ``"1"``, ``"26"``, ``"13lo"``; None if not a MODIS band."""
    m = re.fullmatch(r"(?:band[_ ]?|b)?0*(\d{1,2})(lo|hi)?", str(name).strip().lower())
    if not m or not 1 <= int(m.group(1)) <= 36:
        return None
    return m.group(1) + (m.group(2) or "")


def is_emissive(band: str) -> bool:
    return band in EMISSIVE


def brightness_temperature(radiance: np.ndarray, band: str) -> np.ndarray:
    """Radiance (W m^-2 sr^-1 um^-1) of an emissive band -> brightness temperature (K)."""
    i = EMISSIVE.index(band)
    wl = 1.0 / (CWN[i] * 100.0)                         # effective wavelength in metres
    c1 = 2 * H_PLANCK * C_LIGHT ** 2
    c2 = H_PLANCK * C_LIGHT / K_BOLTZMANN
    rad = np.asarray(radiance, np.float64) * 1e6         # per micrometre -> per metre
    with np.errstate(invalid="ignore", divide="ignore"):
        t = c2 / (wl * np.log(c1 / (rad * wl ** 5) + 1.0))
    t = np.where(rad > 0, t, np.nan)
    return ((t - TCI[i]) / TCS[i]).astype(np.float32)


def calibrate(dn: np.ndarray, band: str, scale: float, offset: float) -> np.ndarray:
    """Digital numbers of one band -> reflectance x 10000 or brightness temperature (K)."""
    dn = np.asarray(dn, np.float64)
    valid = dn <= VALID_MAX_DN
    value = (dn - offset) * scale
    out = brightness_temperature(value, band) if is_emissive(band) else (value * 10000.0).astype(np.float32)
    return np.where(valid, out, np.nan).astype(np.float32)


def _numbers(text: str | None) -> list[float]:
    return [float(v) for v in re.split(r"[,\s]+", (text or "").strip()) if v]


def granule_time(name: str) -> _dt.datetime | None:
    m = _GRANULE.match(Path(name).name)
    if not m:
        return None
    day = _dt.date(int(m.group(2)), 1, 1) + _dt.timedelta(days=int(m.group(3)) - 1)
    return _dt.datetime.combine(day, _dt.time(int(m.group(4)), int(m.group(5))))


def _gdal():
    try:
        from osgeo import gdal
    except ImportError as exc:  # pragma: no cover - Debian's python3-gdal is a core dependency
        raise ProviderError(f"reading MODIS HDF4 granules needs the GDAL Python bindings (osgeo): {exc}") from exc
    gdal.UseExceptions()
    return gdal


class ModisProvider(LocalProvider):
    """MODIS L1B granules and calibrated GeoTIFF stacks from a local folder."""

    name = "local-modis"
    union_composites = False  # swaths are read per ROI

    def _reader_for(self, sensor: SensorSpec) -> LocalProvider:
        return self

    # -- the index ----------------------------------------------------------------------
    def _index(self) -> list[Scene]:
        if not self.root.is_dir():
            raise ProviderError(f"local data folder not found: {str(self.root)!r}")
        scenes = [self._index_granule(p) for p in sorted(self.root.rglob("*"))
                  if p.suffix.lower() == ".hdf" and _GRANULE.match(p.name)]
        for p in sorted(list(self.root.rglob("*.tif")) + list(self.root.rglob("*.tiff"))):
            s = self._index_stack(p)
            if s is not None:
                scenes.append(s)
        if not scenes:
            raise ProviderError(
                f"no MODIS data in {str(self.root)!r}: put MOD021KM/MYD021KM granules (MOD021KM.AYYYYDDD.HHMM.*.hdf) "
                f"or GeoTIFF stacks whose band descriptions are MODIS band numbers in a folder of their own and "
                f"pass it as provider_options={{'root': folder}} (DATA_FOLDER in Processing)")
        return sorted(scenes, key=lambda s: (s.date, s.id))

    def _index_granule(self, path: Path) -> Scene:
        gdal = _gdal()
        try:
            ds = gdal.Open(str(path))
            subs = {self._sds_name(desc): name for name, desc in ds.GetSubDatasets()}
        except RuntimeError as exc:
            raise ProviderError(f"cannot read MODIS granule {str(path)!r} through GDAL's HDF4 driver: {exc}") from exc
        missing = [s for s in ("Latitude", "Longitude") if s not in subs]
        if missing:
            raise ProviderError(f"MODIS granule {str(path)!r} has no {missing} geolocation SDS")
        bands: dict[str, tuple[str, int]] = {}
        sds_info: dict[str, dict[str, Any]] = {}
        for sds, default_bands in SDS_BANDS.items():
            if sds not in subs:
                continue
            sub = gdal.Open(subs[sds])
            md = sub.GetMetadata()
            names = [b.strip() for b in (md.get("band_names") or ",".join(default_bands)).split(",")]
            emissive = sds == "EV_1KM_Emissive"
            scales = _numbers(md.get("radiance_scales" if emissive else "reflectance_scales"))
            offsets = _numbers(md.get("radiance_offsets" if emissive else "reflectance_offsets"))
            if not (len(names) == len(scales) == len(offsets) == sub.RasterCount):
                raise ProviderError(
                    f"MODIS granule {str(path)!r}: SDS {sds} has {sub.RasterCount} bands but {len(names)} band_names, "
                    f"{len(scales)} scales and {len(offsets)} offsets; the calibration attributes are incomplete")
            sds_info[subs[sds]] = {"names": names, "scales": scales, "offsets": offsets,
                                   "shape": (sub.RasterYSize, sub.RasterXSize)}
            for i, b in enumerate(names):
                bands[canonical_band(b)] = (subs[sds], i + 1)
        if not bands:
            raise ProviderError(f"MODIS granule {str(path)!r} has none of the Earth-view SDS {list(SDS_BANDS)}")
        lat = gdal.Open(subs["Latitude"]).ReadAsArray().astype(np.float64)
        lon = gdal.Open(subs["Longitude"]).ReadAsArray().astype(np.float64)
        ok = (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
        if not ok.any():
            raise ProviderError(f"MODIS granule {str(path)!r} has no valid geolocation")
        lo0, lo1 = float(lon[ok].min()), float(lon[ok].max())
        if lo1 - lo0 > 180:  # crosses the antimeridian
            lo0, lo1 = -180.0, 180.0
        shape = next(iter(sds_info.values()))["shape"]
        tie = (0, 1) if lat.shape == shape else (TIE_OFFSET, TIE_STEP)
        when = granule_time(path.name)
        return Scene(id=path.name.rsplit(".", 1)[0], date=when.date(), bands=bands,
                     bounds_4326=(lo0, float(lat[ok].min()), lo1, float(lat[ok].max())),
                     meta={"path": str(path), "kind": "hdf", "time_utc": when.isoformat(), "sds": sds_info,
                           "latitude": subs["Latitude"], "longitude": subs["Longitude"], "tie": tie})

    @staticmethod
    def _sds_name(description: str) -> str:
        """``'[2x2030x1354] EV_250_Aggr1km_RefSB MODIS_SWATH_Type_L1B (16-bit ...)'`` -> the SDS name."""
        m = re.match(r"\s*\[[^\]]*\]\s+(\S+)", description)
        return m.group(1) if m else description

    def _index_stack(self, path: Path) -> Scene | None:
        info = raster_info(path)
        names = [modis_band(d) if d else None for d in info.descriptions]
        if not names or not all(names):
            return None  # not a MODIS stack (e.g. a Sentinel-2 scene): not ours
        if info.crs is None:
            raise ProviderError(f"raster {str(path)!r} has no CRS; assign one (e.g. with gdal_edit -a_srs)")
        tags = info.tags
        b4326 = transform_bounds(info.bounds, info.crs, "EPSG:4326")
        scales, offsets = list(info.scales), list(info.offsets)
        when = granule_time(path.name)
        date = (date_in_text(tags.get("ACQUISITION_DATE", "")) or (when.date() if when else None)
                or date_in_text(path.name))
        if date is None:
            raise ProviderError(f"MODIS stack {str(path)!r} has no date: set the ACQUISITION_DATE tag or put "
                                f"YYYYMMDD (or the MODIS AYYYYDDD) in its file name")
        keys = [canonical_band(n) for n in names]
        return Scene(id=path.stem, date=date, bands={k: (str(path), i + 1) for i, k in enumerate(keys)},
                     bounds_4326=tuple(b4326),
                     meta={"path": str(path), "kind": "tif",
                           "scale": {k: (s, o) for k, s, o in zip(keys, scales, offsets, strict=True)}})

    # -- reading ------------------------------------------------------------------------
    def _read_scene(self, scene: Scene, grid: RoiGrid, sensor: SensorSpec) -> np.ndarray:
        if scene.meta["kind"] == "tif":
            out = super()._read_scene(scene, grid, sensor)
            for ci, b in enumerate(sensor.bands):
                key = canonical_band(b)
                scale, offset = scene.meta["scale"][key]
                out[ci] = out[ci] * scale + offset
                if not is_emissive(modis_band(key) or ""):
                    out[ci] *= 10000.0
            return out
        return self._read_granule(scene, grid, sensor)

    def _read_granule(self, scene: Scene, grid: RoiGrid, sensor: SensorSpec) -> np.ndarray:
        out = np.full((len(sensor.bands), grid.height, grid.width), np.nan, np.float32)
        by_sds: dict[str, list[tuple[int, int]]] = {}
        for ci, b in enumerate(sensor.bands):
            sds, bi = scene.bands[canonical_band(b)]
            by_sds.setdefault(sds, []).append((ci, bi))
        for sds, pairs in by_sds.items():
            dn = self._warp_dn(scene, sds, [bi for _, bi in pairs], grid)
            info = scene.meta["sds"][sds]
            for k, (ci, bi) in enumerate(pairs):
                band = info["names"][bi - 1]
                out[ci] = calibrate(dn[k], band, info["scales"][bi - 1], info["offsets"][bi - 1])
        return out

    def _warp_dn(self, scene: Scene, sds: str, band_list: list[int], grid: RoiGrid) -> np.ndarray:
        """DNs of ``band_list`` of one SDS, swath -> ROI grid through the geolocation arrays."""
        gdal = _gdal()
        from osgeo import osr

        first, step = scene.meta["tie"]
        # GDAL places geolocation sample i at image coordinate offset + (i + 0.5) * step with the
        # PIXEL_CENTER convention; sample i describes the centre of pixel first + i * step
        off = first - (step - 1) / 2
        vrt_path = f"/vsimem/rs_embed_modis_{uuid.uuid4().hex}.vrt"
        try:
            vrt = gdal.Translate(vrt_path, sds, format="VRT", bandList=band_list)
            vrt.SetMetadata({
                "X_DATASET": scene.meta["longitude"], "X_BAND": "1",
                "Y_DATASET": scene.meta["latitude"], "Y_BAND": "1",
                "PIXEL_OFFSET": f"{off:g}", "LINE_OFFSET": f"{off:g}", "PIXEL_STEP": str(step), "LINE_STEP": str(step),
                "SRS": osr.SRS_WKT_WGS84_LAT_LONG, "GEOREFERENCING_CONVENTION": "PIXEL_CENTER"}, "GEOLOCATION")
            vrt.FlushCache()
            left, bottom, right, top = grid.bounds
            warped = gdal.Warp("", vrt, format="MEM", dstSRS=grid.crs, outputBounds=(left, bottom, right, top),
                               width=grid.width, height=grid.height, resampleAlg="near", geoloc=True,
                               dstNodata=65535, outputType=gdal.GDT_UInt16)
            arr = warped.ReadAsArray()
        except RuntimeError as exc:
            raise ProviderError(f"cannot resample MODIS granule {scene.id!r} ({sds}) onto the ROI grid: {exc}") from exc
        finally:
            gdal.Unlink(vrt_path)
        return arr.reshape(len(band_list), grid.height, grid.width)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["backend"] = "local (MODIS L1B)"
        return d


def radiance_from_temperature(band: str, kelvin: float) -> float:
    """Radiance (W m^-2 sr^-1 um^-1) in an emissive band of a scene of brightness temperature
    ``kelvin``: the inverse of :func:`brightness_temperature`."""
    i = EMISSIVE.index(band)
    t = kelvin * TCS[i] + TCI[i]
    wl = 1.0 / (CWN[i] * 100.0)
    c1 = 2 * H_PLANCK * C_LIGHT ** 2
    c2 = H_PLANCK * C_LIGHT / K_BOLTZMANN
    return c1 / (wl ** 5 * (math.exp(c2 / (wl * t)) - 1.0)) / 1e6


__all__ = ["ModisProvider", "MOD021KM", "L1B_COLLECTIONS", "SDS_BANDS", "brightness_temperature",
           "calibrate", "granule_time", "is_modis_l1b", "modis_band", "radiance_from_temperature"]
