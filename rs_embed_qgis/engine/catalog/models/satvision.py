"""SatVision-TOA (NASA CISTO): a Swin V2 giant pretrained with SimMIM on MODIS top-of-atmosphere imagery."""
from ...specs import SensorSpec
from ...weights import WeightsSpec
from ..entry import ModelEntry, Normalisation, Variant

#: the model's 14 channels: MODIS band numbers in its order (pytorch-caney README, Table 1)
BANDS = ("1", "2", "3", "6", "7", "21", "26", "27", "28", "29", "30", "31", "32", "33")
REFLECTIVE = (0, 1, 2, 3, 4, 6)          # bands 1, 2, 3, 6, 7, 26: TOA reflectance
EMISSIVE = (5, 7, 8, 9, 10, 11, 12, 13)  # bands 21, 27-33: brightness temperature
#: ``MinMaxEmissiveScaleReflectance``: the per-channel range of each emissive band (K)
EMISSIVE_MIN_K = (223.1222, 178.9174, 204.3739, 204.7677, 194.8686, 202.1759, 201.3823, 203.3537)
EMISSIVE_MAX_K = (352.7182, 261.2920, 282.5529, 319.0373, 295.0209, 324.0677, 321.5254, 285.9848)
NORM = Normalisation(
    "reflective bands: reflectance x 10000 / 10000 (the model's percent * 0.01); emissive bands: brightness "
    "temperature (K - min) / (max - min) with the published per-band range; not clipped; no-data -> 0; "
    "resize to 128")

ENTRY = ModelEntry(
    id="satvision",
    kind="embedder",
    module="embedders.satvision",
    cls="SatVisionEmbedder",
    family="SatVision-TOA (Swin V2 giant, SimMIM on MODIS TOA)",
    description=(
        "SatVision-TOA giant (NASA CISTO, 3 B parameters) on MODIS L1B top-of-atmosphere input at 1 km: bands "
        "1, 2, 3, 6, 7, 21, 26, 27-33 as TOA reflectance / 10000 and min-max scaled brightness temperature, "
        "128 px. Local MOD021KM granules (HDF4) or GeoTIFF stacks, or Earth Engine MODIS/061/MOD021KM. "
        "pooled = mean of the last-stage tokens (4096-d); grid = those tokens (4096 x 4 x 4 per 128 px chip)."),
    default_sensor=SensorSpec(collection="MODIS/061/MOD021KM", bands=BANDS, scale_m=1000, cloudy_pct=100,
                              fill_value=float("nan"), composite="mosaic"),
    temporal_mode="one composite over the window (mosaic: latest granule on top); a day gives one daily composite",
    outputs=("pooled", "grid"),
    requires=("torch",),
    aliases=("satvision_toa", "satvision-toa"),
    paper="https://arxiv.org/abs/2411.17000",
    extra={"emissive_min_k": EMISSIVE_MIN_K, "emissive_max_k": EMISSIVE_MAX_K},
    # a post-norm Swin V2: these outputs enter a LayerNorm directly, and in int8 they gave half of the
    # error (about 10 % of the Linear FLOPs); all int8, grid cells reached only 0.9989 of fp32 (docs/performance.md)
    int8_keep_fp32=("*.attn.proj", "*.downsample.reduction"),
    variants=(
        Variant("giant", config="giant", embedding_dim=4096, normalisation=NORM,
                aliases=("toa-giant", "satvision-toa-giant", "3b"),
                # no commit or sha256 of the file could be established here: downloads need allow_unverified
                weights=WeightsSpec(
                    env_var="RS_EMBED_SATVISION_CKPT",
                    hf_repo="nasa-cisto-data-science-group/satvision-toa-giant-patch8-window8-128",
                    hf_filename="mp_rank_00_model_states.pt",
                    note="DeepSpeed model states {'module': ...} of the SimMIM model (about 12 GB): encoder.* is "
                         "loaded, encoder.mask_token and the SimMIM decoder.* are set aside")),
    ),
)
