"""GeoTessera (Feng et al. 2025): annual 128-d embeddings at 10 m, distributed as 0.1-degree tiles."""
from ...specs import SensorSpec
from ...weights import WeightsSpec
from ..entry import ModelEntry, Variant

ENTRY = ModelEntry(
    id="tessera",
    kind="precomputed",
    module="embedders.tessera",
    cls="TesseraEmbedder",
    family="GeoTessera (annual Sentinel-1/2 embeddings, 0.1-degree tiles)",
    description=(
        "Annual 128-dimensional embeddings at 10 m precomputed by TESSERA (Feng et al. 2025, University of "
        "Cambridge) from Sentinel-1 and -2 time series, distributed by geotessera as 0.1-degree UTM tiles "
        "(int8 + per-pixel scales). Read from a local tile folder (model option data_dir; missing tiles "
        "downloaded when allowed): tiles across UTM zones sampled onto the ROI's 10 m grid. grid = the product "
        "on the ROI, pooled = mean/max over the ROI."),
    default_sensor=SensorSpec(collection="GEOTESSERA/V1", bands=tuple(f"T{i:03d}" for i in range(128)),
                              scale_m=10, cloudy_pct=100, fill_value=0.0, composite="mosaic"),
    temporal_mode="annual product: the window's year (TemporalSpec.year(YYYY))",
    outputs=("pooled", "grid"),
    requires=("numpy",),
    aliases=("geotessera",),
    paper="https://arxiv.org/abs/2506.20380",
    variants=(
        Variant("v1", embedding_dim=128, weights=WeightsSpec(
            needs_weights=False, env_var="RS_EMBED_TESSERA_CACHE", url="https://dl2.geotessera.org/v1",
            note=("precomputed tiles in geotessera's layout, read from model_options['data_dir'] > "
                  "RS_EMBED_TESSERA_CACHE > $RS_EMBED_CACHE/tessera; missing tiles downloaded (sha256 from the "
                  "geotessera registry) when download=True"))),
    ),
)
