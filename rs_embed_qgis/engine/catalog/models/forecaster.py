"""The vegetation reflectance forecaster: ConvLSTM encoder + Fourier-harmonics decoder (GreenEarthNet)."""
from ...weights import WeightsSpec
from ..entry import ModelEntry, Normalisation, Variant, s2_sensor

ENTRY = ModelEntry(
    id="forecaster",
    kind="forecast",
    module="forecast.checkpoint",
    cls="load_forecast_model",
    family="ConvLSTM + Fourier reflectance forecaster (GreenEarthNet)",
    description=(
        "Forecasts Sentinel-2 reflectance (B02, B03, B04, B8A) for the 100 days (20 frames, 5 days "
        "apart) after a 50-day input window of 10 frames, from the BAP-filled input frames, a "
        "land-cover map, E-OBS weather and the day of year; a PyTorch port of the reference Keras "
        "model trained on GreenEarthNet minicubes. NDVI is derived from the forecast."),
    default_sensor=s2_sensor(("B2", "B3", "B4", "B8A"), scale_m=20),
    temporal_mode="10 input frames (5 days apart) -> 20 forecast frames (5 days apart)",
    outputs=("20 dated reflectance rasters (B02, B03, B04, B8A)", "20 NDVI rasters"),
    side_inputs=("landcover: ESA WorldCover classes (one-hot)", "weather: E-OBS daily variables",
                 "temporal: day of year of the forecast start"),
    requires=("torch", "safetensors"),
    aliases=("reflectance_forecaster", "forecast"),
    extra={"api": "rs_embed_qgis.engine.forecast.predict.forecast_to_geotiffs",
           "training": "scripts/train_forecast.py (see docs/forecast.md)"},
    variants=(
        Variant("reference",
                normalisation=Normalisation("per band: (x - p2) / (p98 - p2) with the checkpoint's "
                                            "statistics (the input's own without a checkpoint)"),
                weights=WeightsSpec(
                    note=("a checkpoint you train (<stem>.safetensors; its metadata holds the config and "
                          "the normalisation); none is published. Without one the model runs with "
                          "random weights, marked in every output")),
                note=("ConvLSTM widths (32, 48, 64), 3 harmonics, 128 x 128 tiles; a checkpoint's own "
                      "config is read from its metadata")),
    ),
)
