"""Prithvi-EO-2.0 (IBM/NASA/Juelich): a multi-temporal ViT MAE pretrained on HLS time series."""
from ...weights import WeightsSpec
from ..entry import ModelEntry, Normalisation, Variant, s2_sensor

#: the HLS bands blue, green, red, narrow NIR, SWIR 1, SWIR 2 (HLS's narrow NIR is B8A)
BANDS = ("B2", "B3", "B4", "B8A", "B11", "B12")
#: the official per-band statistics on reflectance x 10000
NORM = Normalisation("(x - mean) / std per band on reflectance x 10000 (official statistics); "
                     "no-data -> the band mean",
                     mean=(1087.0, 1342.0, 1433.0, 2734.0, 1958.0, 1363.0),
                     std=(2248.0, 2179.0, 2178.0, 1850.0, 1242.0, 1049.0))
NOTE = "full PrithviMAE state dict; encoder.* is loaded, decoder.* set aside"


def _weights(size: str, revision: str | None) -> WeightsSpec:
    return WeightsSpec(env_var="RS_EMBED_PRITHVI_CKPT", hf_repo=f"ibm-nasa-geospatial/Prithvi-EO-2.0-{size}-TL",
                       hf_filename=f"Prithvi_EO_V2_{size}_TL.pt", revision=revision, note=NOTE)


ENTRY = ModelEntry(
    id="prithvi",
    kind="embedder",
    module="embedders.prithvi",
    cls="PrithviEmbedder",
    family="Prithvi-EO-2.0 (multi-temporal ViT MAE)",
    description=(
        "Prithvi-EO-2.0 300M-TL (IBM/NASA/Juelich; variants '100M' and '600M' too): 3D-patch ViT "
        "pretrained on HLS time series. Bands B2, B3, B4, B8A, B11, B12 at 30 m, up to 4 frames (model "
        "option frames: a count or 'monthly'), each (x - mean) / std with the official statistics, "
        "224 px. pooled = mean of patch tokens; grid = patch tokens averaged over frames "
        "(1024 x 14 x 14; 1280 x 16 x 16 for 600M)."),
    default_sensor=s2_sensor(BANDS, scale_m=30),
    temporal_mode=("window split into `frames` (default 4, at most 4) equal bins, or one per month "
                   "(frames='monthly'), one composite each; empty bins dropped and listed in meta"),
    outputs=("pooled", "grid"),
    side_inputs=("time: (year, day of year) of each frame's midpoint", "location: ROI centre (lat, lon)"),
    requires=("torch",),
    aliases=("prithvi_eo_v2_s2_6b",),
    paper="https://arxiv.org/abs/2412.02732",
    variants=(
        # revisions: commits at which users load the file (their Hugging Face snapshot folders)
        Variant("300M", config="300M", embedding_dim=1024, normalisation=NORM,
                aliases=("300m_tl", "300_tl", "prithvi_eo_v2_300_tl"),
                weights=_weights("300M", "63adbd39c271da4c42f447e69b1a7c91a338cdc9")),
        Variant("100M", config="100M", embedding_dim=768, normalisation=NORM,
                aliases=("100m_tl", "100_tl", "prithvi_eo_v2_100_tl"),
                weights=_weights("100M", "2c84e383194986040f883cc43d7869002c425e1b")),
        # 1280-d, 32 blocks, 14 px patches; no revision could be established here (no internet)
        Variant("600M", config="600M", embedding_dim=1280, normalisation=NORM,
                aliases=("600m_tl", "600_tl", "prithvi_eo_v2_600_tl"),
                weights=_weights("600M", None)),
    ),
)
