"""The algorithms chain in the graphical modeller: inspect_patch's RGB raster feeds embed_raster."""
import numpy as np
import rasterio


def test_model_chains_inspect_patch_into_embed_raster(processing, tmp_path):
    from qgis.core import (
        QgsProcessingContext,
        QgsProcessingFeedback,
        QgsProcessingModelAlgorithm,
        QgsProcessingModelChildAlgorithm,
        QgsProcessingModelOutput,
    )
    from qgis.core import (
        QgsProcessingModelChildParameterSource as Src,
    )

    model = QgsProcessingModelAlgorithm("rgb_then_embed", "tests")
    inspect = QgsProcessingModelChildAlgorithm("rs_embed:inspect_patch")
    inspect.setChildId("inspect")
    for k, v in {"EXTENT": "9.01,9.02,47.835,47.842 [EPSG:4326]", "START": "2022-06-01",
                 "END": "2022-09-01", "STRETCH": "raw", "BACKEND": "local", "RGB_BANDS": "B4,B3,B2",
                 "REPORT": str(tmp_path / "report.json")}.items():
        inspect.addParameterSources(k, [Src.fromStaticValue(v)])
    model.addChildAlgorithm(inspect)
    embed = QgsProcessingModelChildAlgorithm("rs_embed:embed_raster")
    embed.setChildId("embed")
    embed.addParameterSources("INPUT", [Src.fromChildOutput("inspect", "OUTPUT")])
    for k, v in {"MODEL": "mosaiks", "MODEL_OPTIONS": '{"num_features": 32}', "BAND_MAP": "B4=1,B3=2,B2=3",
                 "GRID_SCALE": 100, "DEVICE": "auto", "INPUT_PREP": "resize", "SCALE_FACTOR": 1.0}.items():
        embed.addParameterSources(k, [Src.fromStaticValue(v)])
    out = QgsProcessingModelOutput("grid", "grid")
    out.setChildOutputName("OUTPUT")
    embed.setModelOutputs({"grid": out})
    model.addChildAlgorithm(embed)
    ok, errors = model.validate()
    assert ok, errors
    dest = tmp_path / "chained.tif"
    res, ok = model.run({"embed:grid": str(dest)}, QgsProcessingContext(), QgsProcessingFeedback())
    assert ok and dest.exists(), res
    assert (tmp_path / "report.json").exists()
    with rasterio.open(dest) as src:
        a = src.read()
        assert src.crs.to_epsg() == 32632 and src.count == 32 and np.isfinite(a).all() and a.std() > 0
