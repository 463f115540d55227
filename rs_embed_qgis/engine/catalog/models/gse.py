"""Google Satellite Embedding (AlphaEarth Foundations): a precomputed annual product."""
from ...specs import SensorSpec
from ...weights import WeightsSpec
from ..entry import ModelEntry, Variant

GSE_BANDS = tuple(f"A{i:02d}" for i in range(64))

ENTRY = ModelEntry(
    id="gse",
    kind="precomputed",
    module="embedders.gse",
    cls="GSEEmbedder",
    family="Google Satellite Embedding (AlphaEarth Foundations)",
    description=(
        "Annual 64-dimensional embeddings at 10 m precomputed by Google DeepMind's AlphaEarth "
        "Foundations and served by Earth Engine (GOOGLE/SATELLITE_EMBEDDING/V1/ANNUAL, bands "
        "A00..A63, unit-length vectors). Read, not computed: grid = the product on the ROI's "
        "10 m grid, pooled = mean/max over the ROI."),
    default_sensor=SensorSpec(collection="GOOGLE/SATELLITE_EMBEDDING/V1/ANNUAL", bands=GSE_BANDS,
                              scale_m=10, cloudy_pct=100, fill_value=0.0, composite="mosaic"),
    temporal_mode="annual product: the year(s) of the window (TemporalSpec.year(YYYY))",
    outputs=("pooled", "grid"),
    requires=("numpy",),
    aliases=("google_satellite_embedding", "gse_annual"),
    paper="https://arxiv.org/abs/2507.22291",
    variants=(
        Variant("annual-v1", embedding_dim=64,
                weights=WeightsSpec(needs_weights=False,
                                    note="precomputed product read from Earth Engine; no model weights")),
    ),
)
