"""The RS Embed dock: a container of tabs, plus the tools they share.

Each tab runs a Processing algorithm of the RS Embed toolbox (``gui/alg_tab.py``):
Embeddings (``gui/embed_tab.py``), Super-resolution and Forecast. The dock itself only holds
what several tabs or the whole map share: the region of interest (rectangle, point, selected
features, map extent; drawn as an orange rubber band), the similarity map tool and the
settings button. Nothing slow happens here: the similarity map is a ``QgsTask``
(``tasks.SimilarityTask``), and every result comes back typed (``rs_embed_qgis.results``).
"""
from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsField,
    QgsGeometry,
    QgsPointXY,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsVectorLayer,
    QgsWkbTypes,
)
from qgis.gui import QgsDockWidget
from qgis.PyQt.QtCore import pyqtSignal

from .. import compat
from .. import layers as L
from ..engine import BBox, PointBuffer
from ..engine.errors import RsEmbedError, SpecError
from ..engine.names import file_stems
from ..i18n import tr
from ..results import Done, Failed, Result, present
from ..tasks import SimilarityTask
from . import icon, load_ui
from .maptools import PointMapTool, RectangleMapTool, SimilarityMapTool, roi_rubber_band

FORM, _BASE = load_ui("dock")
WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")

#: fields of the ROI layers the dock hands to ``embed_features`` (NAME_FIELD, BUFFER_FIELD)
ROI_NAME, ROI_BUFFER = "name", "buffer_m"


def _xform(src: QgsCoordinateReferenceSystem, dst: QgsCoordinateReferenceSystem) -> QgsCoordinateTransform:
    return QgsCoordinateTransform(src, dst, QgsProject.instance())


def spatial_wkt(spatial) -> str:
    """EPSG:4326 polygon WKT of an engine ROI: the area the provider fetches (a bbox, or a
    point buffer's square in its UTM zone)."""
    from ..engine.geo import roi_footprint

    return roi_footprint(spatial).wkt()


def roi_layer(geometry_type: str, crs: QgsCoordinateReferenceSystem,
              features: list[tuple[QgsGeometry, str, float]]) -> QgsVectorLayer:
    """A memory layer of ROIs (geometry, name, point buffer in metres), as ``embed_features`` reads them."""
    lyr = QgsVectorLayer(f"{geometry_type}?crs={crs.authid() or 'EPSG:4326'}", "RS Embed ROIs", "memory")
    if not crs.authid():
        lyr.setCrs(crs)
    lyr.dataProvider().addAttributes([QgsField(ROI_NAME, compat.field_type("string")),
                                      QgsField(ROI_BUFFER, compat.field_type("double"))])
    lyr.updateFields()
    feats = []
    for geom, name, buffer_m in features:
        f = QgsFeature(lyr.fields())
        f.setGeometry(geom)
        f.setAttributes([name, float(buffer_m)])
        feats.append(f)
    lyr.dataProvider().addFeatures(feats)
    return lyr


class RsEmbedDock(QgsDockWidget):
    """The dock widget. ``roiChanged`` fires when the region changes; ``taskFinished(kind, ok)``
    when a run of any tab (or the similarity tool) has been handled: ``kind`` is the result's
    (``embed``, ``inspect``, ``similarity``...), ``error`` or ``cancelled``."""

    roiChanged = pyqtSignal()
    taskFinished = pyqtSignal(str, bool)

    def __init__(self, iface, parent=None):
        super().__init__(tr("RS Embed"), parent)
        self.setObjectName("RsEmbedDock")
        self.iface = iface
        self.canvas = iface.mapCanvas()
        self.body = _BASE()
        self.ui = FORM()
        self.ui.setupUi(self.body)
        self.setWidget(self.body)
        self.rois: list[tuple[Any, str]] = []      # (engine spatial, EPSG:4326 WKT), for display
        self.roi_kind = ""                          # rectangle | point | features
        self.roi_features: QgsVectorLayer | None = None   # points / selection as embed_features reads them
        self.roi_label = ""
        self.roi_band = None
        self.tasks: list[Any] = []                  # the dock's own tasks (similarity), until finished
        self.last_result: Result | None = None
        self.added_layers: list = []

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
        u.btnRect.toggled.connect(lambda on: self._toggle_tool(self.rect_tool, on))
        u.btnPoint.toggled.connect(lambda on: self._toggle_tool(self.point_tool, on))
        u.btnSimilarity.toggled.connect(lambda on: self._toggle_tool(self.sim_tool, on))
        u.btnSelected.clicked.connect(self.use_selected_features)
        u.btnCanvas.clicked.connect(self.use_canvas_extent)
        u.cmbVectorLayer.setFilters(compat.LAYER_FILTER_VECTOR)
        u.btnSettings.clicked.connect(self.open_settings)
        u.tabs.currentChanged.connect(self._on_tab_changed)
        self.tool_tabs = self._add_tabs()
        self.embed = self.tool_tabs["embed"]

    # ------------------------------------------------------------------ tabs

    def add_tab(self, widget, title: str) -> int:
        """Where a tool plugs into the dock; its ``resultReady`` reaches ``taskFinished``."""
        if hasattr(widget, "resultReady"):
            widget.resultReady.connect(lambda result, tab=widget: self._on_result(result, tab))
        return self.ui.tabs.addTab(widget, title)

    def _add_tabs(self) -> dict[str, Any]:
        from .embed_tab import EmbedTab
        from .forecast_tab import ForecastTab
        from .superres_tab import SuperResTab

        tabs = {"embed": EmbedTab(self.iface, self), "superres": SuperResTab(self.iface),
                "forecast": ForecastTab(self.iface)}
        self.add_tab(tabs["embed"], tr("Embeddings"))
        self.add_tab(tabs["superres"], tr("Super-resolution"))
        self.add_tab(tabs["forecast"], tr("Forecast"))
        return tabs

    def _on_tab_changed(self, index: int) -> None:
        # the region of interest is for the tabs that embed a region; the others read rasters
        tab = self.ui.tabs.widget(index)
        self.ui.grpRoi.setVisible(bool(getattr(tab, "USES_ROI", False)))

    def reload_settings(self) -> None:
        for tab in self.tool_tabs.values():
            if hasattr(tab, "reload_settings"):
                tab.reload_settings()

    def _on_result(self, result: Result, tab) -> None:
        """A tab's handled result: remembered and signalled (a sign-in check is only signalled)."""
        if isinstance(result, Done) and result.kind == "gee_status":
            self.taskFinished.emit(result.kind, True)
            return
        self._remember(result, tab.added_layers)

    def _remember(self, result: Result, layers: list) -> None:
        self.last_result = result
        if isinstance(result, Done):
            self.added_layers = list(layers)
            self.taskFinished.emit(result.kind, True)
        else:
            self.taskFinished.emit("error" if isinstance(result, Failed) else "cancelled", False)

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
            raise SpecError(tr("the rectangle is empty; drag on the map to draw a region"))
        r = _xform(crs, WGS84).transformBoundingBox(rect) if crs.isValid() and crs != WGS84 else rect
        bbox = BBox(r.xMinimum(), r.yMinimum(), r.xMaximum(), r.yMaximum()).validate()
        self._set_rois([(bbox, spatial_wkt(bbox))], "rectangle", tr("rectangle"))

    def set_roi_point(self, point: QgsPointXY, crs: QgsCoordinateReferenceSystem | None = None,
                      buffer_m: float | None = None) -> None:
        crs = crs or self.canvas_crs()
        p = _xform(crs, WGS84).transform(point) if crs.isValid() and crs != WGS84 else point
        pb = PointBuffer(lon=p.x(), lat=p.y(), buffer_m=float(buffer_m or self.ui.spinBuffer.value())).validate()
        layer = roi_layer("Point", WGS84, [(QgsGeometry.fromPointXY(QgsPointXY(pb.lon, pb.lat)), "point",
                                            pb.buffer_m)])
        self._set_rois([(pb, spatial_wkt(pb))], "point", tr("point"), layer)

    def use_canvas_extent(self) -> None:
        try:
            self.set_roi_rectangle(self.canvas.extent(), self.canvas_crs())
        except RsEmbedError as exc:
            present(Failed.from_exception("roi", exc), self.iface)

    def use_selected_features(self) -> None:
        from qgis.core import Qgis

        layer = self.ui.cmbVectorLayer.currentLayer() or self.iface.activeLayer()
        if not isinstance(layer, QgsVectorLayer):
            self._msg(tr("Choose a vector layer with selected features first."), Qgis.MessageLevel.Warning)
            return
        feats = [f for f in layer.selectedFeatures() if not QgsGeometry(f.geometry()).isEmpty()]
        if not layer.selectedFeatureCount():
            self._msg(tr("No feature of '{layer}' is selected; select some first.").format(layer=layer.name()),
                      Qgis.MessageLevel.Warning)
            return
        if not feats:
            self._msg(tr("The selected features of '{layer}' have no geometry.").format(layer=layer.name()),
                      Qgis.MessageLevel.Warning)
            return
        buffer_m = float(self.ui.spinBuffer.value())
        xf = _xform(layer.crs(), WGS84)
        rois, rows = [], []
        for i, f in enumerate(feats):
            g = QgsGeometry(f.geometry())
            rows.append((QgsGeometry(g), f"ROI {i}", buffer_m))
            g.transform(xf)
            if g.type() == compat.GEOMETRY_POINT:
                p = g.asPoint()
                sp = PointBuffer(lon=p.x(), lat=p.y(), buffer_m=buffer_m).validate()
            else:
                b = g.boundingBox()
                sp = BBox(b.xMinimum(), b.yMinimum(), b.xMaximum(), b.yMaximum()).validate()
            rois.append((sp, spatial_wkt(sp)))
        geometry_type = QgsWkbTypes.displayString(QgsWkbTypes.flatType(layer.wkbType()))
        self._set_rois(rois, "features", tr("{n} feature(s) of {layer}").format(n=len(rois), layer=layer.name()),
                       roi_layer(geometry_type, layer.crs(), rows))

    def _on_rectangle(self, rect: QgsRectangle) -> None:
        try:
            self.set_roi_rectangle(rect, self.canvas_crs())
        except RsEmbedError as exc:
            present(Failed.from_exception("roi", exc), self.iface)

    def _on_point(self, p: QgsPointXY) -> None:
        try:
            self.set_roi_point(p, self.canvas_crs())
        except RsEmbedError as exc:
            present(Failed.from_exception("roi", exc), self.iface)

    def _set_rois(self, rois: list[tuple[Any, str]], kind: str, label: str,
                  features: QgsVectorLayer | None = None) -> None:
        self.rois, self.roi_kind, self.roi_label, self.roi_features = rois, kind, label, features
        if self.roi_band is None:
            self.roi_band = roi_rubber_band(self.canvas)
        self.roi_band.reset(compat.GEOMETRY_POLYGON)
        for _sp, wkt in rois:
            self.roi_band.addGeometry(QgsGeometry.fromWkt(wkt), WGS84)
        self.roi_band.show()
        self.ui.lblRoi.setText(self.roi_text())
        self.roiChanged.emit()

    def roi_as_features(self) -> QgsVectorLayer:
        """The region as a layer of ROIs for ``embed_features`` (a rectangle becomes one polygon)."""
        if self.roi_features is not None:
            return self.roi_features
        rows = [(QgsGeometry.fromRect(QgsRectangle(sp.minlon, sp.minlat, sp.maxlon, sp.maxlat)), self.roi_kind,
                 float(self.ui.spinBuffer.value())) for sp, _ in self.rois]
        return roi_layer("Polygon", WGS84, rows)

    def roi_text(self) -> str:
        if not self.rois:
            return tr("No region yet: draw one on the map.")
        lines = []
        for sp, _ in self.rois[:4]:
            if isinstance(sp, PointBuffer):
                lines.append(tr("point lon {lon:.5f}, lat {lat:.5f}, buffer {buffer:.0f} m").format(
                    lon=sp.lon, lat=sp.lat, buffer=sp.buffer_m))
            else:
                lines.append(tr("lon {x0:.5f} … {x1:.5f}, lat {y0:.5f} … {y1:.5f}").format(
                    x0=sp.minlon, x1=sp.maxlon, y0=sp.minlat, y1=sp.maxlat))
        more = "\n" + tr("… and {n} more").format(n=len(self.rois) - 4) if len(self.rois) > 4 else ""
        return f"{self.roi_label} (EPSG:4326):\n" + "\n".join(lines) + more

    # ------------------------------------------------------------------ similarity

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
        from qgis.core import Qgis, QgsApplication

        crs = crs or self.canvas_crs()
        lyr = self._embedding_layer_at(point, crs)
        if lyr is None:
            self._msg(tr("Click on an embedding grid layer (a grid result of RS Embed)."), Qgis.MessageLevel.Warning)
            return None
        path = lyr.customProperty(L.EMBEDDING_PROPERTY) or lyr.source()
        p = _xform(crs, lyr.crs()).transform(point)
        task = SimilarityTask(path, p.x(), p.y(), self.embed.output_folder(), file_stems([lyr.name()])[0],
                              L.layer_meta(lyr), on_finished=lambda _result: None)
        task.on_finished = lambda result, t=task: self._similarity_finished(t, result)
        self.tasks.append(task)
        QgsApplication.taskManager().addTask(task)
        return task

    def _similarity_finished(self, task, result: Result) -> None:
        if task in self.tasks:
            self.tasks.remove(task)
        self._remember(*present(result, self.iface))

    # ------------------------------------------------------------------ messages, settings, teardown

    def _msg(self, text: str, level=None, duration: int = 10) -> None:
        from qgis.core import Qgis

        from ..results import log

        level = Qgis.MessageLevel.Info if level is None else level
        self.iface.messageBar().pushMessage("RS Embed", text, level, duration)
        log(text, level if level != Qgis.MessageLevel.Success else Qgis.MessageLevel.Info)

    def open_settings(self) -> None:
        from .settings_dialog import SettingsDialog

        dlg = SettingsDialog(self)
        if dlg.exec():
            self.reload_settings()

    def cleanup(self) -> None:
        """Remove map tools and rubber bands; cancel running tasks (plugin unload)."""
        for t in list(self.tasks):
            # the dock is going away: a task finishing later must not call back into it
            t.on_finished = lambda _result: None
            try:
                t.cancel()
            except RuntimeError:  # already deleted by the task manager
                pass
        self.tasks = []
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
            self.roi_band.reset(compat.GEOMETRY_POLYGON)
            self.canvas.scene().removeItem(self.roi_band)
            self.roi_band = None

    def map_tools(self):
        return [self.rect_tool, self.point_tool, self.sim_tool]
