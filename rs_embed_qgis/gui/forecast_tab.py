"""Dock tab "Forecast": runs "Forecast vegetation reflectance" and adds time-enabled layers."""
from __future__ import annotations

import datetime as _dt
import html
import re
from pathlib import Path
from typing import Any

from qgis.gui import QgsFileWidget
from qgis.PyQt.QtWidgets import QCheckBox, QFormLayout, QLabel, QVBoxLayout

from .. import settings as S
from ..i18n import tr
from ..results import Done
from .alg_tab import AlgorithmTab


class ForecastTab(AlgorithmTab):
    KIND = "forecast"
    ALG_ID = "rs_embed:forecast_reflectance"

    def __init__(self, iface, parent=None):
        super().__init__(iface, parent)
        self.setObjectName("RsEmbedForecastTab")
        lay = QVBoxLayout(self)
        intro = QLabel(tr("Forecast Sentinel-2 reflectance (B02, B03, B04, B8A) for the next 100 days, "
                          "20 frames 5 days apart, played by the Temporal Controller. Same algorithm as "
                          "Processing → RS Embed → Forecasting."))
        intro.setWordWrap(True)
        lay.addWidget(intro)
        form = QFormLayout()
        self.fileMinicube = QgsFileWidget()
        self.fileMinicube.setStorageMode(QgsFileWidget.StorageMode.GetFile)
        self.fileMinicube.setFilter("GreenEarthNet minicube (*.nc)")
        form.addRow(tr("Minicube (.nc)"), self.fileMinicube)
        self.fileStack = QgsFileWidget()
        self.fileStack.setStorageMode(QgsFileWidget.StorageMode.GetMultipleFiles)
        self.fileStack.setFilter("Rasters (*.tif *.tiff *.vrt);;All files (*)")
        self.fileStack.setToolTip(tr(">= 10 Sentinel-2 rasters on one grid, one per date about 5 days apart "
                                     "(bands B02, B03, B04, B8A; date from a 'date' tag or a YYYY-MM-DD "
                                     "file name)"))
        form.addRow(tr("or S2 raster stack"), self.fileStack)
        self.fileLandcover = QgsFileWidget()
        self.fileLandcover.setStorageMode(QgsFileWidget.StorageMode.GetFile)
        self.fileLandcover.setFilter("Rasters (*.tif *.tiff *.vrt);;All files (*)")
        self.fileLandcover.setToolTip(tr("ESA WorldCover raster for a raster stack (optional)"))
        form.addRow(tr("  land cover (stack)"), self.fileLandcover)
        self.fileWeather = QgsFileWidget()
        self.fileWeather.setStorageMode(QgsFileWidget.StorageMode.GetFile)
        self.fileWeather.setFilter("CSV (*.csv)")
        self.fileWeather.setToolTip(tr("Daily E-OBS weather CSV (date, tg, tn, tx, rr, pp, hu, qq) for a raster "
                                       "stack (optional; without it the weather anomalies are zero)"))
        form.addRow(tr("  weather CSV (stack)"), self.fileWeather)
        self.fileCheckpoint = QgsFileWidget()
        self.fileCheckpoint.setStorageMode(QgsFileWidget.StorageMode.GetFile)
        self.fileCheckpoint.setFilter("safetensors (*.safetensors)")
        form.addRow(tr("Checkpoint"), self.fileCheckpoint)
        self.chkNdvi = QCheckBox(tr("Also write and add NDVI frames"))
        self.chkNdvi.setChecked(True)
        form.addRow("", self.chkNdvi)
        self.fileOutDir = QgsFileWidget()
        self.fileOutDir.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        self.fileOutDir.setToolTip(tr("Empty: <output folder setting>/forecast_<input name>"))
        form.addRow(tr("Output folder"), self.fileOutDir)
        lay.addLayout(form)
        self.lblRandom = QLabel("<b style='color:#b00000'>" + tr("No checkpoint: the model runs with RANDOM "
                                                                 "weights; the frames are tagged as such and are "
                                                                 "not a forecast.") + "</b>")
        self.lblRandom.setWordWrap(True)
        lay.addWidget(self.lblRandom)
        self.add_run_row(lay)
        lay.addStretch(1)
        self.fileCheckpoint.fileChanged.connect(self._sync)
        self._sync()

    def _sync(self, *_a) -> None:
        self.lblRandom.setVisible(not self.fileCheckpoint.filePath().strip())

    def parameters(self) -> dict[str, Any]:
        minicube = self.fileMinicube.filePath().strip()
        stack = [p for p in QgsFileWidget.splitFilePaths(self.fileStack.filePath()) if p.strip()]
        if bool(minicube) == bool(stack):
            raise ValueError(tr("give either a minicube (.nc) or a stack of Sentinel-2 rasters "
                                "(got minicube={minicube!r} and {n} rasters)").format(minicube=minicube, n=len(stack)))
        name = Path(minicube).stem if minicube else "forecast"
        out = self.fileOutDir.filePath().strip()
        if not out:
            out = str(Path(S.output_dir()) / ("forecast_" + (re.sub(r"[^\w.-]+", "_", name) or "stack")))
        # the forecast makes the folder, and removes it again if it fails: no empty folder left
        checkpoint = self.fileCheckpoint.filePath().strip()
        self._run_info = {"name": name, "random": not checkpoint}
        params: dict[str, Any] = {"WRITE_NDVI": self.chkNdvi.isChecked(), "ADD_TO_PROJECT": False,
                                  "OUTPUT_FOLDER": out}
        if minicube:
            params["MINICUBE"] = minicube
        else:
            params["S2_STACK"] = stack
            for key, w in (("LANDCOVER", self.fileLandcover), ("WEATHER", self.fileWeather)):
                if w.filePath().strip():
                    params[key] = w.filePath().strip()
        if checkpoint:
            params["CHECKPOINT"] = checkpoint
        return params

    def done(self, results: dict[str, Any], load_layers) -> Done:
        """The frames, added by ``layers_forecast.add_forecast_to_project`` (the function the algorithm
        uses when it adds them itself, ADD_TO_PROJECT), as one group the Temporal Controller plays."""
        from ..engine.forecast.predict import ForecastFrame
        from ..layers_forecast import add_forecast_to_project

        paths = list(results.get("FRAMES") or [])
        dates = [d for d in (results.get("DATES") or "").split(";") if d]
        ndvi = list(results.get("NDVI") or [])
        if not paths or len(paths) != len(dates):
            raise ValueError(tr("the algorithm returned {n} frames and {m} dates").format(n=len(paths), m=len(dates)))
        frames = [ForecastFrame(_dt.date.fromisoformat(d), Path(p), Path(ndvi[i]) if len(ndvi) == len(paths)
                                else None) for i, (d, p) in enumerate(zip(dates, paths, strict=True))]
        name = self._run_info.get("name", "forecast")
        random_w = bool(results.get("RANDOM_WEIGHTS"))
        if random_w:
            name += " (RANDOM weights)"
        text = tr("{n} forecast frames added ({first} .. {last}); open View → Panels → Temporal Controller and "
                  "press play.").format(n=len(frames), first=dates[0], last=dates[-1])
        if random_w:
            text = tr("RANDOM weights (no checkpoint): the frames are not a forecast. ") + text
        status = tr("{n} frames {first} .. {last} in {folder}").format(
            n=len(frames), first=dates[0], last=dates[-1], folder=results.get("OUTPUT_FOLDER"))
        return Done("forecast", text, lambda: add_forecast_to_project(frames, name=name, with_ndvi=bool(ndvi)),
                    data=dict(results), report_html=html.escape(status), warning=random_w)
