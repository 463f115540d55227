"""The image tower of CLIP as open_clip builds it (``VisionTransformer``), in plain torch.

Parameter names and shapes are open_clip's, under ``visual.`` in a full CLIP
state dict: ``conv1`` (no bias), ``class_embedding``, ``positional_embedding``,
``ln_pre``, ``transformer.resblocks.N.{ln_1, attn.in_proj_weight, attn.in_proj_bias,
attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj}``, ``ln_post``, ``proj``. RemoteCLIP's
official files (``RemoteCLIP-ViT-B-32.pt`` ...) are such full state dicts; the
text tower is not needed for image embeddings and is set aside by name.

Forward as open_clip's (``final_ln_after_pool=False``, ``pool_type='tok'``):
``ln_post`` on all tokens, the class token projected by ``proj`` is the image
embedding, the other tokens are the patch tokens (width ``D``, not projected).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class CLIPVisionConfig:
    image_size: int = 224
    patch_size: int = 32
    width: int = 768
    layers: int = 12
    heads: int = 12
    mlp_ratio: float = 4.0
    embed_dim: int = 512           # output of ``proj``
    act: str = "gelu"              # open_clip default; "quick_gelu" for OpenAI-style configs

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


#: open_clip's model configs (``ViT-B-32.json``, ``ViT-L-14.json``) - RemoteCLIP's variants
CLIP_CONFIGS: dict[str, CLIPVisionConfig] = {
    "ViT-B-32": CLIPVisionConfig(224, 32, 768, 12, 12, 4.0, 512),
    "ViT-L-14": CLIPVisionConfig(224, 14, 1024, 24, 16, 4.0, 768),
}

#: keys of the text tower in a full CLIP state dict (set aside when loading the image tower)
TEXT_TOWER_PREFIXES: tuple[str, ...] = (
    "positional_embedding", "text_projection", "logit_scale", "logit_bias", "token_embedding.",
    "transformer.", "ln_final.", "attn_mask", "input_resolution", "context_length", "vocab_size")


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class PackedMHA(nn.Module):
    """``nn.MultiheadAttention``'s parameters (packed ``in_proj``) run through SDPA."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)
        qkv = qkv.reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.out_proj(y.transpose(1, 2).reshape(b, n, c))


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width: int, heads: int, mlp_ratio: float, act: str) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = PackedMHA(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, hidden)),
            ("gelu", QuickGELU() if act == "quick_gelu" else nn.GELU()),
            ("c_proj", nn.Linear(hidden, width)),
        ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class _Transformer(nn.Module):
    def __init__(self, cfg: CLIPVisionConfig) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList(
            [ResidualAttentionBlock(cfg.width, cfg.heads, cfg.mlp_ratio, cfg.act) for _ in range(cfg.layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.resblocks:
            x = blk(x)
        return x


class CLIPVisionTransformer(nn.Module):
    """open_clip's ``VisionTransformer``; state-dict keys are those after ``visual.``."""

    def __init__(self, cfg: CLIPVisionConfig = CLIP_CONFIGS["ViT-B-32"]) -> None:
        super().__init__()
        if cfg.act not in ("gelu", "quick_gelu"):
            raise ValueError(f"act must be 'gelu' or 'quick_gelu', got {cfg.act!r}")
        self.cfg = cfg
        w, g = cfg.width, cfg.image_size // cfg.patch_size
        self.grid = g
        scale = w ** -0.5
        self.conv1 = nn.Conv2d(3, w, kernel_size=cfg.patch_size, stride=cfg.patch_size, bias=False)
        self.class_embedding = nn.Parameter(scale * torch.randn(w))
        self.positional_embedding = nn.Parameter(scale * torch.randn(g * g + 1, w))
        self.ln_pre = nn.LayerNorm(w)
        self.transformer = _Transformer(cfg)
        self.ln_post = nn.LayerNorm(w)
        self.proj = nn.Parameter(scale * torch.randn(w, cfg.embed_dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, 3, S, S)`` normalised RGB -> (image embedding ``(B, E)``, patch tokens ``(B, g*g, D)``)."""
        x = self.conv1(x).flatten(2).transpose(1, 2)
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.transformer(self.ln_pre(x))
        x = self.ln_post(x)
        return x[:, 0] @ self.proj, x[:, 1:]

    def flops_per_image(self) -> float:
        from .vit import vit_flops

        n, c = self.grid * self.grid + 1, self.cfg
        patch = 2 * self.grid * self.grid * 3 * c.patch_size ** 2 * c.width
        return vit_flops(n, c.width, c.layers, c.mlp_ratio) + patch + 2 * c.width * c.embed_dim
