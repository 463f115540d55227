"""TerraMind v1 encoder (IBM/ESA; terratorch ``TerraMindViT``) in plain torch, for raw
(untokenised) image modalities.

TerraMind is a 4M-style any-to-any model. For embeddings only its encoder is used, on raw
pixels: each modality has an ``ImageEncoderEmbedding`` (a bias-free linear projection of
16 x 16 patches flattened pixel-major/channel-minor, a fixed 2D sin-cos table stored as the
buffer ``pos_emb`` and a learned modality embedding ``mod_emb``); the tokens of all input
modalities are concatenated and run through the encoder blocks and ``encoder_norm``.

Key names are those of the official files ``TerraMind_v1_{tiny,small,base,large}.pt``
(the whole encoder-decoder): ``encoder_embeddings.<modality>.{pos_emb, mod_emb, proj.weight}``,
``encoder.N.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2[, mlp.fc3]}`` and
``encoder_norm``. LayerNorms have no learned bias; the zero bias is a buffer saved in the
files (``*.bias``), as in terratorch's ``LayerNorm(bias=False)``. Tiny and small use
biased GELU MLPs; base and large bias-free SwiGLU MLPs (``fc3`` gates ``fc1``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .vit import Attention, vit_flops

#: raw modalities of TerraMind v1 and their channel counts (terratorch ``MODALITY_INFO``)
MODALITY_CHANNELS: dict[str, int] = {
    "untok_sen2l2a@224": 12,
    "untok_sen2l1c@224": 13,
    "untok_sen2rgb@224": 3,
    "untok_sen1grd@224": 2,
    "untok_sen1rtc@224": 2,
    "untok_dem@224": 1,
}


@dataclass(frozen=True)
class TerraMindConfig:
    img_size: int = 224
    patch_size: int = 16
    dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    bias: bool = False        # qkv, proj and MLP biases (tiny, small)
    gated_mlp: bool = True    # SwiGLU (base, large) or GELU MLP (tiny, small)
    modalities: tuple[str, ...] = field(default=("untok_sen2l2a@224",))

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["modalities"] = list(self.modalities)
        return d


#: ``terramind_v1_{tiny,small,base,large}`` of terratorch's ``terramind_register.py``
TERRAMIND_CONFIGS: dict[str, TerraMindConfig] = {
    "tiny": TerraMindConfig(dim=192, depth=12, num_heads=3, bias=True, gated_mlp=False),
    "small": TerraMindConfig(dim=384, depth=12, num_heads=6, bias=True, gated_mlp=False),
    "base": TerraMindConfig(dim=768, depth=12, num_heads=12, bias=False, gated_mlp=True),
    "large": TerraMindConfig(dim=1024, depth=24, num_heads=16, bias=False, gated_mlp=True),
}


class LayerNorm(nn.Module):
    """LayerNorm (eps 1e-6) with a learned weight and a zero bias kept as a buffer."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))
        self.register_buffer("bias", torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, (x.shape[-1],), self.weight, self.bias, self.eps)


def sincos_table(h: int, w: int, dim: int) -> torch.Tensor:
    """``build_2d_sincos_posemb`` (MoCo v3): ``(1, h*w, dim)``; its first quarter codes the
    slow (row) index of the flattened ``(w, h)`` meshgrid, as in the official table."""
    gw, gh = torch.meshgrid(torch.arange(w), torch.arange(h), indexing="ij")
    omega = 1.0 / (10000.0 ** (torch.arange(dim // 4, dtype=torch.float) / (dim // 4)))
    ow = gw.reshape(-1)[:, None] * omega[None]
    oh = gh.reshape(-1)[:, None] * omega[None]
    return torch.cat([ow.sin(), ow.cos(), oh.sin(), oh.cos()], dim=1)[None]


class ImageEmbedding(nn.Module):
    """Patches -> tokens ``x`` plus position and modality embedding ``emb``."""

    def __init__(self, channels: int, cfg: TerraMindConfig) -> None:
        super().__init__()
        self.patch = cfg.patch_size
        g = cfg.img_size // cfg.patch_size
        self.register_buffer("pos_emb", sincos_table(g, g, cfg.dim))
        self.mod_emb = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.proj = nn.Linear(channels * cfg.patch_size ** 2, cfg.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        p = self.patch
        if h % p or w % p or (h // p) * (w // p) != self.pos_emb.shape[1]:
            raise ValueError(f"TerraMind needs {int(self.pos_emb.shape[1] ** 0.5) * p} px inputs, got {h}x{w}")
        # "b d (nh ph) (nw pw) -> b (nh nw) (ph pw d)"
        patches = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1).reshape(b, -1, p * p * c)
        return self.proj(patches) + self.pos_emb + self.mod_emb


class _Mlp(nn.Module):
    """GELU MLP (``Mlp``) or SwiGLU (``GatedMlp``: hidden width 2/3, ``fc3`` the gate)."""

    def __init__(self, dim: int, hidden: int, bias: bool, gated: bool) -> None:
        super().__init__()
        self.gated = gated
        if gated:
            hidden = int(2 * hidden / 3)
        self.fc1 = nn.Linear(dim, hidden, bias=bias)
        self.fc2 = nn.Linear(hidden, dim, bias=bias)
        if gated:
            self.fc3 = nn.Linear(dim, hidden, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gated:
            return self.fc2(F.silu(self.fc1(x)) * self.fc3(x))
        return self.fc2(F.gelu(self.fc1(x)))


class _Block(nn.Module):
    def __init__(self, cfg: TerraMindConfig) -> None:
        super().__init__()
        self.norm1 = LayerNorm(cfg.dim)
        self.attn = Attention(cfg.dim, cfg.num_heads, qkv_bias=cfg.bias, proj_bias=cfg.bias)
        self.norm2 = LayerNorm(cfg.dim)
        self.mlp = _Mlp(cfg.dim, int(cfg.dim * cfg.mlp_ratio), cfg.bias, cfg.gated_mlp)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TerraMindEncoder(nn.Module):
    """Encoder of TerraMind v1 for the raw modalities in ``cfg.modalities``."""

    def __init__(self, cfg: TerraMindConfig = TERRAMIND_CONFIGS["base"]) -> None:
        super().__init__()
        unknown = [m for m in cfg.modalities if m not in MODALITY_CHANNELS]
        if unknown:
            raise ValueError(f"unknown TerraMind modalities {unknown}; known: {list(MODALITY_CHANNELS)}")
        self.cfg = cfg
        self.encoder_embeddings = nn.ModuleDict(
            {m: ImageEmbedding(MODALITY_CHANNELS[m], cfg) for m in cfg.modalities})
        self.encoder = nn.ModuleList(_Block(cfg) for _ in range(cfg.depth))
        self.encoder_norm = LayerNorm(cfg.dim)

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """``{modality: (B, C, H, W)}`` -> patch tokens ``(B, N, D)``, averaged over the
        modalities given (terratorch's ``merge_method="mean"``)."""
        mods = [m for m in self.cfg.modalities if m in inputs]
        if not mods:
            raise ValueError(f"no TerraMind input among {list(self.cfg.modalities)}")
        x = torch.cat([self.encoder_embeddings[m](inputs[m]) for m in mods], dim=1)
        for blk in self.encoder:
            x = blk(x)
        x = self.encoder_norm(x)
        return x.reshape(x.shape[0], len(mods), -1, x.shape[-1]).mean(dim=1)

    def flops_per_image(self) -> float:
        n = (self.cfg.img_size // self.cfg.patch_size) ** 2 * len(self.cfg.modalities)
        # a SwiGLU MLP of hidden 2/3 * 4d with three matrices costs as a 4d MLP with two
        return vit_flops(n, self.cfg.dim, self.cfg.depth, self.cfg.mlp_ratio)
