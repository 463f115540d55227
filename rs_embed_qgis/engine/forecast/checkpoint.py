"""Forecaster checkpoints: safetensors weights + JSON training state + tensor-only optimizer state.

One checkpoint ``<stem>`` is three files, each written to a temporary file and
moved into place (the JSON last, so a checkpoint with its JSON is complete):

* ``<stem>.safetensors``: model weights; metadata holds the model config and the
  normalisation statistics, so this file alone is enough to predict;
* ``<stem>.optim.pt``: optimizer state as a flat ``{"<param>.<key>": tensor}``
  dict (``torch.save`` of tensors only, read back with ``weights_only=True``);
* ``<stem>.json``: epoch, learning rate, optimizer hyper-parameters, scheduler,
  early-stopping and history, config and normalisation.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from ..errors import ModelError
from ..weights import load_into
from .data import NormStats
from .model import ForecastConfig, ReflectanceForecaster

FORMAT = "rs_embed_qgis.forecast/1"
#: the forecaster's catalog entry (its weights source: a checkpoint you pass)
ENTRY_ID = "forecaster"


def _stem(path: str | Path) -> Path:
    p = Path(path)
    for suf in (".safetensors", ".json", ".optim.pt"):
        if p.name.endswith(suf):
            return p.with_name(p.name[: -len(suf)])
    return p


def paths_of(path: str | Path) -> dict[str, Path]:
    s = _stem(path)
    return {"weights": s.with_name(s.name + ".safetensors"), "optim": s.with_name(s.name + ".optim.pt"),
            "state": s.with_name(s.name + ".json")}


def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(str(tmp))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_checkpoint(path: str | Path, model: ReflectanceForecaster, *, norm: NormStats, epoch: int,
                    optimizer: torch.optim.Optimizer | None = None,
                    train_state: dict[str, Any] | None = None) -> Path:
    """Write the checkpoint ``path`` (any of its three names, or the stem); returns the weights path."""
    from safetensors.torch import save_file

    files = paths_of(path)
    cfg = model.cfg.to_dict()
    meta = {"format": FORMAT, "config": json.dumps(cfg), "norm": json.dumps(norm.to_dict()),
            "epoch": str(int(epoch)), "random_weights": "false"}
    sd = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    _atomic(files["weights"], lambda p: save_file(sd, p, metadata=meta))
    state: dict[str, Any] = {"format": FORMAT, "epoch": int(epoch), "config": cfg, "norm": norm.to_dict(),
                             "weights": files["weights"].name}
    if optimizer is not None:
        flat: dict[str, torch.Tensor] = {}
        for idx, st in optimizer.state_dict()["state"].items():
            for k, v in st.items():
                flat[f"{idx}.{k}"] = v.detach().cpu() if torch.is_tensor(v) else torch.tensor(v)
        _atomic(files["optim"], lambda p: torch.save(flat, p))
        groups = []
        for g in optimizer.state_dict()["param_groups"]:
            groups.append({k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()})
        state["optimizer"] = {"class": type(optimizer).__name__, "param_groups": groups,
                              "file": files["optim"].name}
        state["lr"] = float(optimizer.param_groups[0]["lr"])
    state["train_state"] = train_state or {}
    _atomic(files["state"], lambda p: Path(p).write_text(json.dumps(state, indent=2)))
    return files["weights"]


def read_metadata(path: str | Path) -> dict[str, str]:
    from safetensors import safe_open

    from ..weights import checkpoint_format, not_a_checkpoint

    if checkpoint_format(path) != "safetensors":
        raise not_a_checkpoint(path, "a torch file; a forecast checkpoint is the .safetensors that "
                                     "train_forecast.py writes")
    try:
        with safe_open(str(path), framework="pt") as fh:
            return dict(fh.metadata() or {})
    except Exception as exc:  # noqa: BLE001 - corrupt files raise several kinds
        raise ModelError(
            f"cannot read forecast checkpoint {str(path)!r}: {type(exc).__name__}: {exc}") from exc


def load_forecast_model(path: str | Path, *, device: str = "cpu"
                        ) -> tuple[ReflectanceForecaster, NormStats, dict[str, Any]]:
    """Model (eval mode), normalisation and info from a ``.safetensors`` of :func:`save_checkpoint`."""
    from ..catalog import get_entry
    from ..device import resolve_device
    from ..weights import load_state_dict, resolve_weights

    files = paths_of(path)
    wpath = resolve_weights(ENTRY_ID, get_entry(ENTRY_ID).weights, files["weights"]).path
    meta = read_metadata(wpath)
    state: dict[str, Any] = {}
    if files["state"].exists():
        state = json.loads(files["state"].read_text())
    cfg_d = json.loads(meta["config"]) if "config" in meta else state.get("config")
    norm_d = json.loads(meta["norm"]) if "norm" in meta else state.get("norm")
    if cfg_d is None or norm_d is None:
        raise ModelError(f"{str(wpath)!r} carries no forecast config/normalisation metadata "
                         f"(format {meta.get('format')!r}); expected a checkpoint saved by train_forecast.py")
    model = ReflectanceForecaster(ForecastConfig.from_dict(cfg_d))
    load_into(model, load_state_dict(wpath), wpath)
    model.to(resolve_device(device)).eval()
    info = {"path": str(wpath), "epoch": int(meta.get("epoch", state.get("epoch", -1))),
            "format": meta.get("format"), "random_weights": meta.get("random_weights") == "true"}
    return model, NormStats.from_dict(norm_d), info


def load_training_state(path: str | Path, model: ReflectanceForecaster,
                        optimizer: torch.optim.Optimizer | None = None) -> dict[str, Any]:
    """Load weights into ``model`` and the optimizer state; returns the JSON training state."""
    from ..weights import load_state_dict

    files = paths_of(path)
    if not files["state"].exists():
        raise ModelError(f"training state {str(files['state'])!r} not found next to the weights; "
                         "resume needs the .json and .optim.pt written with each epoch")
    state = json.loads(files["state"].read_text())
    load_into(model, load_state_dict(files["weights"]), files["weights"])
    if optimizer is not None and "optimizer" in state:
        if not files["optim"].exists():
            raise ModelError(f"optimizer state {str(files['optim'])!r} is missing")
        flat = torch.load(str(files["optim"]), map_location="cpu", weights_only=True)
        per: dict[int, dict[str, Any]] = {}
        for key, v in flat.items():
            idx, name = key.split(".", 1)
            per.setdefault(int(idx), {})[name] = v
        groups = []
        for g in state["optimizer"]["param_groups"]:
            g = dict(g)
            if isinstance(g.get("betas"), list):
                g["betas"] = tuple(g["betas"])
            groups.append(g)
        try:
            optimizer.load_state_dict({"state": per, "param_groups": groups})
        except (ValueError, KeyError) as exc:
            raise ModelError(
                f"optimizer state in {str(files['optim'])!r} does not fit this model: {exc}") from exc
    return state
