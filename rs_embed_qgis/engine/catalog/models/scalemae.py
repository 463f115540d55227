"""ScaleMAE (Reed et al., ICCV 2023): a scale-aware MAE ViT-L (position encoding scaled by GSD)."""
from ...weights import WeightsSpec
from ..entry import S2_RGB, ModelEntry, Normalisation, Variant, s2_sensor

IMAGENET_NORM = Normalisation(
    "reflectance / 10000 clipped to [0, 1] in 1/255 steps, resize to 224, (x - mean) / std (ImageNet)",
    mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))

ENTRY = ModelEntry(
    id="scalemae",
    kind="embedder",
    module="embedders.scalemae",
    cls="ScaleMAEEmbedder",
    family="ScaleMAE (scale-aware MAE ViT-L)",
    description=(
        "ScaleMAE (Reed et al., ICCV 2023) ViT-L/16: RGB B4/B3/B2 / 10000 -> [0,1] -> 224 px -> "
        "ImageNet mean/std; the position encoding is scaled by the ground sample distance of the "
        "model input (sensor.scale_m x resize factor). pooled = mean of patch tokens; grid = patch "
        "tokens (1024 x 14 x 14)."),
    default_sensor=s2_sensor(S2_RGB),
    temporal_mode="single composite over the window (median or mosaic)",
    outputs=("pooled", "grid"),
    side_inputs=("input_res: ground sample distance of the model input in metres (from sensor.scale_m)",),
    requires=("torch",),
    aliases=("scalemae_rgb",),
    paper="https://arxiv.org/abs/2212.14532",
    variants=(
        Variant("vitlarge-800", config="mae_vit_large_patch16", embedding_dim=1024,
                aliases=("large", "vit-large", "rgb"), normalisation=IMAGENET_NORM,
                weights=WeightsSpec(
                    env_var="RS_EMBED_SCALEMAE_CKPT",
                    url="https://github.com/bair-climate-initiative/scale-mae/releases/download/base-800/"
                        "scalemae-vitlarge-800.pth",
                    cache_name="scalemae-vitlarge-800.pth",
                    note="ScaleMAE ViT-L/16 pretraining checkpoint (800 epochs), {'model': state_dict}")),
    ),
)
