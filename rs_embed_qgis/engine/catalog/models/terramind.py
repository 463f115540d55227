"""TerraMind v1 (IBM/ESA): a 4M-style any-to-any ViT; its encoder embeds raw Sentinel-2 L2A or Sentinel-1."""
from ...specs import SensorSpec
from ...weights import WeightsSpec
from ..entry import ModelEntry, Normalisation, Variant, s2_sensor

#: terratorch ``PRETRAINED_BANDS['untok_sen2l2a@224']``: coastal aerosol .. SWIR 2 (no B10)
S2_BANDS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12")
#: terratorch ``v1_pretraining_mean/std`` per raw modality (reflectance x 10000; backscatter in dB)
S2_NORM = Normalisation(
    "(x - mean) / std per band (TerraMind v1 pretraining statistics, untok_sen2l2a@224); no-data -> the band "
    "mean; resize to 224",
    mean=(1390.458, 1503.317, 1718.197, 1853.91, 2199.1, 2779.975, 2987.011, 3083.234, 3132.22, 3162.988,
          2424.884, 1857.648),
    std=(2106.761, 2141.107, 2038.973, 2134.138, 2085.321, 1889.926, 1820.257, 1871.918, 1753.829, 1797.379,
         1434.261, 1334.311))
S1GRD_NORM = Normalisation("(x - mean) / std of VV, VH in dB (untok_sen1grd@224)", mean=(-12.599, -20.293),
                           std=(5.195, 5.890))
S1RTC_NORM = Normalisation("(x - mean) / std of VV, VH in dB (untok_sen1rtc@224)", mean=(-10.93, -17.329),
                           std=(4.391, 4.459))
#: Earth Engine's Sentinel-1 GRD (backscatter in dB): the only backend here that serves Sentinel-1
S1_GRD_SENSOR = SensorSpec(collection="COPERNICUS/S1_GRD", bands=("VV", "VH"), scale_m=10, cloudy_pct=100,
                           composite="median")
DIMS = {"tiny": 192, "small": 384, "base": 768, "large": 1024}


def _variant(size: str) -> Variant:
    # no commit or sha256 of these files could be established here: downloads need allow_unverified
    return Variant(size, config=size, embedding_dim=DIMS[size], normalisation=S2_NORM,
                   aliases=(f"v1_{size}", f"terramind_v1_{size}", f"1.0-{size}"),
                   weights=WeightsSpec(
                       env_var="RS_EMBED_TERRAMIND_CKPT", hf_repo=f"ibm-esa-geospatial/TerraMind-1.0-{size}",
                       hf_filename=f"TerraMind_v1_{size}.pt",
                       note="the whole TerraMind encoder-decoder; the encoder of the raw modality in use is loaded, "
                            "the rest (decoder, other modalities' embeddings) is set aside"))


ENTRY = ModelEntry(
    id="terramind",
    kind="embedder",
    module="embedders.terramind",
    cls="TerraMindEmbedder",
    family="TerraMind v1 (IBM/ESA any-to-any ViT; encoder on raw S2 L2A or S1)",
    description=(
        "TerraMind v1 (Jakubik et al. 2025) small encoder (variants tiny, base, large) on Sentinel-2 L2A 12 "
        "bands (B1-B12 without B10) with the v1 pretraining mean/std, 224 px; model option modality='S1GRD' "
        "runs Sentinel-1 GRD VV/VH (dB, Earth Engine only). pooled = mean of the tokens; grid = tokens after "
        "encoder_norm (384 x 14 x 14). terratorch is not needed."),
    default_sensor=s2_sensor(S2_BANDS),
    temporal_mode="single composite over the window (median or mosaic)",
    outputs=("pooled", "grid"),
    requires=("torch",),
    aliases=("terramind_v1", "terramind-1.0"),
    paper="https://arxiv.org/abs/2504.11171",
    extra={"modalities": ["S2L2A", "S1GRD (Earth Engine COPERNICUS/S1_GRD)", "S1RTC (your own data)"]},
    variants=tuple(_variant(s) for s in ("small", "tiny", "base", "large")),
)
