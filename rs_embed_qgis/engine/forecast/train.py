"""Training loop of the forecaster, as in the reference's ``src/train.py``, in PyTorch.

AdamW with per-tensor gradient-norm clipping at 5.0 (Keras ``clipnorm``), a
linear warm-up over the first 5 epochs then reduce-on-plateau on the validation
loss, a checkpoint after every epoch (plus ``model_best``), early stopping and
TensorBoard scalars. ``resume_from`` + ``initial_epoch`` continue a run with the
same weights, optimizer moments, learning rate and scheduler state.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import SpecError
from ..progress import CancelFn, ProgressFn, as_feedback
from .checkpoint import load_training_state, paths_of, save_checkpoint
from .data import GreenEarthNetDataset
from .losses import DeltaRegressionLoss
from .model import ForecastConfig, ReflectanceForecaster

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    epochs: int = 500
    batch_size: int = 1
    learning_rate: float = 3e-4
    weight_decay: float = 0.004          # Keras AdamW default
    clipnorm: float = 5.0                # per tensor, as Keras' clipnorm
    warmup_epochs: int = 5
    plateau_factor: float = 0.5
    plateau_patience: int = 5
    min_lr: float = 1e-6
    early_stopping_patience: int = 15
    min_delta: float = 0.0
    regression_weight: float = 5.0
    edge_weight: float = 0.1
    crop: int | None = None           # train on random square crops (pixels)
    max_steps_per_epoch: int | None = None
    checkpoint_dir: str = "checkpoints"
    log_dir: str | None = "logs"
    seed: int = 0
    num_workers: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise SpecError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if not self.learning_rate > 0:
            raise SpecError(f"learning_rate must be > 0, got {self.learning_rate!r}")


def warmup_lr(base_lr: float, epoch: int, warmup_epochs: int) -> float:
    """Learning rate of 0-based ``epoch`` during the linear warm-up."""
    return base_lr * min(1.0, (epoch + 1) / max(1, warmup_epochs))


def _clip_per_tensor(params, max_norm: float) -> None:
    for p in params:
        if p.grad is not None:
            torch.nn.utils.clip_grad_norm_([p], max_norm)


def _to(x, y, device):
    return {k: v.to(device) for k, v in x.items()}, y.to(device)


def evaluate(model: ReflectanceForecaster, loader, loss_fn: DeltaRegressionLoss) -> float:
    model.eval()
    device = next(model.parameters()).device
    total, n = 0.0, 0
    with torch.no_grad():
        for x, y in loader:
            x, y = _to(x, y, device)
            total += float(loss_fn(model(x), y)) * y.shape[0]
            n += y.shape[0]
    return total / max(1, n)


def fit(train_data: GreenEarthNetDataset, val_data: GreenEarthNetDataset | None,
        model_cfg: ForecastConfig | None = None, cfg: TrainConfig | None = None, *,
        resume_from: str | None = None, initial_epoch: int | None = None,
        progress: ProgressFn | None = None, is_cancelled: CancelFn | None = None) -> dict[str, Any]:
    """Train; returns ``{"history": [...], "last_checkpoint", "best_checkpoint", "stopped_early"}``.

    ``initial_epoch`` is the number of epochs already done (Keras' meaning): the
    next epoch trained is ``initial_epoch + 1`` and checkpoints are named
    ``model_at_<epochs done>``. ``progress(fraction of the epochs, message)`` after each
    epoch (the message: losses, learning rate, seconds, checkpoint); ``is_cancelled()`` is
    checked before each step and raises :class:`~..errors.Cancelled` (checkpoints of the
    finished epochs stay).
    """
    fb = as_feedback(progress, is_cancelled)
    cfg = cfg or TrainConfig()
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    ckdir = Path(cfg.checkpoint_dir)
    ckdir.mkdir(parents=True, exist_ok=True)

    state: dict[str, Any] = {"history": [], "plateau_best": math.inf, "plateau_bad": 0,
                             "es_best": math.inf, "es_bad": 0, "base_lr": cfg.learning_rate}
    if resume_from:
        import json

        from .checkpoint import read_metadata

        meta = read_metadata(paths_of(resume_from)["weights"])
        model_cfg = ForecastConfig.from_dict(json.loads(meta["config"]))
    model = ReflectanceForecaster(model_cfg or ForecastConfig()).to(cfg.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    start = 0
    if resume_from:
        saved = load_training_state(resume_from, model, optimizer)
        state.update(saved.get("train_state", {}))
        start = int(saved["epoch"]) if initial_epoch is None else int(initial_epoch)
        if initial_epoch is not None and int(initial_epoch) != int(saved["epoch"]):
            log.warning("initial_epoch=%s differs from the checkpoint's epoch %s; continuing at %s",
                        initial_epoch, saved["epoch"], initial_epoch)
        state["history"] = [h for h in state["history"] if h["epoch"] <= start]
    elif initial_epoch:
        start = int(initial_epoch)
    base_lr = float(state["base_lr"])

    loss_fn = DeltaRegressionLoss(cfg.regression_weight, cfg.edge_weight)
    gen = torch.Generator().manual_seed(cfg.seed + start)
    train_loader = torch.utils.data.DataLoader(train_data, batch_size=cfg.batch_size, shuffle=True,
                                               generator=gen, num_workers=cfg.num_workers)
    val_loader = None
    if val_data is not None:
        val_loader = torch.utils.data.DataLoader(val_data, batch_size=cfg.batch_size, shuffle=False,
                                                 num_workers=cfg.num_workers)
    writer = None
    if cfg.log_dir:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(cfg.log_dir, purge_step=start + 1 if start else None)

    norm = train_data.norm
    last_ckpt = best_ckpt = None
    stopped_early = False
    try:
        for epoch in range(start, cfg.epochs):
            if epoch < cfg.warmup_epochs:
                for g in optimizer.param_groups:
                    g["lr"] = warmup_lr(base_lr, epoch, cfg.warmup_epochs)
            lr = float(optimizer.param_groups[0]["lr"])
            model.train()
            t0, tot, n = time.perf_counter(), 0.0, 0
            for step, (x, y) in enumerate(train_loader):
                fb.check("training cancelled")
                x, y = _to(x, y, cfg.device)
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model(x), y)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"non-finite training loss at epoch {epoch + 1}, step {step}")
                loss.backward()
                _clip_per_tensor(model.parameters(), cfg.clipnorm)
                optimizer.step()
                tot += float(loss.detach()) * y.shape[0]
                n += y.shape[0]
                if cfg.max_steps_per_epoch and step + 1 >= cfg.max_steps_per_epoch:
                    break
            train_loss = tot / max(1, n)
            val_loss = evaluate(model, val_loader, loss_fn) if val_loader is not None else train_loss
            done = epoch + 1
            rec = {"epoch": done, "loss": train_loss, "val_loss": val_loss, "lr": lr,
                   "seconds": time.perf_counter() - t0}
            state["history"].append(rec)
            if writer is not None:
                writer.add_scalar("loss/train", train_loss, done)
                writer.add_scalar("loss/val", val_loss, done)
                writer.add_scalar("lr", lr, done)
                writer.flush()
            # reduce-on-plateau once warm-up is over
            if val_loss < state["plateau_best"] - cfg.min_delta:
                state["plateau_best"], state["plateau_bad"] = val_loss, 0
            elif done > cfg.warmup_epochs:
                state["plateau_bad"] += 1
                if state["plateau_bad"] >= cfg.plateau_patience:
                    for g in optimizer.param_groups:
                        g["lr"] = max(cfg.min_lr, g["lr"] * cfg.plateau_factor)
                    state["plateau_bad"] = 0
            improved = val_loss < state["es_best"] - cfg.min_delta
            if improved:
                state["es_best"], state["es_bad"] = val_loss, 0
            else:
                state["es_bad"] += 1
            last_ckpt = save_checkpoint(ckdir / f"model_at_{done}", model, norm=norm, epoch=done,
                                        optimizer=optimizer, train_state=state)
            if improved:
                best_ckpt = save_checkpoint(ckdir / "model_best", model, norm=norm, epoch=done,
                                            optimizer=optimizer, train_state=state)
            fb.report(done / max(1, cfg.epochs),
                      f"epoch {done}: loss {train_loss:.5f} val_loss {val_loss:.5f} lr {lr:.2e} "
                      f"({rec['seconds']:.1f}s) -> {last_ckpt}")
            if state["es_bad"] >= cfg.early_stopping_patience:
                stopped_early = True
                break
    finally:
        if writer is not None:
            writer.close()
    return {"history": state["history"], "last_checkpoint": str(last_ckpt) if last_ckpt else None,
            "best_checkpoint": str(best_ckpt) if best_ckpt else None, "stopped_early": stopped_early,
            "train_config": asdict(cfg)}


def history_table(history: list[dict[str, Any]]) -> str:
    return "\n".join(f"epoch {h['epoch']:4d}  loss {h['loss']:.5f}  val_loss {h['val_loss']:.5f}  "
                     f"lr {h['lr']:.2e}" for h in history)
