"""MAE-style ViT encoders of SatMAE (Cong et al. 2022) and SatMAE++ (Noman et al. 2024).

``MAEEncoder`` is the encoder half of MAE's ``MaskedAutoencoderViT`` as SatMAE
and SatMAE++ use it for fMoW-RGB: keys ``patch_embed.proj``, ``cls_token``,
``pos_embed`` (fixed 2D sin-cos, stored as a parameter), ``blocks.N.*``, ``norm``.

``GroupChannelEncoder`` is the encoder half of ``MaskedAutoencoderGroupChannelViT``
(the multispectral Sentinel-2 models): one ``patch_embed.G.proj`` per channel
group, ``pos_embed`` of width ``embed_dim - channel_embed`` concatenated with a
fixed per-group ``channel_embed``; tokens of all groups go through the same
blocks, so a ``(G*L)`` token sequence comes out.

The decoder keys of the official pretraining checkpoints (``decoder_*``,
``mask_token``, SatMAE++'s ``proj_up_*``/``up_block*``) are not part of the encoder.
At inference no token is masked and, unlike ``forward_encoder(mask_ratio=0)``,
tokens are not shuffled, so token ``i`` is patch ``i`` in row-major order.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .vit import Block, PatchEmbed, ViTConfig, sincos_1d, sincos_2d, vit_flops

#: prefixes of pretraining-only keys in the official SatMAE/SatMAE++/ScaleMAE files
MAE_DECODER_PREFIXES: tuple[str, ...] = (
    "decoder_", "mask_token", "proj_up_", "up_block", "fpn.", "fcn", "pos_emb_projection")


@dataclass(frozen=True)
class MAEConfig(ViTConfig):
    """MAE's ViT-L by default."""

    embed_dim: int = 1024
    depth: int = 24
    num_heads: int = 16
    in_chans: int = 3


@dataclass(frozen=True)
class GroupChannelConfig(MAEConfig):
    """SatMAE's group-channel ViT-L (multispectral, 96 px, patch 8)."""

    img_size: int = 96
    patch_size: int = 8
    in_chans: int = 10
    channel_groups: tuple[tuple[int, ...], ...] = ((0, 1, 2, 6), (3, 4, 5, 7), (8, 9))
    channel_embed: int = 256


class MAEEncoder(nn.Module):
    """Encoder of MAE's ``MaskedAutoencoderViT`` (LayerNorm eps 1e-6)."""

    def __init__(self, cfg: MAEConfig = MAEConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.embed_dim
        self.patch_embed = PatchEmbed(cfg.img_size, cfg.patch_size, cfg.in_chans, d)
        self.grid = self.patch_embed.grid
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(sincos_2d(d, self.grid, cls_token=True)[None], requires_grad=False)
        self.blocks = nn.ModuleList([Block(d, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.depth)])
        self.norm = nn.LayerNorm(d, eps=1e-6)
        nn.init.normal_(self.cls_token, std=0.02)

    def position(self, x: torch.Tensor, **_: object) -> torch.Tensor:
        return self.pos_embed

    def forward(self, x: torch.Tensor, **side: object) -> torch.Tensor:
        """``(B, C, S, S)`` normalised -> tokens ``(B, 1 + L, D)`` (class token first)."""
        pos = self.position(x, **side)
        x = self.patch_embed(x) + pos[:, 1:]
        cls = (self.cls_token + pos[:, :1]).expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

    def flops_per_image(self) -> float:
        c = self.cfg
        n = self.grid * self.grid
        embed = 2 * n * c.in_chans * c.patch_size ** 2 * c.embed_dim
        return vit_flops(n + 1, c.embed_dim, c.depth, c.mlp_ratio) + embed


class GroupChannelEncoder(nn.Module):
    """Encoder of ``MaskedAutoencoderGroupChannelViT`` (SatMAE / SatMAE++ multispectral)."""

    def __init__(self, cfg: GroupChannelConfig = GroupChannelConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        d, groups = cfg.embed_dim, cfg.channel_groups
        self.patch_embed = nn.ModuleList(
            [PatchEmbed(cfg.img_size, cfg.patch_size, len(g), d) for g in groups])
        self.grid = self.patch_embed[0].grid
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(
            sincos_2d(d - cfg.channel_embed, self.grid, cls_token=True)[None], requires_grad=False)
        self.channel_embed = nn.Parameter(
            sincos_1d(cfg.channel_embed, torch.arange(len(groups)))[None], requires_grad=False)
        self.blocks = nn.ModuleList([Block(d, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.depth)])
        self.norm = nn.LayerNorm(d, eps=1e-6)
        nn.init.normal_(self.cls_token, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, S, S)`` -> tokens ``(B, 1 + G*L, D)``: class token, then group by group."""
        b = x.shape[0]
        tok = torch.stack([pe(x[:, list(g)]) for pe, g in zip(self.patch_embed, self.cfg.channel_groups, strict=True)],
                          dim=1)  # (B, G, L, D)
        _, g, n, _ = tok.shape
        pos = self.pos_embed[:, 1:].unsqueeze(1).expand(-1, g, -1, -1)
        ch = self.channel_embed.unsqueeze(2).expand(-1, -1, n, -1)
        tok = (tok + torch.cat([pos, ch], dim=-1)).reshape(b, g * n, -1)
        x = torch.cat([self.cls_token.expand(b, -1, -1), tok], dim=1)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

    def flops_per_image(self) -> float:
        c = self.cfg
        n = self.grid * self.grid
        return (vit_flops(len(c.channel_groups) * n + 1, c.embed_dim, c.depth, c.mlp_ratio)
                + 2 * n * c.in_chans * c.patch_size ** 2 * c.embed_dim)
