#!/usr/bin/env python3
"""All analysis steps with the model loaded once (the reference's run_analysis.py):
1 prediction figures, 2 signal diagnostics, 3 GreenEarthNet scores.

    python scripts/run_forecast_analysis.py --split val_chopped
    python scripts/run_forecast_analysis.py --steps 1 2 --max_samples 10
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rs_embed_qgis.engine.forecast.analysis import plot_prediction, predict_sample, signal_diagnostics  # noqa: E402
from rs_embed_qgis.engine.forecast.cli import analysis_parser, load_model_and_cubes  # noqa: E402
from rs_embed_qgis.engine.forecast.scoring import score_split  # noqa: E402


def main(argv=None) -> int:
    ap = analysis_parser(__doc__, max_samples=30)
    ap.add_argument("--steps", type=int, nargs="+", default=[1, 2, 3], choices=[1, 2, 3])
    ap.add_argument("--full_dir", help="multi-year cubes for the climatology comparison (step 3)")
    ap.add_argument("--images_dir", default="images")
    ap.add_argument("--scores_dir", default="scores")
    a = ap.parse_args(argv)
    loaded, files = load_model_and_cubes(a)
    model, norm, _ = loaded
    samples = [predict_sample(model, norm, f) for f in files] if {1, 2} & set(a.steps) else []
    if 1 in a.steps:
        for s in samples:
            print(plot_prediction(s, Path(a.images_dir) / "predictions" / f"{s['name']}.png"), flush=True)
    if 2 in a.steps:
        signal_diagnostics(samples, Path(a.images_dir) / "diagnostics")
        print(f"diagnostics in {Path(a.images_dir) / 'diagnostics'}", flush=True)
    if 3 in a.steps:
        res = score_split(files, loaded, full_dir=a.full_dir)
        out = Path(a.scores_dir)
        out.mkdir(parents=True, exist_ok=True)
        metrics = {"model": res["summary"], **({"climatology": res["climatology"],
                                                "vs_climatology": res["outperformance"]}
                                               if "climatology" in res else {})}
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
        print(json.dumps(metrics, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
