"""Background jobs of the dock as ``QgsTask`` subclasses.

``run()`` executes in a worker thread and only computes and writes files
(atomically; a cancelled task deletes what it wrote). ``finished()`` runs on the
main thread and hands the result to callbacks that add layers and messages, so
the GUI thread never waits on the engine. The embedding itself goes through
the engine's pipeline (:func:`rs_embed_qgis.engine.pipeline.run_embed`) and
:func:`rs_embed_qgis.jobs.save_grid`, the same code path as the Processing algorithms.
"""
from __future__ import annotations

import datetime as _dt
import logging
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from qgis.core import Qgis, QgsMessageLog, QgsTask

from .engine.errors import Cancelled
from .engine.io import make_folder
from .engine.pipeline import EmbedRequest, run_embed
from .jobs import save_grid

LOG_TAG = "RS Embed"
_log = logging.getLogger(__name__)


def log(msg: str, level=Qgis.Info) -> None:
    QgsMessageLog.logMessage(msg, LOG_TAG, level)


def spatial_wkt(spatial) -> str:
    """EPSG:4326 polygon WKT of an engine ROI: the area the provider fetches (a bbox, or a
    point buffer's square in its UTM zone)."""
    from .engine.geo import roi_footprint

    return roi_footprint(spatial).wkt()


class _Base(QgsTask):
    """Common plumbing: exceptions captured in run(), callbacks on the main thread."""

    def __init__(self, description: str, on_done: Callable[[_Base], None],
                 on_error: Callable[[_Base, BaseException], None],
                 on_cancel: Callable[[_Base], None] | None = None):
        super().__init__(description, QgsTask.CanCancel)
        self.on_done, self.on_error, self.on_cancel = on_done, on_error, on_cancel
        self.exception: BaseException | None = None
        self.details = ""
        self.written: list[Path] = []
        self.result: dict[str, Any] = {}
        self.t_run = 0.0

    def compute(self) -> None:  # pragma: no cover - subclasses
        raise NotImplementedError

    def _check_cancel(self) -> None:
        if self.isCanceled():
            raise Cancelled("cancelled by the user")

    def run(self) -> bool:  # worker thread: no GUI, no layers
        t0 = time.perf_counter()
        try:
            self.compute()
            self._check_cancel()
            return True
        except Cancelled:
            self._cleanup()
            return False
        except BaseException as exc:  # noqa: BLE001 - reported on the main thread, never raised into QGIS
            self.exception = exc
            self.details = traceback.format_exc()
            self._cleanup()
            return False
        finally:
            self.t_run = time.perf_counter() - t0

    def _cleanup(self) -> None:
        for p in self.written:
            for q in (p, Path(str(p) + ".aux.xml")):
                try:
                    q.unlink()
                except FileNotFoundError:
                    pass
        self.written = []

    def finished(self, result: bool) -> None:  # main thread
        try:
            if result:
                self.on_done(self)
            elif self.exception is not None:
                self.on_error(self, self.exception)
            else:
                self._cleanup()  # cancelled between the last check and the end
                if self.on_cancel:
                    self.on_cancel(self)
        except Exception as exc:  # noqa: BLE001 - a failing callback must not take QGIS down
            log(f"{self.description()}: could not add the result: {exc}\n{traceback.format_exc()}",
                Qgis.Critical)
            try:
                self.on_error(self, exc)
            except Exception as exc2:  # noqa: BLE001 - nothing else can be done: keep it in the log
                _log.exception("%s: the error handler failed too: %s", self.description(), exc2)


class EmbedTask(_Base):
    """Embeds the ROIs of a request; grids -> GeoTIFF + PCA GeoTIFF, pooled -> GeoPackage."""

    def __init__(self, req: EmbedRequest, out_dir: str | Path, name: str,
                 geometries_wkt: Sequence[str] | None = None, **callbacks: Any):
        super().__init__(f"RS Embed: {req.model} on {len(req.spatials)} ROI(s)", **callbacks)
        self.req = req
        self.out_dir = Path(out_dir)
        self.name = name
        self.geometries_wkt = list(geometries_wkt) if geometries_wkt else None

    def compute(self) -> None:
        from .engine.io import write_json, write_pca_geotiff, write_pooled_gpkg
        from .layers import summary

        self.setProgress(1)
        embs = run_embed(self.req, progress=lambda f, m: self.setProgress(2 + 83 * f),
                         is_cancelled=self.isCanceled)
        self._check_cancel()
        make_folder(self.out_dir)  # an unwritable folder: a SpecError naming it
        stamp = _dt.datetime.now().strftime("%Y%m%d_%H%M%S")
        base = self.out_dir / f"{self.name}_{stamp}"
        self.result = {"mode": self.req.output.mode, "name": self.name, "items": [], "request": self.req.describe()}
        if self.req.output.mode == "grid":
            for i, emb in enumerate(embs):
                self._check_cancel()
                stem = f"{base}" if len(embs) == 1 else f"{base}_roi{i}"
                tif, pca = Path(stem + ".tif"), Path(stem + "_pca.tif")
                self.written += [tif]
                res = save_grid(emb, tif)
                self.written += [pca]
                info = write_pca_geotiff(emb, pca)
                emb.meta.setdefault("timings", {})["write_s"] = res["write_s"]
                self.written += [Path(stem + ".json")]
                write_json(stem + ".json", summary(emb.meta))
                self.result["items"].append({"geotiff": str(tif), "pca": str(pca), "pca_info": info,
                                             "meta": emb.meta})
                self.setProgress(85 + 15 * (i + 1) / len(embs))
        else:
            wkts = self.geometries_wkt or [spatial_wkt(s) for s in self.req.spatials]
            gpkg = Path(f"{base}.gpkg")
            meta = dict(embs[0].meta)
            self.written += [gpkg]
            write_pooled_gpkg([e.array for e in embs], wkts, gpkg, meta)
            self.written += [Path(f"{base}.json")]
            write_json(f"{base}.json", [summary(e.meta) for e in embs])
            self.result["items"].append({"gpkg": str(gpkg), "meta": meta, "n": len(embs)})
            self.setProgress(100)


class InspectTask(_Base):
    """Fetches the input patch without running a model; writes an RGB GeoTIFF and a stats report."""

    def __init__(self, spatial, temporal, sensor, backend: str, provider_options: dict[str, Any],
                 out_dir: str | Path, name: str, frames: int | None = None, **callbacks: Any):
        super().__init__(f"RS Embed: inspect input ({backend})", **callbacks)
        self.spatial, self.temporal, self.sensor = spatial, temporal, sensor
        self.backend, self.provider_options, self.frames = backend, dict(provider_options), frames
        self.out_dir, self.name = Path(out_dir), name

    def compute(self) -> None:
        from .engine.input_checks import inspect_provider_patch
        from .engine.io import write_json, write_rgb_preview
        from .engine.progress import Feedback, cancel_scope
        from .layers import band_stats

        self.setProgress(5)
        t0 = time.perf_counter()
        with cancel_scope(Feedback(is_cancelled=self.isCanceled)):  # a cancel stops the fetch itself
            report = dict(inspect_provider_patch(
                spatial=self.spatial, temporal=self.temporal, sensor=self.sensor, backend=self.backend,
                name=self.name, return_array=True, provider_options=self.provider_options,
                frames=self.frames))
        self._check_cancel()
        self.setProgress(70)
        data = report.pop("array_tchw", None)
        chw = report.pop("array_chw")
        inp = report.get("input") or {}
        bands = inp.get("bands") or list(self.sensor.bands)
        report["bands_stats"] = band_stats(data if data is not None else chw, bands)
        report["fetch_s"] = time.perf_counter() - t0
        make_folder(self.out_dir)  # an unwritable folder: a SpecError naming it
        stem = self.out_dir / f"{self.name}_{_dt.datetime.now().strftime('%Y%m%d_%H%M%S')}"
        tif = Path(f"{stem}_input_rgb.tif")
        self.written += [tif]
        info = write_rgb_preview(chw, bands, inp["crs"], inp["transform"], tif)
        self.written += [Path(f"{stem}_input_report.json")]
        write_json(f"{stem}_input_report.json", report)
        self.result = {"geotiff": str(tif), "info": info, "report": report,
                       "report_path": f"{stem}_input_report.json"}
        self.setProgress(100)


class GeeStatusTask(_Base):
    """Earth Engine sign-in check (a network round trip): never on the GUI thread."""

    def __init__(self, status_fn, project: str | None, **callbacks: Any):
        super().__init__("RS Embed: check Earth Engine sign-in", **callbacks)
        self.status_fn, self.project = status_fn, project

    def compute(self) -> None:
        st = self.status_fn(project=self.project)
        self.result = dict(st) if isinstance(st, dict) else {"ok": False, "message": str(st)}


class SimilarityTask(_Base):
    """Cosine similarity of every cell of an embedding GeoTIFF to one clicked cell."""

    def __init__(self, embedding_tif: str, x: float, y: float, out_dir: str | Path, name: str,
                 **callbacks: Any):
        super().__init__("RS Embed: similarity", **callbacks)
        self.embedding_tif, self.x, self.y = str(embedding_tif), float(x), float(y)
        self.out_dir, self.name = Path(out_dir), name

    def compute(self) -> None:
        import math

        from .engine.errors import SpecError
        from .engine.geoio import open_raster
        from .engine.io import write_float_geotiff
        from .layers import cosine_similarity_grid

        with open_raster(self.embedding_tif) as src:
            a, _, c, _, e, f = src.info.transform
            row, col = math.floor((self.y - f) / e), math.floor((self.x - c) / a)
            if not (0 <= row < src.info.height and 0 <= col < src.info.width):
                raise SpecError(f"the clicked point ({self.x:.1f}, {self.y:.1f}) in {src.info.crs} is outside "
                                f"the embedding grid {src.info.bounds}")
            grid = src.read(dtype="float32")
            crs, transform = src.info.crs, list(src.info.transform)
        self._check_cancel()
        sim = cosine_similarity_grid(grid, row, col)
        make_folder(self.out_dir)  # an unwritable folder: a SpecError naming it
        tif = self.out_dir / f"{self.name}_sim_r{row}c{col}_{_dt.datetime.now().strftime('%H%M%S%f')}.tif"
        self.written += [tif]
        write_float_geotiff(sim, crs, transform, tif, band_names=["cosine_similarity"],
                            tags={"RS_EMBED_SIMILARITY_TO": f"row={row},col={col}",
                                  "RS_EMBED_SOURCE": self.embedding_tif})
        self.result = {"geotiff": str(tif), "row": int(row), "col": int(col), "x": self.x, "y": self.y}
