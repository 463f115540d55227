"""The S2DR3 pipeline of reference/s2dr3-backbone.md: backbone tokens and the 10x decoder.

>>> art = load_pipeline(backbone_ckpt="vit.safetensors", decoder_dir="decoder_chunks/")
>>> pipe = S2DR3Pipeline(art)
>>> sr = pipe.super_resolve(cube)        # (B, 10, 480, 480) -> (B, 10, 4800, 4800)
>>> tok = pipe.extract_tokens(rgb)       # {"cls", "registers", "patch", "grid"}

The decoder consumes the 10-band cube directly (its stem is a 10-band conv);
the backbone serves ``extract_tokens`` only, as in the reference. Either part
may be left out; ``random_weights=True`` builds what has no checkpoint with
random weights, marked so in ``meta``.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..device import resolve_device
from ..errors import ModelError
from .backbone import VIT_L16, BackboneConfig, S2DR3Backbone, load_backbone_from_safetensors
from .decoder import FULL_CONFIG, S2x10Config, S2x10NetS
from .loader import load_s2x10_from_chunks
from .models import autocast_dtype


@dataclass
class S2DR3Artifacts:
    backbone: S2DR3Backbone | None
    decoder: S2x10NetS | None
    device: torch.device
    meta: dict[str, Any] = field(default_factory=dict)


def load_pipeline(backbone_ckpt: str | Path | None = None, decoder_dir: str | Path | None = None,
                  *, device: str | None = "auto", random_weights: bool = False,
                  backbone_config: BackboneConfig = VIT_L16,
                  decoder_config: S2x10Config | None = None,
                  up_scales=None, seed: int = 0) -> S2DR3Artifacts:
    """Load the backbone (safetensors) and the decoder (folder of safetensors chunks), streamed."""
    dev = torch.device(resolve_device(device))
    if backbone_ckpt is None and decoder_dir is None and not random_weights:
        raise ModelError("load_pipeline needs backbone_ckpt and/or decoder_dir (your checkpoints), "
                         "or random_weights=True to build random networks for testing")
    weights: dict[str, Any] = {}
    backbone = decoder = None
    if backbone_ckpt is not None:
        backbone = load_backbone_from_safetensors(backbone_ckpt, device=dev)
        weights["backbone"] = {"status": "user file", "path": str(backbone_ckpt)}
    elif random_weights:
        torch.manual_seed(seed)
        backbone = S2DR3Backbone(backbone_config).to(dev).eval()
        weights["backbone"] = {"status": "random", "path": None}
    if decoder_dir is not None:
        decoder = load_s2x10_from_chunks(decoder_dir, config=decoder_config, up_scales=up_scales, device=dev)
        weights["decoder"] = {"status": "user file", "path": str(decoder_dir)}
    elif random_weights:
        torch.manual_seed(seed + 1)
        decoder = S2x10NetS(decoder_config or FULL_CONFIG).to(dev).eval()
        weights["decoder"] = {"status": "random", "path": None}
    random = any(w["status"] == "random" for w in weights.values())
    meta = {"weights": weights, "random_weights": random,
            "backbone_config": backbone.config.to_dict() if backbone is not None else None,
            "decoder_config": decoder.config.to_dict() if decoder is not None else None}
    return S2DR3Artifacts(backbone=backbone, decoder=decoder, device=dev, meta=meta)


class S2DR3Pipeline:
    def __init__(self, artifacts: S2DR3Artifacts, *, precision: str = "auto") -> None:
        self.artifacts = artifacts
        self.device = artifacts.device
        self.dtype = autocast_dtype(self.device, precision)
        self.meta = artifacts.meta

    def _autocast(self):
        return (torch.autocast(self.device.type, dtype=self.dtype) if self.dtype
                else contextlib.nullcontext())

    @torch.no_grad()
    def super_resolve(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 10, H, W) model-scaled reflectance -> (B, 10, 10H, 10W), float32."""
        dec = self.artifacts.decoder
        if dec is None:
            raise ModelError("this pipeline was loaded without a decoder (pass decoder_dir=...)")
        x = torch.as_tensor(x)
        with self._autocast():
            y = dec(x.to(self.device, torch.float32))
        return y.float()

    @torch.no_grad()
    def extract_tokens(self, rgb: torch.Tensor, masks: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        bb = self.artifacts.backbone
        if bb is None:
            raise ModelError("this pipeline was loaded without a backbone (pass backbone_ckpt=...)")
        with self._autocast():
            out = bb.extract_tokens(torch.as_tensor(rgb).to(self.device, torch.float32), masks)
        return {k: v.float() for k, v in out.items()}
