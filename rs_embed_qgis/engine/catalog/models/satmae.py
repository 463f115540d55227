"""SatMAE (Cong et al., NeurIPS 2022): MAE ViT-L encoders pretrained on fMoW."""
from ...weights import WeightsSpec
from ..entry import S2_10, S2_RGB, ModelEntry, Normalisation, Variant, s2_sensor

#: fMoW-RGB statistics (SatMAE/SatMAE++ ``util/datasets.py``) after reflectance / 10000 in 1/255 steps
FMOW_RGB_NORM = Normalisation(
    "reflectance / 10000 clipped to [0, 1] in 1/255 steps, resize to 224, (x - mean) / std",
    mean=(0.4182007312774658, 0.4214799106121063, 0.3991275727748871),
    std=(0.28774282336235046, 0.27541765570640564, 0.2764017581939697))
#: SatMAE's ``SentinelNormalize`` with the fMoW-Sentinel statistics of B2, B3, B4, B5, B6, B7,
#: B8, B8A, B11, B12 (B1, B9, B10 dropped as in the papers)
SENTINEL_NORM = Normalisation(
    "SentinelNormalize: (x - (mean - 2 std)) / (4 std) to uint8, / 255; resize to 96",
    mean=(1184.3824625, 1120.77120066, 1136.26026392, 1263.73947144, 1645.40315151,
          1846.87040806, 1762.59530783, 1972.62420416, 1732.16362238, 1247.91870117),
    std=(650.2842772, 712.12507725, 965.23119807, 948.9819932, 1108.06650639,
         1258.36394548, 1233.1492281, 1364.38688993, 1310.36996126, 1087.6020813))
RGB_SENSOR = s2_sensor(S2_RGB)
MS_SENSOR = s2_sensor(S2_10)
#: architecture names (the official model functions), known to ``embedders/satmae.py``
RGB_ARCH = "mae_vit_large_patch16"
MS_ARCH = "mae_vit_large_patch8_group_channel"
MS_ALIASES = ("ms", "sentinel", "s2_10b", "group_channel")

ENTRY = ModelEntry(
    id="satmae",
    kind="embedder",
    module="embedders.satmae",
    cls="SatMAEEmbedder",
    family="SatMAE (MAE ViT-L on fMoW)",
    description=(
        "SatMAE (Cong et al., NeurIPS 2022) fMoW-RGB ViT-L/16: RGB B4/B3/B2 / 10000 -> [0,1] -> "
        "224 px -> fMoW mean/std; variant 'multispectral': the fMoW-Sentinel group-channel ViT-L/8 "
        "on B2-B12 (10 bands, SentinelNormalize, 96 px). pooled = mean of patch tokens; grid = "
        "patch tokens (1024 x 14 x 14; 1024 x 12 x 12 multispectral)."),
    default_sensor=RGB_SENSOR,
    temporal_mode="single composite over the window (median or mosaic)",
    outputs=("pooled", "grid"),
    requires=("torch",),
    aliases=("satmae_rgb",),
    paper="https://arxiv.org/abs/2207.08051",
    variants=(
        Variant("rgb", config=RGB_ARCH, embedding_dim=1024, aliases=("fmow_rgb", "vit-large-fmow-rgb"),
                normalisation=FMOW_RGB_NORM,
                weights=WeightsSpec(
                    env_var="RS_EMBED_SATMAE_CKPT", url="https://zenodo.org/record/7369797/files/fmow_pretrain.pth",
                    cache_name="fmow_pretrain.pth",
                    note="SatMAE fMoW-RGB ViT-L/16 pretraining checkpoint (800 epochs), {'model': state_dict}")),
        Variant("multispectral", config=MS_ARCH, embedding_dim=1024, aliases=MS_ALIASES,
                default_sensor=MS_SENSOR, normalisation=SENTINEL_NORM,
                weights=WeightsSpec(
                    env_var="RS_EMBED_SATMAE_MS_CKPT",
                    url="https://zenodo.org/record/7338613/files/pretrain-vit-large-e199.pth",
                    cache_name="pretrain-vit-large-e199.pth",
                    note="SatMAE fMoW-Sentinel group-channel ViT-L/8 pretraining checkpoint (200 epochs)")),
    ),
)
