"""TerraFM (Danish et al. 2025, MBZUAI): a ViT with one patch embedding per modality,
self-supervised on Sentinel-1 and Sentinel-2 Major-TOM tiles."""
from ...specs import SensorSpec
from ...weights import WeightsSpec
from ..entry import ModelEntry, Normalisation, Variant, s2_sensor

S2_12 = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12")
#: Sentinel-1 GRD in linear power (Earth Engine); radar sees through clouds: no cloud filter
S1_SENSOR = SensorSpec(collection="COPERNICUS/S1_GRD_FLOAT", bands=("VV", "VH"), scale_m=10, cloudy_pct=100,
                       composite="median")
#: the upstream repository publishes no input normalisation; these are rs-embed's rules
S2_NORM = Normalisation("reflectance / 10000 clipped to [0, 1], bilinear resize to 224 (rs-embed's rule)")
S1_NORM = Normalisation("log1p(linear power) / its 99th percentile, clipped to [0, 1] (rs-embed's rule)")
NOTE = ("TerraFM-{v}: a plain state dict of the TerraFM module (no prefix), loaded whole; the Hugging Face "
        "commit and sha256 are not published here: a download needs allow_unverified=True")

ENTRY = ModelEntry(
    id="terrafm",
    kind="embedder",
    module="embedders.terrafm",
    cls="TerraFMEmbedder",
    family="TerraFM (ViT with per-modality patch embeddings; Sentinel-1/2)",
    description=(
        "TerraFM-B (Danish et al. 2025; variant 'L' too): self-supervised ViT-B/16 on Sentinel-1 and "
        "Sentinel-2 Major-TOM tiles. Sentinel-2 B1-B12 (12 bands) / 10000 clipped to [0,1] through the "
        "L2A patch embedding (model option s2_branch='l1c' as upstream forward), or model option "
        "modality='s1': Sentinel-1 VV/VH linear power (Earth Engine COPERNICUS/S1_GRD_FLOAT only), "
        "log1p / 99th percentile. 224 px. pooled = class token; grid = patch tokens (768 x 14 x 14)."),
    default_sensor=s2_sensor(S2_12),
    temporal_mode="single composite over the window (median or mosaic)",
    outputs=("pooled", "grid"),
    side_inputs=("modality: which patch embedding (s2 L2A/L1C, s1)",),
    requires=("torch",),
    aliases=("terrafm_b", "terrafm-b"),
    paper="https://arxiv.org/abs/2506.06281",
    extra={"modalities": {"s2": {}, "s1": {"sensor": S1_SENSOR, "normalisation": S1_NORM}}},
    variants=tuple(
        Variant(v, config=f"terrafm_{size}", embedding_dim=dim, aliases=(size, f"terrafm-{v.lower()}"),
                normalisation=S2_NORM,
                weights=WeightsSpec(env_var="RS_EMBED_TERRAFM_CKPT", hf_repo="MBZUAI/TerraFM",
                                    hf_filename=f"TerraFM-{v}.pth", note=NOTE.format(v=v)))
        for v, size, dim in (("B", "base", 768), ("L", "large", 1024))),
)
