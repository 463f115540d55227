"""A loopback Earth Engine REST server for tests: the part of the API our client uses.

It serves the discovery document and the algorithm list that ``ee.Initialize``
reads (both shipped with earthengine-api for its own tests), ``value:compute``
and ``image:computePixels``. Expressions are evaluated for real: an
interpreter for the serialized expression graph (ImageCollection.load, the
filters, Collection.map of a cloud-mask function, median/mosaic, select,
unmask, mask, addBands ...) over scenes indexed by the engine's LocalProvider
(the bundled Sentinel-2 sample by default), read on the requested pixel grid
and returned as NPY. Faults are injectable per test: HTTP statuses (429, 500,
...), slow answers, truncated bodies, plus a latency for every computation.

Credentials never leave loopback: the server accepts one bearer token.
"""
from __future__ import annotations

import datetime as _dt
import io
import json
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import ee
import numpy as np

from rs_embed_qgis.engine.providers.local import LocalProvider, bundled_sample_dir

EE_DIR = os.path.dirname(ee.__file__)
TEST_TOKEN = "test-token"
TEST_PROJECT = "rs-embed-test"


class EEError(Exception):
    def __init__(self, status: int, message: str, code: str = "INVALID_ARGUMENT") -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


# -- values of the expression language -------------------------------------------------------
@dataclass
class Img:
    """An image on the request grid: ordered bands, values, masks and pixel types."""

    names: list[str]
    data: dict[str, np.ndarray]
    mask: dict[str, np.ndarray]
    dtype: dict[str, str] = field(default_factory=dict)

    def band(self, n):
        return self.data[n], self.mask[n]

    def sub(self, names, new=None):
        new = new or names
        return Img(list(new), {b: self.data[a] for a, b in zip(names, new, strict=True)},
                   {b: self.mask[a] for a, b in zip(names, new, strict=True)},
                   {b: self.dtype.get(a, "float64") for a, b in zip(names, new, strict=True)})


@dataclass
class Item:
    props: dict[str, Any]
    thunk: Callable[[], Img]


@dataclass
class Closure:
    args: list[str]
    body: str
    ev: Evaluator

    def __call__(self, *vals):
        return self.ev.value(self.body, dict(zip(self.args, vals, strict=True)))


@dataclass
class Scene:
    id: str
    date: _dt.date
    bands: dict[str, tuple[str, int]]
    bounds_4326: tuple[float, float, float, float]
    cloudy_pct: float
    props: dict[str, Any] = field(default_factory=dict)  # more scene properties (Sentinel-1 metadata ...)


# -- the server's catalogue -------------------------------------------------------------------
class Catalog:
    """Collection id -> scenes from a local folder (LocalProvider's index)."""

    def __init__(self) -> None:
        self.collections: dict[str, list[Scene]] = {}
        self._cache: dict[tuple, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
        self._files: dict[str, Any] = {}
        self._lock = threading.Lock()

    def add_folder(self, collection: str, root) -> None:
        prov = LocalProvider(root=str(root))
        self.collections[collection] = [
            Scene(s.id, s.date, dict(s.bands), s.bounds_4326,
                  float(s.cloudy_pct) if s.cloudy_pct is not None else 0.0,
                  props=_s1_props(s.bands) if collection.startswith("COPERNICUS/S1") else {})
            for s in prov.scenes()]

    def _raster(self, path: str):
        """A file's pixels, kept in memory (the samples are small): array, valid mask, geo."""
        with self._lock:
            hit = self._files.get(path)
        if hit is None:
            import rasterio

            with rasterio.open(path) as src:
                arr = src.read()
                valid = src.read_masks(1) > 0
                hit = (arr, valid, src.crs.to_string(), tuple(src.transform)[:6], src.nodata)
            with self._lock:
                self._files[path] = hit
        return hit

    def read(self, scene: Scene, grid) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """All bands of a scene on the grid (nearest neighbour, as computePixels' default).

        A grid aligned with the file's pixels is a slice of the file; any other grid
        is warped with GDAL.
        """
        key = (scene.id, grid["crs"], tuple(grid["transform"]), grid["width"], grid["height"])
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None:
            return hit
        out = {}
        by_file: dict[str, list[tuple[str, int]]] = {}
        for name, (f, i) in scene.bands.items():
            by_file.setdefault(f, []).append((name, i))
        for f, pairs in by_file.items():
            arr, valid = self._on_grid(f, grid)
            for name, i in pairs:
                out[name] = (arr[i - 1].astype(np.float64), valid)
        with self._lock:
            if len(self._cache) > 512:
                self._cache.clear()
            self._cache[key] = out
        return out

    def _on_grid(self, path: str, grid):
        data, valid, crs, (a, b, c, d, e, f), nodata = self._raster(path)
        ga, gb, gc, gd, ge, gf = grid["transform"]
        h, w = grid["height"], grid["width"]
        col0, row0 = (gc - c) / a, (gf - f) / e
        aligned = (crs == grid["crs"] and (ga, gb, gd, ge) == (a, b, d, e)
                   and abs(col0 - round(col0)) < 1e-6 and abs(row0 - round(row0)) < 1e-6)
        if aligned:
            col0, row0 = int(round(col0)), int(round(row0))
            out = np.zeros((data.shape[0], h, w), data.dtype)
            ok = np.zeros((h, w), bool)
            r0, r1 = max(0, row0), min(data.shape[1], row0 + h)
            c0, c1 = max(0, col0), min(data.shape[2], col0 + w)
            if r0 < r1 and c0 < c1:
                out[:, r0 - row0:r1 - row0, c0 - col0:c1 - col0] = data[:, r0:r1, c0:c1]
                ok[r0 - row0:r1 - row0, c0 - col0:c1 - col0] = valid[r0:r1, c0:c1]
            return out, ok
        import rasterio
        from rasterio.enums import Resampling
        from rasterio.vrt import WarpedVRT

        with rasterio.open(path) as src, WarpedVRT(
                src, crs=grid["crs"], transform=rasterio.Affine(*grid["transform"]),
                width=w, height=h, resampling=Resampling.nearest,
                src_nodata=nodata if nodata is not None else 0, nodata=0) as vrt:
            return vrt.read(), vrt.read_masks(1) > 0


def _s1_props(bands) -> dict[str, Any]:
    """What every Earth Engine Sentinel-1 GRD scene carries: swath mode, pass, polarisations
    (an IW scene of one pass with the file's polarisation bands)."""
    pols = [b for b in bands if b in ("VV", "VH", "HH", "HV")]
    return {"instrumentMode": "IW", "orbitProperties_pass": "ASCENDING", "transmitterReceiverPolarisation": pols}


# -- the interpreter ---------------------------------------------------------------------------
class Evaluator:
    def __init__(self, expression: dict[str, Any], catalog: Catalog, grid=None) -> None:
        self.values = expression["values"]
        self.result = expression["result"]
        self.catalog = catalog
        self.grid = grid
        self.memo: dict[str, Any] = {}
        self.calls: list[str] = []

    @property
    def shape(self):
        if self.grid is None:
            raise EEError(400, "Image values need a pixel grid (use computePixels)")
        return (self.grid["height"], self.grid["width"])

    def run(self):
        return self.value(self.result, {})

    def value(self, ref: str, scope: dict[str, Any]):
        if not scope and ref in self.memo:
            return self.memo[ref]
        v = self.node(self.values[ref], scope)
        if not scope:
            self.memo[ref] = v
        return v

    def node(self, n: dict[str, Any], scope: dict[str, Any]):
        if "constantValue" in n:
            return n["constantValue"]
        if "valueReference" in n:
            return self.value(n["valueReference"], scope)
        if "argumentReference" in n:
            return scope[n["argumentReference"]]
        if "arrayValue" in n:
            return [self.node(v, scope) for v in n["arrayValue"].get("values", [])]
        if "dictionaryValue" in n:
            return {k: self.node(v, scope) for k, v in n["dictionaryValue"].get("values", {}).items()}
        if "functionDefinitionValue" in n:
            d = n["functionDefinitionValue"]
            return Closure(d["argumentNames"], d["body"], self)
        if "functionInvocationValue" in n:
            f = n["functionInvocationValue"]
            args = {k: self.node(v, scope) for k, v in f.get("arguments", {}).items()}
            if "functionReference" in f:
                return self.value(f["functionReference"], scope)(**args)
            name = f["functionName"]
            self.calls.append(name)
            impl = FUNCS.get(name)
            if impl is None:
                raise EEError(400, f"the test server does not implement {name!r}")
            return impl(self, **args)
        raise EEError(400, f"unknown expression node {list(n)}")


def _img_const(ev, value):
    vals = value if isinstance(value, list) else [value]
    names = ["constant"] if len(vals) == 1 else [f"constant_{i}" for i in range(len(vals))]
    h, w = ev.shape
    dt = "int32" if all(isinstance(v, int) for v in vals) else "float64"
    return Img(names, {n: np.full((h, w), float(v)) for n, v in zip(names, vals, strict=True)},
               {n: np.ones((h, w), bool) for n in names}, {n: dt for n in names})


def _as_img(ev, x):
    return x if isinstance(x, Img) else _img_const(ev, x)


def _select(ev, input, bandSelectors, newNames=None):
    names = []
    for sel in bandSelectors:
        if isinstance(sel, int):
            names.append(input.names[sel])
            continue
        hit = [b for b in input.names if re.fullmatch(sel, b)]
        if not hit:
            raise EEError(400, f"Image.select: Pattern '{sel}' did not match any bands. "
                               f"Available bands: {input.names}")
        names += hit
    if newNames is not None and len(newNames) != len(names):
        raise EEError(400, "Image.select: newNames has the wrong length")
    return input.sub(names, newNames)


def _binary(op, out_dtype=None):
    def f(ev, image1, image2):
        a, b = _as_img(ev, image1), _as_img(ev, image2)
        if len(b.names) == 1 and len(a.names) > 1:
            pairs = [(n, b.names[0]) for n in a.names]
        elif len(a.names) == 1 and len(b.names) > 1:
            pairs = [(a.names[0], n) for n in b.names]
        else:
            pairs = list(zip(a.names, b.names, strict=True))
        names = [p[0] if len(a.names) >= len(b.names) else p[1] for p in pairs]
        data, mask, dt = {}, {}, {}
        for name, (na, nb) in zip(names, pairs, strict=True):
            data[name] = op(a.data[na], b.data[nb]).astype(np.float64)
            mask[name] = a.mask[na] & b.mask[nb]
            dt[name] = out_dtype or a.dtype.get(na, "float64")
        return Img(names, data, mask, dt)
    return f


def _update_mask(ev, image, mask):
    m = _as_img(ev, mask)
    out = Img(list(image.names), dict(image.data), {}, dict(image.dtype))
    for i, n in enumerate(image.names):
        mn = m.names[0] if len(m.names) == 1 else m.names[i]
        out.mask[n] = image.mask[n] & m.mask[mn] & (m.data[mn] != 0)
    return out


def _remap(ev, image, **kw):
    src, dst = kw["from"], kw["to"]
    default = kw.get("defaultValue")
    n = kw.get("bandName") or image.names[0]
    v, m = image.band(n)
    out = np.full(v.shape, np.nan if default is None else float(default))
    for a, b in zip(src, dst, strict=True):
        out[v == a] = b
    mask = m & ~np.isnan(out)
    return Img(["remapped"], {"remapped": np.nan_to_num(out)}, {"remapped": mask}, {"remapped": "int32"})


def _unmask(ev, input, value=None, sameFootprint=True):
    fill = _as_img(ev, 0 if value is None else value)
    out = Img(list(input.names), {}, {}, dict(input.dtype))
    for i, n in enumerate(input.names):
        fn = fill.names[0] if len(fill.names) == 1 else fill.names[i]
        out.data[n] = np.where(input.mask[n], input.data[n], fill.data[fn])
        out.mask[n] = np.ones_like(input.mask[n])
    return out


def _image_mask(ev, image, mask=None):
    if mask is not None:
        return _update_mask(ev, image, mask)
    return Img(list(image.names), {n: image.mask[n].astype(np.float64) for n in image.names},
               {n: np.ones_like(image.mask[n]) for n in image.names},
               {n: "float32" for n in image.names})


def _image_reduce(ev, image, reducer):
    if reducer != "min":
        raise EEError(400, f"the test server's Image.reduce supports Reducer.min only, got {reducer!r}")
    st = np.stack([image.data[n] for n in image.names])
    mk = np.stack([image.mask[n] for n in image.names])
    return Img(["min"], {"min": st.min(axis=0)}, {"min": mk.all(axis=0)}, {"min": "float64"})


def _rename(ev, input, names):
    if len(names) != len(input.names):
        raise EEError(400, f"Image.rename: expected {len(input.names)} names, got {len(names)}")
    return input.sub(list(input.names), list(names))


def _add_bands(ev, dstImg, srcImg, names=None, overwrite=False):
    out = Img(list(dstImg.names), dict(dstImg.data), dict(dstImg.mask), dict(dstImg.dtype))
    for n in srcImg.names:
        if n in out.names and not overwrite:
            raise EEError(400, f"Image.addBands: band {n!r} already exists")
        if n not in out.names:
            out.names.append(n)
        out.data[n], out.mask[n] = srcImg.data[n], srcImg.mask[n]
        out.dtype[n] = srcImg.dtype.get(n, "float64")
    return out


def _to(dtype):
    def f(ev, value):
        return Img(list(value.names), dict(value.data), dict(value.mask), {n: dtype for n in value.names})
    return f


def _load_collection(ev, id, version=None):
    scenes = ev.catalog.collections.get(id)
    if scenes is None:
        raise EEError(404, f"ImageCollection.load: ImageCollection asset '{id}' not found (does not "
                           "exist or caller does not have access).", "NOT_FOUND")
    items = []
    for s in scenes:
        ms = int((_dt.datetime.combine(s.date, _dt.time(10, 30)) - _dt.datetime(1970, 1, 1))
                 .total_seconds() * 1000)
        props = {"system:index": s.id, "system:time_start": ms,
                 "CLOUDY_PIXEL_PERCENTAGE": s.cloudy_pct, "CLOUD_COVER": s.cloudy_pct,
                 "_footprint": s.bounds_4326, **s.props}
        items.append(Item(props, _scene_thunk(ev, s)))
    return items


def _scene_thunk(ev, scene):
    def load():
        bands = ev.catalog.read(scene, ev.grid if ev.grid else _no_grid())
        names = list(scene.bands)
        return Img(names, {n: bands[n][0] for n in names}, {n: bands[n][1] for n in names},
                   {n: "uint16" for n in names})
    return load


def _no_grid():
    raise EEError(400, "Image values need a pixel grid (use computePixels)")


def _map(ev, collection, baseAlgorithm, dropNulls=False):
    return [Item(it.props, (lambda it=it: baseAlgorithm(it.thunk()))) for it in collection]


def _limit(ev, collection, limit=None, key=None, ascending=True):
    out = list(collection)
    if key is not None:
        out.sort(key=lambda it: it.props.get(key), reverse=not ascending)
    return out[:limit] if limit is not None else out


def _median(ev, collection):
    imgs = [it.thunk() for it in collection]
    if not imgs:
        return Img([], {}, {}, {})
    names = imgs[0].names
    out = Img(list(names), {}, {}, {})
    import warnings

    for n in names:
        st = np.stack([np.where(im.mask[n], im.data[n], np.nan) for im in imgs])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(st, axis=0)
        out.mask[n] = ~np.isnan(med)
        out.data[n] = np.nan_to_num(med)
        out.dtype[n] = "float64"
    return out


def _mosaic(ev, collection):
    imgs = [it.thunk() for it in collection]
    if not imgs:
        return Img([], {}, {}, {})
    names = imgs[0].names
    out = Img(list(names), {n: np.zeros(ev.shape) for n in names},
              {n: np.zeros(ev.shape, bool) for n in names}, dict(imgs[0].dtype))
    for im in imgs:  # later images on top
        for n in names:
            m = im.mask[n]
            out.data[n] = np.where(m, im.data[n], out.data[n])
            out.mask[n] = out.mask[n] | m
    return out


def _rect(ev, coordinates, crs=None, geodesic=None, evenOdd=None):
    x0, y0, x1, y1 = coordinates
    if crs not in (None, "EPSG:4326"):
        from pyproj import Transformer

        t = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        x0, y0, x1, y1 = t.transform_bounds(x0, y0, x1, y1)
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def _intersects(ev, leftField=None, rightValue=None, **kw):
    g = rightValue

    def pred(p):
        a = p["_footprint"]
        return a[0] < g[2] and g[0] < a[2] and a[1] < g[3] and g[1] < a[3]
    return pred


def _to_ms(v):
    if isinstance(v, (int, float)):
        return v
    d = _dt.datetime.fromisoformat(str(v).replace("Z", ""))
    return (d - _dt.datetime(1970, 1, 1)).total_seconds() * 1000


def _date_range(ev, start, end=None, timeZone=None):
    return (_to_ms(start), _to_ms(end))


def _date_range_contains(ev, leftValue=None, rightField=None, **kw):
    s, e = leftValue
    return lambda p: s <= p[rightField] < e


FUNCS: dict[str, Callable[..., Any]] = {
    "ImageCollection.load": _load_collection,
    "Collection.filter": lambda ev, collection, filter: [it for it in collection if filter(it.props)],
    "Collection.map": _map,
    "Collection.limit": _limit,
    "Filter.intersects": _intersects,
    "Feature": lambda ev, geometry, metadata=None: geometry,
    "GeometryConstructors.Rectangle": _rect,
    "DateRange": _date_range,
    "Filter.dateRangeContains": _date_range_contains,
    "Filter.equals": lambda ev, leftField, rightValue: (lambda p: p.get(leftField) == rightValue),
    "Filter.listContains": lambda ev, leftField, rightValue: (lambda p: rightValue in (p.get(leftField) or [])),
    "Filter.greaterThan": lambda ev, leftField, rightValue: (lambda p: p[leftField] > rightValue),
    "Filter.lessThanOrEquals": lambda ev, leftField, rightValue: (lambda p: p[leftField] <= rightValue),
    "Filter.not": lambda ev, filter: (lambda p: not filter(p)),
    "Filter.and": lambda ev, filters: (lambda p: all(f(p) for f in filters)),
    "AggregateFeatureCollection.array": (
        lambda ev, collection, property: [it.props[property] for it in collection]),
    "reduce.median": _median,
    "ImageCollection.mosaic": _mosaic,
    "Reducer.min": lambda ev: "min",
    "Image.constant": _img_const,
    "Image.select": _select,
    "Image.updateMask": _update_mask,
    "Image.remap": _remap,
    "Image.unmask": _unmask,
    "Image.mask": _image_mask,
    "Image.reduce": _image_reduce,
    "Image.rename": _rename,
    "Image.addBands": _add_bands,
    "Image.toFloat": _to("float32"),
    "Image.bitwiseAnd": _binary(lambda a, b: np.bitwise_and(a.astype(np.int64), b.astype(np.int64)), "int64"),
    "Image.eq": _binary(lambda a, b: (a == b), "uint8"),
    "Image.and": _binary(lambda a, b: (a != 0) & (b != 0), "uint8"),
}

_NPY_TYPES = {"float32": "<f4", "float64": "<f8", "uint16": "<u2", "uint8": "u1", "int32": "<i4",
              "int64": "<i8"}


# -- HTTP --------------------------------------------------------------------------------------
@dataclass
class Fault:
    """One injected failure: ``status`` (e.g. 429), ``slow`` seconds, or ``truncate``."""

    match: str = "computePixels"
    status: int | None = None
    slow: float = 0.0
    truncate: bool = False
    retry_after: float | None = None
    times: int = 1


class EETestServer:
    """A ThreadingHTTPServer on 127.0.0.1 (random port) speaking Earth Engine REST."""

    def __init__(self, token: str = TEST_TOKEN, project: str = TEST_PROJECT) -> None:
        self.token, self.project = token, project
        self.catalog = Catalog()
        self.catalog.add_folder("COPERNICUS/S2_SR_HARMONIZED", bundled_sample_dir())
        self.latency = 0.0
        self.max_request_bytes = 48 * 1024 * 1024
        self.max_grid_dim = 32768
        self.faults: list[Fault] = []
        self.log: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        with open(os.path.join(EE_DIR, "tests", "cloud_api_discovery_document.json"), encoding="utf-8") as f:
            self._discovery_template = f.read().replace('"v1alpha/', '"v1/')
        with open(os.path.join(EE_DIR, "tests", "algorithms.json"), "rb") as f:
            self._algorithms = f.read()

    # -- control from tests ----------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> EETestServer:
        server = self

        class Handler(_Handler):
            srv = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        doc = json.loads(self._discovery_template)
        doc["rootUrl"] = self.url + "/"
        doc["baseUrl"] = self.url + "/"
        self._discovery = json.dumps(doc).encode()
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def reset(self) -> None:
        with self._lock:
            self.faults.clear()
            self.log.clear()
        self.latency = 0.0
        self.max_request_bytes = 48 * 1024 * 1024
        self.max_grid_dim = 32768

    def inject(self, **kw) -> None:
        with self._lock:
            self.faults.append(Fault(**kw))

    def requests(self, kind: str = "computePixels") -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.log if kind in r["path"]]

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if f.match == "*" or f.match in path:
                    f.times -= 1
                    if f.times <= 0:
                        self.faults.remove(f)
                    return f
        return None

    # -- computation ------------------------------------------------------------------------
    def compute_value(self, body) -> Any:
        return Evaluator(body["expression"], self.catalog).run()

    def compute_pixels(self, body) -> bytes:
        if body.get("fileFormat") != "NPY":
            raise EEError(400, f"the test server returns NPY only, got fileFormat {body.get('fileFormat')!r}")
        g = body.get("grid") or {}
        dims, at, crs = g.get("dimensions") or {}, g.get("affineTransform") or {}, g.get("crsCode")
        if not dims or not at or not crs:
            raise EEError(400, "grid needs dimensions, affineTransform and crsCode")
        w, h = int(dims["width"]), int(dims["height"])
        if max(w, h) > self.max_grid_dim:
            raise EEError(400, f"Grid dimensions ({w}x{h}) must be less than or equal to "
                               f"{self.max_grid_dim} pixels on a side.")
        grid = {"crs": crs, "width": w, "height": h,
                "transform": (at.get("scaleX", 1.0), at.get("shearX", 0.0), at.get("translateX", 0.0),
                              at.get("shearY", 0.0), at.get("scaleY", -1.0), at.get("translateY", 0.0))}
        ev = Evaluator(body["expression"], self.catalog, grid)
        img = ev.run()
        if not isinstance(img, Img):
            raise EEError(400, "computePixels: the expression is not an Image")
        if body.get("bandIds"):
            img = img.sub(list(body["bandIds"]))
        dtype = np.dtype([(n, _NPY_TYPES.get(img.dtype.get(n, "float64"), "<f8")) for n in img.names])
        size = w * h * dtype.itemsize
        if size > self.max_request_bytes:
            raise EEError(400, f"Total request size ({size} bytes) must be less than or equal to "
                               f"{self.max_request_bytes} bytes.")
        out = np.zeros((h, w), dtype)
        for n in img.names:
            out[n] = np.where(img.mask[n], img.data[n], 0).astype(dtype[n])
        buf = io.BytesIO()
        np.save(buf, out, allow_pickle=False)
        return buf.getvalue()


class _Handler(BaseHTTPRequestHandler):
    srv: EETestServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep pytest output clean
        pass

    def setup(self):
        super().setup()
        import socket

        # answers go out at once (no Nagle/delayed-ACK stalls of ~40 ms on loopback)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, status: int, body: bytes, ctype="application/json", headers=None, truncate=False):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        try:
            self.wfile.write(body[: len(body) // 2] if truncate else body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        if truncate:
            self.close_connection = True

    def _error(self, status: int, message: str, code: str, headers=None):
        body = json.dumps({"error": {"code": status, "message": message, "status": code}}).encode()
        self._send(status, body, headers=headers)

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {self.srv.token}":
            self._error(401, "Request had invalid authentication credentials. Expected OAuth 2 "
                             "access token, login cookie or other valid authentication credential.",
                        "UNAUTHENTICATED")
            return False
        return True

    def _project_ok(self, path: str) -> bool:
        m = re.match(r"/v1/projects/([^/:]+)", path)
        if self.srv.project and m and m.group(1) != self.srv.project:
            self._error(403, f"Caller does not have required permission to use project {m.group(1)}.",
                        "PERMISSION_DENIED")
            return False
        return True

    def _token(self, raw: bytes):
        from urllib.parse import parse_qs

        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        grant = form.get("grant_type", "")
        with self.srv._lock:
            self.srv.log.append({"path": "/token", "body": form, "time": time.monotonic(), "fault": None})
        ok = ((grant == "urn:ietf:params:oauth:grant-type:jwt-bearer" and form.get("assertion"))
              or (grant == "refresh_token" and form.get("refresh_token") == "test-refresh"))
        if not ok:
            body = json.dumps({"error": "invalid_grant", "error_description": "Bad grant"}).encode()
            return self._send(400, body)
        body = json.dumps({"access_token": self.srv.token, "expires_in": 3600,
                           "token_type": "Bearer"}).encode()
        return self._send(200, body)

    def do_GET(self):  # noqa: N802
        path = self.path.split("?")[0]
        if path == "/$discovery/rest":
            return self._send(200, self.srv._discovery)
        if not self._authorised() or not self._project_ok(path):
            return None
        if path.endswith("/algorithms"):
            return self._send(200, self.srv._algorithms)
        return self._error(404, f"no such method {path}", "NOT_FOUND")

    def do_POST(self):  # noqa: N802
        path = self.path.split("?")[0]
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if path == "/token":  # OAuth token endpoint for service-account / refresh-token sign-in
            return self._token(raw)
        if not self._authorised() or not self._project_ok(path):
            return None
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return self._error(400, "invalid JSON body", "INVALID_ARGUMENT")
        fault = self.srv._take_fault(path)
        with self.srv._lock:
            self.srv.log.append({"path": path, "body": body, "time": time.monotonic(),
                                 "fault": None if fault is None else fault.__dict__.copy()})
        if self.srv.latency:
            time.sleep(self.srv.latency)
        if fault is not None and fault.slow:
            time.sleep(fault.slow)
        if fault is not None and fault.status:
            hdr = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
            codes = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
            msg = ("Too many concurrent aggregations." if fault.status == 429
                   else f"An internal error has occurred (injected {fault.status}).")
            return self._error(fault.status, msg, codes.get(fault.status, "UNKNOWN"), hdr)
        try:
            if path.endswith("/image:computePixels"):
                out = self.srv.compute_pixels(body)
                return self._send(200, out, "application/octet-stream",
                                  truncate=bool(fault and fault.truncate))
            if path.endswith("/value:compute"):
                out = json.dumps({"result": self.srv.compute_value(body)}).encode()
                return self._send(200, out, truncate=bool(fault and fault.truncate))
        except EEError as exc:
            return self._error(exc.status, exc.message, exc.code)
        except Exception as exc:  # noqa: BLE001 - a server bug must show as an error answer
            return self._error(500, f"test server failure: {type(exc).__name__}: {exc}", "INTERNAL")
        return self._error(404, f"no such method {path}", "NOT_FOUND")


def make_credentials(token: str = TEST_TOKEN):
    """OAuth credentials that are valid for the test server only (no refresh token)."""
    from google.oauth2.credentials import Credentials

    return Credentials(token)


# -- pytest fixtures (import them into a test module to use them) ------------------------------
try:
    import pytest
except ImportError:  # pragma: no cover - the benchmark runs without pytest
    pytest = None

if pytest is not None:
    @pytest.fixture(scope="session")
    def ee_server():
        """One loopback server for the session; the ee client is pointed at it."""
        import ee.deprecation

        saved = ee.deprecation._FetchDataCatalogStac
        ee.deprecation._FetchDataCatalogStac = lambda: {}  # no fetch from storage.googleapis.com
        srv = EETestServer().start()
        yield srv
        srv.stop()
        ee.deprecation._FetchDataCatalogStac = saved
        from rs_embed_qgis.engine.providers.gee import reset_session

        reset_session()
        ee.Reset()

    @pytest.fixture(scope="session")
    def ee_credentials():
        return make_credentials()

    @pytest.fixture
    def ee_env(ee_server):
        """The server with no faults, no latency and an empty request log."""
        ee_server.reset()
        yield ee_server
        ee_server.reset()

    @pytest.fixture
    def make_gee(ee_env, ee_credentials):
        """``make_gee(**options)`` -> a GEEProvider on the test server (no cache, fast backoff)."""
        from rs_embed_qgis.engine.providers.gee import GEEProvider

        def make(**kw):
            opts = dict(project=TEST_PROJECT, credentials=ee_credentials, opt_url=ee_env.url,
                        cache_dir=None, retry_backoff_s=0.01, max_retries=3, timeout=20.0)
            opts.update(kw)
            return GEEProvider(**opts)
        return make

    @pytest.fixture
    def gee_options(ee_env, ee_credentials):
        """provider_options for api calls with backend='gee' against the test server."""
        return {"project": TEST_PROJECT, "credentials": ee_credentials, "opt_url": ee_env.url,
                "cache_dir": None, "retry_backoff_s": 0.01, "max_retries": 3, "timeout": 20.0}


def invocations(expression: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """Arguments of every call to ``name`` in a serialized expression (constants resolved)."""
    values = expression["values"]
    found: list[dict[str, Any]] = []

    def plain(n):
        if "constantValue" in n:
            return n["constantValue"]
        if "valueReference" in n:
            return plain(values[n["valueReference"]])
        if "arrayValue" in n:
            return [plain(v) for v in n["arrayValue"].get("values", [])]
        if "functionInvocationValue" in n:
            return {"fn": n["functionInvocationValue"].get("functionName")}
        return n

    def walk(n, seen):
        if isinstance(n, dict):
            if "valueReference" in n:
                ref = n["valueReference"]
                if ref not in seen:
                    seen.add(ref)
                    walk(values[ref], seen)
                return
            f = n.get("functionInvocationValue")
            if f and f.get("functionName") == name:
                found.append({k: plain(v) for k, v in f.get("arguments", {}).items()})
            d = n.get("functionDefinitionValue")
            if d and d["body"] not in seen:
                seen.add(d["body"])
                walk(values[d["body"]], seen)
            for v in n.values():
                walk(v, seen)
        elif isinstance(n, list):
            for v in n:
                walk(v, seen)

    walk(values[expression["result"]], {expression["result"]})
    return found
