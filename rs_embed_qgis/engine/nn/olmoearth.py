"""OlmoEarth v1 encoder (Ai2, ``allenai/olmoearth_pretrain``) in plain torch.

Key names are those under ``encoder.`` in the official ``weights.pth`` files of
``allenai/OlmoEarth-v1-{Nano,Tiny,Base,Large}``: per modality and band set a flexible
patch embedding (``patch_embeddings.per_modality_embeddings.<m>.<m>__<i>.proj``, a conv
with 8 px kernels; another patch size resizes the *image* so its patches are 8 px, as
upstream's ``FlexiPatchEmbed`` does), the learned channel embeddings
(``composite_encodings.per_modality_channel_embeddings.<m>``), the fixed month table
(``composite_encodings.month_embed``), ``blocks.N`` (pre-norm blocks with ``q``/``k``/
``v`` projections, as Galileo's) and ``norm``.

Only the two modalities the adapter feeds are built: Sentinel-2 L2A (three band sets:
B02 B03 B04 B08 | B05 B06 B07 B8A B11 B12 | B01 B09) and Sentinel-1 (VV VH). The
official file's keys of the other pretraining modalities, of the contrastive head
(``project_and_aggregate``) and the legacy ``composite_encodings.pos_embed`` (dropped by
upstream on load) are set aside by name (``SET_ASIDE``).

The forward is upstream's inference path (``encoder(sample, fast_pass=True)``): every
token of the given modalities attends to every other; a channel, time-step, month and
GSD-scaled spatial encoding (a quarter of the width each) is added to each token.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .galileo import Block, month_table, sincos, spatial_table

#: modality -> band sets (band names in the model's order)
BAND_SETS: dict[str, tuple[tuple[str, ...], ...]] = {
    "sentinel2_l2a": (("B02", "B03", "B04", "B08"), ("B05", "B06", "B07", "B8A", "B11", "B12"), ("B01", "B09")),
    "sentinel1": (("vv", "vh"),),
}
#: the modalities of v1 pretraining (scripts/official/v1/script.py), in the model's order
PRETRAINING_MODALITIES = ("sentinel2_l2a", "sentinel1", "landsat", "worldcover", "srtm", "openstreetmap_raster",
                          "wri_canopy_height_map", "cdl", "worldcereal")
BASE_GSD = 10


def set_aside_prefixes(prefix: str = "encoder.") -> tuple[str, ...]:
    """Keys of the official file that the embeddings do not use, by name."""
    others = [m for m in PRETRAINING_MODALITIES if m not in BAND_SETS]
    return (
        *(f"{prefix}patch_embeddings.per_modality_embeddings.{m}." for m in others),
        *(f"{prefix}composite_encodings.per_modality_channel_embeddings.{m}" for m in others),
        f"{prefix}composite_encodings.pos_embed", f"{prefix}project_and_aggregate.",
        "decoder.", "target_encoder.", "reconstructor.")


@dataclass(frozen=True)
class OlmoEarthConfig:
    embedding_size: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    max_patch_size: int = 8

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


#: ``MODEL_SIZE_ARGS`` of the official v1 training scripts (encoder part)
OLMOEARTH_CONFIGS: dict[str, OlmoEarthConfig] = {
    "nano": OlmoEarthConfig(embedding_size=128, depth=4, num_heads=8),
    "tiny": OlmoEarthConfig(embedding_size=192, depth=12, num_heads=3),
    "base": OlmoEarthConfig(embedding_size=768, depth=12, num_heads=12),
    "large": OlmoEarthConfig(embedding_size=1024, depth=24, num_heads=16),
}


class FlexiPatchEmbed(nn.Module):
    """``proj``: conv with ``base x base`` kernels. Another patch size ``p`` resizes the
    image by ``base / p`` (bicubic, antialiased) so that each ``p`` px patch becomes one
    ``base`` px patch."""

    def __init__(self, in_chans: int, dim: int, base: int) -> None:
        super().__init__()
        self.base = base
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=base, stride=base)

    def forward(self, x: torch.Tensor, p: int) -> torch.Tensor:
        """``(B, H, W, T, C)`` -> ``(B, H/p, W/p, T, D)``."""
        b, h, w, t, c = x.shape
        y = x.permute(0, 3, 4, 1, 2).reshape(b * t, c, h, w)
        if p != self.base:
            y = F.interpolate(y, size=(h // p * self.base, w // p * self.base), mode="bicubic", antialias=True)
        y = self.proj(y)
        return y.reshape(b, t, *y.shape[1:]).permute(0, 3, 4, 1, 2)


class OlmoEarthEncoder(nn.Module):
    """OlmoEarth v1 encoder for Sentinel-2 L2A and Sentinel-1; keys as after ``encoder.``."""

    def __init__(self, cfg: OlmoEarthConfig = OLMOEARTH_CONFIGS["base"]) -> None:
        super().__init__()
        self.cfg = cfg
        d, q = cfg.embedding_size, cfg.embedding_size // 4
        self.blocks = nn.ModuleList([Block(d, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.depth)])
        self.composite_encodings = nn.Module()
        self.composite_encodings.month_embed = nn.Embedding.from_pretrained(month_table(q), freeze=True)
        self.composite_encodings.per_modality_channel_embeddings = nn.ParameterDict(
            {m: nn.Parameter(torch.zeros(len(sets), q)) for m, sets in BAND_SETS.items()})
        self.patch_embeddings = nn.Module()
        self.patch_embeddings.per_modality_embeddings = nn.ModuleDict({
            m: nn.ModuleDict({f"{m}__{i}": FlexiPatchEmbed(len(bands), d, cfg.max_patch_size)
                              for i, bands in enumerate(sets)})
            for m, sets in BAND_SETS.items()})
        self.norm = nn.LayerNorm(d)

    def _tokens(self, modality: str, x: torch.Tensor, months: torch.Tensor, p: int,
                input_res: float | torch.Tensor) -> torch.Tensor:
        """``(B, H, W, T, C)`` normalised -> ``(B, H/p, W/p, T, S, D)`` with the encodings added."""
        embeds = self.patch_embeddings.per_modality_embeddings[modality]
        start, parts = 0, []
        for i, bands in enumerate(BAND_SETS[modality]):
            parts.append(embeds[f"{modality}__{i}"](x[..., start:start + len(bands)], p))
            start += len(bands)
        tok = torch.stack(parts, dim=-2)
        b, h, w, t, s, d = tok.shape
        q = d // 4
        dev = tok.device
        channel = self.composite_encodings.per_modality_channel_embeddings[modality]        # (S, q)
        step = sincos(q, torch.arange(t, device=dev))                                       # (T, q)
        month = self.composite_encodings.month_embed(months)                                 # (B, T, q)
        space = spatial_table(q, h, w, input_res, p, b, dev)                                  # (B, h, w, q)
        enc = torch.cat([channel.expand(b, h, w, t, s, q), step[None, None, None, :, None].expand(b, h, w, t, s, q),
                         month[:, None, None, :, None].expand(b, h, w, t, s, q),
                         space[:, :, :, None, None].expand(b, h, w, t, s, q)], dim=-1)
        return tok + enc

    def forward(self, inputs: dict[str, torch.Tensor], months: torch.Tensor, patch_size: int,
                input_res: float | torch.Tensor = BASE_GSD) -> dict[str, torch.Tensor]:
        """``inputs``: modality -> ``(B, H, W, T, C)`` normalised, bands in the model's order;
        ``months``: ``(B, T)`` 0-11. Returns modality -> tokens ``(B, H/p, W/p, T, S, D)``."""
        tokens = {m: self._tokens(m, inputs[m], months, patch_size, input_res) for m in BAND_SETS if m in inputs}
        if not tokens:
            raise ValueError(f"OlmoEarth needs at least one of {list(BAND_SETS)}, got {list(inputs)}")
        shapes = {m: v.shape for m, v in tokens.items()}
        b = next(iter(tokens.values())).shape[0]
        x = torch.cat([v.reshape(b, -1, v.shape[-1]) for v in tokens.values()], dim=1)
        for blk in self.blocks:
            x = blk(x, None)
        x = self.norm(x)
        out, k = {}, 0
        for m, shape in shapes.items():
            n = shape[1] * shape[2] * shape[3] * shape[4]
            out[m] = x[:, k:k + n].reshape(shape)
            k += n
        return out

    def flops_per_sample(self, tokens: int) -> float:
        from .vit import vit_flops

        return vit_flops(tokens, self.cfg.embedding_size, self.cfg.depth, self.cfg.mlp_ratio)
