"""OlmoEarth v1 (Ai2, ``allenai/olmoearth_pretrain``): a multi-modal, multi-temporal
FlexiViT pretrained on Sentinel-2 L2A, Sentinel-1, Landsat and map layers.

Modalities (option ``modality``): ``"s2"`` (default) - Sentinel-2 L2A B1..B12 without
B10, fed in the model's band order B02 B03 B04 B08 | B05 B06 B07 B8A B11 B12 | B01 B09
(three band sets, one token each per patch and frame); ``"s1"`` - Sentinel-1 GRD VV, VH
in dB (``COPERNICUS/S1_GRD``, served by the Earth Engine backend only: the local backend
raises before fetching).

Frames: the shared frame policy (``frames.FramePolicy``), option ``frames``: ``"monthly"``
(default: one bin per month of the window, at most 12, as pretraining's 30-day steps) or
a fixed count from 1 to 12. Empty bins are dropped (upstream's inference path,
``fast_pass=True``, ignores masks, so an empty frame would be seen as data) and listed in
``meta["frame_selection"]``.

Preprocessing as upstream's ``Normalizer(Strategy.COMPUTED)``: per band
``(x - (mean - 2 std)) / (4 std)`` with the pretraining statistics (``computed.json``);
missing pixels get the frame's band mean; each frame resized to ``image_size`` (default
64). Side inputs: the month (0-11) of each frame's midpoint, and the metres per pixel of
the model input (``input_res``) that scales the spatial encoding.

Outputs: the tokens ``(B, H/p, W/p, T, S, D)`` of ``patch_size`` px patches (default 8;
1 to 8), averaged over frames and band sets -> ``grid`` ``(D, H/p, W/p)``, as upstream's
quick-start pools them; ``pooled`` = their mean (or max) over space.

Weights: ``weights.pth`` of ``allenai/OlmoEarth-v1-{Nano,Tiny,Base,Large}`` (base by
default): the LatentMIM state dict; ``encoder.*`` is loaded strictly, the decoder, the
target encoder, the contrastive head, the patch embeddings of the modalities the adapter
never feeds and the legacy ``pos_embed`` are set aside by name.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ModelError, ProviderError
from ..nn.olmoearth import OLMOEARTH_CONFIGS, OlmoEarthEncoder, set_aside_prefixes
from ..providers.base import Patch
from ..registry import S2_SR
from ..specs import SensorSpec
from ..weights import WeightsSpec
from .multiframe import MultiFrameEmbedder
from .vit_base import fill_with_frame_mean

S1_COLLECTION = "COPERNICUS/S1_GRD"
#: modality option -> (model field, our band names in the model's order, pretraining mean, std)
#: (``olmoearth_pretrain/data/norm_configs/computed.json``; S1 in dB)
MODALITIES: dict[str, tuple[str, tuple[str, ...], tuple[float, ...], tuple[float, ...]]] = {
    "s2": ("sentinel2_l2a", ("B2", "B3", "B4", "B8", "B5", "B6", "B7", "B8A", "B11", "B12", "B1", "B9"),
           (1188.9412572078477, 1407.7739105458452, 1513.0573882432757, 2755.481305028308, 1890.9893042634167,
            2483.7812315422448, 2722.728248756412, 2885.570263047681, 2562.852607796968, 1914.1383249044113,
            1115.8494388252218, 3269.812554170875),
           (1859.1923971769581, 1727.7387413631088, 1740.7757298757895, 1612.2565699990187, 1754.7320388511766,
            1622.1172720635755, 1621.8226170190276, 1611.3587521042082, 1441.5471830655151, 1328.8914382756407,
            1955.6991794280914, 2651.088425085525)),
    "s1": ("sentinel1", ("VV", "VH"), (-11.648990747328444, -17.745436133270044),
           (10.840350299936597, 10.216274681392647)),
}
SENSORS = {
    "s2": SensorSpec(collection=S2_SR, bands=MODALITIES["s2"][1], scale_m=10, cloudy_pct=30,
                     composite="median", fill_value=0.0),
    "s1": SensorSpec(collection=S1_COLLECTION, bands=MODALITIES["s1"][1], scale_m=10, cloudy_pct=100,
                     composite="median", fill_value=0.0),
}


def _weights(name: str) -> WeightsSpec:
    return WeightsSpec(env_var="RS_EMBED_OLMOEARTH_CKPT", hf_repo=f"allenai/OlmoEarth-v1-{name}",
                       hf_filename="weights.pth", cache_name=f"OlmoEarth-v1-{name}.pth",
                       note="LatentMIM state dict; encoder.* is loaded, the rest set aside by name")


VARIANTS: dict[str, dict[str, Any]] = {
    size: {"config": OLMOEARTH_CONFIGS[size], "weights": _weights(size.capitalize()),
           "aliases": (f"{size}_v1", f"olmoearth-v1-{size}")}
    for size in ("nano", "tiny", "base", "large")
}


def normalise(x: np.ndarray, modality: str) -> np.ndarray:
    """``(T, C, H, W)`` -> upstream ``Normalizer(Strategy.COMPUTED)`` (std multiplier 2)."""
    _, _, mean, std = MODALITIES[modality]
    m = np.asarray(mean, np.float32)[None, :, None, None]
    s = np.asarray(std, np.float32)[None, :, None, None]
    return ((x - (m - 2 * s)) / (4 * s)).astype(np.float32)


class OlmoEarthEmbedder(MultiFrameEmbedder):
    VARIANTS = VARIANTS
    DEFAULT_VARIANT = "base"
    EMPTY_BINS = "drop"  # upstream's inference path (fast_pass) ignores masks
    extra_options = (*MultiFrameEmbedder.extra_options, "modality")
    cpu_batch_size = 4

    def __init__(self, spec, device: str = "auto", **options: Any) -> None:
        modality = str(options.get("modality", "s2")).strip().lower()
        if modality not in MODALITIES:
            raise ModelError(f"olmoearth modality must be 's2' (Sentinel-2 L2A, 12 bands) or 's1' "
                             f"(Sentinel-1 VV/VH in dB), got {options.get('modality')!r}")
        self.modality = modality
        self.field, self.bands = MODALITIES[modality][:2]
        super().__init__(spec, device=device, **options)

    def build_network(self, config):
        return OlmoEarthEncoder(config)

    def checkpoint_layout(self):
        return "encoder.", set_aside_prefixes()

    def default_sensor(self) -> SensorSpec:
        return SENSORS[self.modality]

    def check_backend(self, backend: str) -> None:
        if self.modality == "s1" and backend != "gee":
            raise ProviderError(
                f"olmoearth modality='s1' needs Sentinel-1 GRD (VV, VH in dB, {S1_COLLECTION}), which only the "
                f"'gee' backend serves; backend {backend!r} cannot. Use backend='gee', pass your own dB data "
                f"(input_chw / get_embedding_from_data with bands VV, VH), or modality='s2'")

    # -- input ------------------------------------------------------------------------------
    def preprocess(self, patch: Patch) -> np.ndarray:
        sel = self.frame_policy.select(patch)
        x = normalise(fill_with_frame_mean(self.require_bands(patch, self.bands)[sel.used]), self.modality)
        return x.reshape(-1, *x.shape[-2:])

    def side_inputs(self, patch: Patch, n_tiles: int, input_prep: str) -> dict[str, np.ndarray]:
        side = self.frame_side_inputs(patch, input_prep)
        del side["masked"]  # empty frames are dropped, never masked
        return self.per_tile(side, n_tiles)

    def forward_batch(self, x, side):
        b, tc, s, _ = x.shape
        c = len(self.bands)
        frames = x.reshape(b, tc // c, c, s, s).permute(0, 3, 4, 1, 2)              # (B, S, S, T, C)
        tok = self.model({self.field: frames}, side["months"].long(), self.patch_size,
                         input_res=side["input_res"])[self.field]                  # (B, h, w, T, S, D)
        return tok.mean(dim=(3, 4)).flatten(1, 2), None

    def flops_per_input(self, x, side) -> float:
        """FLOPs of one sample of a model-input batch ``x`` (for the benchmark)."""
        frames = x.shape[1] // len(self.bands)
        band_sets = 3 if self.modality == "s2" else 1
        return self.model.flops_per_sample(frames * band_sets * (self.image_size // self.patch_size) ** 2)

    def extra_meta(self, patch: Patch, side) -> dict[str, Any]:
        _, _, mean, std = MODALITIES[self.modality]
        return {
            "modality": self.modality, "bands": list(self.bands), **self.frame_meta(patch, side),
            "normalization": "(x - (mean - 2 std)) / (4 std), OlmoEarth pretraining statistics (computed.json)",
            "norm_mean": list(mean), "norm_std": list(std),
            "grid_semantics": "patch tokens averaged over frames and band sets",
            "grid_time_reduction": "mean over frames and band sets",
        }
