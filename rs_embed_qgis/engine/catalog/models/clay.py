"""Clay v1.5 (Clay Foundation): a metadata-aware MAE ViT with a wavelength-conditioned patch embedding."""
from ...weights import WeightsSpec
from ..entry import S2_10, ModelEntry, Normalisation, Variant, s2_sensor

#: Clay's ``configs/metadata.yaml`` ``sentinel-2-l2a``: statistics (reflectance x 10000) and
#: wavelengths (micrometres) of blue, green, red, rededge1-3, nir, nir08, swir16, swir22 =
#: B2, B3, B4, B5, B6, B7, B8, B8A, B11, B12
NORM = Normalisation(
    "(x - mean) / std per band on reflectance x 10000 (Clay metadata.yaml sentinel-2-l2a); no-data -> the "
    "band mean; 256 px chips",
    mean=(1105.0, 1355.0, 1552.0, 1887.0, 2422.0, 2630.0, 2743.0, 2785.0, 2388.0, 1835.0),
    std=(1809.0, 1757.0, 1888.0, 1870.0, 1732.0, 1697.0, 1742.0, 1648.0, 1470.0, 1379.0))
WAVELENGTHS_UM = (0.493, 0.56, 0.665, 0.704, 0.74, 0.783, 0.842, 0.865, 1.61, 2.19)

ENTRY = ModelEntry(
    id="clay",
    kind="embedder",
    module="embedders.clay",
    cls="ClayEmbedder",
    family="Clay v1.5 (MAE ViT-L/8, dynamic embedding, metadata-aware)",
    description=(
        "Clay v1.5 (Clay Foundation) large encoder on Sentinel-2 L2A B2-B12 (10 bands): (x - mean) / std "
        "with Clay's metadata.yaml statistics, 256 px, band wavelengths, ground sample distance, week/hour "
        "and lat/lon as side inputs. pooled = the class token (1024-d); grid = patch tokens (1024 x 32 x 32)."),
    default_sensor=s2_sensor(S2_10),
    temporal_mode="single composite over the window; the window's midpoint gives the week of year",
    outputs=("pooled", "grid"),
    side_inputs=("wavelengths of the 10 bands (um)", "gsd: ground sample distance of the model input (m)",
                 "time: [sin, cos] of ISO week and hour of the window midpoint",
                 "location: [sin, cos] of ROI centre latitude and longitude"),
    requires=("torch",),
    aliases=("clay_v1_5", "clay-v1.5"),
    paper="https://clay-foundation.github.io/model/",
    extra={"wavelengths_um": WAVELENGTHS_UM},
    variants=(
        Variant("large", config="large", embedding_dim=1024, normalisation=NORM, aliases=("v1.5", "clay-v1.5-large"),
                # no commit or sha256 of the file could be established here: downloads need allow_unverified
                weights=WeightsSpec(
                    env_var="RS_EMBED_CLAY_CKPT", hf_repo="made-with-clay/Clay", hf_filename="v1.5/clay-v1.5.ckpt",
                    note="Lightning checkpoint {'state_dict': ...}; model.encoder.* is loaded, the decoder, the "
                         "SAM teacher (model.teacher.*) and model.proj.* are set aside")),
    ),
)
