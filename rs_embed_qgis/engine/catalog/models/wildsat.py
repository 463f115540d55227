"""WildSAT (Daroya et al., ICCV 2025): ImageNet backbones fine-tuned so Sentinel-2
true-colour images align with wildlife observations and text about their habitats."""
from ...weights import WeightsSpec
from ..entry import S2_RGB, ModelEntry, Normalisation, Variant, s2_sensor

TCI_NORM = Normalisation(
    "B4, B3, B2 as the Sentinel-2 TCI product (reflectance x 10000 / 2000 clipped to [0, 1], 1/255 "
    "steps), resized, minus the image minimum (no mean/std)")


def _weights(arch: str, title: str, drive_id: str) -> WeightsSpec:
    return WeightsSpec(
        env_var="RS_EMBED_WILDSAT_CKPT", cache_name=f"{arch}-imagenet-bnfc.pth",
        manual_url=f"https://drive.google.com/file/d/{drive_id}/view",
        note=(f"WildSAT {title} (ImageNet-1k start, fine-tuned with WildSAT; README table): a train.py "
              "checkpoint whose 'satellite_state_dict' (backbone.*, decoder.*) is loaded; the location and "
              "text models and the optimiser state are set aside. A Google Drive link: download it by hand"))


ENTRY = ModelEntry(
    id="wildsat",
    kind="embedder",
    module="embedders.wildsat",
    cls="WildSATEmbedder",
    family="WildSAT (ViT-B/16 aligned with wildlife observations and text)",
    description=(
        "WildSAT (Daroya et al. 2025) ViT-B/16 (variants 'resnet50', 'swint' too): ImageNet backbones "
        "fine-tuned so Sentinel-2 true-colour images align with species observations (SINR location "
        "features) and Wikipedia text. RGB B4/B3/B2 rendered as the TCI product (reflectance 0-0.2 -> "
        "[0,1]), 224 px (512 for ResNet/Swin), minus the image minimum. pooled = the 256-d image "
        "embedding (model option pooled_head: text, location, backbone); grid = patch tokens "
        "(768 x 14 x 14). Weights on Google Drive: downloaded by hand."),
    default_sensor=s2_sensor(S2_RGB),
    temporal_mode="single composite over the window (median or mosaic)",
    outputs=("pooled", "grid"),
    requires=("torch",),
    aliases=("wildsat_vitb16",),
    paper="https://arxiv.org/abs/2412.14428",
    variants=(
        Variant("vitb16", config="vitb16", embedding_dim=256, normalisation=TCI_NORM,
                aliases=("vit-b/16", "vit_b_16", "vitb16-imagenet-bnfc", "vit"),
                weights=_weights("vitb16", "ViT-B/16", "1IxBpf3nbEMzny4YJWS6stMBxel6gMiYE")),
        Variant("resnet50", config="resnet50", embedding_dim=256, normalisation=TCI_NORM,
                aliases=("rn50", "resnet-50", "resnet50-imagenet-bnfc"),
                weights=_weights("resnet50", "ResNet-50", "1LwCjzT1p0yFOtv1m0YD-rl7tP0eYXTb2")),
        Variant("swint", config="swint", embedding_dim=256, normalisation=TCI_NORM,
                aliases=("swin-t", "swin_t", "swin", "swint-imagenet-bnfc"),
                weights=_weights("swint", "Swin-T", "12rfb3ES9-RuIAk_RjzYrMQJG_5J1Iq5H")),
    ),
)
