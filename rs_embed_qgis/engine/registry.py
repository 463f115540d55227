"""The model catalog: model id -> module, class and capabilities.

Nothing here imports a model module: ``list_models`` and ``describe_model`` work
even where torch is missing, and a model whose optional dependency is missing
fails alone, when it is used (with a :class:`ModelError` saying what to install).
"""
from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from typing import Any

from .errors import ModelError
from .specs import SensorSpec
from .weights import WeightsSpec, resolve_weights

S2_SR = "COPERNICUS/S2_SR_HARMONIZED"
S2_10 = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12")


@dataclass(frozen=True)
class ModelSpec:
    """What a user needs to know about a model before running it."""

    id: str
    module: str                       # module under rs_embed_qgis.engine.embedders
    cls: str
    family: str
    kind: str                         # "on-the-fly" | "precomputed"
    description: str
    default_sensor: SensorSpec | None
    temporal_mode: str                # how the window is used
    outputs: tuple[str, ...] = ("pooled", "grid")
    side_inputs: tuple[str, ...] = ()
    embedding_dim: int | None = None
    weights: WeightsSpec = field(default_factory=WeightsSpec)
    requires: tuple[str, ...] = ()    # importable modules the model needs
    aliases: tuple[str, ...] = ()
    paper: str = ""

    @property
    def bands(self) -> tuple[str, ...]:
        return self.default_sensor.bands if self.default_sensor else ()


MODEL_SPECS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    MODEL_SPECS[spec.id] = spec
    return spec


register(ModelSpec(
    id="mosaiks",
    module="mosaiks",
    cls="MosaiksEmbedder",
    family="MOSAIKS (random convolutional features)",
    kind="on-the-fly",
    description=(
        "Random convolutional features (Rolf et al., Nature Communications 2021): "
        "k x k filters drawn from whitened image patches with a fixed seed, "
        "ReLU(+/-(conv) - bias), average-pooled. Needs no pretrained weights."),
    default_sensor=SensorSpec(collection=S2_SR, bands=("B4", "B3", "B2"), scale_m=10,
                              cloudy_pct=30, composite="median"),
    temporal_mode="single composite over the window (median or mosaic)",
    outputs=("pooled", "grid"),
    embedding_dim=1024,
    weights=WeightsSpec(needs_weights=False,
                        note="no training: filters are drawn from image patches, seed 0"),
    requires=("numpy", "scipy"),
    paper="https://doi.org/10.1038/s41467-021-24638-z",
))


# -- the ViT family (issue 5): plain-torch architectures with the official key layouts ---------
from . import official_weights as _vw  # noqa: E402 - torch-free table of official files

_RGB = ("B4", "B3", "B2")
register(ModelSpec(
    id="remoteclip",
    module="remoteclip",
    cls="RemoteCLIPEmbedder",
    family="RemoteCLIP (CLIP ViT, open_clip layout)",
    kind="on-the-fly",
    description=(
        "RemoteCLIP (Liu et al., IEEE TGRS 2024): CLIP continually trained on remote-sensing "
        "image-text pairs. ViT-B-32 by default (variant 'ViT-L-14' too). RGB B4/B3/B2 / 10000 "
        "-> [0,1] -> 224 px -> CLIP mean/std. pooled = the CLIP image embedding (512-d, matches "
        "text prompts); grid = patch tokens after ln_post (768 x 7 x 7)."),
    default_sensor=SensorSpec(collection=S2_SR, bands=_RGB, scale_m=10, cloudy_pct=30, composite="median"),
    temporal_mode="single composite over the window (median or mosaic)",
    outputs=("pooled", "grid"),
    embedding_dim=512,
    weights=_vw.REMOTECLIP["ViT-B-32"],
    requires=("torch",),
    aliases=("remoteclip_s2rgb",),
    paper="https://arxiv.org/abs/2306.11029",
))

register(ModelSpec(
    id="prithvi",
    module="prithvi",
    cls="PrithviEmbedder",
    family="Prithvi-EO-2.0 (multi-temporal ViT MAE)",
    kind="on-the-fly",
    description=(
        "Prithvi-EO-2.0 300M-TL (IBM/NASA/Juelich; variants '100M' and '600M' too): 3D-patch ViT "
        "pretrained on HLS time series. Bands B2, B3, B4, B8A, B11, B12 at 30 m, up to 4 frames (model "
        "option frames: a count or 'monthly'), each (x - mean) / std with the official statistics, "
        "224 px. pooled = mean of patch tokens; grid = patch tokens averaged over frames "
        "(1024 x 14 x 14; 1280 x 16 x 16 for 600M)."),
    default_sensor=SensorSpec(collection=S2_SR, bands=("B2", "B3", "B4", "B8A", "B11", "B12"), scale_m=30,
                              cloudy_pct=30, composite="median"),
    temporal_mode=("window split into `frames` (default 4, at most 4) equal bins, or one per month "
                   "(frames='monthly'), one composite each; empty bins dropped and listed in meta"),
    outputs=("pooled", "grid"),
    side_inputs=("time: (year, day of year) of each frame's midpoint", "location: ROI centre (lat, lon)"),
    embedding_dim=1024,
    weights=_vw.PRITHVI["300M"],
    requires=("torch",),
    aliases=("prithvi_eo_v2_s2_6b",),
    paper="https://arxiv.org/abs/2412.02732",
))

register(ModelSpec(
    id="satmae",
    module="satmae",
    cls="SatMAEEmbedder",
    family="SatMAE (MAE ViT-L on fMoW)",
    kind="on-the-fly",
    description=(
        "SatMAE (Cong et al., NeurIPS 2022) fMoW-RGB ViT-L/16: RGB B4/B3/B2 / 10000 -> [0,1] -> "
        "224 px -> fMoW mean/std; variant 'multispectral': the fMoW-Sentinel group-channel ViT-L/8 "
        "on B2-B12 (10 bands, SentinelNormalize, 96 px). pooled = mean of patch tokens; grid = "
        "patch tokens (1024 x 14 x 14; 1024 x 12 x 12 multispectral)."),
    default_sensor=SensorSpec(collection=S2_SR, bands=_RGB, scale_m=10, cloudy_pct=30, composite="median"),
    temporal_mode="single composite over the window (median or mosaic)",
    outputs=("pooled", "grid"),
    embedding_dim=1024,
    weights=_vw.SATMAE["rgb"],
    requires=("torch",),
    aliases=("satmae_rgb",),
    paper="https://arxiv.org/abs/2207.08051",
))

register(ModelSpec(
    id="satmaepp",
    module="satmae",
    cls="SatMAEPPEmbedder",
    family="SatMAE++ (multi-scale MAE ViT-L on fMoW)",
    kind="on-the-fly",
    description=(
        "SatMAE++ (Noman et al., CVPR 2024) fMoW-RGB ViT-L/16: RGB B4/B3/B2 / 10000 -> [0,1] -> "
        "224 px -> fMoW mean/std; variant 'multispectral': the fMoW-Sentinel group-channel ViT-L/8 "
        "(10 bands, SentinelNormalize, 96 px). pooled = mean of patch tokens; grid = patch tokens."),
    default_sensor=SensorSpec(collection=S2_SR, bands=_RGB, scale_m=10, cloudy_pct=30, composite="median"),
    temporal_mode="single composite over the window (median or mosaic)",
    outputs=("pooled", "grid"),
    embedding_dim=1024,
    weights=_vw.SATMAEPP["rgb"],
    requires=("torch",),
    aliases=("satmaepp_rgb",),
    paper="https://arxiv.org/abs/2403.05419",
))

register(ModelSpec(
    id="scalemae",
    module="scalemae",
    cls="ScaleMAEEmbedder",
    family="ScaleMAE (scale-aware MAE ViT-L)",
    kind="on-the-fly",
    description=(
        "ScaleMAE (Reed et al., ICCV 2023) ViT-L/16: RGB B4/B3/B2 / 10000 -> [0,1] -> 224 px -> "
        "ImageNet mean/std; the position encoding is scaled by the ground sample distance of the "
        "model input (sensor.scale_m x resize factor). pooled = mean of patch tokens; grid = patch "
        "tokens (1024 x 14 x 14)."),
    default_sensor=SensorSpec(collection=S2_SR, bands=_RGB, scale_m=10, cloudy_pct=30, composite="median"),
    temporal_mode="single composite over the window (median or mosaic)",
    outputs=("pooled", "grid"),
    side_inputs=("input_res: ground sample distance of the model input in metres (from sensor.scale_m)",),
    embedding_dim=1024,
    weights=_vw.SCALEMAE["vitlarge-800"],
    requires=("torch",),
    aliases=("scalemae_rgb",),
    paper="https://arxiv.org/abs/2212.14532",
))


register(ModelSpec(
    id="anysat",
    module="anysat",
    cls="AnySatEmbedder",
    family="AnySat (JEPA multi-modal, resolution-adaptive; S2 time series + day-of-year)",
    kind="on-the-fly",
    description=(
        "AnySat (Astruc et al., CVPR 2025) on a Sentinel-2 10-band time series: the window "
        "is split into T bins (RS_EMBED_ANYSAT_FRAMES, default 8), one composite per bin, "
        "day-of-year of each bin midpoint as s2_dates; patch size = output.scale_m. "
        "Network in plain torch with the official parameter names."),
    default_sensor=SensorSpec(collection=S2_SR, bands=S2_10, scale_m=10, cloudy_pct=30,
                              composite="median", fill_value=0.0),
    temporal_mode="range split into T bins, one composite per bin (year/None -> range)",
    outputs=("pooled", "grid"),
    side_inputs=("s2_dates",),
    embedding_dim=768,
    weights=WeightsSpec(
        env_var="RS_EMBED_ANYSAT_CKPT",
        hf_repo="g-astruc/AnySat",
        hf_filename="models/AnySat.pth",
        url="https://huggingface.co/g-astruc/AnySat/resolve/main/models/AnySat.pth",
        cache_name="AnySat.pth",
        note=("official base checkpoint, a torch file {'state_dict': ...} with AnyModule keys "
              "(no prefix); tiny/small have no published weights (pass your own file)")),
    requires=("torch",),
    paper="https://arxiv.org/abs/2412.14123",
))


register(ModelSpec(
    id="agrifm",
    module="agrifm",
    cls="AgriFMEmbedder",
    family="AgriFM (multi-source temporal Video Swin for agriculture mapping; S2 branch)",
    kind="on-the-fly",
    description=(
        "AgriFM (Li et al., Remote Sensing of Environment 2026): a Video Swin Transformer whose temporal "
        "down-sampling runs with the spatial one, pretrained on MODIS, Landsat and Sentinel-2 series. "
        "Sentinel-2 B2-B12 (10 bands), the window split into `frames` bins (default 8, up to 32, or "
        "'monthly'; empty bins dropped), (x - mean) / std with AgriFM's statistics, 224 px. "
        "grid = last stage after norm (1024 x 14 x 14); pooled = its mean."),
    default_sensor=SensorSpec(collection=S2_SR, bands=S2_10, scale_m=10, cloudy_pct=30, composite="median"),
    temporal_mode="window split into `frames` bins (default 8, or monthly), one composite each; empty bins dropped",
    outputs=("pooled", "grid"),
    side_inputs=(),
    embedding_dim=1024,
    weights=_vw.AGRIFM,
    requires=("torch",),
    paper="https://doi.org/10.1016/j.rse.2026.115234",
))


def _aliases() -> dict[str, str]:
    out = {}
    for spec in MODEL_SPECS.values():
        for a in spec.aliases:
            out[a] = spec.id
    return out


def get_spec(model: str) -> ModelSpec:
    if not isinstance(model, str):
        raise ModelError(f"model must be a model id string, got {model!r}")
    key = model.strip().lower()
    if key in MODEL_SPECS:
        return MODEL_SPECS[key]
    alias = _aliases().get(key)
    if alias:
        return MODEL_SPECS[alias]
    choices = sorted(set(MODEL_SPECS) | set(_aliases()))
    close = difflib.get_close_matches(key, choices, n=3, cutoff=0.4)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ModelError(f"unknown model id {model!r}{hint} Known models: {sorted(MODEL_SPECS)}")


def list_models() -> list[str]:
    """Every model id in the catalog (nothing is imported)."""
    return sorted(MODEL_SPECS)


def missing_requirements(spec: ModelSpec) -> list[str]:
    return [m for m in spec.requires if m not in sys.modules and importlib.util.find_spec(m) is None]


def describe_model(model: str, *, weights_path: str | None = None) -> dict[str, Any]:
    """Everything a user needs to pick a model: type, bands, time, outputs, weights status."""
    spec = get_spec(model)
    w = spec.weights
    if not w.needs_weights:
        status, where = "not needed", None
    else:
        try:
            r = resolve_weights(spec.id, w, weights_path, download=False)
            status = "found" if r.path else "missing"
            where = {"source": r.source, "path": str(r.path) if r.path else None}
        except ModelError as exc:
            status, where = "missing", {"error": str(exc)}
    return {
        "id": spec.id,
        "family": spec.family,
        "type": spec.kind,
        "description": spec.description,
        "bands": list(spec.bands),
        "default_sensor": spec.default_sensor.to_dict() if spec.default_sensor else None,
        "temporal_mode": spec.temporal_mode,
        "outputs": list(spec.outputs),
        "side_inputs": list(spec.side_inputs),
        "embedding_dim": spec.embedding_dim,
        "weights": {**w.to_dict(), "status": status, "resolved": where},
        "requires": list(spec.requires),
        "missing_requirements": missing_requirements(spec),
        "aliases": list(spec.aliases),
        "paper": spec.paper,
    }


def load_embedder_class(model: str):
    """Import the model's module (only now) and return its embedder class."""
    spec = get_spec(model)
    missing = missing_requirements(spec)
    if missing:
        raise ModelError(
            f"model {spec.id!r} needs {', '.join(missing)} which cannot be imported here; "
            f"install it (pip install 'rs-embed-qgis[models]') or pick another model")
    modname = f"{__package__}.embedders.{spec.module}"
    try:
        mod = importlib.import_module(modname)
    except ImportError as exc:
        sys.modules.pop(modname, None)  # a failed import must not poison the next try
        raise ModelError(f"model {spec.id!r} could not be imported: {exc}") from exc
    return getattr(mod, spec.cls)


GSE_BANDS = tuple(f"A{i:02d}" for i in range(64))

register(ModelSpec(
    id="gse",
    module="gse",
    cls="GSEEmbedder",
    family="Google Satellite Embedding (AlphaEarth Foundations)",
    kind="precomputed",
    description=(
        "Annual 64-dimensional embeddings at 10 m precomputed by Google DeepMind's AlphaEarth "
        "Foundations and served by Earth Engine (GOOGLE/SATELLITE_EMBEDDING/V1/ANNUAL, bands "
        "A00..A63, unit-length vectors). Read, not computed: grid = the product on the ROI's "
        "10 m grid, pooled = mean/max over the ROI."),
    default_sensor=SensorSpec(collection="GOOGLE/SATELLITE_EMBEDDING/V1/ANNUAL", bands=GSE_BANDS,
                              scale_m=10, cloudy_pct=100, fill_value=0.0, composite="mosaic"),
    temporal_mode="annual product: the year(s) of the window (TemporalSpec.year(YYYY))",
    outputs=("pooled", "grid"),
    embedding_dim=64,
    weights=WeightsSpec(needs_weights=False,
                        note="precomputed product read from Earth Engine; no model weights"),
    requires=("numpy",),
    aliases=("google_satellite_embedding", "gse_annual"),
    paper="https://arxiv.org/abs/2507.22291",
))

register(ModelSpec(
    id="tessera",
    module="tessera",
    cls="TesseraEmbedder",
    family="GeoTessera (annual Sentinel-1/2 embeddings, 0.1-degree tiles)",
    kind="precomputed",
    description=(
        "Annual 128-dimensional embeddings at 10 m precomputed by TESSERA (Feng et al. 2025, University of "
        "Cambridge) from Sentinel-1 and -2 time series, distributed by geotessera as 0.1-degree UTM tiles "
        "(int8 + per-pixel scales). Read from a local tile folder (model option data_dir; missing tiles "
        "downloaded when allowed): tiles across UTM zones sampled onto the ROI's 10 m grid. grid = the product "
        "on the ROI, pooled = mean/max over the ROI."),
    default_sensor=SensorSpec(collection="GEOTESSERA/V1", bands=tuple(f"T{i:03d}" for i in range(128)),
                              scale_m=10, cloudy_pct=100, fill_value=0.0, composite="mosaic"),
    temporal_mode="annual product: the window's year (TemporalSpec.year(YYYY))",
    outputs=("pooled", "grid"),
    embedding_dim=128,
    weights=WeightsSpec(
        needs_weights=False, env_var="RS_EMBED_TESSERA_CACHE", url="https://dl2.geotessera.org/v1",
        note=("precomputed tiles in geotessera's layout, read from model_options['data_dir'] > "
              "RS_EMBED_TESSERA_CACHE > $RS_EMBED_CACHE/tessera; missing tiles downloaded (sha256 from the "
              "geotessera registry) when download=True")),
    requires=("numpy", "rasterio"),
    aliases=("geotessera",),
    paper="https://arxiv.org/abs/2506.20380",
))

register(ModelSpec(
    id="copernicus",
    module="copernicus",
    cls="CopernicusEmbedder",
    family="Copernicus-Embed (0.25-degree global map of Copernicus-FM embeddings)",
    kind="precomputed",
    description=(
        "Copernicus-Embed-025deg (Wang et al., ICCV 2025): one 768-dimensional embedding per 0.25-degree cell "
        "of the globe, aggregated over all Copernicus-Pretrain modalities (Sentinel-1/2/3/5P, DEM); the "
        "GeoTIFF embed_map_310k.tif of the torchgeo/copernicus_embed dataset. grid = the 0.25-degree cells the "
        "ROI touches (EPSG:4326); pooled = the cells weighted by the ROI's area in each (an ROI inside one cell "
        "gets that cell's vector). One static map: the window is not used."),
    default_sensor=SensorSpec(collection="COPERNICUS_EMBED/0.25DEG", bands=tuple(f"C{i:03d}" for i in range(768)),
                              scale_m=27830, cloudy_pct=100, fill_value=0.0, composite="mosaic"),
    temporal_mode="static map (the window is not used)",
    outputs=("pooled", "grid"),
    embedding_dim=768,
    weights=WeightsSpec(
        env_var="RS_EMBED_COP_DIR", hf_repo="torchgeo/copernicus_embed", hf_filename="embed_map_310k.tif",
        hf_repo_type="dataset", hf_revision="435b4a7bdce6f6fdbf4272f9d6e54f2604f35fdb",
        md5="63de14ab9f5eeffb785066f3013a40b4", cache_name="embed_map_310k.tif",
        note=("the product GeoTIFF (721 x 1440 cells, 768 float32 bands, EPSG:4326), revision and md5 as "
              "torchgeo's CopernicusEmbed dataset pins them")),
    requires=("numpy", "rasterio"),
    aliases=("copernicus_embed", "copernicus_embed_025deg"),
    paper="https://arxiv.org/abs/2503.11849",
))
