"""The dock's own background jobs (those that are not Processing algorithms) as ``QgsTask`` s.

Embedding, inspecting inputs, super-resolution and forecasting are Processing algorithms, which
the dock's tabs run through ``QgsProcessingAlgRunnerTask`` (``gui/alg_tab.py``). What is left
here are the dock's small tools: the similarity map of a clicked grid cell, the Earth Engine
sign-in check and the installation of optional packages.

``run()`` executes in a worker thread and only computes and writes files (a cancelled or failed
task deletes what it wrote). ``finished()`` runs on the main thread and hands one typed result
(:mod:`rs_embed_qgis.results`: done / failed / cancelled) to ``on_finished``; a ``Done`` carries
the closure that adds its layers, so the GUI thread never waits on the engine.
"""
from __future__ import annotations

import datetime as _dt
import logging
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from qgis.core import Qgis, QgsTask
from qgis.PyQt.QtCore import pyqtSignal

from .engine.errors import Cancelled as CancelledError
from .engine.io import make_folder, remove_empty
from .i18n import tr
from .results import Cancelled, Done, Failed, Result, log

_log = logging.getLogger(__name__)


class BackgroundTask(QgsTask):
    """``compute()`` (worker thread) returns a :class:`Done`; errors become :class:`Failed`, a cancel
    :class:`Cancelled`; ``on_finished(result)`` gets it on the main thread."""

    KIND = "task"

    def __init__(self, description: str, on_finished: Callable[[Result], None]):
        super().__init__(description, QgsTask.Flag.CanCancel)
        self.on_finished = on_finished
        self.written: list[Path] = []
        self.made: list[Path] = []  # folders this task created: removed again if it fails
        self.result: Result | None = None
        self.t_run = 0.0

    def compute(self) -> Done:  # pragma: no cover - subclasses
        raise NotImplementedError

    def output_folder(self, folder: Path) -> None:
        """Create ``folder`` (an unwritable one: a SpecError naming it); a failed or cancelled
        task removes the folders it created, so it leaves no empty folder behind."""
        self.made += make_folder(folder)

    def check_cancelled(self) -> None:
        if self.isCanceled():
            raise CancelledError("cancelled by the user")

    def run(self) -> bool:  # worker thread: no GUI, no layers
        t0 = time.perf_counter()
        try:
            done = self.compute()
            self.check_cancelled()
            self.result = done
            return True
        except CancelledError:
            self._cleanup()
            self.result = Cancelled(self.KIND)
            return False
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, never raised into QGIS
            self._cleanup()
            self.result = Failed.from_exception(self.KIND, exc, traceback.format_exc())
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
        remove_empty(self.made)
        self.made = []

    def finished(self, result: bool) -> None:  # main thread
        outcome = self.result
        if not result and not isinstance(outcome, (Failed, Cancelled)):
            self._cleanup()  # cancelled before it ran, or between the last check and the end
            outcome = Cancelled(self.KIND)
        try:
            self.on_finished(outcome)
        except Exception as exc:  # noqa: BLE001 - a failing handler must not take QGIS down
            log(f"{self.description()}: the result could not be handled: {exc}\n{traceback.format_exc()}",
                Qgis.MessageLevel.Critical)


class SimilarityTask(BackgroundTask):
    """Cosine similarity of every cell of an embedding GeoTIFF to one clicked cell."""

    KIND = "similarity"

    def __init__(self, embedding_tif: str, x: float, y: float, out_dir: str | Path, name: str,
                 source_meta: dict[str, Any], on_finished: Callable[[Result], None]):
        super().__init__(tr("RS Embed: similarity"), on_finished)
        self.embedding_tif, self.x, self.y = str(embedding_tif), float(x), float(y)
        self.out_dir, self.name, self.source_meta = Path(out_dir), name, dict(source_meta)

    def compute(self) -> Done:
        import math

        from .engine.errors import SpecError
        from .engine.geoio import open_raster
        from .engine.io import write_float_geotiff
        from .engine.provenance import public_text
        from .layers import cosine_similarity_grid

        with open_raster(self.embedding_tif) as src:
            a, _, c, _, e, f = src.info.transform
            row, col = math.floor((self.y - f) / e), math.floor((self.x - c) / a)
            if not (0 <= row < src.info.height and 0 <= col < src.info.width):
                raise SpecError(f"the clicked point ({self.x:.1f}, {self.y:.1f}) in {src.info.crs} is outside "
                                f"the embedding grid {src.info.bounds}")
            grid = src.read(dtype="float32")
            crs, transform = src.info.crs, list(src.info.transform)
        self.check_cancelled()
        sim = cosine_similarity_grid(grid, row, col)
        self.output_folder(self.out_dir)
        tif = self.out_dir / f"{self.name}_sim_r{row}c{col}_{_dt.datetime.now().strftime('%H%M%S%f')}.tif"
        self.written += [tif]
        write_float_geotiff(sim, crs, transform, tif, band_names=["cosine_similarity"],
                            tags={"RS_EMBED_SIMILARITY_TO": f"row={row},col={col}",
                                  "RS_EMBED_SOURCE": public_text(self.embedding_tif, out_dir=self.out_dir.absolute())})
        clicked = {"row": int(row), "col": int(col), "x": self.x, "y": self.y}
        title = tr("similarity to cell r{row} c{col}").format(row=row, col=col)
        meta = self.source_meta

        def add_to_map() -> list:
            from qgis.core import QgsProject

            from .layers import similarity_layer

            lyr = similarity_layer(str(tif), meta, title, clicked)
            QgsProject.instance().addMapLayer(lyr)
            return [lyr]

        return Done(self.KIND, tr("{title} added.").format(title=title), add_to_map,
                    data={"geotiff": str(tif), **clicked})


class GeeStatusTask(BackgroundTask):
    """Earth Engine sign-in check (a network round trip): never on the GUI thread."""

    KIND = "gee_status"

    def __init__(self, status_fn, project: str | None, on_finished: Callable[[Result], None]):
        super().__init__(tr("RS Embed: check Earth Engine sign-in"), on_finished)
        self.status_fn, self.project = status_fn, project

    def compute(self) -> Done:
        st = self.status_fn(project=self.project)
        status = dict(st) if isinstance(st, dict) else {"ok": False, "message": str(st)}
        return Done(self.KIND, str(status.get("message") or ""), data=status)


class InstallTask(BackgroundTask):
    """Optional packages into the plugin's folder (:func:`rs_embed_qgis.gui.deps.install`: resolve,
    check, install); every line pip prints is emitted as ``line`` while it runs."""

    KIND = "install"
    line = pyqtSignal(str)

    def __init__(self, modules: Sequence[str], target: str | Path, on_finished: Callable[[Result], None]):
        super().__init__(tr("RS Embed: install Python packages"), on_finished)
        self.modules, self.target = list(modules), Path(target)
        self.output: list[str] = []

    def _say(self, text: str) -> None:
        self.output.append(text)
        self.line.emit(text)

    def compute(self) -> Done:
        from .gui import deps

        try:
            plan = deps.install(self.modules, self.target, on_line=self._say, progress=self.setProgress,
                                is_cancelled=self.isCanceled)
        except deps.DependencyError:
            self.check_cancelled()  # pip killed because the user stopped it: a cancel, not a failure
            raise
        added = ", ".join(f"{n} {v}" for n, v in plan.install) or tr("nothing (all present)")
        return Done(self.KIND, tr("Installed: {packages}.").format(packages=added), data={"plan": plan})
