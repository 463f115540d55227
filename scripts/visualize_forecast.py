#!/usr/bin/env python3
"""Prediction figures (BAP, observed and forecast RGB, NDVI change, mean NDVI curve) as PNGs.

    python scripts/visualize_forecast.py --split val_chopped --model best --max_samples 10
Writes images/predictions/<minicube>.png.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rs_embed_qgis.engine.forecast.analysis import plot_prediction, predict_sample  # noqa: E402
from rs_embed_qgis.engine.forecast.cli import analysis_parser, load_model_and_cubes  # noqa: E402


def main(argv=None) -> int:
    ap = analysis_parser(__doc__, max_samples=10)
    ap.add_argument("--out_dir", default="images/predictions")
    a = ap.parse_args(argv)
    (model, norm, _), files = load_model_and_cubes(a)
    for f in files:
        out = plot_prediction(predict_sample(model, norm, f), Path(a.out_dir) / f"{f.stem}.png")
        print(out, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
