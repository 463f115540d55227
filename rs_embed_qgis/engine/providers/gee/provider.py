"""``GEEProvider``: the Earth Engine backend's fetch (see the package doc), its options for
forms (``GEE_OPTIONS``) and the sign-in check for the GUI (``ee_status``)."""
from __future__ import annotations

import datetime as _dt
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ProviderError, SpecError
from ...geo import RoiGrid
from ...progress import check_cancelled, in_scope
from ...provenance import register_secret
from ...specs import SensorSpec, SpatialSpec, TemporalSpec
from .. import sanity as _sanity
from ..base import Patch, Provider
from . import auth, expressions, tiling
from .cache import PatchCache, cache_key, cacheable, default_cache_dir
from .faults import HOW_TO_SIGN_IN, call_with_retries, first_line


class GEEProvider(Provider):
    """Composites from Earth Engine on the ROI's UTM grid (see the package doc)."""

    name = "gee"
    filters_sentinel1_scenes = True

    def __init__(self, project: str | None = None, credentials: Any = None,
                 opt_url: str | None = None, cache_dir: Any = "default",
                 max_retries: int = 5, retry_backoff_s: float = 1.0, retry_jitter: float = 0.1,
                 num_workers: int = 4, timeout: float | None = 120.0,
                 max_request_bytes: int = tiling.EE_MAX_REQUEST_BYTES,
                 max_grid_dim: int = tiling.EE_MAX_GRID_DIM,
                 cloud_property: str | None = None, cloud_mask: str | None = None,
                 high_volume: bool = False, min_valid_fraction: float = _sanity.MIN_VALID_FRACTION,
                 on_implausible: str = "raise") -> None:
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
        if cloud_mask is not None and cloud_mask not in expressions.CLOUD_MASKS:
            raise SpecError(f"cloud_mask must be one of {expressions.CLOUD_MASKS}, got {cloud_mask!r}")
        self._creds_arg = credentials
        register_secret(credentials)  # a key file's path: never in a manifest or an error on disk
        self.project = project
        self.opt_url = opt_url.rstrip("/") if opt_url else None
        self.high_volume = bool(high_volume)
        if cache_dir == "default":
            self.cache_dir: Path | None = default_cache_dir()
        else:
            self.cache_dir = Path(cache_dir).expanduser() if cache_dir else None
        self.cache = PatchCache(self.cache_dir)
        self.max_retries = int(max_retries)
        self.retry_backoff_s = float(retry_backoff_s)
        self.retry_jitter = float(retry_jitter)
        self.num_workers = int(num_workers)
        self.timeout = float(timeout) if timeout is not None else None
        self.max_request_bytes = int(max_request_bytes)
        self.max_grid_dim = int(max_grid_dim)
        self.cloud_property = cloud_property
        self.cloud_mask = cloud_mask
        self.sanity = _sanity.SanityPolicy.from_options(min_valid_fraction, on_implausible)
        self._stats_lock = threading.Lock()
        self.stats: dict[str, Any] = {"requests": 0, "retries": 0, "cache_hits": 0,
                                      "bytes": 0, "tiles": 0, "sleeps": []}
        self._creds: Any = None

    @property
    def endpoint(self) -> str:
        """The Earth Engine API base URL this provider talks to."""
        if self.opt_url:
            return self.opt_url
        return auth.EE_HIGH_VOLUME_URL if self.high_volume else auth.EE_DEFAULT_URL

    def _token(self) -> str | None:  # read when scrubbing: it changes on refresh
        return getattr(self._creds, "token", None)

    # -- sign-in -------------------------------------------------------------------------
    def initialize(self) -> None:
        """Initialise Earth Engine for this provider's endpoint, project and credentials."""
        done = auth.initialize(endpoint=self.endpoint, project=self.project, credentials=self._creds_arg,
                               timeout=self.timeout)
        if done is not None:
            self._creds, self.active_project = done

    # -- calls -----------------------------------------------------------------------------
    def _count(self, **kw: Any) -> None:
        with self._stats_lock:
            for k, v in kw.items():
                if k == "sleeps":
                    self.stats["sleeps"] = (self.stats["sleeps"] + [v])[-1000:]
                else:
                    self.stats[k] += v

    def _call(self, fn: Callable[[], Any], what: str) -> Any:
        return call_with_retries(fn, what, max_retries=self.max_retries, backoff_s=self.retry_backoff_s,
                                 jitter=self.retry_jitter, token=self._token, count=self._count)

    def _info(self, sensor: SensorSpec) -> expressions.CollectionInfo:
        return expressions.collection_info(sensor.collection, self.cloud_property, self.cloud_mask)

    # -- fetching ---------------------------------------------------------------------------
    def fetch(self, spatial: SpatialSpec, temporal: TemporalSpec | None,
              sensor: SensorSpec, *, frames: int | None = None) -> Patch:
        spatial, sensor, grid = self.checked(spatial, sensor)
        info = self._info(sensor)
        bins = expressions.windows(info, temporal, sensor, frames)
        bands = expressions.ee_bands(info, sensor)
        what = {
            "endpoint": self.opt_url or auth.EE_DEFAULT_URL,  # high-volume serves the same data
            "collection": expressions.collection_id(info, sensor), "bands": bands,
            "cloudy_pct": sensor.cloudy_pct if info.cloud_property else None,
            "cloud_property": info.cloud_property, "cloud_mask": info.cloud_mask,
            "composite": sensor.composite, "fill_value": sensor.fill_value}
        if info.sar:
            what.update(orbit=sensor.orbit, require_iw=sensor.s1_require_iw,
                        relax_iw_on_empty=sensor.s1_relax_iw_on_empty)
        key = cache_key(what, grid, bins)
        cached = self.cache.load(key)
        if cached is not None:
            data, frame_info = cached
            self._count(cache_hits=1)
            patch = self._patch(data, frame_info, grid, sensor, temporal, info, key, "hit", 0)
            return _sanity.check(patch, spatial, temporal, self.sanity, reflectance=info.canonical_s2_bands)
        self.initialize()
        roi_4326 = [round(v, 9) for v in grid.bounds_in("EPSG:4326")]
        cols = [expressions.collection_expr(info, sensor, roi_4326, s, e) for s, e in bins]
        scenes = self._scene_lists(cols, sensor)
        iw = info.sar and sensor.s1_require_iw
        if iw and sensor.s1_relax_iw_on_empty and not any(ids for ids, _ in scenes):
            # no Interferometric Wide scene: the sensor allows any swath mode instead
            cols = [expressions.collection_expr(info, sensor, roi_4326, s, e, iw=False) for s, e in bins]
            scenes, iw = self._scene_lists(cols, sensor), False
        if not any(ids for ids, _ in scenes):
            when = "" if bins[0][0] is None else f" in [{bins[0][0]}, {bins[-1][1]})"
            if info.sar:
                why = (f" with polarisations {list(sensor.bands)}, orbit {sensor.orbit or 'any'}, "
                       f"{'IW swath only' if iw else 'any swath mode'}; widen the window or drop the orbit")
            else:
                why = ((f" with {info.cloud_property} <= {sensor.cloudy_pct}" if info.cloud_property else "")
                       + "; widen the window or raise cloudy_pct")
            raise ProviderError(
                f"no image of {expressions.collection_id(info, sensor)!r} over this ROI{when}{why} "
                f"(ROI lon/lat bounds {tuple(round(v, 5) for v in roi_4326)})")
        nonempty = [(i, expressions.composite_expr(info, c, sensor)) for i, c in enumerate(cols) if scenes[i][0]]
        image = expressions.pixels_expr(info, nonempty, sensor)
        names = []
        for i, _ in nonempty:
            names += [f"{b}__t{i}" for b in bands] + [f"_valid__t{i}"]
        if len(names) > tiling.EE_MAX_BANDS:
            raise ProviderError(f"{len(names)} bands in one request exceed Earth Engine's limit of "
                                f"{tiling.EE_MAX_BANDS}; ask for fewer frames or bands")
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
                "scene_dates": [d.isoformat() for d in dates], "valid_fraction": valid_frac,
                **({"s1_iw_applied": iw} if info.sar else {})})
        if cacheable(bins, info.annual):
            cache = "miss" if self.cache_dir else "off"
            self.cache.save(key, data, frame_info)
        else:
            cache = "off (window too recent)" if self.cache_dir else "off"
        patch = self._patch(data, frame_info, grid, sensor, temporal, info, key, cache, n_req)
        return _sanity.check(patch, spatial, temporal, self.sanity, reflectance=info.canonical_s2_bands)

    def _patch(self, data, frame_info, grid, sensor, temporal, info, key, cache, n_req) -> Patch:
        meta = {"collection": expressions.collection_id(info, sensor), "composite": sensor.composite,
                "cloud_property": info.cloud_property, "cloud_mask": info.cloud_mask,
                "fill_value": sensor.fill_value, "cache": cache, "cache_key": key,
                "pixel_requests": n_req, "endpoint": self.endpoint}
        if info.sar:  # what the Sentinel-1 filters did (rs-embed 0.3's fetch meta keys)
            applied = all(f.get("s1_iw_applied", False) for f in frame_info)
            meta.update(s1_collection_used=meta["collection"], s1_orbit_requested=sensor.orbit,
                        s1_iw_requested=sensor.s1_require_iw, s1_iw_applied=applied,
                        s1_iw_relaxed_on_empty=sensor.s1_require_iw and not applied)
        return Patch(data, tuple(sensor.bands), grid, frame_info, sensor=sensor, temporal=temporal,
                     backend="gee", meta=meta)

    def _scene_lists(self, cols, sensor: SensorSpec) -> list[tuple[list[str], list[int]]]:
        import ee

        expr = expressions.scene_lists_expr(cols)
        out = self._call(lambda: ee.data.computeValue(expr), f"scene listing of {sensor.collection!r}")
        return [(list(ids), [int(t) for t in times]) for ids, times in out]

    def _fetch_grid(self, image, names: list[str], grid: RoiGrid) -> tuple[np.ndarray, int]:
        """All tiles of the grid (in parallel when there are several), stitched."""
        import ee

        def fetch_tile(r: int, c: int, h: int, w: int) -> np.ndarray:
            req = tiling.pixel_request(image, grid, r, c, h, w)

            def call():
                raw = ee.data.computePixels(req)
                self._count(bytes=len(raw))
                return tiling.decode_npy(raw, names, (h, w))

            return self._call(call, f"computePixels ({w}x{h} px, {len(names)} bands)")

        tile_list = tiling.tiles(grid, len(names), max_request_bytes=self.max_request_bytes,
                                 max_grid_dim=self.max_grid_dim)
        arr, n_req = tiling.fetch_grid(fetch_tile, len(names), grid, tile_list, self.num_workers)
        self._count(tiles=n_req)
        return arr, n_req

    def fetch_many(self, spatials: Sequence[SpatialSpec], temporal: TemporalSpec | None,
                   sensor: SensorSpec, *, frames: int | None = None,
                   num_workers: int | None = None) -> list[Patch]:
        """Prefetch many ROIs with a thread pool (``num_workers``, default the provider's)."""
        n = self.num_workers if num_workers is None else max(1, int(num_workers))
        if len(spatials) > 1 and n > 1:
            self.initialize()  # once, before the threads start

        def one(k_s):
            k, s = k_s
            check_cancelled()
            try:
                return self.fetch(s, temporal, sensor, frames=frames)
            except ProviderError as exc:
                raise ProviderError(f"ROI #{k}: {exc}") from None

        items = list(enumerate(spatials))
        if n <= 1 or len(items) <= 1:
            return [one(it) for it in items]
        with ThreadPoolExecutor(max_workers=min(n, len(items)), thread_name_prefix="gee") as pool:
            return list(pool.map(in_scope(one), items))

    def describe(self) -> dict[str, Any]:
        return {"backend": "gee", "project": auth.resolve_project(self.project),
                "endpoint": self.endpoint,
                "cache_dir": str(self.cache_dir) if self.cache_dir else None,
                "max_retries": self.max_retries, "retry_backoff_s": self.retry_backoff_s,
                "num_workers": self.num_workers, "timeout": self.timeout}


def _ms_to_date(ms: int) -> _dt.date:
    return (_dt.datetime(1970, 1, 1) + _dt.timedelta(milliseconds=int(ms))).date()


# -- for the GUI ------------------------------------------------------------------------------
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
    {"name": "min_valid_fraction", "type": "float", "default": 0.05,
     "help": "least fraction of the ROI with valid pixels, else an error (0: no check)"},
    {"name": "on_implausible", "type": "str", "default": "raise",
     "help": "implausible Sentinel-2 values: raise, warn or ignore"},
]


def ee_status(project: str | None = None, credentials: Any = None,
              opt_url: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
    """Whether Earth Engine can be used here: ``{ok, message, how_to_sign_in, project}``.

    Tries a real initialisation (one small request, ``timeout`` seconds); never
    raises and never includes a token. Run it off the GUI thread.
    """
    out: dict[str, Any] = {"ok": False, "message": "", "how_to_sign_in": HOW_TO_SIGN_IN,
                           "project": auth.resolve_project(project)}
    try:
        prov = GEEProvider(project=project, credentials=credentials, opt_url=opt_url, cache_dir=None,
                           timeout=timeout)
        prov.initialize()
        out["project"] = getattr(prov, "active_project", out["project"])
        out.update(ok=True, message=f"Earth Engine is ready (project {out['project']!r})")
    except ProviderError as exc:
        out["message"] = str(exc).replace(HOW_TO_SIGN_IN, "").strip()
    except Exception as exc:  # noqa: BLE001 - status must never raise
        out["message"] = f"Earth Engine check failed: {first_line(exc)}"
    return out


__all__ = ["GEEProvider", "GEE_OPTIONS", "ee_status"]
