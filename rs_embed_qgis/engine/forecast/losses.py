"""Training loss of the forecaster: clear-sky log-cosh on deltas, edge term, under-prediction penalty.

Targets are packed as in the reference, channels-first here:
``y_true`` (B, T, 9, H, W) = ``[cloudmask(1), deltas(4), BAP(4)]``; ``y_pred``
(B, T, 4, H, W) are the predicted deltas. Only clear target pixels count.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import SpecError


def log_cosh(x: torch.Tensor) -> torch.Tensor:
    """``log(cosh(x))`` computed without overflow for large ``|x|``."""
    return x + nn.functional.softplus(-2.0 * x) - math.log(2.0)


def unpack_targets(y_true: torch.Tensor):
    """``(mask (B,T,1,H,W), deltas (B,T,4,H,W), bap (B,T,4,H,W))``."""
    return y_true[:, :, 0:1], y_true[:, :, 1:5], y_true[:, :, 5:9]


class DeltaRegressionLoss(nn.Module):
    """``regression_weight * masked log-cosh (x1.5 where |pred| < |true|) + edge_weight * edge``.

    The edge term compares horizontal and vertical differences of predicted and
    true deltas between neighbouring clear pixels, which keeps field borders sharp.
    """

    def __init__(self, regression_weight: float = 5.0, edge_weight: float = 0.1,
                 underprediction_factor: float = 1.5) -> None:
        super().__init__()
        self.regression_weight = float(regression_weight)
        self.edge_weight = float(edge_weight)
        self.underprediction_factor = float(underprediction_factor)
        self.last: dict[str, float] = {}

    def forward(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        if y_true.ndim != 5 or y_true.shape[2] != 9:
            raise SpecError(f"y_true must be (B, T, 9, H, W) = [cloudmask, deltas(4), BAP(4)], "
                            f"got {tuple(y_true.shape)}")
        if (y_pred.shape[:2] != y_true.shape[:2] or y_pred.shape[2] != 4
                or y_pred.shape[3:] != y_true.shape[3:]):
            raise SpecError(f"y_pred must be (B, T, 4, H, W) matching y_true {tuple(y_true.shape)}, "
                            f"got {tuple(y_pred.shape)}")
        mask, delta, _ = unpack_targets(y_true)
        mask4 = mask.expand_as(delta)
        n = mask4.sum().clamp_min(1.0)
        weight = torch.where(y_pred.abs() < delta.abs(),
                             torch.full_like(delta, self.underprediction_factor), torch.ones_like(delta))
        reg = (log_cosh(y_pred - delta) * weight * mask4).sum() / n

        def edge(dim: int) -> torch.Tensor:
            length = y_pred.shape[dim]
            a0, a1 = (torch.narrow(t, dim, 0, length - 1) for t in (y_pred, delta))
            b0, b1 = (torch.narrow(t, dim, 1, length - 1) for t in (y_pred, delta))
            m = torch.narrow(mask4, dim, 0, length - 1) * torch.narrow(mask4, dim, 1, length - 1)
            return ((b0 - a0) - (b1 - a1)).abs().mul(m).sum(), m.sum()

        ey, ny = edge(3)
        ex, nx = edge(4)
        edge_term = (ey + ex) / (ny + nx).clamp_min(1.0)
        total = self.regression_weight * reg + self.edge_weight * edge_term
        self.last = {"regression": float(reg.detach()), "edge": float(edge_term.detach()),
                     "total": float(total.detach())}
        return total

    def extra_repr(self) -> str:
        return (f"regression_weight={self.regression_weight}, edge_weight={self.edge_weight}, "
                f"underprediction_factor={self.underprediction_factor}")
