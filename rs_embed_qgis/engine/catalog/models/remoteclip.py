"""RemoteCLIP: CLIP continually trained on remote-sensing image-text pairs.

The template for a new entry: facts only, one ``Variant`` per published model.
"""
from ...weights import WeightsSpec
from ..entry import S2_RGB, ModelEntry, Normalisation, Variant, s2_sensor

#: open_clip's CLIP image normalisation, applied after reflectance / 10000 in 1/255 steps
CLIP_NORM = Normalisation(
    "reflectance / 10000 clipped to [0, 1] in 1/255 steps, bicubic resize to 224, (x - mean) / std",
    mean=(0.48145466, 0.4578275, 0.40821073), std=(0.26862954, 0.26130258, 0.27577711))
#: the commit of chendelong/RemoteCLIP holding both files (its README's snapshot folder)
REVISION = "bf1d8a3ccf2ddbf7c875705e46373bfe542bce38"
NOTE = "full open_clip CLIP state dict; visual.* is loaded, the text tower is set aside"

ENTRY = ModelEntry(
    id="remoteclip",
    kind="embedder",
    module="embedders.remoteclip",
    cls="RemoteCLIPEmbedder",
    family="RemoteCLIP (CLIP ViT, open_clip layout)",
    description=(
        "RemoteCLIP (Liu et al., IEEE TGRS 2024): CLIP continually trained on remote-sensing "
        "image-text pairs. ViT-B-32 by default (variant 'ViT-L-14' too). RGB B4/B3/B2 / 10000 "
        "-> [0,1] -> 224 px -> CLIP mean/std. pooled = the CLIP image embedding (512-d, matches "
        "text prompts); grid = patch tokens after ln_post (768 x 7 x 7)."),
    default_sensor=s2_sensor(S2_RGB),
    temporal_mode="single composite over the window (median or mosaic)",
    outputs=("pooled", "grid"),
    requires=("torch",),
    aliases=("remoteclip_s2rgb",),
    paper="https://arxiv.org/abs/2306.11029",
    variants=(
        Variant("ViT-B-32", config="ViT-B-32", embedding_dim=512, aliases=("b32", "vit-b/32"),
                normalisation=CLIP_NORM,
                weights=WeightsSpec(
                    env_var="RS_EMBED_REMOTECLIP_CKPT", hf_repo="chendelong/RemoteCLIP",
                    hf_filename="RemoteCLIP-ViT-B-32.pt", revision=REVISION,
                    sha256="60014e395d930a3f2963d1d89c8522bf4ad56775571e4356e866864789af85c4",
                    size_bytes=605_208_421, note=NOTE)),
        Variant("ViT-L-14", config="ViT-L-14", embedding_dim=768, aliases=("l14", "vit-l/14"),
                normalisation=CLIP_NORM,
                weights=WeightsSpec(
                    env_var="RS_EMBED_REMOTECLIP_CKPT", hf_repo="chendelong/RemoteCLIP",
                    hf_filename="RemoteCLIP-ViT-L-14.pt", revision=REVISION,
                    sha256="fcc2a7e21e171f4ffcb7a9c0206b8b74ac0c9eb83c67b576958b7a4ed6c8cecb",
                    size_bytes=1_710_613_765, note=NOTE)),
    ),
)
