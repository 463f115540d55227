"""Arithmetic precision of a model's forward: exact fp32 (the default) or an opt-in fast path.

Most QGIS users run the models on a CPU. Two well-known ways make a transformer's
forward (which is almost all matrix products in ``nn.Linear`` layers) faster there:

- ``"bf16"``: the network's weights, and so its activations, are bfloat16 (normalisation
  layers keep fp32 parameters and statistics) and the forward runs under
  ``torch.autocast``, which casts what the model computes at run time (position tables,
  masks) to match: the matrix products run on oneDNN's native bf16 kernels (CPUs with
  AVX512-BF16 or AMX; tensor cores on a GPU) and the element-wise work moves half the
  bytes. Converting only the Linear weights and leaving the rest to autocast measured
  half the gain (the element-wise layers stayed fp32);
- ``"int8"``: dynamic int8 quantisation of the Linear layers (``torch.ao``'s dynamic
  quantisation, FBGEMM kernels: int8 weights per output channel, activations quantised
  per call). CPU only.

``"fp16"`` is the GPU's half precision (autocast), and ``"fast"`` picks for the
device: on a GPU bf16 (fp16 where bf16 is not supported); on a CPU bf16 when it has
native bf16 matrix units, else int8. The result is not bit-identical to fp32:
``benchmarks/bench_models.py`` prints the cosine of pooled vectors and of grid cells
against fp32 on the bundled sample for each model (aim >= 0.999), and ``meta["precision"]``
of every embedding says what ran. The same names and rules serve the
super-resolution network (``superres.models``) where fp32 stays the CPU default.
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Any

from .errors import ModelError

PRECISIONS = ("fp32", "bf16", "fp16", "int8", "fast")
#: what each precision does to the model, for ``meta["precision"]["how"]``
HOW = {
    "fp32": "fp32 weights and arithmetic (exact)",
    "bf16": "weights and activations in bfloat16 (normalisations in fp32), under torch.autocast(bfloat16)",
    "fp16": "weights and activations in float16 (normalisations in fp32), under torch.autocast(float16)",
    "int8": "dynamic int8 quantisation of the Linear layers (per-channel weights, FBGEMM/oneDNN)",
}


def check_precision(value: Any) -> str:
    """The precision name, validated (``None`` is ``"fp32"``)."""
    p = "fp32" if value is None else str(value).strip().lower()
    if p not in PRECISIONS:
        raise ModelError(f"precision must be one of {PRECISIONS}, got {value!r}")
    return p


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices natively (AVX512-BF16 or AMX), as oneDNN sees it."""
    import torch

    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # an older or a non-oneDNN build
        return False


def resolve_precision(precision: Any, device: str) -> str:
    """The precision that will run on ``device`` (``"fast"`` resolved; impossible choices refused)."""
    p = check_precision(precision)
    dev = str(device)
    gpu = dev.startswith(("cuda", "mps"))
    if p == "fast":
        if gpu:
            import torch

            return "bf16" if dev == "mps" or torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if cpu_has_native_bf16() else "int8"
    if p == "int8" and gpu:
        raise ModelError(f"precision 'int8' (dynamic quantisation) runs on the CPU only, not on {dev!r}; "
                         f"use 'bf16' or 'fp16' there")
    if p == "fp16" and not gpu:
        raise ModelError("precision 'fp16' is for GPUs (CPUs have no fast float16 matrix products); "
                         "use 'bf16' or 'int8' on the CPU")
    return p


def autocast_dtype(precision: str):
    """The torch dtype autocast runs in for a resolved precision, or None (fp32, int8)."""
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)


def prepare(model, precision: str):
    """``model`` (in eval mode, on its device) made ready for ``precision`` (resolved); in place."""
    import torch
    from torch import nn

    if precision == "int8":
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        with warnings.catch_warnings():  # torch points eager quantisation users to torchao
            warnings.simplefilter("ignore")
            return quantize_dynamic(model, {nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8,
                                    mapping={nn.Linear: _int8_linear()}, inplace=True)
    dtype = autocast_dtype(precision)
    if dtype is not None:
        model.to(dtype)
        norms = (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._BatchNorm)
        for m in model.modules():  # normalisations keep fp32 statistics (and take bf16/fp16 inputs)
            if isinstance(m, norms):
                m.float()
    return model


def _int8_linear():
    """torch's dynamic int8 Linear (FBGEMM), which also takes a single vector, as ``nn.Linear``
    does (e.g. the wavelength hypernetworks of DOFA and Clay)."""
    from torch.ao.nn.quantized.dynamic import Linear

    class Int8Linear(Linear):
        def forward(self, x):
            return super().forward(x[None])[0] if x.dim() < 2 else super().forward(x)

    return Int8Linear


def autocast(precision: str, device: str):
    """The context a forward at ``precision`` (resolved) runs in."""
    dtype = autocast_dtype(precision)
    if dtype is None:
        return contextlib.nullcontext()
    import torch

    return torch.autocast(str(device).split(":")[0], dtype=dtype)


def describe(asked: Any, used: str) -> dict[str, Any]:
    """``meta["precision"]``: what was asked, what ran, and how."""
    asked = check_precision(asked)
    out = {"asked": asked, "used": used, "how": HOW[used], "exact": used == "fp32"}
    if used == "fp32" and asked != "fp32":
        out["note"] = "this model has no neural network to run faster: it always computes in fp32"
    return out


__all__ = ["PRECISIONS", "check_precision", "cpu_has_native_bf16", "resolve_precision", "autocast_dtype",
           "prepare", "autocast", "describe"]
