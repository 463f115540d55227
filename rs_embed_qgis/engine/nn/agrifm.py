"""AgriFM's Sentinel-2 encoder (Li et al., RSE 2026) in plain torch.

AgriFM is a Video Swin Transformer whose temporal down-sampling runs with the spatial
one: ``(4, 2, 2)`` space-time patches (``S2_patch_emd``, a Conv3d over 10 bands), then
four stages of shifted-window attention over ``(8, 7, 7)`` windows with a relative
position bias, each stage but the last ending in a patch merging that halves time
(averaging frame pairs, ``mean_frame_down``) as well as height and width. Output: the
last stage after ``backbone.norm``, time folded into channels (``feature_fusion='cat'``):
``(B, 1024 * T', H / 16, W / 16)``, ``T' = 1`` for up to 32 frames.

Parameter names are those of the official ``AgriFM.pth`` as the upstream loader
(``PretrainingSwinTransformer3DEncoder`` in ``AgriFM/models/video_swin_transformer.py``)
reads it: ``S2_patch_emd.proj.*`` (which upstream renames to ``patch_emd``), and
``backbone.layers.N.blocks.M.{norm1, attn.relative_position_bias_table,
attn.relative_position_index, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}``,
``backbone.layers.N.downsample.{norm, reduction}``, ``backbone.norm``. The file also
holds the patch embeddings of the other sources (``HLSL30_patch_emd``: Landsat,
6 bands; ``Modis_patch_emd``: 7 bands), which the Sentinel-2 encoder does not use.

The forward follows upstream step by step, quirks included: padded tokens join the
window attention; a window larger than the feature map shrinks to it (and its shift to
0); the bias table is indexed with the first ``N x N`` entries of the full window's
index; a single remaining frame is averaged with a zero frame at each temporal merge.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from .vit import Mlp


@dataclass(frozen=True)
class AgriFMConfig:
    in_chans: int = 10
    patch_size: tuple[int, int, int] = (4, 2, 2)
    embed_dim: int = 128
    depths: tuple[int, ...] = (2, 2, 18, 2)
    num_heads: tuple[int, ...] = (4, 8, 16, 32)
    window_size: tuple[int, int, int] = (8, 7, 7)
    mlp_ratio: float = 4.0
    downsample_steps: tuple[tuple[int, int, int], ...] = ((2, 2, 2), (2, 2, 2), (2, 2, 2), (2, 2, 2))
    mean_frame_down: bool = True

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @property
    def num_features(self) -> int:
        return self.embed_dim * 2 ** (len(self.depths) - 1)


#: the configuration of upstream's ``configs/cropland_mapping.py`` (the only published size)
AGRIFM_CONFIG = AgriFMConfig()

#: the other sources' patch embeddings in the official file (not used on Sentinel-2)
OTHER_SOURCE_PREFIXES: tuple[str, ...] = ("HLSL30_patch_emd.", "Modis_patch_emd.")


def _effective_window(size: tuple[int, ...], window: tuple[int, ...],
                      shift: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A window dimension no smaller than the feature map becomes the map (shift 0)."""
    w, s = list(window), list(shift)
    for i, n in enumerate(size):
        if n <= window[i]:
            w[i], s[i] = n, 0
    return tuple(w), tuple(s)


def _partition(x: torch.Tensor, w: tuple[int, int, int]) -> torch.Tensor:
    """``(B, D, H, W, C)`` -> ``(B * windows, wd * wh * ww, C)``."""
    b, d, h, wd, c = x.shape
    x = x.view(b, d // w[0], w[0], h // w[1], w[1], wd // w[2], w[2], c)
    return x.permute(0, 1, 3, 5, 2, 4, 6, 7).reshape(-1, w[0] * w[1] * w[2], c)


def _merge(windows: torch.Tensor, w: tuple[int, int, int], b: int, d: int, h: int, wd: int) -> torch.Tensor:
    x = windows.view(b, d // w[0], h // w[1], wd // w[2], w[0], w[1], w[2], -1)
    return x.permute(0, 1, 4, 2, 5, 3, 6, 7).reshape(b, d, h, wd, -1)


@lru_cache(maxsize=32)
def _shift_mask(d: int, h: int, w: int, window: tuple[int, int, int], shift: tuple[int, int, int]) -> torch.Tensor:
    """Additive mask (0 / -100) of the shifted windows, ``(windows, N, N)`` (Swin's regions)."""
    region = torch.zeros((1, d, h, w, 1))
    cnt = 0
    # the same three slices per axis as upstream; with a shift of 0 the last one spans the axis
    for sd in (slice(-window[0]), slice(-window[0], -shift[0]), slice(-shift[0], None)):
        for sh in (slice(-window[1]), slice(-window[1], -shift[1]), slice(-shift[1], None)):
            for sw in (slice(-window[2]), slice(-window[2], -shift[2]), slice(-shift[2], None)):
                region[:, sd, sh, sw, :] = cnt
                cnt += 1
    ids = _partition(region, window).squeeze(-1)
    diff = ids.unsqueeze(1) - ids.unsqueeze(2)
    return diff.masked_fill(diff != 0, -100.0).masked_fill(diff == 0, 0.0)


def _relative_index(window: tuple[int, int, int]) -> torch.Tensor:
    coords = torch.stack(torch.meshgrid(*[torch.arange(n) for n in window], indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
    for i, n in enumerate(window):
        rel[:, :, i] += n - 1
    rel[:, :, 0] *= (2 * window[1] - 1) * (2 * window[2] - 1)
    rel[:, :, 1] *= 2 * window[2] - 1
    return rel.sum(-1)


class WindowAttention3D(nn.Module):
    def __init__(self, dim: int, window: tuple[int, int, int], num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window[0] - 1) * (2 * window[1] - 1) * (2 * window[2] - 1), num_heads))
        self.register_buffer("relative_position_index", _relative_index(window))
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        bw, n, c = x.shape
        qkv = self.qkv(x).reshape(bw, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        # upstream indexes the bias with the first N x N entries of the full window's index
        idx = self.relative_position_index[:n, :n].reshape(-1)
        bias = self.relative_position_bias_table[idx].reshape(n, n, -1).permute(2, 0, 1)
        bias = bias.unsqueeze(0).to(x.dtype)                                   # (1, nH, N, N)
        if mask is not None:
            nw = mask.shape[0]
            bias = (bias.unsqueeze(0) + mask.to(x.dtype)[None, :, None]).expand(bw // nw, -1, -1, -1, -1)
            bias = bias.reshape(bw, self.num_heads, n, n)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=bias)
        return self.proj(out.transpose(1, 2).reshape(bw, n, c))


class SwinTransformerBlock3D(nn.Module):
    def __init__(self, dim: int, num_heads: int, window: tuple[int, int, int],
                 shift: tuple[int, int, int], mlp_ratio: float) -> None:
        super().__init__()
        self.window, self.shift = window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention3D(dim, window, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def _attend(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, d, h, w, c = x.shape
        window, shift = _effective_window((d, h, w), self.window, self.shift)
        x = self.norm1(x)
        pd, ph, pw = ((window[i] - n % window[i]) % window[i] for i, n in enumerate((d, h, w)))
        x = F.pad(x, (0, 0, 0, pw, 0, ph, 0, pd))  # padded tokens (zeros) take part, as upstream
        _, dp, hp, wp, _ = x.shape
        shifted = any(s > 0 for s in shift)
        if shifted:
            x = torch.roll(x, shifts=tuple(-s for s in shift), dims=(1, 2, 3))
        out = self.attn(_partition(x, window), mask if shifted else None)
        x = _merge(out.view(-1, *window, c), window, b, dp, hp, wp)
        if shifted:
            x = torch.roll(x, shifts=shift, dims=(1, 2, 3))
        return x[:, :d, :h, :w].contiguous()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        x = x + self._attend(x, mask)
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    """2x2 spatial merge; time halved by averaging frame pairs (``mean_frame_down``)."""

    def __init__(self, dim: int, step: tuple[int, int, int], mean_frame_down: bool) -> None:
        super().__init__()
        self.step, self.mean_frame_down = step, mean_frame_down
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, d, h, w, _ = x.shape
        if h % 2 or w % 2:
            x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        sd, sh, sw = self.step
        frames_mean = sd >= 2 and self.mean_frame_down
        if frames_mean and d % sd:
            x = F.pad(x, (0, 0, 0, 0, 0, 0, 0, sd - d % sd))  # a zero frame joins the last pair
        oh, ow = (0 if sh == 1 else 1), (0 if sw == 1 else 1)
        parts = []
        for hy, wx in ((0, 0), (oh, 0), (0, ow), (oh, ow)):
            p = x[:, ::sd, hy::sh, wx::sw]
            if frames_mean:
                for i in range(1, sd):
                    p = p + x[:, i::sd, hy::sh, wx::sw]
                p = p / sd
            parts.append(p)
        return self.reduction(self.norm(torch.cat(parts, -1)))


class BasicLayer(nn.Module):
    def __init__(self, dim: int, depth: int, num_heads: int, window: tuple[int, int, int],
                 mlp_ratio: float, downsample: tuple[int, int, int] | None, mean_frame_down: bool) -> None:
        super().__init__()
        self.window = window
        self.shift = tuple(i // 2 for i in window)
        self.blocks = nn.ModuleList([
            SwinTransformerBlock3D(dim, num_heads, window, (0, 0, 0) if i % 2 == 0 else self.shift, mlp_ratio)
            for i in range(depth)])
        self.downsample = PatchMerging(dim, downsample, mean_frame_down) if downsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, D, H, W, C)`` -> the same layout after the blocks (and the merge)."""
        _, d, h, w, _ = x.shape
        window, shift = _effective_window((d, h, w), self.window, self.shift)
        padded = tuple(int(math.ceil(n / window[i])) * window[i] for i, n in enumerate((d, h, w)))
        mask = _shift_mask(*padded, window, shift).to(x.device)
        for blk in self.blocks:
            x = blk(x, mask)
        return self.downsample(x) if self.downsample is not None else x


class SwinPatchEmbed3D(nn.Module):
    def __init__(self, cfg: AgriFMConfig) -> None:
        super().__init__()
        self.patch_size = cfg.patch_size
        self.proj = nn.Conv3d(cfg.in_chans, cfg.embed_dim, kernel_size=cfg.patch_size, stride=cfg.patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, C, H, W)`` -> ``(B, E, T/4, H/2, W/2)``, zero-padded to whole patches."""
        x = x.permute(0, 2, 1, 3, 4)
        pt, ph, pw = self.patch_size
        _, _, d, h, w = x.shape
        x = F.pad(x, (0, (pw - w % pw) % pw, 0, (ph - h % ph) % ph, 0, (pt - d % pt) % pt))
        return self.proj(x)


class SwinTransformer3D(nn.Module):
    def __init__(self, cfg: AgriFMConfig) -> None:
        super().__init__()
        n = len(cfg.depths)
        self.layers = nn.ModuleList([
            BasicLayer(cfg.embed_dim * 2 ** i, cfg.depths[i], cfg.num_heads[i], cfg.window_size, cfg.mlp_ratio,
                       cfg.downsample_steps[i] if i < n - 1 else None, cfg.mean_frame_down)
            for i in range(n)])
        self.norm = nn.LayerNorm(cfg.num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, D, H, W)`` patch tokens -> ``(B, C' * D', H', W')`` (time folded into channels)."""
        x = x.permute(0, 2, 3, 4, 1)
        for layer in self.layers:
            x = layer(x.contiguous())
        x = self.norm(x).permute(0, 4, 1, 2, 3)                       # (B, C, D, H, W)
        b, c, d, h, w = x.shape
        return x.reshape(b, c * d, h, w)


class AgriFMEncoder(nn.Module):
    """The Sentinel-2 encoder; state-dict keys as in the official ``AgriFM.pth``."""

    def __init__(self, cfg: AgriFMConfig = AGRIFM_CONFIG) -> None:
        super().__init__()
        self.cfg = cfg
        self.S2_patch_emd = SwinPatchEmbed3D(cfg)
        self.backbone = SwinTransformer3D(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, 10, H, W)`` normalised Sentinel-2 series -> ``(B, 1024 * T', H/16, W/16)``."""
        return self.backbone(self.S2_patch_emd(x))

    def flops(self, frames: int, size: int) -> float:
        """Multiply-add FLOPs (x2) of one ``frames x size x size`` input (window attention,
        MLPs, merges and the patch embedding; padding ignored)."""
        c = self.cfg
        d = math.ceil(frames / c.patch_size[0])
        hw = math.ceil(size / c.patch_size[1])
        total = 2.0 * d * hw * hw * c.in_chans * math.prod(c.patch_size) * c.embed_dim
        dim = c.embed_dim
        for i, depth in enumerate(c.depths):
            n_tok = d * hw * hw
            win, _ = _effective_window((d, hw, hw), c.window_size, c.window_size)
            per_window = math.prod(win)
            attn = 2 * n_tok * dim * 3 * dim + 2 * 2 * n_tok * per_window * dim + 2 * n_tok * dim * dim
            mlp = 2 * 2 * n_tok * dim * int(dim * c.mlp_ratio)
            total += depth * (attn + mlp)
            if i < len(c.depths) - 1:
                d = math.ceil(d / 2) if c.mean_frame_down else d
                hw = math.ceil(hw / 2)
                total += 2 * d * hw * hw * 4 * dim * 2 * dim
                dim *= 2
        return float(total)
