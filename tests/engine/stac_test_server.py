"""A loopback STAC API and HTTP range server for tests, in Earth Search's layout.

It serves, from one folder built by :func:`s2_products.write_earth_search`:

- the STAC API under ``/v1``: landing page (with ``conformsTo``: core, item-search,
  query), ``/v1/conformance``, ``/v1/collections[/{id}]`` and ``/v1/search`` (GET and
  POST: ``collections``, ``bbox``, ``datetime`` intervals, ``query`` on
  ``eo:cloud_cover``, ``limit`` with ``next`` links carrying a token), answering with
  the items whose asset hrefs point back at this server;
- the files themselves at their bucket paths (``/sentinel-s2-l2a-cogs/...``), with
  ``HEAD``, ``Accept-Ranges`` and single ``Range`` requests (206), as GDAL's
  ``/vsicurl/`` reads Cloud-Optimized GeoTIFFs.

Faults are injectable per path substring: an HTTP status (404, 500 ...), a slow
answer (seconds before answering), a truncated body (half the promised bytes, then
the connection closes); each for ``times`` requests. Every request is logged.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

CONFORMS_TO = ["https://api.stacspec.org/v1.0.0/core", "https://api.stacspec.org/v1.0.0/item-search",
               "https://api.stacspec.org/v1.0.0/item-search#query",
               "https://api.stacspec.org/v1.0.0/ogcapi-features"]


@dataclass
class Fault:
    match: str
    status: int | None = None
    slow: float = 0.0
    truncate: bool = False
    times: int = 1


def _time(text: str | None, end: bool = False) -> dt.datetime | None:
    if not text or text == "..":
        return None
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if len(text) == 10 and end:  # a bare date as the end of an interval: the whole day
        t += dt.timedelta(days=1) - dt.timedelta(microseconds=1)
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


class STACTestServer:
    """``STACTestServer(root).start()``; ``url`` is the API root (``.../v1``)."""

    def __init__(self, root: Path, collection: str = "sentinel-2-l2a") -> None:
        self.root = Path(root)
        self.collection = collection
        self.items: list[dict[str, Any]] = []
        self.faults: list[Fault] = []
        self.log: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        return f"{self.base}/v1"

    def start(self) -> STACTestServer:
        srv = self

        class Handler(_Handler):
            server_obj = srv

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def add_items(self, paths: list[Path]) -> None:
        """Serve the items of these item files (their asset hrefs must point at :attr:`base`)."""
        for p in paths:
            self.items.append(json.loads(Path(p).read_text()))

    def reset(self) -> None:
        with self._lock:
            self.faults.clear()
            self.log.clear()

    def inject(self, match: str, **kw) -> None:
        with self._lock:
            self.faults.append(Fault(match, **kw))

    def requests(self, match: str = "") -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.log if match in r["path"]]

    def take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if f.match in path:
                    f.times -= 1
                    if f.times <= 0:
                        self.faults.remove(f)
                    return f
        return None

    # -- the API ------------------------------------------------------------------------------
    def landing(self) -> dict[str, Any]:
        return {"type": "Catalog", "id": "earth-search-test", "stac_version": "1.0.0",
                "description": "loopback Earth Search for tests", "conformsTo": CONFORMS_TO,
                "links": [{"rel": "self", "href": self.url, "type": "application/json"},
                          {"rel": "root", "href": self.url, "type": "application/json"},
                          {"rel": "conformance", "href": f"{self.url}/conformance"},
                          {"rel": "data", "href": f"{self.url}/collections"},
                          {"rel": "search", "href": f"{self.url}/search", "type": "application/geo+json",
                           "method": "GET"},
                          {"rel": "search", "href": f"{self.url}/search", "type": "application/geo+json",
                           "method": "POST"}]}

    def collection_doc(self) -> dict[str, Any]:
        return {"type": "Collection", "id": self.collection, "stac_version": "1.0.0",
                "description": "Sentinel-2 L2A (test)", "license": "proprietary",
                "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                           "temporal": {"interval": [["2015-06-27T10:25:31Z", None]]}},
                "links": [{"rel": "self", "href": f"{self.url}/collections/{self.collection}"},
                          {"rel": "root", "href": self.url},
                          {"rel": "items", "href": f"{self.url}/collections/{self.collection}/items"}]}

    def search(self, params: dict[str, Any]) -> dict[str, Any]:
        cols = params.get("collections")
        if isinstance(cols, str):
            cols = cols.split(",")
        bbox = params.get("bbox")
        if isinstance(bbox, str):
            bbox = [float(v) for v in bbox.split(",")]
        start = end = None
        if params.get("datetime"):
            a, _, b = str(params["datetime"]).partition("/")
            start, end = _time(a), _time(b or a, end=True)
        query = params.get("query") or {}
        if isinstance(query, str):
            query = json.loads(query)
        hits = []
        for it in self.items:
            if cols and it.get("collection") not in cols:
                continue
            b = it["bbox"]
            if bbox and not (b[0] <= bbox[2] and bbox[0] <= b[2] and b[1] <= bbox[3] and bbox[1] <= b[3]):
                continue
            t = _time(it["properties"]["datetime"])
            if (start and t < start) or (end and t > end):
                continue
            ok = True
            for prop, ops in query.items():
                v = it["properties"].get(prop)
                for op, x in ops.items():
                    ok &= v is not None and {"lte": v <= x, "lt": v < x, "gte": v >= x, "gt": v > x,
                                             "eq": v == x}.get(op, True)
            if ok:
                hits.append(it)
        limit = int(params.get("limit") or 10)
        offset = int(str(params.get("token") or "next:0").split(":")[1])
        page = hits[offset:offset + limit]
        links = [{"rel": "root", "href": self.url}]
        if offset + limit < len(hits):
            body = {k: v for k, v in params.items() if k != "token"}
            links.append({"rel": "next", "href": f"{self.url}/search", "method": "POST",
                          "body": {**body, "token": f"next:{offset + limit}"}, "merge": False,
                          "type": "application/geo+json"})
        return {"type": "FeatureCollection", "features": page, "links": links,
                "numberMatched": len(hits), "numberReturned": len(page)}


class _Handler(BaseHTTPRequestHandler):
    server_obj: STACTestServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json", headers=None,
              truncate: bool = False, head: bool = False) -> None:
        """An answer; a HEAD request gets the headers only (a body would break the connection)."""
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        if head:
            return
        try:
            self.wfile.write(body[: len(body) // 2] if truncate else body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        if truncate:
            self.close_connection = True

    def _json(self, obj: Any, status: int = 200, fault: Fault | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), "application/geo+json" if "features" in obj else
                   "application/json", truncate=bool(fault and fault.truncate), head=self.command == "HEAD")

    def _handle(self, method: str) -> None:
        srv = self.server_obj
        url = urlparse(self.path)
        path = url.path
        body = b""
        if method == "POST":
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
        fault = srv.take_fault(path)
        with srv._lock:
            srv.log.append({"method": method, "path": path, "query": url.query, "range": self.headers.get("Range"),
                            "body": body.decode(errors="replace"), "time": time.monotonic(),
                            "fault": None if fault is None else fault.__dict__.copy()})
        if fault is not None and fault.slow:
            time.sleep(fault.slow)
        if fault is not None and fault.status:
            return self._json({"code": str(fault.status), "description": f"injected {fault.status}"},
                              fault.status)
        if path.rstrip("/") == "/v1":
            return self._json(srv.landing(), fault=fault)
        if path == "/v1/conformance":
            return self._json({"conformsTo": CONFORMS_TO}, fault=fault)
        if path == "/v1/collections":
            return self._json({"collections": [srv.collection_doc()], "links": []}, fault=fault)
        if path == f"/v1/collections/{srv.collection}":
            return self._json(srv.collection_doc(), fault=fault)
        if path == "/v1/search":
            if method == "POST":
                params = json.loads(body or b"{}")
            else:
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
            return self._json(srv.search(params), fault=fault)
        return self._file(path, fault, head=method == "HEAD")

    def _file(self, path: str, fault: Fault | None, head: bool) -> None:
        srv = self.server_obj
        f = (srv.root / path.lstrip("/")).resolve()
        if srv.root.resolve() not in f.parents or not f.is_file():
            return self._json({"code": "404", "description": f"no such file {path}"}, 404)
        data = f.read_bytes()
        rng = self.headers.get("Range")
        headers = {"Accept-Ranges": "bytes", "Last-Modified": "Fri, 15 Jul 2022 15:42:10 GMT"}
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng or "")
        if m:
            a = int(m.group(1))
            b = min(int(m.group(2)) if m.group(2) else len(data) - 1, len(data) - 1)
            if a >= len(data):
                return self._send(416, b"", headers={"Content-Range": f"bytes */{len(data)}"})
            headers["Content-Range"] = f"bytes {a}-{b}/{len(data)}"
            return self._send(206, data[a:b + 1], "image/tiff", headers, truncate=bool(fault and fault.truncate),
                              head=head)
        return self._send(200, data, "image/tiff", headers, truncate=bool(fault and fault.truncate), head=head)

    def do_GET(self):  # noqa: N802
        self._handle("GET")

    def do_HEAD(self):  # noqa: N802
        self._handle("HEAD")

    def do_POST(self):  # noqa: N802
        self._handle("POST")
