"""One ``qgis_process`` run per multi-frame model of this wave (Galileo, OlmoEarth,
Prithvi) on the bundled sample: random weights (no file exists here), the smallest
variant, a small extent, a short window; the written grid and its metadata are checked."""
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import rasterio

ROOT = Path(__file__).resolve().parents[2]
EXTENT = "9.012,9.028,47.835,47.845 [EPSG:4326]"  # ~1.2 km x 1.1 km inside the sample

CASES = {
    "galileo": ({"variant": "nano", "image_size": 32}, 128, (4, 4)),
    "olmoearth": ({"variant": "nano", "image_size": 32}, 128, (4, 4)),
    "prithvi": ({"variant": "100M", "frames": 1}, 768, (14, 14)),
}


@pytest.mark.parametrize("model", sorted(CASES))
def test_model_runs_from_qgis_process(tmp_path, model):
    opts, dim, hw = CASES[model]
    out = tmp_path / f"{model}.tif"
    t0 = time.perf_counter()
    r = subprocess.run(
        ["bash", str(ROOT / "scripts" / "qgis_process.sh"), "--json", "run", "rs_embed:embed_extent", "--",
         f"EXTENT={EXTENT}", f"MODEL={model}", "START=2022-03-01", "END=2022-06-01", "GRID_SCALE=100",
         "MODEL_OPTIONS=" + json.dumps(dict(opts, allow_random_weights=True)), f"OUTPUT={out}"],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=str(tmp_path / "profile")))
    seconds = time.perf_counter() - t0
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    meta = json.loads(json.loads(r.stdout[r.stdout.index("{"):])["results"]["METADATA"])
    print(f"qgis_process {model}: {seconds:.1f} s")  # the figure the report quotes (-s shows it)
    assert meta["model"] == model and meta["random_weights"] is True
    with rasterio.open(out) as src:
        assert src.count == dim and (src.height, src.width) == hw and src.crs.to_epsg() == 32632


def test_models_are_in_the_dock_and_every_embedding_algorithm(dock, processing):
    """The catalog entries put the models in the dock (temporal mode and weights status
    shown) and in every Processing algorithm that takes a model."""
    from qgis.core import QgsApplication

    combo = [dock.embed.ui.cmbModel.itemText(i) for i in range(dock.embed.ui.cmbModel.count())]
    for model in CASES:
        assert model in combo
        dock.embed.ui.cmbModel.setCurrentText(model)
        info = dock.embed.ui.txtModelInfo.toPlainText()
        assert "Temporal" in info and ("missing" in info or "found" in info)
    dock.embed.ui.cmbModel.setCurrentText("galileo")
    assert "one bin per month" in dock.embed.ui.txtModelInfo.toPlainText()
    reg = QgsApplication.processingRegistry()
    for alg_id, param in (("rs_embed:embed_extent", "MODEL"), ("rs_embed:embed_features", "MODEL"),
                          ("rs_embed:embed_raster", "MODEL"), ("rs_embed:export_batch", "MODELS")):
        options = reg.algorithmById(alg_id).parameterDefinition(param).options()
        assert {"galileo", "olmoearth", "prithvi"} <= set(options), alg_id
