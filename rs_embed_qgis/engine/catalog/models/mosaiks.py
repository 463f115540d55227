"""MOSAIKS: random convolutional features; no training, so no weights."""
from ...weights import WeightsSpec
from ..entry import S2_RGB, ModelEntry, Normalisation, Variant, s2_sensor

ENTRY = ModelEntry(
    id="mosaiks",
    kind="embedder",
    module="embedders.mosaiks",
    cls="MosaiksEmbedder",
    family="MOSAIKS (random convolutional features)",
    description=(
        "Random convolutional features (Rolf et al., Nature Communications 2021): "
        "k x k filters drawn from whitened image patches with a fixed seed, "
        "ReLU(+/-(conv) - bias), average-pooled. Needs no pretrained weights."),
    default_sensor=s2_sensor(S2_RGB),
    temporal_mode="single composite over the window (median or mosaic)",
    outputs=("pooled", "grid"),
    requires=("numpy",),  # no scipy: the core path runs on what a stock QGIS ships
    paper="https://doi.org/10.1038/s41467-021-24638-z",
    variants=(
        Variant("default", embedding_dim=1024,
                weights=WeightsSpec(needs_weights=False,
                                    note="no training: filters are drawn from image patches, seed 0"),
                normalisation=Normalisation("reflectance / 10000; filters ZCA-whitened"),
                note="num_features (1024), kernel_size, bias, seed are model_options"),
    ),
)
