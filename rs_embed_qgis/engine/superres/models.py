"""What the tiled raster path runs: a learned S2x10NetS or a named interpolation baseline.

Every super-resolver maps a (B, C, h, w) float32 tensor to (B, C, 10h, 10w),
knows how far its receptive field reaches (for tiling) and describes itself for
the output file's tags, including whether its weights are a user's file, random
(marked, for testing only) or not needed (a baseline).
"""
from __future__ import annotations

import contextlib
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from ..device import resolve_device
from ..errors import ModelError, SpecError
from .decoder import FULL_CONFIG, S2_BANDS, SCALE, S2x10Config, S2x10NetS

BASELINES = ("bicubic", "lanczos")
METHODS = ("s2x10",) + BASELINES
#: the learned network's catalog entry (weights sources: your file, RS_EMBED_S2X10_WEIGHTS, the cache)
ENTRY_ID = "s2x10"


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """bf16 (or fp16 where bf16 is unsupported) on a GPU, fp32 on CPU, unless told otherwise
    (``engine/precision.py``'s rules: bf16 also runs on a CPU, natively where it has AVX512-BF16
    or AMX; fp16 is for GPUs)."""
    from ..precision import autocast_dtype as dtype_of
    from ..precision import resolve_precision

    if precision not in ("auto", "fp32", "bf16", "fp16"):
        raise SpecError(f"precision must be 'auto', 'fp32', 'bf16' or 'fp16', got {precision!r}")
    if precision == "auto":
        precision = "fp32" if device.type == "cpu" else "fast"
    return dtype_of(resolve_precision(precision, str(device)))


class SuperResolver:
    """Base: ``__call__`` maps (B, C, h, w) float32 to (B, C, 10h, 10w) float32."""

    scale: int = SCALE
    name: str = ""
    bands: tuple[str, ...] | None = None   # required input bands in order; None: any
    weights_status: str = "baseline"          # "baseline" | "random" | "user file"
    weights_path: str | None = None
    weights_source: str | None = None      # explicit | env:<VAR> | cache
    device: torch.device = torch.device("cpu")
    precision: torch.dtype | None = None

    def receptive_field_radius(self) -> int:
        raise NotImplementedError

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @property
    def random_weights(self) -> bool:
        return self.weights_status == "random"

    def describe(self) -> dict[str, Any]:
        return {"model": self.name, "scale": self.scale,
                "weights": {"status": self.weights_status, "path": self.weights_path,
                            **({"source": self.weights_source} if self.weights_source else {})},
                "random_weights": self.random_weights, "device": str(self.device),
                "precision": str(self.precision).replace("torch.", "") if self.precision else "fp32",
                "receptive_field_radius": self.receptive_field_radius()}


class InterpolationUpsampler(SuperResolver):
    """A named, weight-free baseline: bicubic (torch, a = -0.75) or Lanczos-3 (separable)."""

    def __init__(self, method: str = "bicubic", device: str | None = "cpu") -> None:
        if method not in BASELINES:
            raise SpecError(f"interpolation method must be one of {BASELINES}, got {method!r}")
        self.method = method
        self.name = f"{method}-x{SCALE} (interpolation baseline, not a learned model)"
        self.device = torch.device(resolve_device(device))

    def receptive_field_radius(self) -> int:
        return 2 if self.method == "bicubic" else 3

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, torch.float32)
        if self.method == "bicubic":
            return F.interpolate(x, scale_factor=SCALE, mode="bicubic", align_corners=False)
        mh = _lanczos_matrix(x.shape[-2], SCALE).to(self.device)
        mw = _lanczos_matrix(x.shape[-1], SCALE).to(self.device)
        return torch.einsum("ih,bchw,jw->bcij", mh, x, mw)


@lru_cache(maxsize=16)
def _lanczos_matrix(n: int, scale: int, a: int = 3) -> torch.Tensor:
    """(n*scale, n) Lanczos-a resampling matrix; edges replicate, rows sum to 1."""
    out = torch.arange(n * scale, dtype=torch.float64)
    src = (out + 0.5) / scale - 0.5
    base = torch.floor(src)
    m = torch.zeros(n * scale, n, dtype=torch.float64)
    for off in range(-a + 1, a + 1):
        idx = base + off
        d = src - idx
        w = torch.where(d.abs() < a, torch.sinc(d) * torch.sinc(d / a), torch.zeros_like(d))
        m.index_put_((torch.arange(n * scale), idx.clamp(0, n - 1).long()), w, accumulate=True)
    m /= m.sum(1, keepdim=True)
    return m.float()


class LearnedUpsampler(SuperResolver):
    """:class:`S2x10NetS` on reflectance: input / ``input_scale`` in, output * ``input_scale`` out."""

    bands = S2_BANDS

    def __init__(self, net: S2x10NetS, *, weights_status: str, weights_path: str | None = None,
                 device: str | None = "cpu", precision: str = "auto",
                 input_scale: float = 10000.0) -> None:
        if weights_status not in ("random", "user file"):
            raise ModelError(f"weights_status must be 'random' or 'user file', got {weights_status!r}")
        if not input_scale or not math.isfinite(input_scale):
            raise SpecError(f"input_scale must be a finite non-zero number, got {input_scale!r}")
        self.device = torch.device(resolve_device(device))
        # channels-last: the convs' fastest layout on oneDNN (CPU) and tensor cores (GPU)
        self.net = net.to(self.device).eval().to(memory_format=torch.channels_last)
        self.precision = autocast_dtype(self.device, precision)
        self.weights_status = weights_status
        self.weights_path = weights_path
        self.input_scale = float(input_scale)
        c = net.config
        self.name = "s2x10nets" + ("" if c == FULL_CONFIG else f"[{c.num_block}x{c.num_feat}]")
        if c.in_bands != len(S2_BANDS) or c.out_bands != len(S2_BANDS):
            self.bands = None

    def receptive_field_radius(self) -> int:
        return self.net.receptive_field_radius()

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, torch.float32) / self.input_scale
        x = x.contiguous(memory_format=torch.channels_last)
        ctx = (torch.autocast(self.device.type, dtype=self.precision) if self.precision
               else contextlib.nullcontext())
        with ctx:
            y = self.net(x)
        return (y.float() * self.input_scale).contiguous()

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["config"] = self.net.config.to_dict()
        d["input_scale"] = self.input_scale
        return d


def load_superres_model(method: str = "s2x10", *, weights: str | Path | None = None,
                        random_weights: bool = False, device: str | None = "auto",
                        precision: str = "auto", config: S2x10Config | None = None,
                        up_scales: tuple[int, ...] | None = None, input_scale: float = 10000.0,
                        seed: int = 0) -> SuperResolver:
    """The super-resolver the raster path runs.

    ``method="s2x10"`` needs ``weights`` (a .safetensors file or a folder of
    chunks; else the catalog's sources: ``RS_EMBED_S2X10_WEIGHTS``, then the cache
    folder ``<cache>/weights/s2x10/``) unless ``random_weights=True`` (for testing
    plumbing; outputs are marked random). ``"bicubic"``/``"lanczos"`` are
    interpolation baselines.
    """
    method = str(method).lower()
    if method in BASELINES:
        if weights:
            raise SpecError(f"method {method!r} is an interpolation baseline and takes no weights, "
                            f"got weights={str(weights)!r}")
        return InterpolationUpsampler(method, device=device)
    if method != "s2x10":
        raise SpecError(f"method must be one of {METHODS}, got {method!r}")
    from ..catalog import get_entry
    from ..weights import cache_path, resolve_weights

    spec = get_entry(ENTRY_ID).weights
    found = None
    if weights or not random_weights:
        found = resolve_weights(ENTRY_ID, spec, str(weights) if weights else None)
    if found is not None and found.path is not None:
        from .loader import load_s2x10_from_chunks

        net = load_s2x10_from_chunks(found.path, config=config, up_scales=up_scales)
        m = LearnedUpsampler(net, weights_status="user file", weights_path=str(found.path),
                             device=device, precision=precision, input_scale=input_scale)
        m.weights_source = found.source
        return m
    if not random_weights:
        raise ModelError(
            "the learned S2x10 model needs weights you provide (weights=<.safetensors file or folder of "
            f"chunks>, {spec.env_var}, or chunks in the folder {str(cache_path(ENTRY_ID, spec))!r}); no "
            "public weights exist to download. Use method 'bicubic' or 'lanczos' for an interpolation "
            "baseline, or random_weights=True to test the plumbing (output marked random).")
    torch.manual_seed(seed)
    net = S2x10NetS(config or FULL_CONFIG)
    return LearnedUpsampler(net, weights_status="random", device=device, precision=precision,
                            input_scale=input_scale)
