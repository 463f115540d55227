"""Checkpoint (and precomputed product file) resolution, verification and safe loading.

Order: explicit path > environment variable > cache folder > download from the
official source (Hugging Face through ``huggingface_hub``, or a plain https URL) when
online and allowed. Downloads are written atomically and checked against the size and
hash the source publishes. Files are loaded with safetensors or
``torch.load(weights_only=True)``: nothing a user did not make is ever unpickled, and no
downloaded code is ever run.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
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
    hf_repo_type: str = "model"         # "dataset" for files of a dataset repo
    hf_revision: str | None = None      # pinned commit of the repo, where known
    url: str | None = None              # official URL, for users who are online
    sha256: str | None = None           # where published
    md5: str | None = None              # where published (e.g. torchgeo's dataset checksums)
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
                                repo_type=spec.hf_repo_type, revision=spec.hf_revision,
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


def sha256_of(path: Path, chunk: int = 1 << 20, algorithm: str = "sha256") -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def verify_file(path: Path, spec: WeightsSpec) -> None:
    """Check size, sha256 and md5 where the official source publishes them."""
    if spec.size_bytes is not None and path.stat().st_size != spec.size_bytes:
        raise ModelError(
            f"weights file {str(path)!r} has {path.stat().st_size} bytes, "
            f"expected {spec.size_bytes} (truncated or a different file)")
    for algorithm in ("sha256", "md5"):
        want = getattr(spec, algorithm)
        if want:
            got = sha256_of(path, algorithm=algorithm)
            if got != want:
                raise ModelError(f"file {str(path)!r} has {algorithm} {got}, expected {want}")


def download_to(url: str, dest: Path, *, sha256: str | None = None,
                check: Callable[[Path], None] | None = None, timeout: float = 60) -> Path:
    """Stream an https file to a temporary file beside ``dest``, check its sha256 (when
    known) and ``check(tmp)``, then rename it onto ``dest``: an interrupted or rejected
    download leaves nothing behind.

    Network and HTTP errors raise ``OSError`` (``urllib``'s), a hash mismatch ``ModelError``.
    """
    import tempfile
    import urllib.request

    from .io import publish

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=str(dest.parent))
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - https
            while True:
                block = resp.read(1 << 20)
                if not block:
                    break
                h.update(block)
                out.write(block)
        if sha256 and h.hexdigest() != sha256:
            raise ModelError(f"download of {url} has sha256 {h.hexdigest()}, expected {sha256}; not kept")
        if check is not None:
            check(Path(tmp))
        publish(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dest


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
