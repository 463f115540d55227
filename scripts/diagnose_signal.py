#!/usr/bin/env python3
"""Signal diagnostics: per horizon and band, std of true vs predicted deltas, their correlation and
the amplitude ratio (does the model collapse to zero deltas?).

    python scripts/diagnose_signal.py --split val_chopped --max_samples 30
Writes images/diagnostics/signal_by_horizon.png, delta_hist.png and signal.json.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rs_embed_qgis.engine.forecast.analysis import predict_sample, signal_diagnostics  # noqa: E402
from rs_embed_qgis.engine.forecast.cli import analysis_parser, load_model_and_cubes  # noqa: E402


def main(argv=None) -> int:
    ap = analysis_parser(__doc__, max_samples=30)
    ap.add_argument("--out_dir", default="images/diagnostics")
    a = ap.parse_args(argv)
    (model, norm, _), files = load_model_and_cubes(a)
    stats = signal_diagnostics([predict_sample(model, norm, f) for f in files], a.out_dir)
    for band, d in stats["bands"].items():
        print(f"{band}: corr@5d {d['corr'][0]:.3f} corr@100d {d['corr'][-1]:.3f} "
              f"amplitude ratio (mean) {sum(d['amplitude_ratio']) / len(d['amplitude_ratio']):.3f}")
    print(f"figures in {a.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
