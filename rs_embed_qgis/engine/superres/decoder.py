"""S2x10NetS: the 10-band, 10x super-resolution decoder (ESRGAN-style RRDB network).

Layout (key names follow BasicSR's ``RRDBNet``, the reference ESRGAN code):

``conv_first``            3x3 conv, 10 bands -> ``num_feat`` (160)
``body.{i}``              ``num_block`` (23) RRDB blocks, each three residual dense
                          blocks ``rdb1..rdb3`` of five 3x3 convs ``conv1..conv5``
                          with growth ``num_grow_ch`` (80); dense output scaled by
                          0.2 and added to the input (ESRGAN residual scaling), and
                          the RRDB output scaled by 0.2 and added again
``conv_body``             3x3 conv closing the trunk; the trunk is residual
``conv_up{k}``            one 3x3 conv per upsample stage, after nearest-neighbour
                          upsampling by that stage's factor
``conv_hr``, ``conv_last`` 3x3 convs at the output resolution, -> 10 bands

The upsample head is exactly 10x. The reference text speaks of "five upsample
stages doubling", which would be 32x, so the stage factors are configurable
(``up_scales``, product must be 10) and the default is ``(2, 5)``: a checkpoint
with five ``conv_up`` convs is matched by ``(2, 5, 1, 1, 1)`` (stages of factor
1 are plain convs at the current resolution). See docs/superres.md.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ModelError
from ..progress import check_cancelled
from .constants import S2_BANDS, SCALE  # noqa: F401 - S2_BANDS re-exported


@dataclass(frozen=True)
class S2x10Config:
    in_bands: int = 10
    out_bands: int = 10
    num_feat: int = 160
    num_block: int = 23
    num_grow_ch: int = 80
    up_scales: tuple[int, ...] = (2, 5)
    res_scale: float = 0.2

    def __post_init__(self) -> None:
        ups = tuple(int(s) for s in self.up_scales)
        object.__setattr__(self, "up_scales", ups)
        if not ups or any(s < 1 for s in ups) or math.prod(ups) != SCALE:
            raise ModelError(
                f"up_scales must be positive integers whose product is {SCALE} (a 10x head), "
                f"got {ups} (product {math.prod(ups) if ups else 0})")
        for name in ("in_bands", "out_bands", "num_feat", "num_grow_ch"):
            if int(getattr(self, name)) < 1:
                raise ModelError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if int(self.num_block) < 0:
            raise ModelError(f"num_block must be >= 0, got {self.num_block!r}")

    @property
    def scale(self) -> int:
        return SCALE

    def to_dict(self) -> dict:
        d = asdict(self)
        d["up_scales"] = list(self.up_scales)
        return d


FULL_CONFIG = S2x10Config()


def default_up_scales(n_stages: int) -> tuple[int, ...]:
    """Stage factors for a checkpoint with ``n_stages`` ``conv_up`` convs (product 10)."""
    if n_stages < 1:
        raise ModelError(f"a 10x head needs at least one upsample stage, the checkpoint has {n_stages}")
    if n_stages == 1:
        return (10,)
    return (2, 5) + (1,) * (n_stages - 2)


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3x3 convs; output * res_scale + input."""

    def __init__(self, num_feat: int, num_grow_ch: int, res_scale: float = 0.2) -> None:
        super().__init__()
        self.res_scale = res_scale
        self.conv1 = nn.Conv2d(num_feat, num_grow_ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat + num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv3 = nn.Conv2d(num_feat + 2 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv4 = nn.Conv2d(num_feat + 3 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * self.res_scale + x


class RRDB(nn.Module):
    """Residual-in-residual dense block: three dense blocks, scaled residual."""

    def __init__(self, num_feat: int, num_grow_ch: int, res_scale: float = 0.2) -> None:
        super().__init__()
        self.res_scale = res_scale
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch, res_scale)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch, res_scale)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch, res_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        for rdb in (self.rdb1, self.rdb2, self.rdb3):  # a cancel waits for one dense block at most
            check_cancelled()
            y = rdb(y)
        return y * self.res_scale + x


def _checked(make, *args):
    """``make(*args)`` after a cancel point: the full network's 23 blocks take seconds to build."""
    check_cancelled()
    return make(*args)


class S2x10NetS(nn.Module):
    """10-band Sentinel-2 super-resolution network: (B, 10, H, W) -> (B, 10, 10H, 10W)."""

    def __init__(self, config: S2x10Config = FULL_CONFIG) -> None:
        super().__init__()
        c = config
        self.config = c
        self.conv_first = nn.Conv2d(c.in_bands, c.num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[_checked(RRDB, c.num_feat, c.num_grow_ch, c.res_scale)
                                    for _ in range(c.num_block)])
        self.conv_body = nn.Conv2d(c.num_feat, c.num_feat, 3, 1, 1)
        for k, _ in enumerate(c.up_scales, start=1):
            setattr(self, f"conv_up{k}", nn.Conv2d(c.num_feat, c.num_feat, 3, 1, 1))
        self.conv_hr = nn.Conv2d(c.num_feat, c.num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(c.num_feat, c.out_bands, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    @property
    def scale(self) -> int:
        return SCALE

    #: The full-resolution tail (last upsampling and the convs after it) runs in strips of
    #: output rows whose activations stay under this many bytes: a 480x480 tile would
    #: otherwise hold several 160 x 4800 x 4800 maps (15 GB each in fp32) ...
    max_tail_bytes: int = 512 * 2 ** 20
    #: ... and of at most this many output pixels, so a cancel (checked between strips) never
    #: waits for more than about a second of convolutions (~1 MFLOP per output pixel).
    max_tail_pixels: int = 2 ** 15

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.config.in_bands:
            raise ModelError(
                f"S2x10NetS expects a (B, {self.config.in_bands}, H, W) tensor, got {tuple(x.shape)}")
        feat = self.conv_first(x)
        body = feat
        for block in self.body:  # the forward in slices: a cancel is checked inside each block
            body = block(body)
        feat = feat + self.conv_body(body)
        ups = self.config.up_scales
        last = max(i for i, s in enumerate(ups) if s > 1)  # the tail starts at the last real upsampling
        for k in range(last):
            check_cancelled()
            feat = self._stage(feat, k)
        return self._tail(feat, last)

    def _stage(self, feat: torch.Tensor, k: int) -> torch.Tensor:
        s = self.config.up_scales[k]
        if s > 1:
            feat = F.interpolate(feat, scale_factor=s, mode="nearest")
        return self.lrelu(getattr(self, f"conv_up{k + 1}")(feat))

    def _tail_rows(self, feat: torch.Tensor, first: int, a0: int, e0: int) -> torch.Tensor:
        """Output rows ``[a0, e0)`` of the tail, from the feature rows that cover them. Each 3x3
        conv after the upsampling sees zeros beyond a cut, so the rows within ``n_convs`` of a
        cut that is not the image's edge are not exact: the caller asks for that halo and drops it."""
        s = self.config.up_scales[first]  # the tail's only upsampling (stages after it are 1x)
        fa, fe = a0 // s, -(-e0 // s)
        x = F.interpolate(feat[:, :, fa:fe], scale_factor=s, mode="nearest")[:, :, a0 - fa * s:e0 - fa * s]
        for k in range(first, len(self.config.up_scales)):
            x = self.lrelu(getattr(self, f"conv_up{k + 1}")(x))
        return self.conv_last(self.lrelu(self.conv_hr(x)))

    def _tail(self, feat: torch.Tensor, first: int) -> torch.Tensor:
        ups = self.config.up_scales
        s = ups[first]
        b, c, h, w = feat.shape
        H, W = h * s, w * s
        row_bytes = b * c * W * feat.element_size() * 2  # a conv's input and output, one output row
        rows = max(1, min(int(self.max_tail_bytes // max(row_bytes, 1)), int(self.max_tail_pixels // W)))
        if rows >= H:
            check_cancelled()
            return self._tail_rows(feat, first, 0, H)
        halo = len(ups) - first + 2  # 3x3 convs at full resolution: each reaches one output row
        out = None
        for a in range(0, H, rows):
            check_cancelled()  # between strips of the full-resolution tail
            e = min(a + rows, H)
            a0, e0 = max(0, a - halo), min(H, e + halo)
            y = self._tail_rows(feat, first, a0, e0)
            if out is None:
                out = y.new_empty((b, y.shape[1], H, W))
            out[:, :, a:e] = y[:, :, a - a0:a - a0 + e - a]
            del y
        return out

    def receptive_field_radius(self) -> int:
        """How many input pixels around a pixel can change its output (a safe upper bound).

        Each 3x3 conv at the input resolution adds one input pixel; each 3x3 conv at a
        higher resolution adds at most one input pixel as well (nearest upsampling maps
        a neighbour to the same or the next input pixel).
        """
        c = self.config
        return 2 + 15 * c.num_block + len(c.up_scales) + 2

    def flops(self, height: int, width: int) -> int:
        """Floating-point operations (2 per multiply-add) of one forward on an HxW input."""
        c = self.config
        total = 0
        res = height * width

        def conv(cin: int, cout: int, pixels: int) -> int:
            return 2 * cin * cout * 9 * pixels

        total += conv(c.in_bands, c.num_feat, res)
        g, f = c.num_grow_ch, c.num_feat
        rdb = sum(conv(f + i * g, g, res) for i in range(4)) + conv(f + 4 * g, f, res)
        total += c.num_block * 3 * rdb
        total += conv(f, f, res)
        scale = 1
        for s in c.up_scales:
            scale *= s
            total += conv(f, f, res * scale * scale)
        total += conv(f, f, res * scale * scale) + conv(f, c.out_bands, res * scale * scale)
        return total


def config_from_keys(shapes: dict[str, tuple[int, ...]],
                     up_scales: tuple[int, ...] | None = None) -> S2x10Config:
    """Infer an :class:`S2x10Config` from a checkpoint's key -> shape map (no tensors read)."""
    need = ("conv_first.weight", "conv_last.weight")
    for k in need:
        if k not in shapes:
            raise ModelError(
                f"checkpoint has no {k!r}: not an S2x10NetS/RRDBNet state dict "
                f"(first keys: {sorted(shapes)[:5]})")
    num_feat, in_bands = shapes["conv_first.weight"][:2]
    out_bands = shapes["conv_last.weight"][0]
    blocks = {int(k.split(".")[1]) for k in shapes if k.startswith("body.") and k.split(".")[1].isdigit()}
    num_block = (max(blocks) + 1) if blocks else 0
    grow = shapes.get("body.0.rdb1.conv1.weight", (32,))[0]
    n_up = len({k.split(".")[0] for k in shapes if k.startswith("conv_up")})
    ups = tuple(up_scales) if up_scales else default_up_scales(n_up)
    if len(ups) != n_up:
        raise ModelError(f"up_scales {ups} has {len(ups)} stages but the checkpoint has {n_up} conv_up convs")
    return S2x10Config(in_bands=int(in_bands), out_bands=int(out_bands), num_feat=int(num_feat),
                       num_block=int(num_block), num_grow_ch=int(grow), up_scales=ups)
