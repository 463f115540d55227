"""DOFA, Clay, TerraMind and SatVision from the command line (``qgis_process``) and in the dock.

One ``qgis_process`` run per model, random weights (no checkpoint can be downloaded here):
DOFA, Clay and TerraMind on the bundled Sentinel-2 sample, SatVision on a MOD021KM-like
granule the test writes (the sample has no MODIS). Clay and SatVision run with fewer
blocks (``arch``) than their only published size (Clay v1.5 large: 24 blocks on 1025 tokens;
SatVision giant: 3 B parameters) so that a run stays near 10 s on two cores.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import rasterio

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_EXTENT = "9.005,9.035,47.83,47.85 [EPSG:4326]"

RUNS = {
    "dofa": ({"variant": "base"}, SAMPLE_EXTENT, 768, 14),
    "clay": ({"arch": {"depth": 2}}, SAMPLE_EXTENT, 1024, 32),
    "terramind": ({"variant": "tiny"}, SAMPLE_EXTENT, 192, 14),
    "satvision": ({"arch": {"embed_dim": 32, "depths": [2, 2, 6, 2], "num_heads": [1, 2, 4, 8]}},
                  "8.68,8.82,48.05,48.15 [EPSG:4326]", 256, 4),
}


def _modis_folder(tmp_path: Path) -> Path:
    sys.path.insert(0, str(ROOT / "tests" / "engine"))
    try:
        from modis_util import write_mod021km
    finally:
        sys.path.pop(0)
    return write_mod021km(tmp_path / "modis").parent


@pytest.mark.parametrize("model", list(RUNS))
def test_embed_extent_from_qgis_process(model, tmp_path):
    options, extent, dim, side = RUNS[model]
    out = tmp_path / f"{model}.tif"
    args = ["bash", str(ROOT / "scripts" / "qgis_process.sh"), "run", "rs_embed:embed_extent", "--",
            f"EXTENT={extent}", f"MODEL={model}", "DEVICE=cpu", f"OUTPUT={out}",
            "MODEL_OPTIONS=" + json.dumps({**options, "allow_random_weights": True, "download": False})]
    if model == "satvision":
        args += [f"DATA_FOLDER={_modis_folder(tmp_path)}", "START=2022-06-01", "END=2022-06-02"]
    r = subprocess.run(args, capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=str(tmp_path / "profile")))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "random" in (r.stdout + r.stderr).lower()  # the run says its weights are random
    with rasterio.open(out) as src:
        assert src.count == dim and (src.height, src.width) == (side, side)
        assert src.crs.to_epsg() == 32632


def test_new_models_are_offered_in_the_dock_with_their_time_use_and_weights_status(dock):
    models = [dock.embed.ui.cmbModel.itemText(i) for i in range(dock.embed.ui.cmbModel.count())]
    assert {"dofa", "clay", "terramind", "satvision"} <= set(models)
    dock.embed.ui.cmbModel.setCurrentText("satvision")
    info = dock.embed.ui.txtModelInfo.toPlainText()
    assert "mosaic" in info and "missing" in info
    assert dock.embed.ui.editBands.text().startswith("1, 2, 3, 6, 7, 21")
    dock.embed.ui.cmbModel.setCurrentText("clay")
    assert "week" in dock.embed.ui.txtModelInfo.toPlainText()
