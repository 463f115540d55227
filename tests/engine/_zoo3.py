"""Test helpers for the Model zoo III models (TerraFM, FoMo-Net, WildSAT, THOR).

``data/<model>_official_keys.json`` lists the upstream module's keys and shapes (the
layout of the official file); ``data/<model>_upstream_reference.json`` holds outputs
the upstream code produced on weights drawn from that list as ``official_random``
draws them. ``small_state`` randomises our own module at a small test size.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

DATA = Path(__file__).parent / "data"
CENTRE = (9.0200, 47.8398)  # the bundled sample: 3 km x 3 km, UTM 32N, 2022


def official_keys(model: str) -> dict:
    return json.loads((DATA / f"{model}_official_keys.json").read_text())


def upstream_reference(model: str) -> dict:
    return json.loads((DATA / f"{model}_upstream_reference.json").read_text())


def official_random(keys: list, seed: int = 0, scale: float = 0.05,
                    skip: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """Deterministic weights for a key list, drawn in its order: ``randn * scale``, plus 1
    for 1-d norm and BatchNorm weights, ``1 + |draw|`` for BatchNorm running variances (as
    the upstream reference runs drew them). Keys in ``skip`` (integer buffers: index
    tables, counters) are not drawn; the caller takes them from the module."""
    g = torch.Generator().manual_seed(seed)
    names = {k for k, _ in keys}
    out = {}
    for k, shape in keys:
        if k in skip:
            continue
        t = torch.randn(tuple(shape), generator=g) * scale
        if "norm" in k and k.endswith(".weight") and t.ndim == 1:
            t = 1.0 + t
        if k.endswith("running_var"):
            t = 1.0 + t.abs()
        if k.endswith(".weight") and t.ndim == 1 and k[:-len("weight")] + "running_var" in names:
            t = 1.0 + t  # BatchNorm scale
        out[k] = t
    return out


def small_state(module: torch.nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """Our module's state dict with every tensor redrawn (trained-looking, reproducible)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in module.state_dict().items():
        t = torch.randn(v.shape, generator=g) * 0.05
        if ("norm" in k or "ln" in k) and k.endswith("weight") and v.ndim == 1:
            t = 1.0 + t
        out[k] = t
    return out
