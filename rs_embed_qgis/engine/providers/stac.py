"""STAC backend (``backend="stac"``): Sentinel-2 for any ROI from a STAC API, no
account needed.

For an ROI, a window ``[start, end)`` and a :class:`SensorSpec` the provider
searches the API with ``pystac-client`` (collection ``sentinel-2-l2a``, or
``sentinel-2-l1c`` for the top-of-atmosphere collections; the ROI's lon/lat box;
``eo:cloud_cover <= cloudy_pct`` through the query extension where the API has it,
and again on our side), turns the items into scenes as the local backend does for
item files (:mod:`.sentinel2.stac_items`: asset keys, ``eo:bands``, ``raster:bands``
scale/offset, ``earthsearch:boa_offset_applied``, ``s2:processing_baseline``), and
reads only the ROI's window of each Cloud-Optimized GeoTIFF over HTTP (GDAL's
``/vsicurl/`` range reads, through ``engine.geoio``). Masking, compositing, radiometry and
the sanity checks are the local backend's (:class:`.local.SceneProvider`).

APIs: ``url="earth-search"`` (default, Element 84's Earth Search v1: public COGs),
``"planetary-computer"`` (Microsoft; asset URLs are signed with the
``planetary-computer`` package), ``"cdse"`` (Copernicus Data Space; its assets
are JPEG2000 on S3 and need the user's GDAL S3/HTTP credentials), or any URL.

Failures: HTTP 429/5xx answers, timeouts, dropped connections and truncated bodies
are retried (``max_retries``, backoff ``retry_backoff_s`` doubling, GDAL's own
retries off so the count is ours); then, or at once for 4xx, a
:class:`~rs_embed_qgis.engine.errors.ProviderError` names the URL (without its
query string: signatures are secrets) and the HTTP status. Each scene's pixels on
an ROI grid are cached on disk (``cache_dir``; ``RS_EMBED_STAC_CACHE``, ``0`` turns
it off), keyed by the item, the files and the grid, so a rerun or a second model
reads nothing again.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import random
import re
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from .. import geoio
from ..errors import ProviderError, SpecError
from ..geo import RoiGrid, roi_grid
from ..specs import SensorSpec, SpatialSpec, TemporalSpec, validate_spatial
from . import sanity as _sanity
from .bands import canonical_band
from .base import Patch
from .cache import ArrayCache, cache_folder
from .local import RasterReader, SceneProvider, boxes_intersect
from .sentinel2.scene import Scene

EARTH_SEARCH = "https://earth-search.aws.element84.com/v1"
PLANETARY_COMPUTER = "https://planetarycomputer.microsoft.com/api/stac/v1"
COPERNICUS_DATA_SPACE = "https://stac.dataspace.copernicus.eu/v1"
ENDPOINTS = {"earth-search": EARTH_SEARCH, "planetary-computer": PLANETARY_COMPUTER,
             "cdse": COPERNICUS_DATA_SPACE}
RETRY_STATUS = (408, 425, 429, 500, 502, 503, 504)
#: a batch searches once for the union of its ROIs when that box is at most this wide (degrees)
BATCH_SEARCH_MAX_DEG = 2.0
#: how long a search result is reused (seconds): new scenes keep arriving
SEARCH_TTL_S = 600.0
#: "HTTP response code: 404", "HTTP response code on https://...: 500" (GDAL), "HTTP/1.1 503"
_HTTP_STATUS = re.compile(r"HTTP (?:response code|error code|status)(?: on \S+)?[:\s]+(\d+)\b"
                          r"|HTTP/\d(?:\.\d)? (\d{3})", re.IGNORECASE)
_TRANSIENT = ("timed out", "timeout", "transferred a partial file", "connection reset", "connection refused",
              "couldn't connect", "could not connect", "recv failure", "empty reply", "ssl",
              "partial file", "connection was reset", "broken pipe", "remote end closed",
              "read error", "not recognized as a supported file format", "truncated", "premature end",
              # GDAL's words for a tile whose bytes did not all arrive
              "read or write failed", "ireadblock failed")


_QUERY = re.compile(r"(https?://[^\s?'\"]+)\?[^\s'\"]*")


_NO_ANSWER = re.compile(r"response code(?: on \S+)?[:\s]+0\b", re.IGNORECASE)


def collection_for(sensor: SensorSpec) -> str:
    """The STAC collection of a sensor's Earth Engine collection name (Sentinel-2 L2A by default)."""
    c = sensor.collection.upper()
    if c.startswith("COPERNICUS/S2") and "SR" not in c:
        return "sentinel-2-l1c"
    return "sentinel-2-l2a"


def public_url(path_or_url: str) -> str:
    """A URL for messages: no ``/vsicurl/`` prefix, no query string (signatures are secrets)."""
    u = str(path_or_url)
    for prefix, scheme in (("/vsicurl/", ""), ("/vsis3/", "s3://"), ("/vsigs/", "gs://")):
        if u.startswith(prefix):
            u = scheme + u[len(prefix):]
    return u.split("?", 1)[0]


def classify(exc: BaseException) -> tuple[bool, int | None]:
    """``(retry?, HTTP status or None)`` of a failed request or read."""
    status = getattr(exc, "status_code", None)
    text = str(exc)
    if status is None:
        m = _HTTP_STATUS.search(text)
        status = int(m.group(1) or m.group(2)) if m else None
        if status == 0:  # GDAL's code for "no answer": a timeout or a dropped connection (_NO_ANSWER)
            return True, None
    if status is not None:
        return status in RETRY_STATUS, status
    low = text.lower()
    return any(t in low for t in _TRANSIENT), None


def probe_status(url: str, timeout: float, headers: dict[str, str] | None = None) -> int | None:
    """The HTTP status of a HEAD request to ``url`` when it is an error (GDAL opening a file
    that answers 404 says only that it cannot open it); None for a success or no answer."""
    import urllib.error
    import urllib.parse
    import urllib.request

    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        return None  # only a web server answers a HEAD request: no file:// or other schemes
    try:
        with urllib.request.build_opener().open(urllib.request.Request(url, method="HEAD", headers=headers or {}),
                                                timeout=timeout):
            return None
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return None


def _clear_curl_cache(path: str) -> None:
    """Forget what GDAL's /vsicurl/ cached of a file (a failed read must not be replayed)."""
    try:
        from osgeo import gdal
    except ImportError:  # no GDAL bindings (rasterio only): GDAL's cache entries expire on their own
        return
    gdal.VSICurlPartialClearCache(path)


class STACProvider(SceneProvider):
    """Scenes found by a STAC API search, read over HTTP (see the module doc)."""

    name = "stac"
    backend = "stac"

    def __init__(self, url: str = "earth-search", collection: str | None = None, sign: bool | None = None,
                 max_items: int = 500, headers: dict[str, str] | None = None, cache_dir: Any = "default",
                 max_retries: int = 3, retry_backoff_s: float = 1.0, timeout: float = 30.0,
                 num_workers: int = 4, resampling: str = "bilinear",
                 min_valid_fraction: float = _sanity.MIN_VALID_FRACTION,
                 on_implausible: str = "raise") -> None:
        try:
            import pystac_client  # noqa: F401
        except ImportError as exc:
            raise ProviderError(f"backend 'stac' needs the package pystac-client (pip install "
                                f"pystac-client): {exc}") from exc
        self.url = ENDPOINTS.get(str(url).strip().lower(), str(url).strip()).rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            raise SpecError(f"url must be an http(s) STAC API URL or one of {sorted(ENDPOINTS)}, got {url!r}")
        self.collection = collection
        if sign is None:
            sign = "planetarycomputer.microsoft.com" in self.url
        self.sign = bool(sign)
        if self.sign:
            try:
                import planetary_computer  # noqa: F401
            except ImportError as exc:
                raise ProviderError(
                    f"the Planetary Computer's asset URLs must be signed: backend 'stac' needs the "
                    f"package planetary-computer for {self.url} (pip install planetary-computer): "
                    f"{exc}") from exc
        if int(max_items) < 1:
            raise SpecError(f"max_items must be >= 1, got {max_items}")
        if int(max_retries) < 0:
            raise SpecError(f"max_retries must be >= 0, got {max_retries}")
        if float(timeout) <= 0:
            raise SpecError(f"timeout must be > 0 seconds, got {timeout}")
        self.max_items, self.headers = int(max_items), dict(headers or {})
        self.max_retries, self.retry_backoff_s = int(max_retries), float(retry_backoff_s)
        self.timeout = float(timeout)
        if cache_dir == "default":
            self.cache_dir: Path | None = cache_folder("RS_EMBED_STAC_CACHE", "stac_patches")
        else:
            self.cache_dir = Path(cache_dir).expanduser() if cache_dir else None
        self._cache = ArrayCache(self.cache_dir, "STAC scene pixels")
        self._configure(resampling, num_workers, min_valid_fraction, on_implausible)
        self._client = None
        self._lock = threading.Lock()
        self._searches: list[tuple[float, tuple[Any, ...], tuple[float, ...], list[Scene]]] = []
        self.stats: dict[str, int] = {"searches": 0, "reads": 0, "retries": 0, "cache_hits": 0}

    # -- GDAL over HTTP -------------------------------------------------------------------
    @property
    def gdal_env(self) -> dict[str, Any]:
        return {
            "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",  # no directory listing per file
            "GDAL_HTTP_MAX_RETRY": "0",  # the retries are ours (counted, classified, reported)
            "GDAL_HTTP_TIMEOUT": str(max(1, int(round(self.timeout)))),
            "GDAL_HTTP_CONNECTTIMEOUT": str(max(1, int(round(min(self.timeout, 10.0))))),
            "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
            "VSI_CACHE": "TRUE",
        }

    def new_reader(self) -> RasterReader:
        return RasterReader(env=self.gdal_env)

    def _retrying(self, fn, what: str, url: str, on_retry=None):
        delay = self.retry_backoff_s
        for attempt in range(self.max_retries + 1):
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 - classified below
                retry, status = classify(exc)
                if isinstance(exc, ProviderError) and not retry and status is None:
                    raise  # our own error (a bad item, a missing band): says what it is
                code = f"HTTP {status}" if status else type(exc).__name__
                if status is None and _NO_ANSWER.search(str(exc)):
                    code = "no answer (timed out or connection dropped)"
                reason = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
                reason = _QUERY.sub(r"\1", reason)  # signed URLs: the signature is a secret
                if retry and attempt < self.max_retries:
                    with self._lock:
                        self.stats["retries"] += 1
                    if on_retry is not None:
                        on_retry()
                    time.sleep(delay * (1.0 + 0.1 * random.random()))  # nosec B311 - back-off jitter, not security
                    delay *= 2
                    continue
                shown = public_url(url)
                if retry:
                    raise ProviderError(
                        f"{what} {shown} failed after {attempt + 1} attempts ({code}: {reason}); the "
                        "service may be busy: try later, or raise max_retries/timeout") from None
                raise ProviderError(f"{what} {shown} failed ({code}: {reason})") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def read_file(self, reader: RasterReader, scene: Scene, path: str, indexes: list[int],
                  grid: RoiGrid, resampling: str) -> tuple[np.ndarray, geoio.RasterInfo]:
        def once():
            with self._lock:
                self.stats["reads"] += 1
            try:
                return reader.read(path, indexes, grid, resampling), reader.info(path)
            except Exception as exc:
                retry, status = classify(exc)
                if not retry and status is None and path.startswith("/vsicurl/"):  # ask the server why
                    code = probe_status(path[len("/vsicurl/"):], self.timeout)
                    if code is not None:
                        raise ProviderError(f"HTTP response code: {code} ({exc})") from exc
                raise

        def reset():
            reader.forget(path)
            _clear_curl_cache(path)

        return self._retrying(once, f"reading asset of {scene.id!r} at", path, on_retry=reset)

    # -- search ---------------------------------------------------------------------------
    def client(self):
        with self._lock:
            if self._client is None:
                from pystac_client import Client
                from pystac_client.stac_api_io import StacApiIO

                modifier = None
                if self.sign:
                    import planetary_computer

                    modifier = planetary_computer.sign_inplace
                io = StacApiIO(headers=self.headers, timeout=self.timeout, max_retries=None)
                self._client = self._retrying(
                    lambda: Client.open(self.url, modifier=modifier, stac_io=io), "opening the STAC API",
                    self.url)
            return self._client

    def search(self, bbox: tuple[float, float, float, float], start: _dt.date, end: _dt.date,
               sensor: SensorSpec) -> list[Scene]:
        """Scenes of the items over ``bbox`` (lon/lat) in ``[start, end)`` (reused for a while)."""
        from pystac_client.conformance import ConformanceClasses

        from .sentinel2.stac_items import scene_from_item

        coll = self.collection or collection_for(sensor)
        key = (coll, start, end, sensor.cloudy_pct)
        now = time.monotonic()
        with self._lock:
            self._searches = [s for s in self._searches if now - s[0] < SEARCH_TTL_S]
            for _, k, box, scenes in self._searches:
                if k == key and box[0] <= bbox[0] and box[1] <= bbox[1] and box[2] >= bbox[2] and box[3] >= bbox[3]:
                    return [s for s in scenes if boxes_intersect(s.bounds_4326, bbox)]
        client = self.client()
        kw: dict[str, Any] = {}
        if client.conforms_to(ConformanceClasses.QUERY):
            kw["query"] = {"eo:cloud_cover": {"lte": sensor.cloudy_pct}}
        last = end - _dt.timedelta(days=1)
        window = f"{start.isoformat()}T00:00:00Z/{last.isoformat()}T23:59:59.999Z"

        def run():
            found = client.search(collections=[coll], bbox=list(bbox), datetime=window,
                                  max_items=self.max_items, **kw)
            return list(found.items_as_dicts())

        items = self._retrying(run, f"searching {coll!r} at", f"{self.url}/search")
        with self._lock:
            self.stats["searches"] += 1
        scenes: dict[str, Scene] = {}
        for item in items:
            self_href = next((ln.get("href") for ln in item.get("links") or [] if ln.get("rel") == "self"),
                             None)
            s = scene_from_item(item, self_href or f"{self.url}/collections/{coll}/items/{item.get('id')}",
                                remote=True)
            scenes.setdefault(s.id, s)
        out = sorted(scenes.values(), key=lambda s: (s.date, s.id))
        with self._lock:
            self._searches.append((now, key, tuple(bbox), out))
        return out

    def select_scenes(self, spatial: SpatialSpec, temporal: TemporalSpec | None,
                      sensor: SensorSpec, grid: RoiGrid | None = None) -> list[Scene]:
        if temporal is None:
            raise SpecError("backend 'stac' needs a temporal window (TemporalSpec.range or .year); "
                            "it does not search the whole archive")
        grid = grid or roi_grid(spatial, sensor.scale_m)
        bbox = tuple(round(v, 7) for v in grid.bounds_in("EPSG:4326"))
        start, end = temporal.bounds()
        hit = self.search(bbox, start, end, sensor)
        if not hit:
            coll = self.collection or collection_for(sensor)
            raise ProviderError(
                f"no item of {coll!r} at {self.url} over this ROI in [{start}, {end}) with "
                f"eo:cloud_cover <= {sensor.cloudy_pct} (ROI lon/lat bounds {bbox}); widen the window "
                "or raise cloudy_pct")
        ok = self.in_window(hit, temporal, sensor)
        self.check_bands(ok, sensor)
        return ok

    def fetch_many(self, spatials, temporal: TemporalSpec | None, sensor: SensorSpec, *,
                   frames: int | None = None, num_workers: int | None = None) -> list[Patch]:
        """As the local backend; a batch in a small area is searched once for all its ROIs."""
        if len(spatials) > 1 and temporal is not None:
            sensor = sensor.validate()
            boxes = [roi_grid(validate_spatial(s), sensor.scale_m).bounds_in("EPSG:4326") for s in spatials]
            union = (min(b[0] for b in boxes), min(b[1] for b in boxes),
                     max(b[2] for b in boxes), max(b[3] for b in boxes))
            if union[2] - union[0] <= BATCH_SEARCH_MAX_DEG and union[3] - union[1] <= BATCH_SEARCH_MAX_DEG:
                start, end = temporal.bounds()
                self.search(tuple(round(v, 7) for v in union), start, end, sensor)
        return super().fetch_many(spatials, temporal, sensor, frames=frames, num_workers=num_workers)

    # -- the disk cache ----------------------------------------------------------------------
    def cache_key(self, scene: Scene, grid: RoiGrid, sensor: SensorSpec) -> str:
        want = [canonical_band(b) for b in sensor.bands]
        files = {b: [public_url(scene.bands[b][0]), scene.bands[b][1]] for b in want + ["SCL"]
                 if b in scene.bands}
        req = {"v": 1, "scene": scene.id, "files": files, "bands": want, "resampling": self.resampling,
               "scaling": {b: [r.gain, r.bias] for b, r in sorted(scene.scaling.items())},
               "grid": [grid.crs, grid.left, grid.top, grid.res, grid.yres, grid.width, grid.height]}
        return hashlib.sha256(json.dumps(req, sort_keys=True).encode()).hexdigest()[:32]

    def scene_stack(self, scene: Scene, grid: RoiGrid, sensor: SensorSpec) -> tuple[np.ndarray, dict[str, Any]]:
        key = self.cache_key(scene, grid, sensor)
        hit = self._cache.load(key)
        if hit is not None:
            with self._lock:
                self.stats["cache_hits"] += 1
            return hit
        arr, record = super().scene_stack(scene, grid, sensor)
        self._cache.save(key, arr, record)
        return arr, record

    def describe_source(self) -> dict[str, Any]:
        return {"stac_api": self.url, "signed": self.sign}

    def describe(self) -> dict[str, Any]:
        return {"backend": "stac", "url": self.url, "collection": self.collection, "signed": self.sign,
                "cache_dir": str(self.cache_dir) if self.cache_dir else None, "max_items": self.max_items,
                "max_retries": self.max_retries, "timeout": self.timeout, "num_workers": self.num_workers,
                "host": urlparse(self.url).netloc}


__all__ = ["STACProvider", "EARTH_SEARCH", "PLANETARY_COMPUTER", "COPERNICUS_DATA_SPACE", "ENDPOINTS",
           "collection_for", "classify", "public_url"]
