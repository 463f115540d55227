"""One qgis_process run per Model zoo III model of this branch (TerraFM, FoMo-Net, WildSAT,
THOR) on the bundled sample: the catalog entry reaches the toolbox headless. The smallest
published variant runs with random weights (no checkpoint can be downloaded here)."""
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import rasterio

ROOT = Path(__file__).resolve().parents[2]

# model -> (model options beyond random weights, embedding bands of the grid)
RUNS = {
    "terrafm": ({"variant": "B"}, 768),
    "fomo": ({}, 768),
    "wildsat": ({}, 768),
}


@pytest.mark.parametrize("model", sorted(RUNS))
def test_embed_extent_from_qgis_process(tmp_path, model):
    opts, dim = RUNS[model]
    out = tmp_path / f"{model}.tif"
    t0 = time.perf_counter()
    r = subprocess.run(
        ["bash", str(ROOT / "scripts" / "qgis_process.sh"), "--json", "run", "rs_embed:embed_extent", "--",
         "EXTENT=9.016,9.024,47.837,47.843 [EPSG:4326]", f"MODEL={model}", "START=2022-06-01",
         "END=2022-09-01", "GRID_SCALE=160", "DEVICE=cpu",
         f"MODEL_OPTIONS={json.dumps({**opts, 'allow_random_weights': True, 'download': False})}",
         f"OUTPUT={out}"],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=str(tmp_path / "profile")))
    seconds = time.perf_counter() - t0
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    meta = json.loads(json.loads(r.stdout[r.stdout.index("{"):])["results"]["METADATA"])
    assert meta["model"] == model and meta["random_weights"] is True
    with rasterio.open(out) as src:
        assert src.count == dim and src.crs.to_epsg() == 32632  # the region's UTM zone
        assert [src.height, src.width] == meta["grid_hw"]      # one pixel per token cell
    print(f"qgis_process {model}: {seconds:.1f} s")  # reported with -s; speed is not asserted


def test_models_are_in_the_dock_and_hand_downloads_are_linked(dock):
    models = [dock.embed.ui.cmbModel.itemText(i) for i in range(dock.embed.ui.cmbModel.count())]
    assert set(RUNS) <= set(models)
    dock.embed.ui.cmbModel.setCurrentText("fomo")
    info = dock.embed.ui.txtModelInfo.toHtml()
    assert "missing" in info and "download by hand" in info and "dropbox.com" in info
    dock.embed.ui.cmbModel.setCurrentText("terrafm")
    assert "download by hand" not in dock.embed.ui.txtModelInfo.toHtml()  # Hugging Face: fetched when online
