"""ConvLSTM encoder + Fourier-harmonics decoder that forecasts Sentinel-2 reflectance deltas.

A PyTorch port of the reference Keras model (``src/build_model.py`` of the
reflectance-forecasting project). Keras works channels-last; here every tensor
is channels-first, the PyTorch habit:

====================  ========================  ===========================
input name            reference (Keras, no B)   here (torch, with batch B)
====================  ========================  ===========================
sentinel2_sequence    (10, 128, 128, 4)  THWC   (B, 10, 4, 128, 128)  BTCHW
landcover_map         (128, 128, 10)     HWC    (B, 10, 128, 128)     BCHW
temporal_metadata     (3,)                      (B, 3)
weather_sequence      (20, 21)                  (B, 20, 21)
target_start_doy      (1,)                      (B, 1)
output (deltas)       (20, 128, 128, 4)  THWC   (B, 20, 4, 128, 128)  BTCHW
====================  ========================  ===========================

:func:`inputs_from_channels_last` and :func:`output_to_channels_last` convert
between the two. Reflectance = BAP + delta (both in normalised units, see
``data.py``).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ModelError
from ..progress import check_cancelled

INPUT_NAMES = ("sentinel2_sequence", "landcover_map", "temporal_metadata",
               "weather_sequence", "target_start_doy")


@dataclass
class ForecastConfig:
    """Sizes of the model. Defaults are the reference configuration."""

    context_frames: int = 10
    target_frames: int = 20
    height: int = 128
    width: int = 128
    s2_bands: int = 4
    landcover_classes: int = 10
    temporal_features: int = 3
    weather_features: int = 21
    filters: tuple[int, ...] = (32, 48, 64)
    kernel_size: int = 3
    gn_groups: int = 8
    n_harmonics: int = 3
    step_days: float = 5.0          # days between target frames
    coeff_scale_init: float = 0.1

    def __post_init__(self) -> None:
        self.filters = tuple(int(f) for f in self.filters)
        if len(self.filters) != 3:
            raise ModelError(f"filters must hold three ConvLSTM widths, got {self.filters!r}")
        for f in self.filters:
            if f % self.gn_groups:
                raise ModelError(
                    f"gn_groups={self.gn_groups} must divide every filter count, "
                    f"got filters {self.filters!r}")
        if self.n_harmonics < 1:
            raise ModelError(f"n_harmonics must be >= 1, got {self.n_harmonics}")

    @classmethod
    def small(cls, **kw: Any) -> ForecastConfig:
        """The same architecture with a quarter of the width, for tests and CPU demos."""
        base = dict(filters=(8, 12, 16), gn_groups=4, height=32, width=32)
        base.update(kw)
        return cls(**base)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["filters"] = list(self.filters)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ForecastConfig:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ModelError(f"unknown forecast config keys {unknown}; expected some of "
                             f"{sorted(cls.__dataclass_fields__)}")
        return cls(**known)


class ConvLSTMCell(nn.Module):
    """The parameters of one ConvLSTM layer (Shi et al. 2015), gates i, f, c, o as in Keras
    ``ConvLSTM2D``: one kernel over the concatenation ``[frame, static, hidden]`` of the
    step's input channels, the channels every frame shares and the previous hidden state
    (the checkpoint layout; :class:`ConvLSTM` applies the three parts separately).
    """

    def __init__(self, in_ch: int, hidden: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.hidden = hidden
        self.conv = nn.Conv2d(in_ch + hidden, 4 * hidden, kernel_size, padding=kernel_size // 2)
        with torch.no_grad():  # Keras' unit_forget_bias=True
            self.conv.bias.zero_()
            self.conv.bias[hidden:2 * hidden].fill_(1.0)

    def kernels(self, n_frame: int, n_static: int) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """The kernel's frame, static (None without) and hidden parts, channels-last."""
        w = self.conv.weight
        cl = torch.channels_last
        static = w[:, n_frame:n_frame + n_static].contiguous(memory_format=cl) if n_static else None
        return (w[:, :n_frame].contiguous(memory_format=cl), static,
                w[:, n_frame + n_static:].contiguous(memory_format=cl))

    def update(self, gates: torch.Tensor, c: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(h, c)`` from the step's gate pre-activations (``c`` None: the zero initial state)."""
        n = self.hidden
        i_f = torch.sigmoid(gates[:, :2 * n])              # i and f are adjacent: one call
        i, f = i_f[:, :n], i_f[:, n:]
        g = torch.tanh(gates[:, 2 * n:3 * n])
        o = torch.sigmoid(gates[:, 3 * n:])
        c = i * g if c is None else torch.addcmul(f * c, i, g)
        return o * torch.tanh(c), c


class ConvLSTM(nn.Module):
    """A ConvLSTM layer over time-major frames, returning every step's hidden state.

    Only the recurrence is sequential: the frames' share of the gates is one convolution
    over all frames at once, the static channels' share (e.g. the land-cover map, the same
    in every frame) one convolution per sample, and each step adds the hidden state's
    convolution. Tensors are channels-last (oneDNN's fast layout for these convolutions).
    The result equals a convolution of ``[frame, static, hidden]`` at every step.
    """

    def __init__(self, in_ch: int, hidden: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.cell = ConvLSTMCell(in_ch, hidden, kernel_size)

    def forward(self, frames: torch.Tensor, t: int, static: torch.Tensor | None = None) -> torch.Tensor:
        """``(T*B, C, H, W)`` frames, time-major (frame ``s`` of sample ``b`` at ``s*B + b``), and
        ``(B, S, H, W)`` static channels -> ``(T*B, hidden, H, W)``, time-major."""
        b = frames.shape[0] // t
        cell = self.cell
        w_frame, w_static, w_hidden = cell.kernels(frames.shape[1], 0 if static is None else static.shape[1])
        pad = cell.conv.padding
        gates_in = F.conv2d(frames, w_frame, cell.conv.bias, padding=pad)
        shared = None if static is None else F.conv2d(static, w_static, padding=pad)
        h = c = None
        out = []
        for step in range(t):
            check_cancelled()  # a forecast's forward in slices: a cancel waits for one step
            gates = gates_in[step * b:(step + 1) * b]
            if shared is not None:
                gates = gates + shared
            if h is not None:
                gates = gates + F.conv2d(h, w_hidden, padding=pad)
            h, c = cell.update(gates, c)
            out.append(h)
        return torch.cat(out, 0)


class ConvLSTMEncoder(nn.Module):
    """Three ConvLSTM layers with group norm and (projected) residual skips."""

    def __init__(self, cfg: ForecastConfig) -> None:
        super().__init__()
        f1, f2, f3 = cfg.filters
        k = cfg.kernel_size
        in_ch = cfg.s2_bands + cfg.landcover_classes
        self.lstm1 = ConvLSTM(in_ch, f1, k)
        self.lstm2 = ConvLSTM(f1, f2, k)
        self.lstm3 = ConvLSTM(f2, f3, k)
        self.norm1 = nn.GroupNorm(cfg.gn_groups, f1)
        self.norm2 = nn.GroupNorm(cfg.gn_groups, f2)
        self.norm3 = nn.GroupNorm(cfg.gn_groups, f3)
        self.skip2 = nn.Conv2d(f1, f2, 1)
        self.skip3 = nn.Conv2d(f2, f3, 1)

    def forward(self, x: torch.Tensor, static: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, T, C, H, W)`` frames and ``(B, S, H, W)`` channels shared by every frame (the
        reference concatenates them to each frame) -> the last step of layers 3 and 1."""
        b, t = x.shape[:2]
        cl = torch.channels_last
        frames = x.transpose(0, 1).flatten(0, 1).contiguous(memory_format=cl)   # time-major
        h1 = self.norm1(self.lstm1(frames, t, static.contiguous(memory_format=cl)))
        h2 = self.norm2(self.lstm2(h1, t)) + self.skip2(h1)
        h3 = self.norm3(self.lstm3(h2, t)) + self.skip3(h2)
        return h3[(t - 1) * b:], h1[(t - 1) * b:]


class FourierCoefficientHead(nn.Module):
    """Per-pixel, per-band harmonic coefficients ``(a_k, b_k)``, scaled by a learnable scalar.

    No weight penalty on purpose: the reference found L2 here drove the
    coefficients to zero (mode collapse).
    """

    def __init__(self, in_ch: int, bands: int, n_harmonics: int, coeff_scale_init: float = 0.1) -> None:
        super().__init__()
        self.bands, self.n_harmonics = bands, n_harmonics
        self.conv = nn.Conv2d(in_ch, bands * n_harmonics * 2, 1)
        self.coeff_scale = nn.Parameter(torch.tensor(float(coeff_scale_init)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        b, _, h, w = z.shape
        coeff = self.conv(z) * self.coeff_scale
        return coeff.view(b, self.bands, self.n_harmonics, 2, h, w)


class FourierSynthesis(nn.Module):
    """Deltas at the target dates from harmonic coefficients and the start day of year.

    Frame ``j`` falls at year fraction ``t_j = target_start_doy + j * step_days / 365.25``;
    the delta is ``sum_k a_k cos(2 pi k t_j) + b_k sin(2 pi k t_j)``.
    """

    def __init__(self, target_frames: int, n_harmonics: int, step_days: float) -> None:
        super().__init__()
        self.register_buffer("offsets", torch.arange(target_frames, dtype=torch.float32)
                             * (step_days / 365.25), persistent=False)
        self.register_buffer("k", torch.arange(1, n_harmonics + 1, dtype=torch.float32),
                             persistent=False)

    def forward(self, coeff: torch.Tensor, start_doy: torch.Tensor) -> torch.Tensor:
        t = start_doy.reshape(-1, 1) + self.offsets[None]                  # (B, T)
        phase = 2 * math.pi * t[:, :, None] * self.k[None, None]            # (B, T, K)
        cos, sin = torch.cos(phase), torch.sin(phase)
        a, b = coeff[:, :, :, 0], coeff[:, :, :, 1]                         # (B, C, K, H, W)
        return (torch.einsum("btk,bckhw->btchw", cos, a)
                + torch.einsum("btk,bckhw->btchw", sin, b))


class ReflectanceForecaster(nn.Module):
    """The five named inputs (channels-first) -> ``(B, 20, 4, H, W)`` reflectance deltas."""

    def __init__(self, cfg: ForecastConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or ForecastConfig()
        f1, _, f3 = cfg.filters
        self.encoder = ConvLSTMEncoder(cfg)
        fuse_in = f3 + f1 + cfg.s2_bands + cfg.landcover_classes + cfg.temporal_features
        self.fuse = nn.Sequential(nn.Conv2d(fuse_in, f3, 3, padding=1), nn.GroupNorm(cfg.gn_groups, f3),
                                  nn.ReLU())
        self.coeff_head = FourierCoefficientHead(f3, cfg.s2_bands, cfg.n_harmonics, cfg.coeff_scale_init)
        self.synthesis = FourierSynthesis(cfg.target_frames, cfg.n_harmonics, cfg.step_days)
        self.dc_offset = nn.Conv2d(f3, cfg.s2_bands, 1)
        self.weather_residual = nn.Linear(cfg.weather_features, cfg.s2_bands)

    def check_inputs(self, inputs: Mapping[str, torch.Tensor]) -> None:
        cfg = self.cfg
        missing = [n for n in INPUT_NAMES if n not in inputs]
        if missing:
            raise ModelError(f"forecast model inputs {missing} missing; expected {list(INPUT_NAMES)}")
        s2 = inputs["sentinel2_sequence"]
        if s2.ndim != 5 or s2.shape[1] != cfg.context_frames or s2.shape[2] != cfg.s2_bands:
            raise ModelError(
                f"sentinel2_sequence must be (B, {cfg.context_frames}, {cfg.s2_bands}, H, W) channels-first, "
                f"got {tuple(s2.shape)}")
        b, _, _, h, w = s2.shape
        expect = {"landcover_map": (b, cfg.landcover_classes, h, w),
                  "temporal_metadata": (b, cfg.temporal_features),
                  "weather_sequence": (b, cfg.target_frames, cfg.weather_features),
                  "target_start_doy": (b, 1)}
        for name, shape in expect.items():
            if tuple(inputs[name].shape) != shape:
                raise ModelError(f"{name} must have shape {shape}, got {tuple(inputs[name].shape)}")

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        self.check_inputs(inputs)
        s2 = inputs["sentinel2_sequence"]
        lc = inputs["landcover_map"]
        h, w = s2.shape[-2:]
        latent, first_layer = self.encoder(s2, lc)     # the land cover joins every frame
        meta = inputs["temporal_metadata"][:, :, None, None].expand(-1, -1, h, w)
        fused_in = torch.cat([latent, first_layer, s2[:, -1], lc, meta], dim=1)
        latent_fused = self.fuse(fused_in.contiguous(memory_format=torch.channels_last))
        harmonics = self.synthesis(self.coeff_head(latent_fused), inputs["target_start_doy"])
        dc = self.dc_offset(latent_fused)[:, None]                            # broadcast over time
        weather = self.weather_residual(inputs["weather_sequence"])[..., None, None]  # over space
        return harmonics + dc + weather


def inputs_from_channels_last(inputs: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Reference (Keras, channels-last, batched) arrays -> this model's channels-first tensors."""
    out: dict[str, torch.Tensor] = {}
    for name in INPUT_NAMES:
        v = torch.as_tensor(inputs[name], dtype=torch.float32)
        if name == "sentinel2_sequence":
            v = v.permute(0, 1, 4, 2, 3)
        elif name == "landcover_map":
            v = v.permute(0, 3, 1, 2)
        out[name] = v.contiguous()
    return out


def output_to_channels_last(y: torch.Tensor) -> torch.Tensor:
    """``(B, T, C, H, W)`` -> the reference's ``(B, T, H, W, C)``."""
    return y.permute(0, 1, 3, 4, 2)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["ForecastConfig", "ReflectanceForecaster", "ConvLSTM", "ConvLSTMCell",
           "FourierCoefficientHead", "FourierSynthesis", "INPUT_NAMES",
           "inputs_from_channels_last", "output_to_channels_last", "count_parameters"]
