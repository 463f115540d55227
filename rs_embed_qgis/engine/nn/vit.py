"""Shared Vision Transformer pieces in plain torch, named as in timm and MAE code.

The parameter names (``patch_embed.proj``, ``blocks.N.norm1``, ``blocks.N.attn.qkv``,
``blocks.N.attn.proj``, ``blocks.N.mlp.fc1`` ...) are those of
``timm.models.vision_transformer`` that the MAE family (SatMAE, SatMAE++,
ScaleMAE, Prithvi) builds on, so their official checkpoints load unchanged.
Attention runs through ``F.scaled_dot_product_attention`` (fused kernels on
CPU and GPU). Also the fixed sin-cos position encodings of MAE, ScaleMAE (scaled
by ground sample distance) and Prithvi (3D), written from their definitions.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ViTConfig:
    """The shape of a plain ViT encoder (timm's ``VisionTransformer`` arguments); models with
    more settings extend it."""

    img_size: int = 224
    patch_size: int = 16
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class Mlp(nn.Module):
    """``fc1`` -> GELU -> ``fc2`` (timm's Mlp)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    """Multi-head self-attention with one ``qkv`` projection (timm's Attention)."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, proj_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim, bias=proj_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm1(x))``, ``x + mlp(norm2(x))``."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, eps: float = 1e-6) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    """Non-overlapping ``p x p`` patches -> tokens ``(B, L, D)`` (timm's PatchEmbed)."""

    def __init__(self, img_size: int, patch_size: int, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.img_size, self.patch_size = img_size, patch_size
        self.grid = img_size // patch_size
        self.num_patches = self.grid * self.grid
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


# -- fixed sin-cos encodings ---------------------------------------------------------------
def sincos_1d(dim: int, pos: torch.Tensor, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``(M,)`` positions -> ``(M, dim)``: sin of ``pos * 10000^(-2i/dim)`` then cos (MAE).

    ``dtype`` is the precision the official code computes in: float64 (numpy) for
    MAE's fixed tables, float32 (torch) for ScaleMAE's and Prithvi's run-time ones.
    """
    if dim % 2:
        raise ValueError(f"sin-cos dimension must be even, got {dim}")
    omega = torch.arange(dim // 2, dtype=dtype, device=pos.device) / (dim / 2.0)
    omega = 1.0 / (10000 ** omega)
    out = pos.reshape(-1).to(dtype)[:, None] * omega[None]
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1).float()


def sincos_2d(dim: int, grid: int, *, cls_token: bool = False,
              res: torch.Tensor | None = None) -> torch.Tensor:
    """MAE's 2D encoding of a ``grid x grid`` token layout, row-major.

    The first half of the channels encodes the column (x), the second the row (y),
    as MAE's ``get_2d_sincos_pos_embed`` does. With ``res`` (``(N,)`` ground sample
    distances) positions are multiplied by the resolution as in ScaleMAE's
    ``get_2d_sincos_pos_embed_with_resolution``; the result is then ``(N, L, dim)``.
    """
    ys, xs = torch.meshgrid(torch.arange(grid, dtype=torch.float64),
                            torch.arange(grid, dtype=torch.float64), indexing="ij")
    if res is None:
        emb = torch.cat([sincos_1d(dim // 2, xs), sincos_1d(dim // 2, ys)], dim=1)
        if cls_token:
            emb = torch.cat([torch.zeros(1, dim), emb], dim=0)
        return emb
    r = res.detach().to("cpu", torch.float32).reshape(-1)
    n = r.shape[0]
    f32 = torch.float32
    ex = sincos_1d(dim // 2, r[:, None] * xs.reshape(1, -1).to(f32), f32).reshape(n, grid * grid, dim // 2)
    ey = sincos_1d(dim // 2, r[:, None] * ys.reshape(1, -1).to(f32), f32).reshape(n, grid * grid, dim // 2)
    emb = torch.cat([ex, ey], dim=2)
    if cls_token:
        emb = torch.cat([torch.zeros(n, 1, dim), emb], dim=1)
    return emb


def sincos_3d(dim: int, grid: tuple[int, int, int], *, cls_token: bool = False) -> torch.Tensor:
    """Prithvi's 3D encoding for ``(t, h, w)``: 6/16 of channels for x, 6/16 y, 4/16 t."""
    if dim % 16:
        raise ValueError(f"3D sin-cos dimension must be a multiple of 16, got {dim}")
    t, h, w = grid
    wd, hd, td = dim // 16 * 6, dim // 16 * 6, dim // 16 * 4
    tt, hh, ww = torch.meshgrid(torch.arange(t), torch.arange(h), torch.arange(w), indexing="ij")
    emb = torch.cat([sincos_1d(wd, ww.reshape(-1)), sincos_1d(hd, hh.reshape(-1)),
                     sincos_1d(td, tt.reshape(-1))], dim=1)
    if cls_token:
        emb = torch.cat([torch.zeros(1, dim), emb], dim=0)
    return emb


# -- forward cost, for the benchmark ---------------------------------------------------------
def vit_flops(tokens: int, width: int, depth: int, mlp_ratio: float = 4.0) -> float:
    """Multiply-add FLOPs (x2) of ``depth`` transformer blocks on ``tokens`` tokens."""
    n, d = tokens, width
    per_block = 2 * n * d * 3 * d + 2 * n * n * d * 2 + 2 * n * d * d + 2 * 2 * n * d * int(d * mlp_ratio)
    return float(depth * per_block)


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
