"""Dock tab "Forecast": runs "Forecast vegetation reflectance" and adds time-enabled layers."""
from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path
from typing import Any

from qgis.core import Qgis
from qgis.gui import QgsFileWidget
from qgis.PyQt.QtWidgets import QCheckBox, QFormLayout, QLabel, QVBoxLayout

from ..processing.alg_forecast import ForecastReflectanceAlgorithm
from . import settings as S
from .alg_tab import AlgorithmTab


class ForecastTab(AlgorithmTab):
    ALG_ID = "rs_embed:forecast_reflectance"
    ALG_CLASS = ForecastReflectanceAlgorithm

    def __init__(self, iface, parent=None):
        super().__init__(iface, parent)
        self.setObjectName("RsEmbedForecastTab")
        lay = QVBoxLayout(self)
        intro = QLabel("Forecast Sentinel-2 reflectance (B02, B03, B04, B8A) for the next 100 days, "
                       "20 frames 5 days apart, played by the Temporal Controller. Same algorithm as "
                       "Processing → RS Embed → Forecasting.")
        intro.setWordWrap(True)
        lay.addWidget(intro)
        form = QFormLayout()
        self.fileMinicube = QgsFileWidget()
        self.fileMinicube.setStorageMode(QgsFileWidget.GetFile)
        self.fileMinicube.setFilter("GreenEarthNet minicube (*.nc)")
        form.addRow("Minicube (.nc)", self.fileMinicube)
        self.fileStack = QgsFileWidget()
        self.fileStack.setStorageMode(QgsFileWidget.GetMultipleFiles)
        self.fileStack.setFilter("Rasters (*.tif *.tiff *.vrt);;All files (*)")
        self.fileStack.setToolTip(">= 10 Sentinel-2 rasters on one grid, one per date about 5 days apart "
                                  "(bands B02, B03, B04, B8A; date from a 'date' tag or a YYYY-MM-DD "
                                  "file name)")
        form.addRow("or S2 raster stack", self.fileStack)
        self.fileLandcover = QgsFileWidget()
        self.fileLandcover.setStorageMode(QgsFileWidget.GetFile)
        self.fileLandcover.setFilter("Rasters (*.tif *.tiff *.vrt);;All files (*)")
        self.fileLandcover.setToolTip("ESA WorldCover raster for a raster stack (optional)")
        form.addRow("  land cover (stack)", self.fileLandcover)
        self.fileWeather = QgsFileWidget()
        self.fileWeather.setStorageMode(QgsFileWidget.GetFile)
        self.fileWeather.setFilter("CSV (*.csv)")
        self.fileWeather.setToolTip("Daily E-OBS weather CSV (date, tg, tn, tx, rr, pp, hu, qq) for a raster "
                                    "stack (optional; without it the weather anomalies are zero)")
        form.addRow("  weather CSV (stack)", self.fileWeather)
        self.fileCheckpoint = QgsFileWidget()
        self.fileCheckpoint.setStorageMode(QgsFileWidget.GetFile)
        self.fileCheckpoint.setFilter("safetensors (*.safetensors)")
        form.addRow("Checkpoint", self.fileCheckpoint)
        self.chkNdvi = QCheckBox("Also write and add NDVI frames")
        self.chkNdvi.setChecked(True)
        form.addRow("", self.chkNdvi)
        self.fileOutDir = QgsFileWidget()
        self.fileOutDir.setStorageMode(QgsFileWidget.GetDirectory)
        self.fileOutDir.setToolTip("Empty: <output folder setting>/forecast_<input name>")
        form.addRow("Output folder", self.fileOutDir)
        lay.addLayout(form)
        self.lblRandom = QLabel("<b style='color:#b00000'>No checkpoint: the model runs with RANDOM "
                                "weights; the frames are tagged as such and are not a forecast.</b>")
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
            raise ValueError("give either a minicube (.nc) or a stack of Sentinel-2 rasters "
                             f"(got minicube={minicube!r} and {len(stack)} rasters)")
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

    def add_results(self, results: dict[str, Any]) -> list:
        from ..engine.forecast.predict import ForecastFrame
        from ..layers_forecast import add_forecast_to_project

        paths = list(results.get("FRAMES") or [])
        dates = [d for d in (results.get("DATES") or "").split(";") if d]
        ndvi = list(results.get("NDVI") or [])
        if not paths or len(paths) != len(dates):
            raise ValueError(f"the algorithm returned {len(paths)} frames and {len(dates)} dates")
        frames = [ForecastFrame(_dt.date.fromisoformat(d), Path(p), Path(ndvi[i]) if len(ndvi) == len(paths)
                                else None) for i, (d, p) in enumerate(zip(dates, paths, strict=True))]
        name = self._run_info.get("name", "forecast")
        random_w = bool(results.get("RANDOM_WEIGHTS"))
        if random_w:
            name += " (RANDOM weights)"
        layers = add_forecast_to_project(frames, name=name, with_ndvi=bool(ndvi))
        self.lblStatus.setText(f"{len(frames)} frames {dates[0]} .. {dates[-1]} in "
                               f"{results.get('OUTPUT_FOLDER')}")
        text = (f"{len(layers)} forecast layers added ({dates[0]} .. {dates[-1]}); open View → Panels → "
                "Temporal Controller and press play.")
        if random_w:
            self._msg("RANDOM weights (no checkpoint): the frames are not a forecast. " + text, Qgis.Warning)
        else:
            self._msg(text, Qgis.Success, 8)
        return layers
