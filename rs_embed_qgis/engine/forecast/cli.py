"""Argument helpers shared by the forecast scripts (split folders, checkpoint names)."""
from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import ModelError, ProviderError

DEFAULT_DATA_DIR = os.environ.get("GREENEARTHNET_DIR", "data/greenearthnet")


def resolve_split(split: str, data_dir: str | None = None) -> Path:
    """``split`` as a folder, else ``<data_dir>/<split>`` (GreenEarthNet names: train, val_chopped, ...)."""
    p = Path(split)
    if p.exists():
        return p
    q = Path(data_dir or DEFAULT_DATA_DIR) / split
    if q.exists():
        return q
    raise ProviderError(f"split {split!r} not found as a folder nor under data_dir {str(q.parent)!r} "
                        "(set --data_dir or GREENEARTHNET_DIR)")


def resolve_checkpoint(model: str, checkpoint_dir: str = "checkpoints") -> Path:
    """A path, or ``best`` / ``final`` (= the latest ``model_at_<N>``) inside ``checkpoint_dir``."""
    p = Path(model)
    if p.suffix == "" and p.with_suffix(".safetensors").exists():
        p = p.with_suffix(".safetensors")
    if p.exists():
        return p
    d = Path(checkpoint_dir)
    if model == "best" and (d / "model_best.safetensors").exists():
        return d / "model_best.safetensors"
    if model in ("final", "latest"):
        found = sorted(d.glob("model_at_*.safetensors"),
                       key=lambda f: int(re.findall(r"\d+", f.stem)[-1]))
        if found:
            return found[-1]
    raise ModelError(f"checkpoint {model!r} not found (a .safetensors path, or best/final in "
                     f"{str(d)!r})")
