#!/usr/bin/env python3
"""GreenEarthNet-style scores of the forecaster over a split (RMSE, R2, NSE veg score, |bias|,
outperformance against climatology when --full_dir holds multi-year cubes of the same names).

    python scripts/score_forecast.py --model best --split val_chopped --limit 10
    python scripts/score_forecast.py --model checkpoints/model_at_50.safetensors \
        --split ood-t_chopped --full_dir data/greenearthnet/iidx --out scores/ood-t
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rs_embed_qgis.engine.forecast.cli import resolve_checkpoint, resolve_split  # noqa: E402
from rs_embed_qgis.engine.forecast.scoring import score_split  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="best", help="checkpoint path, or best / final in --checkpoint_dir")
    ap.add_argument("--checkpoint_dir", default="checkpoints")
    ap.add_argument("--split", default="val_chopped", help="split name under --data_dir, or a folder")
    ap.add_argument("--data_dir", default=None)
    ap.add_argument("--full_dir", help="multi-year minicubes (same file names) for the climatology baseline")
    ap.add_argument("--limit", type=int, help="score only the first N minicubes")
    ap.add_argument("--all_pixels", action="store_true", help="skip GreenEarthNet's high-quality filter")
    ap.add_argument("--out", default="scores", help="folder for metrics.json and pixel_scores.parquet")
    a = ap.parse_args(argv)

    ckpt = resolve_checkpoint(a.model, a.checkpoint_dir)
    split = resolve_split(a.split, a.data_dir)
    res = score_split(split, ckpt, full_dir=a.full_dir, hq=not a.all_pixels, limit=a.limit,
                      progress=lambda fraction, message: print(message, flush=True))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    metrics = {"checkpoint": str(ckpt), "split": str(split), "model": res["summary"]}
    if "climatology" in res:
        metrics["climatology"] = res["climatology"]
        metrics["vs_climatology"] = res["outperformance"]
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    if not res["pixels"].empty:
        res["pixels"].to_parquet(out / "pixel_scores.parquet")
    print(json.dumps(metrics, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
