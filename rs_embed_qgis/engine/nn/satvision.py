"""SatVision-TOA encoder (NASA CISTO, nasa-nccs-hpda/pytorch-caney): a Swin Transformer V2
pretrained with SimMIM on MODIS top-of-atmosphere imagery, in plain torch.

Swin V2 as in pytorch-caney's ``models/encoders/swinv2.py``: 4 x 4 patch embedding with
LayerNorm; four stages of shifted-window blocks with *cosine* attention (a learned,
clamped ``logit_scale`` per head), a continuous relative position bias from a small MLP
(``cpb_mlp``) over log-spaced coordinates (``16 * sigmoid``), post-norm residuals
(``x + norm1(attn(x))``, ``x + norm2(mlp(x))``), an extra LayerNorm (``norm3``) after every
``extra_norm_period``-th block; patch merging between stages; a final ``norm``.

Key names are those under ``encoder.`` of the official DeepSpeed file
``mp_rank_00_model_states.pt`` (``{"module": state_dict}`` of the ``MiMModel``):
``patch_embed.{proj, norm}``, ``layers.S.blocks.B.{norm1, norm2[, norm3], mlp.fc1, mlp.fc2,
attn.{qkv, q_bias, v_bias, proj, logit_scale, cpb_mlp.0, cpb_mlp.2}}``,
``layers.S.downsample.{reduction, norm}``, ``norm``, and the buffers the official module
saves with them (``attn.relative_coords_table``, ``attn.relative_position_index``,
``attn_mask`` of shifted blocks). ``encoder.mask_token`` and the SimMIM ``decoder.*`` only
serve pretraining.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class SwinV2Config:
    img_size: int = 128
    patch_size: int = 4
    in_chans: int = 14
    embed_dim: int = 512
    depths: tuple[int, ...] = (2, 2, 42, 2)
    num_heads: tuple[int, ...] = (16, 32, 64, 128)
    window_size: int = 8
    mlp_ratio: float = 4.0
    extra_norm_period: int = 6
    extra_norm_stage: bool = False

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["depths"], d["num_heads"] = list(self.depths), list(self.num_heads)
        return d

    @property
    def num_features(self) -> int:
        return self.embed_dim * 2 ** (len(self.depths) - 1)

    @property
    def out_grid(self) -> int:
        """Side of the last stage's token grid (4 for 128 px, patch 4, four stages)."""
        return self.img_size // self.patch_size // 2 ** (len(self.depths) - 1)


#: ``mim_pretrain_swinv2_satvision_giant_128`` (the published 3B model)
SATVISION_CONFIGS: dict[str, SwinV2Config] = {"giant": SwinV2Config()}


class _WindowAttention(nn.Module):
    def __init__(self, dim: int, window: int, heads: int) -> None:
        super().__init__()
        self.window, self.heads = window, heads
        self.logit_scale = nn.Parameter(torch.log(10 * torch.ones((heads, 1, 1))))
        self.cpb_mlp = nn.Sequential(nn.Linear(2, 512, bias=True), nn.ReLU(inplace=True),
                                     nn.Linear(512, heads, bias=False))
        rel = torch.arange(-(window - 1), window, dtype=torch.float32)
        table = torch.stack(torch.meshgrid([rel, rel], indexing="ij")).permute(1, 2, 0).contiguous()[None]
        table = table / (window - 1) * 8  # no pretrained_window_size: normalise by the window itself
        table = torch.sign(table) * torch.log2(torch.abs(table) + 1.0) / math.log2(8)
        self.register_buffer("relative_coords_table", table)
        coords = torch.flatten(torch.stack(torch.meshgrid([torch.arange(window)] * 2, indexing="ij")), 1)
        rc = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
        rc[:, :, 0] += window - 1
        rc[:, :, 1] += window - 1
        rc[:, :, 0] *= 2 * window - 1
        self.register_buffer("relative_position_index", rc.sum(-1))
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        bw, n, c = x.shape
        bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))
        # qkv has no bias of its own (q and v biases, no k bias): added after the module runs,
        # so the module may be swapped (dynamic int8 quantisation, engine/precision.py)
        qkv = (self.qkv(x) + bias).reshape(bw, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        scale = torch.clamp(self.logit_scale, max=math.log(1.0 / 0.01)).exp()
        q = F.normalize(qkv[0], dim=-1) * scale
        k = F.normalize(qkv[1], dim=-1)
        table = self.cpb_mlp(self.relative_coords_table).view(-1, self.heads)
        rpb = table[self.relative_position_index.view(-1)].view(n, n, -1).permute(2, 0, 1)
        attn_bias = (16 * torch.sigmoid(rpb))[None]                     # (1, heads, n, n)
        if mask is not None:                                             # (nW, n, n) per window
            nw = mask.shape[0]
            attn_bias = (attn_bias + mask[:, None]).repeat(bw // nw, 1, 1, 1)
        out = F.scaled_dot_product_attention(q, k, qkv[2], attn_mask=attn_bias.to(q.dtype), scale=1.0)
        return self.proj(out.transpose(1, 2).reshape(bw, n, c))


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


def _windows(x: torch.Tensor, w: int) -> torch.Tensor:
    b, h, wd, c = x.shape
    return x.view(b, h // w, w, wd // w, w, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, w * w, c)


def _unwindows(win: torch.Tensor, w: int, h: int, wd: int) -> torch.Tensor:
    b = win.shape[0] // ((h // w) * (wd // w))
    return win.view(b, h // w, wd // w, w, w, -1).permute(0, 1, 3, 2, 4, 5).reshape(b, h, wd, -1)


class _SwinBlock(nn.Module):
    def __init__(self, dim: int, res: int, heads: int, window: int, shift: int, mlp_ratio: float,
                 extra_norm: bool) -> None:
        super().__init__()
        if res <= window:  # a window larger than the map: one window, no shift
            window, shift = res, 0
        self.res, self.window, self.shift = res, window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = _WindowAttention(dim, window, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim) if extra_norm else nn.Identity()
        self.mlp = _Mlp(dim, int(dim * mlp_ratio))
        mask = None
        if shift > 0:
            img = torch.zeros((1, res, res, 1))
            cuts = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
            for i, (hs, ws) in enumerate((hs, ws) for hs in cuts for ws in cuts):
                img[:, hs, ws, :] = i
            mw = _windows(img, window).squeeze(-1)
            mask = mw[:, None, :] - mw[:, :, None]
            mask = mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)
        self.register_buffer("attn_mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        h = self.res
        y = x.view(b, h, h, c)
        if self.shift:
            y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(1, 2))
        y = _unwindows(self.attn(_windows(y, self.window), self.attn_mask), self.window, h, h)
        if self.shift:
            y = torch.roll(y, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + self.norm1(y.reshape(b, n, c))
        x = x + self.norm2(self.mlp(x))
        return self.norm3(x)


class _PatchMerging(nn.Module):
    def __init__(self, res: int, dim: int) -> None:
        super().__init__()
        self.res = res
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(2 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        x = x.view(b, self.res, self.res, c)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.norm(self.reduction(x.view(b, -1, 4 * c)))


class _Stage(nn.Module):
    def __init__(self, cfg: SwinV2Config, i: int) -> None:
        super().__init__()
        dim = cfg.embed_dim * 2 ** i
        res = cfg.img_size // cfg.patch_size // 2 ** i
        depth = cfg.depths[i]

        def has_extra_norm(j: int) -> bool:
            k = j + 1
            if cfg.extra_norm_period and k % cfg.extra_norm_period == 0:
                return True
            return k == depth if cfg.extra_norm_stage else False

        self.blocks = nn.ModuleList(
            _SwinBlock(dim, res, cfg.num_heads[i], cfg.window_size,
                       0 if j % 2 == 0 else cfg.window_size // 2, cfg.mlp_ratio, has_extra_norm(j))
            for j in range(depth))
        self.downsample = _PatchMerging(res, dim) if i < len(cfg.depths) - 1 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x)
        return self.downsample(x) if self.downsample is not None else x


class _PatchEmbed(nn.Module):
    def __init__(self, cfg: SwinV2Config) -> None:
        super().__init__()
        self.proj = nn.Conv2d(cfg.in_chans, cfg.embed_dim, kernel_size=cfg.patch_size, stride=cfg.patch_size)
        self.norm = nn.LayerNorm(cfg.embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x).flatten(2).transpose(1, 2))


class SatVisionEncoder(nn.Module):
    """SatVision-TOA Swin V2; state-dict keys are those after ``encoder.`` (without ``mask_token``)."""

    def __init__(self, cfg: SwinV2Config = SATVISION_CONFIGS["giant"]) -> None:
        super().__init__()
        self.cfg = cfg
        self.patch_embed = _PatchEmbed(cfg)
        self.layers = nn.ModuleList(_Stage(cfg, i) for i in range(len(cfg.depths)))
        self.norm = nn.LayerNorm(cfg.num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, S, S)`` -> last-stage tokens after ``norm``, ``(B, g*g, num_features)`` row-major."""
        if x.shape[-2:] != (self.cfg.img_size, self.cfg.img_size):
            raise ValueError(f"SatVision needs {self.cfg.img_size} px inputs, got {tuple(x.shape[-2:])}")
        x = self.patch_embed(x)
        for stage in self.layers:
            x = stage(x)
        return self.norm(x)

    def flops_per_image(self) -> float:
        """Multiply-add FLOPs (x2) of the matrix products (windowed attention included)."""
        cfg, total = self.cfg, 0.0
        g = cfg.img_size // cfg.patch_size
        total += 2.0 * g * g * cfg.embed_dim * cfg.in_chans * cfg.patch_size ** 2
        for i, depth in enumerate(cfg.depths):
            dim, res = cfg.embed_dim * 2 ** i, g // 2 ** i
            n, w = res * res, min(cfg.window_size, res)
            per_block = 2 * n * dim * 4 * dim + 2 * 2 * n * w * w * dim + 2 * 2 * n * dim * int(dim * cfg.mlp_ratio)
            total += depth * per_block
            if i < len(cfg.depths) - 1:
                total += 2 * (n // 4) * 4 * dim * 2 * dim
        return float(total)
