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


def analysis_parser(doc: str | None, max_samples: int):
    """The arguments every analysis script shares: split, data, model, samples."""
    import argparse

    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="val_chopped")
    ap.add_argument("--data_dir", default=None)
    ap.add_argument("--model", default="best")
    ap.add_argument("--checkpoint_dir", default="checkpoints")
    ap.add_argument("--max_samples", type=int, default=max_samples)
    return ap


def load_model_and_cubes(args):
    """``(loaded model triple, minicube paths)`` for parsed analysis arguments."""
    from .checkpoint import load_forecast_model
    from .data import find_minicubes

    loaded = load_forecast_model(resolve_checkpoint(args.model, args.checkpoint_dir))
    files = find_minicubes(resolve_split(args.split, args.data_dir))[: args.max_samples]
    return loaded, files
