"""Which device a model runs on: one rule for embedders, super-resolution and forecasting.

``"auto"`` (or None) picks CUDA, then Apple's MPS, then the CPU; ``"cpu"``,
``"cuda"``, ``"cuda:<n>"`` and ``"mps"`` are taken as asked, with a clear error
when the machine does not have them. torch is imported only when needed: a
name is checked without it, and ``"cpu"`` never imports it.
"""
from __future__ import annotations

import re
from typing import Any

from .errors import DeviceError

_NAME = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check_device_name(device: Any = "auto") -> str:
    """The device name, lower case, validated without importing torch."""
    dev = "auto" if device is None else str(device).strip().lower()
    if not _NAME.match(dev):
        raise DeviceError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:<n>' or 'mps', got {device!r}")
    return dev


def resolve_device(device: Any = "auto") -> str:
    """``"auto"``/None/a ``torch.device`` -> the name of a device this machine has."""
    dev = check_device_name(device)
    if dev == "cpu":  # no torch import (seconds, holding the GIL) for models that never use it
        return "cpu"
    try:
        import torch
    except ImportError:
        if dev == "auto":
            return "cpu"
        raise DeviceError(f"device {device!r} needs torch, which is not installed") from None
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if dev == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if mps else "cpu"
    if dev.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"device {device!r} was asked for but no CUDA GPU is available here; "
                              f"use 'cpu' or 'auto'")
        n = int(dev.split(":")[1]) if ":" in dev else 0
        if n >= torch.cuda.device_count():
            raise DeviceError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA "
                              f"device(s)")
    if dev == "mps" and not mps:
        raise DeviceError("device 'mps' was asked for but MPS is not available here; use 'cpu' or 'auto'")
    return dev
