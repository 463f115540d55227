"""DOFA (Xiong et al. 2024): a ViT whose patch embedding is generated from each band's wavelength."""
from ...weights import WeightsSpec
from ..entry import ModelEntry, Normalisation, Variant, s2_sensor

#: DOFA's Sentinel-2 bands, in the order of the authors' demo
BANDS = ("B4", "B3", "B2", "B5", "B6", "B7", "B8", "B11", "B12")
#: ``S2_MEAN``/``S2_STD`` of the DOFA README, on the 0..255 scale of its pretraining images
NORM = Normalisation(
    "clip(x / 10000, 0, 1) * 255, then (x - mean) / std per band (DOFA's Sentinel-2 statistics, 0..255 "
    "scale); no-data -> the band mean; resize to 224",
    mean=(114.1099739, 114.81779093, 126.63977424, 84.33539309, 97.84789168, 103.94461911, 101.435633,
          72.32804172, 56.66528851),
    std=(77.84352553, 69.96844919, 67.42465279, 64.57022983, 61.72545487, 61.34187099, 60.29744676,
         47.88519516, 42.55886798))
#: Sentinel-2 MSI central wavelengths (micrometres): the DOFA demo's for its nine bands, ESA's
#: (S2A) for B1, B8A and B9
S2_WAVELENGTHS_UM = {"B1": 0.443, "B2": 0.49, "B3": 0.56, "B4": 0.665, "B5": 0.705, "B6": 0.74, "B7": 0.783,
                     "B8": 0.842, "B8A": 0.865, "B9": 0.945, "B11": 1.61, "B12": 2.19}
NOTE = "DOFA pretraining state dict (no prefix); mask_token and the distillation projector are set aside"


def _weights(size: str) -> WeightsSpec:
    # no commit or sha256 of these files could be established here: downloads need allow_unverified
    return WeightsSpec(env_var="RS_EMBED_DOFA_CKPT", hf_repo="earthflow/DOFA", hf_filename=f"DOFA_ViT_{size}_e100.pth",
                       note=NOTE)


ENTRY = ModelEntry(
    id="dofa",
    kind="embedder",
    module="embedders.dofa",
    cls="DOFAEmbedder",
    family="DOFA (wavelength-conditioned dynamic ViT, any bands)",
    description=(
        "DOFA (Xiong et al. 2024) ViT-B/16 (variant 'large' too): a hypernetwork turns each band's central "
        "wavelength into its patch kernel, so any band subset runs. Default B4, B3, B2, B5, B6, B7, B8, B11, B12; "
        "clip(x / 10000) * 255, DOFA's per-band mean/std, 224 px. pooled = global pool (mean of patch tokens, "
        "final LayerNorm); grid = patch tokens after that LayerNorm (768 x 14 x 14)."),
    default_sensor=s2_sensor(BANDS),
    temporal_mode="single composite over the window (median or mosaic)",
    outputs=("pooled", "grid"),
    side_inputs=("wavelengths: central wavelength (um) of each band (Sentinel-2 table, or model option)",),
    requires=("torch",),
    paper="https://arxiv.org/abs/2403.15356",
    extra={"wavelengths_um": S2_WAVELENGTHS_UM},
    variants=(
        Variant("base", config="base", embedding_dim=768, normalisation=NORM, aliases=("b", "vit_base", "dofa_base"),
                weights=_weights("base")),
        Variant("large", config="large", embedding_dim=1024, normalisation=NORM,
                aliases=("l", "vit_large", "dofa_large"), weights=_weights("large")),
    ),
)
