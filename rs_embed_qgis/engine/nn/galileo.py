"""Galileo encoder (Tseng et al. 2025, ``nasaharvest/galileo``) in plain torch.

Key names are those of the official ``models/<size>/encoder.pt`` (upstream
``single_file_galileo.Encoder``): one flexible patch embedding per channel group
(``space_time_embed.<group>.proj``, ``space_embed.<group>.proj``, a 2D conv with
8 px kernels resized to the run's patch size by a pseudo-inverse), linear embeddings of
the time and static groups (``time_embed.<group>``, ``static_embed.<group>``), the
learned channel embeddings (``s_t_channel_embed`` ...), the fixed tables
``pos_embed`` (time step) and ``month_embed`` (month of year), ``blocks.N`` (pre-norm
blocks with separate ``q``/``k``/``v`` projections) and ``norm``.

Inputs are four groups of tokens - space-time ``(B, H, W, T, 13)`` (S1 VV/VH, S2
ten bands, NDVI), space ``(B, H, W, 16)``, time ``(B, T, 6)``, static ``(B, 18)`` -
each with a mask per channel group (0: seen, 1: not seen) and the month (0-11) of each
time step. Tokens of masked groups are removed before attention (padded per batch
with an attention mask, as upstream does) and come back as zeros.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

#: channel groups and their band indices, in the official order
S1_BANDS = ("VV", "VH")
S2_BANDS = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12")
SPACE_TIME_BANDS = (*S1_BANDS, *S2_BANDS, "NDVI")
SPACE_TIME_GROUPS: dict[str, tuple[int, ...]] = {
    "S1": (0, 1), "S2_RGB": (2, 3, 4), "S2_Red_Edge": (5, 6, 7), "S2_NIR_10m": (8,),
    "S2_NIR_20m": (9,), "S2_SWIR": (10, 11), "NDVI": (12,)}
SPACE_GROUPS: dict[str, tuple[int, ...]] = {  # SRTM (2), Dynamic World (9), WorldCereal (5)
    "SRTM": (0, 1), "DW": tuple(range(2, 11)), "WC": tuple(range(11, 16))}
TIME_GROUPS: dict[str, tuple[int, ...]] = {"ERA5": (0, 1), "TC": (2, 3, 4), "VIIRS": (5,)}
STATIC_GROUPS: dict[str, tuple[int, ...]] = {  # LandScan, location (x, y, z), DW/WC static
    "LS": (0,), "location": (1, 2, 3), "DW_static": tuple(range(4, 13)), "WC_static": tuple(range(13, 18))}
N_SPACE, N_TIME, N_STATIC = 16, 6, 18
BASE_GSD = 10


@dataclass(frozen=True)
class GalileoConfig:
    embedding_size: int = 128
    depth: int = 4
    num_heads: int = 8
    mlp_ratio: float = 4.0
    max_sequence_length: int = 24
    max_patch_size: int = 8

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


#: ``model.encoder`` of the official ``config.json`` files
GALILEO_CONFIGS: dict[str, GalileoConfig] = {
    "nano": GalileoConfig(embedding_size=128, depth=4, num_heads=8),
    "tiny": GalileoConfig(embedding_size=192, depth=12, num_heads=3),
    "base": GalileoConfig(embedding_size=768, depth=12, num_heads=12),
}


def sincos(dim: int, pos: torch.Tensor) -> torch.Tensor:
    """Galileo's 1D sin-cos encoding; its frequencies are ``10000^(-i / dim / 2)``
    (``arange(dim/2) / dim / 2``, not MAE's ``/ (dim/2)``), kept as published."""
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, device=pos.device) / dim / 2.0)
    out = pos.reshape(-1)[:, None] * omega[None]
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1)


def spatial_table(dim: int, h: int, w: int, input_res, patch_size: int, batch: int,
                  device: torch.device) -> torch.Tensor:
    """``(B, h, w, dim)``: the 2D sin-cos encoding of the token grid, positions scaled by the
    metres per token over the base GSD (``input_res`` per sample, or one number): column
    in the first half of the channels, row in the second (upstream's
    ``get_2d_sincos_pos_embed_with_resolution``)."""
    res = torch.as_tensor(input_res, dtype=torch.float32, device=device).reshape(-1).expand(batch)
    res = res * patch_size / BASE_GSD
    rows, cols = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
    return torch.cat([sincos(dim // 2, res[:, None] * cols.reshape(1, -1)),
                      sincos(dim // 2, res[:, None] * rows.reshape(1, -1))], dim=1).reshape(batch, h, w, dim)


def month_table(dim: int) -> torch.Tensor:
    """``(12, dim)``: sin then cos of the month angle, each repeated over half the channels."""
    angles = torch.arange(0, 13) / (12 / (2 * math.pi))
    half = angles[:, None].expand(13, dim // 2)
    return torch.cat([torch.sin(half)[:-1], torch.cos(half)[:-1]], dim=-1)


class FlexiPatchEmbed(nn.Module):
    """``proj``: a conv with ``base x base`` kernels; other patch sizes use the kernel
    resampled by the pseudo-inverse of the bicubic (antialiased) resize (FlexiViT)."""

    def __init__(self, in_chans: int, dim: int, base: int) -> None:
        super().__init__()
        self.base = base
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=base, stride=base)
        self._pinv: dict[int, torch.Tensor] = {}

    def _resize_matrix_pinv(self, p: int) -> torch.Tensor:
        if p not in self._pinv:
            eye = torch.eye(self.base * self.base).reshape(-1, 1, self.base, self.base)
            rows = F.interpolate(eye, (p, p), mode="bicubic", antialias=True).reshape(self.base ** 2, p * p)
            self._pinv[p] = torch.linalg.pinv(rows)
        return self._pinv[p]

    def weight_for(self, p: int) -> torch.Tensor:
        w = self.proj.weight
        if p == self.base:
            return w
        pinv = self._resize_matrix_pinv(p).to(w.device, w.dtype)  # (p*p, base*base)
        return (w.reshape(*w.shape[:2], -1) @ pinv.T).reshape(*w.shape[:2], p, p)

    def forward(self, x: torch.Tensor, p: int) -> torch.Tensor:
        """``(B, H, W, [T,] C)`` -> ``(B, H/p, W/p, [T,] D)``."""
        b = x.shape[0]
        timed = x.ndim == 5
        if timed:
            t = x.shape[3]
            x = x.permute(0, 3, 4, 1, 2).flatten(0, 1)             # (B*T, C, H, W)
        else:
            x = x.permute(0, 3, 1, 2)
        y = F.conv2d(x, self.weight_for(p), self.proj.bias, stride=p)
        if timed:
            return y.reshape(b, t, *y.shape[1:]).permute(0, 3, 4, 1, 2)
        return y.permute(0, 2, 3, 1)


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        b, n, c = x.shape
        h = self.num_heads

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(b, n, h, c // h).transpose(1, 2)

        mask = None if keep is None else keep[:, None, None, :]  # True: the key takes part
        y = F.scaled_dot_product_attention(heads(self.q(x)), heads(self.k(x)), heads(self.v(x)), attn_mask=mask)
        return self.proj(y.transpose(1, 2).reshape(b, n, c))


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Module()
        self.mlp.fc1 = nn.Linear(dim, int(dim * mlp_ratio))
        self.mlp.fc2 = nn.Linear(int(dim * mlp_ratio), dim)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), keep)
        return x + self.mlp.fc2(F.gelu(self.mlp.fc1(self.norm2(x))))


class GalileoEncoder(nn.Module):
    """The Galileo encoder; state-dict keys are those of the official ``encoder.pt``."""

    def __init__(self, cfg: GalileoConfig = GALILEO_CONFIGS["nano"]) -> None:
        super().__init__()
        self.cfg = cfg
        d, q = cfg.embedding_size, cfg.embedding_size // 4
        self.blocks = nn.ModuleList([Block(d, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.depth)])
        self.pos_embed = nn.Parameter(sincos(q, torch.arange(cfg.max_sequence_length)), requires_grad=False)
        self.month_embed = nn.Embedding.from_pretrained(month_table(q), freeze=True)
        self.s_t_channel_embed = nn.Parameter(torch.zeros(len(SPACE_TIME_GROUPS), q))
        self.sp_channel_embed = nn.Parameter(torch.zeros(len(SPACE_GROUPS), q))
        self.t_channel_embed = nn.Parameter(torch.zeros(len(TIME_GROUPS), q))
        self.st_channel_embed = nn.Parameter(torch.zeros(len(STATIC_GROUPS), q))
        p = cfg.max_patch_size
        self.space_time_embed = nn.ModuleDict({g: FlexiPatchEmbed(len(i), d, p) for g, i in SPACE_TIME_GROUPS.items()})
        self.space_embed = nn.ModuleDict({g: FlexiPatchEmbed(len(i), d, p) for g, i in SPACE_GROUPS.items()})
        self.time_embed = nn.ModuleDict({g: nn.Linear(len(i), d) for g, i in TIME_GROUPS.items()})
        self.static_embed = nn.ModuleDict({g: nn.Linear(len(i), d) for g, i in STATIC_GROUPS.items()})
        self.norm = nn.LayerNorm(d)

    # -- tokens --------------------------------------------------------------------------
    def _project(self, s_t_x, sp_x, t_x, st_x, s_t_m, sp_m, t_m, st_m, p):
        """Token per group and patch; groups masked everywhere in the batch stay zero."""
        b, h, w, t, _ = s_t_x.shape
        d = self.cfg.embedding_size
        zeros = s_t_x.new_zeros

        def pick(x, idx):
            return x[..., list(idx)]

        s_t = [self.space_time_embed[g](pick(s_t_x, i), p) if (s_t_m[:, ::p, ::p, :, k] == 0).any()
               else zeros(b, h // p, w // p, t, d) for k, (g, i) in enumerate(SPACE_TIME_GROUPS.items())]
        sp = [self.space_embed[g](pick(sp_x, i), p) if (sp_m[:, ::p, ::p, k] == 0).any()
              else zeros(b, h // p, w // p, d) for k, (g, i) in enumerate(SPACE_GROUPS.items())]
        tm = [self.time_embed[g](pick(t_x, i)) if (t_m[:, :, k] == 0).any()
              else zeros(b, t, d) for k, (g, i) in enumerate(TIME_GROUPS.items())]
        st = [self.static_embed[g](pick(st_x, i)) if (st_m[:, k] == 0).any()
              else zeros(b, d) for k, (g, i) in enumerate(STATIC_GROUPS.items())]
        masks = (s_t_m[:, ::p, ::p], sp_m[:, ::p, ::p], t_m, st_m)
        return (torch.stack(s_t, -2), torch.stack(sp, -2), torch.stack(tm, -2), torch.stack(st, -2)), masks

    def _encodings(self, s_t, sp, tm, st, months, p, input_res):
        """Channel, time-step, month and (GSD-scaled) spatial encodings, a quarter of the width each."""
        b, h, w, t, n_st, d = s_t.shape
        q = d // 4
        dev = s_t.device
        month = self.month_embed(months)                                 # (B, T, q)
        pos_t = self.pos_embed[:t]                                       # (T, q)
        space = spatial_table(q, h, w, input_res, p, b, dev)                 # (B, h, w, q)
        st_enc = torch.cat([
            self.s_t_channel_embed.expand(b, h, w, t, n_st, q),
            pos_t[None, None, None, :, None].expand(b, h, w, t, n_st, q),
            month[:, None, None, :, None].expand(b, h, w, t, n_st, q),
            space[:, :, :, None, None].expand(b, h, w, t, n_st, q)], dim=-1)
        n_sp, n_t, n_s = sp.shape[-2], tm.shape[-2], st.shape[-2]
        sp_enc = torch.cat([self.sp_channel_embed.expand(b, h, w, n_sp, q), sp.new_zeros(b, h, w, n_sp, 2 * q),
                            space[:, :, :, None].expand(b, h, w, n_sp, q)], dim=-1)
        t_enc = torch.cat([self.t_channel_embed.expand(b, t, n_t, q), pos_t[None, :, None].expand(b, t, n_t, q),
                           month[:, :, None].expand(b, t, n_t, q), tm.new_zeros(b, t, n_t, q)], dim=-1)
        s_enc = torch.cat([self.st_channel_embed.expand(b, n_s, q), st.new_zeros(b, n_s, 3 * q)], dim=-1)
        return s_t + st_enc, sp + sp_enc, tm + t_enc, st + s_enc

    @staticmethod
    def flatten(s_t, sp, tm, st):
        """The four token groups as one sequence ``(B, N, ...)`` (space-time, space, time, static)."""
        b = s_t.shape[0]
        return torch.cat([s_t.reshape(b, -1, *s_t.shape[5:]), sp.reshape(b, -1, *sp.shape[4:]),
                          tm.reshape(b, -1, *tm.shape[3:]), st.reshape(b, -1, *st.shape[2:])], dim=1)

    def forward(self, s_t_x, sp_x, t_x, st_x, s_t_m, sp_m, t_m, st_m, months, patch_size: int,
                input_resolution_m: float | torch.Tensor = BASE_GSD, add_layernorm_on_exit: bool = True):
        """``input_resolution_m``: metres per input pixel (one number, or one per sample).

        Returns the tokens ``(s_t, sp, t, st)`` of shapes ``(B, H/p, W/p, T, 7, D)``,
        ``(B, H/p, W/p, 3, D)``, ``(B, T, 3, D)``, ``(B, 4, D)`` and the masks at token resolution.
        """
        (s_t, sp, tm, st), masks = self._project(s_t_x, sp_x, t_x, st_x, s_t_m, sp_m, t_m, st_m, patch_size)
        shapes = [s_t.shape, sp.shape, tm.shape, st.shape]
        s_t, sp, tm, st = self._encodings(s_t, sp, tm, st, months, patch_size, input_resolution_m)
        x = self.flatten(s_t, sp, tm, st)
        seen = self.flatten(*masks) == 0                                  # (B, N)
        # seen tokens first (stable order), cut to the longest sequence, padding masked out
        order = torch.sort(seen.int(), dim=1, descending=True, stable=True).indices
        n = int(seen.sum(1).max())
        idx = order[:, :n]
        keep = torch.gather(seen, 1, idx)
        y = torch.gather(x, 1, idx[..., None].expand(-1, -1, x.shape[-1])) * keep[..., None]
        attn_keep = None if bool(keep.all()) else keep
        for blk in self.blocks:
            y = blk(y, attn_keep)
        out = torch.zeros_like(x)
        out.scatter_(1, idx[..., None].expand(-1, -1, x.shape[-1]), y * keep[..., None])
        sizes = [math.prod(s[1:-1]) for s in shapes]
        parts = [part.reshape(s) for part, s in zip(torch.split(out, sizes, dim=1), shapes, strict=True)]
        if add_layernorm_on_exit:
            parts = [self.norm(part) for part in parts]
        return (*parts, *masks)

    @classmethod
    def average_tokens(cls, s_t, sp, tm, st, s_t_m, sp_m, t_m, st_m) -> torch.Tensor:
        """``(B, D)``: the mean of every seen token (upstream ``average_tokens``)."""
        x = cls.flatten(s_t, sp, tm, st)
        seen = (cls.flatten(s_t_m, sp_m, t_m, st_m) == 0).to(x.dtype)
        return (x * seen[..., None]).sum(1) / seen.sum(1, keepdim=True)

    @staticmethod
    def average_tokens_per_patch(s_t, sp, tm, st, s_t_m, sp_m, t_m, st_m) -> torch.Tensor:
        """``(B, H*W, D)``: per spatial patch, the mean of its seen space-time and space
        tokens and of every seen time and static token (upstream
        ``apply_mask_and_average_tokens_per_patch``)."""
        b, h, w = s_t.shape[:3]
        s = h * w
        x = torch.cat([s_t.reshape(b, s, -1, s_t.shape[-1]), sp.reshape(b, s, -1, sp.shape[-1]),
                       tm.reshape(b, 1, -1, tm.shape[-1]).expand(b, s, -1, -1),
                       st[:, None].expand(b, s, -1, -1)], dim=2)
        m = torch.cat([s_t_m.reshape(b, s, -1), sp_m.reshape(b, s, -1),
                       t_m.reshape(b, 1, -1).expand(b, s, -1), st_m[:, None].expand(b, s, -1)], dim=2)
        seen = (m == 0).to(x.dtype)
        return (x * seen[..., None]).sum(2) / seen.sum(-1, keepdim=True)

    def flops_per_sample(self, frames: int, grid: int, groups: int = 6) -> float:
        """Multiply-add FLOPs (x2) of one sample: ``groups`` seen space-time groups per
        frame and patch (S2: 6) through the blocks (projections not counted)."""
        from .vit import vit_flops

        return vit_flops(frames * groups * grid * grid, self.cfg.embedding_size, self.cfg.depth, self.cfg.mlp_ratio)
