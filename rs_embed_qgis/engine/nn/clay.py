"""Clay v1.5 encoder (Clay-foundation/model, ``claymodel/model.py`` ``Encoder``) in plain torch.

Clay is a masked autoencoder whose encoder sees one chip of any sensor together with
its metadata:

- a *dynamic patch embedding* (after DOFA): a one-layer transformer turns each band's
  central wavelength (micrometres) into that band's 8 x 8 x D kernel, plus one bias;
- a 2D sin-cos position code of the patch grid whose frequencies are scaled by the
  ground sample distance (``posemb_sincos_2d_with_gsd``), on D - 8 channels;
- the last 8 channels carry ``[sin, cos]`` of the week of year and hour of day and of
  latitude and longitude (radians), added to every patch token;
- a class token, then a pre-norm transformer (vit-pytorch style: LayerNorm inside the
  attention and feed-forward blocks, bias-free ``to_qkv``/``to_out``) and a final norm.

Key names are those under ``model.encoder.`` of the official Lightning checkpoint
``v1.5/clay-v1.5.ckpt``: ``cls_token``, ``patch_embedding.weight_generator.{weight_tokens,
bias_token, encoder.layers.0.*, fc_weight, fc_bias}``, ``patch_embedding.fclayer.{l1, l2}``,
``transformer.layers.N.0.{norm, to_qkv, to_out}``, ``transformer.layers.N.1.net.{0, 1, 3}``
and ``transformer.norm``. With ``mask_ratio = 0`` and no shuffling (how Clay is used for
embeddings) the masking step keeps every patch in order, so it is left out here.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .vit import vit_flops

WAVE_DIM = 128
LATENT_TOKENS = 128
KERNEL_SCALE = 0.02


@dataclass(frozen=True)
class ClayConfig:
    img_size: int = 256
    patch_size: int = 8
    dim: int = 1024
    depth: int = 24
    heads: int = 16
    dim_head: int = 64
    mlp_ratio: float = 4.0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


#: ``clay_mae_{tiny,small,base,large}`` encoder sizes; v1.5 is published as ``large`` only
CLAY_CONFIGS: dict[str, ClayConfig] = {
    "large": ClayConfig(dim=1024, depth=24, heads=16, dim_head=64, mlp_ratio=4.0),
    "base": ClayConfig(dim=768, depth=12, heads=12, dim_head=64, mlp_ratio=4.0),
    "small": ClayConfig(dim=384, depth=6, heads=6, dim_head=64, mlp_ratio=2.0),
    "tiny": ClayConfig(dim=192, depth=6, heads=4, dim_head=48, mlp_ratio=2.0),
}


def wave_code(wavelengths_um: torch.Tensor, dim: int = WAVE_DIM) -> torch.Tensor:
    """``posemb_sincos_1d``: omega_i = 10000^(-i / (dim/2 - 1)), on micrometres."""
    w = wavelengths_um.reshape(-1).to(torch.float32)
    omega = torch.arange(dim // 2, device=w.device) / (dim // 2 - 1)
    omega = 1.0 / (10000 ** omega)
    x = w[:, None] * omega[None]
    return torch.cat([x.sin(), x.cos()], dim=1).float()


def gsd_position_code(grid: int, dim: int, gsd: torch.Tensor) -> torch.Tensor:
    """``posemb_sincos_2d_with_gsd`` for a ``grid x grid`` patch layout: ``(grid*grid, dim)``."""
    y, x = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    omega = torch.arange(dim // 4) / (dim // 4 - 1)
    omega = 1.0 / (10000 ** (2 * omega / dim)) * (gsd.to(x.device) / 1.0)
    y = y.flatten()[:, None] * omega[None]
    x = x.flatten()[:, None] * omega[None]
    return torch.cat((x.sin(), x.cos(), y.sin(), y.cos()), dim=1).float()


class _FCBlock(nn.Module):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.l1 = nn.Linear(size, size)
        self.l2 = nn.Linear(size, size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + F.gelu(self.l2(F.gelu(self.l1(x))))


class _WavesTransformer(nn.Module):
    def __init__(self, out_dim: int, embed_dim: int) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model=WAVE_DIM, nhead=4, activation="gelu", dropout=0.0,
                                           norm_first=False, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.fc_weight = nn.Linear(WAVE_DIM, out_dim)
        self.fc_bias = nn.Linear(WAVE_DIM, embed_dim)
        self.weight_tokens = nn.Parameter(torch.randn(LATENT_TOKENS, WAVE_DIM) * 0.02)
        self.bias_token = nn.Parameter(torch.randn(1, WAVE_DIM) * 0.02)

    def forward(self, waves: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([self.weight_tokens, waves, self.bias_token], dim=0)
        out = self.encoder(x)
        weights = self.fc_weight(out[LATENT_TOKENS:-1] + x[LATENT_TOKENS:-1])
        return weights, self.fc_bias(out[-1])


class DynamicEmbedding(nn.Module):
    """Wavelength-conditioned ``p x p`` patch convolution (encoder side of ``DynamicEmbedding``)."""

    def __init__(self, patch_size: int, embed_dim: int) -> None:
        super().__init__()
        self.patch_size, self.embed_dim = patch_size, embed_dim
        self.weight_generator = _WavesTransformer(patch_size * patch_size * embed_dim, embed_dim)
        self.fclayer = _FCBlock(WAVE_DIM)

    def forward(self, x: torch.Tensor, wavelengths_um: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != wavelengths_um.numel():
            raise ValueError(f"Clay input has {x.shape[1]} bands but {wavelengths_um.numel()} wavelengths")
        waves = self.fclayer(wave_code(wavelengths_um).to(x.device))
        weight, bias = self.weight_generator(waves)
        p = self.patch_size
        # "cin (cout k1 k2) -> cout cin k1 k2"
        weight = weight.view(-1, self.embed_dim, p, p).transpose(0, 1)
        out = F.conv2d(x, weight * KERNEL_SCALE, bias=bias, stride=p)
        return out.flatten(2).transpose(1, 2)


class _Attention(nn.Module):
    def __init__(self, dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(dim)
        self.to_qkv = nn.Linear(dim, heads * dim_head * 3, bias=False)
        self.to_out = nn.Linear(heads * dim_head, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        qkv = self.to_qkv(self.norm(x)).reshape(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1))


class _FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class _Transformer(nn.Module):
    def __init__(self, cfg: ClayConfig) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(cfg.dim)
        self.layers = nn.ModuleList(
            nn.ModuleList([_Attention(cfg.dim, cfg.heads, cfg.dim_head),
                           _FeedForward(cfg.dim, int(cfg.dim * cfg.mlp_ratio))])
            for _ in range(cfg.depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for attn, ff in self.layers:
            x = attn(x) + x
            x = ff(x) + x
        return self.norm(x)


class ClayEncoder(nn.Module):
    """The Clay v1.5 encoder; state-dict keys are those after ``model.encoder.``."""

    def __init__(self, cfg: ClayConfig = CLAY_CONFIGS["large"]) -> None:
        super().__init__()
        self.cfg = cfg
        self.cls_token = nn.Parameter(torch.randn(1, 1, cfg.dim) * 0.02)
        self.patch_embedding = DynamicEmbedding(cfg.patch_size, cfg.dim)
        self.transformer = _Transformer(cfg)

    def forward(self, pixels: torch.Tensor, time: torch.Tensor, latlon: torch.Tensor,
                gsd: torch.Tensor, wavelengths_um: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` normalised pixels, ``(B, 4)`` week/hour codes, ``(B, 4)`` lat/lon
        codes, the ground sample distance in metres (one, or one per sample) and ``(C,)``
        wavelengths -> ``(B, 1 + L, D)`` (class token first) after the final norm."""
        patches = self.patch_embedding(pixels, wavelengths_um)
        b, n, d = patches.shape
        grid = int(round(n ** 0.5))
        if grid * grid != n:
            raise ValueError(f"Clay needs a square input, got {tuple(pixels.shape[-2:])}")
        gsd = torch.as_tensor(gsd, dtype=torch.float32).reshape(-1).cpu()
        pos = torch.stack([gsd_position_code(grid, d - 8, g) for g in gsd]).to(patches.device)
        meta = torch.cat([time, latlon], dim=1).to(patches.device, patches.dtype)
        enc = torch.cat([pos.expand(b, -1, -1), meta[:, None].expand(-1, n, -1)], dim=-1)
        x = torch.cat([self.cls_token.expand(b, -1, -1), patches + enc], dim=1)
        return self.transformer(x)

    def flops_per_image(self) -> float:
        n = (self.cfg.img_size // self.cfg.patch_size) ** 2
        patch = 2.0 * n * self.cfg.dim * 10 * self.cfg.patch_size ** 2  # 10 bands
        return vit_flops(n + 1, self.cfg.dim, self.cfg.depth, self.cfg.mlp_ratio) + patch
