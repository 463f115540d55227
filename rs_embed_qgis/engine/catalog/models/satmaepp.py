"""SatMAE++ (Noman et al., CVPR 2024): multi-scale MAE ViT-L encoders on fMoW (SatMAE's input)."""
from ...weights import WeightsSpec
from ..entry import ModelEntry, Variant
from .satmae import FMOW_RGB_NORM, MS_ALIASES, MS_ARCH, MS_SENSOR, RGB_ARCH, RGB_SENSOR, SENTINEL_NORM

ENTRY = ModelEntry(
    id="satmaepp",
    kind="embedder",
    module="embedders.satmae",
    cls="SatMAEPPEmbedder",
    family="SatMAE++ (multi-scale MAE ViT-L on fMoW)",
    description=(
        "SatMAE++ (Noman et al., CVPR 2024) fMoW-RGB ViT-L/16: RGB B4/B3/B2 / 10000 -> [0,1] -> "
        "224 px -> fMoW mean/std; variant 'multispectral': the fMoW-Sentinel group-channel ViT-L/8 "
        "(10 bands, SentinelNormalize, 96 px). pooled = mean of patch tokens; grid = patch tokens."),
    default_sensor=RGB_SENSOR,
    temporal_mode="single composite over the window (median or mosaic)",
    outputs=("pooled", "grid"),
    requires=("torch",),
    aliases=("satmaepp_rgb", "satmae++"),
    paper="https://arxiv.org/abs/2403.05419",
    variants=(
        Variant("rgb", config=RGB_ARCH, embedding_dim=1024, aliases=("fmow_rgb",),
                normalisation=FMOW_RGB_NORM,
                weights=WeightsSpec(
                    env_var="RS_EMBED_SATMAEPP_CKPT", hf_repo="mubashir04/checkpoint_ViT-L_pretrain_fmow_rgb",
                    hf_filename="checkpoint_ViT-L_pretrain_fmow_rgb.pth",
                    note="SatMAE++ fMoW-RGB ViT-L/16 pretraining checkpoint, {'model': state_dict}")),
        Variant("multispectral", config=MS_ARCH, embedding_dim=1024, aliases=MS_ALIASES,
                default_sensor=MS_SENSOR, normalisation=SENTINEL_NORM,
                weights=WeightsSpec(
                    env_var="RS_EMBED_SATMAEPP_MS_CKPT",
                    hf_repo="mubashir04/checkpoint_ViT-L_pretrain_fmow_sentinel",
                    hf_filename="checkpoint_ViT-L_pretrain_fmow_sentinel.pth",
                    note="SatMAE++ fMoW-Sentinel group-channel ViT-L/8 pretraining checkpoint")),
    ),
)
