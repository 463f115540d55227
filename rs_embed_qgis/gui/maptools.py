"""Map tools of the dock: drag a rectangle, click a point, click a grid cell for similarity.

Each tool reports in the canvas CRS through a signal; the dock converts to
EPSG:4326 and keeps the ROI rubber band. Tools own no rubber band beyond the
one shown while dragging, and that one is removed in ``deactivate``/``cleanup``.
"""
from __future__ import annotations

from qgis.core import QgsPointXY, QgsRectangle
from qgis.gui import QgsMapTool, QgsMapToolEmitPoint, QgsRubberBand
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtGui import QColor

from .. import compat


def roi_rubber_band(canvas, polygon: bool = True) -> QgsRubberBand:
    rb = QgsRubberBand(canvas, compat.GEOMETRY_POLYGON if polygon else compat.GEOMETRY_POINT)
    rb.setColor(QColor(255, 60, 0, 220))
    rb.setFillColor(QColor(255, 60, 0, 40))
    rb.setWidth(2)
    return rb


class RectangleMapTool(QgsMapTool):
    """Press, drag and release to draw a rectangle; emits ``rectangleDrawn(QgsRectangle)``."""

    rectangleDrawn = pyqtSignal(QgsRectangle)

    def __init__(self, canvas):
        super().__init__(canvas)
        self.canvas = canvas
        self.start = None
        self.band = None
        self.setCursor(Qt.CursorShape.CrossCursor)

    def canvasPressEvent(self, e):  # noqa: N802
        self.start = e.mapPoint()
        self._band().reset(compat.GEOMETRY_POLYGON)

    def canvasMoveEvent(self, e):  # noqa: N802
        if self.start is None:
            return
        self._show(QgsRectangle(self.start, e.mapPoint()))

    def canvasReleaseEvent(self, e):  # noqa: N802
        if self.start is None:
            return
        rect = QgsRectangle(self.start, e.mapPoint())
        rect.normalize()
        self.start = None
        if self.band is not None:
            self.band.reset(compat.GEOMETRY_POLYGON)
        if rect.width() > 0 and rect.height() > 0:
            self.rectangleDrawn.emit(rect)

    def _band(self) -> QgsRubberBand:
        if self.band is None:
            self.band = roi_rubber_band(self.canvas)
        return self.band

    def _show(self, rect: QgsRectangle) -> None:
        b = self._band()
        b.reset(compat.GEOMETRY_POLYGON)
        for x, y in ((rect.xMinimum(), rect.yMinimum()), (rect.xMinimum(), rect.yMaximum()),
                     (rect.xMaximum(), rect.yMaximum()), (rect.xMaximum(), rect.yMinimum())):
            b.addPoint(QgsPointXY(x, y), False)
        b.closePoints(True)
        b.show()

    def deactivate(self):
        self.cleanup()
        super().deactivate()

    def cleanup(self) -> None:
        self.start = None
        if self.band is not None:
            self.band.reset(compat.GEOMETRY_POLYGON)
            self.canvas.scene().removeItem(self.band)
            self.band = None


class PointMapTool(QgsMapToolEmitPoint):
    """Click a point; emits ``pointClicked(QgsPointXY)`` in canvas CRS."""

    pointClicked = pyqtSignal(QgsPointXY)

    def __init__(self, canvas):
        super().__init__(canvas)
        self.canvasClicked.connect(lambda p, _b: self.pointClicked.emit(QgsPointXY(p)))
        self.setCursor(Qt.CursorShape.CrossCursor)

    def cleanup(self) -> None:
        pass


class SimilarityMapTool(PointMapTool):
    """Click a cell of an embedding grid layer; the dock computes the similarity map."""
