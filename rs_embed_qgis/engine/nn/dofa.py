"""DOFA (Xiong et al. 2024, "Neural plasticity-inspired foundation model for observing the
Earth crossing modalities", zhu-xlab/DOFA) encoder in plain torch.

DOFA's patch embedding is *dynamic*: a small transformer (the hypernetwork) turns the
central wavelength of every input channel into that channel's 16 x 16 x D convolution
kernel and a bias, so one network embeds any band subset of any sensor. Everything after
the patch embedding is a plain ViT (timm blocks, LayerNorm eps 1e-6).

Key names are those of the official checkpoints (``DOFA_ViT_{base,large}_e100.pth``,
``OFAViT`` of ``dofa_v1.py``): ``cls_token``, ``pos_embed`` (a stored table for 14 x 14
tokens plus the class token), ``patch_embed.weight_generator.{weight_tokens, bias_token,
transformer_encoder.layers.0.*, fc_weight, fc_bias}`` (a ``torch.nn.TransformerEncoder``
of one post-norm layer, 4 heads, GELU), ``patch_embed.fclayer.{w1, w2}``, ``blocks.N.*``
and ``norm``. The pretraining file also holds ``mask_token`` and a distillation
``projector``, which the embeddings do not use.

The generated kernel is laid out ``(channel, ky, kx, D)`` and permuted to a conv weight
``(D, channel, ky, kx)``: the layout of the retrained weights (torchgeo PR #2256, the
authors' fix that zhu-xlab/DOFA adopted); the first release reshaped it differently.
The convolution keeps the official ``padding=1``, so a 224 px input gives 14 x 14 tokens.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .vit import Block, ViTConfig, vit_flops

WAVE_DIM = 128          # ``wv_planes``: width of the wavelength features
WEIGHT_TOKENS = 128     # ``wt_num``: learned query tokens of the hypernetwork
KERNEL_SCALE = 0.01     # ``scaler`` applied to the generated kernel and bias


@dataclass(frozen=True)
class DOFAConfig(ViTConfig):
    """DOFA's encoder is a plain ViT; its patch embedding takes the bands' wavelengths."""


#: ``vit_base_patch16`` / ``vit_large_patch16`` of ``dofa_v1.py``
DOFA_CONFIGS: dict[str, DOFAConfig] = {
    "base": DOFAConfig(embed_dim=768, depth=12, num_heads=12),
    "large": DOFAConfig(embed_dim=1024, depth=24, num_heads=16),
}


def wavelength_features(wavelengths_um: torch.Tensor, dim: int = WAVE_DIM) -> torch.Tensor:
    """1D sin-cos code of ``wavelength x 1000`` (nanometres), float32 as in the official code."""
    pos = wavelengths_um.reshape(-1).to(torch.float32) * 1000
    omega = torch.arange(dim // 2, dtype=torch.float32, device=pos.device) / (dim / 2.0)
    omega = 1.0 / 10000 ** omega
    out = pos[:, None] * omega[None]
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1)


class _FCResLayer(nn.Module):
    """``x + relu(w2(relu(w1(x))))`` (``FCResLayer``)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(dim, dim)
        self.w2 = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + F.relu(self.w2(F.relu(self.w1(x))))


class _WeightGenerator(nn.Module):
    """The hypernetwork: wavelength features -> per-channel kernels and one bias."""

    def __init__(self, out_dim: int, embed_dim: int) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model=WAVE_DIM, nhead=4, activation="gelu",
                                           norm_first=False, batch_first=False, dropout=0.0)
        self.transformer_encoder = nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)
        self.fc_weight = nn.Linear(WAVE_DIM, out_dim)
        self.fc_bias = nn.Linear(WAVE_DIM, embed_dim)
        self.weight_tokens = nn.Parameter(torch.zeros(WEIGHT_TOKENS, WAVE_DIM))
        self.bias_token = nn.Parameter(torch.zeros(1, WAVE_DIM))

    def forward(self, waves: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        seq = torch.cat([self.weight_tokens, waves, self.bias_token], dim=0)
        out = self.transformer_encoder(seq)
        weights = self.fc_weight(out[WEIGHT_TOKENS:-1] + waves)
        return weights, self.fc_bias(out[-1])


class DynamicPatchEmbed(nn.Module):
    """``Dynamic_MLP_OFA``: wavelength-conditioned ``k x k`` patch convolution."""

    def __init__(self, kernel_size: int, embed_dim: int) -> None:
        super().__init__()
        self.kernel_size, self.embed_dim = kernel_size, embed_dim
        self.weight_generator = _WeightGenerator(kernel_size * kernel_size * embed_dim, embed_dim)
        self.fclayer = _FCResLayer(WAVE_DIM)

    def kernel(self, wavelengths_um: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Conv weight ``(D, C, k, k)`` and bias ``(D,)`` for channels of these wavelengths."""
        waves = self.fclayer(wavelength_features(wavelengths_um))
        weight, bias = self.weight_generator(waves)
        k, d = self.kernel_size, self.embed_dim
        weight = weight.view(-1, k, k, d).permute(3, 0, 1, 2)
        return weight * KERNEL_SCALE, bias.view(d) * KERNEL_SCALE

    def forward(self, x: torch.Tensor, wavelengths_um: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != wavelengths_um.numel():
            raise ValueError(f"DOFA input has {x.shape[1]} channels but {wavelengths_um.numel()} wavelengths")
        weight, bias = self.kernel(wavelengths_um.to(x.device))
        out = F.conv2d(x, weight, bias=bias, stride=self.kernel_size, padding=1)
        return out.flatten(2).transpose(1, 2)


class DOFAEncoder(nn.Module):
    """The DOFA ViT; ``forward`` returns the class and patch tokens after the final ``norm``."""

    def __init__(self, cfg: DOFAConfig = DOFA_CONFIGS["base"]) -> None:
        super().__init__()
        self.cfg = cfg
        self.grid = cfg.img_size // cfg.patch_size
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.grid * self.grid + 1, cfg.embed_dim),
                                      requires_grad=False)
        self.patch_embed = DynamicPatchEmbed(cfg.patch_size, cfg.embed_dim)
        self.blocks = nn.ModuleList(Block(cfg.embed_dim, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.embed_dim, eps=1e-6)

    def blocks_out(self, x: torch.Tensor, wavelengths_um: torch.Tensor) -> torch.Tensor:
        """Tokens ``(B, 1 + N, D)`` after the last block, before any norm."""
        tok = self.patch_embed(x, wavelengths_um)
        if tok.shape[1] != self.pos_embed.shape[1] - 1:
            raise ValueError(f"DOFA needs {self.cfg.img_size} px inputs ({self.grid}x{self.grid} tokens), "
                             f"got {tuple(x.shape[-2:])}")
        tok = tok + self.pos_embed[:, 1:]
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(tok.shape[0], -1, -1)
        tok = torch.cat([cls, tok], dim=1)
        for blk in self.blocks:
            tok = blk(tok)
        return tok

    def forward(self, x: torch.Tensor, wavelengths_um: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(patch tokens after ``norm`` ``(B, N, D)``, pooled ``(B, D)``).

        Pooled is the official global pool: the mean of the patch tokens, then the
        final LayerNorm (``fc_norm`` of ``OFAViT(global_pool=True)``, which the
        pretraining file stores as ``norm``).
        """
        tok = self.blocks_out(x, wavelengths_um)[:, 1:]
        return self.norm(tok), self.norm(tok.mean(dim=1))

    def flops_per_image(self) -> float:
        n = self.grid * self.grid
        patch = 2.0 * n * self.cfg.embed_dim * 9 * self.cfg.patch_size ** 2  # 9 bands by default
        return vit_flops(n + 1, self.cfg.embed_dim, self.cfg.depth, self.cfg.mlp_ratio) + patch
