"""S2x10NetS: the learned 10x super-resolution network for Sentinel-2's 10 bands (10 m -> 1 m)."""
from ...weights import WeightsSpec
from ..entry import S2_10, ModelEntry, Normalisation, Variant, s2_sensor

ENTRY = ModelEntry(
    id="s2x10",
    kind="superres",
    module="superres.models",
    cls="load_superres_model",
    family="S2x10NetS (ESRGAN-style RRDB decoder, exactly 10x)",
    description=(
        "Super-resolves Sentinel-2 B2, B3, B4, B5, B6, B7, B8, B8A, B11, B12 ten times (10 m -> 1 m) "
        "with an RRDB network (BasicSR RRDBNet key names: conv_first, 23 body blocks, conv_body, "
        "upsample stages, conv_hr, conv_last). Whole rasters are run in overlapping tiles, "
        "blended and written block by block (super_resolve_raster). No public weights exist: "
        "the network runs with your checkpoint (or random weights, marked, to test the plumbing); "
        "'bicubic' and 'lanczos' are interpolation baselines through the same path."),
    default_sensor=s2_sensor(S2_10),
    temporal_mode="one image (no time)",
    outputs=("raster (same bands, 10x the pixels)",),
    requires=("torch", "safetensors"),
    aliases=("s2x10nets", "s2x10net"),
    extra={"scale": 10, "bands": list(S2_10), "baselines": ["bicubic", "lanczos"],
           "api": "rs_embed_qgis.engine.superres.super_resolve_raster"},
    variants=(
        Variant("full",
                normalisation=Normalisation("reflectance / input_scale (10000) in, x input_scale out"),
                weights=WeightsSpec(
                    env_var="RS_EMBED_S2X10_WEIGHTS", cache_name=".",
                    note=("your checkpoint: a .safetensors file, a folder of chunks with "
                          "model.safetensors.index.json, or a plain folder of .safetensors chunks "
                          "(the cache folder itself may hold the chunks); no public weights exist, "
                          "nothing is downloaded")),
                note=("the reference size (160 features, 23 blocks, growth 80, stages (2, 5)); a "
                      "checkpoint's own size is read from its tensor shapes")),
    ),
)
