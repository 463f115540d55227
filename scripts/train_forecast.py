#!/usr/bin/env python3
"""Train the reflectance forecaster on GreenEarthNet minicubes (flags as the reference's src/train.py).

From scratch:
    python scripts/train_forecast.py --train_dir data/greenearthnet/train \
        --val_dir data/greenearthnet/val_chopped --epochs 500 --batch_size 1 --learning_rate 3e-4
Resume:
    python scripts/train_forecast.py --train_dir ... --val_dir ... \
        --resume_from checkpoints/model_at_100.safetensors --initial_epoch 100 --epochs 500
TensorBoard: tensorboard --logdir logs/
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rs_embed_qgis.engine.forecast.checkpoint import load_forecast_model  # noqa: E402
from rs_embed_qgis.engine.forecast.data import GreenEarthNetDataset  # noqa: E402
from rs_embed_qgis.engine.forecast.model import ForecastConfig  # noqa: E402
from rs_embed_qgis.engine.forecast.train import TrainConfig, fit  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train_dir", required=True, help="folder of training minicubes (*.nc, recursive)")
    ap.add_argument("--val_dir", help="folder of validation minicubes (default: none, train loss monitored)")
    ap.add_argument("--epochs", type=int, default=500)
    ap.add_argument("--batch_size", type=int, default=1)
    ap.add_argument("--learning_rate", type=float, default=3e-4)
    ap.add_argument("--resume_from", help="checkpoint .safetensors written by this script")
    ap.add_argument("--initial_epoch", type=int, help="epochs already done (default: the checkpoint's)")
    ap.add_argument("--checkpoint_dir", default="checkpoints")
    ap.add_argument("--log_dir", default="logs", help="TensorBoard folder ('' to disable)")
    ap.add_argument("--crop", type=int, help="train on random CROP x CROP windows (CPU-friendly)")
    ap.add_argument("--random_window", action="store_true",
                    help="in cubes longer than 150 days, train on a random 30-frame window")
    ap.add_argument("--small", action="store_true", help="reduced-width model (filters 8/12/16)")
    ap.add_argument("--warmup_epochs", type=int, default=5)
    ap.add_argument("--early_stopping_patience", type=int, default=15)
    ap.add_argument("--plateau_patience", type=int, default=5)
    ap.add_argument("--max_steps_per_epoch", type=int)
    ap.add_argument("--regression_weight", type=float, default=5.0)
    ap.add_argument("--edge_weight", type=float, default=0.1)
    ap.add_argument("--num_workers", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    ap.add_argument("--threads", type=int, help="torch CPU threads (1 is fastest for --small on busy CPUs)")
    a = ap.parse_args(argv)
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)

    norm = None
    if a.resume_from:  # keep the normalisation the run started with
        _, norm, _ = load_forecast_model(a.resume_from)
    train = GreenEarthNetDataset(a.train_dir, norm, crop=a.crop, seed=a.seed, random_window=a.random_window)
    val = GreenEarthNetDataset(a.val_dir, train.norm, crop=a.crop, random_crop=False) if a.val_dir else None
    print(f"train: {len(train)} minicubes, val: {len(val) if val else 0}; norm p2={train.norm.p2} "
          f"p98={train.norm.p98}", flush=True)
    cfg = TrainConfig(epochs=a.epochs, batch_size=a.batch_size, learning_rate=a.learning_rate,
                      warmup_epochs=a.warmup_epochs, early_stopping_patience=a.early_stopping_patience,
                      plateau_patience=a.plateau_patience, regression_weight=a.regression_weight,
                      edge_weight=a.edge_weight, crop=a.crop, max_steps_per_epoch=a.max_steps_per_epoch,
                      checkpoint_dir=a.checkpoint_dir, log_dir=a.log_dir or None, seed=a.seed,
                      num_workers=a.num_workers, device=a.device)
    model_cfg = ForecastConfig.small() if a.small else ForecastConfig()

    res = fit(train, val, model_cfg, cfg, resume_from=a.resume_from, initial_epoch=a.initial_epoch,
              progress=lambda fraction, message: print(f"[{100 * fraction:3.0f}%] {message}", flush=True))
    print(json.dumps({k: v for k, v in res.items() if k != "history"}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
