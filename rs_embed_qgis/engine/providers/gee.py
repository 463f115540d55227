"""Earth Engine backend (``backend="gee"``): composites from an Earth Engine
image collection, fetched as pixels on the ROI's UTM grid.

For an ROI, a window ``[start, end)`` and a :class:`SensorSpec` the provider
builds one Earth Engine expression per time bin::

    ImageCollection(collection).filterBounds(roi).filterDate(start, end)
        .filter(cloud_property <= cloudy_pct)      # when the collection has one
        .map(cloud mask)                           # SCL (S2 SR), QA60 (S2 L1C), QA_PIXEL (Landsat)
        .select(bands).median() | .sort(time).mosaic()

and asks ``ee.data.computePixels`` for the bands (plus a validity band per
bin) as NPY on the ROI's grid (``crsCode`` = its UTM zone, ``scale_m``), so
nothing is zipped or written on the way. A computeValue call first lists the
scenes of each bin (ids and dates), so empty bins are known and reported.

Requests larger than Earth Engine's limits (48 MiB of uncompressed pixels,
32768 px a side) are split into tiles and stitched. 429/5xx answers, timeouts,
dropped connections and truncated bodies are retried with exponential backoff
(``max_retries``, ``retry_backoff_s``); authentication errors are not retried
and say how to sign in. Patches are cached on disk under a hash of the
request, so a rerun or a second model does not download again.

Earth Engine's client state is global to the process: one endpoint and
project are active at a time (the last provider that initialised wins).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import math
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ProviderError, SpecError
from ..geo import RoiGrid
from ..specs import SensorSpec, SpatialSpec, TemporalSpec
from .bands import canonical_band
from .base import Patch, Provider

#: computePixels limits (https://developers.google.com/earth-engine/reference/rest/v1/projects.image/computePixels)
EE_MAX_REQUEST_BYTES = 48 * 1024 * 1024
EE_MAX_GRID_DIM = 32768
EE_MAX_BANDS = 1024
EE_DEFAULT_URL = "https://earthengine.googleapis.com"
#: recommended by Google for many automated requests (prefetching many ROIs)
EE_HIGH_VOLUME_URL = "https://earthengine-highvolume.googleapis.com"

#: SCL classes masked in Sentinel-2 SR (same as the local backend)
SCL_MASKED = (0, 1, 3, 8, 9, 10)

HOW_TO_SIGN_IN = (
    "Sign in to Earth Engine once on this computer: run `earthengine authenticate` in a "
    "terminal (or `python -c \"import ee; ee.Authenticate()\"`), then choose the Google Cloud "
    "project that is registered for Earth Engine with `earthengine set_project YOUR_PROJECT`, "
    "the plugin settings, provider_options={'project': 'YOUR_PROJECT'} or the environment "
    "variable RS_EMBED_GEE_PROJECT. On a server use a service-account key: "
    "provider_options={'credentials': '/path/to/key.json', 'project': 'YOUR_PROJECT'} "
    "(the account must be registered for Earth Engine). "
    "Register a project at https://code.earthengine.google.com/register."
)

PROJECT_ENV_VARS = ("RS_EMBED_GEE_PROJECT", "EARTHENGINE_PROJECT", "GOOGLE_CLOUD_PROJECT")
RETRY_STATUS = (429, 500, 502, 503, 504)


# -- collections ------------------------------------------------------------------------
@dataclass(frozen=True)
class CollectionInfo:
    """How a collection is filtered and masked."""

    cloud_property: str | None   # scene cloud percentage property, or None
    cloud_mask: str                 # "scl" | "qa60" | "qa_pixel" | "none"
    annual: bool = False            # one image per year (window widened to whole years)
    canonical_s2_bands: bool = False


_S2_SR = CollectionInfo("CLOUDY_PIXEL_PERCENTAGE", "scl", canonical_s2_bands=True)
_S2_TOA = CollectionInfo("CLOUDY_PIXEL_PERCENTAGE", "qa60", canonical_s2_bands=True)
_LANDSAT = CollectionInfo("CLOUD_COVER", "qa_pixel")
GSE_COLLECTION = "GOOGLE/SATELLITE_EMBEDDING/V1/ANNUAL"

COLLECTIONS: dict[str, CollectionInfo] = {
    "COPERNICUS/S2_SR_HARMONIZED": _S2_SR,
    "COPERNICUS/S2_SR": _S2_SR,
    "COPERNICUS/S2_HARMONIZED": _S2_TOA,
    "COPERNICUS/S2": _S2_TOA,
    GSE_COLLECTION: CollectionInfo(None, "none", annual=True),
}
for _c in ("LANDSAT/LC08/C02/T1_L2", "LANDSAT/LC09/C02/T1_L2", "LANDSAT/LE07/C02/T1_L2",
           "LANDSAT/LT05/C02/T1_L2"):
    COLLECTIONS[_c] = _LANDSAT

CLOUD_MASKS = ("scl", "qa60", "qa_pixel", "none")


def collection_info(collection: str, cloud_property: str | None = None,
                    cloud_mask: str | None = None) -> CollectionInfo:
    """Filtering/masking rules of a collection; options override the table."""
    info = COLLECTIONS.get(collection)
    if info is None:
        if collection.startswith("COPERNICUS/S2_SR"):
            info = _S2_SR
        elif collection.startswith("COPERNICUS/S2"):
            info = _S2_TOA
        elif collection.startswith("LANDSAT/") and "/C02/" in collection:
            info = _LANDSAT
        else:
            info = CollectionInfo(None, "none")
    if cloud_mask is not None and cloud_mask not in CLOUD_MASKS:
        raise SpecError(f"cloud_mask must be one of {CLOUD_MASKS}, got {cloud_mask!r}")
    if cloud_property is not None or cloud_mask is not None:
        info = CollectionInfo(cloud_property if cloud_property is not None else info.cloud_property,
                              cloud_mask or info.cloud_mask, info.annual, info.canonical_s2_bands)
    return info


# -- errors -------------------------------------------------------------------------------
class _TruncatedPixels(Exception):
    """The NPY body could not be decoded (a connection cut mid-body)."""


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def classify_error(exc: BaseException) -> tuple[str, int | None, float | None]:
    """``(kind, http_status, retry_after_s)``; kind is retry | auth | size | fatal."""
    import socket

    try:
        from googleapiclient.errors import HttpError
    except ImportError:  # pragma: no cover
        HttpError = ()  # type: ignore
    try:
        from google.auth.exceptions import DefaultCredentialsError, RefreshError
    except ImportError:  # pragma: no cover
        RefreshError = DefaultCredentialsError = ()  # type: ignore
    for e in _chain(exc):
        if HttpError and isinstance(e, HttpError):
            status = int(getattr(e.resp, "status", 0) or 0)
            retry_after = None
            try:
                ra = e.resp.get("retry-after")
                retry_after = float(ra) if ra is not None else None
            except (TypeError, ValueError, AttributeError):
                pass
            text = str(e)
            if status in RETRY_STATUS:
                return "retry", status, retry_after
            if status in (401, 403):
                return "auth", status, None
            if status == 400 and ("request size" in text.lower() or "must be less than or equal" in text
                                  or "too large" in text.lower()):
                return "size", status, None
            return "fatal", status, None
        if (RefreshError and isinstance(e, (RefreshError, DefaultCredentialsError))):
            return "auth", None, None
        if isinstance(e, (_TruncatedPixels, TimeoutError, socket.timeout, ConnectionError)):
            return "retry", None, None
        name = type(e).__name__
        if name in ("ChunkedEncodingError", "ReadTimeout", "ConnectTimeout", "IncompleteRead",
                    "ProtocolError", "RemoteDisconnected"):
            return "retry", None, None
    msg = str(exc).lower()
    if "too many concurrent" in msg or "rate limit" in msg:
        return "retry", None, None
    if "earthengine authenticate" in msg or "authorize access" in msg or "credentials" in msg:
        return "auth", None, None
    return "fatal", None, None


def _scrub(text: str, secret: str | None) -> str:
    if secret:
        text = text.replace(secret, "<token>")
    return text


# -- initialisation (process-wide, as Earth Engine's client is) -----------------------------
_INIT_LOCK = threading.RLock()
_ACTIVE: dict[str, Any] = {"key": None}


def _resolve_project(project: str | None) -> str | None:
    if project:
        return str(project)
    for var in PROJECT_ENV_VARS:
        if os.environ.get(var):
            return os.environ[var]
    return None


def _load_credentials(credentials: Any):
    """``None`` -> stored sign-in ('persistent'); a path -> service-account key; else as is."""
    if credentials is None or credentials == "persistent":
        return "persistent", None
    if isinstance(credentials, (str, os.PathLike)):
        path = Path(credentials).expanduser()
        if not path.is_file():
            raise ProviderError(
                f"Earth Engine service-account key file not found: {str(path)!r}. {HOW_TO_SIGN_IN}")
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
            from ee import oauth
            from google.oauth2 import credentials as user_credentials
            from google.oauth2 import service_account

            if info.get("type") == "authorized_user":  # e.g. gcloud's application default file
                creds = user_credentials.Credentials.from_authorized_user_info(info, scopes=oauth.SCOPES)
            else:
                creds = service_account.Credentials.from_service_account_info(info, scopes=oauth.SCOPES)
        except Exception as exc:  # noqa: BLE001 - bad JSON, wrong key type
            raise ProviderError(
                f"cannot read the credentials file {str(path)!r} ({type(exc).__name__}); expected "
                f"a service-account JSON key from the Google Cloud console (or an authorized_user "
                f"JSON). {HOW_TO_SIGN_IN}") from None
        return creds, info.get("project_id")
    return credentials, None


#: windows ending less than this many days ago are not cached: Earth Engine is still
#: ingesting their scenes, so a later fetch may find more
CACHE_MIN_AGE_DAYS = 30


def _default_cache_dir() -> Path | None:
    base = os.environ.get("RS_EMBED_GEE_CACHE")
    if base:
        if base.strip().lower() in ("0", "off", "no", "false", "none"):
            return None
        return Path(base)
    from ..weights import cache_dir

    return cache_dir() / "gee_patches"


class GEEProvider(Provider):
    """Composites from Earth Engine on the ROI's UTM grid (see the module doc)."""

    name = "gee"

    def __init__(self, project: str | None = None, credentials: Any = None,
                 opt_url: str | None = None, cache_dir: Any = "default",
                 max_retries: int = 5, retry_backoff_s: float = 1.0, retry_jitter: float = 0.1,
                 num_workers: int = 4, timeout: float | None = 120.0,
                 max_request_bytes: int = EE_MAX_REQUEST_BYTES, max_grid_dim: int = EE_MAX_GRID_DIM,
                 cloud_property: str | None = None, cloud_mask: str | None = None,
                 high_volume: bool = False) -> None:
        try:
            import ee  # noqa: F401
        except ImportError as exc:
            raise ProviderError(
                f"backend 'gee' needs earthengine-api (pip install earthengine-api): {exc}") from exc
        if int(max_retries) < 0:
            raise SpecError(f"max_retries must be >= 0, got {max_retries}")
        if float(retry_backoff_s) < 0:
            raise SpecError(f"retry_backoff_s must be >= 0, got {retry_backoff_s}")
        if int(num_workers) < 1:
            raise SpecError(f"num_workers must be >= 1, got {num_workers}")
        if timeout is not None and float(timeout) <= 0:
            raise SpecError(f"timeout must be > 0 seconds or None, got {timeout}")
        if cloud_mask is not None and cloud_mask not in CLOUD_MASKS:
            raise SpecError(f"cloud_mask must be one of {CLOUD_MASKS}, got {cloud_mask!r}")
        self._creds_arg = credentials
        self.project = project
        self.opt_url = opt_url.rstrip("/") if opt_url else None
        self.high_volume = bool(high_volume)
        if cache_dir == "default":
            self.cache_dir: Path | None = _default_cache_dir()
        else:
            self.cache_dir = Path(cache_dir).expanduser() if cache_dir else None
        self.max_retries = int(max_retries)
        self.retry_backoff_s = float(retry_backoff_s)
        self.retry_jitter = float(retry_jitter)
        self.num_workers = int(num_workers)
        self.timeout = float(timeout) if timeout is not None else None
        self.max_request_bytes = int(max_request_bytes)
        self.max_grid_dim = int(max_grid_dim)
        self.cloud_property = cloud_property
        self.cloud_mask = cloud_mask
        self._stats_lock = threading.Lock()
        self.stats: dict[str, Any] = {"requests": 0, "retries": 0, "cache_hits": 0,
                                      "bytes": 0, "tiles": 0, "sleeps": []}
        self._creds: Any = None

    @property
    def endpoint(self) -> str:
        """The Earth Engine API base URL this provider talks to."""
        if self.opt_url:
            return self.opt_url
        return EE_HIGH_VOLUME_URL if self.high_volume else EE_DEFAULT_URL

    @property
    def _token(self) -> str | None:  # read when scrubbing: it changes on refresh
        return getattr(self._creds, "token", None)

    # -- sign-in -------------------------------------------------------------------------
    def initialize(self) -> None:
        """Initialise Earth Engine for this provider's endpoint, project and credentials."""
        import ee

        key = (self.endpoint, self.project, id(self._creds_arg), str(self._creds_arg)[:200],
               self.timeout)
        with _INIT_LOCK:
            if _ACTIVE["key"] == key:
                return
            creds, key_project = _load_credentials(self._creds_arg)
            if creds == "persistent":
                try:
                    creds = ee.data.get_persistent_credentials()
                except Exception as exc:  # noqa: BLE001 - EEException, google.auth errors
                    why = _first_line(exc)
                    if "authorize access" in why.lower():  # ee's own advice, given below in full
                        why = "no stored sign-in or application default credentials were found"
                    raise ProviderError(
                        f"Earth Engine is not signed in on this computer ({why}). "
                        f"{HOW_TO_SIGN_IN}") from None
            project = _resolve_project(self.project) or key_project or getattr(
                creds, "quota_project_id", None)
            if not project:
                raise ProviderError(
                    "no Earth Engine project was given: pass provider_options={'project': "
                    "'YOUR_PROJECT'} or set RS_EMBED_GEE_PROJECT (a Google Cloud project "
                    f"registered for Earth Engine). {HOW_TO_SIGN_IN}")
            self._creds = creds
            try:
                # the URL always explicit: ee keeps a previous call's URL when given None
                ee.Initialize(credentials=creds, project=project, opt_url=self.endpoint)
                ee.data.setMaxRetries(0)  # retries are ours: backoff we control, errors we classify
                if self.timeout:
                    ee.data.setDeadline(int(self.timeout * 1000))
                # ee.Initialize does not always call the server (its algorithm list is cached
                # per process), so one tiny computation proves the credentials and project.
                ee.data.computeValue(ee.Number(1))
            except Exception as exc:  # noqa: BLE001
                _ACTIVE["key"] = None
                kind, status, _ = classify_error(exc)
                where = self.endpoint
                reason = _scrub(_first_line(exc), self._token)
                if kind == "auth" or status in (401, 403):
                    raise ProviderError(
                        f"Earth Engine rejected the credentials for project {project!r} "
                        f"(HTTP {status or 'auth'}: {reason}); they may be missing, expired or "
                        f"lack access. {HOW_TO_SIGN_IN}") from None
                if kind == "retry" or status is None and isinstance(exc, OSError):
                    raise ProviderError(
                        f"cannot reach Earth Engine at {where!r} ({reason}); check the network "
                        "connection and proxy settings") from None
                raise ProviderError(
                    f"Earth Engine initialisation failed for project {project!r} at {where!r}: "
                    f"{reason}. {HOW_TO_SIGN_IN}") from None
            self.active_project = project
            _ACTIVE["key"] = key

    # -- retries -------------------------------------------------------------------------
    def _count(self, **kw: Any) -> None:
        with self._stats_lock:
            for k, v in kw.items():
                if k == "sleeps":
                    self.stats["sleeps"] = (self.stats["sleeps"] + [v])[-1000:]
                else:
                    self.stats[k] += v

    def _call(self, fn: Callable[[], Any], what: str) -> Any:
        """Run ``fn`` with retries on transient failures; map errors to ProviderError."""
        delay = self.retry_backoff_s
        for attempt in range(self.max_retries + 1):
            try:
                self._count(requests=1)
                return fn()
            except Exception as exc:  # noqa: BLE001 - classified below
                kind, status, retry_after = classify_error(exc)
                reason = _scrub(_first_line(exc), self._token)
                code = f"HTTP {status}" if status else type(exc).__name__
                if kind == "retry" and attempt < self.max_retries:
                    sleep = delay * (1.0 + self.retry_jitter * random.random())  # nosec B311 - back-off jitter, not security
                    if retry_after is not None:
                        sleep = max(sleep, min(retry_after, 60.0))
                    self._count(retries=1, sleeps=sleep)
                    time.sleep(sleep)
                    delay *= 2
                    continue
                if kind == "auth":
                    raise ProviderError(
                        f"Earth Engine refused {what} ({code}: {reason}); the sign-in may have "
                        f"expired or lack access. {HOW_TO_SIGN_IN}") from None
                if kind == "size":
                    raise _TooLarge(reason) from None
                if kind == "retry":
                    raise ProviderError(
                        f"Earth Engine {what} failed after {attempt + 1} "
                        f"attempt{'s' if attempt else ''} (last: {code}: "
                        f"{reason}); raise max_retries/retry_backoff_s or lower num_workers"
                    ) from None
                raise ProviderError(f"Earth Engine {what} failed ({code}: {reason})") from None
        raise AssertionError("unreachable")  # pragma: no cover

    # -- expressions ----------------------------------------------------------------------
    def _info(self, sensor: SensorSpec) -> CollectionInfo:
        return collection_info(sensor.collection, self.cloud_property, self.cloud_mask)

    def ee_bands(self, sensor: SensorSpec) -> list[str]:
        info = self._info(sensor)
        if info.canonical_s2_bands:
            return [canonical_band(b) for b in sensor.bands]
        return list(sensor.bands)

    def windows(self, temporal: TemporalSpec | None, sensor: SensorSpec,
                frames: int | None) -> list[tuple[_dt.date | None, _dt.date | None]]:
        """``[start, end)`` of each time bin (annual collections: whole years)."""
        info = self._info(sensor)
        if temporal is None:
            if info.annual:
                raise SpecError(
                    f"{sensor.collection} is an annual product: pass temporal=TemporalSpec.year(YYYY)")
            if frames is not None:
                raise SpecError("a multi-frame fetch needs a temporal window, got temporal=None")
            return [(None, None)]
        temporal = temporal.validate()
        if frames is None:
            bins = [temporal.bounds()]
        else:
            bins = [(b.start, b.end) for b in temporal.split(frames)]
        if info.annual:
            bins = [(_dt.date(s.year, 1, 1), _dt.date((e - _dt.timedelta(days=1)).year + 1, 1, 1))
                    for s, e in bins]
        return bins

    def collection_expr(self, sensor: SensorSpec, roi_4326: Sequence[float],
                        start: _dt.date | None, end: _dt.date | None):
        """The filtered, cloud-masked collection of one bin (an ``ee.ImageCollection``)."""
        import ee

        info = self._info(sensor)
        col = ee.ImageCollection(sensor.collection).filterBounds(
            ee.Geometry.Rectangle(list(roi_4326), None, False))
        if start is not None:
            col = col.filterDate(start.isoformat(), end.isoformat())
        if info.cloud_property:
            col = col.filter(ee.Filter.lte(info.cloud_property, sensor.cloudy_pct))
        mask = _MASKS[info.cloud_mask]
        if mask is not None:
            col = col.map(mask)
        return col

    def composite_expr(self, col, sensor: SensorSpec):
        bands = self.ee_bands(sensor)
        col = col.select(bands)
        if sensor.composite == "mosaic":
            return col.sort("system:time_start").mosaic()  # latest scene on top
        return col.median()

    def pixels_expr(self, composites: Sequence[tuple[int, Any]], sensor: SensorSpec):
        """One image: each bin's bands (``B4__t0``...) as float, then its validity band."""
        import ee

        bands = self.ee_bands(sensor)
        img = None
        for i, comp in composites:
            names = [f"{b}__t{i}" for b in bands]
            fill = sensor.fill_value if math.isfinite(sensor.fill_value) else 0  # JSON has no NaN
            vals = comp.select(bands, names).toFloat().unmask(fill, False)
            valid = comp.select(bands).mask().reduce(ee.Reducer.min()).rename([f"_valid__t{i}"])
            part = vals.addBands(valid.toFloat())
            img = part if img is None else img.addBands(part)
        return img

    # -- fetching ---------------------------------------------------------------------------
    def cache_key(self, grid: RoiGrid, sensor: SensorSpec, bins, info: CollectionInfo) -> str:
        req = {
            "v": 1, "endpoint": self.opt_url or EE_DEFAULT_URL,  # high-volume serves the same data
            "collection": sensor.collection, "bands": self.ee_bands(sensor),
            "bins": [[s.isoformat() if s else None, e.isoformat() if e else None] for s, e in bins],
            "cloudy_pct": sensor.cloudy_pct if info.cloud_property else None,
            "cloud_property": info.cloud_property, "cloud_mask": info.cloud_mask,
            "composite": sensor.composite, "fill_value": sensor.fill_value,
            "grid": [grid.crs, grid.left, grid.top, grid.res, grid.yres, grid.width, grid.height],
        }
        return hashlib.sha256(json.dumps(req, sort_keys=True).encode()).hexdigest()[:32]

    def fetch(self, spatial: SpatialSpec, temporal: TemporalSpec | None,
              sensor: SensorSpec, *, frames: int | None = None) -> Patch:
        spatial, sensor, grid = self.checked(spatial, sensor)
        info = self._info(sensor)
        bins = self.windows(temporal, sensor, frames)
        key = self.cache_key(grid, sensor, bins, info)
        cached = self._cache_load(key)
        if cached is not None:
            data, frame_info = cached
            self._count(cache_hits=1)
            return self._patch(data, frame_info, grid, sensor, temporal, info, key, "hit", 0)
        self.initialize()
        roi_4326 = [round(v, 9) for v in grid.bounds_in("EPSG:4326")]
        cols = [self.collection_expr(sensor, roi_4326, s, e) for s, e in bins]
        scenes = self._scene_lists(cols, sensor)
        if not any(ids for ids, _ in scenes):
            when = "" if bins[0][0] is None else f" in [{bins[0][0]}, {bins[-1][1]})"
            cloud = (f" with {info.cloud_property} <= {sensor.cloudy_pct}" if info.cloud_property else "")
            raise ProviderError(
                f"no image of {sensor.collection!r} over this ROI{when}{cloud}; widen the window "
                f"or raise cloudy_pct (ROI lon/lat bounds {tuple(round(v, 5) for v in roi_4326)})")
        nonempty = [(i, self.composite_expr(c, sensor)) for i, c in enumerate(cols) if scenes[i][0]]
        image = self.pixels_expr(nonempty, sensor)
        names = []
        bands = self.ee_bands(sensor)
        for i, _ in nonempty:
            names += [f"{b}__t{i}" for b in bands] + [f"_valid__t{i}"]
        if len(names) > EE_MAX_BANDS:
            raise ProviderError(f"{len(names)} bands in one request exceed Earth Engine's limit of "
                                f"{EE_MAX_BANDS}; ask for fewer frames or bands")
        arr, n_req = self._fetch_grid(image, names, grid)
        C, H, W = len(bands), grid.height, grid.width
        data = np.full((len(bins), C, H, W), sensor.fill_value, np.float32)
        frame_info = []
        pos = {n: k for k, n in enumerate(names)}
        for i, (s, e) in enumerate(bins):
            ids, times = scenes[i]
            dates = [_ms_to_date(t) for t in times]
            valid_frac = 0.0
            if ids:
                vals = arr[[pos[f"{b}__t{i}"] for b in bands]]
                valid = arr[pos[f"_valid__t{i}"]] > 0
                data[i] = np.where(valid[None], vals, np.float32(sensor.fill_value))
                valid_frac = float(valid.mean())
            if s is None:
                s = min(dates) if dates else None
                e = (max(dates) + _dt.timedelta(days=1)) if dates else None
            mid = (s + (e - s) / 2) if s is not None else None
            frame_info.append({
                "start": s.isoformat() if s else None, "end": e.isoformat() if e else None,
                "mid": mid.isoformat() if mid else None, "n_scenes": len(ids), "scenes": list(ids),
                "scene_dates": [d.isoformat() for d in dates], "valid_fraction": valid_frac})
        recent = bins[-1][1] is None or (
            bins[-1][1] > _dt.date.today() - _dt.timedelta(days=CACHE_MIN_AGE_DAYS))
        if recent and not info.annual:
            cache = "off (window too recent)" if self.cache_dir else "off"
        else:
            cache = "miss" if self.cache_dir else "off"
            self._cache_save(key, data, frame_info)
        return self._patch(data, frame_info, grid, sensor, temporal, info, key, cache, n_req)

    def _patch(self, data, frame_info, grid, sensor, temporal, info, key, cache, n_req) -> Patch:
        return Patch(data, tuple(sensor.bands), grid, frame_info, sensor=sensor, temporal=temporal,
                     backend="gee", meta={
                         "collection": sensor.collection, "composite": sensor.composite,
                         "cloud_property": info.cloud_property, "cloud_mask": info.cloud_mask,
                         "fill_value": sensor.fill_value, "cache": cache, "cache_key": key,
                         "pixel_requests": n_req,
                         "endpoint": self.endpoint})

    def _scene_lists(self, cols, sensor: SensorSpec) -> list[tuple[list[str], list[int]]]:
        import ee

        expr = ee.List([ee.List([c.aggregate_array("system:index"),
                                 c.aggregate_array("system:time_start")]) for c in cols])

        def call():
            return ee.data.computeValue(expr)

        out = self._call(call, f"scene listing of {sensor.collection!r}")
        return [(list(ids), [int(t) for t in times]) for ids, times in out]

    def tiles(self, grid: RoiGrid, n_bands: int) -> list[tuple[int, int, int, int]]:
        """``(row, col, height, width)`` tiles within the request limits (float32 bands)."""
        bpp = 4 * n_bands
        tw = min(grid.width, self.max_grid_dim)
        while tw > 1 and tw * bpp > self.max_request_bytes:
            tw = (tw + 1) // 2
        th = min(grid.height, self.max_grid_dim, max(1, self.max_request_bytes // (tw * bpp)))
        return [(r, c, min(th, grid.height - r), min(tw, grid.width - c))
                for r in range(0, grid.height, th) for c in range(0, grid.width, tw)]

    def _fetch_grid(self, image, names: list[str], grid: RoiGrid) -> tuple[np.ndarray, int]:
        """All tiles of the grid (in parallel when there are several), stitched."""
        out = np.zeros((len(names), grid.height, grid.width), np.float32)
        tiles = self.tiles(grid, len(names))

        def region(t) -> int:
            r, c, h, w = t
            try:
                out[:, r:r + h, c:c + w] = self._fetch_tile(image, names, grid, r, c, h, w)
                return 1
            except _TooLarge as exc:  # the server's limit is lower than ours: split in four
                if h == 1 and w == 1:
                    raise ProviderError(f"Earth Engine refused even a 1x1 pixel request: {exc}") from None
                h2, w2 = max(1, (h + 1) // 2), max(1, (w + 1) // 2)
                return sum(region((rr, cc, min(h2, r + h - rr), min(w2, c + w - cc)))
                           for rr in range(r, r + h, h2) for cc in range(c, c + w, w2))

        n = min(self.num_workers, len(tiles))
        if n <= 1:
            n_req = sum(region(t) for t in tiles)
        else:
            with ThreadPoolExecutor(max_workers=n, thread_name_prefix="gee-tile") as pool:
                n_req = sum(pool.map(region, tiles))
        self._count(tiles=n_req)
        return out, n_req

    def pixel_request(self, image, grid: RoiGrid, r: int, c: int, h: int, w: int) -> dict[str, Any]:
        return {
            "expression": image, "fileFormat": "NPY",
            "grid": {
                "dimensions": {"width": int(w), "height": int(h)},
                "affineTransform": {"scaleX": grid.res, "shearX": 0.0,
                                    "translateX": grid.left + c * grid.res,
                                    "shearY": 0.0, "scaleY": -grid.yres,
                                    "translateY": grid.top - r * grid.yres},
                "crsCode": grid.crs,
            },
        }

    def _fetch_tile(self, image, names, grid, r, c, h, w) -> np.ndarray:
        import ee

        req = self.pixel_request(image, grid, r, c, h, w)

        def call():
            raw = ee.data.computePixels(req)
            self._count(bytes=len(raw))
            return decode_npy(raw, names, (h, w))

        return self._call(call, f"computePixels ({w}x{h} px, {len(names)} bands)")

    def fetch_many(self, spatials: Sequence[SpatialSpec], temporal: TemporalSpec | None,
                   sensor: SensorSpec, *, frames: int | None = None,
                   num_workers: int | None = None) -> list[Patch]:
        """Prefetch many ROIs with a thread pool (``num_workers``, default the provider's)."""
        n = self.num_workers if num_workers is None else max(1, int(num_workers))
        if len(spatials) > 1 and n > 1:
            self.initialize()  # once, before the threads start

        def one(k_s):
            k, s = k_s
            try:
                return self.fetch(s, temporal, sensor, frames=frames)
            except ProviderError as exc:
                raise ProviderError(f"ROI #{k}: {exc}") from None

        items = list(enumerate(spatials))
        if n <= 1 or len(items) <= 1:
            return [one(it) for it in items]
        with ThreadPoolExecutor(max_workers=min(n, len(items)), thread_name_prefix="gee") as pool:
            return list(pool.map(one, items))

    # -- cache ------------------------------------------------------------------------------
    def _cache_path(self, key: str) -> Path | None:
        return self.cache_dir / key[:2] / f"{key}.npz" if self.cache_dir else None

    def _cache_load(self, key: str):
        p = self._cache_path(key)
        if p is None or not p.exists():
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                return z["data"].astype(np.float32), json.loads(str(z["frames"]))
        except Exception:  # noqa: BLE001 - a damaged cache file is refetched, not fatal
            return None

    def _cache_save(self, key: str, data: np.ndarray, frames: list[dict[str, Any]]) -> None:
        p = self._cache_path(key)
        if p is None:
            return
        from ..io import atomic_path

        try:
            with atomic_path(p, suffix=".npz") as tmp:
                with open(tmp, "wb") as fh:
                    np.savez(fh, data=data, frames=np.array(json.dumps(frames)))
        except OSError:  # a read-only cache must not fail the fetch
            pass

    def describe(self) -> dict[str, Any]:
        return {"backend": "gee", "project": _resolve_project(self.project),
                "endpoint": self.endpoint,
                "cache_dir": str(self.cache_dir) if self.cache_dir else None,
                "max_retries": self.max_retries, "retry_backoff_s": self.retry_backoff_s,
                "num_workers": self.num_workers, "timeout": self.timeout}


class _TooLarge(Exception):
    pass


def decode_npy(raw: bytes, names: Sequence[str], hw: tuple[int, int]) -> np.ndarray:
    """``(C, H, W)`` float32 from computePixels' NPY (a structured array, one field per band)."""
    try:
        arr = np.load(io.BytesIO(raw), allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - cut bodies raise ValueError/EOFError
        raise _TruncatedPixels(f"undecodable NPY body of {len(raw)} bytes: {exc}") from None
    if arr.dtype.names is None:
        raise ProviderError(f"computePixels returned a plain {arr.dtype} array, expected one field per band")
    missing = [n for n in names if n not in arr.dtype.names]
    if missing:
        raise ProviderError(f"computePixels answer lacks bands {missing}; it has {list(arr.dtype.names)}")
    if tuple(arr.shape) != tuple(hw):
        raise _TruncatedPixels(f"computePixels returned shape {arr.shape}, expected {hw}")
    return np.stack([arr[n].astype(np.float32) for n in names])


def _ms_to_date(ms: int) -> _dt.date:
    return (_dt.datetime(1970, 1, 1) + _dt.timedelta(milliseconds=int(ms))).date()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


# -- cloud masks (Earth Engine functions mapped over the collection) ------------------------
def _mask_scl(img):
    scl = img.select("SCL")
    return img.updateMask(scl.remap(list(SCL_MASKED), [0] * len(SCL_MASKED), 1))


def _mask_qa60(img):
    qa = img.select("QA60")  # bit 10 opaque clouds, bit 11 cirrus
    return img.updateMask(qa.bitwiseAnd(1 << 10).eq(0).And(qa.bitwiseAnd(1 << 11).eq(0)))


def _mask_qa_pixel(img):
    qa = img.select("QA_PIXEL")  # bits 1 dilated cloud, 3 cloud, 4 cloud shadow
    return img.updateMask(qa.bitwiseAnd(0b11010).eq(0))


_MASKS = {"scl": _mask_scl, "qa60": _mask_qa60, "qa_pixel": _mask_qa_pixel, "none": None}


# -- status for the GUI -------------------------------------------------------------------
#: The provider's settings, for forms in the dock and the toolbox: name, type, default, help.
GEE_OPTIONS: list[dict[str, Any]] = [
    {"name": "project", "type": "str", "default": None,
     "help": "Google Cloud project registered for Earth Engine (else RS_EMBED_GEE_PROJECT, "
             "EARTHENGINE_PROJECT, GOOGLE_CLOUD_PROJECT or `earthengine set_project`)"},
    {"name": "credentials", "type": "path", "default": None,
     "help": "service-account JSON key (empty: the sign-in stored by `earthengine authenticate`)"},
    {"name": "cache_dir", "type": "path", "default": "default",
     "help": "folder of cached patches (empty: no cache)"},
    {"name": "num_workers", "type": "int", "default": 4, "help": "ROIs fetched at the same time"},
    {"name": "max_retries", "type": "int", "default": 5, "help": "retries on 429/5xx and timeouts"},
    {"name": "retry_backoff_s", "type": "float", "default": 1.0,
     "help": "first wait before a retry, doubled each time"},
    {"name": "timeout", "type": "float", "default": 120.0, "help": "seconds per request"},
    {"name": "high_volume", "type": "bool", "default": False,
     "help": "use Earth Engine's high-volume endpoint (for many automated requests)"},
]


def ee_status(project: str | None = None, credentials: Any = None,
              opt_url: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
    """Whether Earth Engine can be used here: ``{ok, message, how_to_sign_in, project}``.

    Tries a real initialisation (one small request, ``timeout`` seconds); never
    raises and never includes a token. Run it off the GUI thread.
    """
    out: dict[str, Any] = {"ok": False, "message": "", "how_to_sign_in": HOW_TO_SIGN_IN,
                           "project": _resolve_project(project)}
    try:
        prov = GEEProvider(project=project, credentials=credentials, opt_url=opt_url, cache_dir=None,
                           timeout=timeout)
        prov.initialize()
        out["project"] = getattr(prov, "active_project", out["project"])
        out.update(ok=True, message=f"Earth Engine is ready (project {out['project']!r})")
    except ProviderError as exc:
        out["message"] = str(exc).replace(HOW_TO_SIGN_IN, "").strip()
    except Exception as exc:  # noqa: BLE001 - status must never raise
        out["message"] = f"Earth Engine check failed: {_first_line(exc)}"
    return out


__all__ = ["GEEProvider", "ee_status", "GEE_OPTIONS", "collection_info", "CollectionInfo", "COLLECTIONS",
           "GSE_COLLECTION", "HOW_TO_SIGN_IN", "classify_error", "decode_npy"]
