"""The RS Embed dock: region, model, time window, sensor/output -> background run -> map layers.

The form comes from ``ui/dock.ui``. Everything slow (fetching, the model,
writing files) happens in QgsTasks (:mod:`rs_embed_qgis.tasks`); this module
only reads widgets, builds engine specs, and adds the finished results as
layers. Other tools add their own tab with :meth:`RsEmbedDock.add_tab`.
"""
from __future__ import annotations

import html
import importlib
import traceback
from typing import Any

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsGeometry,
    QgsMapLayerProxyModel,
    QgsPointXY,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsWkbTypes,
)
from qgis.gui import QgsDockWidget, QgsFileWidget
from qgis.PyQt.QtCore import pyqtSignal

from .. import layers as L
from ..engine import BBox, OutputSpec, PointBuffer, SensorSpec, TemporalSpec
from ..engine.errors import RsEmbedError, SpecError
from ..engine.pipeline import EmbedRequest
from ..engine.providers import list_providers
from ..tasks import EmbedTask, GeeStatusTask, InspectTask, SimilarityTask, log, spatial_wkt
from . import deps, icon, load_ui
from . import settings as S
from .maptools import PointMapTool, RectangleMapTool, SimilarityMapTool, roi_rubber_band

FORM, _BASE = load_ui("dock")
WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")


def _xform(src: QgsCoordinateReferenceSystem, dst: QgsCoordinateReferenceSystem) -> QgsCoordinateTransform:
    return QgsCoordinateTransform(src, dst, QgsProject.instance())


class RsEmbedDock(QgsDockWidget):
    """The dock widget. ``roiChanged`` fires when the region changes; ``taskFinished(kind, ok)``
    when a background task has been handled (layers added or error shown)."""

    roiChanged = pyqtSignal()
    taskFinished = pyqtSignal(str, bool)

    def __init__(self, iface, parent=None):
        super().__init__("RS Embed", parent)
        self.setObjectName("RsEmbedDock")
        self.iface = iface
        self.canvas = iface.mapCanvas()
        self.body = _BASE()
        self.ui = FORM()
        self.ui.setupUi(self.body)
        self.setWidget(self.body)
        self.rois: list[tuple[Any, str]] = []      # (engine spatial, EPSG:4326 WKT)
        self.roi_kind = ""
        self.roi_band = None
        self.tasks: list[Any] = []                  # keep Python refs until finished
        self.last_result: dict[str, Any] = {}
        self._gee_status: dict[str, Any] | None = None

        self.rect_tool = RectangleMapTool(self.canvas)
        self.point_tool = PointMapTool(self.canvas)
        self.sim_tool = SimilarityMapTool(self.canvas)
        self.rect_tool.rectangleDrawn.connect(self._on_rectangle)
        self.point_tool.pointClicked.connect(self._on_point)
        self.sim_tool.pointClicked.connect(self._on_similarity_click)
        self._tool_buttons = {self.rect_tool: self.ui.btnRect, self.point_tool: self.ui.btnPoint,
                              self.sim_tool: self.ui.btnSimilarity}
        self.canvas.mapToolSet.connect(self._on_map_tool_set)

        u = self.ui
        u.btnRect.setIcon(icon("roi_rectangle.svg"))
        u.btnPoint.setIcon(icon("roi_point.svg"))
        u.btnSelected.setIcon(icon("roi_selection.svg"))
        u.btnCanvas.setIcon(icon("roi_extent.svg"))
        u.btnSimilarity.setIcon(icon("similarity.svg"))
        u.btnSettings.setIcon(icon("settings.svg"))
        u.btnRun.setIcon(icon("rs_embed.svg"))
        u.btnRect.toggled.connect(lambda on: self._toggle_tool(self.rect_tool, on))
        u.btnPoint.toggled.connect(lambda on: self._toggle_tool(self.point_tool, on))
        u.btnSimilarity.toggled.connect(lambda on: self._toggle_tool(self.sim_tool, on))
        u.btnSelected.clicked.connect(self.use_selected_features)
        u.btnCanvas.clicked.connect(self.use_canvas_extent)
        u.cmbVectorLayer.setFilters(QgsMapLayerProxyModel.VectorLayer)
        u.btnRun.clicked.connect(self.run)
        u.btnInspect.clicked.connect(self.inspect_input)
        u.btnCancel.clicked.connect(self.cancel)
        u.btnSettings.clicked.connect(self.open_settings)
        u.btnInstallDeps.clicked.connect(self.install_missing)
        u.rbRange.toggled.connect(self._sync_time_widgets)
        u.cmbOutputMode.currentTextChanged.connect(self._sync_output_widgets)
        u.cmbBackend.currentTextChanged.connect(self._on_backend)
        u.cmbModel.currentTextChanged.connect(self._on_model)
        u.chkRandomWeights.toggled.connect(lambda _checked: self._on_model(u.cmbModel.currentText()))
        for w in (u.fileDataFolder, u.fileOutDir):
            w.setStorageMode(QgsFileWidget.GetDirectory)
        self.reload_settings()
        self._fill_models()
        self._sync_time_widgets()
        self._sync_output_widgets()
        self.tool_tabs = self._add_tool_tabs()

    # ------------------------------------------------------------------ public helpers

    def add_tab(self, widget, title: str) -> int:
        """Where other tools (Super-resolution, Forecast) plug into the dock."""
        return self.ui.tabs.addTab(widget, title)

    def _add_tool_tabs(self) -> dict[str, Any]:
        """The Super-resolution and Forecast tabs (each runs its Processing algorithm)."""
        from .forecast_tab import ForecastTab
        from .superres_tab import SuperResTab

        tabs = {"superres": SuperResTab(self.iface), "forecast": ForecastTab(self.iface)}
        self.add_tab(tabs["superres"], "Super-resolution")
        self.add_tab(tabs["forecast"], "Forecast")
        return tabs

    def reload_settings(self) -> None:
        u = self.ui
        u.fileDataFolder.setFilePath(S.local_data_folder())
        u.fileOutDir.setFilePath(S.output_dir())
        u.cmbDevice.setCurrentText(S.get("device", "auto"))
        self._fill_backends(S.get("default_backend", "local"))

    # ------------------------------------------------------------------ catalog, backends, deps

    def _fill_models(self) -> None:
        from ..engine import list_models

        cmb = self.ui.cmbModel
        cmb.blockSignals(True)
        cmb.clear()
        for m in list_models():
            cmb.addItem(m)
        cmb.blockSignals(False)
        idx = cmb.findText("mosaiks")
        cmb.setCurrentIndex(idx if idx >= 0 else 0)
        self._on_model(cmb.currentText())

    def _fill_backends(self, preferred: str = "local") -> None:
        cmb = self.ui.cmbBackend
        cmb.blockSignals(True)
        cmb.clear()
        for p in list_providers():  # the engine's registry; what this QGIS's Python can import
            if p.available and all(deps.is_importable(m) for m in p.requires):
                cmb.addItem(p.name)
        cmb.blockSignals(False)
        i = cmb.findText(preferred)
        cmb.setCurrentIndex(i if i >= 0 else 0)
        self._on_backend(cmb.currentText())

    @staticmethod
    def ee_status_function():
        """The gee provider's ``ee_status(project=...)``, or a sentence saying why there is none."""
        if not deps.is_importable("ee"):
            return None, "unavailable: earthengine-api is not installed in QGIS's Python"
        try:
            mod = importlib.import_module("rs_embed_qgis.engine.providers.gee")
        except ImportError as exc:
            return None, f"unavailable: the Earth Engine backend could not be loaded ({exc})"
        fn = getattr(mod, "ee_status", None)
        if fn is None:
            return None, "unavailable: this engine has no Earth Engine status check"
        return fn, ""

    def check_gee(self):
        """Start the (network) sign-in check in a task; the label says "checking" meanwhile."""
        fn, why = self.ee_status_function()
        if fn is None:
            self._show_gee_status({"ok": False, "message": why})
            return None
        if getattr(self, "_gee_task", None) is not None:
            return self._gee_task
        self.ui.lblBackendInfo.setText("Google Earth Engine: checking the sign-in…")
        task = GeeStatusTask(fn, S.get("gee_project"), on_done=self._gee_checked,
                             on_error=lambda t, exc: self._gee_checked(t, {"ok": False, "message": str(exc)}))
        self._gee_task = task
        self.tasks.append(task)
        QgsApplication.taskManager().addTask(task)
        return task

    def _gee_checked(self, task, result=None) -> None:
        self._gee_task = None
        if task in self.tasks:
            self.tasks.remove(task)
        self._show_gee_status(result if result is not None else task.result)
        self.taskFinished.emit("gee_status", True)

    def _show_gee_status(self, st: dict[str, Any]) -> None:
        self._gee_status = st
        if self.ui.cmbBackend.currentText() != "gee":
            return
        how = st.get("how_to_sign_in") or ("Sign in once with <code>earthengine authenticate</code> and set "
                                           "your Google Cloud project in the RS Embed settings.")
        head = "ready" if st.get("ok") else "not ready"
        self.ui.lblBackendInfo.setText(
            f"Google Earth Engine: <b>{head}</b> — {html.escape(str(st.get('message') or ''))}"
            + ("" if st.get("ok") else f"<br>{html.escape(how) if '<code>' not in how else how}"))

    def _on_backend(self, backend: str) -> None:
        u = self.ui
        local = backend == "local"
        u.fileDataFolder.setEnabled(local)
        if local:
            u.lblBackendInfo.setText("Local GeoTIFF/COG folder or STAC catalog (default: the bundled "
                                     "Sentinel-2 sample, 2022, lon 9.00-9.04, lat 47.83-47.85).")
        elif self._gee_status is not None:
            self._show_gee_status(self._gee_status)
        else:
            self.check_gee()
        self._update_deps()

    def _on_model(self, model: str) -> None:
        if not model:
            return
        from ..engine import describe_model

        try:
            d = describe_model(model, weights_path=S.weights_path(model))
        except RsEmbedError as exc:
            self.ui.txtModelInfo.setHtml(f"<b>{html.escape(str(exc))}</b>")
            return
        self.model_info = d
        w = d["weights"]
        status = w.get("status", "?")
        if S.weights_path(model) is None and status == "missing" and self.ui.chkRandomWeights.isChecked():
            status = "missing (will run with RANDOM weights)"
        colour = {"found": "green", "not needed": "green"}.get(status, "#b00000")
        rows = [
            ("Type", f"{d['type']} — {d['family']}"),
            ("Bands", ", ".join(d["bands"]) or "—"),
            ("Temporal", d["temporal_mode"]),
            ("Outputs", ", ".join(d["outputs"])),
            ("Side inputs", ", ".join(d["side_inputs"]) or "none"),
            ("Dimension", str(d.get("embedding_dim") or "?")),
            ("Weights", f"<span style='color:{colour}'><b>{html.escape(status)}</b></span>"
                        + (f" ({html.escape(str((w.get('resolved') or {}).get('path') or ''))})"
                           if (w.get("resolved") or {}).get("path") else "")
                        # weights behind a link only a person can follow: say where, once
                        + (f" — download by hand from <a href='{html.escape(w['manual_url'])}'>here</a>"
                           if w.get("manual_url") and w.get("status") == "missing" else "")),
        ]
        if d.get("missing_requirements"):
            rows.append(("Needs", "<span style='color:#b00000'>"
                         + ", ".join(d["missing_requirements"]) + " (not installed)</span>"))
        body = "".join(f"<tr><td><b>{k}</b></td><td>{v if k == 'Weights' or k == 'Needs' else html.escape(v)}"
                       "</td></tr>" for k, v in rows)
        paper = f"<p><a href='{d['paper']}'>paper</a></p>" if d.get("paper") else ""
        self.ui.txtModelInfo.setHtml(f"<p>{html.escape(d['description'])}</p><table>{body}</table>{paper}")
        sensor = d.get("default_sensor") or {}
        u = self.ui
        if sensor:
            u.editCollection.setText(str(sensor.get("collection", "")))
            u.editBands.setText(", ".join(sensor.get("bands") or []))
            u.spinSensorScale.setValue(int(sensor.get("scale_m") or 10))
            u.spinCloud.setValue(int(sensor.get("cloudy_pct") or 30))
            u.cmbComposite.setCurrentText(str(sensor.get("composite") or "median"))
        u.lblTemporalMode.setText(
            f"<i>{html.escape(model)}</i> uses the window as: {html.escape(d['temporal_mode'])}. "
            "The window is half-open: [start, end).")
        for mode in ("grid", "pooled"):
            i = u.cmbOutputMode.findText(mode)
            item = u.cmbOutputMode.model().item(i)
            if item is not None:
                item.setEnabled(mode in d["outputs"])
        if u.cmbOutputMode.currentText() not in d["outputs"] and d["outputs"]:
            u.cmbOutputMode.setCurrentText(d["outputs"][0])
        self._update_deps()

    def selection_needs(self) -> list[str]:
        """What the chosen model and backend need but QGIS's Python lacks (import names)."""
        need = [m for m in (getattr(self, "model_info", None) or {}).get("requires", []) if not deps.is_importable(m)]
        if self.ui.cmbBackend.currentText() == "gee" and not deps.is_importable("ee"):
            need.append("ee")
        return need

    def missing_dependencies(self) -> list[str]:
        """Every optional package QGIS's Python lacks, the current selection's first (import names)."""
        need = self.selection_needs()
        return need + [m for m in deps.missing() if m not in need]

    def _update_deps(self) -> None:
        u = self.ui
        need = self.missing_dependencies()
        model_need = [m for m in (getattr(self, "model_info", None) or {}).get("requires", [])
                      if not deps.is_importable(m)]
        if need:
            txt = deps.describe_missing(need)
            u.lblDeps.setToolTip(deps.explain_missing(need))
            if not model_need:
                txt += f" The selected model ({u.cmbModel.currentText()}) does not need it and works now."
            else:
                txt += f" {u.cmbModel.currentText()} needs {', '.join(deps.pip_name(m) for m in model_need)}."
            u.lblDeps.setText(txt)
        u.lblDeps.setVisible(bool(need))
        u.btnInstallDeps.setVisible(bool(need))
        u.btnInstallDeps.setText("Install optional packages into the plugin's folder…")
        u.btnRun.setEnabled(not model_need)
        u.btnRun.setToolTip("" if not model_need else f"{u.cmbModel.currentText()} needs "
                            f"{', '.join(model_need)}; install it first")

    def install_missing(self):
        """Open the installer with what the current selection needs ticked (all missing if nothing)."""
        return self.open_installer(self.selection_needs() or self.missing_dependencies())

    def open_installer(self, modules):
        """The installer window with ``modules`` (import names) ticked."""
        from .install_dialog import InstallDialog

        if getattr(self, "install_dialog", None) is None:
            self.install_dialog = InstallDialog(self)
            self.install_dialog.installed.connect(self._install_done)
            self.install_dialog.finished.connect(lambda _r: setattr(self, "install_dialog", None))
        self.install_dialog.select(modules)
        self.install_dialog.show()
        self.install_dialog.raise_()
        return self.install_dialog

    def _install_done(self, plan=None) -> None:
        deps.add_to_path()
        self._fill_backends(self.ui.cmbBackend.currentText())
        self._on_model(self.ui.cmbModel.currentText())
        self._msg("Packages installed into the plugin's folder. Restart QGIS if a model still "
                  "reports them missing.", Qgis.Success)
        self.taskFinished.emit("install", True)

    # ------------------------------------------------------------------ ROI

    def _toggle_tool(self, tool, on: bool) -> None:
        if on:
            self.canvas.setMapTool(tool)
        elif self.canvas.mapTool() is tool:
            self.canvas.unsetMapTool(tool)

    def _on_map_tool_set(self, new, old=None) -> None:
        for tool, btn in self._tool_buttons.items():
            btn.blockSignals(True)
            btn.setChecked(new is tool)
            btn.blockSignals(False)

    def canvas_crs(self) -> QgsCoordinateReferenceSystem:
        return self.canvas.mapSettings().destinationCrs()

    def set_roi_rectangle(self, rect: QgsRectangle, crs: QgsCoordinateReferenceSystem | None = None) -> None:
        crs = crs or self.canvas_crs()
        if rect is None or rect.isEmpty():
            raise SpecError("the rectangle is empty; drag on the map to draw a region")
        r = _xform(crs, WGS84).transformBoundingBox(rect) if crs.isValid() and crs != WGS84 else rect
        bbox = BBox(r.xMinimum(), r.yMinimum(), r.xMaximum(), r.yMaximum()).validate()
        self._set_rois([(bbox, spatial_wkt(bbox))], "rectangle")

    def set_roi_point(self, point: QgsPointXY, crs: QgsCoordinateReferenceSystem | None = None,
                      buffer_m: float | None = None) -> None:
        crs = crs or self.canvas_crs()
        p = _xform(crs, WGS84).transform(point) if crs.isValid() and crs != WGS84 else point
        pb = PointBuffer(lon=p.x(), lat=p.y(), buffer_m=float(buffer_m or self.ui.spinBuffer.value())).validate()
        self._set_rois([(pb, spatial_wkt(pb))], "point")

    def use_canvas_extent(self) -> None:
        try:
            self.set_roi_rectangle(self.canvas.extent(), self.canvas_crs())
        except RsEmbedError as exc:
            self._error(exc)

    def use_selected_features(self) -> None:
        layer = self.ui.cmbVectorLayer.currentLayer() or self.iface.activeLayer()
        if layer is None or layer.type() != layer.VectorLayer:
            self._msg("Choose a vector layer with selected features first.", Qgis.Warning)
            return
        feats = list(layer.selectedFeatures())
        if not feats:
            self._msg(f"No feature of '{layer.name()}' is selected; select some first.", Qgis.Warning)
            return
        xf = _xform(layer.crs(), WGS84)
        rois = []
        for f in feats:
            g = QgsGeometry(f.geometry())
            if g.isEmpty():
                continue
            g.transform(xf)
            if g.type() == QgsWkbTypes.PointGeometry:
                p = g.asPoint()
                sp = PointBuffer(lon=p.x(), lat=p.y(), buffer_m=float(self.ui.spinBuffer.value())).validate()
                rois.append((sp, spatial_wkt(sp)))
            else:
                b = g.boundingBox()
                sp = BBox(b.xMinimum(), b.yMinimum(), b.xMaximum(), b.yMaximum()).validate()
                rois.append((sp, g.asWkt(7)))
        if not rois:
            self._msg(f"The selected features of '{layer.name()}' have no geometry.", Qgis.Warning)
            return
        self._set_rois(rois, f"{len(rois)} feature(s) of {layer.name()}")

    def _on_rectangle(self, rect: QgsRectangle) -> None:
        try:
            self.set_roi_rectangle(rect, self.canvas_crs())
        except RsEmbedError as exc:
            self._error(exc)

    def _on_point(self, p: QgsPointXY) -> None:
        try:
            self.set_roi_point(p, self.canvas_crs())
        except RsEmbedError as exc:
            self._error(exc)

    def _set_rois(self, rois: list[tuple[Any, str]], kind: str) -> None:
        self.rois, self.roi_kind = rois, kind
        if self.roi_band is None:
            self.roi_band = roi_rubber_band(self.canvas)
        self.roi_band.reset(QgsWkbTypes.PolygonGeometry)
        for _sp, wkt in rois:
            self.roi_band.addGeometry(QgsGeometry.fromWkt(wkt), WGS84)
        self.roi_band.show()
        self.ui.lblRoi.setText(self.roi_text())
        self.roiChanged.emit()

    def roi_text(self) -> str:
        if not self.rois:
            return "No region yet: draw one on the map."
        lines = []
        for sp, _ in self.rois[:4]:
            if isinstance(sp, PointBuffer):
                lines.append(f"point lon {sp.lon:.5f}, lat {sp.lat:.5f}, buffer {sp.buffer_m:.0f} m")
            else:
                lines.append(f"lon {sp.minlon:.5f} … {sp.maxlon:.5f}, lat {sp.minlat:.5f} … {sp.maxlat:.5f}")
        more = f"\n… and {len(self.rois) - 4} more" if len(self.rois) > 4 else ""
        return f"{self.roi_kind} (EPSG:4326):\n" + "\n".join(lines) + more

    # ------------------------------------------------------------------ specs from widgets

    def temporal(self) -> TemporalSpec:
        u = self.ui
        if u.rbYear.isChecked():
            return TemporalSpec.year(int(u.spinYear.value())).validate()
        start = u.dateStart.date().toString("yyyy-MM-dd")
        end = u.dateEnd.date().toString("yyyy-MM-dd")
        return TemporalSpec.range(start, end).validate()

    def sensor(self) -> SensorSpec:
        u = self.ui
        bands = tuple(b.strip() for b in u.editBands.text().replace(";", ",").split(",") if b.strip())
        if not bands:
            raise SpecError("the band list is empty; enter bands such as 'B4, B3, B2'")
        return SensorSpec(collection=u.editCollection.text().strip(), bands=bands,
                          scale_m=int(u.spinSensorScale.value()), cloudy_pct=int(u.spinCloud.value()),
                          composite=u.cmbComposite.currentText()).validate()

    def output(self) -> OutputSpec:
        u = self.ui
        if u.cmbOutputMode.currentText() == "pooled":
            return OutputSpec.pooled(u.cmbPooling.currentText())
        return OutputSpec.grid(scale_m=int(u.spinGridScale.value()))

    def provider_options(self, backend: str) -> dict[str, Any]:
        if backend == "local":
            folder = self.ui.fileDataFolder.filePath().strip() or S.local_data_folder()
            return {"root": folder}
        project = S.get("gee_project")
        return {"project": project} if project else {}

    def model_options(self, model: str) -> dict[str, Any]:
        opts: dict[str, Any] = {}
        w = S.weights_path(model)
        if w:
            opts["weights"] = str(w)
        info = getattr(self, "model_info", None) or {}
        if self.ui.chkRandomWeights.isChecked() and (info.get("weights") or {}).get("needs_weights", True):
            opts["allow_random_weights"] = True  # asked for explicitly; outputs say RANDOM WEIGHTS
        return opts

    def build_request(self) -> EmbedRequest:
        if not self.rois:
            raise SpecError("no region: draw a rectangle, click a point, use selected features or the map extent")
        u = self.ui
        model = u.cmbModel.currentText()
        backend = u.cmbBackend.currentText()
        device = u.cmbDevice.currentText()
        requires = (getattr(self, "model_info", None) or {}).get("requires") or []
        if device == "auto" and requires and "torch" not in requires:
            device = "cpu"  # a numpy model: resolving "auto" would import torch (seconds, holding the GIL)
        return EmbedRequest(
            model=model, spatials=[sp for sp, _ in self.rois], temporal=self.temporal(),
            output=self.output(), sensor=self.sensor(), backend=backend,
            device=device, input_prep=u.cmbInputPrep.currentText(),
            model_options=self.model_options(model), provider_options=self.provider_options(backend))

    def _sync_time_widgets(self, *_a) -> None:
        u = self.ui
        rng = u.rbRange.isChecked()
        u.dateStart.setEnabled(rng)
        u.dateEnd.setEnabled(rng)
        u.spinYear.setEnabled(not rng)

    def _sync_output_widgets(self, *_a) -> None:
        u = self.ui
        grid = u.cmbOutputMode.currentText() == "grid"
        u.spinGridScale.setEnabled(grid)
        u.cmbPooling.setEnabled(not grid)

    # ------------------------------------------------------------------ running

    def _start(self, task) -> None:
        self.tasks.append(task)
        u = self.ui
        u.progressBar.setValue(0)
        u.progressBar.setVisible(True)
        u.btnCancel.setEnabled(True)
        task.progressChanged.connect(self._on_progress)
        QgsApplication.taskManager().addTask(task)

    def _on_progress(self, p: float) -> None:
        self.ui.progressBar.setValue(int(p))

    def _done_with(self, task) -> None:
        if task in self.tasks:
            self.tasks.remove(task)
        if not self.tasks:
            self.ui.progressBar.setVisible(False)
            self.ui.btnCancel.setEnabled(False)

    def run(self):
        """Start the embedding task for the current ROI and settings; returns the task (or None)."""
        try:
            req = self.build_request()
        except RsEmbedError as exc:
            self._error(exc)
            return None
        t = req.temporal
        when = str(t.year) if t.mode == "year" else f"{t.start}_{t.end}"
        name = f"{req.model}_{when}"
        task = EmbedTask(req, self.ui.fileOutDir.filePath().strip() or S.output_dir(), name,
                         geometries_wkt=[w for _, w in self.rois],
                         on_done=self._embed_done, on_error=self._task_error, on_cancel=self._task_cancelled)
        log(f"run: {req.describe()}")
        self._start(task)
        return task

    def cancel(self) -> None:
        for t in list(self.tasks):
            t.cancel()

    def _group(self, name: str):
        root = QgsProject.instance().layerTreeRoot()
        return root.insertGroup(0, name)

    def _embed_done(self, task) -> None:
        self._done_with(task)
        res = task.result
        self.last_result = res
        added = []
        random_w = False
        if res["mode"] == "grid":
            group = self._group(f"RS Embed: {res['name']}")
            for i, item in enumerate(res["items"]):
                nm = res["name"] if len(res["items"]) == 1 else f"{res['name']} ROI {i}"
                pca, emb = L.grid_layers(item["geotiff"], item["pca"], item["pca_info"], item["meta"], nm)
                for lyr, visible in ((pca, True), (emb, False)):
                    QgsProject.instance().addMapLayer(lyr, False)
                    node = group.addLayer(lyr)
                    node.setItemVisibilityChecked(visible)
                    added.append(lyr)
                random_w = random_w or bool(item["meta"].get("random_weights"))
        else:
            item = res["items"][0]
            lyr = L.pooled_layer(item["gpkg"], item["meta"], res["name"])
            QgsProject.instance().addMapLayer(lyr)
            added.append(lyr)
            random_w = bool(item["meta"].get("random_weights"))
        self.added_layers = added
        meta = res["items"][0]["meta"]
        tim = meta.get("timings") or {}
        self.ui.txtReport.setHtml(
            f"<b>{html.escape(res['name'])}</b>: {len(res['items'])} output(s) in {task.t_run:.1f} s "
            f"(fetch {tim.get('fetch_s', 0):.1f} s, model {tim.get('embed_s', 0):.1f} s).<br>"
            + "<br>".join(html.escape(str(it.get("geotiff") or it.get("gpkg"))) for it in res["items"]))
        if random_w:
            self._msg(f"{meta.get('model')} ran with RANDOM weights: the layer is not a pretrained "
                      "embedding (see the layer metadata).", Qgis.Warning)
        else:
            self._msg(f"{res['name']}: {len(added)} layer(s) added.", Qgis.Success, 5)
        self.taskFinished.emit("embed", True)

    def inspect_input(self):
        try:
            if not self.rois:
                raise SpecError("no region: draw one first")
            backend = self.ui.cmbBackend.currentText()
            spatial = self.rois[0][0]
            temporal, sensor = self.temporal(), self.sensor()
        except RsEmbedError as exc:
            self._error(exc)
            return None
        task = InspectTask(spatial, temporal, sensor, backend, self.provider_options(backend),
                           self.ui.fileOutDir.filePath().strip() or S.output_dir(),
                           f"{self.ui.cmbModel.currentText()}_input",
                           on_done=self._inspect_done, on_error=self._task_error,
                           on_cancel=self._task_cancelled)
        self._start(task)
        return task

    def _inspect_done(self, task) -> None:
        self._done_with(task)
        res = task.result
        lyr = L.inspect_layer(res["geotiff"], res["info"], "RS Embed input "
                              + "/".join(res["info"]["rgb_bands"]), res["report"])
        QgsProject.instance().addMapLayer(lyr)
        self.added_layers = [lyr]
        self.last_result = res
        self.ui.txtReport.setHtml(stats_html(res["report"]))
        log("input report: " + L.to_json(res["report"]))
        self._msg("Input patch added as an RGB layer; statistics are in the dock.", Qgis.Info, 5)
        self.taskFinished.emit("inspect", True)

    def _on_similarity_click(self, point: QgsPointXY) -> None:
        self.similarity_at(point, self.canvas_crs())

    def _embedding_layer_at(self, point: QgsPointXY, crs) -> QgsRasterLayer | None:
        cands = []
        active = self.iface.activeLayer()
        if active is not None:
            cands.append(active)
        cands += [lyr for lyr in self.canvas.layers() if lyr not in cands]
        cands += [lyr for lyr in QgsProject.instance().mapLayers().values() if lyr not in cands]
        for lyr in cands:
            if not isinstance(lyr, QgsRasterLayer):
                continue
            if not (lyr.customProperty(L.EMBEDDING_PROPERTY) or lyr.bandCount() > 3):
                continue
            p = _xform(crs, lyr.crs()).transform(point)
            if lyr.extent().contains(p):
                return lyr
        return None

    def similarity_at(self, point: QgsPointXY, crs=None):
        crs = crs or self.canvas_crs()
        lyr = self._embedding_layer_at(point, crs)
        if lyr is None:
            self._msg("Click on an embedding grid layer (a grid result of RS Embed).", Qgis.Warning)
            return None
        path = lyr.customProperty(L.EMBEDDING_PROPERTY) or lyr.source()
        p = _xform(crs, lyr.crs()).transform(point)
        self._sim_source = lyr
        task = SimilarityTask(path, p.x(), p.y(), self.ui.fileOutDir.filePath().strip() or S.output_dir(),
                              lyr.name().replace(" ", "_"), on_done=self._similarity_done,
                              on_error=self._task_error, on_cancel=self._task_cancelled)
        self._start(task)
        return task

    def _similarity_done(self, task) -> None:
        self._done_with(task)
        res = task.result
        src = getattr(self, "_sim_source", None)
        meta = L.layer_meta(src) if src is not None else {}
        lyr = L.similarity_layer(res["geotiff"], meta, f"similarity to cell r{res['row']} c{res['col']}",
                                 {k: res[k] for k in ("row", "col", "x", "y")})
        QgsProject.instance().addMapLayer(lyr)
        self.added_layers = [lyr]
        self.last_result = res
        self.taskFinished.emit("similarity", True)

    def _task_error(self, task, exc: BaseException) -> None:
        self._done_with(task)
        self._error(exc, getattr(task, "details", ""))
        self.taskFinished.emit("error", False)

    def _task_cancelled(self, task) -> None:
        self._done_with(task)
        self._msg(f"{task.description()} cancelled; nothing was written.", Qgis.Info, 5)
        self.taskFinished.emit("cancelled", False)

    # ------------------------------------------------------------------ messages, settings, teardown

    def _msg(self, text: str, level=Qgis.Info, duration: int = 10) -> None:
        self.iface.messageBar().pushMessage("RS Embed", text, level, duration)
        log(text, level if level != Qgis.Success else Qgis.Info)

    def _error(self, exc: BaseException, details: str = "") -> None:
        kind = type(exc).__name__
        plain = str(exc) or kind
        if not isinstance(exc, RsEmbedError):
            plain = f"{kind}: {plain}"
        need = deps.missing_modules(exc)
        bar = self.iface.messageBar()
        if need:  # a package is missing: say which, and offer the installer right there
            from qgis.PyQt.QtWidgets import QPushButton

            item = bar.createMessage("RS Embed", f"{plain} {deps.install_hint(exc)}")
            button = QPushButton("Install…", item)
            button.clicked.connect(lambda _checked=False: self.open_installer(need))
            item.layout().addWidget(button)
            bar.pushWidget(item, Qgis.Warning, 0)
        else:
            bar.pushMessage("RS Embed", f"{plain} (details in the RS Embed log tab)", Qgis.Critical, 0)
        log(f"{kind}: {exc}\n{details or ''.join(traceback.format_exception(type(exc), exc, exc.__traceback__))}",
            Qgis.Critical)
        self.ui.txtReport.setHtml(f"<span style='color:#b00000'><b>{html.escape(kind)}</b>: "
                                  f"{html.escape(str(exc))}</span>")

    def open_settings(self) -> None:
        from .settings_dialog import SettingsDialog

        dlg = SettingsDialog(self)
        if dlg.exec():
            self._gee_status = None  # the project may have changed: check again
            self.reload_settings()
            self._on_model(self.ui.cmbModel.currentText())

    def cleanup(self) -> None:
        """Remove map tools and rubber bands; cancel running tasks (plugin unload)."""
        for t in list(self.tasks):
            # the dock is going away: a task finishing later must not call back into it
            t.on_done = t.on_error = t.on_cancel = (lambda *a: None)
            try:
                t.progressChanged.disconnect(self._on_progress)
            except (TypeError, RuntimeError):  # never connected (status checks) or already gone
                pass
            try:
                t.cancel()
            except RuntimeError:  # already deleted by the task manager
                pass
        self.tasks = []
        if getattr(self, "install_dialog", None) is not None:  # pip keeps running in its task: stop it
            self.install_dialog.stop()
            self.install_dialog.close()
        for tab in getattr(self, "tool_tabs", {}).values():
            tab.cleanup()
        try:
            self.canvas.mapToolSet.disconnect(self._on_map_tool_set)
        except TypeError:
            pass
        for tool in (self.rect_tool, self.point_tool, self.sim_tool):
            if self.canvas.mapTool() is tool:
                self.canvas.unsetMapTool(tool)
            if hasattr(tool, "cleanup"):
                tool.cleanup()
        if self.roi_band is not None:
            self.roi_band.reset(QgsWkbTypes.PolygonGeometry)
            self.canvas.scene().removeItem(self.roi_band)
            self.roi_band = None

    def map_tools(self):
        return [self.rect_tool, self.point_tool, self.sim_tool]


def stats_html(report: dict[str, Any]) -> str:
    rows = []
    for b in report.get("bands_stats", []):
        if "min" in b:
            rows.append(f"<tr><td>{html.escape(str(b['band']))}</td><td>{b['min']:.4g}</td><td>{b['median']:.4g}</td>"
                        f"<td>{b['max']:.4g}</td><td>{b['std']:.4g}</td><td>{100 * b['nan_frac']:.1f}</td>"
                        f"<td>{100 * b.get('zero_frac', 0):.1f}</td></tr>")
        else:
            rows.append(f"<tr><td>{html.escape(str(b['band']))}</td><td colspan=6>no valid pixel</td></tr>")
    patch = report.get("input") or {}
    frames = patch.get("frames") or []
    fr = "; ".join(f"{f.get('start')}..{f.get('end')} ({f.get('n_scenes', '?')} scenes)" for f in frames[:4])
    issues = list((report.get("report") or {}).get("issues") or []) + list(report.get("issues") or [])
    warn = ""
    if issues:
        warn = "<p style='color:#b00000'>" + "<br>".join(html.escape(str(w)) for w in issues) + "</p>"
    elif "ok" in report:
        warn = "<p style='color:green'>The engine's input checks found no issue.</p>"
    return (f"<p>Input {patch.get('shape_tchw')} (T,C,H,W) in {html.escape(str(patch.get('crs')))}; "
            f"frames: {html.escape(fr)}</p>{warn}<table><tr><th>band</th><th>min</th><th>median</th><th>max</th>"
            f"<th>std</th><th>% NaN</th><th>% zero</th></tr>{''.join(rows)}</table>")

