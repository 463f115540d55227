"""Dock tab "Super-resolution": runs the "Super-resolve raster layer" algorithm on a raster layer."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from qgis.core import Qgis, QgsMapLayerProxyModel, QgsProject, QgsRasterLayer
from qgis.gui import QgsFileWidget, QgsMapLayerComboBox
from qgis.PyQt.QtWidgets import QComboBox, QFormLayout, QLabel, QLineEdit, QSpinBox, QVBoxLayout

from ..processing import common
from ..processing.alg_superres import METHODS, S2_BANDS, SuperResolveRasterAlgorithm
from . import settings as S
from .alg_tab import AlgorithmTab


class SuperResTab(AlgorithmTab):
    ALG_ID = "rs_embed:superresolve_raster"
    ALG_CLASS = SuperResolveRasterAlgorithm

    def __init__(self, iface, parent=None):
        super().__init__(iface, parent)
        self.setObjectName("RsEmbedSuperResTab")
        lay = QVBoxLayout(self)
        intro = QLabel("Super-resolve a Sentinel-2 raster 10x (10 m → 1 m). Same algorithm as "
                       "Processing → RS Embed → Super-resolution.")
        intro.setWordWrap(True)
        lay.addWidget(intro)
        form = QFormLayout()
        self.cmbLayer = QgsMapLayerComboBox()
        self.cmbLayer.setFilters(QgsMapLayerProxyModel.RasterLayer)
        form.addRow("Input raster (10 m)", self.cmbLayer)
        self.cmbMethod = QComboBox()
        for i, (_, _random, label) in enumerate(METHODS):
            self.cmbMethod.addItem(label, i)
        form.addRow("Method", self.cmbMethod)
        self.editBands = QLineEdit()
        self.editBands.setPlaceholderText("empty: found by name (or all bands in order)")
        self.editBands.setToolTip(f"Band numbers of the source bands for {S2_BANDS}, in this order, e.g. "
                                  "2,3,4,5,6,7,8,9,12,13. The baselines interpolate the bands listed.")
        form.addRow("Source bands", self.editBands)
        self.fileWeights = QgsFileWidget()
        self.fileWeights.setStorageMode(QgsFileWidget.GetFile)
        self.fileWeights.setFilter("safetensors (*.safetensors *.safetensors.index.json);;All files (*)")
        self.fileWeights.setToolTip("A .safetensors file, the index json or any shard of a sharded "
                                    "checkpoint. Empty: the weights/s2x10 setting, then "
                                    "RS_EMBED_S2X10_WEIGHTS.")
        form.addRow("Weights file", self.fileWeights)
        self.spinTile = QSpinBox()
        self.spinTile.setRange(8, 4096)
        self.spinTile.setValue(128)
        self.spinTile.setSuffix(" px")
        form.addRow("Tile (input pixels)", self.spinTile)
        self.spinOverlap = QSpinBox()
        self.spinOverlap.setRange(0, 2047)
        self.spinOverlap.setValue(32)
        self.spinOverlap.setSuffix(" px")
        form.addRow("Overlap", self.spinOverlap)
        self.cmbDevice = QComboBox()
        self.cmbDevice.addItems(common.DEVICES)
        self.cmbDevice.setCurrentText(S.get("device", "auto") or "auto")
        form.addRow("Device", self.cmbDevice)
        self.fileOut = QgsFileWidget()
        self.fileOut.setStorageMode(QgsFileWidget.SaveFile)
        self.fileOut.setFilter("GeoTIFF (*.tif *.tiff)")
        self.fileOut.setToolTip("Empty: <output folder setting>/<layer>_sr_1m.tif")
        form.addRow("Output GeoTIFF", self.fileOut)
        lay.addLayout(form)
        self.lblRandom = QLabel("<b style='color:#b00000'>RANDOM weights: the output only tests the "
                                "plumbing and is not a super-resolved image.</b>")
        self.lblRandom.setWordWrap(True)
        lay.addWidget(self.lblRandom)
        self.add_run_row(lay)
        lay.addStretch(1)
        self.cmbMethod.currentIndexChanged.connect(self._sync)
        self._sync()

    def _sync(self) -> None:
        method, random_w, _ = METHODS[self.cmbMethod.currentIndex()]
        self.fileWeights.setEnabled(method == "s2x10" and not random_w)
        self.lblRandom.setVisible(random_w)

    def set_method(self, engine_method: str, random_weights: bool = False) -> None:
        for i, (m, r, _) in enumerate(METHODS):
            if m == engine_method and r == random_weights:
                self.cmbMethod.setCurrentIndex(i)
                return
        raise ValueError(f"unknown method {engine_method!r}")

    def parameters(self) -> dict[str, Any]:
        layer = self.cmbLayer.currentLayer()
        if layer is None:
            raise ValueError("no input raster: add a Sentinel-2 raster layer and pick it")
        if layer.providerType() != "gdal":
            raise ValueError(f"the input layer {layer.name()!r} is a {layer.providerType()!r} layer; "
                             "save it as a GeoTIFF first (super-resolution reads files through GDAL)")
        idx = self.cmbMethod.currentIndex()
        method, random_w, _ = METHODS[idx]
        out = self.fileOut.filePath().strip()
        if not out:
            stem = re.sub(r"[^\w.-]+", "_", layer.name()).strip("_") or "raster"
            out = str(Path(S.output_dir()) / f"{stem}_sr_1m.tif")
        # super-resolution makes the folder, and removes it again if it fails: no empty folder left
        self._run_info = {"layer_name": layer.name(), "method": method, "random": random_w}
        params: dict[str, Any] = {
            "INPUT": layer.source().split("|")[0], "METHOD": idx,
            "TILE": self.spinTile.value(), "OVERLAP": self.spinOverlap.value(),
            "DEVICE": self.cmbDevice.currentText(), "OUTPUT": out}
        bands = self.bands(layer.bandCount())
        if bands:
            params["BANDS"] = bands
        weights = self.fileWeights.filePath().strip()
        if weights and method == "s2x10" and not random_w:
            params["WEIGHTS"] = weights
        return params

    def bands(self, count: int) -> list:
        """The band numbers typed in the form (1-based), checked against the layer's ``count``."""
        out = []
        for tok in self.editBands.text().replace(";", ",").replace(" ", ",").split(","):
            if not tok.strip():
                continue
            try:
                b = int(tok)
            except ValueError:
                raise ValueError(f"source band {tok.strip()!r} is not a band number "
                                 f"(expected numbers 1..{count}, comma separated)") from None
            if not 1 <= b <= count:
                raise ValueError(f"source band {b} does not exist: the layer has bands 1..{count}")
            out.append(b)
        return out

    def add_results(self, results: dict[str, Any]) -> list:
        path = results.get("OUTPUT")
        if not path or not os.path.exists(path):
            raise ValueError(f"the algorithm returned no output file ({path!r})")
        info = self._run_info
        meta = json.loads(results.get("METADATA") or "{}")
        random_w = bool(meta.get("random_weights") or info.get("random"))
        name = f"{info.get('layer_name', 'raster')} 1 m ({info.get('method')}" + (
            ", RANDOM weights)" if random_w else ")")
        lyr = QgsRasterLayer(path, name, "gdal")
        if not lyr.isValid():
            raise ValueError(f"cannot open {path!r} as a raster layer")
        md = lyr.metadata()
        md.setAbstract(("RANDOM WEIGHTS: not a super-resolved image.\n" if random_w else "")
                       + json.dumps(meta, indent=1, default=str))
        lyr.setMetadata(md)
        QgsProject.instance().addMapLayer(lyr)
        self.lblStatus.setText(f"Wrote {path}")
        if random_w:
            self._msg(f"{name}: ran with RANDOM weights, the output only tests the plumbing.", Qgis.Warning)
        else:
            self._msg(f"{name} added ({meta.get('seconds', '?')} s).", Qgis.Success, 5)
        return [lyr]
