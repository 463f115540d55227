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
  per call). CPU only. Two rules keep it within reach of fp32 (see *int8 accuracy* below).

``"fp16"`` is the GPU's half precision (autocast), and ``"fast"`` picks for the
device: on a GPU bf16 (fp16 where bf16 is not supported); on a CPU bf16 when it has
native bf16 matrix units, else int8. The result is not bit-identical to fp32:
``benchmarks/bench_models.py`` prints the cosine of pooled vectors and of grid cells
against fp32 on the bundled sample for each model (aim >= 0.999), and ``meta["precision"]``
of every embedding says what ran. The same names and rules serve the
super-resolution network (``superres.models``) where fp32 stays the CPU default.

int8 accuracy
-------------
Measured on SatVision (a 24-block post-norm Swin V2; the one model under 0.999) by
quantising one group of layers at a time and by simulating weight and activation
rounding apart: about 80 % of the error came from the *activations*, which torch's
dynamic Linear quantises to 7 bits (``reduce_range``), and the rest from the weights.
Inputs carry no outliers (range / rms 4-7 in every layer, the same per token as per
tensor), so finer activation scales do not help; nor does keeping the first or last
block in fp32: the error builds up evenly over the depth. Hence:

1. **8-bit activations where the kernel is exact.** ``reduce_range`` guards pre-VNNI x86
   kernels, whose ``u8 x s8`` pair sums saturate at int16; with AVX512-VNNI (and on
   kernels that accumulate in int32 anyway) it only throws a bit away.
   :func:`int8_activation_bits` asks the kernel itself, once per process, with products
   that would saturate, and the int8 layers use 8 bits where it computes them exactly
   (7 elsewhere). Same kernel, same speed; every model gains.
2. **Layers a model's catalog entry keeps in fp32** (``ModelEntry.int8_keep_fp32``,
   module-name patterns). A model lists them only where measurement shows that, even
   with rule 1, a few layers dominate its error: SatVision keeps its attention output
   projections and patch-merging reductions (their outputs enter a LayerNorm directly;
   about 10 % of its Linear FLOPs; over half its int8 error).

``meta["precision"]["int8"]`` says how many layers ran in int8, which stayed fp32 (the
patterns) and the activation bits. The per-layer measurement and the figures before and
after: ``docs/performance.md`` (*int8 on SatVision*).
"""
from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import Any

from .errors import ModelError

PRECISIONS = ("fp32", "bf16", "fp16", "int8", "fast")
#: what each precision does to the model, for ``meta["precision"]["how"]``
HOW = {
    "fp32": "fp32 weights and arithmetic (exact)",
    "bf16": "weights and activations in bfloat16 (normalisations in fp32), under torch.autocast(bfloat16)",
    "fp16": "weights and activations in float16 (normalisations in fp32), under torch.autocast(float16)",
    "int8": ("dynamic int8 quantisation of the Linear layers but those the model's catalog entry keeps in fp32 "
             "(per-channel int8 weights, activations quantised per call; FBGEMM/oneDNN)"),
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


def prepare(model, precision: str, keep_fp32: Sequence[str] = ()):
    """``model`` (in eval mode, on its device) made ready for ``precision`` (resolved); in place.

    For int8, the Linear layers whose qualified names match one of the ``keep_fp32``
    patterns (``fnmatch``: ``"*.attn.proj"``) stay fp32.
    """
    import torch
    from torch import nn

    if precision == "int8":
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        spec: dict[Any, Any] = {nn.Linear: per_channel_dynamic_qconfig}
        spec.update((name, None) for name in kept_fp32(model, keep_fp32))  # a name outranks the type
        with warnings.catch_warnings():  # torch points eager quantisation users to torchao
            warnings.simplefilter("ignore")
            return quantize_dynamic(model, spec, dtype=torch.qint8, mapping={nn.Linear: _int8_linear()},
                                    inplace=True)
    dtype = autocast_dtype(precision)
    if dtype is not None:
        model.to(dtype)
        norms = (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._BatchNorm)
        for m in model.modules():  # normalisations keep fp32 statistics (and take bf16/fp16 inputs)
            if isinstance(m, norms):
                m.float()
    return model


def kept_fp32(model, patterns: Sequence[str]) -> list[str]:
    """Qualified names of ``model``'s ``nn.Linear`` layers that match one of ``patterns``."""
    from torch import nn

    return [name for name, m in model.named_modules()
            if type(m) is nn.Linear and any(fnmatchcase(name, p) for p in patterns)]


@functools.lru_cache(maxsize=1)
def int8_activation_bits() -> int:
    """8 when this CPU's dynamic int8 Linear kernel multiplies full 8-bit activations exactly, else 7.

    Asked of the kernel itself: every activation at 255 times every weight at 127 makes the
    int16 pair sums of pre-VNNI x86 kernels (``vpmaddubsw``) saturate, so their result
    comes out about halved; a kernel that accumulates in int32 returns the exact sum.
    (``FBGEMM_ENABLE_INSTRUCTIONS``, which caps the kernels FBGEMM picks, is honoured.)
    """
    import torch

    k = 128
    try:
        with warnings.catch_warnings():  # torch's notice that quantised tensors move to torchao
            warnings.simplefilter("ignore")
            weight = torch.quantize_per_channel(torch.ones(16, k), torch.full((16,), 1 / 127, dtype=torch.float64),
                                                torch.zeros(16, dtype=torch.long), axis=0, dtype=torch.qint8)
            packed = torch.ops.quantized.linear_prepack(weight, None)
            y = torch.ops.quantized.linear_dynamic(torch.ones(16, k), packed, reduce_range=False)
    except (RuntimeError, NotImplementedError):  # no quantised engine: 7 bits, torch's own default
        return 7
    return 8 if torch.allclose(y, torch.full_like(y, float(k)), rtol=1e-3) else 7


def _int8_linear():
    """torch's dynamic int8 Linear (FBGEMM), with activations at :func:`int8_activation_bits`
    (torch's module always asks for 7), and which also takes a single vector, as ``nn.Linear``
    does (e.g. the wavelength hypernetworks of DOFA and Clay)."""
    import torch
    from torch.ao.nn.quantized.dynamic import Linear

    reduce_range = int8_activation_bits() < 8

    class Int8Linear(Linear):
        def forward(self, x):
            if x.dim() < 2:
                return self.forward(x[None])[0]
            # the op torch's own forward calls, with the activation range this kernel takes exactly
            y = torch.ops.quantized.linear_dynamic(x, self._packed_params._packed_params,
                                                   reduce_range=reduce_range)
            return y.to(x.dtype)

    return Int8Linear


def int8_summary(model, keep_fp32: Sequence[str] = ()) -> dict[str, Any]:
    """What int8 did to a prepared ``model``: for ``meta["precision"]["int8"]``."""
    from torch.ao.nn.quantized.dynamic import Linear

    return {"int8_layers": sum(isinstance(m, Linear) for m in model.modules()),
            "fp32_layers": len(kept_fp32(model, keep_fp32)), "kept_fp32": list(keep_fp32),
            "activation_bits": int8_activation_bits()}


def autocast(precision: str, device: str):
    """The context a forward at ``precision`` (resolved) runs in."""
    dtype = autocast_dtype(precision)
    if dtype is None:
        return contextlib.nullcontext()
    import torch

    return torch.autocast(str(device).split(":")[0], dtype=dtype)


def describe(asked: Any, used: str, int8: dict[str, Any] | None = None) -> dict[str, Any]:
    """``meta["precision"]``: what was asked, what ran, and how (``int8``: :func:`int8_summary`)."""
    asked = check_precision(asked)
    out = {"asked": asked, "used": used, "how": HOW[used], "exact": used == "fp32"}
    if used == "int8" and int8 is not None:
        out["int8"] = dict(int8)
    if used == "fp32" and asked != "fp32":
        out["note"] = "this model has no neural network to run faster: it always computes in fp32"
    return out


__all__ = ["PRECISIONS", "check_precision", "cpu_has_native_bf16", "resolve_precision", "autocast_dtype",
           "prepare", "kept_fp32", "int8_activation_bits", "int8_summary", "autocast", "describe"]
