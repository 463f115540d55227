"""Copernicus-Embed (Wang et al., ICCV 2025): a 0.25-degree global map of 768-d embeddings."""
from ...specs import SensorSpec
from ...weights import WeightsSpec
from ..entry import ModelEntry, Variant

ENTRY = ModelEntry(
    id="copernicus",
    kind="precomputed",
    module="embedders.copernicus",
    cls="CopernicusEmbedder",
    family="Copernicus-Embed (0.25-degree global map of Copernicus-FM embeddings)",
    description=(
        "Copernicus-Embed-025deg (Wang et al., ICCV 2025): one 768-dimensional embedding per 0.25-degree cell "
        "of the globe, aggregated over all Copernicus-Pretrain modalities (Sentinel-1/2/3/5P, DEM); the "
        "GeoTIFF embed_map_310k.tif of the torchgeo/copernicus_embed dataset. grid = the 0.25-degree cells the "
        "ROI touches (EPSG:4326); pooled = the cells weighted by the ROI's area in each (an ROI inside one cell "
        "gets that cell's vector). One static map: the window is not used."),
    default_sensor=SensorSpec(collection="COPERNICUS_EMBED/0.25DEG", bands=tuple(f"C{i:03d}" for i in range(768)),
                              scale_m=27830, cloudy_pct=100, fill_value=0.0, composite="mosaic"),
    temporal_mode="static map: the window is not used",
    outputs=("pooled", "grid"),
    requires=("numpy",),
    aliases=("copernicus_embed", "copernicus_embed_025deg"),
    paper="https://arxiv.org/abs/2503.11849",
    variants=(
        Variant("0.25deg", embedding_dim=768, aliases=("embed_map_310k",), weights=WeightsSpec(
            # revision and md5 as torchgeo's CopernicusEmbed dataset pins them (no sha256 published)
            env_var="RS_EMBED_COP_DIR", hf_repo="torchgeo/copernicus_embed", hf_filename="embed_map_310k.tif",
            hf_repo_type="dataset", revision="435b4a7bdce6f6fdbf4272f9d6e54f2604f35fdb",
            md5="63de14ab9f5eeffb785066f3013a40b4", cache_name="embed_map_310k.tif",
            note="the product GeoTIFF: 721 x 1440 cells, 768 float32 bands, EPSG:4326")),
    ),
)
