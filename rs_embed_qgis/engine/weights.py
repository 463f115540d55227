"""Checkpoint resolution, verification and safe loading, for every model.

Order: explicit path > environment variable > cache folder > download from the
official source (Hugging Face through ``huggingface_hub``) when online and allowed.
Files are loaded with safetensors or ``torch.load(weights_only=True)``: nothing
a user did not make is ever unpickled, and no downloaded code is ever run.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import ModelError


@dataclass(frozen=True)
class WeightsSpec:
    """Where a model's official weights live and how to check them."""

    env_var: str | None = None          # e.g. RS_EMBED_ANYSAT_CKPT
    hf_repo: str | None = None          # official Hugging Face repo id
    hf_filename: str | None = None      # file in that repo
    url: str | None = None              # official URL, for users who are online
    sha256: str | None = None           # where published
    size_bytes: int | None = None       # where published
    cache_name: str | None = None       # file name in the cache folder
    note: str = ""
    needs_weights: bool = True             # False for models like MOSAIKS (no training)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cache_dir() -> Path:
    """``RS_EMBED_CACHE`` or ``~/.cache/rs_embed_qgis``."""
    return Path(os.environ.get("RS_EMBED_CACHE") or Path.home() / ".cache" / "rs_embed_qgis")


@dataclass
class ResolvedWeights:
    path: Path | None
    source: str  # explicit | env:<VAR> | cache | download | none
    spec: WeightsSpec = field(default_factory=WeightsSpec)

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"source": self.source, "path": str(self.path) if self.path else None}
        if self.path and self.path.exists():
            d["size_bytes"] = self.path.stat().st_size
        return d


def _cache_candidates(spec: WeightsSpec, model_id: str) -> list[Path]:
    names = [n for n in (spec.cache_name, spec.hf_filename) if n]
    base = cache_dir() / "weights" / model_id
    return [base / Path(n).name for n in names]


def resolve_weights(model_id: str, spec: WeightsSpec, explicit: str | None = None,
                    *, download: bool = False) -> ResolvedWeights:
    """Find the checkpoint file; ``download=True`` lets it fetch the official file."""
    if explicit:
        p = Path(explicit).expanduser()
        if not p.exists():
            raise ModelError(f"weights file for {model_id!r} not found: {str(p)!r}")
        return ResolvedWeights(p, "explicit", spec)
    if spec.env_var and os.environ.get(spec.env_var):
        p = Path(os.environ[spec.env_var]).expanduser()
        if not p.exists():
            raise ModelError(f"{spec.env_var}={str(p)!r} (weights of {model_id!r}) does not exist")
        return ResolvedWeights(p, f"env:{spec.env_var}", spec)
    for p in _cache_candidates(spec, model_id):
        if p.exists():
            return ResolvedWeights(p, "cache", spec)
    if download and spec.hf_repo and spec.hf_filename:
        return ResolvedWeights(_download_hf(model_id, spec), "download", spec)
    return ResolvedWeights(None, "none", spec)


def _download_hf(model_id: str, spec: WeightsSpec) -> Path:
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:  # pragma: no cover - huggingface_hub is a core dependency
        raise ModelError(f"huggingface_hub is needed to download weights of {model_id!r}") from exc
    try:
        local = hf_hub_download(repo_id=spec.hf_repo, filename=spec.hf_filename,
                                cache_dir=str(cache_dir() / "hf"))
    except Exception as exc:  # noqa: BLE001 - any hub failure is a ModelError for the user
        raise ModelError(
            f"could not download weights of {model_id!r} from Hugging Face "
            f"{spec.hf_repo}/{spec.hf_filename}: {exc}. Download it yourself and pass its path "
            f"(or set {spec.env_var or 'the weights path in the settings'})."
        ) from exc
    path = Path(local)
    verify_file(path, spec)
    return path


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def verify_file(path: Path, spec: WeightsSpec) -> None:
    """Check size and sha256 where the official source publishes them."""
    if spec.size_bytes is not None and path.stat().st_size != spec.size_bytes:
        raise ModelError(
            f"weights file {str(path)!r} has {path.stat().st_size} bytes, "
            f"expected {spec.size_bytes} (truncated or a different file)")
    if spec.sha256:
        got = sha256_of(path)
        if got != spec.sha256:
            raise ModelError(f"weights file {str(path)!r} has sha256 {got}, expected {spec.sha256}")


def load_state_dict(path: Path | str, *, key: str | None = None) -> dict[str, Any]:
    """Load a state dict from safetensors or a torch file, never unpickling objects.

    ``key`` picks a nested dict (``"state_dict"``, ``"model"``) when present.
    """
    import torch

    path = Path(path)
    if not path.exists():
        raise ModelError(f"weights file not found: {str(path)!r}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd: Any = load_file(str(path))
        else:
            sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - corrupt/truncated files raise many kinds
        raise ModelError(f"cannot read weights file {str(path)!r}: {type(exc).__name__}: {exc}") from exc
    if isinstance(sd, dict):
        for k in ([key] if key else []) + ["state_dict", "model", "module"]:
            if k in sd and isinstance(sd[k], dict):
                sd = sd[k]
                break
    if not isinstance(sd, dict) or not all(hasattr(v, "shape") for v in sd.values()):
        raise ModelError(f"weights file {str(path)!r} does not hold a state dict of tensors")
    return sd


def load_into(module: Any, state_dict: dict[str, Any], path: Path | str,
              *, strip_prefixes: Iterable[str] = ()) -> None:
    """``load_state_dict(strict=True)`` with an error naming the file and the first mismatches."""
    sd = dict(state_dict)
    for prefix in strip_prefixes:
        if sd and all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix):]: v for k, v in sd.items()}
    own = module.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shapes: list[tuple[str, Any, Any]] = [
        (k, tuple(sd[k].shape), tuple(own[k].shape))
        for k in own if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
        if shapes:
            parts.append("shape mismatches " + ", ".join(
                f"{k}: file {a} vs model {b}" for k, a, b in shapes[:5]))
        raise ModelError(f"weights file {str(path)!r} does not match the model: " + "; ".join(parts))
    module.load_state_dict(sd, strict=True)


def load_state_dict_safely(path: Path | str, *, key: str | None = None) -> dict[str, Any]:
    """:func:`load_state_dict`, and when the file holds Python objects besides tensors
    (training checkpoints: Lightning hyper-parameters, DeepSpeed or yacs configs) a
    ``ModelError`` that says how to convert a trusted file once, instead of unpickling it."""
    try:
        return load_state_dict(path, key=key)
    except ModelError as exc:
        text = str(exc)
        if not any(s in text for s in ("weights_only", "Unpickl", "GLOBAL")):
            raise
        name = Path(path).name
        raise ModelError(
            f"{text}\nThe file holds Python objects besides tensors, which this plugin never unpickles. "
            f"If you trust the file (e.g. downloaded from the official source), convert it once in a "
            f"Python session of your own:\n"
            f"  import torch; from safetensors.torch import save_file\n"
            f"  ck = torch.load({name!r}, map_location='cpu', weights_only=False)\n"
            f"  sd = ck.get({key or 'state_dict'!r}, ck) if isinstance(ck, dict) else ck\n"
            f"  save_file({{k: v.contiguous() for k, v in sd.items() if hasattr(v, 'contiguous')}}, "
            f"{Path(name).stem + '.safetensors'!r})\n"
            f"and pass the .safetensors file instead (the keys stay as in the original file)."
        ) from exc
