"""One qgis_process run per model of this wave (AgriFM, Tessera, Copernicus-Embed) on the
bundled sample: the catalog entry is enough for the toolbox to run the model headless.

AgriFM runs with random weights (none can be downloaded here) at its published size on a
112 px input (7 x 7 cells); Tessera and Copernicus-Embed read small product files the test
writes in their published layouts over the sample's area.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio

from tests.engine.copernicus_util import cell_of, write_map
from tests.engine.tessera_util import write_tile

ROOT = Path(__file__).resolve().parents[2]
EXTENT = "9.01,9.03,47.835,47.845 [EPSG:4326]"


def _options(model: str, tmp_path: Path) -> dict:
    if model == "agrifm":
        return {"allow_random_weights": True, "frames": 4, "image_size": 112}
    if model == "tessera":
        root = tmp_path / "tessera"
        write_tile(root, 2022, 9.05, 47.85, (9.02, 47.84), half_deg=0.015)
        return {"data_dir": str(root), "download": False}
    r, c = cell_of(8.8, 48.2)
    return {"path": str(write_map(tmp_path / "cop" / "embed_map_310k.tif", c, r, 4, 4)), "download": False}


@pytest.mark.parametrize("model,bands,crs", [("agrifm", 1024, 32632), ("tessera", 128, 32632),
                                             ("copernicus", 768, 4326)])
def test_qgis_process_embeds_the_sample(tmp_path, model, bands, crs):
    out = tmp_path / f"{model}.tif"
    r = subprocess.run(
        ["bash", str(ROOT / "scripts" / "qgis_process.sh"), "--json", "run", "rs_embed:embed_extent", "--",
         f"EXTENT={EXTENT}", f"MODEL={model}", "BACKEND=local", "START=2022-01-01", "END=2023-01-01",
         "GRID_SCALE=100", f"MODEL_OPTIONS={json.dumps(_options(model, tmp_path))}", f"OUTPUT={out}"],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=str(tmp_path / "profile")))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    with rasterio.open(out) as src:
        assert src.count == bands and src.crs.to_epsg() == crs
        arr = src.read()
        assert np.isfinite(arr).all() and arr.std() > 0
    meta = json.loads(json.loads(r.stdout[r.stdout.index("{"):])["results"]["METADATA"])
    assert meta["model"] == model
    assert meta["random_weights"] is (model == "agrifm")


def test_the_dock_lists_them_with_their_time_use_and_weights_status(dock, tmp_path, monkeypatch):
    u = dock.embed.ui
    models = [u.cmbModel.itemText(i) for i in range(u.cmbModel.count())]
    assert {"agrifm", "tessera", "copernicus"} <= set(models)
    u.cmbModel.setCurrentText("agrifm")
    assert "missing" in u.txtModelInfo.toPlainText() and "B8A" in u.txtModelInfo.toPlainText()
    assert "bins" in u.lblTemporalMode.text()
    u.cmbModel.setCurrentText("tessera")
    assert "not needed" in u.txtModelInfo.toPlainText() and "year" in u.lblTemporalMode.text()
    monkeypatch.setenv("RS_EMBED_COP_DIR", str(Path(_options("copernicus", tmp_path)["path"]).parent))
    u.cmbModel.setCurrentText("copernicus")
    assert "found" in u.txtModelInfo.toPlainText() and "not used" in u.lblTemporalMode.text()
    # random weights mean nothing for a product: the box may be ticked, the map is still read
    u.chkRandomWeights.setChecked(True)
    from rs_embed_qgis.engine import get_embedder

    emb = get_embedder("copernicus", model_options={"allow_random_weights": True})
    assert emb.path.name == "embed_map_310k.tif" and emb.weights_meta["status"] == "not needed"
