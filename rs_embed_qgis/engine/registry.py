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
        "Prithvi-EO-2.0 300M-TL (IBM/NASA/Juelich; variant '100M' too): 3D-patch ViT pretrained on "
        "HLS time series. Bands B2, B3, B4, B8A, B11, B12 at 30 m, up to 4 frames (model option "
        "frames), each (x - mean) / std with the official statistics, 224 px. pooled = mean of "
        "patch tokens; grid = patch tokens averaged over frames (1024 x 14 x 14)."),
    default_sensor=SensorSpec(collection=S2_SR, bands=("B2", "B3", "B4", "B8A", "B11", "B12"), scale_m=30,
                              cloudy_pct=30, composite="median"),
    temporal_mode="window split into `frames` (default 4) equal bins, one composite each; empty bins dropped",
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


# -- the spectral zoo (issue 16): DOFA, Clay v1.5, TerraMind v1, SatVision-TOA ------------------
from .providers.modis import MOD021KM, SATVISION_BANDS  # noqa: E402 - torch-free constants

register(ModelSpec(
    id="dofa",
    module="dofa",
    cls="DOFAEmbedder",
    family="DOFA (wavelength-conditioned dynamic ViT, any bands)",
    kind="on-the-fly",
    description=(
        "DOFA (Xiong et al. 2024) ViT-B/16 (variant 'large' too): a hypernetwork turns each band's central "
        "wavelength into its patch kernel, so any band subset runs. Default B4, B3, B2, B5, B6, B7, B8, B11, B12; "
        "clip(x / 10000) * 255, DOFA's per-band mean/std, 224 px. pooled = global pool (mean of patch tokens, "
        "final LayerNorm); grid = patch tokens after that LayerNorm (768 x 14 x 14)."),
    default_sensor=SensorSpec(collection=S2_SR, bands=("B4", "B3", "B2", "B5", "B6", "B7", "B8", "B11", "B12"),
                              scale_m=10, cloudy_pct=30, composite="median"),
    temporal_mode="single composite over the window (median or mosaic)",
    outputs=("pooled", "grid"),
    side_inputs=("wavelengths: central wavelength (um) of each band (Sentinel-2 table, or model option)",),
    embedding_dim=768,
    weights=_vw.DOFA["base"],
    requires=("torch",),
    paper="https://arxiv.org/abs/2403.15356",
))

register(ModelSpec(
    id="clay",
    module="clay",
    cls="ClayEmbedder",
    family="Clay v1.5 (MAE ViT-L/8, dynamic embedding, metadata-aware)",
    kind="on-the-fly",
    description=(
        "Clay v1.5 (Clay Foundation) large encoder on Sentinel-2 L2A B2-B12 (10 bands): (x - mean) / std "
        "with Clay's metadata.yaml statistics, 256 px, band wavelengths, ground sample distance, week/hour "
        "and lat/lon as side inputs. pooled = the class token (1024-d); grid = patch tokens (1024 x 32 x 32)."),
    default_sensor=SensorSpec(collection=S2_SR, bands=S2_10, scale_m=10, cloudy_pct=30, composite="median"),
    temporal_mode="single composite over the window; the window's midpoint gives week of year",
    outputs=("pooled", "grid"),
    side_inputs=("wavelengths of the 10 bands (um)", "gsd: ground sample distance of the model input (m)",
                 "time: [sin, cos] of ISO week and hour of the window midpoint",
                 "location: [sin, cos] of ROI centre latitude and longitude"),
    embedding_dim=1024,
    weights=_vw.CLAY["large"],
    requires=("torch",),
    aliases=("clay_v1_5", "clay-v1.5"),
    paper="https://clay-foundation.github.io/model/",
))

register(ModelSpec(
    id="terramind",
    module="terramind",
    cls="TerraMindEmbedder",
    family="TerraMind v1 (IBM/ESA any-to-any ViT; encoder on raw S2 L2A or S1)",
    kind="on-the-fly",
    description=(
        "TerraMind v1 (Jakubik et al. 2025) small encoder (variants tiny, base, large) on Sentinel-2 L2A 12 "
        "bands (B1-B12 without B10) with the v1 pretraining mean/std, 224 px; model option modality='S1GRD' "
        "runs Sentinel-1 GRD VV/VH (dB, Earth Engine only). pooled = mean of the tokens; grid = tokens after "
        "encoder_norm (384 x 14 x 14). terratorch is not needed."),
    default_sensor=SensorSpec(collection=S2_SR, bands=("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9",
                                                       "B11", "B12"), scale_m=10, cloudy_pct=30, composite="median"),
    temporal_mode="single composite over the window (median or mosaic)",
    outputs=("pooled", "grid"),
    embedding_dim=384,
    weights=_vw.TERRAMIND["small"],
    requires=("torch",),
    aliases=("terramind_v1", "terramind-1.0"),
    paper="https://arxiv.org/abs/2504.11171",
))

register(ModelSpec(
    id="satvision",
    module="satvision",
    cls="SatVisionEmbedder",
    family="SatVision-TOA (Swin V2 giant, SimMIM on MODIS TOA)",
    kind="on-the-fly",
    description=(
        "SatVision-TOA giant (NASA CISTO, 3 B parameters) on MODIS L1B top-of-atmosphere input at 1 km: bands "
        "1, 2, 3, 6, 7, 21, 26, 27-33 as TOA reflectance / 10000 and min-max scaled brightness temperature, "
        "128 px. Local MOD021KM granules (HDF4) or GeoTIFF stacks, or Earth Engine MODIS/061/MOD021KM. "
        "pooled = mean of the last-stage tokens (4096-d); grid = those tokens (4096 x 4 x 4 per 128 px chip)."),
    default_sensor=SensorSpec(collection=MOD021KM, bands=SATVISION_BANDS, scale_m=1000, cloudy_pct=100,
                              fill_value=float("nan"), composite="mosaic"),
    temporal_mode="one composite over the window (mosaic: latest granule on top); a day gives one daily composite",
    outputs=("pooled", "grid"),
    embedding_dim=4096,
    weights=_vw.SATVISION["giant"],
    requires=("torch",),
    aliases=("satvision_toa", "satvision-toa"),
    paper="https://arxiv.org/abs/2411.17000",
))
