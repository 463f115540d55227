"""Issue 17's clear errors in the toolbox: a folder that cannot be written, an output extension
we do not write, each one sentence naming the value, and no folder left by a failed run."""
from __future__ import annotations

import pytest

from ._layers import MOSAIKS_32, points_layer

BASE = {"START": "2022-06-01", "END": "2022-09-01", "MODEL_OPTIONS": MOSAIKS_32}


def test_unwritable_folders_are_named(processing, tmp_path):
    from qgis.core import QgsProcessingException

    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    cases = [
        ("rs_embed:embed_features", dict(BASE, MODEL="mosaiks", INPUT=points_layer(), BUFFER=200, GRID_SCALE=200,
                                         GRID_FOLDER=str(blocker / "grids"), OUTPUT="memory:")),
        ("rs_embed:export_batch", dict(BASE, MODELS=["mosaiks"], INPUT=points_layer(), BUFFER=200,
                                       OUTPUT_FOLDER=str(blocker / "export"))),
        ("rs_embed:embed_extent", dict(BASE, MODEL="mosaiks", EXTENT="9.01,9.02,47.835,47.845 [EPSG:4326]",
                                       GRID_SCALE=200, OUTPUT=str(blocker / "sub" / "grid.tif"))),
    ]
    for alg, params in cases:
        with pytest.raises(QgsProcessingException,
                           match=r"^SpecError: cannot write to the output folder .*a_file.*choose a folder"):
            processing.run(alg, params)


def test_an_output_extension_we_do_not_write_is_refused(processing, tmp_path):
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match=r"SpecError: .*grid\.xyz.*'\.xyz'"):
        processing.run("rs_embed:embed_extent", dict(BASE, MODEL="mosaiks", GRID_SCALE=200,
                                                      EXTENT="9.01,9.02,47.835,47.845 [EPSG:4326]",
                                                      OUTPUT=str(tmp_path / "grid.xyz")))
    assert list(tmp_path.iterdir()) == []
