"""AgriFM (Li et al., RSE 2026): a multi-source temporal Video Swin encoder for agriculture mapping."""
from ...weights import WeightsSpec
from ..entry import S2_10, ModelEntry, Normalisation, Variant, s2_sensor

#: S2 statistics of upstream's ``configs/cropland_mapping.py`` (B2, B3, B4, B5, B6, B7, B8, B8A,
#: B11, B12), applied by its ``MapNormalize`` as (x - mean) / std
NORM = Normalisation(
    "(x - mean) / std per band on reflectance x 10000 (AgriFM's config statistics); no-data -> the band "
    "mean; bilinear resize to image_size (224)",
    mean=(4179.192015478227, 4065.9106675194444, 3957.274910960156, 5207.452475253116, 4327.12234687,
          4873.16102239, 5049.1637925, 5111.07806856, 3056.86349163, 2490.9675032),
    std=(4041.5212325268735, 3691.003119315892, 3629.331318356375, 2973.5178530908756, 3569.73343885,
         3085.9151435, 2937.56005119, 2806.04462314, 1808.30013156, 1694.20220774))

ENTRY = ModelEntry(
    id="agrifm",
    kind="embedder",
    module="embedders.agrifm",
    cls="AgriFMEmbedder",
    family="AgriFM (multi-source temporal Video Swin for agriculture mapping; S2 branch)",
    description=(
        "AgriFM (Li et al., Remote Sensing of Environment 2026): a Video Swin Transformer whose temporal "
        "down-sampling runs with the spatial one, pretrained on MODIS, Landsat and Sentinel-2 series. "
        "Sentinel-2 B2-B12 (10 bands), the window split into `frames` bins (default 8, up to 32, or "
        "'monthly'; empty bins dropped), (x - mean) / std with AgriFM's statistics, 224 px. "
        "grid = last stage after norm (1024 x 14 x 14); pooled = its mean."),
    default_sensor=s2_sensor(S2_10),
    temporal_mode="window split into `frames` bins (default 8, or monthly), one composite each; empty bins dropped",
    outputs=("pooled", "grid"),
    requires=("torch",),
    paper="https://doi.org/10.1016/j.rse.2026.115234",
    variants=(
        Variant("s2", config="agrifm_s2", embedding_dim=1024, aliases=("base", "sentinel2"), normalisation=NORM,
                weights=WeightsSpec(
                    # the GLASS website's folder (linked from the README beside a OneDrive share) serves
                    # the file over plain https; no size or hash is published for it
                    env_var="RS_EMBED_AGRIFM_CKPT", url="https://glass.hku.hk/casual/AgriFM/AgriFM.pth",
                    cache_name="AgriFM.pth",
                    note=("AgriFM pretraining checkpoint: S2_patch_emd.* and backbone.* (the Sentinel-2 "
                          "encoder) are loaded, the Landsat/MODIS patch embeddings (HLSL30_patch_emd.*, "
                          "Modis_patch_emd.*) set aside"))),
    ),
)
