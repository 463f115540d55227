"""AnySat (Astruc et al., CVPR 2025) in plain torch, with the official parameter names.

The module tree mirrors the released feature extractor (upstream ``hubconf.py``
builds ``AnyModule(release=True)`` over eleven modality projectors), so the
official checkpoint ``g-astruc/AnySat/models/AnySat.pth`` (``{"state_dict": ...}``,
no key prefix) loads with ``strict=True``. Every projector is built, because the
checkpoint holds them all; only the Sentinel-2 time-series path (``s2`` +
``s2_dates``) is wired for inference here.

Forward path for ``output="patch"`` with ``patch_size`` metres (``scale = patch_size // 10``):

1. ``projector_s2`` (a lightweight temporal attention encoder, L-TAE, shared by all
   pixels) turns ``(B, T, 10, H, W)`` + day-of-year into ``(B, D, H, W)``, then
   cuts it into ``scale x scale`` sub-patches.
2. ``spatial_encoder`` (a small transformer with image relative position
   encoding) reduces each patch's sub-patches to one token (its class token).
3. ``blocks``: ViT blocks over all patch tokens, then a cross-attention block
   whose learned queries (plus sin-cos positions) read the patch grid.
4. Patch tokens become ``(B, H/scale, W/scale, D)``.

The arithmetic is upstream's; its arrangement is for speed on a CPU, where the forward is
compute-bound (results equal up to float rounding): group norms over rows as grouped layer
norms, the spatial encoder's last block computed for the class token alone (the only token
read out), attention with the RPE as the mask of the fused kernel, the cross-attention's
queries (which do not depend on the input) and the date encodings computed once per batch or
series, and (on a CPU) pixels, patches and series taken in chunks that keep the activations in the
caches, so a batch costs no more per series than one series alone.

Two details follow the upstream computation on purpose, so pretrained weights see
what they were trained with:

* relative position encoding: upstream gathers the contextual RPE table with a
  one-head index (the pure-PyTorch fallback used when the optional ``rpe_ops``
  C++ extension is not compiled, which is how the hub model runs), so the RPE of
  head 0 is added to every head. We compute exactly that.
* ``flash_attn=True``: upstream hands ``(B, heads, N, d)`` tensors to
  ``flash_attn_func``, which reads them as ``(B, N, heads, d)``; attention then
  mixes heads, not tokens. ``flash_attn=True`` reproduces that result with
  ``torch.nn.functional.scaled_dot_product_attention`` (no flash-attn package
  needed); ``flash_attn=False`` is ordinary token attention (upstream's
  non-flash path, rs-embed's default).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import torch
import torch.nn as nn
import torch.nn.functional as F

from .vit import Mlp  # same fc1/fc2 key layout

#: model size -> (embed_dim, depth, num_heads), as upstream ``get_default_config``
SIZES: dict[str, tuple[int, int, int]] = {
    "tiny": (256, 2, 4),
    "small": (512, 4, 8),
    "base": (768, 6, 12),
}

#: modalities of the released model, in upstream config order
MODALITIES: tuple[str, ...] = ("aerial", "aerial-flair", "spot", "naip", "s2", "s1-asc",
                               "s1", "alos", "l7", "l8", "modis")

#: image projectors (``PatchMLPMulti``): in_chans, patch_size, resolution (m/px)
_MLP_PROJECTORS = {
    "aerial": (4, 10, 0.2),
    "aerial-flair": (5, 10, 0.2),
    "spot": (3, 10, 1.0),
    "naip": (4, 8, 1.25),
}

#: time-series projectors (``PatchLTAEMulti``): in_channels, dropout, T, in_norm, reduce_scale
_LTAE_PROJECTORS = {
    "s2": (10, 0.0, 367, True, 1),
    "s1-asc": (2, 0.2, 367, False, 1),
    "s1": (3, 0.2, 367, False, 1),
    "alos": (3, 0.2, 367, False, 1),
    "l7": (6, 0.2, 367, False, 1),
    "l8": (11, 0.2, 366, False, 1),
    "modis": (7, 0.2, 367, False, 12),
}

#: input resolution (m) of each modality's tokens in the spatial encoder
INPUT_RES = {"aerial": 2, "aerial-flair": 2, "spot": 10, "naip": 10, "s2": 10, "s1-asc": 10,
             "s1-des": 10, "s1": 10, "l8": 10, "l7": 30, "alos": 30, "modis": 250}

# image relative position encoding: ratio 1.9, Euclidean method, contextual on keys,
# one shared head, one skip token (the class token)
_RPE_ALPHA, _RPE_BETA, _RPE_GAMMA = 1.9, 3.8, 15.2
_RPE_BUCKETS = 2 * int(_RPE_BETA) + 1 + 1   # 7 distance buckets + 1 for the skip token

#: tokens a transformer runs at once on a CPU when its sequences are independent (patches in
#: the spatial encoder, series in the blocks): chunks keep the activations in the caches, which
#: a whole batch outgrows (16 series of 577 tokens cost ~15 % more each; 2 to 4 series per
#: chunk are as fast per series as one alone); the results do not change. An accelerator runs
#: them whole (the embedder's batch size bounds them), where large launches are what pays.
CHUNK_TOKENS = 2048
#: pixels the temporal encoder takes at once on an accelerator (only memory is bounded there)
ACCELERATOR_CHUNK_PIXELS = 1024


def _step(x: torch.Tensor, budget: int, per_item: int) -> int:
    """Items of ``x`` (each ``per_item`` tokens) per chunk: within ``budget`` on a CPU, all elsewhere."""
    return max(1, budget // per_item) if x.device.type == "cpu" else max(1, x.shape[0])


# -- positional encodings -------------------------------------------------------------
def _sincos_1d(dim: int, pos: torch.Tensor) -> torch.Tensor:
    omega = torch.arange(dim // 2, dtype=torch.float32) / (dim / 2.0)
    omega = 1.0 / 10000 ** omega
    out = pos.reshape(-1)[:, None] * omega[None, :]
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1)


@lru_cache(maxsize=64)
def sincos_2d(dim: int, grid_size: int, step: float, cls_token: bool = True) -> torch.Tensor:
    """``(1, [1+] g*g, dim)`` 2-D sin-cos positions of a ``g x g`` grid spaced ``step``.

    The first half encodes the column, the second the row (upstream's ``xy``
    meshgrid order); the class token gets zeros.
    """
    idx = torch.arange(grid_size, dtype=torch.float32)
    rows, cols = torch.meshgrid(idx, idx, indexing="ij")
    emb = torch.cat([_sincos_1d(dim // 2, cols * step), _sincos_1d(dim // 2, rows * step)], dim=1)
    emb = emb.reshape(1, grid_size * grid_size, dim)
    if cls_token:
        emb = torch.cat([torch.zeros(1, 1, dim), emb], dim=1)
    return emb


class TemporalPositionalEncoder(nn.Module):
    """Sinusoidal encoding of day-of-year, ``d`` channels repeated ``repeat`` times."""

    def __init__(self, d: int, T: int = 1000, repeat: int | None = None) -> None:
        super().__init__()
        self.d, self.T, self.repeat = d, T, repeat
        self._denom = torch.pow(float(T), 2 * (torch.arange(d).float() // 2) / d)

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        table = positions[:, :, None].float() / self._denom.to(positions.device)[None, None, :]
        out = torch.empty_like(table)
        out[:, :, 0::2] = torch.sin(table[:, :, 0::2])
        out[:, :, 1::2] = torch.cos(table[:, :, 1::2])
        if self.repeat is not None:
            out = out.repeat(1, 1, self.repeat)
        return out


# -- L-TAE time-series projector ----------------------------------------------------------
class GroupNormRows(nn.GroupNorm):
    """``nn.GroupNorm`` (same parameters) for ``(N, C)`` rows, as a layer norm per group.

    Each row's groups are normalised over their channels, which is ``F.layer_norm`` on
    ``(N, G, C/G)`` followed by the affine in place: about 5x faster on a CPU than
    ``group_norm`` on rows (measured 11.9 -> 2.1 ms with the ReLU, 4608 x 512), the
    same numbers up to float rounding. The L-TAE's per-pixel MLPs spend most of their
    non-matmul time here.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2:
            return super().forward(x)
        n, c = x.shape
        g = self.num_groups
        y = F.layer_norm(x.reshape(n, g, c // g), (c // g,), eps=self.eps).view(n, c)
        return y.mul_(self.weight).add_(self.bias) if self.affine else y


class LTAEAttention(nn.Module):
    """Multi-head attention with one learned master query per head (L-TAE)."""

    def __init__(self, n_head: int, d_k: int, d_in: int) -> None:
        super().__init__()
        self.n_head, self.d_k, self.d_in = n_head, d_k, d_in
        self.Q = nn.Parameter(torch.zeros(n_head, d_k))
        nn.init.normal_(self.Q, mean=0, std=math.sqrt(2.0 / d_k))
        self.fc1_k = nn.Linear(d_in, n_head * d_k)
        nn.init.normal_(self.fc1_k.weight, mean=0, std=math.sqrt(2.0 / d_k))

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        """``(N, T, d_in)`` -> ``(N, d_in)`` (heads concatenated)."""
        n, t, _ = v.shape
        h, dk = self.n_head, self.d_k
        # one query per head: its logits are a product-sum, its output a weighted sum over T
        # (element-wise; einsum's batched products would first copy k and v head-major)
        k = self.fc1_k(v).view(n, t, h, dk)
        attn = ((k * self.Q).sum(-1) / math.sqrt(dk)).softmax(dim=1)          # N,T,h
        out = (attn.unsqueeze(-1) * v.view(n, t, h, self.d_in // h)).sum(1)   # N,h,dv
        return out.reshape(n, self.d_in)


class LTAE2d(nn.Module):
    """Lightweight Temporal Attention Encoder applied to every pixel of a series."""

    def __init__(self, in_channels: int, n_head: int, d_k: int, mlp: Sequence[int],
                 dropout: float, mlp_in: Sequence[int], T: int, in_norm: bool,
                 positional_encoding: bool = True) -> None:
        super().__init__()
        widths = [in_channels] + list(mlp_in)
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(a, b), GroupNormRows(4, b), nn.ReLU(inplace=True), nn.Dropout(dropout)]
        self.inconv = nn.Sequential(*layers)
        self.d_model = widths[-1]
        self.n_head = n_head
        self.positional_encoder = (TemporalPositionalEncoder(self.d_model // n_head, T=T, repeat=n_head)
                                   if positional_encoding else None)
        self.attention_heads = LTAEAttention(n_head, d_k, self.d_model)
        self.in_norm = nn.GroupNorm(n_head, self.d_model) if in_norm else nn.Identity()
        self.out_norm = GroupNormRows(n_head, mlp[-1])
        out_widths = [self.d_model] + list(mlp)
        layers = []
        for a, b in zip(out_widths[:-1], out_widths[1:], strict=True):
            layers += [nn.Linear(a, b), GroupNormRows(4, b), nn.ReLU(inplace=True)]
        self.mlp = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)

    #: pixel series encoded at once on a CPU; every pixel is independent, so chunking only bounds
    #: memory and keeps the widest layer (T*chunk x 2D floats) near the caches: 576 (one series at
    #: the default 24 x 24 px) measured as fast as 256-768, 1024 ~20 % slower (T=8, tiny)
    chunk_pixels: int = 576

    def forward(self, x: torch.Tensor, dates: torch.Tensor) -> torch.Tensor:
        """``(B, T, C, H, W)``, ``(B, T)`` -> ``(B, D, H, W)``."""
        b, t, c, h, w = x.shape
        seqs = x.permute(0, 3, 4, 1, 2).reshape(b * h * w, t, c)
        # the date encoding depends on the series, not the pixel: once per series
        pe = self.positional_encoder(dates) if self.positional_encoder is not None else None  # B,T,D
        owner = torch.arange(b, device=x.device).repeat_interleave(h * w)
        step = self.chunk_pixels if x.device.type == "cpu" else ACCELERATOR_CHUNK_PIXELS
        outs = [self._encode(seqs[i:i + step], None if pe is None else pe[owner[i:i + step]])
                for i in range(0, seqs.shape[0], step)]
        out = outs[0] if len(outs) == 1 else torch.cat(outs)
        return out.view(b, h, w, -1).permute(0, 3, 1, 2)

    def _encode(self, seqs: torch.Tensor, pe: torch.Tensor | None) -> torch.Tensor:
        n, t, c = seqs.shape
        out = self.inconv(seqs.reshape(n * t, c)).view(n, t, -1)
        out = self.in_norm(out.permute(0, 2, 1)).permute(0, 2, 1)
        if pe is not None:
            out = out + pe
        out = self.attention_heads(out)
        return self.out_norm(self.dropout(self.mlp(out)))


class PatchLTAEMulti(nn.Module):
    """Time-series projector: L-TAE per pixel, then ``scale x scale`` sub-patches."""

    def __init__(self, in_channels: int, dim: int, dropout: float, T: int, in_norm: bool,
                 reduce_scale: int = 1, n_head: int = 16, d_k: int = 8) -> None:
        super().__init__()
        self.patch_embed = LTAE2d(in_channels, n_head, d_k, mlp=[dim],
                                  dropout=dropout, mlp_in=[dim // 8, dim // 2, dim, dim * 2, dim],
                                  T=T, in_norm=in_norm)
        self.reduce_scale = reduce_scale
        self.pad_parameter = nn.Parameter(torch.tensor(0.0), requires_grad=False)

    def forward(self, x: torch.Tensor, dates: torch.Tensor, scale: int) -> torch.Tensor:
        """-> ``(B * n_patches, scale*scale, D)``, patches in row-major order."""
        s = max(1, scale // self.reduce_scale)
        f = self.patch_embed(x, dates)                                      # B,D,H,W
        b, d, h, w = f.shape
        gh, gw = h // s, w // s
        f = f[:, :, :gh * s, :gw * s].reshape(b, d, gh, s, gw, s)
        f = f.permute(0, 2, 4, 3, 5, 1).reshape(b * gh * gw, s * s, d)
        return f


class PatchMLPMulti(nn.Module):
    """Image projector of the very-high-resolution modalities (weights only here)."""

    def __init__(self, in_chans: int, dim: int, patch_size: int, resolution: float) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.res = int(10 / resolution)
        self.patch_embed = nn.Conv2d(in_chans, dim, kernel_size=patch_size, stride=patch_size, bias=False)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * 2), nn.LayerNorm(dim * 2), nn.ReLU(),
                                 nn.Linear(dim * 2, dim), nn.LayerNorm(dim), nn.ReLU())


# -- transformer parts -------------------------------------------------------------------


@lru_cache(maxsize=32)
def rpe_buckets(height: int, width: int) -> torch.Tensor:
    """Bucket id of every (query, key) pair of a class token + ``height x width`` grid.

    Euclidean distance, rounded, mapped by iRPE's piecewise function
    (exact up to ``alpha``, logarithmic up to ``beta``), shifted by ``int(beta)``;
    pairs with the class token use the extra bucket.
    """
    rows = torch.arange(height).view(height, 1).repeat(1, width)
    cols = torch.arange(width).view(1, width).repeat(height, 1)
    pos = torch.stack([rows, cols], 2).view(-1, 2)
    diff = pos[:, None, :] - pos[None, :, :]
    dis = diff.square().sum(2).float().sqrt().round()
    far = dis.abs() > _RPE_ALPHA
    logd = (_RPE_ALPHA + torch.log(dis.clamp(min=1e-6) / _RPE_ALPHA)
            / math.log(_RPE_GAMMA / _RPE_ALPHA) * (_RPE_BETA - _RPE_ALPHA))
    logd = (torch.sign(dis) * logd).round().clip(max=_RPE_BETA)
    idx = torch.where(far, logd.long(), dis.round().long()) + int(_RPE_BETA)
    n = height * width
    out = torch.full((n + 1, n + 1), _RPE_BUCKETS - 1, dtype=torch.long)
    out[1:, 1:] = idx
    return out


class ContextualRPE(nn.Module):
    """Contextual image relative position encoding on keys (one shared head)."""

    def __init__(self, head_dim: int) -> None:
        super().__init__()
        self.lookup_table_weight = nn.Parameter(torch.zeros(1, head_dim, _RPE_BUCKETS))
        nn.init.trunc_normal_(self.lookup_table_weight, std=0.02)

    def forward(self, q: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """``q`` ``(B, h, Lq, d)`` -> ``(B, 1, Lq, L)`` bias (head 0's table, as upstream).

        ``Lq`` may be less than the ``L = 1 + height*width`` keys: the first ``Lq`` queries.
        """
        bucket = rpe_buckets(height, width).to(q.device)[:q.shape[2]]
        table = q[:, :1] @ self.lookup_table_weight[0]                     # B,1,Lq,nb
        b, _, lq, _ = table.shape
        return torch.gather(table, 3, bucket[None, None].expand(b, 1, lq, bucket.shape[1]))


class RPEAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.rpe_k = ContextualRPE(dim // num_heads)

    def forward(self, x: torch.Tensor, first_only: bool = False) -> torch.Tensor:
        """``(B, L, C)`` -> ``(B, L, C)``, or ``(B, 1, C)``: the first token's output only."""
        b, n, c = x.shape
        side = int(n ** 0.5)
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        if first_only:
            q = q[:, :, :1]
        # upstream adds the RPE of the scaled queries to the logits: a mask of the fused attention
        bias = self.rpe_k(q * self.scale, side, side)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=self.scale)
        return self.proj(out.transpose(1, 2).reshape(b, q.shape[2], c))


class BlockTransformer(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = RPEAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, first_only: bool = False) -> torch.Tensor:
        """``first_only``: the first token's output (every token still a key), ``(B, 1, C)``."""
        y = self.attn(self.norm1(x), first_only)
        x = (x[:, :1] if first_only else x) + y
        return x + self.mlp(self.norm2(x))


class TransformerMulti(nn.Module):
    """Spatial encoder: sub-patch tokens of one patch -> one patch token."""

    chunk_tokens: int = CHUNK_TOKENS

    def __init__(self, dim: int, depth: int, num_heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.input_res = dict(INPUT_RES)
        self.predictor_blocks = nn.ModuleList(
            [BlockTransformer(dim, num_heads, mlp_ratio) for _ in range(depth)])
        self.predictor_norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, modality: str, scale: int) -> torch.Tensor:
        """``(N, s*s, C)`` sub-patch tokens -> ``(N, C)``: each patch's class token."""
        n, length, c = x.shape
        res = self.input_res[modality]
        grid = max(1, int(scale * 10 / res))
        pos = sincos_2d(c, grid, float(res)).to(x.device, x.dtype)
        step = _step(x, self.chunk_tokens, length + 1)
        outs = [self._encode(x[i:i + step], pos) for i in range(0, n, step)]
        return outs[0] if len(outs) == 1 else torch.cat(outs)

    def _encode(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + pos
        for blk in self.predictor_blocks[:-1]:
            x = blk(x)
        # only the class token is read out: the last block computes its row alone
        return self.predictor_norm(self.predictor_blocks[-1](x, first_only=True))[:, 0]


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, flash_attn: bool = False) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.flash_attn = flash_attn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)                                              # B,h,N,d
        if self.flash_attn:
            # upstream's flash_attn_func reads (B,h,N,d) as (B,N,h,d): attention across heads
            out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2),
                                                 v.transpose(1, 2)).transpose(1, 2)
        else:
            out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, flash_attn: bool = False) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, flash_attn=flash_attn)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class CrossRPEAttentionMulti(nn.Module):
    """Learned queries at the patch positions attend to all modality tokens."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.wk = nn.Linear(dim, dim, bias=qkv_bias)
        self.wv = nn.Linear(dim, dim, bias=qkv_bias)
        self.q_learned = nn.Parameter(torch.zeros(1, 1, dim))
        self.rpe_k = ContextualRPE(dim // num_heads)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, scale: int) -> torch.Tensor:
        """One modality, no MODIS: ``(B, 1 + g*g, D)`` -> same shape."""
        b, n, c = x.shape
        g = int((n - 1) ** 0.5)
        h = self.num_heads
        k = self.wk(x).reshape(b, n, h, c // h).permute(0, 2, 1, 3)
        v = self.wv(x).reshape(b, n, h, c // h).permute(0, 2, 1, 3)
        # the queries (learned + positions) and so their RPE do not depend on the input:
        # computed once and shared by every series of the batch
        pos = sincos_2d(c, g, float(scale)).to(x.device, k.dtype)
        q = (self.q_learned + pos).reshape(1, n, h, c // h).permute(0, 2, 1, 3)
        bias = self.rpe_k(q, g, g)                               # 1,1,n,n: RPE of the unscaled q, as upstream
        out = F.scaled_dot_product_attention(q.expand(b, -1, -1, -1), k, v, attn_mask=bias, scale=self.scale)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class CrossBlockMulti(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = CrossRPEAttentionMulti(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, scale: int) -> torch.Tensor:
        x = self.attn(self.norm1(x), scale)          # no residual here, as upstream
        return x + self.mlp(self.norm2(x))


# -- the whole model ----------------------------------------------------------------------
class AnySat(nn.Module):
    """The released AnySat feature extractor (upstream ``AnyModule``, release mode).

    ``forward(x, patch_size, output)`` takes ``x = {"s2": (B,T,10,H,W), "s2_dates": (B,T)}``
    with square images, ``patch_size`` in metres (a positive multiple of 10), and
    returns ``(B, H/s, W/s, D)`` for ``output="patch"`` or ``(B, D)`` for ``"tile"``
    (``s = patch_size // 10``).
    """

    chunk_tokens: int = CHUNK_TOKENS

    def __init__(self, model_size: str = "base", flash_attn: bool = False) -> None:
        super().__init__()
        if model_size not in SIZES:
            raise ValueError(f"model_size must be one of {sorted(SIZES)}, got {model_size!r}")
        dim, depth, heads = SIZES[model_size]
        self.model_size = model_size
        self.embed_dim = dim
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        for m in sorted(MODALITIES):   # upstream registers projectors in sorted order
            if m in _MLP_PROJECTORS:
                c, p, r = _MLP_PROJECTORS[m]
                proj: nn.Module = PatchMLPMulti(c, dim, p, r)
            else:
                c, drop, T, in_norm, red = _LTAE_PROJECTORS[m]
                proj = PatchLTAEMulti(c, dim, drop, T, in_norm, red)
            setattr(self, f"projector_{m}", proj)
        self.spatial_encoder = TransformerMulti(dim, depth, heads)
        self.blocks = nn.ModuleList([Block(dim, heads, flash_attn=flash_attn) for _ in range(depth)]
                                    + [CrossBlockMulti(dim, heads)])
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    def forward(self, x: dict[str, torch.Tensor], patch_size: int, output: str = "patch") -> torch.Tensor:
        if output not in ("patch", "tile"):
            raise ValueError(f"output must be 'patch' or 'tile' here, got {output!r}")
        if patch_size <= 0 or patch_size % 10:
            raise ValueError(f"patch_size must be a positive multiple of 10 m, got {patch_size!r}")
        mods = [k for k in x if not k.endswith(("_dates", "_mask"))]
        if mods != ["s2"]:
            raise ValueError(f"only the 's2' modality is wired for inference here, got {mods}")
        s2, dates = x["s2"], x["s2_dates"]
        if s2.ndim != 5 or s2.shape[-1] != s2.shape[-2]:
            raise ValueError(f"s2 must be (B, T, C, H, W) with square images, got {tuple(s2.shape)}")
        scale = patch_size // 10
        b = s2.shape[0]
        tok = self.projector_s2(s2, dates, scale)                            # B*N, s*s, D
        n = tok.shape[0] // b
        g = int(round(n ** 0.5))
        if g == 0 or g * g != n:
            raise ValueError(f"patch grid is empty or not square: {n} patches from {tuple(s2.shape)}")
        tok = self.spatial_encoder(tok, "s2", scale).view(b, n, self.embed_dim)
        pos = sincos_2d(self.embed_dim, g, float(scale)).to(tok.device, tok.dtype)
        tokens = torch.cat([(self.cls_token + pos[:, :1]).expand(b, -1, -1), tok + pos[:, 1:]], dim=1)
        step = _step(tokens, self.chunk_tokens, tokens.shape[1])
        outs = [self._blocks(tokens[i:i + step], scale) for i in range(0, b, step)]
        tokens = outs[0] if len(outs) == 1 else torch.cat(outs)
        if output == "tile":
            return tokens[:, 0]
        return tokens[:, 1:].reshape(b, g, g, self.embed_dim)

    def _blocks(self, tokens: torch.Tensor, scale: int) -> torch.Tensor:
        for blk in self.blocks[:-1]:
            tokens = blk(tokens)
        return self.blocks[-1](tokens, scale)
