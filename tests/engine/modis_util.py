"""Test helper: small MOD021KM granules written as the real ones are laid out (HDF4 via
pyhdf): the four Earth-view SDS with their band names and calibration attributes, and
``Latitude``/``Longitude`` tie points every 5th pixel from the 3rd.

The scene is a field the tests can predict: reflectance grows with longitude, brightness
temperature with latitude, so a value read at a known place says which swath pixel the
reader took and whether the calibration is right.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from rs_embed_qgis.engine.providers.modis import SDS_BANDS, radiance_from_temperature

#: Bodensee-Oberschwaben, over the bundled Sentinel-2 sample
LON0, LAT0 = 8.55, 48.25
DLON, DLAT = 0.0135, -0.009      # ~1 km per pixel at 48 N
SKEW_LON, SKEW_LAT = 0.001, 0.0005  # a swath is not north-up


def geolocation(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float64)
    return LON0 + cols * DLON + rows * SKEW_LON, LAT0 + rows * DLAT + cols * SKEW_LAT


def reflectance_field(lon: np.ndarray, band_index: int) -> np.ndarray:
    """TOA reflectance factor of reflective band ``band_index`` at these longitudes."""
    return 0.05 + 0.4 * (lon - LON0) + 0.01 * band_index


def temperature_field(lat: np.ndarray, band_index: int) -> np.ndarray:
    """Brightness temperature (K) of emissive band ``band_index`` at these latitudes."""
    return 250.0 + 40.0 * (LAT0 - lat) + band_index


def refl_scale(i: int) -> tuple[float, float]:
    return 2.0e-5 * (1 + 0.1 * i), 5.0 + i      # (reflectance_scales, reflectance_offsets)


def rad_scale(i: int) -> tuple[float, float]:
    return 4.0e-4 * (1 + 0.05 * i), 1500.0 + 10 * i  # (radiance_scales, radiance_offsets)


def write_mod021km(folder: Path, name: str = "MOD021KM.A2022152.1030.061.2022152190155.hdf",
                   h: int = 60, w: int = 50, fill_rows: slice | None = None) -> Path:
    """Write a granule; ``fill_rows`` marks rows as L1B fill (DN 65535) in every band."""
    from pyhdf.SD import SD, SDC

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    lon, lat = geolocation(h, w)
    sd = SD(str(path), SDC.WRITE | SDC.CREATE)

    def sds(sds_name, data, attrs):
        kind = SDC.UINT16 if data.dtype == np.uint16 else SDC.FLOAT32
        s = sd.create(sds_name, kind, data.shape)
        s[:] = data
        for k, v in attrs.items():
            if isinstance(v, str):
                s.attr(k).set(SDC.CHAR8, v)
            else:
                s.attr(k).set(SDC.FLOAT32, [float(x) for x in v])
        s.endaccess()

    for sds_name, bands in SDS_BANDS.items():
        emissive = sds_name == "EV_1KM_Emissive"
        dns, scales, offsets = [], [], []
        for i, band in enumerate(bands):
            if emissive:
                scale, offset = rad_scale(i)
                rad = np.vectorize(lambda t, b=band: radiance_from_temperature(b, t))(temperature_field(lat, i))
                dn = rad / scale + offset
            else:
                scale, offset = refl_scale(i)
                dn = reflectance_field(lon, i) / scale + offset
            dn = np.clip(np.round(dn), 0, 32767).astype(np.uint16)
            if fill_rows is not None:
                dn[fill_rows] = 65535
            dns.append(dn)
            scales.append(scale)
            offsets.append(offset)
        key = "radiance" if emissive else "reflectance"
        attrs = {"band_names": ",".join(bands), f"{key}_scales": scales, f"{key}_offsets": offsets,
                 "valid_range": [0, 32767]}
        if not emissive:  # reflective SDS carry both calibrations, as in real granules
            attrs.update(radiance_scales=[s * 10 for s in scales], radiance_offsets=offsets)
        sds(sds_name, np.stack(dns), attrs)
    tie = (slice(2, None, 5), slice(2, None, 5))
    sds("Latitude", lat[tie].astype(np.float32), {"units": "degrees"})
    sds("Longitude", lon[tie].astype(np.float32), {"units": "degrees"})
    sd.end()
    return path


def nearest_pixel(lon_t: float, lat_t: float, h: int = 60, w: int = 50) -> tuple[int, int]:
    """The swath pixel whose centre is nearest to a place (what nearest resampling must pick)."""
    lon, lat = geolocation(h, w)
    d = ((lon - lon_t) * np.cos(np.radians(lat_t))) ** 2 + (lat - lat_t) ** 2
    return np.unravel_index(int(np.argmin(d)), d.shape)
