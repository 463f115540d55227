"""Dock tab "Super-resolution": runs the "Super-resolve raster layer" algorithm on a raster layer."""
from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path
from typing import Any

from qgis.gui import QgsFileWidget, QgsMapLayerComboBox
from qgis.PyQt.QtWidgets import QComboBox, QFormLayout, QLabel, QLineEdit, QSpinBox, QVBoxLayout

from .. import compat
from .. import settings as S
from ..engine.superres.raster import OVERLAP, TILE
from ..i18n import tr
from ..processing import common
from ..processing.alg_superres import METHODS, S2_BANDS
from ..results import Done
from .alg_tab import AlgorithmTab, output_layer


class SuperResTab(AlgorithmTab):
    KIND = "superres"
    ALG_ID = "rs_embed:superresolve_raster"

    def __init__(self, iface, parent=None):
        super().__init__(iface, parent)
        self.setObjectName("RsEmbedSuperResTab")
        lay = QVBoxLayout(self)
        intro = QLabel(tr("Super-resolve a Sentinel-2 raster 10x (10 m → 1 m). Same algorithm as "
                          "Processing → RS Embed → Super-resolution."))
        intro.setWordWrap(True)
        lay.addWidget(intro)
        form = QFormLayout()
        self.cmbLayer = QgsMapLayerComboBox()
        self.cmbLayer.setFilters(compat.LAYER_FILTER_RASTER)
        form.addRow(tr("Input raster (10 m)"), self.cmbLayer)
        self.cmbMethod = QComboBox()
        for i, (_, _random, label) in enumerate(METHODS):
            self.cmbMethod.addItem(tr(label), i)
        form.addRow(tr("Method"), self.cmbMethod)
        self.editBands = QLineEdit()
        self.editBands.setPlaceholderText(tr("empty: found by name (or all bands in order)"))
        self.editBands.setToolTip(tr("Band numbers of the source bands for {bands}, in this order, e.g. "
                                     "2,3,4,5,6,7,8,9,12,13. The baselines interpolate the bands listed.")
                                  .format(bands=S2_BANDS))
        form.addRow(tr("Source bands"), self.editBands)
        self.fileWeights = QgsFileWidget()
        self.fileWeights.setStorageMode(QgsFileWidget.StorageMode.GetFile)
        self.fileWeights.setFilter("safetensors (*.safetensors *.safetensors.index.json);;All files (*)")
        self.fileWeights.setToolTip(tr("A .safetensors file, the index json or any shard of a sharded "
                                       "checkpoint. Empty: the weights/s2x10 setting, then "
                                       "RS_EMBED_S2X10_WEIGHTS."))
        form.addRow(tr("Weights file"), self.fileWeights)
        self.spinTile = QSpinBox()
        self.spinTile.setRange(8, 4096)
        self.spinTile.setValue(TILE)
        self.spinTile.setSuffix(" px")
        form.addRow(tr("Tile (input pixels)"), self.spinTile)
        self.spinOverlap = QSpinBox()
        self.spinOverlap.setRange(0, 2047)
        self.spinOverlap.setValue(OVERLAP)
        self.spinOverlap.setSuffix(" px")
        form.addRow(tr("Overlap"), self.spinOverlap)
        self.cmbDevice = QComboBox()
        self.cmbDevice.addItems(common.DEVICES)
        self.cmbDevice.setCurrentText(S.get("device", "auto") or "auto")
        form.addRow(tr("Device"), self.cmbDevice)
        self.fileOut = QgsFileWidget()
        self.fileOut.setStorageMode(QgsFileWidget.StorageMode.SaveFile)
        self.fileOut.setFilter("GeoTIFF (*.tif *.tiff)")
        self.fileOut.setToolTip(tr("Empty: <output folder setting>/<layer>_sr_1m.tif"))
        form.addRow(tr("Output GeoTIFF"), self.fileOut)
        lay.addLayout(form)
        self.lblRandom = QLabel("<b style='color:#b00000'>" + tr("RANDOM weights: the output only tests the "
                                                                 "plumbing and is not a super-resolved image.")
                                + "</b>")
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
            raise ValueError(tr("no input raster: add a Sentinel-2 raster layer and pick it"))
        if layer.providerType() != "gdal":
            raise ValueError(tr("the input layer {name!r} is a {provider!r} layer; save it as a GeoTIFF first "
                                "(super-resolution reads files through GDAL)").format(
                                    name=layer.name(), provider=layer.providerType()))
        idx = self.cmbMethod.currentIndex()
        method, random_w, _ = METHODS[idx]
        out = self.fileOut.filePath().strip()
        if not out:
            stem = re.sub(r"[^\w.-]+", "_", layer.name()).strip("_") or "raster"
            out = str(Path(S.output_dir()) / f"{stem}_sr_1m.tif")
        # super-resolution makes the folder, and removes it again if it fails: no empty folder left
        self._run_info = {"layer_name": layer.name(), "method": method, "random": random_w}
        params: dict[str, Any] = {
            "INPUT": layer, "METHOD": idx,
            "TILE": self.spinTile.value(), "OVERLAP": self.spinOverlap.value(),
            "DEVICE": self.cmbDevice.currentText(), "OUTPUT": output_layer(out)}
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
                raise ValueError(tr("source band {band!r} is not a band number "
                                    "(expected numbers 1..{count}, comma separated)").format(
                                        band=tok.strip(), count=count)) from None
            if not 1 <= b <= count:
                raise ValueError(tr("source band {band} does not exist: the layer has bands 1..{count}").format(
                    band=b, count=count))
            out.append(b)
        return out

    def done(self, results: dict[str, Any], load_layers) -> Done:
        path = results.get("OUTPUT")
        if not path or not os.path.exists(path):
            raise ValueError(tr("the algorithm returned no output file ({path!r})").format(path=path))
        info = self._run_info
        meta = json.loads(results.get("METADATA") or "{}")
        random_w = bool(meta.get("random_weights") or info.get("random"))
        if random_w:
            message = tr("{layer} 1 m ({method}): ran with RANDOM weights, the output only tests the "
                         "plumbing.").format(layer=info.get("layer_name"), method=info.get("method"))
        else:
            message = tr("{layer} 1 m ({method}) added ({seconds} s).").format(
                layer=info.get("layer_name"), method=info.get("method"), seconds=meta.get("seconds", "?"))
        return Done("superres", message, load_layers, data={"output": path, "meta": meta},
                    report_html=html.escape(tr("Wrote {path}").format(path=path)), warning=random_w)
