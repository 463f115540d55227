#!/usr/bin/env python3
"""Validate what the data pipeline produces from a GreenEarthNet split: shapes, finiteness and ranges.

    python scripts/check_dataset.py --split train --data_dir data/greenearthnet
Exits 1 when a value is out of its expected range or a minicube cannot be read.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rs_embed_qgis.engine.forecast.cli import resolve_split  # noqa: E402
from rs_embed_qgis.engine.forecast.data import dataset_summary  # noqa: E402

# expected (min, max) of each array the dataset yields
EXPECTED = {
    "sentinel2_sequence": (-1.0, 3.0),   # 2nd-98th percentile normalised; tails beyond [0, 1]
    "landcover_map": (0.0, 1.0),
    "temporal_metadata": (-1.0, 1.5),
    "weather_sequence": (-15.0, 15.0),   # standardised anomalies / climatology
    "target_start_doy": (0.0, 1.0),
    "cloudmask": (0.0, 1.0),
    "deltas": (-4.0, 4.0),
    "bap": (-1.0, 3.0),
    "clear_fraction": (0.0, 1.0),
    "weather_coverage": (0.0, 1.0),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="train")
    ap.add_argument("--data_dir", default=None)
    a = ap.parse_args(argv)
    s = dataset_summary(resolve_split(a.split, a.data_dir))
    problems = list(s["problems"])
    for key, vals in s["ranges"].items():
        lo, hi = min(vals), max(vals)
        elo, ehi = EXPECTED.get(key, (-float("inf"), float("inf")))
        flag = "ok" if elo <= lo and hi <= ehi else "OUT OF RANGE"
        if flag != "ok":
            problems.append(f"{key}: [{lo:.4g}, {hi:.4g}] outside expected [{elo}, {ehi}]")
        print(f"{key:20s} [{lo:10.4g}, {hi:10.4g}]  expected [{elo}, {ehi}]  {flag}")
    cov = s["ranges"].get("weather_coverage", [])
    if cov and min(cov) < 1.0:
        print(f"note: {sum(c < 1.0 for c in cov)} minicubes lack some E-OBS weather (filled with 0)")
    print(json.dumps({"files": s["files"], "norm": s["norm"]}, indent=2))
    for p in problems:
        print("PROBLEM:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
