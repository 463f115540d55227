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
        "Random convolutional features (Rolf et al., Nature Communications 2021), as the "
        "paper's code computes them: k x k image patches drawn with a fixed seed from a "
        "reference scene and ZCA-whitened, convolved over the image, ReLU(+/-conv - bias) "
        "(bias 0), average-pooled. Needs no pretrained weights."),
    default_sensor=s2_sensor(S2_RGB),
    temporal_mode="single composite over the window (median or mosaic)",
    outputs=("pooled", "grid"),
    requires=("numpy",),  # no scipy: the core path runs on what a stock QGIS ships
    paper="https://doi.org/10.1038/s41467-021-24638-z",
    variants=(
        Variant("default", embedding_dim=1024,
                weights=WeightsSpec(needs_weights=False,
                                    note="no training: filters are drawn from image patches, seed 0"),
                normalisation=Normalisation("reflectance / 10000; filters ZCA-whitened "
                                            "(cov + 1e-3 I)^-1 over 6250 reference patches"),
                note="num_features (1024; the paper 8192), kernel_size (3), bias (0), seed (0), "
                     "zca_eps, filter_source are model_options"),
    ),
)
