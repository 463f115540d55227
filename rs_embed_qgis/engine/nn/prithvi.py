"""Prithvi-EO-2.0 encoder (IBM/NASA ``PrithviViT`` of ``prithvi_mae.py``) in plain torch.

Key names are those under ``encoder.`` in the official files
(``Prithvi_EO_V2_300M_TL.pt`` ...): ``patch_embed.proj`` (a Conv3d over
``(t, h, w)`` patches of ``(1, 16, 16)``), ``cls_token``, ``pos_embed`` (the fixed
3D sin-cos table stored as a buffer), ``temporal_embed_enc.scale`` and
``location_embed_enc.scale`` (the learned weights of the time and location
encodings of the -TL models), ``blocks.N.*`` (timm blocks, LayerNorm eps 1e-5)
and ``norm``. The MAE decoder (``decoder.*``) is only used in pretraining.

Side inputs, as in the official code: per frame ``(year, day of year)`` and per
sample ``(lat, lon)``, each encoded with 1D sin-cos tables (float32) scaled by
the learned weight and added to the patch tokens.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .vit import Block, sincos_1d, sincos_3d, vit_flops


@dataclass(frozen=True)
class PrithviConfig:
    img_size: int = 224
    patch_size: tuple[int, int, int] = (1, 16, 16)
    num_frames: int = 4
    in_chans: int = 6
    embed_dim: int = 1024
    depth: int = 24
    num_heads: int = 16
    mlp_ratio: float = 4.0
    coords_encoding: tuple[str, ...] = ("time", "location")
    coords_scale_learn: bool = True

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


#: ``pretrained_cfg`` of the official ``config.json`` files (encoder part); the same as
#: terratorch's ``prithvi_eo_v2_{100,300,600}_tl`` (the 600M model has 14 px patches)
PRITHVI_CONFIGS: dict[str, PrithviConfig] = {
    "300M": PrithviConfig(embed_dim=1024, depth=24, num_heads=16),
    "100M": PrithviConfig(embed_dim=768, depth=12, num_heads=12),
    "600M": PrithviConfig(embed_dim=1280, depth=32, num_heads=16, patch_size=(1, 14, 14)),
}


class _CoordEncoder(nn.Module):
    """``scale * [sincos(a), sincos(b)]``, half the channels each (Temporal/LocationEncoder)."""

    def __init__(self, dim: int, learn: bool) -> None:
        super().__init__()
        self.dim = dim
        if learn:
            self.scale = nn.Parameter(torch.full((1,), 0.1))
        else:
            self.register_buffer("scale", torch.ones(1))

    def encode(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        da = self.dim // 2
        f32 = torch.float32
        ea = sincos_1d(da, a.reshape(-1), f32).to(a.device)
        eb = sincos_1d(self.dim - da, b.reshape(-1), f32).to(a.device)
        return self.scale * torch.cat([ea, eb], dim=-1)


class PrithviEncoder(nn.Module):
    """The Prithvi-EO-2.0 ViT encoder; state-dict keys are those after ``encoder.``."""

    def __init__(self, cfg: PrithviConfig = PRITHVI_CONFIGS["300M"]) -> None:
        super().__init__()
        self.cfg = cfg
        pt, ph, pw = cfg.patch_size
        if pt != 1 and "time" in cfg.coords_encoding:
            raise ValueError(f"temporal encoding needs a time patch size of 1, got {pt}")
        self.grid = (cfg.num_frames // pt, cfg.img_size // ph, cfg.img_size // pw)
        d = cfg.embed_dim
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv3d(cfg.in_chans, d, kernel_size=cfg.patch_size, stride=cfg.patch_size)
        self.temporal = "time" in cfg.coords_encoding
        self.location = "location" in cfg.coords_encoding
        if self.temporal:
            self.temporal_embed_enc = _CoordEncoder(d, cfg.coords_scale_learn)
        if self.location:
            self.location_embed_enc = _CoordEncoder(d, cfg.coords_scale_learn)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.register_buffer("pos_embed", sincos_3d(d, self.grid, cls_token=True)[None])
        self.blocks = nn.ModuleList([Block(d, cfg.num_heads, cfg.mlp_ratio, eps=1e-5) for _ in range(cfg.depth)])
        self.norm = nn.LayerNorm(d)
        nn.init.normal_(self.cls_token, std=0.02)

    def _pos_embed(self, t: int, h: int, w: int) -> torch.Tensor:
        """The position table for a ``(t, h, w)`` token grid, as the official code makes it:
        another frame count recomputes the fixed 3D table for ``t`` frames; another image
        size interpolates the table's spatial part (bicubic, corners aligned)."""
        if (t, h, w) == self.grid:
            return self.pos_embed
        _, gh, gw = self.grid
        d = self.cfg.embed_dim
        table = self.pos_embed
        if t != self.grid[0]:
            table = sincos_3d(d, (t, gh, gw), cls_token=True)[None].to(self.pos_embed)
        if (h, w) == (gh, gw):
            return table
        cls, grid = table[:, :1], table[:, 1:].reshape(t, gh, gw, d).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=True)
        return torch.cat([cls, grid.permute(0, 2, 3, 1).reshape(1, -1, d)], dim=1)

    def forward(self, x: torch.Tensor, temporal_coords: torch.Tensor | None = None,
                location_coords: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, C, T, H, W)`` normalised -> tokens ``(B, 1 + T*h*w, D)`` (class token first).

        ``temporal_coords``: ``(B, T, 2)`` year and day of year; ``location_coords``:
        ``(B, 2)`` latitude and longitude in degrees.
        """
        if x.ndim == 4:
            x = x.unsqueeze(2)
        x = self.patch_embed.proj(x)
        _, _, t, h, w = x.shape
        x = x.flatten(2).transpose(1, 2)
        pos = self._pos_embed(t, h, w)
        x = x + pos[:, 1:]
        if self.temporal and temporal_coords is not None:
            b = temporal_coords.shape[0]
            enc = self.temporal_embed_enc.encode(temporal_coords[..., 0], temporal_coords[..., 1])
            x = x + enc.reshape(b, t, -1).repeat_interleave(h * w, dim=1)
        if self.location and location_coords is not None:
            enc = self.location_embed_enc.encode(location_coords[:, 0], location_coords[:, 1])
            x = x + enc[:, None, :]
        cls = (self.cls_token + pos[:, :1]).expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

    def flops_per_sample(self, frames: int) -> float:
        c = self.cfg
        n = frames * self.grid[1] * self.grid[2]
        patch = 2 * n * c.in_chans * c.patch_size[0] * c.patch_size[1] * c.patch_size[2] * c.embed_dim
        return vit_flops(n + 1, c.embed_dim, c.depth, c.mlp_ratio) + patch
