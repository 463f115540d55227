#!/usr/bin/env python3
"""Prediction figures (BAP, observed and forecast RGB, NDVI change, mean NDVI curve) as PNGs.

    python scripts/visualize_forecast.py --split val_chopped --model best --max_samples 10
Writes images/predictions/<minicube>.png.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rs_embed_qgis.engine.forecast.analysis import plot_prediction, predict_sample  # noqa: E402
from rs_embed_qgis.engine.forecast.checkpoint import load_forecast_model  # noqa: E402
from rs_embed_qgis.engine.forecast.cli import resolve_checkpoint, resolve_split  # noqa: E402
from rs_embed_qgis.engine.forecast.data import find_minicubes  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="val_chopped")
    ap.add_argument("--data_dir", default=None)
    ap.add_argument("--model", default="best")
    ap.add_argument("--checkpoint_dir", default="checkpoints")
    ap.add_argument("--max_samples", type=int, default=10)
    ap.add_argument("--out_dir", default="images/predictions")
    a = ap.parse_args(argv)
    model, norm, _ = load_forecast_model(resolve_checkpoint(a.model, a.checkpoint_dir))
    for f in find_minicubes(resolve_split(a.split, a.data_dir))[: a.max_samples]:
        out = plot_prediction(predict_sample(model, norm, f), Path(a.out_dir) / f"{f.stem}.png")
        print(out, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
