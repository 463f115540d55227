"""WildSAT (Daroya et al. 2025) satellite model in plain torch, with the parameter names
of the upstream ``SingleTaskModel`` (github cvl-umass/wildsat ``models/get_model.py``):
``backbone`` is torchvision's ``vit_b_16`` (its 1000-way ``heads`` kept, as WildSAT
fine-tunes it) and ``decoder`` the three bias-free linear maps of ``ThreeLinearModel``
from the backbone's 1000-d output into WildSAT's shared spaces: ``backbone1`` text,
``backbone2`` location (SINR), ``backbone3`` image. The checkpoint's
``satellite_state_dict`` loads unchanged (after the ``module.`` prefix of its
data-parallel training, which the upstream quickstart strips too).

torchvision names: ``class_token``, ``conv_proj``, ``encoder.pos_embedding``,
``encoder.layers.encoder_layer_N.{ln_1, self_attention.in_proj_weight/in_proj_bias/
out_proj, ln_2, mlp.0, mlp.3}``, ``encoder.ln``, ``heads.head``; LayerNorm eps 1e-6.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .vit import vit_flops

#: the decoder's output spaces, in ThreeLinearModel's order
HEADS = {"text": "backbone1", "location": "backbone2", "image": "backbone3"}


@dataclass(frozen=True)
class WildSATViTConfig:
    image_size: int = 224
    patch_size: int = 16
    hidden_dim: int = 768
    num_layers: int = 12
    num_heads: int = 12
    mlp_dim: int = 3072
    num_classes: int = 1000   # torchvision's ImageNet head, which WildSAT keeps and tunes
    embed_dim: int = 256      # WildSAT's common embedding space (opt.common_embed_dim)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class SelfAttention(nn.Module):
    """``nn.MultiheadAttention``'s parameters (packed q, k, v projection) on fused attention."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias).reshape(b, n, 3, self.heads, c // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        return self.out_proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, c))


class EncoderBlock(nn.Module):
    def __init__(self, cfg: WildSATViTConfig) -> None:
        super().__init__()
        d = cfg.hidden_dim
        self.ln_1 = nn.LayerNorm(d, eps=1e-6)
        self.self_attention = SelfAttention(d, cfg.num_heads)
        self.ln_2 = nn.LayerNorm(d, eps=1e-6)
        # indices as torchvision's MLPBlock: 0 Linear, 1 GELU, 2 Dropout, 3 Linear
        self.mlp = nn.Sequential(nn.Linear(d, cfg.mlp_dim), nn.GELU(), nn.Identity(), nn.Linear(cfg.mlp_dim, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attention(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Encoder(nn.Module):
    def __init__(self, cfg: WildSATViTConfig, seq_len: int) -> None:
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, seq_len, cfg.hidden_dim).normal_(std=0.02))
        self.layers = nn.Sequential()
        for i in range(cfg.num_layers):
            self.layers.add_module(f"encoder_layer_{i}", EncoderBlock(cfg))
        self.ln = nn.LayerNorm(cfg.hidden_dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ln(self.layers(x + self.pos_embedding))


class TorchvisionViT(nn.Module):
    """torchvision's ``VisionTransformer``: ``(B, 3, 224, 224)`` -> tokens after ``encoder.ln``."""

    def __init__(self, cfg: WildSATViTConfig) -> None:
        super().__init__()
        self.grid = cfg.image_size // cfg.patch_size
        self.class_token = nn.Parameter(torch.zeros(1, 1, cfg.hidden_dim))
        self.conv_proj = nn.Conv2d(3, cfg.hidden_dim, kernel_size=cfg.patch_size, stride=cfg.patch_size)
        self.encoder = Encoder(cfg, self.grid * self.grid + 1)
        self.heads = nn.Sequential()
        self.heads.add_module("head", nn.Linear(cfg.hidden_dim, cfg.num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_proj(x).flatten(2).transpose(1, 2)
        return self.encoder(torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1))


class WildSATSatelliteModel(nn.Module):
    """Returns the tokens ``(B, 1 + L, 768)``, the backbone output ``(B, 1000)`` (what
    upstream calls ``feats``) and the three decoder outputs ``(B, 256)`` by name."""

    def __init__(self, cfg: WildSATViTConfig = WildSATViTConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = TorchvisionViT(cfg)
        self.decoder = nn.Module()
        for name in HEADS.values():
            self.decoder.add_module(name, nn.Sequential(nn.Linear(cfg.num_classes, cfg.embed_dim, bias=False)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        tokens = self.backbone(x)
        feats = self.backbone.heads(tokens[:, 0])
        return tokens, feats, {k: getattr(self.decoder, v)(feats) for k, v in HEADS.items()}

    def flops_per_image(self) -> float:
        c = self.cfg
        n = self.backbone.grid ** 2
        return (vit_flops(n + 1, c.hidden_dim, c.num_layers, c.mlp_dim / c.hidden_dim)
                + 2 * n * 3 * c.patch_size ** 2 * c.hidden_dim)
