"""Galileo (Tseng et al. 2025, nasaharvest/galileo): a multi-modal, multi-temporal transformer."""
from ...weights import WeightsSpec
from ..entry import S2_10, ModelEntry, Normalisation, Variant, s2_sensor

#: the pretraining normaliser (train.py / eval.py: Normalizer(std=True) with
#: config/normalization.json, key "13"), for B2 B3 B4 B5 B6 B7 B8 B8A B11 B12
NORM = Normalisation(
    "(x - (mean - 2 std)) / (4 std) per band on reflectance x 10000 (pretraining statistics); "
    "missing pixels -> the frame's band mean",
    mean=(1395.3408730676722, 1338.4026921784578, 1343.09883810357, 1543.8607982512297, 2186.2022069512263,
          2525.0932853316694, 2410.3377187373408, 2750.2854646886753, 2234.911100061487, 1474.5311266077113),
    std=(917.7041440370853, 913.2988423581528, 1092.678723527555, 1047.2206083460424, 1048.0101611156767,
         1143.6903026819996, 1098.979177731649, 1204.472755085893, 1145.9774063078878, 980.2429840007796))


def _weights(size: str) -> WeightsSpec:
    # no revision or sha256 could be established here (no internet): download needs allow_unverified
    return WeightsSpec(env_var="RS_EMBED_GALILEO_CKPT", hf_repo="nasaharvest/galileo",
                       hf_filename=f"models/{size}/encoder.pt", cache_name=f"galileo_{size}_encoder.pt",
                       note="Galileo encoder state dict (no prefix; a '.backbone' infix is removed as upstream does)")


ENTRY = ModelEntry(
    id="galileo",
    kind="embedder",
    module="embedders.galileo",
    cls="GalileoEmbedder",
    family="Galileo (multi-modal, multi-temporal transformer; S2 time series + months)",
    description=(
        "Galileo (Tseng et al. 2025, nasaharvest/galileo) nano by default (variants 'tiny', 'base') on a "
        "Sentinel-2 10-band time series: one composite per month of the window (at most 12; model option "
        "frames: 'monthly' or a count), resized to 64 px, pretraining normalisation, the month of each frame "
        "as side input; other channel groups absent (masked), as upstream fills them. grid = mean of the "
        "seen tokens of each 8 px patch (128 x 8 x 8 for nano); pooled = their mean."),
    default_sensor=s2_sensor(S2_10, fill_value=0.0),
    temporal_mode=("window-adaptive: one bin per month of the window, at most 12 (frames='monthly', "
                   "default) or a fixed count; empty bins fed with their tokens masked, listed in meta"),
    outputs=("pooled", "grid"),
    side_inputs=("months: month (0-11) of each frame's midpoint",
                 "input_resolution_m: metres per pixel of the model input",
                 "optional: NDVI (include_ndvi), ROI centre location (include_location)"),
    requires=("torch",),
    paper="https://arxiv.org/abs/2502.09356",
    variants=(
        Variant("nano", config="nano", embedding_dim=128, aliases=("galileo_nano",), normalisation=NORM,
                weights=_weights("nano")),
        Variant("tiny", config="tiny", embedding_dim=192, aliases=("galileo_tiny",), normalisation=NORM,
                weights=_weights("tiny")),
        Variant("base", config="base", embedding_dim=768, aliases=("galileo_base",), normalisation=NORM,
                weights=_weights("base")),
    ),
)
