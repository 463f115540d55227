"""FoMo-Net (Bountos et al. 2024, FoMo-Bench) encoder in plain torch, with the parameter
names of the official ``model_zoo/multimodal_mae.py`` ``MultiSpectralViT`` (the
``single_embedding_layer`` model FoMo-Net_1), so its released weights load unchanged.

The spectral-token design: every band is its own image. Each band is cut into
``p x p`` patches, and one shared embedding (``to_patch_embedding``: LayerNorm ->
Linear -> LayerNorm; index 0 of the official ``Sequential`` is the parameter-free
patch rearrangement) turns each patch into a token; the band's learned vector
``spectral_embedding[key]`` - ``key`` names the band in FoMo's table of 37 modality
channels - and the patch's ``pos_embedding`` are added. All bands' tokens (band by
band) go through a pre-norm transformer (``transformer.layers.N.0`` attention with
``to_qkv`` without bias and ``to_out.0``, ``.1.net`` feed-forward; LayerNorm eps 1e-5)
and its final ``norm``. ``cls_token`` is a parameter of the official model that its
forward never uses; ``mlp_head`` (the pretraining classifier) is not part of the encoder
and is set aside by name when a file is loaded.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

#: FoMo-Bench ``configs/datasets/fomo_pretraining_datasets.json`` ``modality_channels``
MODALITY_CHANNELS: tuple[str, ...] = (
    "planet-r", "planet-g", "planet-b", "planet-nir", "sentinel-1-vv", "sentinel-1-vh",
    "sentinel-2-b1", "sentinel-2-b2", "sentinel-2-b3", "sentinel-2-b4", "sentinel-2-b5",
    "sentinel-2-b6", "sentinel-2-b7", "sentinel-2-b8", "sentinel-2-b8a", "sentinel-2-b9",
    "sentinel-2-b10", "sentinel-2-b11", "sentinel-2-b12", "landsat-r", "landsat-g", "landsat-b",
    "landsat-nir", "landsat-swir-1", "landsat-swir-2", "landsat-panchromatic", "landsat-aerosol",
    "landsat-cirrus", "aerial-r", "aerial-g", "aerial-b", "aerial-nir", "dem", "gaofen2-r",
    "gaofen2-g", "gaofen2-b", "gaofen2-nir")
#: prefixes of official keys outside the encoder (the pretraining classifier)
HEAD_PREFIXES = ("mlp_head.",)


@dataclass(frozen=True)
class FoMoConfig:
    """FoMo-Net_1 as its example loads it: 64 px, 16 px patches, 768 wide, 12 deep."""

    image_size: int = 64
    patch_size: int = 16
    dim: int = 768
    depth: int = 12
    heads: int = 12
    dim_head: int = 64
    mlp_dim: int = 2048
    num_modalities: int = len(MODALITY_CHANNELS)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class _PatchRearrange(nn.Module):
    """``b 1 (h p1) (w p2) -> b (h w) (p1 p2)``: one band's patches as flat vectors."""

    def __init__(self, p: int) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, hh, ww = x.shape
        p = self.p
        x = x.reshape(b, hh // p, p, ww // p, p).permute(0, 1, 3, 2, 4)
        return x.reshape(b, (hh // p) * (ww // p), p * p)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.norm = nn.LayerNorm(dim)
        self.to_qkv = nn.Linear(dim, inner * 3, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = (t.reshape(b, n, self.heads, -1).transpose(1, 2) for t in self.to_qkv(self.norm(x)).chunk(3, dim=-1))
        out = F.scaled_dot_product_attention(q, k, v)  # scale dim_head ** -0.5, as upstream
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1))


class FeedForward(nn.Module):
    """``net``: LayerNorm (0) -> Linear (1) -> GELU -> Dropout -> Linear (4)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Identity(),
                                 nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Transformer(nn.Module):
    def __init__(self, cfg: FoMoConfig) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(cfg.dim)  # applied last, registered first (the official key order)
        self.layers = nn.ModuleList([
            nn.ModuleList([Attention(cfg.dim, cfg.heads, cfg.dim_head), FeedForward(cfg.dim, cfg.mlp_dim)])
            for _ in range(cfg.depth)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for attn, ff in self.layers:
            x = attn(x) + x
            x = ff(x) + x
        return self.norm(x)


class FoMoNet(nn.Module):
    """``(B, C, S, S)`` and ``C`` modality keys -> tokens ``(B, C * L, D)``, band by band."""

    def __init__(self, cfg: FoMoConfig = FoMoConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        p = cfg.patch_size
        self.grid = cfg.image_size // p
        self.to_patch_embedding = nn.Sequential(
            _PatchRearrange(p), nn.LayerNorm(p * p), nn.Linear(p * p, cfg.dim), nn.LayerNorm(cfg.dim))
        self.pos_embedding = nn.Parameter(torch.randn(1, self.grid * self.grid + 1, cfg.dim))
        self.spectral_embedding = nn.Parameter(torch.randn(1, cfg.num_modalities + 1, cfg.dim))
        self.cls_token = nn.Parameter(torch.randn(1, 1, cfg.dim))  # in the official file, unused
        self.transformer = Transformer(cfg)

    def forward(self, x: torch.Tensor, keys: list[int]) -> torch.Tensor:
        if len(keys) != x.shape[1]:
            raise ValueError(f"{x.shape[1]} bands but {len(keys)} modality keys")
        if x.shape[-2:] != (self.cfg.image_size, self.cfg.image_size):
            raise ValueError(f"FoMo-Net takes {self.cfg.image_size} px images, got {tuple(x.shape[-2:])}")
        b, c = x.shape[:2]
        # one pass of the shared embedding over all bands (as C separate passes upstream)
        tok = self.to_patch_embedding(x.reshape(b * c, 1, *x.shape[-2:])).reshape(b, c, -1, self.cfg.dim)
        tok = tok + self.spectral_embedding[0, list(keys)][None, :, None] + self.pos_embedding[:, None, 1:]
        return self.transformer(tok.reshape(b, -1, self.cfg.dim))

    def flops_per_image(self, bands: int = 12) -> float:
        c = self.cfg
        n, d, inner = bands * self.grid * self.grid, c.dim, c.heads * c.dim_head
        per_layer = 2 * n * d * 3 * inner + 2 * 2 * n * n * inner + 2 * n * inner * d + 2 * 2 * n * d * c.mlp_dim
        return float(c.depth * per_layer + 2 * n * c.patch_size ** 2 * d)
